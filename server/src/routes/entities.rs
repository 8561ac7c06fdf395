//! Entity definitions: list, create, read, replace, remove, impact preview, JSON Schema.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kangdao_engine::entities::{EntityInfo, Impact};
use serde_json::Value;

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
) -> Result<Json<EntityInfo>, ApiError> {
    Ok(Json(
        state.engine.get_entity(&caller.principal, &entity).await?,
    ))
}

pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<EntityInfo>, ApiError> {
    Ok(Json(
        state
            .engine
            .update_entity(&caller.principal, &entity, body, caller.lang)
            .await?,
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_entity(&caller.principal, &entity, caller.lang)
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
