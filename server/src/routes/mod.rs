//! HTTP routes, one file per area; thin: parse, call the engine, shape the answer.

pub mod auth;
pub mod entities;
pub mod health;
pub mod openapi;
pub mod people;
pub mod records;
pub mod reports;

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body whose rejections use the one error format: 413 when too large, 400 otherwise.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
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
