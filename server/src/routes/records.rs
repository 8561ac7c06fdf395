//! Records: create, read, patch, delete, restore, list, history, 360° view, upsert by a unique
//! field, import and export.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{etag, flag, if_match, one_page, RecordBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::io::TabularFormat;
use kangdao_engine::records::{
    Counting, FilterExpr, ImportOptions, ListQuery, Record, SortKey, UniqueKey,
};
use kangdao_engine::{EngineError, FieldError, Lang};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Create and PATCH bodies: `{"data": {…}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataBody {
    data: Map<String, Value>,
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::Engine(kangdao_engine::EngineError::not_found(format!(
            "record {id}"
        )))
    })
}

pub(crate) fn with_etag(status: StatusCode, record: Record) -> Response {
    let tag = etag(record.version);
    (status, [tag], Json(record)).into_response()
}

fn parse_filter(text: Option<&String>) -> Result<Option<FilterExpr>, ApiError> {
    text.map(|t| {
        let value: Value = serde_json::from_str(t)
            .map_err(|e| ApiError::BadRequest(format!("filter is not JSON: {e}")))?;
        Ok(FilterExpr::parse(value)?)
    })
    .transpose()
}

/// The last page a list may ask for: with `per_page` at most 1000, an offset stays below 10⁹.
pub const MAX_PAGE: u64 = 1_000_000;
/// The largest page of a list (DESIGN.md: default 50, at most 1000).
pub const MAX_PER_PAGE: u64 = 1000;

/// A whole-number query parameter from 0 to `max` (absent: 0, the default); anything else is a
/// 400 naming the parameter and its bound.
pub(crate) fn bounded_number(
    params: &HashMap<String, String>,
    key: &str,
    max: u64,
    lang: Lang,
) -> Result<u64, ApiError> {
    let Some(text) = params.get(key) else {
        return Ok(0);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => {
            let message = match lang {
                Lang::Zh => format!("{key} 应为 0 到 {max} 之间的整数"),
                Lang::En => format!("{key} must be a whole number from 0 to {max}"),
            };
            Err(ApiError::Engine(EngineError::BadRequest {
                details: vec![FieldError::new(key, "out_of_range", &message)],
                message,
            }))
        }
    }
}

/// `?count=`: `true` (the default: the exact total up to the bound, an estimate past it),
/// `false` (neither) or `exact` (the exact total however large); anything else is a 400 naming
/// the parameter.
fn counting(params: &HashMap<String, String>, lang: Lang) -> Result<Counting, ApiError> {
    match params.get("count").map(String::as_str) {
        None | Some("true" | "1" | "yes") => Ok(Counting::Bounded),
        Some("false" | "0" | "no") => Ok(Counting::Skip),
        Some("exact") => Ok(Counting::Exact),
        Some(_) => {
            let message = match lang {
                Lang::Zh => "count 应为 true、false 或 exact".to_string(),
                Lang::En => "count must be true, false or exact".to_string(),
            };
            Err(ApiError::Engine(EngineError::BadRequest {
                details: vec![FieldError::new("count", "invalid_value", &message)],
                message,
            }))
        }
    }
}

fn unmask_list(params: &HashMap<String, String>) -> Vec<String> {
    params
        .get("unmask")
        .map(|s| {
            s.split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let counting = counting(&params, caller.lang)?;
    let query = ListQuery {
        page: bounded_number(&params, "page", MAX_PAGE, caller.lang)?,
        per_page: bounded_number(&params, "per_page", MAX_PER_PAGE, caller.lang)?,
        sort: params
            .get("sort")
            .map(|s| SortKey::parse_list(s))
            .unwrap_or_default(),
        q: params.get("q").cloned(),
        filter: parse_filter(params.get("filter"))?,
        count: counting != Counting::Skip,
        exact_total: counting == Counting::Exact,
        deleted: flag(params.get("deleted").map(String::as_str), false)?,
        unmask: unmask_list(&params),
    };
    let page = state
        .engine
        .list_records(&caller.principal, &entity, &query)
        .await?;
    Ok(Json(json!(page)))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    RecordBody(body): RecordBody<DataBody>,
) -> Result<Response, ApiError> {
    let record = state
        .engine
        .create_record(&caller.principal, &entity, body.data, caller.lang)
        .await?;
    Ok(with_etag(StatusCode::CREATED, record))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let record = state
        .engine
        .get_record(
            &caller.principal,
            &entity,
            id,
            &unmask_list(&params),
            caller.lang,
        )
        .await?;
    if record.deleted_at.is_some() && !flag(params.get("deleted").map(String::as_str), false)? {
        return Err(kangdao_engine::EngineError::not_found(format!("{entity} {id}")).into());
    }
    Ok(with_etag(StatusCode::OK, record))
}

pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    headers: HeaderMap,
    RecordBody(body): RecordBody<DataBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let version = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    let record = state
        .engine
        .update_record(
            &caller.principal,
            &entity,
            id,
            body.data,
            version,
            caller.lang,
        )
        .await?;
    Ok(with_etag(StatusCode::OK, record))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let version = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    state
        .engine
        .delete_record(&caller.principal, &entity, id, version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let record = state
        .engine
        .restore_record(&caller.principal, &entity, id, caller.lang)
        .await?;
    Ok(with_etag(StatusCode::OK, record))
}

pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(one_page(
        state
            .engine
            .record_history(&caller.principal, &entity, id)
            .await?,
    )))
}

pub async fn view360(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(json!(
        state
            .engine
            .view360(&caller.principal, &entity, id, caller.lang)
            .await?
    )))
}

pub async fn upsert_by(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, field, value)): Path<(String, String, String)>,
    headers: HeaderMap,
    RecordBody(body): RecordBody<DataBody>,
) -> Result<Response, ApiError> {
    let outcome = state
        .engine
        .upsert_record_by(
            &caller.principal,
            &entity,
            UniqueKey {
                field: &field,
                value: &value,
            },
            body.data,
            if_match(&headers)?,
            caller.lang,
        )
        .await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, outcome.record))
}

pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mapping = params
        .get("mapping")
        .map(|m| {
            serde_json::from_str::<BTreeMap<String, String>>(m).map_err(|e| {
                ApiError::BadRequest(format!(
                    "mapping must be a JSON object of column → field: {e}"
                ))
            })
        })
        .transpose()?;
    let options = ImportOptions {
        dry_run: flag(params.get("dry_run").map(String::as_str), false)?,
        atomic: flag(params.get("atomic").map(String::as_str), true)?,
        mapping,
    };
    let report = state
        .engine
        .import_records(&caller.principal, &entity, &body, &options, caller.lang)
        .await?;
    if !options.dry_run && options.atomic && !report.errors.is_empty() {
        return Err(ApiError::ImportRejected(json!(report.errors)));
    }
    Ok(Json(json!(report)))
}

pub async fn import_preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let preview = state
        .engine
        .preview_import(&caller.principal, &entity, &body, caller.lang)
        .await?;
    Ok(Json(json!(preview)))
}

pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(entity): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format = match params.get("format").map(String::as_str) {
        None | Some("csv") => TabularFormat::Csv,
        Some("xlsx") => TabularFormat::Xlsx,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format must be csv or xlsx, not {other:?}"
            )))
        }
    };
    let bytes = state
        .engine
        .export_records(
            &caller.principal,
            &entity,
            format,
            parse_filter(params.get("filter"))?,
            params
                .get("sort")
                .map(|s| SortKey::parse_list(s))
                .unwrap_or_default(),
            params.get("columns").map(|c| {
                c.split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect()
            }),
        )
        .await?;
    let disposition = format!("attachment; filename=\"{entity}.{}\"", format.extension());
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
