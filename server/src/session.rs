//! Server-side sessions in the database (tower-sessions), on whichever backend the engine uses.

use async_trait::async_trait;
use kangdao_engine::store::Db;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

pub const SESSION_USER: &str = "user_id";
pub const SESSION_CSRF: &str = "csrf_token";
const TABLE: &str = "sessions";

#[derive(Debug, Clone)]
pub enum DbSessionStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl DbSessionStore {
    /// Opens the store and creates its table if needed.
    pub async fn open(db: &Db) -> Result<DbSessionStore, String> {
        let store = match db {
            Db::Sqlite(pool) => {
                DbSessionStore::Sqlite(SqliteStore::new(pool.clone()).with_table_name(TABLE)?)
            }
            Db::Postgres(pool) => DbSessionStore::Postgres(
                PostgresStore::new(pool.clone())
                    .with_schema_name("public")?
                    .with_table_name(TABLE)?,
            ),
        };
        match &store {
            DbSessionStore::Sqlite(s) => s.migrate().await,
            DbSessionStore::Postgres(s) => s.migrate().await,
        }
        .map_err(|e| format!("cannot create the session table: {e}"))?;
        Ok(store)
    }

    pub fn layer(self, secure: bool) -> SessionManagerLayer<DbSessionStore> {
        SessionManagerLayer::new(self)
            .with_name("kangdao_session")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_expiry(Expiry::OnInactivity(time::Duration::hours(8)))
    }

    /// Removes expired sessions now and then, on either backend.
    pub fn spawn_cleanup(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                tick.tick().await;
                if let Err(e) = store.delete_expired().await {
                    tracing::warn!(error = %e, "expired-session clean-up failed");
                }
            }
        });
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.create(record).await,
            DbSessionStore::Postgres(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.save(record).await,
            DbSessionStore::Postgres(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            DbSessionStore::Sqlite(s) => s.load(id).await,
            DbSessionStore::Postgres(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.delete(id).await,
            DbSessionStore::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            DbSessionStore::Sqlite(s) => s.delete_expired().await,
            DbSessionStore::Postgres(s) => s.delete_expired().await,
        }
    }
}
