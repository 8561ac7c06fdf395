//! `/metrics` in the Prometheus text format: requests by route template, method and status
//! (a latency histogram whose `_count` is the number of requests) and the database pool.
//! Labels hold route templates only (`/api/v1/records/{entity}/{id}`), never path values,
//! query strings or anything about a person.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kangdao_engine::store::Db;
use kangdao_engine::EngineError;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntGauge, Opts, Registry, TextEncoder};

/// The server's metrics, one set per running server.
pub struct Metrics {
    registry: Registry,
    requests: HistogramVec,
    pool_size: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
}

/// Latency buckets, in seconds: from an index read to a large import.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = HistogramVec::new(
            HistogramOpts::new(
                "kangdao_http_request_duration_seconds",
                "HTTP requests by route template, method and status: latency in seconds (_count is the number of requests)",
            )
            .buckets(BUCKETS.to_vec()),
            &["route", "method", "status"],
        )?;
        let pool_size = IntGauge::with_opts(Opts::new(
            "kangdao_db_pool_connections",
            "Database connections open in the pool, busy or idle",
        ))?;
        let pool_idle = IntGauge::with_opts(Opts::new(
            "kangdao_db_pool_idle_connections",
            "Database connections open and idle in the pool",
        ))?;
        let pool_max = IntGauge::with_opts(Opts::new(
            "kangdao_db_pool_max_connections",
            "The most connections the pool opens (db_max_connections)",
        ))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(pool_size.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            pool_size,
            pool_idle,
            pool_max,
        })
    }

    /// Counts one answered request; `route` is the matched template.
    pub fn observe(&self, route: &str, method: &str, status: &str, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, status])
            .observe(seconds);
    }

    /// The text exposition, with the pool read now.
    pub fn render(&self, db: &Db) -> Result<String, prometheus::Error> {
        let (size, idle, max) = match db {
            Db::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Db::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        self.pool_size.set(i64::from(size));
        self.pool_idle.set(i64::try_from(idle).unwrap_or(i64::MAX));
        self.pool_max.set(i64::from(max));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// `GET /metrics`: readable without signing in, like `/healthz`, for the hospital's monitoring.
pub async fn serve(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics
        .render(&state.engine.db)
        .map_err(|e| EngineError::Internal(format!("metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}
