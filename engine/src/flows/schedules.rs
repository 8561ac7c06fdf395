//! Cron and segment-batch flows (docs/flows.md, sections 2 and 5). Each enabled one keeps its
//! next fire time in `flow_schedules`; the worker loop fires what is due. Firing writes the
//! run (cron) or the first runs (segment batch) and moves the next fire time in one
//! transaction. A segment batch then goes on 1,000 records per transaction in id order, its
//! position stored with the runs it wrote. Every run carries a key unique per flow — the slot,
//! or the slot and the record — so two instances, or a restart mid-batch, never start one twice.

use super::compiled::CompiledFlow;
use super::definition::{FlowDefinition, Trigger};
use super::worker::{enqueue_start, flow_principal};
use crate::access::Action;
use crate::engine::Engine;
use crate::entities::EntityRuntime;
use crate::error::{EngineError, Result};
use crate::query::FilterExpr;
use crate::records::dialect::Dialect;
use crate::store::{Arg, Backend, Conn};
use croner::parser::{CronParser, Seconds, Year};
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Runs a segment batch writes per transaction.
pub const BATCH: usize = 1_000;

/// Batches one flow writes per call before the others get their turn.
const BATCHES_PER_CALL: usize = 50;

/// Stored as the next fire of a schedule that has none left (a pattern no date matches again).
const NEVER: OffsetDateTime = time::macros::datetime!(9999-12-31 00:00 UTC);

/// A five-field cron pattern (minute, hour, day of month, month, day of week), judged in the
/// configured zone. When both day fields are restricted, either matching fires (classic cron).
#[derive(Debug, Clone)]
pub struct CronSchedule(croner::Cron);

impl CronSchedule {
    /// The pattern, or why it is not one (the designer's own text: no patient value).
    pub fn parse(text: &str) -> std::result::Result<CronSchedule, String> {
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map(CronSchedule)
            .map_err(|e| e.to_string())
    }

    /// The first fire strictly after `after`, as an instant.
    pub fn next_after(
        &self,
        after: OffsetDateTime,
        zone: &jiff::tz::TimeZone,
    ) -> Option<OffsetDateTime> {
        let start = jiff::Timestamp::from_nanosecond(after.unix_timestamp_nanos())
            .ok()?
            .to_zoned(zone.clone());
        let next = self.0.find_next_occurrence(&start, false).ok()?;
        OffsetDateTime::from_unix_timestamp_nanos(next.timestamp().as_nanosecond()).ok()
    }
}

/// The cron pattern of a scheduled trigger.
fn pattern(trigger: &Trigger) -> Option<&str> {
    match trigger {
        Trigger::Cron { cron, .. } | Trigger::SegmentBatch { cron, .. } => Some(cron),
        _ => None,
    }
}

/// What one firing transaction did.
struct Fired {
    runs: usize,
    /// A segment batch has records left for another transaction.
    more: bool,
}

const NOTHING: Fired = Fired {
    runs: 0,
    more: false,
};

impl Engine {
    /// On save, inside the save's transaction: an enabled scheduled flow's next fire is the
    /// first one after now, so enabling never replays a past slot. A segment batch being
    /// written goes on; disabling or deleting drops the schedule (and the batch).
    pub(crate) async fn reset_schedule(
        &self,
        conn: &mut Conn<'_>,
        def: &FlowDefinition,
        active: bool,
        now: OffsetDateTime,
    ) -> Result<()> {
        let next = pattern(&def.trigger)
            .filter(|_| active)
            .and_then(|p| CronSchedule::parse(p).ok())
            .and_then(|s| s.next_after(now, &self.settings.timezone));
        let Some(next) = next else {
            conn.execute(
                "DELETE FROM flow_schedules WHERE flow = $1",
                vec![Arg::from(def.name.as_str())],
            )
            .await?;
            return Ok(());
        };
        conn.execute(
            "INSERT INTO flow_schedules (flow, next_fire) VALUES ($1, $2) \
             ON CONFLICT (flow) DO UPDATE SET next_fire = excluded.next_fire",
            vec![Arg::from(def.name.as_str()), Arg::from(next)],
        )
        .await?;
        Ok(())
    }

    /// Fires every schedule that is due and goes on with unfinished segment batches; answers
    /// how many runs it started.
    pub(crate) async fn fire_schedules(&self) -> Result<usize> {
        let now = self.now();
        let due = self
            .db
            .fetch_all(
                "SELECT flow FROM flow_schedules WHERE next_fire <= $1 OR batch_fire IS NOT NULL ORDER BY next_fire",
                vec![Arg::from(now)],
            )
            .await?;
        let mut started = 0;
        for row in due {
            let flow = row.req_text("flow")?;
            for _ in 0..BATCHES_PER_CALL {
                match self.fire_schedule(&flow, now).await {
                    Ok(fired) => {
                        started += fired.runs;
                        if !fired.more {
                            break;
                        }
                    }
                    Err(e) => {
                        // One flow's failure (an entity removed since) keeps no other from firing.
                        tracing::warn!(flow = %flow, error = %e, "firing a flow schedule failed");
                        break;
                    }
                }
            }
        }
        if started > 0 {
            self.wake_flow_worker();
        }
        Ok(started)
    }

    /// One transaction of one schedule: the due slot fired (and, for a segment batch, its
    /// first records), or the next 1,000 records of a batch under way.
    async fn fire_schedule(&self, name: &str, now: OffsetDateTime) -> Result<Fired> {
        // Read before the transaction, so it never waits on a second connection of the pool.
        let Some(version) = self
            .db
            .fetch_optional(
                "SELECT version FROM flows WHERE name = $1 AND enabled = $2 AND deleted_at IS NULL",
                vec![Arg::from(name), Arg::Bool(Some(true))],
            )
            .await?
            .map(|r| r.req_int("version"))
            .transpose()?
        else {
            self.db
                .execute(
                    "DELETE FROM flow_schedules WHERE flow = $1",
                    vec![Arg::from(name)],
                )
                .await?;
            return Ok(NOTHING);
        };
        let flow = self.compiled_flow(name, version).await?;
        let Some(schedule) = pattern(&flow.def.trigger).and_then(|p| CronSchedule::parse(p).ok())
        else {
            return Ok(NOTHING);
        };
        let entities = self.entity_map().await?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        // Another instance firing this schedule holds the row: it is left to that one.
        let lock = if conn.backend() == Backend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let Some(row) = conn
            .fetch_optional(
                &format!("SELECT next_fire, batch_fire, batch_after FROM flow_schedules WHERE flow = $1{lock}"),
                vec![Arg::from(name)],
            )
            .await?
        else {
            return Ok(NOTHING);
        };
        let next_fire = row.req_time("next_fire")?;
        let mut batch = match row.time("batch_fire")? {
            Some(at) => Some((at, row.uuid("batch_after")?)),
            None => None,
        };
        let mut runs = 0;
        if batch.is_none() {
            if next_fire > now {
                return Ok(NOTHING);
            }
            // Slots missed while no server ran fire once, as this one: the next is after now.
            let next = schedule
                .next_after(Ord::max(now, next_fire), &self.settings.timezone)
                .unwrap_or(NEVER);
            let slot = crate::records::wire_time(next_fire);
            match &flow.def.trigger {
                Trigger::SegmentBatch { .. } => batch = Some((next_fire, None)),
                _ => {
                    let trigger = json!({"type": "cron", "fire_at": slot});
                    if self
                        .start_scheduled_run(&mut conn, &flow, &slot, None, trigger, now)
                        .await?
                    {
                        runs += 1;
                    }
                }
            }
            conn.execute(
                "UPDATE flow_schedules SET next_fire = $2, batch_fire = $3, batch_after = NULL WHERE flow = $1",
                vec![
                    Arg::from(name),
                    Arg::from(next),
                    Arg::Time(batch.map(|(at, _)| at)),
                ],
            )
            .await?;
        }
        let mut more = false;
        if let Some((fire, after)) = batch {
            let (written, last) = self
                .write_batch(&mut conn, &flow, &entities, fire, after, now)
                .await?;
            runs += written;
            more = last.is_some();
            conn.execute(
                "UPDATE flow_schedules SET batch_fire = $2, batch_after = $3 WHERE flow = $1",
                vec![
                    Arg::from(name),
                    Arg::Time(more.then_some(fire)),
                    Arg::Uuid(last),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Fired { runs, more })
    }

    /// The next records of a segment batch after `after`, in id order, each given its run;
    /// answers the runs started and, when the batch was full, the last id (more may follow).
    /// The filter is compiled by the records' compiler for the flow's principal, so it reads
    /// only what the flow may read.
    async fn write_batch(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        entities: &HashMap<String, Arc<EntityRuntime>>,
        fire: OffsetDateTime,
        after: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<(usize, Option<Uuid>)> {
        let Trigger::SegmentBatch {
            entity,
            filter,
            segment,
            ..
        } = &flow.def.trigger
        else {
            return Ok((0, None));
        };
        let rt = entities
            .get(entity.as_str())
            .cloned()
            .ok_or_else(|| EngineError::not_found(format!("entity {entity}")))?;
        let mut principal = flow_principal(flow, entities, None);
        principal.require(entity, Action::Read)?;
        let table = Alias::new(rt.table.clone());
        let mut condition = Expr::col((table.clone(), Alias::new("deleted_at"))).is_null();
        // A named segment is read as it stands when the batch runs, so a segment changed after
        // the flow was saved selects by its new filter; its `exists` tests select ids only.
        let filter = match (filter, segment) {
            (Some(filter), _) => Some(FilterExpr::parse(filter.clone())?),
            (None, Some(segment)) => {
                let named = FilterExpr::Segment {
                    segment: segment.clone(),
                };
                let (expanded, _) = Self::expand_segments_on(conn, entity, &named).await?;
                for related in expanded.related_entities() {
                    grant_selection(&mut principal, &related);
                }
                Some(expanded)
            }
            (None, None) => None,
        };
        if let Some(parsed) = filter {
            for related in parsed.related_entities() {
                principal.require(&related, Action::Read)?;
            }
            let all: Vec<Arc<EntityRuntime>> = entities.values().cloned().collect();
            let compiled = self
                .filter_context(&rt, &all, &principal)
                .compile(&parsed)?;
            condition = condition.and(compiled.condition);
        }
        let backend = conn.backend();
        if let Some(after) = after {
            condition = condition.and(
                Expr::col((table.clone(), Alias::new("id"))).gt(Arg::from(after).into_sea(backend)),
            );
        }
        let mut select = Query::select();
        select
            .column((table.clone(), Alias::new("id")))
            .from(table.clone())
            .and_where(condition)
            .order_by((table, Alias::new("id")), Order::Asc)
            .limit(BATCH as u64);
        let (sql, values) = Dialect(backend).build(&select);
        let rows = conn.fetch_built(&sql, values).await?;
        let slot = crate::records::wire_time(fire);
        let mut started = 0;
        let mut last = None;
        for row in &rows {
            let id = row.req_uuid("id")?;
            last = Some(id);
            let trigger = json!({"type": "segment_batch", "entity": entity, "record_id": id, "fire_at": slot});
            if self
                .start_scheduled_run(
                    conn,
                    flow,
                    &format!("{slot}:{id}"),
                    Some((entity, id)),
                    trigger,
                    now,
                )
                .await?
            {
                started += 1;
            }
        }
        Ok((started, last.filter(|_| rows.len() == BATCH)))
    }

    /// Creates a scheduled run with its first jobs; false when its key was taken already.
    async fn start_scheduled_run(
        &self,
        conn: &mut Conn<'_>,
        flow: &CompiledFlow,
        fire_key: &str,
        record: Option<(&str, Uuid)>,
        trigger: Value,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let id = Uuid::now_v7();
        let inserted = conn
            .execute(
                "INSERT INTO flow_runs (id, flow, flow_version, status, depth, trigger_info, entity, record_id, \
                 started_by, fire_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'running', 0, $4, $5, $6, 'schedule', $7, $8, $8) \
                 ON CONFLICT (flow, fire_key) DO NOTHING",
                vec![
                    Arg::from(id),
                    Arg::from(flow.def.name.as_str()),
                    Arg::from(flow.version),
                    Arg::Json(Some(trigger)),
                    Arg::Text(record.map(|(e, _)| e.to_string())),
                    Arg::Uuid(record.map(|(_, r)| r)),
                    Arg::from(fire_key),
                    Arg::from(now),
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(false);
        }
        enqueue_start(conn, flow, id, now).await?;
        Ok(true)
    }
}

/// Lets a flow's principal read `entity` to select a named segment's members: the segment's
/// `exists` tests were compiled under its saver's rights, and the flow reads only ids by them.
fn grant_selection(principal: &mut crate::access::Principal, entity: &str) {
    if principal.can(entity, Action::Read) {
        return;
    }
    if let Ok(name) = crate::names::EntityName::new(entity) {
        principal.permissions.push(crate::access::EntityPermission {
            entity: name,
            actions: vec![Action::Read],
            rows: crate::access::RowScope::All,
            fields: Default::default(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn shanghai() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()
    }

    #[test]
    fn nine_every_morning_is_judged_in_beijing_time() {
        let s = CronSchedule::parse("0 9 * * *").unwrap();
        // 09:30 Beijing on the 24th: the next is 09:00 on the 25th, 01:00 UTC.
        let next = s
            .next_after(datetime!(2026-11-24 01:30 UTC), &shanghai())
            .unwrap();
        assert_eq!(next, datetime!(2026-11-25 01:00 UTC));
        // Strictly after: a slot is never its own next.
        let again = s.next_after(next, &shanghai()).unwrap();
        assert_eq!(again, datetime!(2026-11-26 01:00 UTC));
    }

    #[test]
    fn either_day_field_fires_and_seven_is_sunday() {
        // 2026-12-01 is a Tuesday; the 15th of December falls on a Tuesday too.
        let s = CronSchedule::parse("0 8 15 * SUN").unwrap();
        let next = s
            .next_after(datetime!(2026-12-01 00:00 UTC), &shanghai())
            .unwrap();
        assert_eq!(next, datetime!(2026-12-06 00:00 UTC), "Sunday the 6th");
        let seven = CronSchedule::parse("0 8 * * 7").unwrap();
        assert_eq!(
            seven.next_after(datetime!(2026-12-01 00:00 UTC), &shanghai()),
            Some(datetime!(2026-12-06 00:00 UTC))
        );
        let fifteenth = s
            .next_after(datetime!(2026-12-13 01:00 UTC), &shanghai())
            .unwrap();
        assert_eq!(fifteenth, datetime!(2026-12-15 00:00 UTC));
    }

    #[test]
    fn six_fields_and_nonsense_are_refused() {
        assert!(CronSchedule::parse("0 0 9 * * *").is_err());
        assert!(CronSchedule::parse("61 * * * *").is_err());
        assert!(CronSchedule::parse("every day").is_err());
        assert!(CronSchedule::parse("*/15 8-18 * JAN-MAR MON-FRI").is_ok());
    }
}
