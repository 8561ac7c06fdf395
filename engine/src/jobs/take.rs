//! Taking due jobs under a lease.

use super::{LeasedJob, LEASED_COLUMNS};
use crate::error::Result;
use crate::store::Db;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A job is due when it is ready and its time has come, or running under a lease that
/// expired (its worker died or stalled). `$1` is now.
const DUE: &str = "(state = 'ready' AND due_at <= $1) OR (state = 'running' AND lease_until < $1)";

/// Leases at most `limit` due jobs, earliest due first, to `owner` until `now + lease`, under
/// a token no earlier take used, and counts the attempt. Several workers, in one process or
/// several, never take the same job: on PostgreSQL the rows are locked with `SKIP LOCKED` in
/// the one statement that leases them; on SQLite this is one write transaction, and writers
/// take turns.
pub async fn take_due(
    db: &Db,
    owner: &str,
    now: OffsetDateTime,
    limit: i64,
    lease: Duration,
) -> Result<Vec<LeasedJob>> {
    let until = now + lease;
    let mut jobs = match db {
        Db::Postgres(_) => {
            let rows = db
                .fetch_all(
                    // Ready jobs and expired leases are found apart, each by an index in its
                    // own order: one `OR` of the two made PostgreSQL scan and sort the whole
                    // table for every take when many jobs were due.
                    &format!(
                        "WITH ready AS (SELECT id FROM flow_jobs WHERE state = 'ready' AND due_at <= $1 \
                         ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED), \
                         expired AS (SELECT id FROM flow_jobs WHERE state = 'running' AND lease_until < $1 \
                         ORDER BY lease_until LIMIT GREATEST($4 - (SELECT COUNT(*) FROM ready), 0) \
                         FOR UPDATE SKIP LOCKED) \
                         UPDATE flow_jobs SET state = 'running', lease_owner = $2, \
                         lease_token = gen_random_uuid(), lease_until = $3, \
                         attempts = attempts + 1, updated_at = $1 \
                         WHERE id IN (SELECT id FROM ready UNION ALL SELECT id FROM expired) \
                         RETURNING {LEASED_COLUMNS}"
                    ),
                    vec![now.into(), owner.into(), until.into(), limit.into()],
                )
                .await?;
            rows.iter()
                .map(LeasedJob::from_row)
                .collect::<Result<Vec<_>>>()?
        }
        Db::Sqlite(_) => {
            // One token for the whole take: the fence names the job's id beside it, and a
            // later take of any of these jobs draws a new token. The write transaction keeps
            // the take in this process's write turn.
            let mut tx = db.begin().await?;
            let rows = tx
                .fetch_all(
                    &format!(
                        "UPDATE flow_jobs SET state = 'running', lease_owner = $2, \
                         lease_token = $3, lease_until = $4, attempts = attempts + 1, \
                         updated_at = $1 WHERE id IN \
                         (SELECT id FROM flow_jobs WHERE {DUE} ORDER BY due_at LIMIT $5) \
                         RETURNING {LEASED_COLUMNS}"
                    ),
                    vec![
                        now.into(),
                        owner.into(),
                        Uuid::new_v4().into(),
                        until.into(),
                        limit.into(),
                    ],
                )
                .await?;
            tx.commit().await?;
            rows.iter()
                .map(LeasedJob::from_row)
                .collect::<Result<Vec<_>>>()?
        }
    };
    // RETURNING keeps no order.
    jobs.sort_by_key(|job| (job.due_at, job.id));
    Ok(jobs)
}
