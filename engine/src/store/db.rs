//! The storage seam: one enum over the two pools, native SQL per dialect, values always bound.
//!
//! Fixed statements are written once with `$1` placeholders (SQLite accepts them too);
//! statements built from user input come from sea-query for the active dialect.

use super::sqlite::{SqliteStore, SqliteTx};
use super::wal_sync::WalSyncStats;
use super::write_queue::BUSY_TIMEOUT;
use crate::error::{EngineError, Result};
use sea_query::Value as SeaValue;
use sea_query_sqlx::SqlxValues;
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::SqliteRow;
use sqlx::{PgConnection, Postgres, Row, Sqlite, SqliteConnection};
use std::str::FromStr;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqliteStore),
    Postgres(sqlx::PgPool),
}

/// A value to bind, typed even when null: PostgreSQL checks parameter types against columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Json(Option<Value>),
    Uuid(Option<Uuid>),
    Time(Option<OffsetDateTime>),
    Date(Option<Date>),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(Some(s.to_string()))
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(Some(s))
    }
}
impl From<Option<String>> for Arg {
    fn from(s: Option<String>) -> Arg {
        Arg::Text(s)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(Some(v))
    }
}
impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Arg {
        Arg::Uuid(Some(v))
    }
}
impl From<Option<Uuid>> for Arg {
    fn from(v: Option<Uuid>) -> Arg {
        Arg::Uuid(v)
    }
}
impl From<OffsetDateTime> for Arg {
    fn from(v: OffsetDateTime) -> Arg {
        Arg::Time(Some(v))
    }
}
impl From<Option<OffsetDateTime>> for Arg {
    fn from(v: Option<OffsetDateTime>) -> Arg {
        Arg::Time(v)
    }
}
impl From<Value> for Arg {
    fn from(v: Value) -> Arg {
        Arg::Json(Some(v))
    }
}

/// SQLite keeps timestamps as fixed-width UTC text, so text order is time order.
pub fn sqlite_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

pub fn parse_timestamp(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| EngineError::internal(format!("bad stored timestamp {s:?}: {e}")))
}

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub fn parse_date(s: &str) -> Result<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &format)
        .map_err(|e| EngineError::internal(format!("bad stored date {s:?}: {e}")))
}

impl Arg {
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            Arg::Text(None)
                | Arg::Int(None)
                | Arg::Real(None)
                | Arg::Bool(None)
                | Arg::Json(None)
                | Arg::Uuid(None)
                | Arg::Time(None)
                | Arg::Date(None)
        )
    }

    /// The sea-query value for `backend`, in that backend's storage encoding.
    pub fn into_sea(self, backend: Backend) -> SeaValue {
        match (self, backend) {
            (Arg::Text(v), _) => SeaValue::String(v),
            (Arg::Int(v), _) => SeaValue::BigInt(v),
            (Arg::Real(v), _) => SeaValue::Double(v),
            (Arg::Bool(v), _) => SeaValue::Bool(v),
            (Arg::Json(v), Backend::Postgres) => SeaValue::Json(v.map(Box::new)),
            (Arg::Json(v), Backend::Sqlite) => SeaValue::String(v.map(|v| v.to_string())),
            (Arg::Uuid(v), Backend::Postgres) => SeaValue::Uuid(v),
            (Arg::Uuid(v), Backend::Sqlite) => {
                SeaValue::String(v.map(|u| u.hyphenated().to_string()))
            }
            (Arg::Time(v), Backend::Postgres) => SeaValue::TimeDateTimeWithTimeZone(v),
            (Arg::Time(v), Backend::Sqlite) => SeaValue::String(v.map(sqlite_timestamp)),
            (Arg::Date(v), Backend::Postgres) => SeaValue::TimeDate(v),
            (Arg::Date(v), Backend::Sqlite) => SeaValue::String(v.map(format_date)),
        }
    }
}

fn to_values(args: Vec<Arg>, backend: Backend) -> SqlxValues {
    SqlxValues(sea_query::Values(
        args.into_iter().map(|a| a.into_sea(backend)).collect(),
    ))
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
}

impl Db {
    /// Opens `url`: `postgres://…` for PostgreSQL, `sqlite://path` (created if missing)
    /// otherwise.
    pub async fn connect(options: &DbOptions) -> Result<Db> {
        let url = options.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(BUSY_TIMEOUT)
                .connect_with(connect)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Ok(Db::Sqlite(
                SqliteStore::open(url, options.max_connections.max(2)).await?,
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn acquire(&self) -> Result<PooledConn> {
        Ok(match self {
            Db::Sqlite(p) => PooledConn::Sqlite(p.acquire().await?),
            Db::Postgres(p) => PooledConn::Postgres(p.acquire().await?),
        })
    }

    /// Starts a write transaction. On SQLite it first waits for this process's earlier writers
    /// (a queue, at most the busy timeout), then takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so writers never fail on upgrade; its commit returns once durable. So a
    /// task holding a transaction must not begin another or write through the pool: it would
    /// wait for itself until the busy timeout.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(store) => Tx::Sqlite(store.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Runs one statement on its own. On SQLite it takes its turn among this process's writers
    /// like a transaction, but does not wait for the sync.
    pub async fn execute(&self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        match self {
            Db::Sqlite(store) => store.execute_alone(sql, args).await,
            Db::Postgres(_) => self.acquire().await?.conn().execute(sql, args).await,
        }
    }

    pub async fn fetch_all(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<DbRow>> {
        self.acquire().await?.conn().fetch_all(sql, args).await
    }

    pub async fn fetch_optional(&self, sql: &str, args: Vec<Arg>) -> Result<Option<DbRow>> {
        self.acquire().await?.conn().fetch_optional(sql, args).await
    }

    pub async fn fetch_one(&self, sql: &str, args: Vec<Arg>) -> Result<DbRow> {
        self.acquire().await?.conn().fetch_one(sql, args).await
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Returns once every write committed before the call is on disk. On SQLite a commit is
    /// visible to readers a sync before it is durable; what is handed beyond the database
    /// (events to a follower) waits here first. PostgreSQL shows only durable commits.
    pub async fn sync_visible(&self) -> Result<()> {
        match self {
            Db::Sqlite(store) => store.sync_visible().await,
            Db::Postgres(_) => Ok(()),
        }
    }

    /// The SQLite WAL syncer's counts (all zero on PostgreSQL and for a database in memory).
    pub fn wal_sync_stats(&self) -> WalSyncStats {
        match self {
            Db::Sqlite(store) => store.wal_sync_stats(),
            Db::Postgres(_) => WalSyncStats::default(),
        }
    }

    /// Cheap liveness check for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        self.fetch_one("SELECT 1", vec![]).await.map(|_| ())
    }
}

pub enum PooledConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl PooledConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Sqlite(c) => Conn::Sqlite(c),
            PooledConn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t.conn()),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits. On SQLite it returns once the commit is on disk (see `store::wal_sync`).
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        self.conn().execute(sql, args).await
    }

    pub async fn fetch_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<DbRow>> {
        self.conn().fetch_all(sql, args).await
    }

    pub async fn fetch_optional(&mut self, sql: &str, args: Vec<Arg>) -> Result<Option<DbRow>> {
        self.conn().fetch_optional(sql, args).await
    }

    pub async fn fetch_one(&mut self, sql: &str, args: Vec<Arg>) -> Result<DbRow> {
        self.conn().fetch_one(sql, args).await
    }
}

/// One connection of either backend, borrowed from a pool or a transaction.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_with(sql, to_values(args, Backend::Sqlite))
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => sqlx::query_with(sql, to_values(args, Backend::Postgres))
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }

    pub async fn fetch_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<DbRow>> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_with(sql, to_values(args, Backend::Sqlite))
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Conn::Postgres(c) => sqlx::query_with(sql, to_values(args, Backend::Postgres))
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
        })
    }

    pub async fn fetch_optional(&mut self, sql: &str, args: Vec<Arg>) -> Result<Option<DbRow>> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_with(sql, to_values(args, Backend::Sqlite))
                .fetch_optional(&mut **c)
                .await?
                .map(DbRow::Sqlite),
            Conn::Postgres(c) => sqlx::query_with(sql, to_values(args, Backend::Postgres))
                .fetch_optional(&mut **c)
                .await?
                .map(DbRow::Postgres),
        })
    }

    pub async fn fetch_one(&mut self, sql: &str, args: Vec<Arg>) -> Result<DbRow> {
        self.fetch_optional(sql, args)
            .await?
            .ok_or_else(|| EngineError::internal("query returned no row"))
    }

    /// Runs a statement sea-query built for this backend.
    pub async fn fetch_built(
        &mut self,
        sql: &str,
        values: sea_query::Values,
    ) -> Result<Vec<DbRow>> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_with(sql, SqlxValues(values))
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Conn::Postgres(c) => sqlx::query_with(sql, SqlxValues(values))
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
        })
    }

    /// Runs a built statement. `persistent: false` keeps a one-off statement (say, the last,
    /// odd-sized batch of an import) out of the connection's prepared-statement cache, where a
    /// multi-row INSERT would hold its memory for the connection's life.
    pub async fn execute_built(
        &mut self,
        sql: &str,
        values: sea_query::Values,
        persistent: bool,
    ) -> Result<u64> {
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query_with(sql, SqlxValues(values))
                .persistent(persistent)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => sqlx::query_with(sql, SqlxValues(values))
                .persistent(persistent)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }
}

/// A result row of either backend, read through typed getters that undo each backend's
/// storage encoding.
pub enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

fn decode_err(column: &str, e: sqlx::Error) -> EngineError {
    EngineError::internal(format!("cannot read column {column}: {e}"))
}

impl DbRow {
    pub fn text(&self, column: &str) -> Result<Option<String>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn req_text(&self, column: &str) -> Result<String> {
        self.text(column)?
            .ok_or_else(|| EngineError::internal(format!("column {column} is null")))
    }

    pub fn int(&self, column: &str) -> Result<Option<i64>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn req_int(&self, column: &str) -> Result<i64> {
        self.int(column)?
            .ok_or_else(|| EngineError::internal(format!("column {column} is null")))
    }

    pub fn real(&self, column: &str) -> Result<Option<f64>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn bool(&self, column: &str) -> Result<Option<bool>> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
        .map_err(|e| decode_err(column, e))
    }

    pub fn uuid(&self, column: &str) -> Result<Option<Uuid>> {
        match self {
            DbRow::Sqlite(r) => {
                let text: Option<String> = r.try_get(column).map_err(|e| decode_err(column, e))?;
                text.map(|t| {
                    Uuid::parse_str(&t)
                        .map_err(|e| EngineError::internal(format!("bad stored uuid {t:?}: {e}")))
                })
                .transpose()
            }
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn req_uuid(&self, column: &str) -> Result<Uuid> {
        self.uuid(column)?
            .ok_or_else(|| EngineError::internal(format!("column {column} is null")))
    }

    pub fn time(&self, column: &str) -> Result<Option<OffsetDateTime>> {
        match self {
            DbRow::Sqlite(r) => {
                let text: Option<String> = r.try_get(column).map_err(|e| decode_err(column, e))?;
                text.map(|t| parse_timestamp(&t)).transpose()
            }
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn req_time(&self, column: &str) -> Result<OffsetDateTime> {
        self.time(column)?
            .ok_or_else(|| EngineError::internal(format!("column {column} is null")))
    }

    pub fn date(&self, column: &str) -> Result<Option<Date>> {
        match self {
            DbRow::Sqlite(r) => {
                let text: Option<String> = r.try_get(column).map_err(|e| decode_err(column, e))?;
                text.map(|t| parse_date(&t)).transpose()
            }
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn json(&self, column: &str) -> Result<Option<Value>> {
        match self {
            DbRow::Sqlite(r) => {
                let text: Option<String> = r.try_get(column).map_err(|e| decode_err(column, e))?;
                text.map(|t| {
                    serde_json::from_str(&t)
                        .map_err(|e| EngineError::internal(format!("bad stored JSON: {e}")))
                })
                .transpose()
            }
            DbRow::Postgres(r) => r.try_get(column).map_err(|e| decode_err(column, e)),
        }
    }

    pub fn req_json(&self, column: &str) -> Result<Value> {
        self.json(column)?
            .ok_or_else(|| EngineError::internal(format!("column {column} is null")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_are_fixed_width_and_sort_as_time() {
        let a = time::macros::datetime!(2026-01-02 03:04:05.000007 +08:00);
        let b = time::macros::datetime!(2026-01-02 03:04:05.1 UTC);
        assert_eq!(sqlite_timestamp(a), "2026-01-01T19:04:05.000007Z");
        assert_eq!(sqlite_timestamp(b), "2026-01-02T03:04:05.100000Z");
        assert!(sqlite_timestamp(a) < sqlite_timestamp(b));
        assert_eq!(parse_timestamp(&sqlite_timestamp(a)).unwrap(), a);
    }
}
