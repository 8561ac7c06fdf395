//! Enqueueing: a job commits with the write that made it.

use super::NewJob;
use crate::error::Result;
use crate::store::Conn;
use time::OffsetDateTime;
use uuid::Uuid;

/// Adds `job` in the caller's open transaction, so it commits (or rolls back) with the write
/// that made it. Answers the new job's id, or `None` when another job already holds its
/// `dedupe_key` (nothing is written, and the transaction stays usable).
///
/// The job is visible to workers from the commit on; wake the worker loop after committing
/// ([`super::JobWake`]).
pub async fn enqueue(
    conn: &mut Conn<'_>,
    job: NewJob,
    now: OffsetDateTime,
) -> Result<Option<Uuid>> {
    let id = Uuid::now_v7();
    Ok(insert(conn, id, job, "ready", 0, now).await?.then_some(id))
}

/// A job run in the transaction that made it: written as done at once, one attempt, never
/// leased. Answers whether this caller holds its `dedupe_key` (false: another job holds it,
/// nothing is written, and the caller must not run the work).
pub async fn finished_in_place(
    conn: &mut Conn<'_>,
    job: NewJob,
    now: OffsetDateTime,
) -> Result<bool> {
    insert(conn, Uuid::now_v7(), job, "done", 1, now).await
}

/// Writes the job unless its key is held; true when it was written.
async fn insert(
    conn: &mut Conn<'_>,
    id: Uuid,
    job: NewJob,
    state: &str,
    attempts: i64,
    now: OffsetDateTime,
) -> Result<bool> {
    let inserted = conn
        .execute(
            "INSERT INTO flow_jobs (id, run_id, node, kind, payload, due_at, state, attempts, \
             max_attempts, dedupe_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             ON CONFLICT (dedupe_key) DO NOTHING",
            vec![
                id.into(),
                job.run_id.into(),
                job.node.into(),
                job.kind.into(),
                job.payload.into(),
                job.due_at.into(),
                state.into(),
                attempts.into(),
                job.max_attempts.into(),
                job.dedupe_key.into(),
                now.into(),
            ],
        )
        .await?;
    Ok(inserted == 1)
}
