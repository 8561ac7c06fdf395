//! Segments: saved filters with their versions, member counts and members.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::records::{bounded_number, MAX_PAGE, MAX_PER_PAGE};
use crate::routes::{etag, if_match, one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::records::{ListQuery, SortKey};
use serde_json::{json, Value};
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_page(
        state.engine.list_segments(&caller.principal).await?,
    )))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let saved = state.engine.create_segment(&caller.principal, body).await?;
    Ok((StatusCode::CREATED, [etag(saved.version)], Json(saved.body)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let saved = state.engine.get_segment(&caller.principal, &name).await?;
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
        .update_segment(&caller.principal, &name, body, if_match(&headers)?)
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
        .delete_segment(&caller.principal, &name, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members in the record list shape, through the record list path.
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = ListQuery {
        page: bounded_number(&params, "page", MAX_PAGE, caller.lang)?,
        per_page: bounded_number(&params, "per_page", MAX_PER_PAGE, caller.lang)?,
        sort: params
            .get("sort")
            .map(|s| SortKey::parse_list(s))
            .unwrap_or_default(),
        count: true,
        exact_total: true,
        ..ListQuery::default()
    };
    let page = state
        .engine
        .segment_members(&caller.principal, &name, &query)
        .await?;
    Ok(Json(json!(page)))
}
