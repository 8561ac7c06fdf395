//! The composite partial indexes a saved chart's dimension and measure pairs want
//! (`ChartFootprint::index_wants`), built when the chart is saved: `(columns) WHERE
//! deleted_at IS NULL` on the entity's table, named by a short hash like every projection
//! index, `CONCURRENTLY` outside a transaction on PostgreSQL so writes go on meanwhile. They
//! are kept when the chart is deleted.

use super::IndexWant;
use crate::engine::Engine;
use crate::entities::storage::{q, LiveIndex};
use crate::error::Result;
use crate::store::Backend;

/// Indexes one chart may ask for at most: a chart has at most 20 dimensions and measures.
const MAX_WANTS: usize = 8;

impl Engine {
    /// Builds the indexes `wants` names that do not exist yet. An index that cannot be built
    /// (a column dropped meanwhile) is logged and left: the chart answers without it.
    pub(crate) async fn build_chart_indexes(&self, wants: &[IndexWant]) -> Result<()> {
        for want in wants.iter().take(MAX_WANTS) {
            let rt = match self.entity(&want.entity).await {
                Ok(rt) => rt,
                Err(_) => continue,
            };
            if want.columns.is_empty() {
                continue;
            }
            let columns: Vec<&str> = want.columns.iter().map(String::as_str).collect();
            let index = LiveIndex::on(&rt.table, &columns);
            if let Err(e) = self.build_live_index(&rt.table, &index).await {
                tracing::warn!(entity = %want.entity, index = %index.name, error = %e,
                    "building a chart's index failed");
            }
        }
        Ok(())
    }

    async fn build_live_index(&self, table: &str, index: &LiveIndex) -> Result<()> {
        let pg = self.db.backend() == Backend::Postgres;
        if pg {
            // An interrupted CONCURRENTLY build leaves an invalid index that IF NOT EXISTS
            // would keep: drop it and build again.
            let leftover = self
                .db
                .fetch_optional(
                    "SELECT i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
                     WHERE c.relname = $1 AND c.relkind = 'i'",
                    vec![index.name.as_str().into()],
                )
                .await?;
            match leftover.map(|row| row.bool("valid")).transpose()?.flatten() {
                Some(true) => return Ok(()),
                Some(false) => {
                    self.db
                        .execute(
                            &format!("DROP INDEX CONCURRENTLY IF EXISTS {}", q(&index.name)),
                            vec![],
                        )
                        .await?;
                }
                None => {}
            }
        }
        self.db
            .execute(&index.create_sql(table, self.db.backend(), pg), vec![])
            .await?;
        Ok(())
    }
}
