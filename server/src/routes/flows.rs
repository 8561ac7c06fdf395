//! Flows: definitions with their versions, the save check, runs and their steps.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::records::{bounded_number, MAX_PAGE, MAX_PER_PAGE};
use crate::routes::{etag, if_match, one_page, parse_uuid, JsonBody};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::flows::runs::RunQuery;
use kangdao_engine::flows::tasks::{TaskQuery, TaskView};
use kangdao_engine::flows::Precondition;
use serde_json::{json, Value};
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_page(
        state.engine.list_flows(&caller.principal).await?,
    )))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let saved = state.engine.create_flow(&caller.principal, body).await?;
    Ok((
        StatusCode::CREATED,
        [etag(saved.version)],
        Json(saved.definition),
    )
        .into_response())
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let saved = state.engine.get_flow(&caller.principal, &name).await?;
    Ok(([etag(saved.version)], Json(saved.definition)).into_response())
}

pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let pre = Precondition {
        if_match: if_match(&headers)?,
    };
    let saved = state
        .engine
        .update_flow(&caller.principal, &name, body, pre)
        .await?;
    Ok(([etag(saved.version)], Json(saved.definition)).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let pre = Precondition {
        if_match: if_match(&headers)?,
    };
    state
        .engine
        .delete_flow(&caller.principal, &name, pre)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The checks of saving, nothing written.
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    state.engine.check_flow(&caller.principal, &body).await?;
    Ok(Json(
        json!({"ok": true, "version": body.get("version").cloned().unwrap_or(Value::Null)}),
    ))
}

pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_page(
        state.engine.flow_versions(&caller.principal, &name).await?,
    )))
}

pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let version: i64 = version
        .parse()
        .map_err(|_| kangdao_engine::EngineError::not_found(format!("flow version {version}")))?;
    Ok(Json(
        state
            .engine
            .flow_version(&caller.principal, &name, version)
            .await?,
    ))
}

pub async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let page = bounded_number(&params, "page", MAX_PAGE, caller.lang)?.max(1);
    let per_page = match bounded_number(&params, "per_page", MAX_PER_PAGE, caller.lang)? {
        0 => 50,
        n => n,
    };
    let record_id = params
        .get("record_id")
        .map(|id| parse_uuid(id, "record"))
        .transpose()?;
    let query = RunQuery {
        status: params.get("status").cloned(),
        record_id,
        page,
        per_page,
    };
    let (items, total) = state
        .engine
        .list_runs(&caller.principal, &name, &query)
        .await?;
    Ok(Json(
        json!({"items": items, "total": total, "page": page, "per_page": per_page}),
    ))
}

pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_uuid(&id, "run")?;
    Ok(Json(json!(
        state.engine.get_run(&caller.principal, id).await?
    )))
}

pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_uuid(&id, "run")?;
    Ok(Json(json!(
        state.engine.retry_run(&caller.principal, id).await?
    )))
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_uuid(&id, "run")?;
    Ok(Json(json!(
        state.engine.cancel_run(&caller.principal, id).await?
    )))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    #[serde(default)]
    record_id: Option<String>,
    #[serde(default)]
    definition: Option<Value>,
    /// For a `webhook` trigger: the request body the dry run starts from.
    #[serde(default)]
    body: Option<Value>,
    /// The edge each named wait (approval, wait_until) ends by.
    #[serde(default)]
    choose: Option<serde_json::Map<String, Value>>,
}

/// The path the flow would take on a record and what it would do; nothing is written.
pub async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<DryRun>,
) -> Result<Json<Value>, ApiError> {
    let record_id = body
        .record_id
        .as_deref()
        .map(|id| parse_uuid(id, "record"))
        .transpose()?;
    Ok(Json(
        state
            .engine
            .dry_run_flow(
                &caller.principal,
                &name,
                record_id,
                body.definition,
                body.body,
                body.choose.unwrap_or_default(),
            )
            .await?,
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    record_id: String,
}

/// Starts a `manual` flow on a record.
pub async fn start_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<StartRun>,
) -> Result<Response, ApiError> {
    let record_id = parse_uuid(&body.record_id, "record")?;
    let run = state
        .engine
        .start_manual_run(&caller.principal, &name, record_id)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(run))).into_response())
}

/// Tasks in a view: mine, my roles', overdue, or all (for holders of `read` on `task`).
pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let view = match params.get("view").map(String::as_str) {
        None => TaskView::Mine,
        Some(v) => TaskView::parse(v).ok_or_else(|| {
            kangdao_engine::EngineError::bad_request(
                "view 须为 mine、role、overdue 或 all / view must be mine, role, overdue or all",
            )
        })?,
    };
    let query = TaskQuery {
        view,
        status: params.get("status").cloned(),
        page: bounded_number(&params, "page", MAX_PAGE, caller.lang)?,
        per_page: bounded_number(&params, "per_page", MAX_PER_PAGE, caller.lang)?,
    };
    let page = state.engine.list_tasks(&caller.principal, &query).await?;
    Ok(Json(json!(page)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// Completes an open task, with an outcome when it has outcomes.
pub async fn complete_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Complete>,
) -> Result<Response, ApiError> {
    let id = parse_uuid(&id, "task")?;
    let task = state
        .engine
        .complete_task(
            &caller.principal,
            id,
            body.outcome,
            body.comment,
            caller.lang,
        )
        .await?;
    Ok(crate::routes::records::with_etag(StatusCode::OK, task))
}
