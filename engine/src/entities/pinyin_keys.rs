//! The pinyin projections of text fields (`records::pinyin`) in databases made before they
//! existed: added at start-up, once, and filled by the ordinary backfill.

use super::catalog::EntityRuntime;
use super::service::{is_lock_timeout, lock_ddl, DDL_ATTEMPTS};
use super::storage::{pinyin_column_sql, q, sort_key_index_sql};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::i18n::Lang;
use crate::store::{Backend, Tx};
use std::collections::HashSet;

/// The `meta` key recording that every text field of the database has its pinyin columns.
const PINYIN_KEYS_DONE: &str = "pinyin_keys";
/// The layout this version builds: 1 = `f_<field>__pinyin` and `f_<field>__initials` beside
/// every non-sensitive text column, the key indexed where the field is.
const PINYIN_KEY_LAYOUT: &str = "1";

impl Engine {
    /// Gives every non-sensitive text field — removed ones too, which may come back — its pinyin
    /// columns where the database lacks them, then backfills them from the documents. Done when
    /// `meta.pinyin_keys` holds [`PINYIN_KEY_LAYOUT`]. Runs before any other start-up work that
    /// writes projections, since every writer fills these columns; a failure stops the start
    /// (a write would fail on the missing column), like a migration's.
    pub(crate) async fn ensure_pinyin_keys(&self) -> Result<()> {
        let done = self
            .db
            .fetch_optional(
                "SELECT value FROM meta WHERE key = $1",
                vec![PINYIN_KEYS_DONE.into()],
            )
            .await?
            .and_then(|row| row.text("value").ok().flatten())
            .is_some_and(|layout| layout == PINYIN_KEY_LAYOUT);
        if done {
            return Ok(());
        }
        for rt in self.catalog.all(&self.db).await? {
            if self.add_missing_pinyin_columns(&rt).await? {
                self.finish_definition_work(rt.name(), Lang::En).await?;
            }
        }
        self.db
            .execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                vec![PINYIN_KEYS_DONE.into(), PINYIN_KEY_LAYOUT.into()],
            )
            .await?;
        Ok(())
    }

    /// Adds one entity's missing pinyin columns (and key indexes) and marks their fields for
    /// the backfill, in one transaction under the DDL lock, so instances starting together add
    /// each column once. Whether anything was added.
    async fn add_missing_pinyin_columns(&self, rt: &EntityRuntime) -> Result<bool> {
        if rt.storage.values().all(|fs| fs.pinyin.is_none()) {
            return Ok(false);
        }
        let mut attempt = 1;
        loop {
            match self.try_add_pinyin_columns(rt).await {
                Err(e)
                    if is_lock_timeout(&e)
                        && attempt < DDL_ATTEMPTS
                        && self.db.backend() == Backend::Postgres =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt as u64))
                        .await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_add_pinyin_columns(&self, rt: &EntityRuntime) -> Result<bool> {
        let backend = self.db.backend();
        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
        let existing = table_columns(&mut tx, &rt.table).await?;
        let mut added = false;
        for fs in rt.storage.values() {
            let Some(pinyin) = &fs.pinyin else { continue };
            let missing: Vec<&str> = pinyin
                .names()
                .into_iter()
                .filter(|c| !existing.contains(*c))
                .collect();
            if missing.is_empty() {
                continue;
            }
            for column in missing {
                tx.execute(&pinyin_column_sql(&rt.table, column, backend), vec![])
                    .await?;
            }
            if let Some(sql) = sort_key_index_sql(rt.name(), fs, backend) {
                tx.execute(&sql, vec![]).await?;
            }
            tx.execute(
                "UPDATE entity_fields SET backfilled = $1 WHERE entity = $2 AND field = $3",
                vec![false.into(), rt.name().into(), fs.field.clone().into()],
            )
            .await?;
            added = true;
        }
        if added {
            tracing::info!(entity = %rt.name(), "adding the pinyin columns of text fields");
            tx.commit().await?;
        }
        Ok(added)
    }
}

/// The column names of a table, as the database has them now.
async fn table_columns(tx: &mut Tx, table: &str) -> Result<HashSet<String>> {
    let sql = match tx.backend() {
        Backend::Sqlite => "SELECT name FROM pragma_table_info($1)",
        Backend::Postgres => {
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let rows = tx.fetch_all(sql, vec![table.into()]).await?;
    if rows.is_empty() {
        return Err(EngineError::internal(format!(
            "the record table {} is missing",
            q(table)
        )));
    }
    rows.iter().map(|row| row.req_text("name")).collect()
}
