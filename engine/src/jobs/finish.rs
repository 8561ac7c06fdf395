//! Finishing a leased job, fenced by its lease token: each statement changes the row only
//! while this worker's token still holds it, and otherwise fails with `LeaseLost`.

use super::LeasedJob;
use crate::error::{EngineError, Result};
use crate::store::{Arg, Conn, Db};
use time::{Duration, OffsetDateTime};

/// What `retry_later` did with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// Ready again at this time.
    At(OffsetDateTime),
    /// Out of attempts: failed for good.
    Dead,
}

/// The wait before a step's next attempt after attempt `attempts` failed: 1 s, 4 s, 16 s,
/// 64 s (docs/flows.md section 5), and 64 s after that for a job allowed more attempts.
pub fn step_backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 4) - 1;
    Duration::seconds(4_i64.pow(exponent as u32))
}

/// Runs `set` (an assignment list whose `$1` is now) on the job while `job`'s lease holds it.
async fn fenced(
    conn: &mut Conn<'_>,
    job: &LeasedJob,
    set: &str,
    now: OffsetDateTime,
    mut extra: Vec<Arg>,
) -> Result<()> {
    let mut args = vec![now.into(), job.id.into(), job.lease.token.into()];
    args.append(&mut extra);
    let changed = conn
        .execute(
            &format!(
                "UPDATE flow_jobs SET {set}, updated_at = $1 \
                 WHERE id = $2 AND lease_token = $3 AND state = 'running'"
            ),
            args,
        )
        .await?;
    if changed == 0 {
        return Err(EngineError::LeaseLost { job: job.id });
    }
    Ok(())
}

/// Marks the job done in the caller's transaction: the step's effects, its step row and the
/// next jobs commit with it. Run it first in that transaction (on PostgreSQL it then holds the
/// job's row, so a concurrent cancel waits for the outcome). `LeaseLost` means another worker
/// took the job or it was cancelled or released: roll the whole transaction back.
pub async fn complete(conn: &mut Conn<'_>, job: &LeasedJob, now: OffsetDateTime) -> Result<()> {
    fenced(
        conn,
        job,
        "state = 'done', lease_token = NULL, lease_until = NULL",
        now,
        vec![],
    )
    .await
}

/// After a failed attempt: the job is ready again at `now + backoff`, or dead when this was its
/// last attempt. `error` is kept as the job's last error; it must name no field's value.
pub async fn retry_later(
    conn: &mut Conn<'_>,
    job: &LeasedJob,
    now: OffsetDateTime,
    error: &str,
    backoff: Duration,
) -> Result<Retried> {
    if job.attempts >= job.max_attempts {
        fail_permanently(conn, job, now, error).await?;
        return Ok(Retried::Dead);
    }
    let due_at = now + backoff;
    fenced(
        conn,
        job,
        "state = 'ready', due_at = $4, last_error = $5, \
         lease_token = NULL, lease_until = NULL",
        now,
        vec![due_at.into(), error.into()],
    )
    .await?;
    Ok(Retried::At(due_at))
}

/// A failure no retry mends (an expression error, a validation 422): the job is dead with
/// `error`, which must name no field's value.
pub async fn fail_permanently(
    conn: &mut Conn<'_>,
    job: &LeasedJob,
    now: OffsetDateTime,
    error: &str,
) -> Result<()> {
    fenced(
        conn,
        job,
        "state = 'dead', last_error = $4, lease_token = NULL, lease_until = NULL",
        now,
        vec![error.into()],
    )
    .await
}

/// Extends the lease of a step still running to `now + lease` (every [`super::EXTEND_EVERY`]).
/// `LeaseLost` means the step should stop: its transaction could not commit anyway.
///
/// On SQLite it takes its turn among the writers but does not wait for the sync: a lease
/// extension lost in a crash only lets the job be taken again, which a crash does anyway.
pub async fn extend_lease(
    db: &Db,
    job: &mut LeasedJob,
    now: OffsetDateTime,
    lease: Duration,
) -> Result<()> {
    let until = now + lease;
    let changed = db
        .execute(
            "UPDATE flow_jobs SET lease_until = $1, updated_at = $2 \
             WHERE id = $3 AND lease_token = $4 AND state = 'running'",
            vec![
                until.into(),
                now.into(),
                job.id.into(),
                job.lease.token.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Err(EngineError::LeaseLost { job: job.id });
    }
    job.lease.until = until;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_back_off_1_4_16_64_seconds() {
        let waits: Vec<i64> = (1..=6).map(|n| step_backoff(n).whole_seconds()).collect();
        assert_eq!(waits, vec![1, 4, 16, 64, 64, 64]);
    }
}
