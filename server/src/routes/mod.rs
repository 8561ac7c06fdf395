//! HTTP routes, one file per area; thin: parse, call the engine, shape the answer.

pub mod auth;
pub mod charts;
pub mod dashboards;
pub mod entities;
pub mod flows;
pub mod health;
pub mod hooks;
pub mod list_views;
pub mod openapi;
pub mod people;
pub mod records;
pub mod reports;
pub mod segments;

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The saved reports' routes: segments, charts and dashboards.
pub fn saved_report_routes() -> axum::Router<crate::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/segments", get(segments::list).post(segments::create))
        .route(
            "/segments/{name}",
            get(segments::get)
                .put(segments::replace)
                .delete(segments::remove),
        )
        .route("/segments/{name}/members", get(segments::members))
        .route("/charts", get(charts::list).post(charts::create))
        .route(
            "/charts/{name}",
            get(charts::get).put(charts::replace).delete(charts::remove),
        )
        .route("/charts/{name}/data", get(charts::data))
        .route("/charts/{name}/export", get(charts::export))
        .route("/reports/export", axum::routing::post(charts::export_spec))
        .route(
            "/dashboards",
            get(dashboards::list).post(dashboards::create),
        )
        .route(
            "/dashboards/{name}",
            get(dashboards::get)
                .put(dashboards::replace)
                .delete(dashboards::remove),
        )
        .route("/dashboards/{name}/data", get(dashboards::data))
}

/// A JSON body whose rejections use the one error format: 413 when too large, 400 otherwise,
/// and 400 naming the place (a JSON pointer) of any NUL character in a string or key.
pub struct JsonBody<T>(pub T);

/// A record write's JSON body (`{"data": {…}}`): like [`JsonBody`], but NUL characters are left
/// to the engine, which answers them per field with the rest of the record's validation.
pub struct RecordBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        json_body(req, state, true).await.map(JsonBody)
    }
}

impl<S, T> FromRequest<S> for RecordBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        json_body(req, state, false).await.map(RecordBody)
    }
}

async fn json_body<S, T>(req: Request, state: &S, refuse_nul: bool) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    let req = if refuse_nul {
        let lang = crate::error::request_lang(req.headers());
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        if crate::input::may_hold_nul(&bytes) {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let Some(pointer) = crate::input::json_nul(&value) {
                    let field = pointer.trim_start_matches('/');
                    return Err(crate::input::nul_error(field, &pointer, lang));
                }
            }
        }
        Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        req
    };
    match axum::Json::<T>::from_request(req, state).await {
        Ok(axum::Json(v)) => Ok(v),
        Err(rejection) => Err(json_rejection(rejection)),
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge;
    }
    ApiError::BadRequest(rejection.body_text())
}

/// The version in `If-Match: "3"` (quotes and a weak prefix allowed).
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-Match is not text".into()))?
        .trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!("If-Match must be a record version, not {text:?}"))
    })
}

/// The `ETag` of a record version.
pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// A complete, unpaged list in the shape every list answers.
/// An id from the path; one that is no UUID names nothing, so it is a 404 like an unknown one.
pub fn parse_uuid(id: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id)
        .map_err(|_| kangdao_engine::EngineError::not_found(format!("{what} {id}")).into())
}

pub fn one_page<T: serde::Serialize>(items: Vec<T>) -> serde_json::Value {
    let total = items.len();
    serde_json::json!({"items": items, "total": total, "page": 1, "per_page": total.max(1)})
}

/// Parses a query-string flag: true/false/1/0.
pub fn flag(value: Option<&str>, default: bool) -> Result<bool, ApiError> {
    match value {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "expected true or false, not {other:?}"
        ))),
    }
}
