//! Branches that wait on a record: an `approval` waits for its task. The step writes a
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

/// The job kind of a wait's timeout.
pub const TIMEOUT: &str = "wait_timeout";

/// The kind of wait an approval makes.
const APPROVAL: &str = "approval";

fn timeout_key(run: Uuid, node: &str) -> String {
    format!("{run}:{node}:timeout")
}

/// Records that `node` of `run` waits on `entity`/`record_id`, with its timeout job.
pub(super) async fn begin(
    conn: &mut Conn<'_>,
    run: Uuid,
    node: &str,
    entity: &str,
    record_id: Uuid,
    timeout: Option<OffsetDateTime>,
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
            Arg::from(APPROVAL),
            Arg::from(now),
        ],
    )
    .await?;
    if let Some(due) = timeout {
        jobs::enqueue(
            conn,
            NewJob::new(TIMEOUT, json!({}), due)
                .for_node(run, node)
                .dedupe(timeout_key(run, node)),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Deletes the wait; true for the one caller that deleted it (it resumes the branch).
async fn take(conn: &mut Conn<'_>, run: Uuid, node: &str) -> Result<bool> {
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
    async fn flow_actor(&self, flow: &str, version: i64) -> Result<Principal> {
        let flow = self.compiled_flow(flow, version).await?;
        let entities: std::collections::HashMap<_, _> = self
            .catalog
            .all(&self.db)
            .await?
            .into_iter()
            .map(|rt| (rt.name().to_string(), rt))
            .collect();
        Ok(flow_principal(&flow, &entities))
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

    /// Resumes the branches waiting on the record of `event` when it completed them (a task
    /// now `done`). Runs in the dispatcher's transaction; true when a branch resumed.
    pub(super) async fn resume_waits(
        &self,
        conn: &mut Conn<'_>,
        event: &CommittedChange,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let e = &event.event;
        if e.entity != TASK_ENTITY
            || e.op != ChangeOp::Update
            || !e.changed_fields.iter().any(|f| f == "status")
        {
            return Ok(false);
        }
        let waits = conn
            .fetch_all(
                "SELECT run_id, node FROM flow_waits WHERE entity = $1 AND record_id = $2",
                vec![Arg::from(TASK_ENTITY), Arg::from(e.record_id)],
            )
            .await?;
        if waits.is_empty() {
            return Ok(false);
        }
        let rt = self.entity(TASK_ENTITY).await?;
        let Some(stored) = rows::load(conn, &rt, e.record_id, false).await? else {
            return Ok(false);
        };
        let plain = crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
        if text(&plain, "status").as_deref() != Some("done") {
            return Ok(false);
        }
        let outcome = text(&plain, "outcome");
        let mut resumed = false;
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
                outcome.as_deref(),
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
                "SELECT record_id FROM flow_waits WHERE run_id = $1 AND node = $2",
                vec![Arg::from(run), Arg::from(node.as_str())],
            )
            .await?
        else {
            return tx.commit().await;
        };
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
                    let actor = self.flow_actor(&row.flow, row.version).await?;
                    let mut data = Map::new();
                    data.insert("status".into(), json!("expired"));
                    self.apply_update(&mut conn, &rt, &actor, &stored, &data, Lang::Zh)
                        .await?;
                }
                _ => {}
            }
        }
        if take(&mut conn, run, &node).await? {
            self.resume(&mut conn, run, &node, task, None, Some("timeout"), now)
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
                "SELECT node, entity, record_id FROM flow_waits WHERE run_id = $1",
                vec![Arg::from(run)],
            )
            .await?;
        if waits.is_empty() {
            return Ok(());
        }
        let Some(row) = load_run(conn, run).await? else {
            return Ok(());
        };
        let actor = self.flow_actor(&row.flow, row.version).await?;
        for w in waits {
            let node = w.req_text("node")?;
            if w.req_text("entity")? == TASK_ENTITY {
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
