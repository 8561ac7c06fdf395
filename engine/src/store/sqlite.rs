//! SQLite: the pool, this process's write queue, and the WAL syncer that makes a commit
//! durable before it is acknowledged.

use super::wal_sync::{WalFile, WalSyncStats, WalSyncer};
use super::write_queue::{WriteQueue, WriteTurn, BUSY_TIMEOUT};
use crate::error::{EngineError, Result};
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult, SqliteRow,
    SqliteStatement, SqliteSynchronous, SqliteTypeInfo,
};
use sqlx::{Describe, Either, Execute, Executor, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

/// A SQLite database: its pool, the queue its writers take turns in, and (for a database in a
/// file) the syncer its commits wait for.
///
/// It reads as its pool (`Deref`, `Executor`) for code that runs statements straight through
/// sqlx, such as the benchmarks' raw-SQL floors; engine code writes through [`super::Db`], whose
/// transactions take their turn and wait for the sync.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writers: WriteQueue,
    /// None for a database in memory: there is nothing to make durable.
    wal: Option<Arc<WalSyncer>>,
}

impl SqliteStore {
    /// Opens `url` (created if missing) in WAL mode. `synchronous=NORMAL` leaves the commit's
    /// sync to the syncer, where concurrent commits share it.
    pub(crate) async fn open(url: &str, max_connections: u32) -> Result<SqliteStore> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(connect)
            .await?;
        let wal = wal_syncer(&pool).await?;
        Ok(SqliteStore {
            pool,
            writers: WriteQueue::default(),
            wal,
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// What the WAL syncer has done (all zero for a database in memory).
    pub fn wal_sync_stats(&self) -> WalSyncStats {
        self.wal.as_ref().map(|wal| wal.stats()).unwrap_or_default()
    }

    /// Returns once every commit visible now is on disk (at once for a database in memory).
    pub(crate) async fn sync_visible(&self) -> Result<()> {
        if let Some(wal) = &self.wal {
            wal.visible_now()
                .durable()
                .await
                .map_err(|e| EngineError::Storage(sqlx::Error::Io(e)))?;
        }
        Ok(())
    }

    /// Starts a write transaction in this process's turn. `BEGIN IMMEDIATE` then takes
    /// SQLite's write lock at once, waiting on the busy timeout only for other processes.
    pub(crate) async fn begin(&self) -> Result<SqliteTx> {
        // The turn before a connection: waiting writers hold none, so the pool stays free for
        // readers and for a writer that reads through the pool in its turn.
        let turn = self.writers.turn().await?;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteTx {
            tx,
            turn,
            wal: self.wal.clone(),
        })
    }

    /// Runs one statement on its own (autocommit) in this process's turn. Such writes —
    /// session saves, a token's last use, log-in counters — do not wait for a sync: the next
    /// commit's sync or checkpoint carries them to disk.
    pub(crate) async fn execute_alone(&self, sql: &str, args: Vec<super::Arg>) -> Result<u64> {
        let _turn = self.writers.turn().await?;
        let mut conn = self.pool.acquire().await?;
        super::Conn::Sqlite(&mut conn).execute(sql, args).await
    }
}

/// The syncer for a database in a WAL file; none for one in memory.
async fn wal_syncer(pool: &SqlitePool) -> Result<Option<Arc<WalSyncer>>> {
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await?;
    // The file as SQLite resolved it, links followed: its WAL is this name plus "-wal".
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await?;
    if !mode.eq_ignore_ascii_case("wal") || file.is_empty() {
        return Ok(None);
    }
    let mut wal = WalFile::of(Path::new(&file));
    let syncer = WalSyncer::start(Box::new(move || wal.sync()))
        .map_err(|e| EngineError::internal(format!("cannot start the WAL syncer: {e}")))?;
    Ok(Some(Arc::new(syncer)))
}

impl std::ops::Deref for SqliteStore {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Statements run straight on the pool, as on a `&SqlitePool`.
impl<'p> Executor<'p> for &SqliteStore {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, std::result::Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        (&self.pool).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, std::result::Result<Option<SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        (&self.pool).fetch_optional(query)
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, std::result::Result<SqliteStatement<'q>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, std::result::Result<Describe<Sqlite>, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).describe(sql)
    }
}

/// A SQLite write transaction in this process's turn. Dropped without commit, it rolls back
/// (sqlx hands the connection its ROLLBACK at once) and then gives up the turn.
pub struct SqliteTx {
    // Declared before `turn`, so a drop rolls back before the next writer begins.
    tx: sqlx::Transaction<'static, Sqlite>,
    turn: WriteTurn,
    wal: Option<Arc<WalSyncer>>,
}

impl SqliteTx {
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// Commits, gives the next writer its turn, then returns once a sync that began after the
    /// COMMIT has put the transaction's WAL frames on disk. A failed sync is an error: the
    /// write is visible but not known to be durable, so it is not acknowledged.
    pub(crate) async fn commit(self) -> Result<()> {
        let SqliteTx { tx, turn, wal } = self;
        tx.commit().await?;
        let ticket = wal.as_ref().map(|wal| wal.committed());
        // The next writer's statements run while this commit's sync is in flight.
        drop(turn);
        if let Some(ticket) = ticket {
            ticket
                .durable()
                .await
                .map_err(|e| EngineError::Storage(sqlx::Error::Io(e)))?;
        }
        Ok(())
    }
}
