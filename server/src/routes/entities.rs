//! Entity definitions: list, create, read, replace, remove, impact preview, JSON Schema, a
//! compile-only check of an unsaved definition, saved versions, and several definitions
//! applied as one batch (with a dry run).

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::records::{bounded_number, MAX_PAGE, MAX_PER_PAGE};
use crate::routes::{etag, flag, if_match, one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::entities::{
    DefinitionChanges, DefinitionCheck, DefinitionIntent, EntityInfo, Impact, VersionPage,
    VersionedDefinition,
};
use kangdao_engine::{EngineError, FieldError, Lang};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_page(
        state.engine.list_entities(&caller.principal).await?,
    )))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<EntityInfo>), ApiError> {
    let info = state
        .engine
        .create_entity(&caller.principal, body, caller.lang)
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
) -> Result<Response, ApiError> {
    let info = state.engine.get_entity(&caller.principal, &entity).await?;
    Ok(([etag(info.version)], Json(info)).into_response())
}

/// A new version of a definition. `If-Match` or the body's `version` (what a GET answered) is
/// the precondition; a stale one is a 409.
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let info = state
        .engine
        .update_entity_if(
            &caller.principal,
            &entity,
            body,
            if_match(&headers)?,
            caller.lang,
        )
        .await?;
    Ok(([etag(info.version)], Json(info)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionBatch {
    entities: Vec<Value>,
}

/// Several definitions installed or changed in one transaction; `?dry_run=true` answers the
/// change plan and its impact without writing anything.
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody<DefinitionBatch>,
) -> Result<Json<DefinitionChanges>, ApiError> {
    let dry_run = flag(params.get("dry_run").map(String::as_str), false)?;
    Ok(Json(
        state
            .engine
            .apply_definitions(&caller.principal, body.entities, dry_run, caller.lang)
            .await?,
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_entity_if(&caller.principal, &entity, if_match(&headers)?, caller.lang)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn impact(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Impact>, ApiError> {
    Ok(Json(
        state
            .engine
            .entity_impact(&caller.principal, &entity, body, caller.lang)
            .await?,
    ))
}

pub async fn schema(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        state
            .engine
            .entity_schema(&caller.principal, &entity)
            .await?,
    ))
}

/// `?intent=`: what saving the checked definition would be.
fn check_intent(
    params: &HashMap<String, String>,
    lang: Lang,
) -> Result<DefinitionIntent, ApiError> {
    match params.get("intent").map(String::as_str) {
        None => Ok(DefinitionIntent::Either),
        Some("create") => Ok(DefinitionIntent::Create),
        Some("update") => Ok(DefinitionIntent::Replace),
        Some(_) => {
            let message = lang
                .pick(
                    "intent 应为 create 或 update",
                    "intent must be create or update",
                )
                .to_string();
            Err(ApiError::Engine(EngineError::BadRequest {
                details: vec![FieldError::new("intent", "invalid_value", &message)],
                message,
            }))
        }
    }
}

/// A compile-only check of an unsaved definition: what saving it would answer, written
/// nowhere. (`/entity-checks` rather than `/entities/check`, which would shadow an entity
/// named `check`.)
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<DefinitionCheck>, ApiError> {
    let intent = check_intent(&params, caller.lang)?;
    Ok(Json(
        state
            .engine
            .check_definition(
                &caller.principal,
                body,
                intent,
                if_match(&headers)?,
                caller.lang,
            )
            .await?,
    ))
}

pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<VersionPage>, ApiError> {
    let page = bounded_number(&params, "page", MAX_PAGE, caller.lang)?;
    let per_page = bounded_number(&params, "per_page", MAX_PER_PAGE, caller.lang)?;
    Ok(Json(
        state
            .engine
            .entity_versions(&caller.principal, &entity, page, per_page)
            .await?,
    ))
}

pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, version)): Path<(String, String)>,
) -> Result<Json<VersionedDefinition>, ApiError> {
    let version = version
        .parse::<i64>()
        .map_err(|_| EngineError::not_found(format!("version {version} of entity {entity}")))?;
    Ok(Json(
        state
            .engine
            .entity_version(&caller.principal, &entity, version)
            .await?,
    ))
}
