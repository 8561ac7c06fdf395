//! Branches that wait on a record: an `approval` waits for its task, a `wait_until` for a
//! change of a record or for a time (`wait_until.rs`). The step writes a
//! `flow_waits` row (and, with a timeout, a timeout job) in its fenced transaction; the
//! dispatcher matches every change event against the waits and resumes a branch in the
//! event's dispatch transaction; the timeout job expires the task and takes the `timeout`
//! edge. Whichever deletes the wait row first resumes the branch, so it resumes once.

use super::checks::TASK_ENTITY;
use super::worker::{enqueue_step, finish_if_idle, flow_principal, load_run};
use crate::access::Principal;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::i18n::Lang;
use crate::jobs::{self, LeasedJob, NewJob};
use crate::records::events::{ChangeOp, CommittedChange};
use crate::records::rows;
use crate::store::{Arg, Conn};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// The edge a wait that got no answer ends by.
const TIMEOUT_EDGE: &str = "timeout";

/// Record ids per lookup of [`Engine::waited_records`].
const WAITED_CHUNK: usize = 200;

/// The job kind of a wait's timeout.
pub const TIMEOUT: &str = "wait_timeout";

/// What a branch waits for; stored in `flow_waits.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitKind {
    /// An approval's task to be completed.
    Approval,
    /// A `wait_until` with `change`: a write changing one of its fields.
    Change,
    /// A `wait_until` with `until`: a time, computed again when the trigger's record changes.
    Until,
}

impl WaitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Approval => "approval",
            WaitKind::Change => "change",
            WaitKind::Until => "until",
        }
    }

    pub fn parse(s: &str) -> WaitKind {
        match s {
            "change" => WaitKind::Change,
            "until" => WaitKind::Until,
            _ => WaitKind::Approval,
        }
    }
}

/// The key of a wait's timeout job; a prefix of every timeout job of that wait.
pub(super) fn timeout_key(run: Uuid, node: &str) -> String {
    format!("{run}:{node}:timeout")
}

/// The key of a `wait_until` due job at `due`: the time is part of it, because the wait's
/// time moves (a new job per time) while a finished job keeps its key.
pub(super) fn due_key(run: Uuid, node: &str, due: OffsetDateTime) -> String {
    format!(
        "{}:{}",
        timeout_key(run, node),
        crate::store::db::sqlite_timestamp(due)
    )
}

/// Records that `node` of `run` waits on `entity`/`record_id`, with its timeout job.
#[allow(clippy::too_many_arguments)]
pub(super) async fn begin(
    conn: &mut Conn<'_>,
    run: Uuid,
    node: &str,
    entity: &str,
    record_id: Uuid,
    timeout: Option<OffsetDateTime>,
    kind: WaitKind,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        "INSERT INTO flow_waits (run_id, node, entity, record_id, kind, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, node) DO NOTHING",
        vec![
            Arg::from(run),
            Arg::from(node),
            Arg::from(entity),
            Arg::from(record_id),
            Arg::from(kind.as_str()),
            Arg::from(now),
        ],
    )
    .await?;
    if let Some(due) = timeout {
        jobs::enqueue(
            conn,
            NewJob::new(TIMEOUT, json!({}), due)
                .for_node(run, node)
                .dedupe(match kind {
                    WaitKind::Approval => timeout_key(run, node),
                    WaitKind::Change | WaitKind::Until => due_key(run, node, due),
                }),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Deletes the wait; true for the one caller that deleted it (it resumes the branch).
pub(super) async fn take(conn: &mut Conn<'_>, run: Uuid, node: &str) -> Result<bool> {
    Ok(conn
        .execute(
            "DELETE FROM flow_waits WHERE run_id = $1 AND node = $2",
            vec![Arg::from(run), Arg::from(node)],
        )
        .await?
        == 1)
}

fn text(plain: &Map<String, Value>, field: &str) -> Option<String> {
    plain.get(field).and_then(Value::as_str).map(str::to_string)
}

impl Engine {
    async fn flow_actor(&self, flow: &str, version: i64, run: Uuid) -> Result<Principal> {
        let flow = self.compiled_flow(flow, version).await?;
        let entities: std::collections::HashMap<_, _> = self
            .catalog
            .all(&self.db)
            .await?
            .into_iter()
            .map(|rt| (rt.name().to_string(), rt))
            .collect();
        Ok(flow_principal(&flow, &entities, Some(run)))
    }

    /// Ends the waiting step of `node`: its output names the outcome, the branch follows the
    /// edges of `when`, the run goes on (or ends, when nothing is left).
    #[allow(clippy::too_many_arguments)]
    async fn resume(
        &self,
        conn: &mut Conn<'_>,
        run: Uuid,
        node: &str,
        task: Uuid,
        outcome: Option<&str>,
        when: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let Some(row) = load_run(conn, run).await? else {
            return Ok(());
        };
        if super::runs::FINISHED.contains(&row.status.as_str()) {
            return Ok(());
        }
        let output = json!({"entity": TASK_ENTITY, "id": task, "outcome": outcome});
        conn.execute(
            "UPDATE flow_steps SET status = 'succeeded', output = $3, finished_at = $4 WHERE run_id = $1 AND node = $2",
            vec![
                Arg::from(run),
                Arg::from(node),
                Arg::Json(Some(output)),
                Arg::from(now),
            ],
        )
        .await?;
        jobs::cancel_by_dedupe_prefix(conn, &timeout_key(run, node), now).await?;
        if let Some(when) = when {
            let flow = self.compiled_flow(&row.flow, row.version).await?;
            for next in flow.graph.next(&flow.def, node, Some(when)) {
                enqueue_step(conn, run, next, now, now).await?;
            }
        }
        finish_if_idle(conn, run, now).await
    }

    /// The records among `events`' updates that some branch waits on, looked up for the
    /// whole batch at once (by the `(entity, record_id)` index): most updates resume nothing,
    /// and then cost no query each.
    pub(super) async fn waited_records(
        &self,
        conn: &mut Conn<'_>,
        events: &[CommittedChange],
    ) -> Result<std::collections::HashSet<Uuid>> {
        let mut by_entity: std::collections::BTreeMap<&str, Vec<Uuid>> = Default::default();
        for e in events.iter().filter(|e| e.event.op == ChangeOp::Update) {
            by_entity
                .entry(e.event.entity.as_str())
                .or_default()
                .push(e.event.record_id);
        }
        let mut waited = std::collections::HashSet::new();
        for (entity, mut ids) in by_entity {
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(WAITED_CHUNK) {
                let marks: Vec<String> = (2..=chunk.len() + 1).map(|i| format!("${i}")).collect();
                let mut args = vec![Arg::from(entity)];
                args.extend(chunk.iter().map(|id| Arg::from(*id)));
                let rows = conn
                    .fetch_all(
                        &format!(
                            "SELECT DISTINCT record_id FROM flow_waits WHERE entity = $1 AND record_id IN ({})",
                            marks.join(", ")
                        ),
                        args,
                    )
                    .await?;
                for row in rows {
                    waited.insert(row.req_uuid("record_id")?);
                }
            }
        }
        Ok(waited)
    }

    /// Resumes the branches waiting on the record of `event` when it completed them (a task
    /// now `done`, or cancelled or expired by hand, a watched field changed) and moves `wait_until` times that depend on it.
    /// Runs in the dispatcher's transaction; true when a branch resumed.
    pub(super) async fn resume_waits(
        &self,
        conn: &mut Conn<'_>,
        event: &CommittedChange,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let e = &event.event;
        if e.op != ChangeOp::Update {
            return Ok(false);
        }
        let rows = conn
            .fetch_all(
                "SELECT run_id, node, kind FROM flow_waits WHERE entity = $1 AND record_id = $2",
                vec![Arg::from(e.entity.as_str()), Arg::from(e.record_id)],
            )
            .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let mut waits = Vec::with_capacity(rows.len());
        let mut watches = Vec::new();
        for row in rows {
            match WaitKind::parse(&row.req_text("kind")?) {
                WaitKind::Approval => waits.push(row),
                kind => watches.push((row.req_uuid("run_id")?, row.req_text("node")?, kind)),
            }
        }
        let watched = self.resume_watches(conn, event, &watches, now).await?;
        if e.entity != TASK_ENTITY
            || !e.changed_fields.iter().any(|f| f == "status")
            || waits.is_empty()
        {
            return Ok(watched);
        }
        let rt = self.entity(TASK_ENTITY).await?;
        let Some(stored) = rows::load(conn, &rt, e.record_id, false).await? else {
            return Ok(watched);
        };
        let plain = crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
        // A task cancelled or expired by hand got no answer: the wait ends as its timeout
        // would (the `timeout` edge, or the branch ends without one), never left waiting.
        let (outcome, when) = match text(&plain, "status").as_deref() {
            Some("done") => {
                let outcome = text(&plain, "outcome");
                (outcome.clone(), outcome)
            }
            Some("cancelled" | "expired") => (None, Some(TIMEOUT_EDGE.to_string())),
            _ => return Ok(watched),
        };
        let mut resumed = watched;
        for w in waits {
            let run = w.req_uuid("run_id")?;
            let node = w.req_text("node")?;
            if !take(conn, run, &node).await? {
                continue;
            }
            self.resume(
                conn,
                run,
                &node,
                e.record_id,
                outcome.as_deref(),
                when.as_deref(),
                now,
            )
            .await?;
            resumed = true;
        }
        Ok(resumed)
    }

    /// A wait's timeout came: an open task becomes `expired` and the `timeout` edge is taken.
    /// A task already done is left to the dispatcher, which resumes the branch by its outcome.
    pub(super) async fn run_wait_timeout(&self, job: LeasedJob) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        match jobs::complete(&mut conn, &job, now).await {
            Err(EngineError::LeaseLost { .. }) => return Ok(()),
            other => other?,
        }
        let (Some(run), Some(node)) = (job.run_id, job.node.clone()) else {
            return tx.commit().await;
        };
        let Some(wait) = conn
            .fetch_optional(
                "SELECT record_id, kind FROM flow_waits WHERE run_id = $1 AND node = $2",
                vec![Arg::from(run), Arg::from(node.as_str())],
            )
            .await?
        else {
            return tx.commit().await;
        };
        let kind = WaitKind::parse(&wait.req_text("kind")?);
        if kind != WaitKind::Approval {
            self.wait_until_due(&mut conn, &job, run, &node, kind, now)
                .await?;
            tx.commit().await?;
            self.wake_flow_worker();
            return Ok(());
        }
        let task = wait.req_uuid("record_id")?;
        let Some(row) = load_run(&mut conn, run).await? else {
            return tx.commit().await;
        };
        let rt = self.entity(TASK_ENTITY).await?;
        if let Some(stored) = rows::load(&mut conn, &rt, task, true).await? {
            let plain = crate::records::projection::unseal(&rt, &stored.sealed, &self.keys)?;
            match text(&plain, "status").as_deref() {
                Some("done") => return tx.commit().await,
                Some("open") if stored.deleted_at.is_none() => {
                    let actor = self.flow_actor(&row.flow, row.version, row.id).await?;
                    let mut data = Map::new();
                    data.insert("status".into(), json!("expired"));
                    self.apply_update(&mut conn, &rt, &actor, &stored, &data, Lang::Zh)
                        .await?;
                }
                _ => {}
            }
        }
        if take(&mut conn, run, &node).await? {
            self.resume(&mut conn, run, &node, task, None, Some(TIMEOUT_EDGE), now)
                .await?;
        }
        tx.commit().await?;
        self.wake_flow_worker();
        Ok(())
    }

    /// The run stops waiting (cancelled, ended, failed): its open approval tasks are
    /// cancelled, its waits and their timeouts dropped. In the caller's transaction.
    pub(crate) async fn drop_waits(
        &self,
        conn: &mut Conn<'_>,
        run: Uuid,
        now: OffsetDateTime,
    ) -> Result<()> {
        let waits = conn
            .fetch_all(
                "SELECT node, entity, record_id, kind FROM flow_waits WHERE run_id = $1",
                vec![Arg::from(run)],
            )
            .await?;
        if waits.is_empty() {
            return Ok(());
        }
        let Some(row) = load_run(conn, run).await? else {
            return Ok(());
        };
        let actor = self.flow_actor(&row.flow, row.version, row.id).await?;
        for w in waits {
            let node = w.req_text("node")?;
            // Only an approval's own task is cancelled: a record a `wait_until` watches is not
            // the wait's to close.
            if w.req_text("kind")? == WaitKind::Approval.as_str()
                && w.req_text("entity")? == TASK_ENTITY
            {
                let rt = self.entity(TASK_ENTITY).await?;
                let id = w.req_uuid("record_id")?;
                if let Some(stored) = rows::load(conn, &rt, id, true)
                    .await?
                    .filter(|s| s.deleted_at.is_none())
                {
                    let plain =
                        crate::records::projection::unseal(&rt, &stored.sealed, &self.keys)?;
                    if text(&plain, "status").as_deref() == Some("open") {
                        let mut data = Map::new();
                        data.insert("status".into(), json!("cancelled"));
                        self.apply_update(conn, &rt, &actor, &stored, &data, Lang::Zh)
                            .await?;
                    }
                }
            }
            jobs::cancel_by_dedupe_prefix(conn, &timeout_key(run, &node), now).await?;
            conn.execute(
                "UPDATE flow_steps SET status = 'cancelled', finished_at = $3 WHERE run_id = $1 AND node = $2 AND status = 'waiting'",
                vec![Arg::from(run), Arg::from(node.as_str()), Arg::from(now)],
            )
            .await?;
        }
        conn.execute(
            "DELETE FROM flow_waits WHERE run_id = $1",
            vec![Arg::from(run)],
        )
        .await?;
        Ok(())
    }
}
