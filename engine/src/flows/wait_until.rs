//! The `wait_until` node (docs/flows.md, section 2), on the waits of `waits.rs`. Its step
//! writes a `flow_waits` row and a due job in its fenced transaction and the step is `waiting`.
//!
//! - `until`: the job is due at the expression's time (a date: 00:00 local). When the trigger's
//!   record changes, the dispatcher evaluates it again and moves the job; when the job comes,
//!   it evaluates it once more, so a time moved later waits on, and the branch goes on by its
//!   plain edges.
//! - `change`: the dispatcher resumes the branch, by its plain edges, on a write changing one
//!   of `fields` of the watched record (the trigger's, or the one an earlier node made) for
//!   which `filter` / `expr` hold; the job is the timeout and takes the `timeout` edge.
//!
//! Whichever deletes the wait row resumes the branch, so it resumes once.

use super::compiled::CompiledFlow;
use super::definition::{ExprValue, Node, NodeKind, Span, WatchChange};
use super::nodes::{done, Done, Failure, Next, NodeRun};
use super::runs::{Traced, FINISHED};
use super::waits::{due_key, take, timeout_key, WaitKind, TIMEOUT};
use super::worker::{enqueue_step, finish_if_idle, flow_principal, load_run, RecordRead, RunRow};
use crate::engine::Engine;
use crate::error::Result;
use crate::expr::dynamic_to_json;
use crate::forms::checks::{parse_date, parse_datetime};
use crate::jobs::{self, LeasedJob, NewJob};
use crate::query::{self, FilterExpr};
use crate::records::events::CommittedChange;
use crate::records::wire_time;
use crate::store::{Arg, Conn};
use serde_json::{json, Value};
use time::{OffsetDateTime, Time};
use uuid::Uuid;

fn not_a_date(node: &str) -> Failure {
    Failure::fixed(
        "not_a_date",
        format!("节点 {node}：等待时间须为日期或日期时间 / the time to wait until must be a date or datetime"),
    )
}

impl NodeRun<'_> {
    /// The instant an `until` expression names: a date is 00:00 local on that day.
    pub(super) fn until_time(&self, source: &str) -> std::result::Result<OffsetDateTime, Failure> {
        let value = self.eval(source)?;
        let text = dynamic_to_json(&value)
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| not_a_date(&self.node.id))?;
        if let Some(date) = parse_date(&text) {
            return Ok(self.scope.time.local_instant(date, Time::MIDNIGHT));
        }
        parse_datetime(&text).ok_or_else(|| not_a_date(&self.node.id))
    }

    pub(super) async fn wait_until(
        &mut self,
        conn: &mut Conn<'_>,
        until: Option<&ExprValue>,
        change: Option<&WatchChange>,
        timeout: Option<Span>,
    ) -> std::result::Result<Done, Failure> {
        let now = self.scope.time.now;
        if let Some(until) = until {
            let due = self.until_time(&until.expr)?;
            let output = Traced::default().plain("until", json!(wire_time(due)));
            if due <= now {
                let mut d = done(Next::Edge(None));
                d.output = output;
                return Ok(d);
            }
            // Watching the trigger's record lets its changes move the time; a run without a
            // record waits on the time alone.
            let (entity, record_id) = self
                .scope
                .record
                .as_ref()
                .map(|r| (r.rt.name().to_string(), r.id))
                .unwrap_or_default();
            let mut d = done(Next::Wait {
                entity,
                record_id,
                timeout: Some(due),
                kind: WaitKind::Until,
            });
            d.output = output;
            return Ok(d);
        }
        let (Some(change), Some(timeout)) = (change, timeout) else {
            return Err(Failure::fixed(
                "internal",
                "wait_until needs until, or change with timeout",
            ));
        };
        let due = self.after(timeout)?;
        let watched = match &change.node {
            None => self
                .scope
                .record
                .as_ref()
                .map(|r| (r.rt.name().to_string(), r.id)),
            // A dry run made no record to watch.
            Some(_) if self.dry => None,
            Some(node) => {
                let row = conn
                    .fetch_optional(
                        "SELECT output FROM flow_steps WHERE run_id = $1 AND node = $2",
                        vec![Arg::from(self.run_id), Arg::from(node.as_str())],
                    )
                    .await
                    .map_err(Failure::from)?;
                row.and_then(|r| r.json("output").ok().flatten())
                    .and_then(|out| {
                        let entity = out.get("entity")?.as_str()?.to_string();
                        let id = Uuid::parse_str(out.get("id")?.as_str()?).ok()?;
                        Some((entity, id))
                    })
            }
        };
        let output = Traced::default().plain("timeout_at", json!(wire_time(due)));
        let Some((entity, record_id)) = watched else {
            if self.dry {
                let mut d = done(Next::Stop);
                d.output = output;
                return Ok(d);
            }
            return Err(Failure::fixed(
                "no_record",
                format!(
                    "节点 {}：没有可等待变化的记录 / there is no record to wait on",
                    self.node.id
                ),
            ));
        };
        let mut d = done(Next::Wait {
            entity: entity.clone(),
            record_id,
            timeout: Some(due),
            kind: WaitKind::Change,
        });
        d.output = output
            .plain("entity", json!(entity))
            .plain("id", json!(record_id));
        Ok(d)
    }
}

impl Engine {
    /// Evaluates `node`'s `until` again for `run` as it stands now; `None` when it no longer
    /// gives a time (the branch then keeps the time it had).
    async fn until_again(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        run: &RunRow,
        node: &Node,
        source: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        let entities = self.entity_map().await?;
        let principal = flow_principal(flow, &entities, Some(run.id));
        let mut scope = self
            .scope_for(conn, flow, run, node, now, RecordRead::Plain)
            .await?;
        let run_node = NodeRun {
            engine: self,
            flow,
            node,
            run_id: run.id,
            principal: &principal,
            scope: &mut scope,
            dry: false,
        };
        Ok(run_node.until_time(source).ok())
    }

    /// Whether a `change` wait's `filter` (on the watched record) and `expr` hold now.
    #[allow(clippy::too_many_arguments)]
    async fn watch_holds(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        run: &RunRow,
        node: &Node,
        change: &WatchChange,
        event: &CommittedChange,
        now: OffsetDateTime,
    ) -> Result<bool> {
        if let Some(filter) = &change.filter {
            let rt = self.entity(&event.event.entity).await?;
            let Some(stored) =
                crate::records::rows::load(conn, &rt, event.event.record_id, false).await?
            else {
                return Ok(false);
            };
            let mut record =
                crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
            record.insert("id".into(), json!(event.event.record_id));
            let at = now.to_offset(self.utc_offset_at(now));
            let ctx = query::EvalContext {
                today: at.date(),
                now: at,
            };
            if !query::evaluate(&FilterExpr::parse(filter.clone())?, &record, &ctx)? {
                return Ok(false);
            }
        }
        if let Some(source) = &change.expr {
            let entities = self.entity_map().await?;
            let principal = flow_principal(flow, &entities, Some(run.id));
            let mut scope = self
                .scope_for(conn, flow, run, node, now, RecordRead::Plain)
                .await?;
            let run_node = NodeRun {
                engine: self,
                flow,
                node,
                run_id: run.id,
                principal: &principal,
                scope: &mut scope,
                dry: false,
            };
            // An expression that fails to evaluate does not hold: the wait goes on.
            return Ok(run_node
                .eval(source)
                .ok()
                .and_then(|v| v.as_bool().ok())
                .unwrap_or(false));
        }
        Ok(true)
    }

    /// Ends the waiting step with `output` and follows its edges of `when` (`None`: the plain
    /// ones); the run goes on, or ends when nothing is left.
    #[allow(clippy::too_many_arguments)]
    async fn resume_wait_until(
        &self,
        conn: &mut Conn<'_>,
        run: &RunRow,
        flow: &CompiledFlow,
        node: &str,
        output: Value,
        when: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<()> {
        conn.execute(
            "UPDATE flow_steps SET status = 'succeeded', output = $3, finished_at = $4 WHERE run_id = $1 AND node = $2",
            vec![
                Arg::from(run.id),
                Arg::from(node),
                Arg::Json(Some(output)),
                Arg::from(now),
            ],
        )
        .await?;
        jobs::cancel_by_dedupe_prefix(conn, &timeout_key(run.id, node), now).await?;
        for next in flow.graph.next(&flow.def, node, when) {
            enqueue_step(conn, run.id, next, now, now).await?;
        }
        finish_if_idle(conn, run.id, now).await
    }

    /// The due job of an `until` wait, at `due` (now, if it has passed).
    async fn schedule_until(
        conn: &mut Conn<'_>,
        run: Uuid,
        node: &str,
        due: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        jobs::enqueue(
            conn,
            NewJob::new(TIMEOUT, json!({}), due.max(now))
                .for_node(run, node)
                .dedupe(due_key(run, node, due)),
            now,
        )
        .await?;
        Ok(())
    }

    /// In the dispatcher's transaction: `wait_until` branches watching the record of `event`.
    /// A `change` wait whose field changed (and whose test holds) resumes; an `until` wait's
    /// time is evaluated again and its job moved. True when a branch resumed.
    pub(super) async fn resume_watches(
        &self,
        conn: &mut Conn<'_>,
        event: &CommittedChange,
        watches: &[(Uuid, String, WaitKind)],
        now: OffsetDateTime,
    ) -> Result<bool> {
        let e = &event.event;
        let mut resumed = false;
        for (run_id, node_id, kind) in watches {
            let Some(run) = load_run(conn, *run_id).await? else {
                continue;
            };
            if FINISHED.contains(&run.status.as_str()) {
                continue;
            }
            let flow = self.compiled_flow_on(conn, &run.flow, run.version).await?;
            let Some(node) = flow.node(node_id) else {
                continue;
            };
            let NodeKind::WaitUntil { until, change, .. } = &node.kind else {
                continue;
            };
            match (kind, until, change) {
                (WaitKind::Change, _, Some(change)) => {
                    let changed: Vec<&String> = e
                        .changed_fields
                        .iter()
                        .filter(|f| change.fields.contains(f))
                        .collect();
                    if changed.is_empty()
                        || !self
                            .watch_holds(conn, &flow, &run, node, change, event, now)
                            .await?
                        || !take(conn, *run_id, node_id).await?
                    {
                        continue;
                    }
                    let output = json!({"entity": e.entity, "id": e.record_id, "outcome": "changed", "changed": changed});
                    self.resume_wait_until(conn, &run, &flow, node_id, output, None, now)
                        .await?;
                    resumed = true;
                }
                (WaitKind::Until, Some(until), _) => {
                    let Some(due) = self
                        .until_again(conn, &flow, &run, node, &until.expr, now)
                        .await?
                    else {
                        continue;
                    };
                    // Most writes leave the time where it was: the job stays.
                    let unchanged = conn
                        .fetch_optional(
                            "SELECT id FROM flow_jobs WHERE dedupe_key = $1 AND state = 'ready'",
                            vec![Arg::from(due_key(*run_id, node_id, due))],
                        )
                        .await?
                        .is_some();
                    if unchanged {
                        continue;
                    }
                    jobs::cancel_by_dedupe_prefix(conn, &timeout_key(*run_id, node_id), now)
                        .await?;
                    Self::schedule_until(conn, *run_id, node_id, due, now).await?;
                }
                _ => {}
            }
        }
        Ok(resumed)
    }

    /// A `wait_until`'s job came (its lease already completed in this transaction): a
    /// `change` wait times out by its `timeout` edge; an `until` wait goes on, unless its
    /// time, evaluated again, has moved later.
    pub(super) async fn wait_until_due(
        &self,
        conn: &mut Conn<'_>,
        job: &LeasedJob,
        run_id: Uuid,
        node_id: &str,
        kind: WaitKind,
        now: OffsetDateTime,
    ) -> Result<()> {
        let Some(run) = load_run(conn, run_id).await? else {
            return Ok(());
        };
        if FINISHED.contains(&run.status.as_str()) {
            return Ok(());
        }
        let flow = self.compiled_flow_on(conn, &run.flow, run.version).await?;
        let Some(node) = flow.node(node_id) else {
            return Ok(());
        };
        let NodeKind::WaitUntil { until, .. } = &node.kind else {
            return Ok(());
        };
        let wait = conn
            .fetch_optional(
                "SELECT entity, record_id FROM flow_waits WHERE run_id = $1 AND node = $2",
                vec![Arg::from(run_id), Arg::from(node_id)],
            )
            .await?;
        let Some(wait) = wait else {
            return Ok(());
        };
        let (output, when) = match (kind, until) {
            (WaitKind::Until, Some(until)) => {
                let due = self
                    .until_again(conn, &flow, &run, node, &until.expr, now)
                    .await?
                    .unwrap_or(job.due_at);
                if due > now {
                    Self::schedule_until(conn, run_id, node_id, due, now).await?;
                    return Ok(());
                }
                (json!({"until": wire_time(due)}), None)
            }
            _ => (
                json!({"entity": wait.req_text("entity")?, "id": wait.req_uuid("record_id")?, "outcome": "timeout"}),
                Some("timeout"),
            ),
        };
        if take(conn, run_id, node_id).await? {
            self.resume_wait_until(conn, &run, &flow, node_id, output, when, now)
                .await?;
        }
        Ok(())
    }
}
