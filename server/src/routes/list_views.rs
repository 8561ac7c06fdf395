//! Saved list views: each user's named list states per entity (`/api/v1/list-views`).

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{one_page, parse_uuid, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    entity: String,
    name: String,
    state: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewUpdate {
    name: String,
    state: Value,
}

/// The caller's own views of one entity, in the order saved.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let entity = params.get("entity").ok_or_else(|| {
        ApiError::BadRequest("缺少参数 entity / The entity parameter is required".into())
    })?;
    let views = state.engine.list_views(&caller.principal, entity).await?;
    Ok(Json(one_page(views)))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewView>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let view = state
        .engine
        .create_view(
            &caller.principal,
            &body.entity,
            &body.name,
            body.state,
            caller.lang,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(view))))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ViewUpdate>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_uuid(&id, "list view")?;
    let view = state
        .engine
        .update_view(&caller.principal, id, &body.name, body.state, caller.lang)
        .await?;
    Ok(Json(json!(view)))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_uuid(&id, "list view")?;
    state.engine.delete_view(&caller.principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
