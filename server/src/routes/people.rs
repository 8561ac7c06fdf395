//! Administration: users, roles, API tokens and the audit log.

use crate::caller::{Caller, Via};
use crate::error::ApiError;
use crate::routes::{etag, if_match, one_page, parse_uuid, JsonBody};
use crate::session::SESSION_EPOCH;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::Json;
use kangdao_engine::access::{AuditFilter, NewUser, Role, UserUpdate};
use kangdao_engine::EngineError;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tower_sessions::Session;

#[derive(Debug, Deserialize)]
pub struct Paging {
    page: Option<u32>,
    per_page: Option<u32>,
}

fn page_json<T: serde::Serialize>(items: Vec<T>, total: i64, paging: &Paging) -> Value {
    json!({
        "items": items,
        "total": total,
        "page": paging.page.unwrap_or(1).max(1),
        "per_page": paging.per_page.unwrap_or(50).clamp(1, 1000),
    })
}

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    let (items, total) = state
        .engine
        .list_users(
            &caller.principal,
            paging.page.unwrap_or(1),
            paging.per_page.unwrap_or(50),
        )
        .await?;
    Ok(Json(page_json(items, total, &paging)))
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, [(HeaderName, String); 1], Json<Value>), ApiError> {
    let user = state.engine.create_user(&caller.principal, body).await?;
    Ok((StatusCode::CREATED, [etag(user.version)], Json(json!(user))))
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<([(HeaderName, String); 1], Json<Value>), ApiError> {
    let id = parse_uuid(&id, "user")?;
    let user = state.engine.get_user(&caller.principal, id).await?;
    Ok(([etag(user.version)], Json(json!(user))))
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserUpdate>,
) -> Result<([(HeaderName, String); 1], Json<Value>), ApiError> {
    let id = parse_uuid(&id, "user")?;
    let changes_password = body.password.is_some();
    let user = state
        .engine
        .update_user(&caller.principal, id, body, if_match(&headers)?)
        .await?;
    if changes_password && caller.via == Via::Session && caller.principal.user_id == Some(id) {
        // One's own password change ends one's other sessions, not this one.
        let epoch = state.engine.credentials_epoch(id).await?;
        session
            .insert(SESSION_EPOCH, epoch)
            .await
            .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
    }
    Ok(([etag(user.version)], Json(json!(user))))
}

pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_uuid(&id, "user")?;
    state
        .engine
        .delete_user(&caller.principal, id, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let items = state.engine.list_roles(&caller.principal).await?;
    Ok(Json(one_page(items)))
}

pub async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Role>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let role = state.engine.create_role(&caller.principal, &body).await?;
    Ok((StatusCode::CREATED, Json(json!(role))))
}

pub async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<([(HeaderName, String); 1], Json<Value>), ApiError> {
    let role = state.engine.get_role(&caller.principal, &name).await?;
    Ok(([etag(role.version.unwrap_or(1))], Json(json!(role))))
}

pub async fn replace_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Role>,
) -> Result<([(HeaderName, String); 1], Json<Value>), ApiError> {
    let role = state
        .engine
        .replace_role(&caller.principal, &name, &body, if_match(&headers)?)
        .await?;
    Ok(([etag(role.version.unwrap_or(1))], Json(json!(role))))
}

pub async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_role(&caller.principal, &name, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// A caller's own API tokens.
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let items = state.engine.list_tokens(&caller.principal).await?;
    Ok(Json(one_page(items)))
}

/// Creates an API token; its value is shown in this answer only.
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (info, token) = state
        .engine
        .create_token(&caller.principal, &body.name, body.expires_at)
        .await?;
    let mut out = json!(info);
    out["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_uuid(&id, "token")?;
    state.engine.revoke_token(&caller.principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    actor: Option<String>,
    action: Option<String>,
    entity: Option<String>,
    record_id: Option<String>,
}

pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        entity: q.entity,
        record_id: q.record_id,
    };
    let paging = Paging {
        page: q.page,
        per_page: q.per_page,
    };
    let (items, total) = state
        .engine
        .list_audit(
            &caller.principal,
            &filter,
            paging.page.unwrap_or(1),
            paging.per_page.unwrap_or(50),
        )
        .await?;
    Ok(Json(page_json(items, total, &paging)))
}
