//! Reading one job as it stands, for run history and the runtime's checks.

use super::JobState;
use crate::error::Result;
use crate::store::Db;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// A job row, whatever its state.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub run_id: Option<Uuid>,
    pub node: Option<String>,
    pub kind: String,
    pub payload: Value,
    pub due_at: OffsetDateTime,
    pub state: JobState,
    pub lease_owner: Option<String>,
    pub lease_until: Option<OffsetDateTime>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The job `id`, or None when there is none (never enqueued, or pruned).
pub async fn load(db: &Db, id: Uuid) -> Result<Option<Job>> {
    let Some(row) = db
        .fetch_optional(
            "SELECT id, run_id, node, kind, payload, due_at, state, lease_owner, lease_until, \
             attempts, max_attempts, last_error, dedupe_key, created_at, updated_at \
             FROM flow_jobs WHERE id = $1",
            vec![id.into()],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Job {
        id: row.req_uuid("id")?,
        run_id: row.uuid("run_id")?,
        node: row.text("node")?,
        kind: row.req_text("kind")?,
        payload: row.req_json("payload")?,
        due_at: row.req_time("due_at")?,
        state: JobState::parse(&row.req_text("state")?)?,
        lease_owner: row.text("lease_owner")?,
        lease_until: row.time("lease_until")?,
        attempts: row.req_int("attempts")?,
        max_attempts: row.req_int("max_attempts")?,
        last_error: row.text("last_error")?,
        dedupe_key: row.text("dedupe_key")?,
        created_at: row.req_time("created_at")?,
        updated_at: row.req_time("updated_at")?,
    }))
}
