//! The dispatcher: follows the change events in commit order from its stored position,
//! matches each against the enabled flows' record triggers in memory, and in one transaction
//! creates the runs with their first jobs and moves its position. A run is unique on (flow,
//! event position), so no event starts a flow twice, whichever instance dispatches it.

use super::compiled::CompiledFlow;
use super::definition::Trigger;
use super::worker::enqueue_start;
use crate::engine::Engine;
use crate::error::Result;
use crate::query::{self, FilterExpr};
use crate::records::events::{ChangeOp, CommittedChange};
use crate::store::{Arg, Backend, Conn};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Events one round dispatches.
const EVENTS_PER_ROUND: i64 = 1_000;

/// A run started by a flow's write is one deeper than the run that wrote; deeper than this is
/// not started (flows triggering each other forever).
pub const MAX_DEPTH: i64 = 8;

/// Writes by this actor are history, not news: they start no runs.
const DEMO_ACTOR: &str = "system:demo";

/// An enabled flow as the dispatcher matches it.
pub(crate) struct Enabled {
    pub flow: Arc<CompiledFlow>,
    pub enabled_at: OffsetDateTime,
}

/// The enabled flows, reloaded when the `flows` table changed (a save here or on another
/// instance).
#[derive(Default)]
pub(crate) struct EnabledFlows {
    state: tokio::sync::Mutex<Option<Loaded>>,
    /// When the date-relative sweep last ran, by the engine's clock.
    last_sweep: std::sync::Mutex<Option<OffsetDateTime>>,
    /// When history was last pruned, by the engine's clock.
    last_prune: std::sync::Mutex<Option<OffsetDateTime>>,
}

/// How often the date-relative sweep looks (its window reaches ten minutes ahead).
const SWEEP_EVERY: time::Duration = time::Duration::seconds(1);

impl EnabledFlows {
    /// Whether pruning is due now; notes that it runs.
    pub fn prune_due(&self, now: OffsetDateTime) -> bool {
        let mut last = self
            .last_prune
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| now >= at && now - at < super::retention::PRUNE_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Whether the sweep should run now; notes that it does.
    pub fn sweep_due(&self, now: OffsetDateTime) -> bool {
        let mut last = self
            .last_sweep
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| now >= at && now - at < SWEEP_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// The flows as loaded: at which fingerprint of the `flows` table and which local save
/// generation, and what.
type Loaded = (String, u64, Arc<Vec<Enabled>>);

fn matches(trigger: &Trigger, event: &CommittedChange) -> bool {
    let e = &event.event;
    match trigger {
        Trigger::RecordCreated { entity, .. } => entity == &e.entity && e.op == ChangeOp::Create,
        Trigger::RecordUpdated { entity, fields, .. } => {
            entity == &e.entity
                && e.op == ChangeOp::Update
                && fields
                    .as_ref()
                    .is_none_or(|fs| fs.iter().any(|f| e.changed_fields.contains(f)))
        }
        Trigger::RecordDeleted { entity, .. } => entity == &e.entity && e.op == ChangeOp::Delete,
        _ => false,
    }
}

impl Engine {
    /// The enabled flows. A small query tells whether any flow changed since they were loaded
    /// (by this instance or another), so an event is never matched against a stale list.
    pub(crate) async fn enabled_flows(&self) -> Result<Arc<Vec<Enabled>>> {
        let generation = self.flows.generation();
        let mut state = self.enabled_flows.state.lock().await;
        let stamp = self
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n, MAX(version) AS v, MAX(updated_at) AS at FROM flows",
                vec![],
            )
            .await?;
        let fingerprint = format!(
            "{}:{}:{:?}",
            stamp.req_int("n")?,
            stamp.int("v")?.unwrap_or(0),
            stamp.time("at")?
        );
        if let Some((seen, seen_generation, flows)) = state.as_ref() {
            if *seen == fingerprint && *seen_generation == generation {
                return Ok(flows.clone());
            }
        }
        let rows = self
            .db
            .fetch_all(
                "SELECT name, version, enabled_at FROM flows WHERE enabled = $1 AND deleted_at IS NULL ORDER BY name",
                vec![Arg::Bool(Some(true))],
            )
            .await?;
        let mut flows = Vec::with_capacity(rows.len());
        for row in rows {
            let name = row.req_text("name")?;
            let flow = self.compiled_flow(&name, row.req_int("version")?).await?;
            let enabled_at = row
                .time("enabled_at")?
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            flows.push(Enabled { flow, enabled_at });
        }
        let flows = Arc::new(flows);
        *state = Some((fingerprint, generation, flows.clone()));
        Ok(flows)
    }

    /// Sets the dispatcher's position at the newest committed event, once: the events of a
    /// database older than flows are history, not news. Called when the engine opens.
    pub(crate) async fn init_flow_cursor(&self) -> Result<()> {
        if self.db.backend() == Backend::Postgres {
            self.position_committed_events().await?;
        }
        self.db
            .execute(
                "INSERT INTO flow_cursor (name, position) \
                 SELECT 'dispatcher', COALESCE(MAX(position), 0) FROM change_events WHERE TRUE \
                 ON CONFLICT (name) DO NOTHING",
                vec![],
            )
            .await?;
        Ok(())
    }

    /// The dispatcher's position (set when the engine opened).
    async fn cursor(&self) -> Result<i64> {
        self.db
            .fetch_one(
                "SELECT position FROM flow_cursor WHERE name = 'dispatcher'",
                vec![],
            )
            .await?
            .req_int("position")
    }

    /// Dispatches one batch of committed events; answers how many it read.
    pub(crate) async fn dispatch_events(&self) -> Result<usize> {
        let from = self.cursor().await?;
        let events = self.change_events_after(from, EVENTS_PER_ROUND).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(0);
        };
        let flows = self.enabled_flows().await?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let lock = if conn.backend() == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let now_at = conn
            .fetch_one(
                &format!("SELECT position FROM flow_cursor WHERE name = 'dispatcher'{lock}"),
                vec![],
            )
            .await?
            .req_int("position")?;
        if now_at != from {
            // Another instance dispatched these meanwhile.
            return Ok(0);
        }
        let now = self.now();
        let mut started = 0;
        let waited = self.waited_records(&mut conn, &events).await?;
        for event in &events {
            // Branches waiting on this record (approvals, wait_until) resume in this transaction.
            if waited.contains(&event.event.record_id)
                && self.resume_waits(&mut conn, event, now).await?
            {
                started += 1;
            }
            if event.event.actor == DEMO_ACTOR {
                continue;
            }
            for enabled in flows.iter() {
                if event.event.at < enabled.enabled_at || !matches(&enabled.flow.def.trigger, event)
                {
                    continue;
                }
                if !self
                    .trigger_filter_holds(&mut conn, &enabled.flow, event)
                    .await?
                {
                    continue;
                }
                if self.start_run(&mut conn, &enabled.flow, event, now).await? {
                    started += 1;
                }
            }
        }
        conn.execute(
            "UPDATE flow_cursor SET position = $1 WHERE name = 'dispatcher'",
            vec![Arg::from(last)],
        )
        .await?;
        tx.commit().await?;
        if started > 0 {
            self.wake_flow_worker();
        }
        Ok(events.len())
    }

    async fn trigger_filter_holds(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        event: &CommittedChange,
    ) -> Result<bool> {
        let Some(filter) = flow.def.trigger.filter() else {
            return Ok(true);
        };
        let rt = self.entity(&event.event.entity).await?;
        let Some(stored) =
            crate::records::rows::load(conn, &rt, event.event.record_id, false).await?
        else {
            return Ok(false);
        };
        let mut record = crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
        record.insert("id".into(), json!(event.event.record_id));
        let parsed = FilterExpr::parse(filter.clone())?;
        let now = self.now();
        let at = now.to_offset(self.utc_offset_at(now));
        query::evaluate(
            &parsed,
            &record,
            &query::EvalContext {
                today: at.date(),
                now: at,
            },
        )
    }

    /// Creates the run of `flow` for `event` with its first jobs; false when it exists already.
    async fn start_run(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        event: &CommittedChange,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let e = &event.event;
        let depth = if let Some(run) = e.run_id {
            let row = conn
                .fetch_optional(
                    "SELECT depth FROM flow_runs WHERE id = $1",
                    vec![Arg::from(run)],
                )
                .await?;
            row.map(|r| r.req_int("depth"))
                .transpose()?
                .map_or(0, |d| d + 1)
        } else {
            0
        };
        let id = Uuid::now_v7();
        let trigger = json!({
            "type": flow.def.trigger.kind(), "entity": e.entity, "record_id": e.record_id,
            "version": e.version, "changed_fields": e.changed_fields, "actor": e.actor,
        });
        let too_deep = depth > MAX_DEPTH;
        let (status, error, finished) = if too_deep {
            (
                "failed",
                Some(
                    json!({"code": "depth_limit", "message": format!("流程相互触发超过 {MAX_DEPTH} 层，已停止 / flows triggered each other more than {MAX_DEPTH} deep")}),
                ),
                Some(now),
            )
        } else {
            ("running", None, None)
        };
        let inserted = conn
            .execute(
                "INSERT INTO flow_runs (id, flow, flow_version, status, depth, trigger_info, entity, record_id, event_position, \
                 started_by, error, created_at, updated_at, finished_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) \
                 ON CONFLICT (flow, event_position) DO NOTHING",
                vec![
                    Arg::from(id),
                    Arg::from(flow.def.name.as_str()),
                    Arg::from(flow.version),
                    Arg::from(status),
                    Arg::from(depth),
                    Arg::Json(Some(trigger)),
                    Arg::from(e.entity.as_str()),
                    Arg::from(e.record_id),
                    Arg::from(event.position),
                    Arg::from(e.actor.as_str()),
                    Arg::Json(error),
                    Arg::from(now),
                    Arg::Time(finished),
                ],
            )
            .await?;
        if inserted == 0 || too_deep {
            return Ok(inserted > 0 && !too_deep);
        }
        enqueue_start(conn, flow, id, now).await?;
        Ok(true)
    }
}
