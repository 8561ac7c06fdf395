//! Who is calling: a session cookie (with a CSRF token for writes) or a Bearer API token.

use crate::error::{request_lang, ApiError};
use crate::session::{SESSION_CSRF, SESSION_EPOCH, SESSION_USER};
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use kangdao_engine::access::Principal;
use kangdao_engine::{EngineError, Lang};
use tower_sessions::Session;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
}

/// An authenticated caller. Extracting it checks the CSRF token on cookie-authenticated writes.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub via: Via,
    pub lang: Lang,
}

/// The request's language, from `Accept-Language`.
#[derive(Debug, Clone, Copy)]
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ReqLang(request_lang(&parts.headers)))
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let lang = request_lang(&parts.headers);
        let engine = &state.engine;
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(ApiError::Engine(EngineError::Unauthenticated))?;
            let principal = engine.token_principal(token).await?;
            return Ok(Caller {
                principal,
                via: Via::Token,
                lang,
            });
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::Engine(EngineError::internal("session layer missing")))?;
        let user_id: Option<Uuid> = session
            .get(SESSION_USER)
            .await
            .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
        let Some(user_id) = user_id else {
            return Err(ApiError::Engine(EngineError::Unauthenticated));
        };
        if is_write(&parts.method) {
            let expected: Option<String> = session
                .get(SESSION_CSRF)
                .await
                .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            let ok = matches!((expected.as_deref(), sent), (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()));
            if !ok {
                return Err(ApiError::CsrfFailed);
            }
        }
        let epoch: Option<i64> = session
            .get(SESSION_EPOCH)
            .await
            .map_err(|e| ApiError::Engine(EngineError::internal(e)))?;
        let principal = match engine.session_principal(user_id, epoch).await {
            Ok(p) => p,
            Err(EngineError::Unauthenticated | EngineError::NotFound { .. }) => {
                // A disabled or deleted user's session, or one from before a password change,
                // ends here.
                let _ = session.flush().await;
                return Err(ApiError::Engine(EngineError::Unauthenticated));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Caller {
            principal,
            via: Via::Session,
            lang,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
