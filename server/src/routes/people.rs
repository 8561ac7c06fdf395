//! Administration: users, roles, API tokens and the audit log.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use kangdao_engine::access::audit::{self, AuditEntry, AuditFilter};
use kangdao_engine::access::{roles, tokens, users, NewUser, Role, SystemRight, UserUpdate};
use kangdao_engine::EngineError;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

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

fn parse_uuid(id: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| EngineError::not_found(format!("{what} {id}")).into())
}

async fn record_admin_action(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    let engine = &state.engine;
    let entry =
        AuditEntry::new(caller.principal.actor.clone(), action).detail(json!({ "target": target }));
    audit::append(
        &mut engine.db.acquire().await?.conn(),
        engine.clock.as_ref(),
        &entry,
    )
    .await?;
    Ok(())
}

/// Managing users is a right; making administrators takes an administrator, or a user manager
/// could raise themselves.
fn require_admin_to_grant_admin(caller: &Caller, grants_admin: bool) -> Result<(), ApiError> {
    if grants_admin && !caller.principal.is_admin {
        return Err(
            EngineError::Forbidden("only an administrator can make administrators".into()).into(),
        );
    }
    Ok(())
}

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    caller.principal.require_right(SystemRight::Users)?;
    let (items, total) = users::list_users(
        &state.engine.db,
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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.principal.require_right(SystemRight::Users)?;
    require_admin_to_grant_admin(&caller, body.is_admin)?;
    let user = users::create_user(&state.engine.db, state.engine.clock.as_ref(), body).await?;
    record_admin_action(&state, &caller, "user.create", &user.id.to_string()).await?;
    Ok((StatusCode::CREATED, Json(json!(user))))
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_uuid(&id, "user")?;
    if caller.principal.user_id != Some(id) {
        caller.principal.require_right(SystemRight::Users)?;
    }
    Ok(Json(json!(users::get_user(&state.engine.db, id).await?)))
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserUpdate>,
) -> Result<Json<Value>, ApiError> {
    caller.principal.require_right(SystemRight::Users)?;
    let id = parse_uuid(&id, "user")?;
    require_admin_to_grant_admin(&caller, body.is_admin.unwrap_or(false))?;
    let user = users::update_user(&state.engine.db, state.engine.clock.as_ref(), id, body).await?;
    record_admin_action(&state, &caller, "user.update", &id.to_string()).await?;
    Ok(Json(json!(user)))
}

pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.principal.require_right(SystemRight::Users)?;
    let id = parse_uuid(&id, "user")?;
    if caller.principal.user_id == Some(id) {
        return Err(ApiError::BadRequest("you cannot delete yourself".into()));
    }
    users::delete_user(&state.engine.db, id).await?;
    record_admin_action(&state, &caller, "user.delete", &id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.principal.require_right(SystemRight::Roles)?;
    let items = roles::list_roles(&state.engine.db).await?;
    Ok(Json(one_page(items)))
}

pub async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Role>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.principal.require_right(SystemRight::Roles)?;
    let role = roles::create_role(&state.engine.db, state.engine.clock.as_ref(), &body).await?;
    record_admin_action(&state, &caller, "role.create", role.name.as_str()).await?;
    Ok((StatusCode::CREATED, Json(json!(role))))
}

pub async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.principal.require_right(SystemRight::Roles)?;
    Ok(Json(json!(roles::get_role(&state.engine.db, &name).await?)))
}

pub async fn replace_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Role>,
) -> Result<Json<Value>, ApiError> {
    caller.principal.require_right(SystemRight::Roles)?;
    let role =
        roles::update_role(&state.engine.db, state.engine.clock.as_ref(), &name, &body).await?;
    record_admin_action(&state, &caller, "role.update", &name).await?;
    Ok(Json(json!(role)))
}

pub async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.principal.require_right(SystemRight::Roles)?;
    roles::delete_role(&state.engine.db, &name).await?;
    record_admin_action(&state, &caller, "role.delete", &name).await?;
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
    let user_id = caller
        .principal
        .user_id
        .ok_or(EngineError::Unauthenticated)?;
    let items = tokens::list_tokens(&state.engine.db, user_id).await?;
    Ok(Json(one_page(items)))
}

/// Creates an API token; its value is shown in this answer only.
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user_id = caller
        .principal
        .user_id
        .ok_or(EngineError::Unauthenticated)?;
    let (info, token) = tokens::create_token(
        &state.engine.db,
        state.engine.clock.as_ref(),
        user_id,
        &body.name,
        body.expires_at,
    )
    .await?;
    record_admin_action(&state, &caller, "token.create", &info.id.to_string()).await?;
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
    let token = tokens::get_token(&state.engine.db, id).await?;
    if caller.principal.user_id != Some(token.user_id) {
        caller.principal.require_right(SystemRight::Users)?;
    }
    tokens::revoke_token(&state.engine.db, state.engine.clock.as_ref(), id).await?;
    record_admin_action(&state, &caller, "token.revoke", &id.to_string()).await?;
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
    caller.principal.require_right(SystemRight::Audit)?;
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
    let (items, total) = audit::list(
        &state.engine.db,
        &filter,
        paging.page.unwrap_or(1),
        paging.per_page.unwrap_or(50),
    )
    .await?;
    Ok(Json(page_json(items, total, &paging)))
}
