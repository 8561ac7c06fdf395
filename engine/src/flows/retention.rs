//! Pruning: finished runs (with their steps), finished jobs and the change events the
//! dispatcher has passed are deleted once older than `retention_days`, a thousand per
//! transaction so no prune holds the write turn for long; so are inbound webhooks' replay
//! records once past their window. Records the flows made (tasks, messages) and their history
//! are kept.

use crate::engine::Engine;
use crate::error::Result;
use crate::store::Arg;
use time::{Duration, OffsetDateTime};

/// Rows one prune transaction deletes at most.
const BATCH: i64 = 1_000;

/// How often the worker loop prunes.
pub const PRUNE_EVERY: Duration = Duration::hours(1);

impl Engine {
    /// Deletes what is older than `retention_days`; answers how many rows went.
    pub async fn prune_flow_history(&self) -> Result<u64> {
        let cutoff: OffsetDateTime =
            self.now() - Duration::days(i64::from(self.settings.retention_days));
        let mut deleted = 0;
        loop {
            let mut tx = self.db.begin().await?;
            let mut conn = tx.conn();
            let ids = conn
                .fetch_all(
                    &format!(
                        "SELECT id FROM flow_runs WHERE finished_at IS NOT NULL AND finished_at < $1 ORDER BY finished_at LIMIT {BATCH}"
                    ),
                    vec![Arg::from(cutoff)],
                )
                .await?;
            if ids.is_empty() {
                break;
            }
            for row in &ids {
                let id = row.req_uuid("id")?;
                conn.execute(
                    "DELETE FROM flow_steps WHERE run_id = $1",
                    vec![Arg::from(id)],
                )
                .await?;
                deleted += conn
                    .execute("DELETE FROM flow_runs WHERE id = $1", vec![Arg::from(id)])
                    .await?;
            }
            tx.commit().await?;
        }
        deleted += crate::jobs::prune(&self.db, cutoff).await?;
        deleted += self.prune_webhook_replays().await?;
        let cursor = self
            .db
            .fetch_optional(
                "SELECT position FROM flow_cursor WHERE name = 'dispatcher'",
                vec![],
            )
            .await?
            .map(|r| r.req_int("position"))
            .transpose()?
            .unwrap_or(0);
        loop {
            let n = self
                .db
                .execute(
                    &format!(
                        "DELETE FROM change_events WHERE position IN (SELECT position FROM change_events \
                         WHERE position <= $1 AND at < $2 ORDER BY position LIMIT {BATCH})"
                    ),
                    vec![Arg::from(cursor), Arg::from(cutoff)],
                )
                .await?;
            deleted += n;
            if n < BATCH as u64 {
                break;
            }
        }
        Ok(deleted)
    }
}
