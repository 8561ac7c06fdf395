//! Inbound webhooks: `POST /api/v1/hooks/{flow}`. No session and no CSRF token: the signature
//! over the raw body is the credential, checked by the engine (`flows::webhooks::inbound`).

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kangdao_engine::flows::webhooks::{signature, InboundWebhook};
use serde_json::json;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest(format!("{name} is not text")))
        })
        .transpose()
}

pub async fn receive(
    State(state): State<AppState>,
    Path(flow): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    let received = state
        .engine
        .receive_webhook(InboundWebhook {
            flow: &flow,
            // An unreadable signature header is no signature: the same 401 as a wrong one.
            signature: header(&headers, signature::HEADER).ok().flatten(),
            idempotency_key: header(&headers, "Idempotency-Key")?,
            body: &body,
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"run_id": received.run_id})),
    )
        .into_response())
}
