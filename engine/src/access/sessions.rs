//! Browser sessions at rest: kept under the SHA-256 of their id, as API tokens are, so a copy
//! of the database or a backup holds no live session. The server's session layer is the only
//! caller; it hands over the id from the cookie and the session's data.

use crate::error::{EngineError, Result};
use crate::store::{Arg, Db};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The key a session is stored under: never the id itself.
pub fn session_key(id: &str) -> String {
    hex::encode(Sha256::digest(format!("kangdao-session:{id}").as_bytes()))
}

/// The `sessions` table, addressed by session id.
#[derive(Debug, Clone)]
pub struct SessionTable {
    db: Db,
}

impl SessionTable {
    pub fn new(db: Db) -> SessionTable {
        SessionTable { db }
    }

    /// Stores a new session; `false` when its id is already taken (then draw another).
    pub async fn insert(&self, id: &str, data: Value, expires_at: OffsetDateTime) -> Result<bool> {
        let inserted = self
            .db
            .execute(
                "INSERT INTO sessions (id_hash, data, expires_at) VALUES ($1, $2, $3)",
                vec![
                    session_key(id).into(),
                    Arg::Json(Some(data)),
                    expires_at.into(),
                ],
            )
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(EngineError::Storage(sqlx::Error::Database(d))) if d.is_unique_violation() => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Stores a session, replacing what was stored under its id.
    pub async fn save(&self, id: &str, data: Value, expires_at: OffsetDateTime) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO sessions (id_hash, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
                vec![session_key(id).into(), Arg::Json(Some(data)), expires_at.into()],
            )
            .await?;
        Ok(())
    }

    /// A session's data and expiry, unless it is unknown or expired at `now`.
    pub async fn load(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Value, OffsetDateTime)>> {
        let Some(row) = self
            .db
            .fetch_optional(
                "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
                vec![session_key(id).into(), now.into()],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((row.req_json("data")?, row.req_time("expires_at")?)))
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM sessions WHERE id_hash = $1",
                vec![session_key(id).into()],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_expired(&self, now: OffsetDateTime) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM sessions WHERE expires_at <= $1",
                vec![now.into()],
            )
            .await?;
        Ok(())
    }
}
