//! `/metrics` in the Prometheus text format: requests by route template, method and status
//! (a latency histogram whose `_count` is the number of requests), the database pool, and on
//! SQLite the WAL syncs that made commits durable and how many commits they covered, and how
//! often the dashboard cache answered.
//! Labels hold route templates only (`/api/v1/records/{entity}/{id}`), never path values,
//! query strings or anything about a person.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kangdao_engine::store::Db;
use kangdao_engine::{Engine, EngineError};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntGauge, Opts, Registry, TextEncoder,
};
use std::sync::{Mutex, PoisonError};

/// The server's metrics, one set per running server.
pub struct Metrics {
    registry: Registry,
    requests: HistogramVec,
    pool_size: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    wal_syncs: IntCounter,
    commits_synced: IntCounter,
    wal_sync_failures: IntCounter,
    dashboard_hits: IntCounter,
    dashboard_misses: IntCounter,
    /// Held while the counters catch up with the engine's, so two scrapes at once add once.
    catching_up: Mutex<()>,
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
        let wal_syncs = IntCounter::with_opts(Opts::new(
            "kangdao_sqlite_wal_syncs_total",
            "SQLite: syncs of the WAL file that made waiting commits durable (0 on PostgreSQL)",
        ))?;
        let commits_synced = IntCounter::with_opts(Opts::new(
            "kangdao_sqlite_commits_synced_total",
            "SQLite: commits those syncs made durable; above the syncs when commits shared one",
        ))?;
        let wal_sync_failures = IntCounter::with_opts(Opts::new(
            "kangdao_sqlite_wal_sync_failures_total",
            "SQLite: syncs of the WAL file that failed (their writes answered 500); a disk fault",
        ))?;
        let dashboard_hits = IntCounter::with_opts(Opts::new(
            "kangdao_dashboard_cache_hits_total",
            "Dashboard data answered from the exact cache",
        ))?;
        let dashboard_misses = IntCounter::with_opts(Opts::new(
            "kangdao_dashboard_cache_misses_total",
            "Dashboard data computed afresh (nothing cached for the request's key, or not cacheable)",
        ))?;
        registry.register(Box::new(dashboard_hits.clone()))?;
        registry.register(Box::new(dashboard_misses.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(pool_size.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(wal_syncs.clone()))?;
        registry.register(Box::new(commits_synced.clone()))?;
        registry.register(Box::new(wal_sync_failures.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            pool_size,
            pool_idle,
            pool_max,
            wal_syncs,
            commits_synced,
            wal_sync_failures,
            dashboard_hits,
            dashboard_misses,
            catching_up: Mutex::new(()),
        })
    }

    /// Counts one answered request; `route` is the matched template.
    pub fn observe(&self, route: &str, method: &str, status: &str, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, status])
            .observe(seconds);
    }

    /// The text exposition, with the pool read now.
    pub fn render(&self, engine: &Engine) -> Result<String, prometheus::Error> {
        let db = &engine.db;
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
        let synced = db.wal_sync_stats();
        let cache = engine.dashboard_cache_stats();
        {
            let _one_at_a_time = self
                .catching_up
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (counter, now) in [
                (&self.wal_syncs, synced.syncs),
                (&self.commits_synced, synced.commits_synced),
                (&self.wal_sync_failures, synced.failed_syncs),
                (&self.dashboard_hits, cache.hits),
                (&self.dashboard_misses, cache.misses),
            ] {
                counter.inc_by(now.saturating_sub(counter.get()));
            }
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// `GET /metrics`: readable without signing in, like `/healthz`, for the hospital's monitoring.
pub async fn serve(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics
        .render(&state.engine)
        .map_err(|e| EngineError::Internal(format!("metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}
