//! Dates, datetimes and durations in expressions. Dates are `YYYY-MM-DD` strings and datetimes
//! the stored fixed-width UTC form, so text order is time order. "Today", "now" and the local
//! day of a datetime come from the context the caller sets for one evaluation: the engine's
//! clock and configured zone, never the machine's.

use crate::forms::checks::{format_date, format_datetime_utc, parse_date, parse_datetime};
use rhai::{Engine, EvalAltResult, FLOAT, INT};
use std::cell::RefCell;
use time::{Date, OffsetDateTime, Time, UtcOffset};

/// What time-dependent helpers read during one evaluation.
#[derive(Debug, Clone)]
pub struct TimeContext {
    pub now: OffsetDateTime,
    pub timezone: jiff::tz::TimeZone,
}

impl TimeContext {
    pub fn offset_at(&self, at: OffsetDateTime) -> UtcOffset {
        offset_in(&self.timezone, at)
    }

    pub fn today(&self) -> Date {
        self.now.to_offset(self.offset_at(self.now)).date()
    }

    /// The instant of `time` local on `date`.
    pub fn local_instant(&self, date: Date, time: Time) -> OffsetDateTime {
        let civil = jiff::civil::DateTime::new(
            date.year() as i16,
            u8::from(date.month()) as i8,
            date.day() as i8,
            time.hour() as i8,
            time.minute() as i8,
            time.second() as i8,
            time.nanosecond() as i32,
        );
        let nanos = civil
            .ok()
            .and_then(|c| c.to_zoned(self.timezone.clone()).ok())
            .map(|z| z.timestamp().as_nanosecond());
        match nanos.and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok()) {
            Some(t) => t,
            None => date.with_time(time).assume_utc(),
        }
    }
}

fn offset_in(tz: &jiff::tz::TimeZone, at: OffsetDateTime) -> UtcOffset {
    let seconds = jiff::Timestamp::from_second(at.unix_timestamp())
        .map(|ts| tz.to_offset(ts).seconds())
        .unwrap_or(0);
    UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
}

thread_local! {
    static CONTEXT: RefCell<Option<TimeContext>> = const { RefCell::new(None) };
}

/// Runs `f` with `ctx` as the context of the helpers called on this thread.
pub fn with_context<T>(ctx: &TimeContext, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<TimeContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CONTEXT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CONTEXT.with(|c| c.borrow_mut().replace(ctx.clone())));
    f()
}

type FnResult<T> = Result<T, Box<EvalAltResult>>;

fn context() -> FnResult<TimeContext> {
    CONTEXT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| "stopped".into())
}

fn fail<T>(code: &str) -> FnResult<T> {
    Err(code.into())
}

/// A span of calendar days and hours, made by `days(n)` and `hours(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration {
    pub days: i64,
    pub hours: i64,
}

/// A date or a datetime, as an expression holds it.
enum Moment {
    Date(Date),
    DateTime(OffsetDateTime),
}

fn moment(s: &str) -> FnResult<Moment> {
    if let Some(d) = parse_date(s) {
        return Ok(Moment::Date(d));
    }
    match parse_datetime(s) {
        Some(t) => Ok(Moment::DateTime(t)),
        None => fail("not_a_date"),
    }
}

fn local_date(ctx: &TimeContext, m: &Moment) -> Date {
    match m {
        Moment::Date(d) => *d,
        Moment::DateTime(t) => t.to_offset(ctx.offset_at(*t)).date(),
    }
}

fn shift(s: &str, span: Duration, sign: i64) -> FnResult<String> {
    let ctx = context()?;
    let days = span.days.checked_mul(sign).ok_or("arithmetic")?;
    let hours = span.hours.checked_mul(sign).ok_or("arithmetic")?;
    let moment = moment(s)?;
    if let (Moment::Date(d), 0) = (&moment, hours) {
        return d
            .checked_add(time::Duration::days(days))
            .map(format_date)
            .ok_or_else(|| "arithmetic".into());
    }
    // Calendar days move the local date and keep the local time; hours are elapsed time.
    let start = match moment {
        Moment::Date(d) => ctx.local_instant(d, Time::MIDNIGHT),
        Moment::DateTime(t) => t,
    };
    let local = start.to_offset(ctx.offset_at(start));
    let date = local
        .date()
        .checked_add(time::Duration::days(days))
        .ok_or("arithmetic")?;
    let moved = ctx.local_instant(date, local.time());
    let moved = moved
        .checked_add(time::Duration::hours(hours))
        .ok_or("arithmetic")?;
    if !(1..=9999).contains(&moved.to_offset(UtcOffset::UTC).year()) {
        return fail("arithmetic");
    }
    Ok(format_datetime_utc(moved.to_offset(UtcOffset::UTC)))
}

fn time_of_day(s: &str) -> FnResult<Time> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return fail("not_a_time");
    }
    let hour: u8 = s[..2].parse().map_err(|_| "not_a_time")?;
    let minute: u8 = s[3..].parse().map_err(|_| "not_a_time")?;
    Time::from_hms(hour, minute, 0).map_err(|_| "not_a_time".into())
}

fn whole_years(from: Date, to: Date) -> INT {
    let mut years = INT::from(to.year()) - INT::from(from.year());
    if (u8::from(to.month()), to.day()) < (u8::from(from.month()), from.day()) {
        years -= 1;
    }
    years
}

fn date_arg(s: &str) -> FnResult<Date> {
    match moment(s)? {
        Moment::Date(d) => Ok(d),
        m @ Moment::DateTime(_) => Ok(local_date(&context()?, &m)),
    }
}

/// Registers the date helpers and the duration type on the sandbox.
pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Duration>("duration");
    engine.register_fn("today", || -> FnResult<String> {
        Ok(format_date(context()?.today()))
    });
    engine.register_fn("now", || -> FnResult<String> {
        Ok(format_datetime_utc(
            context()?.now.to_offset(UtcOffset::UTC),
        ))
    });
    engine.register_fn("days", |n: INT| Duration { days: n, hours: 0 });
    engine.register_fn("hours", |n: INT| Duration { days: 0, hours: n });
    engine.register_fn("+", |a: Duration, b: Duration| Duration {
        days: a.days.saturating_add(b.days),
        hours: a.hours.saturating_add(b.hours),
    });
    engine.register_fn("+", |s: &str, d: Duration| shift(s, d, 1));
    engine.register_fn("+", |d: Duration, s: &str| shift(s, d, 1));
    engine.register_fn("-", |s: &str, d: Duration| shift(s, d, -1));
    engine.register_fn("+", |_: (), _: Duration| -> FnResult<String> {
        fail("empty_value")
    });
    engine.register_fn("-", |_: (), _: Duration| -> FnResult<String> {
        fail("empty_value")
    });
    engine.register_fn("at", |d: &str, at: &str| -> FnResult<String> {
        let ctx = context()?;
        let date = local_date(&ctx, &moment(d)?);
        let instant = ctx.local_instant(date, time_of_day(at)?);
        Ok(format_datetime_utc(instant.to_offset(UtcOffset::UTC)))
    });
    engine.register_fn("date_of", |d: &str| -> FnResult<String> {
        let ctx = context()?;
        Ok(format_date(local_date(&ctx, &moment(d)?)))
    });
    engine.register_fn("hours_between", |a: &str, b: &str| -> FnResult<FLOAT> {
        let ctx = context()?;
        let instant = |m: Moment| match m {
            Moment::Date(d) => ctx.local_instant(d, Time::MIDNIGHT),
            Moment::DateTime(t) => t,
        };
        let (a, b) = (instant(moment(a)?), instant(moment(b)?));
        Ok((b - a).as_seconds_f64() / 3600.0)
    });
    engine.register_fn("days_between", |a: &str, b: &str| -> FnResult<INT> {
        Ok((date_arg(b)? - date_arg(a)?).whole_days())
    });
    engine.register_fn("age", |birth: &str| -> FnResult<INT> {
        Ok(whole_years(date_arg(birth)?, context()?.today()))
    });
    engine.register_fn("year", |d: &str| -> FnResult<INT> {
        Ok(INT::from(date_arg(d)?.year()))
    });
    engine.register_fn("month", |d: &str| -> FnResult<INT> {
        Ok(INT::from(u8::from(date_arg(d)?.month())))
    });
    // An empty field given to a date helper is an empty value, not a type error.
    for name in ["days_between", "hours_between"] {
        engine.register_fn(name, |_: (), _: &str| -> FnResult<INT> {
            fail("empty_value")
        });
        engine.register_fn(name, |_: &str, _: ()| -> FnResult<INT> {
            fail("empty_value")
        });
    }
    for name in ["age", "year", "month", "date_of"] {
        engine.register_fn(name, |_: ()| -> FnResult<INT> { fail("empty_value") });
    }
    engine.register_fn("at", |_: (), _: &str| -> FnResult<String> {
        fail("empty_value")
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ctx() -> TimeContext {
        TimeContext {
            // 2026-03-01 00:30 in Beijing.
            now: datetime!(2026-02-28 16:30 UTC),
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        }
    }

    #[test]
    fn today_is_the_local_date() {
        with_context(&ctx(), || {
            assert_eq!(format_date(context().unwrap().today()), "2026-03-01");
        });
    }

    #[test]
    fn adding_days_to_a_date_gives_a_date_and_hours_a_datetime() {
        with_context(&ctx(), || {
            assert_eq!(
                shift("2026-02-27", Duration { days: 3, hours: 0 }, 1).unwrap(),
                "2026-03-02"
            );
            assert_eq!(
                shift("2026-02-27", Duration { days: 0, hours: 9 }, 1).unwrap(),
                "2026-02-27T01:00:00.000000Z",
                "00:00 Beijing plus 9 hours is 01:00 UTC"
            );
            assert_eq!(
                shift(
                    "2026-02-27T23:00:00.000000Z",
                    Duration { days: 3, hours: 0 },
                    1
                )
                .unwrap(),
                "2026-03-02T23:00:00.000000Z"
            );
        });
    }

    #[test]
    fn at_takes_the_local_date_of_a_datetime() {
        with_context(&ctx(), || {
            let ctx = context().unwrap();
            // 23:30 UTC on the 27th is 07:30 on the 28th in Beijing.
            let date = local_date(&ctx, &moment("2026-02-27T23:30:00.000000Z").unwrap());
            assert_eq!(format_date(date), "2026-02-28");
            let nine = ctx.local_instant(date, time_of_day("09:00").unwrap());
            assert_eq!(format_datetime_utc(nine), "2026-02-28T01:00:00.000000Z");
        });
    }

    #[test]
    fn helpers_refuse_bad_input_with_codes() {
        with_context(&ctx(), || {
            assert!(moment("13812345678").is_err());
            assert!(time_of_day("9:00").is_err());
            assert!(time_of_day("24:00").is_err());
        });
        assert!(context().is_err(), "no context outside an evaluation");
    }
}
