//! Keeping the store fast as it grows: projection indexes over live rows (rebuilt once from
//! older databases' plain indexes) and planner statistics refreshed after large writes.

use super::catalog::EntityRuntime;
use super::storage::{composite_indexes, index_name, q, system_indexes, LiveIndex, LIVE_INDEX};
use crate::engine::Engine;
use crate::error::Result;
use crate::store::Backend;

/// The `meta` key recording which index layout the database has: every projection index
/// partial over live rows, and the composite indexes of [`composite_indexes`].
const LIVE_INDEXES_DONE: &str = "live_indexes";
/// The layout this version builds: 1 = live-row and `(dimension, measure)` indexes,
/// 2 = `(dimension, measure, id)` in their place and `(select, created_at, id)`. A database at an older layout is brought up at start.
const LIVE_INDEX_LAYOUT: &str = "2";
/// The advisory lock key serializing that rebuild across instances ("kdlxidx\0").
const LIVE_INDEXES_LOCK: i64 = 0x6b64_6c78_6964_7800;

/// A write of at least this many rows refreshes the table's statistics.
pub const ANALYZE_AFTER_ROWS: usize = 1_000;
/// A smaller write refreshes them when it is at least this many rows and at least 10 % of the
/// table (so a tiny table's first rows never leave statistics that later mislead the planner).
pub const ANALYZE_MIN_ROWS: usize = 100;

impl Engine {
    /// Rebuilds, once per database, the plain projection indexes of older versions as partial
    /// indexes over live rows, and adds the composite ones: on PostgreSQL each new index is
    /// built `CONCURRENTLY` outside a transaction when the table holds rows, then the old one is
    /// dropped. Done when `meta.live_indexes` holds [`LIVE_INDEX_LAYOUT`]; a failure is logged
    /// and retried at the next start (the old indexes keep working meanwhile).
    pub(crate) async fn ensure_live_indexes(&self) -> Result<()> {
        let done = self
            .db
            .fetch_optional(
                "SELECT value FROM meta WHERE key = $1",
                vec![LIVE_INDEXES_DONE.into()],
            )
            .await?
            .and_then(|row| row.text("value").ok().flatten())
            .is_some_and(|layout| layout == LIVE_INDEX_LAYOUT);
        if done {
            return Ok(());
        }
        // On PostgreSQL one instance does it at a time: a session lock held on one connection
        // while the builds run on others. An instance that does not get it goes on starting.
        let mut holder = self.db.acquire().await?;
        if self.db.backend() == Backend::Postgres {
            let got = holder
                .conn()
                .fetch_one(
                    "SELECT pg_try_advisory_lock($1) AS got",
                    vec![LIVE_INDEXES_LOCK.into()],
                )
                .await?
                .bool("got")?
                .unwrap_or(false);
            if !got {
                return Ok(());
            }
        }
        let outcome = self.rebuild_all_live_indexes().await;
        if self.db.backend() == Backend::Postgres {
            holder
                .conn()
                .execute(
                    "SELECT pg_advisory_unlock($1)",
                    vec![LIVE_INDEXES_LOCK.into()],
                )
                .await?;
        }
        outcome
    }

    async fn rebuild_all_live_indexes(&self) -> Result<()> {
        let mut failed = false;
        for rt in self.catalog.all(&self.db).await? {
            if let Err(e) = self.rebuild_live_indexes(&rt).await {
                tracing::warn!(entity = %rt.name(), error = %e, "rebuilding indexes over live rows failed");
                failed = true;
            }
        }
        self.catalog.reload(&self.db).await?;
        if !failed {
            self.db
                .execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    vec![LIVE_INDEXES_DONE.into(), LIVE_INDEX_LAYOUT.into()],
                )
                .await?;
        }
        Ok(())
    }

    async fn rebuild_live_indexes(&self, rt: &EntityRuntime) -> Result<()> {
        let table = rt.table.as_str();
        // (the new index, the plain one it replaces, the field recording it)
        let mut work: Vec<(LiveIndex, Option<String>, Option<&str>)> = Vec::new();
        for ix in system_indexes(table) {
            let old = index_name("ix", table, &ix.columns[0]);
            work.push((ix, Some(old), None));
        }
        for fs in rt.storage.values() {
            let (Some(old), Some(column)) = (fs.plain_index.as_deref(), fs.column()) else {
                continue;
            };
            if old != index_name(LIVE_INDEX, table, column) {
                work.push((
                    LiveIndex::on(table, &[column]),
                    Some(old.to_string()),
                    Some(fs.field.as_str()),
                ));
            }
        }
        for ix in composite_indexes(rt.name(), rt.columns()) {
            // Layout 1 keyed `(dimension, measure)` without the tie-breaking id: replaced.
            let replaced = match ix.columns.as_slice() {
                [dimension, measure, id] if id == "id" && measure != "created_at" => {
                    Some(LiveIndex::on(table, &[dimension.as_str(), measure.as_str()]).name)
                }
                _ => None,
            };
            work.push((ix, replaced, None));
        }
        let pg = self.db.backend() == Backend::Postgres;
        let concurrently = pg
            && self
                .db
                .fetch_optional(&format!("SELECT \"id\" FROM {} LIMIT 1", q(table)), vec![])
                .await?
                .is_some();
        for (ix, old, field) in work {
            if pg {
                self.drop_invalid_index(&ix.name).await?;
            }
            self.db
                .execute(
                    &ix.create_sql(table, self.db.backend(), concurrently),
                    vec![],
                )
                .await?;
            if let Some(field) = field {
                self.db
                    .execute(
                        "UPDATE entity_fields SET plain_index = $1 WHERE entity = $2 AND field = $3",
                        vec![ix.name.clone().into(), rt.name().into(), field.into()],
                    )
                    .await?;
            }
            if let Some(old) = old {
                self.db
                    .execute(
                        &format!(
                            "DROP INDEX{} IF EXISTS {}",
                            if concurrently { " CONCURRENTLY" } else { "" },
                            q(&old)
                        ),
                        vec![],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Drops what an interrupted `CREATE INDEX CONCURRENTLY` left: an invalid index.
    async fn drop_invalid_index(&self, index: &str) -> Result<()> {
        let invalid = self
            .db
            .fetch_optional(
                "SELECT 1 AS x FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
                 WHERE c.relname = $1 AND c.relkind = 'i' AND NOT i.indisvalid",
                vec![index.into()],
            )
            .await?
            .is_some();
        if invalid {
            self.db
                .execute(
                    &format!("DROP INDEX CONCURRENTLY IF EXISTS {}", q(index)),
                    vec![],
                )
                .await?;
        }
        Ok(())
    }

    /// Refreshes the planner's statistics of an entity's tables after a write of `rows` rows
    /// (an import, a bulk create, a backfill) when it was large: at least
    /// [`ANALYZE_AFTER_ROWS`] rows, or at least [`ANALYZE_MIN_ROWS`] rows and 10 % of the table.
    /// `ANALYZE <table>` on both backends (on SQLite with `analysis_limit`, so it reads a
    /// sample). The write is already committed: a failure is only logged.
    pub(crate) async fn refresh_statistics(&self, rt: &EntityRuntime, rows: usize) {
        if let Err(e) = self.try_refresh_statistics(rt, rows).await {
            tracing::warn!(entity = %rt.name(), error = %e, "refreshing statistics failed");
        }
    }

    async fn try_refresh_statistics(&self, rt: &EntityRuntime, rows: usize) -> Result<bool> {
        if rows < ANALYZE_MIN_ROWS {
            return Ok(false);
        }
        if rows < ANALYZE_AFTER_ROWS {
            // Counts at most ten times the batch: enough to tell whether it is 10 % of the table.
            let bound = (rows * 10) as i64;
            let seen = self
                .db
                .fetch_one(
                    &format!(
                        "SELECT COUNT(*) AS n FROM (SELECT 1 AS x FROM {} LIMIT $1) s",
                        q(&rt.table)
                    ),
                    vec![bound.into()],
                )
                .await?
                .req_int("n")?;
            if seen >= bound {
                return Ok(false);
            }
        }
        let mut conn = self.db.acquire().await?;
        let mut conn = conn.conn();
        if self.db.backend() == Backend::Sqlite {
            conn.execute("PRAGMA analysis_limit = 2000", vec![]).await?;
        }
        let tables =
            std::iter::once(rt.table.as_str()).chain(rt.side_tables().filter_map(
                |fs| match &fs.kind {
                    super::StorageKind::SideTable(t) => Some(t.as_str()),
                    _ => None,
                },
            ));
        for table in tables {
            conn.execute(&format!("ANALYZE {}", q(table)), vec![])
                .await?;
        }
        Ok(true)
    }
}
