//! Server-side sessions (tower-sessions) kept by the engine under a hash of their id: the
//! cookie carries the id, the database only its SHA-256, so a copy of the database holds no
//! live session.

use async_trait::async_trait;
use kangdao_engine::access::sessions::SessionTable;
use kangdao_engine::Engine;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::{Expiry, SessionManagerLayer};

pub const SESSION_USER: &str = "user_id";
pub const SESSION_CSRF: &str = "csrf_token";
/// The user's credentials epoch at log-in; a password change since then ends the session.
pub const SESSION_EPOCH: &str = "credentials_epoch";

#[derive(Debug, Clone)]
pub struct DbSessionStore {
    table: SessionTable,
}

fn backend_error(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl DbSessionStore {
    pub fn new(engine: &Engine) -> DbSessionStore {
        DbSessionStore {
            table: engine.session_table(),
        }
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

/// Session expiry is tower-sessions' own, on the system clock.
fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn data_json(record: &Record) -> session_store::Result<serde_json::Value> {
    serde_json::to_value(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = data_json(record)?;
        while !self
            .table
            .insert(&record.id.to_string(), data.clone(), record.expiry_date)
            .await
            .map_err(backend_error)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.table
            .save(
                &record.id.to_string(),
                data_json(record)?,
                record.expiry_date,
            )
            .await
            .map_err(backend_error)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expiry_date)) = self
            .table
            .load(&id.to_string(), now())
            .await
            .map_err(backend_error)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_value(data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.table
            .delete(&id.to_string())
            .await
            .map_err(backend_error)
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.table
            .delete_expired(now())
            .await
            .map_err(backend_error)
    }
}
