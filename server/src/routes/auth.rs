//! Log-in, log-out and who am I.

use crate::caller::{Caller, ReqLang, Via};
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::session::{SESSION_CSRF, SESSION_EPOCH, SESSION_USER};
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use kangdao_engine::access::{login, Principal};
use kangdao_engine::EngineError;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use tower_sessions::Session;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: String,
}

fn new_csrf_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn user_json(state: &AppState, principal: &Principal) -> Result<Value, ApiError> {
    let Some(id) = principal.user_id else {
        return Err(EngineError::Unauthenticated.into());
    };
    let user = state.engine.get_user(principal, id).await?;
    Ok(json!({
        "user": user,
        "permissions": principal.permissions,
        "rights": principal.rights,
        "timezone": state.config.timezone,
    }))
}

pub async fn login_handler(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    session: Session,
    _lang: ReqLang,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let engine = &state.engine;
    let ip = addr.ip().to_string();
    let principal = login(
        &engine.db,
        engine.clock.as_ref(),
        state.auth.as_ref(),
        &body.username,
        &body.password,
        Some(&ip),
    )
    .await?;
    // A fresh session id at log-in: a planted cookie cannot ride into the new session.
    session
        .cycle_id()
        .await
        .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
    let csrf = new_csrf_token();
    session
        .insert(SESSION_USER, principal.user_id)
        .await
        .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
    session
        .insert(SESSION_CSRF, &csrf)
        .await
        .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
    session
        .insert(SESSION_EPOCH, principal.credentials_epoch)
        .await
        .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
    let mut body = user_json(&state, &principal).await?;
    body["csrf_token"] = json!(csrf);
    Ok(Json(body))
}

pub async fn logout(session: Session, _caller: Caller) -> Result<StatusCode, ApiError> {
    session
        .flush()
        .await
        .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(
    State(state): State<AppState>,
    session: Session,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let mut body = user_json(&state, &caller.principal).await?;
    body["csrf_token"] = match caller.via {
        Via::Session => json!(session
            .get::<String>(SESSION_CSRF)
            .await
            .map_err(|e| ApiError::Engine(EngineError::internal(e)))?),
        Via::Token => Value::Null,
    };
    Ok(Json(body))
}
