//! The one place engine errors become HTTP answers, in the caller's language.
//!
//! Handlers return [`ApiError`]; its response carries the error as an extension, and the
//! `render_errors` middleware writes the body in the language the request asked for. The same
//! middleware gives every other error response (unknown route, wrong method, body too large,
//! a caught panic) the one error format.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kangdao_engine::{EngineError, FieldError, Lang};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    Engine(EngineError),
    CsrfFailed,
    PreconditionRequired,
    PayloadTooLarge,
    MethodNotAllowed,
    /// The request line is longer than `MAX_URI_BYTES`.
    UriTooLong,
    /// The request headers are more or larger than the server accepts.
    HeadersTooLarge,
    BadRequest(String),
    /// Import rows that failed, with line numbers; nothing was written.
    ImportRejected(serde_json::Value),
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::Engine(e)
    }
}

/// The error waiting for its body, carried from the handler to `render_errors`.
#[derive(Debug, Clone)]
struct PendingError(std::sync::Arc<ApiError>);

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => match e {
                EngineError::BadRequest { .. } => StatusCode::BAD_REQUEST,
                EngineError::Unauthenticated => StatusCode::UNAUTHORIZED,
                EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
                EngineError::NotFound { .. } => StatusCode::NOT_FOUND,
                EngineError::VersionConflict { .. }
                | EngineError::UniqueViolation { .. }
                | EngineError::Conflict(_) => StatusCode::CONFLICT,
                EngineError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                EngineError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                EngineError::Configuration(_)
                | EngineError::Storage(_)
                | EngineError::Migration(_)
                | EngineError::Internal(_)
                // Jobs run in the background; a request never meets a lost lease.
                | EngineError::LeaseLost { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::CsrfFailed => StatusCode::FORBIDDEN,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::ImportRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn body(&self, lang: Lang) -> serde_json::Value {
        let (code, message, details) = match self {
            ApiError::Engine(e) => {
                let mut details: Vec<FieldError> = e.details().to_vec();
                if let EngineError::UniqueViolation { field } = e {
                    details.push(FieldError::new(field, "unique_violation", e.message(lang)));
                }
                (e.code(), e.message(lang), json!(details))
            }
            ApiError::CsrfFailed => (
                "csrf_failed",
                lang.pick(
                    "缺少或错误的 CSRF 令牌（X-CSRF-Token）",
                    "Missing or wrong CSRF token (X-CSRF-Token)",
                )
                .to_string(),
                json!([]),
            ),
            ApiError::PreconditionRequired => (
                "precondition_required",
                lang.pick(
                    "修改或删除需要 If-Match 请求头（记录版本）",
                    "Changing or deleting needs an If-Match header with the record's version",
                )
                .to_string(),
                json!([]),
            ),
            ApiError::PayloadTooLarge => (
                "payload_too_large",
                lang.pick("请求体过大", "The request body is too large")
                    .to_string(),
                json!([]),
            ),
            ApiError::MethodNotAllowed => (
                "method_not_allowed",
                lang.pick(
                    "该地址不支持此请求方法",
                    "This method is not allowed on this address",
                )
                .to_string(),
                json!([]),
            ),
            ApiError::UriTooLong => (
                "uri_too_long",
                lang.pick(
                    "请求地址过长；过滤条件较多时请改用 POST /api/v1/reports/query 或缩短条件",
                    "The request address is too long; shorten the filter or query string",
                )
                .to_string(),
                json!([]),
            ),
            ApiError::HeadersTooLarge => (
                "headers_too_large",
                lang.pick(
                    "请求头过多或过大",
                    "The request headers are too many or too large",
                )
                .to_string(),
                json!([]),
            ),
            ApiError::BadRequest(m) => ("bad_request", m.clone(), json!([])),
            ApiError::ImportRejected(errors) => (
                "validation_failed",
                lang.pick(
                    "导入数据有误，未写入任何记录",
                    "The import has bad rows; nothing was written",
                )
                .to_string(),
                errors.clone(),
            ),
        };
        json!({"error": {"code": code, "message": message, "details": details}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Engine(e) = &self {
            if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(error = %e, "request failed");
            }
        }
        let mut response = self.status().into_response();
        if let ApiError::Engine(EngineError::RateLimited { retry_after_secs }) = &self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
            .extensions_mut()
            .insert(PendingError(std::sync::Arc::new(self)));
        response
    }
}

pub fn request_lang(headers: &axum::http::HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

fn generic_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::NOT_FOUND => ApiError::Engine(EngineError::not_found("endpoint")),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::UNAUTHORIZED => ApiError::Engine(EngineError::Unauthenticated),
        StatusCode::FORBIDDEN => ApiError::Engine(EngineError::Forbidden(
            status.canonical_reason().unwrap_or("forbidden").to_string(),
        )),
        StatusCode::PRECONDITION_REQUIRED => ApiError::PreconditionRequired,
        StatusCode::URI_TOO_LONG => ApiError::UriTooLong,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadersTooLarge,
        StatusCode::CONFLICT => ApiError::Engine(EngineError::Conflict(
            status.canonical_reason().unwrap_or("conflict").to_string(),
        )),
        s if s.is_server_error() => ApiError::Engine(EngineError::internal("unhandled")),
        _ => ApiError::BadRequest(
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_string(),
        ),
    }
}

/// Writes every error body in the one format and the request's language.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let lang = request_lang(request.headers());
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let pending = response.extensions_mut().remove::<PendingError>();
    let already_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let body = match pending {
        Some(PendingError(error)) => error.body(lang),
        None if already_json => return response,
        // Everything else maps by status.
        None => generic_error(status).body(lang),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the oversized body is never read, so the connection cannot carry another
        // request: say so, or a keep-alive client sends its next request into a closed socket.
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    // The new body is plain JSON, whatever the old one was encoded as.
    parts.headers.remove(header::CONTENT_ENCODING);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_without_a_body_gets_its_code_from_the_design() {
        for (status, code) in [
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (StatusCode::URI_TOO_LONG, "uri_too_long"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            (StatusCode::CONFLICT, "conflict"),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            (StatusCode::BAD_GATEWAY, "internal"),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            (StatusCode::FORBIDDEN, "forbidden"),
            (StatusCode::NOT_FOUND, "not_found"),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            (StatusCode::PRECONDITION_REQUIRED, "precondition_required"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_request"),
        ] {
            let error = generic_error(status);
            assert_eq!(error.status(), status_class(status), "{status}");
            assert_eq!(error.body(Lang::En)["error"]["code"], code, "{status}");
        }
    }

    /// The status an error of that code answers: the same, except that every 5xx is a 500
    /// and a 4xx without its own code a 400.
    fn status_class(status: StatusCode) -> StatusCode {
        match status {
            s if s.is_server_error() => StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::BAD_REQUEST,
            s => s,
        }
    }
}
