//! Change events: every record write (create, update, delete, restore, upsert, bulk create and
//! import) appends one event per record in its own transaction, and a consumer (flows, later)
//! follows them by `position` without ever missing a commit.
//!
//! On SQLite writers are serialized, so the insertion order is commit order and `position` is
//! the row id. On PostgreSQL a sequence value is taken before commit, so a writer's row id says
//! nothing of when it commits: events are stored without a position, and the reader first
//! gives positions to the committed events that have none, one sequencer at a time (an
//! advisory lock), in the order they became visible (row id order within one turn, which keeps
//! one record's versions in order: its writers hold its row lock). Positions only ever grow and
//! appear a turn at a time, so a reader that has seen position `n` sees every later commit
//! above `n`.
//!
//! Code that must write rows with a record write (jobs, messages) registers a [`ChangeHook`]:
//! it is called with the open transaction and each event, and its rows commit or roll back
//! with the record.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::store::{Arg, Backend, Conn, DbRow, Together};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a record write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
    Restore,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
            ChangeOp::Restore => "restore",
        }
    }

    fn parse(s: &str) -> Result<ChangeOp> {
        Ok(match s {
            "create" => ChangeOp::Create,
            "update" => ChangeOp::Update,
            "delete" => ChangeOp::Delete,
            "restore" => ChangeOp::Restore,
            other => return Err(EngineError::internal(format!("unknown change op {other}"))),
        })
    }
}

/// One record write: names the fields it changed, never their values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    pub entity: String,
    pub record_id: Uuid,
    pub op: ChangeOp,
    pub changed_fields: Vec<String>,
    /// The record's version after the write.
    pub version: i64,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The flow run that wrote, if a flow did.
    #[serde(skip)]
    pub run_id: Option<Uuid>,
}

/// A committed event with its position in commit order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommittedChange {
    pub position: i64,
    #[serde(flatten)]
    pub event: ChangeEvent,
}

/// The future a hook returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Called inside every record write's transaction, once per event, after the record and its
/// event are written. An error rolls the whole write back.
pub trait ChangeHook: Send + Sync {
    fn on_change<'a>(&'a self, conn: &'a mut Conn<'_>, event: &'a ChangeEvent) -> HookFuture<'a>;
}

/// Events per INSERT statement (8 values each).
const EVENTS_PER_STATEMENT: usize = 500;

/// Events positioned per sequencer turn.
const POSITION_BATCH: i64 = 10_000;

/// The advisory lock of the PostgreSQL sequencer ("kdev").
const SEQUENCER_LOCK: i64 = 0x6B64_6576;

async fn insert(conn: &mut Conn<'_>, events: &[ChangeEvent]) -> Result<()> {
    for chunk in events.chunks(EVENTS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO change_events (entity, record_id, op, changed_fields, version, actor, at, run_id) VALUES ",
        );
        let mut args = Vec::with_capacity(chunk.len() * 8);
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            // Plain `?` on SQLite: it looks a numbered parameter up by name, a scan of the
            // statement's parameters, which made binding a batch of events quadratic.
            super::rows::push_placeholders(&mut sql, conn.backend(), args.len(), 8);
            args.push(Arg::from(e.entity.as_str()));
            args.push(Arg::from(e.record_id));
            args.push(Arg::from(e.op.as_str()));
            args.push(Arg::Json(Some(Value::from(e.changed_fields.clone()))));
            args.push(Arg::from(e.version));
            args.push(Arg::from(e.actor.as_str()));
            args.push(Arg::from(e.at));
            args.push(Arg::Uuid(e.run_id));
        }
        conn.execute(&sql, args).await?;
    }
    Ok(())
}

/// Adds one event to statements that run together.
fn push_event(together: &mut Together, e: &ChangeEvent) {
    together.push(
        "INSERT INTO change_events (entity, record_id, op, changed_fields, version, actor, at, run_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            Arg::from(e.entity.as_str()),
            Arg::from(e.record_id),
            Arg::from(e.op.as_str()),
            Arg::Json(Some(Value::from(e.changed_fields.clone()))),
            Arg::from(e.version),
            Arg::from(e.actor.as_str()),
            Arg::from(e.at),
            Arg::Uuid(e.run_id),
        ],
    );
}

fn from_row(row: &DbRow) -> Result<CommittedChange> {
    let changed_fields = match row.req_json("changed_fields")? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(CommittedChange {
        position: row.req_int("position")?,
        event: ChangeEvent {
            entity: row.req_text("entity")?,
            record_id: row.req_uuid("record_id")?,
            op: ChangeOp::parse(&row.req_text("op")?)?,
            changed_fields,
            version: row.req_int("version")?,
            actor: row.req_text("actor")?,
            at: row.req_time("at")?,
            run_id: row.uuid("run_id")?,
        },
    })
}

impl Engine {
    /// Registers code that writes rows with every record write, in its transaction.
    pub fn add_change_hook(&self, hook: Arc<dyn ChangeHook>) {
        let mut hooks = self
            .change_hooks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hooks.push(hook);
    }

    /// Appends the events of one write inside its transaction and runs the hooks on each.
    pub(crate) async fn record_changes(
        &self,
        conn: &mut Conn<'_>,
        events: &[ChangeEvent],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        insert(conn, events).await?;
        self.after_changes(conn, events).await
    }

    /// Runs one record write's trail, its history row, change `event` and audit entry as
    /// pushed to `trail`, in one round trip; then what follows every change.
    pub(crate) async fn record_trail(
        &self,
        conn: &mut Conn<'_>,
        mut trail: Together,
        event: &ChangeEvent,
    ) -> Result<()> {
        push_event(&mut trail, event);
        conn.execute_together(trail).await?;
        self.after_changes(conn, std::slice::from_ref(event)).await
    }

    /// What follows recorded changes in their transaction: the change hooks, and date-relative
    /// timers moved with their record's date.
    async fn after_changes(&self, conn: &mut Conn<'_>, events: &[ChangeEvent]) -> Result<()> {
        let hooks: Vec<Arc<dyn ChangeHook>> = self
            .change_hooks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for hook in &hooks {
            for event in events {
                hook.on_change(conn, event).await?;
            }
        }
        self.move_timers(conn, events).await
    }

    /// Call after committing a write that recorded events: the flow dispatcher looks at
    /// once instead of at its next poll.
    pub(crate) fn events_committed(&self) {
        self.wake_flow_worker();
    }

    /// Committed events after `position` (0 for the beginning), in commit order, at most
    /// `limit`. Every event committed before the call is returned by it or a later call that
    /// starts from the last position seen; none is returned twice. Each is on disk before it is
    /// returned, so a power cut cannot take back an event a follower acted on (and then give
    /// its position to another).
    pub async fn change_events_after(
        &self,
        position: i64,
        limit: i64,
    ) -> Result<Vec<CommittedChange>> {
        let limit = limit.clamp(1, 10_000);
        if self.db.backend() == Backend::Postgres {
            self.position_committed_events().await?;
        }
        let rows = self
            .db
            .fetch_all(
                "SELECT position, entity, record_id, op, changed_fields, version, actor, at, run_id \
                 FROM change_events WHERE position > $1 ORDER BY position LIMIT $2",
                vec![position.into(), limit.into()],
            )
            .await?;
        if !rows.is_empty() {
            self.db.sync_visible().await?;
        }
        rows.iter().map(from_row).collect()
    }

    /// PostgreSQL: numbers the committed events that have no position yet, after every
    /// position given before, one sequencer at a time.
    pub(crate) async fn position_committed_events(&self) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            vec![SEQUENCER_LOCK.into()],
        )
        .await?;
        tx.execute(
            "WITH todo AS ( \
                 SELECT id, row_number() OVER (ORDER BY id) AS n FROM change_events \
                 WHERE position IS NULL ORDER BY id LIMIT $1 \
             ), base AS (SELECT COALESCE(MAX(position), 0) AS top FROM change_events) \
             UPDATE change_events e SET position = base.top + todo.n \
             FROM todo, base WHERE e.id = todo.id",
            vec![POSITION_BATCH.into()],
        )
        .await?;
        tx.commit().await
    }
}
