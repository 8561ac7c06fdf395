//! Checks at the edge, before any handler runs: the size of the request line and headers, and
//! NUL characters (U+0000) in path values, query parameters and JSON bodies.
//!
//! hyper answers requests beyond its own limits itself, with an empty body; the limits here sit
//! below hyper's so that every answer a client can get speaks the one error format. A NUL
//! character cannot be stored by PostgreSQL in text or JSONB, so it is refused on both backends
//! alike, naming where it was; record data is the engine's to check (a 422 per field), so that
//! imports and every later writer are covered too.

use crate::error::{request_lang, ApiError};
use axum::extract::{Query, RawPathParams, Request};
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kangdao_engine::{EngineError, FieldError, Lang};
use serde_json::Value;

/// The longest request target (path and query) the server reads: 32 KiB, so a list filter with
/// its most values (1,000) still fits a GET. hyper's own limit is 64 KiB; between the two the
/// answer is a 414 in the error format.
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// The most request headers: 64 (hyper refuses more than 100 by itself).
pub const MAX_HEADERS: usize = 64;
/// The largest total size of the request headers, names and values: 16 KiB (hyper's buffer
/// holds about 400 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses a request line or headers beyond the limits above with 414 or 431.
pub async fn request_limits(request: Request, next: Next) -> Response {
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return ApiError::UriTooLong.into_response();
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// Refuses a NUL character in a path value or a query parameter (also inside a JSON-valued
/// parameter such as `filter` or `mapping`) with a 400 naming it. Runs on matched routes.
pub async fn refuse_nul_in_path_and_query(
    path: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    let lang = request_lang(request.headers());
    if let Ok(params) = &path {
        if let Some((name, _)) = params.iter().find(|(_, value)| value.contains('\0')) {
            return nul_error(name, name, lang).into_response();
        }
    }
    if let Some(place) = query_nul(request.uri()) {
        return nul_error(&place, &place, lang).into_response();
    }
    next.run(request).await
}

/// Where the query string holds a NUL: the parameter's name, with the JSON pointer inside a
/// JSON value.
fn query_nul(uri: &Uri) -> Option<String> {
    uri.query()?;
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(uri) else {
        // Undecodable query strings are the handlers' to refuse.
        return None;
    };
    for (name, value) in pairs {
        if name.contains('\0') || value.contains('\0') {
            return Some(shown(&name));
        }
        let trimmed = value.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') || trimmed.starts_with('"') {
            if let Ok(json) = serde_json::from_str::<Value>(&value) {
                if let Some(pointer) = json_nul(&json) {
                    return Some(format!("{}{pointer}", shown(&name)));
                }
            }
        }
    }
    None
}

/// A name as it can be shown: NUL written `\0`.
fn shown(name: &str) -> String {
    name.replace('\0', "\\0")
}

/// The JSON pointer (`/fields/0/label/zh`) of the first string or key holding a NUL.
pub fn json_nul(value: &Value) -> Option<String> {
    fn escape(key: &str) -> String {
        shown(key).replace('~', "~0").replace('/', "~1")
    }
    match value {
        Value::String(s) if s.contains('\0') => Some(String::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| json_nul(v).map(|rest| format!("/{i}{rest}"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(format!("/{}", escape(k)))
            } else {
                json_nul(v).map(|rest| format!("/{}{rest}", escape(k)))
            }
        }),
        _ => None,
    }
}

/// Whether a JSON text may hold a NUL character: only as the escape `\u0000`.
pub fn may_hold_nul(json: &[u8]) -> bool {
    json.windows(6).any(|w| w == b"\\u0000")
}

/// A 400 naming where the NUL character was.
pub fn nul_error(field: &str, place: &str, lang: Lang) -> ApiError {
    let message = match lang {
        Lang::Zh => format!("{place} 含有不允许的空字符（\\u0000）"),
        Lang::En => format!("{place} contains a NUL character (\\u0000), which is not allowed"),
    };
    ApiError::Engine(EngineError::BadRequest {
        details: vec![FieldError::new(field, "nul_character", &message)],
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_nul_names_the_pointer_of_the_first_nul() {
        assert_eq!(json_nul(&json!({"a": [1, "x"]})), None);
        assert_eq!(
            json_nul(&json!({"fields": [{"name": "a"}, {"label": {"zh": "a\u{0}"}}]})),
            Some("/fields/1/label/zh".into())
        );
        assert_eq!(json_nul(&json!({"a/b\u{0}": 1})), Some("/a~1b\\0".into()));
        assert!(may_hold_nul(br#"{"a":"x\u0000"}"#));
        assert!(!may_hold_nul(br#"{"a":"x\u0001"}"#));
    }

    #[test]
    fn a_nul_in_a_query_parameter_or_its_json_is_found() {
        let uri: Uri = "/x?q=a%00b".parse().unwrap();
        assert_eq!(query_nul(&uri), Some("q".into()));
        let uri: Uri = "/x?filter=%7B%22field%22%3A%22name%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A%22a%5Cu0000%22%7D"
            .parse()
            .unwrap();
        assert_eq!(query_nul(&uri), Some("filter/value".into()));
        let uri: Uri = "/x?q=abc&page=2".parse().unwrap();
        assert_eq!(query_nul(&uri), None);
    }
}
