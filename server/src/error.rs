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
                | EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::CsrfFailed => StatusCode::FORBIDDEN,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
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
        StatusCode::METHOD_NOT_ALLOWED => ApiError::BadRequest("method not allowed".into()),
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
        None => {
            // 405 keeps its status; everything else maps by status.
            let generic = generic_error(status);
            let mut body = generic.body(lang);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                body["error"]["message"] =
                    json!(lang.pick("不支持的请求方法", "Method not allowed"));
            }
            body
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}
