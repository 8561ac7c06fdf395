//! Date-relative timers without a job per record (docs/flows.md, section 5). A sweep writes
//! timer jobs only for the fire times that fall in the next ten minutes, found by a range scan
//! of the date field, and moves the flow's watermark; a write that sets, moves or deletes a
//! record's date schedules, moves or cancels that record's timer in the write's transaction.
//! A timer, when due, recomputes the record's fire time and drops itself when it changed.

use super::compiled::CompiledFlow;
use super::definition::Trigger;
use super::worker::enqueue_start;
use crate::engine::Engine;
use crate::entities::EntityRuntime;
use crate::error::{EngineError, Result};
use crate::expr::TimeContext;
use crate::forms::checks::{parse_date, parse_datetime};
use crate::forms::FieldType;
use crate::jobs::{self, LeasedJob, NewJob};
use crate::query::{self, FilterExpr};
use crate::records::events::{ChangeEvent, ChangeOp};
use crate::store::{Arg, Backend, Conn};
use serde_json::{json, Value};
use std::sync::Arc;
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

/// The job kind of a date-relative timer.
pub const TIMER: &str = "timer";

/// How far ahead a sweep writes timer jobs.
pub const LOOKAHEAD: Duration = Duration::minutes(10);

/// Candidates a sweep reads per flow and round; the watermark moves only as far as it read.
const SWEEP_BATCH: usize = 5_000;

/// A date-relative trigger, ready to compute fire times.
pub(crate) struct DateRule<'a> {
    pub field: &'a str,
    pub days: i64,
    pub hours: i64,
    pub at: Option<Time>,
}

impl<'a> DateRule<'a> {
    pub fn of(trigger: &'a Trigger) -> Option<DateRule<'a>> {
        let Trigger::DateRelative {
            field, offset, at, ..
        } = trigger
        else {
            return None;
        };
        let at = at.as_deref().and_then(|s| {
            let (h, m) = s.split_once(':')?;
            Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
        });
        Some(DateRule {
            field,
            days: offset.days.unwrap_or(0),
            hours: offset.hours.unwrap_or(0),
            at,
        })
    }

    /// When a record whose field holds `value` fires, in the configured zone.
    pub fn fire_time(&self, time: &TimeContext, value: &Value) -> Option<OffsetDateTime> {
        let text = value.as_str()?;
        let (date, instant) = match parse_date(text) {
            Some(d) => (d, None),
            None => {
                let t = parse_datetime(text)?;
                (t.to_offset(time.offset_at(t)).date(), Some(t))
            }
        };
        let shifted = date.checked_add(Duration::days(self.days))?;
        if let Some(at) = self.at {
            return Some(time.local_instant(shifted, at));
        }
        let local_time = match instant {
            Some(t) => t.to_offset(time.offset_at(t)).time(),
            None => Time::MIDNIGHT,
        };
        time.local_instant(shifted, local_time)
            .checked_add(Duration::hours(self.hours))
    }

    /// The field values whose fire time may fall in `(from, to]`: a wider window, narrowed
    /// by computing each candidate's fire time.
    fn value_window(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> (OffsetDateTime, OffsetDateTime) {
        let shift = Duration::days(self.days) + Duration::hours(self.hours);
        // A day each side covers the time of day `at` sets and any zone offset.
        (
            from - shift - Duration::days(2),
            to - shift + Duration::days(2),
        )
    }
}

fn value_arg(field_type: FieldType, t: OffsetDateTime) -> Arg {
    match field_type {
        FieldType::Date => Arg::Date(Some(t.to_offset(time::UtcOffset::UTC).date())),
        _ => Arg::Time(Some(t)),
    }
}

fn stored_value(row: &crate::store::DbRow, field_type: FieldType) -> Result<Value> {
    Ok(match field_type {
        FieldType::Date => row.date("v")?.map_or(Value::Null, |d: Date| {
            json!(crate::forms::checks::format_date(d))
        }),
        _ => row.time("v")?.map_or(Value::Null, |t| {
            json!(crate::forms::checks::format_datetime_utc(t))
        }),
    })
}

impl Engine {
    fn time_context(&self, now: OffsetDateTime) -> TimeContext {
        TimeContext {
            now,
            timezone: self.settings.timezone.clone(),
        }
    }

    /// Enabling (or re-saving) a date-relative flow starts its sweep at the save: no fire
    /// time before it is replayed. Disabling or deleting it stops the sweep.
    pub(crate) async fn reset_sweep(
        &self,
        conn: &mut Conn<'_>,
        flow: &str,
        active: bool,
        now: OffsetDateTime,
    ) -> Result<()> {
        conn.execute(
            "DELETE FROM flow_sweeps WHERE flow = $1",
            vec![Arg::from(flow)],
        )
        .await?;
        if active {
            conn.execute(
                "INSERT INTO flow_sweeps (flow, watermark) VALUES ($1, $2)",
                vec![Arg::from(flow), Arg::from(now)],
            )
            .await?;
        }
        Ok(())
    }

    fn trigger_holds(
        &self,
        flow: &CompiledFlow,
        record: &serde_json::Map<String, Value>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let Some(filter) = flow.def.trigger.filter() else {
            return Ok(true);
        };
        let parsed = FilterExpr::parse(filter.clone())?;
        let at = now.to_offset(self.utc_offset_at(now));
        query::evaluate(
            &parsed,
            record,
            &query::EvalContext {
                today: at.date(),
                now: at,
            },
        )
    }

    async fn schedule_timer(
        &self,
        conn: &mut Conn<'_>,
        flow: &str,
        record: Uuid,
        fire_at: OffsetDateTime,
        due: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        jobs::enqueue(
            conn,
            NewJob::new(TIMER, json!({"flow": flow, "record": record, "fire_at": crate::records::wire_time(fire_at)}), due)
                .dedupe(jobs::timer_key(flow, record, fire_at)),
            now,
        )
        .await?;
        Ok(())
    }

    /// One sweep of every enabled date-relative flow; answers how many timers it wrote.
    pub(crate) async fn sweep_timers(&self) -> Result<usize> {
        let flows = self.enabled_flows().await?;
        let mut written = 0;
        for enabled in flows.iter() {
            if let Some(rule) = DateRule::of(&enabled.flow.def.trigger) {
                written += self.sweep_flow(&enabled.flow, &rule).await?;
            }
        }
        Ok(written)
    }

    async fn sweep_flow(&self, flow: &CompiledFlow, rule: &DateRule<'_>) -> Result<usize> {
        let Some(entity) = flow.def.trigger.entity() else {
            return Ok(0);
        };
        let rt = self.entity(entity).await?;
        let Some(field) = rt.definition().field(rule.field).cloned() else {
            return Ok(0);
        };
        let Some(column) = rt
            .field_storage(rule.field)
            .and_then(|s| s.column().map(str::to_string))
        else {
            return Ok(0);
        };
        let now = self.now();
        let horizon = now + LOOKAHEAD;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let lock = if conn.backend() == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let Some(row) = conn
            .fetch_optional(
                &format!("SELECT watermark FROM flow_sweeps WHERE flow = $1{lock}"),
                vec![Arg::from(flow.def.name.as_str())],
            )
            .await?
        else {
            return Ok(0);
        };
        let watermark = row.req_time("watermark")?;
        if horizon <= watermark {
            return Ok(0);
        }
        let (lo, hi) = rule.value_window(watermark, horizon);
        let q = crate::entities::storage::q;
        let rows = conn
            .fetch_all(
                &format!(
                    "SELECT id, {col} AS v FROM {table} WHERE deleted_at IS NULL AND {col} >= $1 AND {col} <= $2 ORDER BY {col}, id LIMIT {limit}",
                    col = q(&column),
                    table = q(&rt.table),
                    limit = SWEEP_BATCH + 1,
                ),
                vec![value_arg(field.value_type(), lo), value_arg(field.value_type(), hi)],
            )
            .await?;
        let time = self.time_context(now);
        // A full batch may leave candidates unread: the watermark then moves only to the
        // earliest fire time not yet covered, and the next round goes on from there.
        let mut until = horizon;
        let full = rows.len() > SWEEP_BATCH;
        let mut written = 0;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows.iter().take(SWEEP_BATCH) {
            let value = stored_value(row, field.value_type())?;
            if let Some(fire) = rule.fire_time(&time, &value) {
                candidates.push((row.req_uuid("id")?, fire));
            }
        }
        if full {
            if let Some(last) = rows
                .last()
                .map(|r| stored_value(r, field.value_type()))
                .transpose()?
            {
                if let Some(fire) = rule.fire_time(&time, &last) {
                    until = until.min(fire - Duration::seconds(1)).max(watermark);
                }
            }
        }
        for (id, fire) in candidates {
            if fire <= watermark || fire > until {
                continue;
            }
            if flow.def.trigger.filter().is_some() {
                let Some(stored) = crate::records::rows::load(&mut conn, &rt, id, false).await?
                else {
                    continue;
                };
                let plain =
                    crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
                if !self.trigger_holds(flow, &plain, now)? {
                    continue;
                }
            }
            self.schedule_timer(&mut conn, &flow.def.name, id, fire, fire, now)
                .await?;
            written += 1;
        }
        conn.execute(
            "UPDATE flow_sweeps SET watermark = $2 WHERE flow = $1",
            vec![Arg::from(flow.def.name.as_str()), Arg::from(until)],
        )
        .await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Whether `event` could move a date-relative timer. A date rule watches one date or
    /// datetime field (checked when the flow is saved), so a create or update that sets none
    /// cannot, and needs no look at the sweeps. Anything not known here counts as could.
    fn may_move_timers(&self, event: &ChangeEvent) -> bool {
        if !matches!(event.op, ChangeOp::Create | ChangeOp::Update) {
            return true;
        }
        let Some(rt) = self.catalog.cached(&event.entity) else {
            return true;
        };
        event.changed_fields.iter().any(|name| {
            rt.definition()
                .field(name)
                .is_none_or(|f| matches!(f.value_type(), FieldType::Date | FieldType::Datetime))
        })
    }

    /// Inside a record write's transaction: a record whose date moved gets its pending timers
    /// moved; a deleted record loses them. Later fire times are left to the sweep.
    pub(crate) async fn move_timers(
        &self,
        conn: &mut Conn<'_>,
        events: &[ChangeEvent],
    ) -> Result<()> {
        if !events.iter().any(|e| self.may_move_timers(e)) {
            return Ok(());
        }
        // Read through the write's own connection: a write holding its transaction never waits
        // for a second connection (many writes at once would exhaust the pool).
        let rows = conn
            .fetch_all(
                "SELECT s.flow AS flow, f.version AS version FROM flow_sweeps s \
                 JOIN flows f ON f.name = s.flow WHERE f.enabled = $1 AND f.deleted_at IS NULL",
                vec![Arg::Bool(Some(true))],
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut flows = Vec::with_capacity(rows.len());
        for row in &rows {
            let name = row.req_text("flow")?;
            flows.push(
                self.compiled_flow_on(conn, &name, row.req_int("version")?)
                    .await?,
            );
        }
        let rules: Vec<(&Arc<CompiledFlow>, DateRule<'_>)> = flows
            .iter()
            .filter_map(|f| DateRule::of(&f.def.trigger).map(|r| (f, r)))
            .collect();
        if rules.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let time = self.time_context(now);
        for event in events {
            for (flow, rule) in &rules {
                if flow.def.trigger.entity() != Some(event.entity.as_str()) {
                    continue;
                }
                if event.op == ChangeOp::Update
                    && !event.changed_fields.iter().any(|f| f == rule.field)
                {
                    continue;
                }
                let name = flow.def.name.as_str();
                // The share lock keeps a sweep of this flow from running between our read of
                // the watermark and our commit.
                let lock = if conn.backend() == Backend::Postgres {
                    " FOR SHARE"
                } else {
                    ""
                };
                let Some(row) = conn
                    .fetch_optional(
                        &format!("SELECT watermark FROM flow_sweeps WHERE flow = $1{lock}"),
                        vec![Arg::from(name)],
                    )
                    .await?
                else {
                    continue;
                };
                let watermark = row.req_time("watermark")?;
                let cancelled = jobs::cancel_by_dedupe_prefix(
                    conn,
                    &jobs::timer_prefix(name, event.record_id),
                    now,
                )
                .await?;
                if event.op == ChangeOp::Delete {
                    continue;
                }
                // The write loaded its entity a moment ago: no second connection for it.
                let Some(rt): Option<Arc<EntityRuntime>> = self.catalog.cached(&event.entity)
                else {
                    continue;
                };
                let Some(stored) =
                    crate::records::rows::load(conn, &rt, event.record_id, false).await?
                else {
                    continue;
                };
                let plain =
                    crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
                let Some(fire) = plain.get(rule.field).and_then(|v| rule.fire_time(&time, v))
                else {
                    continue;
                };
                if !self.trigger_holds(flow, &plain, now)? {
                    continue;
                }
                if fire > now && fire <= watermark {
                    self.schedule_timer(conn, name, event.record_id, fire, fire, now)
                        .await?;
                } else if fire <= now && cancelled > 0 {
                    // Moved to a time already past while its old time had not come: at once.
                    self.schedule_timer(conn, name, event.record_id, fire, now, now)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// A due timer: starts the run when the record still fires at this time.
    pub(crate) async fn run_timer(&self, job: LeasedJob) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        match jobs::complete(&mut conn, &job, now).await {
            Err(EngineError::LeaseLost { .. }) => return Ok(()),
            other => other?,
        }
        let flow_name = job
            .payload
            .get("flow")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let record = job
            .payload
            .get("record")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let fire_at = job
            .payload
            .get("fire_at")
            .and_then(Value::as_str)
            .and_then(parse_datetime);
        let (Some(record), Some(fire_at)) = (record, fire_at) else {
            return tx.commit().await;
        };
        let Some(row) = conn
            .fetch_optional(
                "SELECT version, enabled_at FROM flows WHERE name = $1 AND enabled = $2 AND deleted_at IS NULL",
                vec![Arg::from(flow_name.as_str()), Arg::Bool(Some(true))],
            )
            .await?
        else {
            return tx.commit().await;
        };
        if row.time("enabled_at")?.is_some_and(|at| fire_at <= at) {
            return tx.commit().await;
        }
        let flow = self
            .compiled_flow(&flow_name, row.req_int("version")?)
            .await?;
        let (Some(rule), Some(entity)) =
            (DateRule::of(&flow.def.trigger), flow.def.trigger.entity())
        else {
            return tx.commit().await;
        };
        let rt = self.entity(entity).await?;
        let Some(stored) = crate::records::rows::load(&mut conn, &rt, record, true)
            .await?
            .filter(|r| r.deleted_at.is_none())
        else {
            return tx.commit().await;
        };
        let plain = crate::records::projection::unseal_owned(&rt, stored.sealed, &self.keys)?;
        let time = self.time_context(now);
        if plain.get(rule.field).and_then(|v| rule.fire_time(&time, v)) != Some(fire_at)
            || !self.trigger_holds(&flow, &plain, now)?
        {
            return tx.commit().await;
        }
        let id = Uuid::now_v7();
        let trigger = json!({"type": "date_relative", "entity": entity, "record_id": record,
                             "version": stored.version, "field": rule.field, "fire_at": crate::records::wire_time(fire_at)});
        conn.execute(
            "INSERT INTO flow_runs (id, flow, flow_version, status, depth, trigger_info, entity, record_id, started_by, created_at, updated_at) \
             VALUES ($1, $2, $3, 'running', 0, $4, $5, $6, $7, $8, $8)",
            vec![
                Arg::from(id),
                Arg::from(flow_name.as_str()),
                Arg::from(flow.version),
                Arg::Json(Some(trigger)),
                Arg::from(entity),
                Arg::from(record),
                Arg::from("timer"),
                Arg::from(now),
            ],
        )
        .await?;
        enqueue_start(&mut conn, &flow, id, now).await?;
        tx.commit().await?;
        self.wake_flow_worker();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ctx() -> TimeContext {
        TimeContext {
            now: datetime!(2026-11-24 00:00 UTC),
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        }
    }

    #[test]
    fn three_days_after_surgery_at_nine_beijing_time() {
        let trigger: Trigger =
            serde_json::from_value(json!({"type": "date_relative", "entity": "surgery",
            "field": "surgery_date", "offset": {"days": 3}, "at": "09:00"}))
            .unwrap();
        let rule = DateRule::of(&trigger).unwrap();
        // 23:30 on the 24th in Beijing is 15:30 UTC: the local date is the 24th.
        let fire = rule
            .fire_time(&ctx(), &json!("2026-11-24T15:30:00.000000Z"))
            .unwrap();
        assert_eq!(fire, datetime!(2026-11-27 01:00 UTC));
        let fire = rule.fire_time(&ctx(), &json!("2026-11-24")).unwrap();
        assert_eq!(fire, datetime!(2026-11-27 01:00 UTC));
    }

    #[test]
    fn negative_offsets_and_hours() {
        let trigger: Trigger =
            serde_json::from_value(json!({"type": "date_relative", "entity": "visit",
            "field": "at", "offset": {"days": -1, "hours": -2}}))
            .unwrap();
        let rule = DateRule::of(&trigger).unwrap();
        let fire = rule
            .fire_time(&ctx(), &json!("2026-11-24T02:00:00.000000Z"))
            .unwrap();
        assert_eq!(fire, datetime!(2026-11-23 00:00 UTC));
        assert!(rule.fire_time(&ctx(), &json!("not a date")).is_none());
        assert!(rule.fire_time(&ctx(), &Value::Null).is_none());
    }
}
