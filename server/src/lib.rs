//! The Kangdao server: routing, sessions, authentication, serialization. Every rule lives in
//! the engine.

pub mod caller;
pub mod config;
pub mod error;
pub mod input;
pub mod logging;
pub mod metrics;
pub mod routes;
pub mod session;
pub mod ui;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use config::Config;
use kangdao_engine::access::{AuthProvider, LocalPasswords};
use kangdao_engine::clock::{SharedClock, SystemClock};
use kangdao_engine::crypto::{KeySource, Keyring};
use kangdao_engine::store::{Db, DbOptions};
use kangdao_engine::{Engine, EngineError, Settings};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: Arc<Config>,
    pub auth: Arc<dyn AuthProvider>,
    pub metrics: Arc<metrics::Metrics>,
    sessions: session::DbSessionStore,
}

/// Opens the database, checks the key, migrates, and readies the session store.
pub async fn build_state(config: Config) -> Result<AppState, EngineError> {
    build_state_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn build_state_with_clock(
    config: Config,
    clock: SharedClock,
) -> Result<AppState, EngineError> {
    let engine = open_engine(&config, clock).await?;
    let sessions = session::DbSessionStore::new(&engine);
    Ok(AppState {
        auth: Arc::new(LocalPasswords::new(engine.db.clone())),
        engine,
        config: Arc::new(config),
        metrics: Arc::new(
            metrics::Metrics::new().map_err(|e| EngineError::Internal(format!("metrics: {e}")))?,
        ),
        sessions,
    })
}

/// Creates `dir` (and missing parents) readable by the server's user only (0700).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The file of a `sqlite://path[?options]` URL, unless it is in memory.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates the SQLite file 0600 before SQLite opens it; SQLite gives its `-wal` and `-shm`
/// files the database file's mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Takes group and other access off an existing folder or file (an installation made before
/// the server created them private), with a warning; a missing path is left alone.
fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if current & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{current:o}"),
                now = format!("{mode:o}"),
                "took group and other access off a data path"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The engine on the configured database, with the configured (or generated) key. The data
/// folder is made (or tightened to) 0700, the SQLite database and its `-wal`/`-shm` 0600.
pub async fn open_engine(config: &Config, clock: SharedClock) -> Result<Engine, EngineError> {
    if config.token_max_days == 0 {
        return Err(EngineError::Configuration(
            "token_max_days must be at least 1".into(),
        ));
    }
    if !config.is_postgres() {
        create_private_dir(&config.data_dir).map_err(|e| {
            EngineError::Configuration(format!(
                "cannot create data folder {}: {e}",
                config.data_dir.display()
            ))
        })?;
        if let Some(file) = sqlite_file(&config.database_url) {
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent).map_err(|e| {
                    EngineError::Configuration(format!(
                        "cannot create folder {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            create_private_file(&file).map_err(|e| {
                EngineError::Configuration(format!(
                    "cannot create database file {}: {e}",
                    file.display()
                ))
            })?;
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                make_private(Path::new(&path), 0o600).map_err(|e| {
                    EngineError::Configuration(format!(
                        "cannot make {} private: {e}",
                        Path::new(&path).display()
                    ))
                })?;
            }
        }
    }
    for (path, mode) in [
        (config.data_dir.clone(), 0o700),
        (config.data_dir.join("secrets"), 0o700),
        (config.data_dir.join("secrets").join("master.key"), 0o600),
    ] {
        make_private(&path, mode).map_err(|e| {
            EngineError::Configuration(format!("cannot make {} private: {e}", path.display()))
        })?;
    }
    let (keys, source) = Keyring::load_or_create(config.key_file.as_deref(), &config.data_dir)?;
    if let KeySource::Generated(path) = &source {
        tracing::warn!(
            key_file = %path.display(),
            "no key_file configured: generated a new key for sensitive fields; back it up, \
             and give every instance on this database the same key_file"
        );
    }
    let db = Db::connect(&DbOptions {
        url: config.database_url.clone(),
        max_connections: config.db_max_connections,
    })
    .await?;
    let mut settings = Settings::with_timezone(&config.timezone)?;
    settings.token_max_days = config.token_max_days;
    if config.retention_days == 0 {
        return Err(EngineError::Configuration(
            "retention_days must be at least 1".into(),
        ));
    }
    settings.retention_days = config.retention_days;
    settings.flow_webhook_allow = config.flow_webhook_allow.clone();
    Engine::open(db, keys, clock, settings).await
}

/// Access log and request metrics: method, route template, status and duration, never path
/// values or query strings. One line a request at `info` (target `kangdao::access`).
async fn access_log(
    axum::extract::State(metrics): axum::extract::State<Arc<metrics::Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    // A shared string: cloning it does not copy the template.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let route = route.as_ref().map_or("(unmatched)", MatchedPath::as_str);
    let status = response.status();
    metrics.observe(
        route,
        method.as_str(),
        status.as_str(),
        elapsed.as_secs_f64(),
    );
    tracing::info!(
        target: "kangdao::access",
        method = method.as_str(),
        route,
        status = status.as_u16(),
        ms = elapsed.as_millis() as u64,
    );
    response
}

pub fn app(state: AppState) -> Router {
    use routes::{
        auth, entities, flows, health, hooks, list_views, openapi, people, records, reports,
    };
    let import_limit = state.config.max_import_bytes;
    let api = Router::new()
        .route("/auth/login", post(auth::login_handler))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/entities", get(entities::list).post(entities::create))
        .route("/entity-batches", post(entities::batch))
        .route("/entity-checks", post(entities::check))
        .route(
            "/entities/{entity}",
            get(entities::get)
                .put(entities::replace)
                .delete(entities::remove),
        )
        .route("/entities/{entity}/impact", post(entities::impact))
        .route("/entities/{entity}/schema", get(entities::schema))
        .route("/entities/{entity}/versions", get(entities::versions))
        .route(
            "/entities/{entity}/versions/{version}",
            get(entities::version),
        )
        .route(
            "/records/{entity}",
            get(records::list).post(records::create),
        )
        .route(
            "/records/{entity}/import",
            post(records::import).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route(
            "/records/{entity}/import-preview",
            post(records::import_preview).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route("/records/{entity}/export", get(records::export))
        .route(
            "/records/{entity}/{id}",
            get(records::get)
                .patch(records::patch)
                .delete(records::delete),
        )
        .route("/records/{entity}/{id}/restore", post(records::restore))
        .route("/records/{entity}/{id}/history", get(records::history))
        .route("/records/{entity}/{id}/view360", get(records::view360))
        .route(
            "/records/{entity}/by/{field}/{value}",
            put(records::upsert_by),
        )
        .route("/reports/query", post(reports::query))
        .route("/flows", get(flows::list).post(flows::create))
        .route("/flow-checks", post(flows::check))
        .route(
            "/flows/{name}",
            get(flows::get).put(flows::replace).delete(flows::remove),
        )
        .route("/flows/{name}/versions", get(flows::versions))
        .route("/flows/{name}/versions/{version}", get(flows::version))
        .route(
            "/flows/{name}/runs",
            get(flows::runs).post(flows::start_run),
        )
        .route("/flows/{name}/dry-run", post(flows::dry_run))
        .route(
            "/hooks/{flow}",
            post(hooks::receive).layer(DefaultBodyLimit::max(
                kangdao_engine::flows::webhooks::MAX_BODY_BYTES,
            )),
        )
        .route("/runs/{id}", get(flows::run))
        .route("/runs/{id}/retry", post(flows::retry))
        .route("/runs/{id}/cancel", post(flows::cancel))
        .route("/tasks", get(flows::tasks))
        .route("/tasks/{id}/complete", post(flows::complete_task))
        .route("/users", get(people::list_users).post(people::create_user))
        .route(
            "/users/{id}",
            get(people::get_user)
                .patch(people::update_user)
                .delete(people::delete_user),
        )
        .route("/roles", get(people::list_roles).post(people::create_role))
        .route(
            "/roles/{name}",
            get(people::get_role)
                .put(people::replace_role)
                .delete(people::delete_role),
        )
        .route(
            "/tokens",
            get(people::list_tokens).post(people::create_token),
        )
        .route("/tokens/{id}", axum::routing::delete(people::revoke_token))
        .route("/audit", get(people::list_audit))
        .route(
            "/list-views",
            get(list_views::list).post(list_views::create),
        )
        .route(
            "/list-views/{id}",
            axum::routing::put(list_views::update).delete(list_views::remove),
        )
        .merge(routes::saved_report_routes())
        .route_layer(middleware::from_fn(input::refuse_nul_in_path_and_query));
    let secure_cookies = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let sessions = state.sessions.clone().layer(secure_cookies);
    // The browser app's files, gzipped for the ward PCs' networks.
    let app_files = Router::new()
        .fallback(ui::serve)
        .layer(tower_http::compression::CompressionLayer::new());
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(openapi::serve))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .fallback_service(app_files)
        .layer(sessions)
        .layer(middleware::from_fn(input::request_limits))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            access_log,
        ))
        .layer(middleware::from_fn(error::render_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn launch(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.sessions.spawn_cleanup();
    let engine = state.engine.clone();
    // The flow runtime runs beside the server; on shutdown it releases its job leases so
    // another instance (or the next start) takes them at once.
    let (stop_flows, stopped) = tokio::sync::watch::channel(false);
    let worker = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run_flow_worker(stopped).await })
    };
    let router = app(state);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = stop_flows.send(true);
    let _ = worker.await;
    served?;
    engine.db.close().await;
    Ok(())
}
