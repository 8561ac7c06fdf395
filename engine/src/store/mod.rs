//! Storage: the seam over SQLite and PostgreSQL, the platform's migrations, and the key check.

pub mod db;
mod sqlite;
mod together;
mod wal_sync;
mod write_queue;

pub use db::{Arg, Backend, Conn, Db, DbOptions, DbRow, Tx};
pub use sqlite::{SqliteStore, SqliteTx};
pub use together::Together;
pub use wal_sync::WalSyncStats;

use crate::crypto::Keyring;
use crate::error::{EngineError, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Brings the schema up to date. sqlx's migrator serializes concurrent runs with an advisory
/// lock on PostgreSQL; a database migrated by a newer binary is refused.
pub async fn migrate(db: &Db) -> Result<()> {
    let outcome = match db {
        Db::Sqlite(store) => SQLITE_MIGRATIONS.run(store.pool()).await,
        Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
    };
    outcome.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => EngineError::Configuration(format!(
            "the database was migrated by a newer Kangdao (schema version {v} is unknown to this binary); \
             upgrade the binary instead"
        )),
        other => EngineError::Migration(other),
    })
}

/// Records the key's fingerprint on first start; afterwards refuses a key the database was not
/// written with, since its sensitive fields could not be read and new ones would not match.
pub async fn check_key(db: &Db, keys: &Keyring) -> Result<()> {
    let row = db
        .fetch_optional(
            "SELECT value FROM meta WHERE key = 'key_fingerprint'",
            vec![],
        )
        .await?;
    match row {
        Some(row) => {
            let stored = row.req_text("value")?;
            if stored != keys.fingerprint() {
                return Err(EngineError::Configuration(format!(
                    "the key in use (id {}) is not the key this database was written with \
                     (id {}); start with the database's key_file",
                    keys.key_id(),
                    stored.get(..8).unwrap_or("?")
                )));
            }
            Ok(())
        }
        None => {
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('key_fingerprint', $1) ON CONFLICT (key) DO NOTHING",
                vec![keys.fingerprint().into()],
            )
            .await?;
            // Another instance may have raced us with its own key: check again.
            Box::pin(check_key(db, keys)).await
        }
    }
}
