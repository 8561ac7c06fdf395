//! Keeping the table healthy: leases given back at shutdown, finished jobs pruned.

use crate::error::Result;
use crate::store::Db;
use time::OffsetDateTime;

/// Finished jobs deleted per transaction, so pruning never holds the write lock for long.
pub const PRUNE_BATCH: i64 = 1_000;

/// Gives back every lease `owner` holds (on SIGTERM, after the steps in flight finished):
/// its running jobs are ready again at once for another instance, without waiting for their
/// leases to expire. The interrupted attempt is not counted. A step of `owner` that still
/// commits later fails its fencing and writes nothing. Answers how many jobs were released.
pub async fn release(db: &Db, owner: &str, now: OffsetDateTime) -> Result<u64> {
    let mut tx = db.begin().await?;
    let released = tx
        .execute(
            "UPDATE flow_jobs SET state = 'ready', lease_owner = NULL, lease_token = NULL, \
             lease_until = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             updated_at = $1 \
             WHERE state = 'running' AND lease_owner = $2",
            vec![now.into(), owner.into()],
        )
        .await?;
    tx.commit().await?;
    Ok(released)
}

/// Deletes finished jobs (done, cancelled, dead) last changed before `older_than`, whose due
/// time is also before it (which finding them through the `(state, due_at)` index needs; a job
/// finishes after its due time, so only a cancelled job due in the future waits longer), in
/// transactions of [`PRUNE_BATCH`]. Answers how many were deleted.
pub async fn prune(db: &Db, older_than: OffsetDateTime) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let mut tx = db.begin().await?;
        let batch = tx
            .execute(
                "DELETE FROM flow_jobs WHERE id IN (SELECT id FROM flow_jobs \
                 WHERE state IN ('done', 'cancelled', 'dead') AND due_at < $1 \
                 AND updated_at < $1 LIMIT $2)",
                vec![older_than.into(), PRUNE_BATCH.into()],
            )
            .await?;
        tx.commit().await?;
        deleted += batch;
        if batch < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}
