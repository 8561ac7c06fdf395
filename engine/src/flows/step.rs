//! Running a step job: the node, then every node its success makes due at once, in the one
//! transaction that fences on the job's lease. So a run's local steps (condition → update →
//! message) commit together, each with its own step row, and a worker whose lease was lost
//! commits none of them. A failure goes through the job queue's retries and `error` edges.

use super::compiled::CompiledFlow;
use super::definition::Node;
use super::nodes::{Done, Failure, Next, NodeRun};
use super::scope::Loaded;
use super::worker::{
    enqueue_step, finish_if_idle, flow_principal, load_run, RecordRead, RunRow, STEP,
};
use crate::access::Principal;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::jobs::{self, LeasedJob, NewJob, Retried};
use crate::store::{Arg, Conn};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use time::OffsetDateTime;

/// Nodes run in one step job's transaction at most, the job's own included: a long chain
/// still commits in parts, well inside the lease.
const IN_PLACE_STEPS: usize = 16;

/// Whether a node made due by an earlier one runs in that one's transaction. A
/// `webhook_call` waits on the network with its lease extended, so it runs as its own job.
fn runs_in_place(node: &Node) -> bool {
    node.kind.kind() != "webhook_call"
}

/// What running a step job in a caller's transaction came to.
pub(super) enum StepOutcome {
    /// Its effects, step rows and next jobs are written (or there was nothing to do): commit.
    Written,
    /// Another worker holds the job now: nothing of this attempt may commit.
    LeaseLost,
    /// The node failed: roll its effects back, then record the failure.
    Failed {
        run: RunRow,
        node: String,
        node_type: &'static str,
        failure: Failure,
    },
    /// A `webhook_call`: sent with no transaction open.
    Call {
        run: RunRow,
        flow: Arc<CompiledFlow>,
        node: String,
    },
}

impl Engine {
    /// Runs a step job in a transaction of its own.
    pub(super) async fn run_step(&self, job: LeasedJob) -> Result<()> {
        let mut tx = self.db.begin().await?;
        match self.step_in(&mut tx.conn(), &job).await? {
            StepOutcome::Written => {
                tx.commit().await?;
                self.wake_flow_worker();
                Ok(())
            }
            StepOutcome::LeaseLost => Ok(()),
            StepOutcome::Failed {
                run,
                node,
                node_type,
                failure,
            } => {
                // The node's partial effects roll back with this transaction.
                drop(tx);
                self.fail_run(&job, &run, &node, node_type, &failure).await
            }
            StepOutcome::Call { run, flow, node } => {
                drop(tx);
                self.run_webhook_call(job, run, flow, &node).await
            }
        }
    }

    /// Runs a step job in the caller's transaction: completes the job under its lease, then
    /// runs its node and every node that node's success makes due now.
    pub(super) async fn step_in(
        &self,
        conn: &mut Conn<'_>,
        job: &LeasedJob,
    ) -> Result<StepOutcome> {
        let now = self.now();
        let (Some(run_id), Some(node_id)) = (job.run_id, job.node.clone()) else {
            return match jobs::fail_permanently(conn, job, now, "a step job needs a run and a node")
                .await
            {
                Err(EngineError::LeaseLost { .. }) => Ok(StepOutcome::LeaseLost),
                other => other.map(|()| StepOutcome::Written),
            };
        };
        match jobs::complete(conn, job, now).await {
            Err(EngineError::LeaseLost { .. }) => return Ok(StepOutcome::LeaseLost),
            other => other?,
        }
        let Some(run) = load_run(conn, run_id).await? else {
            return Ok(StepOutcome::Written);
        };
        if super::runs::FINISHED.contains(&run.status.as_str()) {
            return Ok(StepOutcome::Written);
        }
        let flow = self.compiled_flow(&run.flow, run.version).await?;
        let Some(node) = flow.node(&node_id) else {
            return Ok(StepOutcome::Failed {
                run,
                failure: Failure {
                    code: "unknown_node".into(),
                    message: format!("节点 {node_id} 不存在 / no node {node_id}"),
                    retryable: false,
                },
                node: node_id,
                node_type: "",
            });
        };
        if matches!(node.kind, super::definition::NodeKind::WebhookCall { .. }) {
            return Ok(StepOutcome::Call {
                run,
                flow: flow.clone(),
                node: node_id,
            });
        }
        let entities = self.entity_map().await?;
        let principal = flow_principal(&flow, &entities, Some(run.id));
        let step = Step {
            flow: &flow,
            run: &run,
            principal: &principal,
            now,
            record: Default::default(),
        };
        match self.run_node(conn, &step, node, job.attempts).await? {
            Ok(done) => {
                let mut due_now = VecDeque::new();
                self.follow(conn, &step, &node.id, &done, &mut due_now)
                    .await?;
                self.run_due_now(conn, &step, due_now).await?;
                finish_if_idle(conn, run.id, now).await?;
                Ok(StepOutcome::Written)
            }
            Err(failure) => Ok(StepOutcome::Failed {
                node: node.id.to_string(),
                node_type: node.kind.kind(),
                failure,
                run,
            }),
        }
    }

    /// After `node` of `run` succeeded outside a step's usual path (a `webhook_call`, whose
    /// answer commits in a transaction of its own): its branch goes on as after any step.
    pub(super) async fn after_node(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        run: &RunRow,
        node: &str,
        done: &Done,
        now: OffsetDateTime,
    ) -> Result<()> {
        let entities = self.entity_map().await?;
        let principal = flow_principal(flow, &entities, Some(run.id));
        let step = Step {
            flow,
            run,
            principal: &principal,
            now,
            record: Default::default(),
        };
        let mut due_now = VecDeque::new();
        self.follow(conn, &step, node, done, &mut due_now).await?;
        self.run_due_now(conn, &step, due_now).await?;
        finish_if_idle(conn, run.id, now).await
    }

    /// Runs `node` and, on success, stores its step row. A failure leaves its partial effects
    /// for the caller to roll back.
    async fn run_node(
        &self,
        conn: &mut Conn<'_>,
        step: &Step<'_>,
        node: &Node,
        attempts: i64,
    ) -> Result<std::result::Result<Done, Failure>> {
        let read = match step.take_record() {
            Some(kept) => RecordRead::Kept(kept),
            None => RecordRead::Locked,
        };
        let mut scope = self
            .scope_for(conn, step.flow, step.run, node, step.now, read)
            .await?;
        let outcome = NodeRun {
            engine: self,
            flow: step.flow,
            node,
            run_id: step.run.id,
            principal: step.principal,
            scope: &mut scope,
            dry: false,
        }
        .execute(conn)
        .await;
        if outcome.is_ok() && keeps_record(node) {
            step.keep_record(scope.record.take());
        }
        if let Ok(done) = &outcome {
            let status = match done.next {
                Next::Wait { .. } => "waiting",
                _ => "succeeded",
            };
            self.record_step(
                conn,
                step.run,
                node.id.as_str(),
                node.kind.kind(),
                status,
                attempts,
                done.input.clone().into_stored(),
                done.output.clone().into_stored(),
                Value::Null,
                step.now,
            )
            .await?;
        }
        Ok(outcome)
    }

    /// Runs the nodes made due now in this transaction, each inside a savepoint: one that
    /// fails is rolled back alone and enqueued as a job of its own, whose attempts, backoff
    /// and `error` edge then apply as to any step. A node several edges lead into still runs
    /// once: it is written as a finished job under the run's key for it first.
    async fn run_due_now(
        &self,
        conn: &mut Conn<'_>,
        step: &Step<'_>,
        mut due_now: VecDeque<String>,
    ) -> Result<()> {
        let mut ran = 1;
        while let Some(id) = due_now.pop_front() {
            let node = step.flow.node(&id).filter(|n| runs_in_place(n));
            let Some(node) = node.filter(|_| ran < IN_PLACE_STEPS) else {
                enqueue_step(conn, step.run.id, &id, step.now, step.now).await?;
                continue;
            };
            ran += 1;
            conn.execute("SAVEPOINT flow_step", vec![]).await?;
            // A node with one edge in is reached once, as the node before it ran once.
            let claimed = !step.flow.graph.joins(&step.flow.def, &id)
                || jobs::finished_in_place(
                    conn,
                    NewJob::new(STEP, json!({}), step.now)
                        .for_node(step.run.id, id.as_str())
                        .dedupe(format!("{}:{id}", step.run.id)),
                    step.now,
                )
                .await?;
            if !claimed {
                conn.execute("RELEASE SAVEPOINT flow_step", vec![]).await?;
                continue;
            }
            match self.run_node(conn, step, node, 1).await? {
                // The savepoint stays open: releasing it would only cost a round trip, as it
                // ends with the job's savepoint or the transaction, and a later one of the
                // same name is the one a rollback finds.
                Ok(done) => {
                    self.follow(conn, step, &node.id, &done, &mut due_now)
                        .await?;
                }
                Err(_) => {
                    conn.execute("ROLLBACK TO SAVEPOINT flow_step", vec![])
                        .await?;
                    conn.execute("RELEASE SAVEPOINT flow_step", vec![]).await?;
                    enqueue_step(conn, step.run.id, &id, step.now, step.now).await?;
                }
            }
        }
        Ok(())
    }

    /// Where the branch goes after `node`: nodes due now are handed back in `due_now`, later
    /// ones enqueued, a wait begun, or the run ended.
    async fn follow(
        &self,
        conn: &mut Conn<'_>,
        step: &Step<'_>,
        node: &str,
        done: &Done,
        due_now: &mut VecDeque<String>,
    ) -> Result<()> {
        let (flow, run, now) = (step.flow, step.run, step.now);
        match &done.next {
            Next::Edge(when) => {
                due_now.extend(
                    flow.graph
                        .next(&flow.def, node, when.as_deref())
                        .into_iter()
                        .map(str::to_string),
                );
            }
            Next::After(due) => {
                for next in flow.graph.next(&flow.def, node, None) {
                    enqueue_step(conn, run.id, next, *due, now).await?;
                }
            }
            Next::Stop => {}
            Next::End => {
                due_now.clear();
                jobs::cancel_for_run(conn, run.id, now).await?;
                self.drop_waits(conn, run.id, now).await?;
            }
            Next::Wait {
                entity,
                record_id,
                timeout,
                kind,
            } => {
                super::waits::begin(conn, run.id, node, entity, *record_id, *timeout, *kind, now)
                    .await?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_step(
        &self,
        conn: &mut Conn<'_>,
        run: &RunRow,
        node: &str,
        node_type: &str,
        status: &str,
        attempts: i64,
        input: Value,
        output: Value,
        error: Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        // PostgreSQL numbers steps from a sequence (the column's default); SQLite from the
        // run's highest number so far, found through the primary key.
        let insert = match conn.backend() {
            crate::store::Backend::Postgres => {
                "INSERT INTO flow_steps (run_id, node, node_type, status, attempts, input, output, error, started_at, finished_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
            }
            crate::store::Backend::Sqlite => {
                "INSERT INTO flow_steps (run_id, node, node_type, status, attempts, input, output, error, seq, started_at, finished_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, COALESCE(MAX(seq), 0) + 1, $9, $9 FROM flow_steps WHERE run_id = $1"
            }
        };
        conn.execute(
            &format!(
                "{insert} ON CONFLICT (run_id, node) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, \
                 input = excluded.input, output = excluded.output, error = excluded.error, finished_at = excluded.finished_at"
            ),
            vec![
                Arg::from(run.id),
                Arg::from(node),
                Arg::from(node_type),
                Arg::from(status),
                Arg::from(attempts),
                Arg::Json(Some(input)),
                Arg::Json(Some(output)),
                Arg::Json((!error.is_null()).then_some(error)),
                Arg::from(now),
            ],
        )
        .await?;
        Ok(())
    }

    /// A failed step: retried later (after the steps' backoff) when the failure may pass, else
    /// the `error` edge is taken or the run fails.
    pub(super) async fn fail_run(
        &self,
        job: &LeasedJob,
        run: &RunRow,
        node: &str,
        node_type: &str,
        failure: &Failure,
    ) -> Result<()> {
        let backoff = jobs::step_backoff(job.attempts);
        self.fail_run_after(job, run, node, node_type, failure, backoff)
            .await
    }

    /// [`Engine::fail_run`] with the node's own wait before a retry (a `webhook_call`'s).
    pub(super) async fn fail_run_after(
        &self,
        job: &LeasedJob,
        run: &RunRow,
        node: &str,
        node_type: &str,
        failure: &Failure,
        backoff: time::Duration,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if self
            .fail_run_in(&mut tx.conn(), job, run, node, node_type, failure, backoff)
            .await?
        {
            tx.commit().await?;
            self.wake_flow_worker();
        }
        Ok(())
    }

    /// Records a failed step in the caller's transaction; false when the lease was lost and
    /// nothing of it may commit.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fail_run_in(
        &self,
        conn: &mut Conn<'_>,
        job: &LeasedJob,
        run: &RunRow,
        node: &str,
        node_type: &str,
        failure: &Failure,
        backoff: time::Duration,
    ) -> Result<bool> {
        let now = self.now();
        // Takes the run's lock, as a step does.
        load_run(conn, run.id).await?;
        let outcome = if failure.retryable {
            jobs::retry_later(conn, job, now, &failure.code, backoff).await
        } else {
            jobs::fail_permanently(conn, job, now, &failure.code)
                .await
                .map(|()| Retried::Dead)
        };
        let retried = match outcome {
            Err(EngineError::LeaseLost { .. }) => return Ok(false),
            other => matches!(other?, Retried::At(_)),
        };
        self.record_step(
            conn,
            run,
            node,
            node_type,
            if retried { "ready" } else { "failed" },
            job.attempts,
            Value::Null,
            Value::Null,
            failure.json(),
            now,
        )
        .await?;
        if retried {
            return Ok(true);
        }
        let flow = self.compiled_flow(&run.flow, run.version).await?;
        if flow.graph.has_edge(&flow.def, node, "error") {
            for next in flow.graph.next(&flow.def, node, Some("error")) {
                enqueue_step(conn, run.id, next, now, now).await?;
            }
            finish_if_idle(conn, run.id, now).await?;
        } else {
            jobs::cancel_for_run(conn, run.id, now).await?;
            self.drop_waits(conn, run.id, now).await?;
            let mut error = failure.json();
            error["node"] = json!(node);
            conn.execute(
                "UPDATE flow_runs SET status = 'failed', error = $2, finished_at = $3, updated_at = $3 WHERE id = $1 AND finished_at IS NULL",
                vec![Arg::from(run.id), Arg::Json(Some(error)), Arg::from(now)],
            )
            .await?;
        }
        Ok(true)
    }
}

/// What every node of one step job shares: its flow version, run, actor and time, and the
/// run's record as the last node left it.
struct Step<'a> {
    flow: &'a CompiledFlow,
    run: &'a RunRow,
    principal: &'a Principal,
    now: OffsetDateTime,
    record: std::sync::Mutex<Option<Loaded>>,
}

impl Step<'_> {
    fn take_record(&self) -> Option<Loaded> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn keep_record(&self, record: Option<Loaded>) {
        *self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = record;
    }
}

/// Whether the run's record, as a node of this kind left it, may serve the next node of the
/// step without reading it again: after a node that wrote nothing, or wrote only that record
/// (and kept its copy up to date). A write elsewhere may change it behind the copy (a total
/// rolled up into it), so any other node drops it.
fn keeps_record(node: &Node) -> bool {
    use super::definition::NodeKind;
    match &node.kind {
        NodeKind::Condition { .. } | NodeKind::Switch { .. } | NodeKind::Delay { .. } => true,
        NodeKind::UpdateRecord { target, .. }
        | NodeKind::AddTag { target, .. }
        | NodeKind::RemoveTag { target, .. } => target.is_none(),
        _ => false,
    }
}
