//! Saved charts: definitions with their versions, their data (with the compiled SQL for
//! holders of design) and their export.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{etag, flag, if_match, one_page, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::io::TabularFormat;
use kangdao_engine::reports::{ChartRun, ChartSpec};
use serde_json::Value;
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_page(
        state.engine.list_charts(&caller.principal).await?,
    )))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let saved = state.engine.create_chart(&caller.principal, body).await?;
    Ok((StatusCode::CREATED, [etag(saved.version)], Json(saved.body)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let saved = state.engine.get_chart(&caller.principal, &name).await?;
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
        .update_chart(&caller.principal, &name, body, if_match(&headers)?)
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
        .delete_chart(&caller.principal, &name, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A saved chart's answer; `?explain=true` adds the compiled SQL for holders of design.
pub async fn data(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let run = ChartRun {
        explain: flag(params.get("explain").map(String::as_str), false)?,
        lang: caller.lang,
        ..ChartRun::default()
    };
    let answer = state
        .engine
        .saved_chart_data(&caller.principal, &name, &run)
        .await?;
    Ok(Json(answer).into_response())
}

fn export_format(params: &HashMap<String, String>) -> Result<TabularFormat, ApiError> {
    match params.get("format").map(String::as_str) {
        None | Some("csv") => Ok(TabularFormat::Csv),
        Some("xlsx") => Ok(TabularFormat::Xlsx),
        Some(other) => Err(ApiError::BadRequest(format!(
            "format must be csv or xlsx, not {other:?}"
        ))),
    }
}

fn file(name: &str, format: TabularFormat, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.extension());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// A saved chart's rows as CSV or XLSX (needs export; audited).
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format = export_format(&params)?;
    let bytes = state
        .engine
        .export_saved_chart(&caller.principal, &name, format, caller.lang)
        .await?;
    Ok(file(&name, format, bytes))
}

/// A chart spec's rows as CSV or XLSX (needs export; audited).
pub async fn export_spec(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
    JsonBody(spec): JsonBody<ChartSpec>,
) -> Result<Response, ApiError> {
    let format = export_format(&params)?;
    let bytes = state
        .engine
        .export_chart(&caller.principal, &spec, None, format, caller.lang)
        .await?;
    Ok(file(&spec.entity, format, bytes))
}
