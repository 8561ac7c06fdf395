//! The flow runtime's durable job queue: the `flow_jobs` table and the statements that move a
//! job through its states (docs/flows.md section 5 is the contract, docs/architecture.md "Jobs"
//! the design).
//!
//! A job is a row with a due time: a step to run, a delay, a wait's timeout, a retry, a
//! date-relative timer. Its life:
//!
//! ```text
//! enqueue ─► ready ──take_due──► running ──complete──────────► done
//!              ▲                   │  │ ──fail_permanently───► dead
//!              └──retry_later──────┘  └──retry_later (last)──► dead
//!              └──release (SIGTERM)───┘
//! ready / running ──cancel_for_run, cancel_by_dedupe_prefix──► cancelled
//! ```
//!
//! Taking a job leases it: an owner, a fresh token and an expiry. A lease that expires makes
//! the job due again, so a killed worker's jobs are taken by another. Every statement that
//! finishes a job names its token and fails with [`EngineError::LeaseLost`] when the token no
//! longer holds the row, so the caller rolls back everything it wrote in that transaction: a
//! worker whose lease was lost commits nothing (fencing).
//!
//! The queue knows ids only: a payload must hold no field's value, and a job's `last_error`
//! no value either (it is shown in run history and logs).
//!
//! Times are the caller's `now`, read from the engine's `Clock`; no statement reads SQL `now()`.
//! The runtime owns the worker loop; [`JobWake`] lets an in-process commit wake it.
//!
//! [`EngineError::LeaseLost`]: crate::EngineError::LeaseLost

mod cancel;
mod enqueue;
mod finish;
mod keys;
mod load;
mod take;
mod upkeep;
mod wake;

pub use cancel::{cancel_by_dedupe_prefix, cancel_for_run};
pub use enqueue::{enqueue, finished_in_place};
pub use finish::{complete, extend_lease, fail_permanently, retry_later, step_backoff, Retried};
pub use keys::{timer_key, timer_prefix};
pub use load::{load, Job};
pub use take::take_due;
pub use upkeep::{prune, release, PRUNE_BATCH};
pub use wake::JobWake;

use serde_json::Value;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a lease lasts from its taking or its last extension.
pub const LEASE: Duration = Duration::seconds(30);

/// How often a worker extends the lease of a step still running (a `webhook_call` waiting on
/// the network): a third of the lease, so two extensions may be late before it expires.
pub const EXTEND_EVERY: Duration = Duration::seconds(10);

/// Attempts of a step before it fails for good: the first and four retries (1 s, 4 s, 16 s,
/// 64 s after each failure).
pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its due time (or due now).
    Ready,
    /// Leased by a worker until `lease_until`.
    Running,
    Done,
    /// Cancelled before it finished (its run was cancelled, its timer moved).
    Cancelled,
    /// Failed for good: out of attempts, or a failure no retry can mend.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> crate::Result<JobState> {
        Ok(match s {
            "ready" => JobState::Ready,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "cancelled" => JobState::Cancelled,
            "dead" => JobState::Dead,
            other => {
                return Err(crate::EngineError::internal(format!(
                    "unknown job state {other:?}"
                )))
            }
        })
    }
}

/// A job to enqueue. `kind` and `payload` are the runtime's (a step, a timer …); the queue
/// only stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub run_id: Option<Uuid>,
    pub node: Option<String>,
    pub kind: String,
    /// Ids only, never a field's value.
    pub payload: Value,
    pub due_at: OffsetDateTime,
    pub max_attempts: i64,
    /// At most one job ever holds a key (until it is cancelled or pruned): enqueueing a second
    /// does nothing. A date-relative timer is keyed by [`timer_key`].
    pub dedupe_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` due at `due_at`, of no run, with the default attempts and no key.
    pub fn new(kind: impl Into<String>, payload: Value, due_at: OffsetDateTime) -> NewJob {
        NewJob {
            run_id: None,
            node: None,
            kind: kind.into(),
            payload,
            due_at,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
        }
    }

    /// The job runs `node` of run `run_id`.
    pub fn for_node(mut self, run_id: Uuid, node: impl Into<String>) -> NewJob {
        self.run_id = Some(run_id);
        self.node = Some(node.into());
        self
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> NewJob {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn max_attempts(mut self, attempts: i64) -> NewJob {
        self.max_attempts = attempts;
        self
    }
}

/// A worker's hold on a running job. The token changes at every taking, so it tells this
/// worker's attempt from a later one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub owner: String,
    pub token: Uuid,
    pub until: OffsetDateTime,
}

/// A job as `take_due` handed it to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedJob {
    pub id: Uuid,
    pub run_id: Option<Uuid>,
    pub node: Option<String>,
    pub kind: String,
    pub payload: Value,
    pub due_at: OffsetDateTime,
    /// This attempt's number, from 1.
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease: JobLease,
}

/// The columns a leased job is read from, in every statement that returns one.
const LEASED_COLUMNS: &str = "id, run_id, node, kind, payload, due_at, attempts, max_attempts, \
                              lease_owner, lease_token, lease_until";

impl LeasedJob {
    fn from_row(row: &crate::store::DbRow) -> crate::Result<LeasedJob> {
        Ok(LeasedJob {
            id: row.req_uuid("id")?,
            run_id: row.uuid("run_id")?,
            node: row.text("node")?,
            kind: row.req_text("kind")?,
            payload: row.req_json("payload")?,
            due_at: row.req_time("due_at")?,
            attempts: row.req_int("attempts")?,
            max_attempts: row.req_int("max_attempts")?,
            lease: JobLease {
                owner: row.req_text("lease_owner")?,
                token: row.req_uuid("lease_token")?,
                until: row.req_time("lease_until")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for state in [
            JobState::Ready,
            JobState::Running,
            JobState::Done,
            JobState::Cancelled,
            JobState::Dead,
        ] {
            assert_eq!(JobState::parse(state.as_str()).unwrap(), state);
        }
        assert!(JobState::parse("paused").is_err());
    }
}
