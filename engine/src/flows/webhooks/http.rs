//! The one place the engine talks HTTP: a `webhook_call`'s POST. Everything before it (what
//! to send, the signature) and after it (retry or not, what the step keeps) is plain code in
//! `call.rs`; this file only moves bytes, so it stays small enough to trust by reading.

use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// The most of an answer's body kept for `steps.<id>.body`; the rest is not read.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A request ready to go: the body is the exact bytes the signature covers.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub url: String,
    pub body: Vec<u8>,
    pub idempotency_key: String,
    pub signature: Option<String>,
    pub timeout: Duration,
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The receiver answered (any status; redirects are not followed, so a 3xx is an answer).
    Answered {
        status: u16,
        /// JSON when the answer parses as JSON, else its text; `Null` when empty or too large.
        body: Value,
    },
    /// No answer within the attempt's time.
    TimedOut,
    /// No connection, or it broke.
    Unreachable,
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // reqwest is built with `rustls-no-provider`: ring must be the process's provider
        // before the first client, or the build panics. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kangdao/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Posts `request` once.
pub async fn post(request: &Outbound) -> Delivery {
    let mut builder = client()
        .post(&request.url)
        .timeout(request.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &request.idempotency_key)
        .body(request.body.clone());
    if let Some(signature) = &request.signature {
        builder = builder.header(super::signature::HEADER, signature);
    }
    let mut response = match builder.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Delivery::TimedOut,
        Err(_) => return Delivery::Unreachable,
    };
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    let mut too_large = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                    too_large = true;
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Delivery::TimedOut,
            Err(_) => return Delivery::Unreachable,
        }
    }
    let body = if too_large || bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Delivery::Answered { status, body }
}
