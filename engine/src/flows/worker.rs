//! The worker loop: follows the change events (`dispatch`), takes due jobs and hands each to
//! its runner (`step`, `timers`, `waits`). A step's effects, its step row, the next jobs and
//! the job's completion commit in one transaction that first fences on the job's lease, so a
//! worker whose lease was lost commits nothing and no effect happens twice.

use super::checks;
use super::compiled::CompiledFlow;
use super::graph::TRIGGER;
use super::scope::{followed_references, previous_version, Loaded, Scope};
use crate::access::{Action, EntityPermission, Principal, RowScope};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::expr::{Root, TimeContext};
use crate::jobs::{self, LeasedJob, NewJob};
use crate::names::EntityName;
use crate::store::{Arg, Conn};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::OffsetDateTime;
use uuid::Uuid;

/// The job kind of one node of one run.
pub const STEP: &str = "step";

/// Jobs one round of the loop takes.
const BATCH: i64 = 64;

/// How often the loop looks when nothing wakes it (other instances' writes, due timers).
const POLL: StdDuration = StdDuration::from_millis(250);

/// Enqueues `node` of `run`, due at `due`. A node reached by several branches runs once: the
/// job is keyed by (run, node).
pub(crate) async fn enqueue_step(
    conn: &mut Conn<'_>,
    run: Uuid,
    node: &str,
    due: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    jobs::enqueue(
        conn,
        NewJob::new(STEP, json!({}), due)
            .for_node(run, node)
            .dedupe(format!("{run}:{node}")),
        now,
    )
    .await?;
    Ok(())
}

/// Enqueues the first nodes of a new run.
pub(crate) async fn enqueue_start(
    conn: &mut Conn<'_>,
    flow: &CompiledFlow,
    run: Uuid,
    now: OffsetDateTime,
) -> Result<()> {
    for node in flow.graph.next(&flow.def, TRIGGER, None) {
        enqueue_step(conn, run, node, now, now).await?;
    }
    Ok(())
}

/// Marks the run succeeded when nothing of it is left to run; `waiting` while only waits
/// (and their timeouts) are left, `running` again once a step is due.
pub(super) async fn finish_if_idle(
    conn: &mut Conn<'_>,
    run: Uuid,
    now: OffsetDateTime,
) -> Result<()> {
    // One statement: what is left, and the status it makes, read and written together.
    const LEFT: &str = "CASE WHEN EXISTS (SELECT 1 FROM flow_jobs WHERE run_id = $1 AND state IN ('ready', 'running') AND kind <> $2) THEN 'running' \
         WHEN EXISTS (SELECT 1 FROM flow_waits WHERE run_id = $1) THEN 'waiting' ELSE 'succeeded' END";
    conn.execute(
        &format!(
            "UPDATE flow_runs SET status = {LEFT}, \
             finished_at = CASE WHEN {LEFT} = 'succeeded' THEN $3 END, updated_at = $3 \
             WHERE id = $1 AND finished_at IS NULL AND status <> {LEFT}"
        ),
        vec![
            Arg::from(run),
            Arg::from(super::waits::TIMEOUT),
            Arg::from(now),
        ],
    )
    .await?;
    Ok(())
}

/// The flow as an actor: every action on the entities its version names (and on tasks and
/// messages), no row scope and no field rule; the definitions' own rules still apply. `run`
/// is the run it acts in, which its writes' change events name.
pub(crate) fn flow_principal(
    flow: &CompiledFlow,
    entities: &std::collections::HashMap<String, Arc<crate::entities::EntityRuntime>>,
    run: Option<Uuid>,
) -> Principal {
    let mut names = checks::named_entities(&flow.def, entities);
    for core in [checks::TASK_ENTITY, checks::MESSAGE_ENTITY, "consent"] {
        if !names.iter().any(|n| n == core) {
            names.push(core.to_string());
        }
    }
    let actor = format!("flow:{}", flow.def.name);
    Principal {
        user_id: None,
        actor: actor.clone(),
        username: actor,
        is_admin: false,
        departments: Vec::new(),
        permissions: names
            .into_iter()
            .filter_map(|n| EntityName::new(&n).ok())
            .map(|entity| EntityPermission {
                entity,
                actions: vec![Action::Read, Action::Create, Action::Update],
                rows: RowScope::All,
                fields: Default::default(),
            })
            .collect(),
        rights: Vec::new(),
        by_token: false,
        credentials_epoch: 0,
        run,
    }
}

/// How a scope gets the run's record.
pub(crate) enum RecordRead {
    /// Read as it is (a dry run, a wait's check, a call being prepared).
    Plain,
    /// Read and locked until the step's transaction ends.
    Locked,
    /// Read under this step's lock by an earlier node of it, and kept up to date since.
    Kept(Loaded),
}

/// What a step needs to know of its run.
pub(crate) struct RunRow {
    pub id: Uuid,
    pub flow: String,
    pub version: i64,
    pub status: String,
    pub entity: Option<String>,
    pub record_id: Option<Uuid>,
    pub trigger: Value,
}

/// Reads the run in a step's transaction. On PostgreSQL the row stays locked until the
/// transaction ends, so two branches of one run finishing at once take turns: the second sees
/// the first's jobs done and marks the run finished (SQLite's writers take turns anyway).
pub(crate) async fn load_run(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<RunRow>> {
    let lock = if conn.backend() == crate::store::Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = conn
        .fetch_optional(
            &format!("SELECT id, flow, flow_version, status, entity, record_id, trigger_info FROM flow_runs WHERE id = $1{lock}"),
            vec![Arg::from(id)],
        )
        .await?;
    row.map(|r| {
        Ok(RunRow {
            id: r.req_uuid("id")?,
            flow: r.req_text("flow")?,
            version: r.req_int("flow_version")?,
            status: r.req_text("status")?,
            entity: r.text("entity")?,
            record_id: r.uuid("record_id")?,
            trigger: r.req_json("trigger_info")?,
        })
    })
    .transpose()
}

impl Engine {
    /// Wakes the worker loop (after a commit that made work for it).
    pub fn wake_flow_worker(&self) {
        self.flow_wake.wake();
    }

    /// Runs the worker loop until `stop` resolves; leases held are released on the way out.
    pub async fn run_flow_worker(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let owner = format!("worker:{}", Uuid::now_v7());
        loop {
            if *stop.borrow() {
                break;
            }
            let busy = match self.flow_round(&owner).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "flow worker round failed");
                    false
                }
            };
            if self.enabled_flows.prune_due(self.now()) {
                if let Err(e) = self.prune_flow_history().await {
                    tracing::warn!(error = %e, "pruning flow history failed");
                }
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = self.flow_wake.woken() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
        }
        if let Err(e) = jobs::release(&self.db, &owner, self.now()).await {
            tracing::warn!(error = %e, "releasing flow job leases failed");
        }
    }

    /// One round: new events into runs, then due jobs. Answers how much it did.
    pub async fn flow_round(&self, owner: &str) -> Result<usize> {
        let dispatched = self.dispatch_events().await?;
        let swept = if self.enabled_flows.sweep_due(self.now()) {
            self.sweep_timers().await? + self.fire_schedules().await?
        } else {
            0
        };
        let taken = jobs::take_due(&self.db, owner, self.now(), BATCH, jobs::LEASE).await?;
        let n = taken.len();
        self.run_taken(taken).await;
        Ok(dispatched + swept + n)
    }

    /// Runs rounds until nothing is left to do now (for tests and the CLI).
    pub async fn drain_flows(&self) -> Result<()> {
        let owner = format!("drain:{}", Uuid::now_v7());
        for _ in 0..10_000 {
            if self.flow_round(&owner).await? == 0 {
                return Ok(());
            }
        }
        Err(EngineError::internal("flows did not settle"))
    }

    pub(super) async fn run_job(&self, job: LeasedJob) -> Result<()> {
        match job.kind.as_str() {
            STEP => self.run_step(job).await,
            super::timers::TIMER => self.run_timer(job).await,
            super::waits::TIMEOUT => self.run_wait_timeout(job).await,
            other => {
                let mut tx = self.db.begin().await?;
                jobs::fail_permanently(
                    &mut tx.conn(),
                    &job,
                    self.now(),
                    &format!("unknown job kind {other}"),
                )
                .await?;
                tx.commit().await
            }
        }
    }

    pub(crate) async fn scope_for(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        run: &RunRow,
        node: &super::definition::Node,
        now: OffsetDateTime,
        read: RecordRead,
    ) -> Result<Scope> {
        let time = TimeContext {
            now,
            timezone: self.settings.timezone.clone(),
        };
        let mut scope = Scope {
            record: None,
            followed: Default::default(),
            old: None,
            steps: Map::new(),
            body: None,
            time,
        };
        if let (Some(entity), Some(id)) = (&run.entity, run.record_id) {
            let rt = self.entity(entity).await?;
            let (lock, kept) = match read {
                RecordRead::Plain => (false, None),
                RecordRead::Locked => (true, None),
                RecordRead::Kept(kept) => (true, Some(kept)),
            };
            scope.record = if let Some(kept) = kept.filter(|k| k.id == id) {
                Some(kept)
            } else if run.trigger.get("type").and_then(Value::as_str) == Some("record_deleted") {
                crate::records::rows::load(conn, &rt, id, false)
                    .await?
                    .map(|stored| -> Result<Loaded> {
                        let plain = crate::records::projection::unseal_owned(
                            &rt,
                            stored.sealed,
                            &self.keys,
                        )?;
                        Ok(Loaded {
                            rt: rt.clone(),
                            id,
                            version: stored.version,
                            plain,
                            locked: None,
                        })
                    })
                    .transpose()?
            } else {
                Loaded::load(self, conn, rt.clone(), id, lock).await?
            };
            if let Some(record) = &scope.record {
                for name in followed_references(node) {
                    let Some(field) = record.rt.definition().field(&name) else {
                        continue;
                    };
                    let (Some(target), Some(rid)) = (
                        field.entity.as_ref().map(|e| e.as_str().to_string()),
                        record
                            .plain
                            .get(&name)
                            .and_then(Value::as_str)
                            .and_then(|s| Uuid::parse_str(s).ok()),
                    ) else {
                        continue;
                    };
                    let trt = self.entity(&target).await?;
                    if let Some(loaded) = Loaded::load(self, conn, trt, rid, false).await? {
                        scope.followed.insert(name, loaded);
                    }
                }
            }
            let reads_old = super::compiled::node_exprs(&node.kind)
                .iter()
                .any(|(_, s)| crate::expr::reads(s).iter().any(|r| r.root == Root::Old))
                || super::compiled::node_templates(&node.kind)
                    .iter()
                    .any(|(_, t)| super::templates::reads_root(t, Root::Old));
            if reads_old {
                if let Some(v) = run.trigger.get("version").and_then(Value::as_i64) {
                    scope.old = previous_version(self, conn, &rt, id, v).await?;
                }
            }
        }
        if flow.def.nodes.iter().any(|n| {
            super::compiled::node_exprs(&n.kind)
                .iter()
                .any(|(_, s)| s.contains("steps"))
        }) {
            let rows = conn
                .fetch_all(
                    "SELECT node, output FROM flow_steps WHERE run_id = $1",
                    vec![Arg::from(run.id)],
                )
                .await?;
            for r in rows {
                if let Some(out @ Value::Object(_)) = r.json("output")? {
                    let out = super::runs::opened(out, &self.keys);
                    scope.steps.insert(r.req_text("node")?, out);
                }
            }
        }
        if matches!(flow.def.trigger, super::definition::Trigger::Webhook { .. }) {
            scope.body = Some(self.webhook_body(conn, run.id).await?);
        }
        Ok(scope)
    }
}
