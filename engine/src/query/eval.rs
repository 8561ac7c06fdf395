//! The in-memory evaluator of the filter grammar: decides whether one record (its JSON
//! document, values in their stored forms) matches a [`FilterExpr`], with the same meaning the
//! SQL compiler (`records::filter`) gives every operator. Pure: no storage, no clock — today's
//! date and the current instant are passed in. Field rules (`visible_if`, `readonly_if`) use
//! it now; flow conditions and the browser app later (the browser's evaluator is checked
//! against the same vectors, `engine/tests/vectors/filter_eval.json`).
//!
//! Meaning, as in SQL:
//! - A missing or null value matches nothing but `ne`, `not_in` and `is_empty`; any other
//!   comparison with it is unknown, as in SQL, and `not` of unknown is unknown (not kept).
//! - `eq`/`ne`/`gt`/`gte`/`lt`/`lte`/`in`/`not_in`/`between` compare numbers as numbers,
//!   dates and datetimes as times, text exactly (case counts).
//! - `contains`/`starts_with` on text ignore case; on a list (tags, multiselect, references)
//!   `eq` and `contains` mean "holds this value", `in` "holds one of them", `ne`/`not_in` their
//!   negations, `is_empty` "holds none".
//! - `is_empty`: missing, null, `""` or `[]`; `not_empty` the opposite.
//! - A subject (`{"entity", "id"}`) equals a filter value naming the same entity and id; only
//!   `eq`, `ne`, `in`, `not_in`, `is_empty` and `not_empty` say anything of it.
//! - `last_n_days`/`next_n_days` from N days before/after today (now, for datetimes) to today
//!   (now), both ends included; `before_n_days`/`after_n_days` strictly before/after that bound;
//!   `this_week` (Monday first), `this_month`, `this_quarter`, `this_year` the calendar period
//!   holding today, in local days; `birthday_in_n_days` the month and day of a date from today
//!   to N days ahead (29 February counts on the 28th in other years).
//! - `exists` needs the database and is refused here.

use super::grammar::{birthday_keys, calendar_period, days_of, FilterExpr, Op, MAX_DEPTH};
use crate::error::{EngineError, Result};
use crate::forms::checks::{parse_date, parse_datetime};
use crate::forms::compiled::subject_parts;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use time::{Date, Duration, OffsetDateTime};

/// The moment a filter is judged at: `now` carries the configured zone's offset, and `today`
/// is the date in that zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalContext {
    pub today: Date,
    pub now: OffsetDateTime,
}

impl EvalContext {
    /// Midday of `today` at `offset`: for callers that know only the date.
    pub fn on(today: Date, offset: time::UtcOffset) -> EvalContext {
        EvalContext {
            today,
            now: today.with_hms(12, 0, 0).map_or_else(
                |_| today.midnight().assume_offset(offset),
                |t| t.assume_offset(offset),
            ),
        }
    }
}

/// Whether `record` matches `filter`.
pub fn evaluate(
    filter: &FilterExpr,
    record: &Map<String, Value>,
    ctx: &EvalContext,
) -> Result<bool> {
    Ok(evaluate_at(filter, record, ctx, 0)?.unwrap_or(false))
}

/// SQL's three-valued logic: `None` is unknown (a comparison with a missing value), which
/// `not` leaves unknown and a filter does not keep.
fn evaluate_at(
    filter: &FilterExpr,
    record: &Map<String, Value>,
    ctx: &EvalContext,
    depth: usize,
) -> Result<Option<bool>> {
    if depth > MAX_DEPTH {
        return Err(EngineError::bad_request("the filter is nested too deeply"));
    }
    match filter {
        FilterExpr::And { and } => {
            let mut out = Some(true);
            for f in and {
                match evaluate_at(f, record, ctx, depth + 1)? {
                    Some(false) => return Ok(Some(false)),
                    None => out = None,
                    Some(true) => {}
                }
            }
            Ok(out)
        }
        FilterExpr::Or { or } => {
            let mut out = Some(false);
            for f in or {
                match evaluate_at(f, record, ctx, depth + 1)? {
                    Some(true) => return Ok(Some(true)),
                    None => out = None,
                    Some(false) => {}
                }
            }
            Ok(out)
        }
        FilterExpr::Not { not } => Ok(evaluate_at(not, record, ctx, depth + 1)?.map(|b| !b)),
        FilterExpr::Exists { .. } => Err(EngineError::bad_request(
            "a test on related records needs the database",
        )),
        FilterExpr::Condition { field, op, value } => {
            condition(record.get(field.as_str()), *op, value, ctx)
        }
        FilterExpr::Segment { .. } => Err(EngineError::bad_request(
            "分群需要数据库，不能在此使用（a segment needs the database and cannot be used here）",
        )),
    }
}

/// A time value of a record: a date, or an instant.
#[derive(Debug, Clone, Copy)]
enum When {
    Day(Date),
    Instant(OffsetDateTime),
}

fn when_of(v: &Value) -> Option<When> {
    let s = v.as_str()?;
    if let Some(d) = parse_date(s) {
        return Some(When::Day(d));
    }
    parse_datetime(s).map(When::Instant)
}

/// Orders a stored value against a filter value: numbers as numbers, dates and datetimes as
/// times, other text by its characters, booleans false < true. `None` when they do not compare.
fn compare(stored: &Value, wanted: &Value) -> Option<Ordering> {
    match (stored, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::String(a), Value::String(b)) => match (when_of(stored), when_of(wanted)) {
            (Some(When::Day(x)), Some(When::Day(y))) => Some(x.cmp(&y)),
            (Some(When::Instant(x)), Some(When::Instant(y))) => Some(x.cmp(&y)),
            _ => Some(a.as_str().cmp(b.as_str())),
        },
        _ => None,
    }
}

fn equals(stored: &Value, wanted: &Value) -> bool {
    match (stored, wanted) {
        // A subject `{"entity", "id"}`: the same entity and id (ids in any letter case).
        (Value::Object(_), Value::Object(_)) => {
            match (subject_parts(stored), subject_parts(wanted)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        }
        _ => compare(stored, wanted) == Some(Ordering::Equal),
    }
}

fn list_of(value: &Value, op: Op) -> Result<&Vec<Value>> {
    value
        .as_array()
        .ok_or_else(|| EngineError::bad_request(format!("{op} needs a list")))
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

fn condition(
    stored: Option<&Value>,
    op: Op,
    value: &Value,
    ctx: &EvalContext,
) -> Result<Option<bool>> {
    // Operators that say something definite of a missing value.
    match op {
        Op::IsEmpty => return Ok(Some(is_empty(stored))),
        Op::NotEmpty => return Ok(Some(!is_empty(stored))),
        _ => {}
    }
    let stored = match stored {
        None | Some(Value::Null) => {
            // Still check the filter's own shape, as the compiler does.
            check_value(op, value)?;
            // `ne` and `not_in` keep missing values; any other comparison is unknown.
            return Ok(matches!(op, Op::Ne | Op::NotIn).then_some(true));
        }
        Some(v) => v,
    };
    if let Value::Array(items) = stored {
        return list_condition(items, op, value).map(Some);
    }
    let ordered = |want: fn(Ordering) -> bool| compare(stored, value).is_some_and(want);
    Ok(Some(match op {
        Op::Eq => equals(stored, value),
        Op::Ne => !equals(stored, value),
        Op::Gt => ordered(Ordering::is_gt),
        Op::Gte => ordered(Ordering::is_ge),
        Op::Lt => ordered(Ordering::is_lt),
        Op::Lte => ordered(Ordering::is_le),
        Op::In => list_of(value, op)?.iter().any(|w| equals(stored, w)),
        Op::NotIn => !list_of(value, op)?.iter().any(|w| equals(stored, w)),
        Op::Between => {
            let [low, high] = list_of(value, op)?.as_slice() else {
                return Err(EngineError::bad_request("between needs [low, high]"));
            };
            compare(stored, low).is_some_and(Ordering::is_ge)
                && compare(stored, high).is_some_and(Ordering::is_le)
        }
        Op::Contains | Op::StartsWith => {
            let wanted = value
                .as_str()
                .ok_or_else(|| EngineError::bad_request(format!("{op} needs text")))?
                .to_lowercase();
            match stored.as_str() {
                Some(s) if op == Op::Contains => s.to_lowercase().contains(&wanted),
                Some(s) => s.to_lowercase().starts_with(&wanted),
                None => false,
            }
        }
        // Answered before the value was looked at.
        Op::IsEmpty | Op::NotEmpty => false,
        Op::LastNDays | Op::NextNDays | Op::BeforeNDays | Op::AfterNDays => {
            let days = days_of(value)?;
            match when_of(stored) {
                Some(When::Day(d)) => relative(op, d, ctx.today, days),
                Some(When::Instant(t)) => relative(op, t, ctx.now, days),
                None => false,
            }
        }
        Op::ThisWeek | Op::ThisMonth | Op::ThisQuarter | Op::ThisYear => {
            let (start, end) = calendar_period(ctx.today, op);
            match when_of(stored) {
                Some(When::Day(d)) => start <= d && d < end,
                Some(When::Instant(t)) => {
                    let offset = ctx.now.offset();
                    let (a, b) = (
                        start.midnight().assume_offset(offset),
                        end.midnight().assume_offset(offset),
                    );
                    a <= t && t < b
                }
                None => false,
            }
        }
        Op::BirthdayInNDays => {
            let days = days_of(value)?;
            match when_of(stored) {
                Some(When::Day(d)) => birthday_keys(ctx.today, days).contains(&format!(
                    "{:02}-{:02}",
                    u8::from(d.month()),
                    d.day()
                )),
                _ => false,
            }
        }
    }))
}

/// The shape checks a missing value still gets: lists for list operators, days for relative
/// dates.
fn check_value(op: Op, value: &Value) -> Result<()> {
    if op.takes_list() {
        list_of(value, op)?;
    }
    if op.takes_days() {
        days_of(value)?;
    }
    Ok(())
}

fn relative<T>(op: Op, x: T, now: T, days: i64) -> bool
where
    T: Copy
        + PartialOrd
        + std::ops::Add<Duration, Output = T>
        + std::ops::Sub<Duration, Output = T>,
{
    let n = Duration::days(days);
    match op {
        Op::LastNDays => now - n <= x && x <= now,
        Op::NextNDays => now <= x && x <= now + n,
        Op::BeforeNDays => x < now - n,
        _ => x > now + n,
    }
}

/// A multi-valued field (tags, multiselect, references) holds values: `eq`/`contains` ask for
/// one of them, `in` for any of a list.
fn list_condition(items: &[Value], op: Op, value: &Value) -> Result<bool> {
    let holds = |w: &Value| items.iter().any(|i| equals(i, w));
    Ok(match op {
        Op::Eq | Op::Contains => holds(value),
        Op::Ne => !holds(value),
        Op::In => list_of(value, op)?.iter().any(holds),
        Op::NotIn => !list_of(value, op)?.iter().any(holds),
        other => {
            return Err(EngineError::bad_request(format!(
                "the operator {other} does not apply to a list"
            )))
        }
    })
}
