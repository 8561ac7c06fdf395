//! Entity definitions: list, create, read, replace, remove, impact preview, JSON Schema, and
//! several definitions applied as one batch (with a dry run).

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{etag, flag, if_match, one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::entities::{DefinitionChanges, EntityInfo, Impact};
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
