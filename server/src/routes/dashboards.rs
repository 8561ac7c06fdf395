//! Dashboards: definitions with their versions, and every chart's data in one call.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{etag, if_match, one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use std::collections::BTreeMap;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_page(
        state.engine.list_dashboards(&caller.principal).await?,
    )))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let saved = state
        .engine
        .create_dashboard(&caller.principal, body)
        .await?;
    Ok((StatusCode::CREATED, [etag(saved.version)], Json(saved.body)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let saved = state.engine.get_dashboard(&caller.principal, &name).await?;
    Ok(([etag(saved.version)], Json(saved.body)).into_response())
}

pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let saved = state
        .engine
        .update_dashboard(&caller.principal, &name, body, if_match(&headers)?)
        .await?;
    Ok(([etag(saved.version)], Json(saved.body)).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .delete_dashboard(&caller.principal, &name, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every chart's data in one answer: `?from=&to=` and the dashboard's other parameters.
pub async fn data(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let answer = state
        .engine
        .dashboard_data(&caller.principal, &name, &params, caller.lang)
        .await?;
    Ok(Json(Value::clone(&answer)))
}
