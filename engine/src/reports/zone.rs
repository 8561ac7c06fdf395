//! Local dates and time buckets in the configured zone, as SQL over stored instants, and the
//! local-day bounds of periods. PostgreSQL converts with `AT TIME ZONE` and the zone's name
//! bound; SQLite adds the zone's offset to the UTC text (fixed-width
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ`), one constant where the zone keeps one offset, else a CASE
//! over its transitions, newest first.

use super::custom;
use super::spec::Bucket;
use crate::forms::FieldType;
use crate::store::db::sqlite_timestamp;
use crate::store::Backend;
use jiff::tz::TimeZone;
use sea_query::Expr;
use time::{Date, Duration, Month, OffsetDateTime};

/// Transitions before this instant are left out of SQLite's CASE: records before 2000 take the
/// offset in force then (Asia/Shanghai's summer times ended in 1991).
const OLDEST_TRANSITION_UNIX: i64 = 946_684_800;
/// How far ahead transitions are listed (future appointments).
const FUTURE_YEARS: i64 = 30;

/// The zone as SQL needs it.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    tz: TimeZone,
    backend: Backend,
}

impl Zone {
    pub fn new(tz: TimeZone, backend: Backend) -> Zone {
        Zone { tz, backend }
    }

    /// The local midnight starting `day`, as an instant.
    pub fn midnight(&self, day: Date) -> OffsetDateTime {
        let civil = jiff::civil::date(
            day.year() as i16,
            u8::from(day.month()) as i8,
            day.day() as i8,
        );
        let seconds = civil
            .to_zoned(self.tz.clone())
            .map(|z| z.timestamp().as_second())
            .unwrap_or_else(|_| day.midnight().assume_utc().unix_timestamp());
        OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The SQLite `date()` modifier shifting a UTC instant to local time: `'+28800 seconds'`,
    /// or a CASE over the zone's transitions. Every literal is ours, never the caller's.
    fn sqlite_shift(&self, column: Expr) -> Expr {
        let modifier = |seconds: i32| format!("'{seconds:+} seconds'");
        let now = jiff::Timestamp::now();
        let horizon = now
            .checked_add(jiff::SignedDuration::from_hours(24 * 366 * FUTURE_YEARS))
            .unwrap_or(now);
        let oldest = jiff::Timestamp::from_second(OLDEST_TRANSITION_UNIX).unwrap_or(now);
        let transitions: Vec<(i64, i32)> = self
            .tz
            .preceding(horizon)
            .take_while(|t| t.timestamp() > oldest)
            .map(|t| (t.timestamp().as_second(), t.offset().seconds()))
            .collect();
        let before_all = self.tz.to_offset(oldest).seconds();
        if transitions.is_empty() {
            return Expr::cust(modifier(before_all));
        }
        let mut sql = String::from("CASE");
        for (at, offset) in &transitions {
            let at = OffsetDateTime::from_unix_timestamp(*at).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            sql.push_str(&format!(
                " WHEN $1 >= '{}' THEN {}",
                sqlite_timestamp(at),
                modifier(*offset)
            ));
        }
        sql.push_str(&format!(" ELSE {} END", modifier(before_all)));
        custom(self.backend, sql, [column])
    }

    /// The bucket's first day (SQL, a date) of a date or datetime column: one conversion per
    /// row (PostgreSQL: `date_trunc` of the local timestamp; SQLite: one `date()` with the
    /// shift and the bucket's modifiers).
    pub fn bucket(&self, column: Expr, field_type: FieldType, bucket: Bucket) -> Expr {
        let datetime = field_type == FieldType::Datetime;
        match self.backend {
            Backend::Postgres => {
                let zone = Expr::val(self.tz.iana_name().unwrap_or("UTC").to_string());
                let (local, exprs) = if datetime {
                    ("($1 AT TIME ZONE $2)", vec![column, zone])
                } else {
                    ("($1)::timestamp", vec![column])
                };
                let template = match bucket {
                    Bucket::Day if datetime => format!("({local}::date)"),
                    Bucket::Day => "($1)".to_string(),
                    Bucket::Week => format!("(date_trunc('week', {local})::date)"),
                    Bucket::Month => format!("(date_trunc('month', {local})::date)"),
                    Bucket::Quarter => format!("(date_trunc('quarter', {local})::date)"),
                    Bucket::Year => format!("(date_trunc('year', {local})::date)"),
                };
                custom(self.backend, template, exprs)
            }
            Backend::Sqlite => {
                // `$1` the stored text, `$2` the shift to local time (a date has none).
                let (shift, exprs) = if datetime {
                    (", $2", vec![column.clone(), self.sqlite_shift(column)])
                } else {
                    ("", vec![column])
                };
                let template = match bucket {
                    Bucket::Day => format!("date($1{shift})"),
                    Bucket::Week => format!("date($1{shift}, 'weekday 0', '-6 days')"),
                    Bucket::Month => format!("date($1{shift}, 'start of month')"),
                    Bucket::Year => format!("date($1{shift}, 'start of year')"),
                    Bucket::Quarter => format!(
                        "date($1{shift}, 'start of month', '-' || ((CAST(strftime('%m', $1{shift}) AS INTEGER) - 1) % 3) || ' months')"
                    ),
                };
                custom(self.backend, template, exprs)
            }
        }
    }
}

/// The first day of the bucket holding `day`.
pub(crate) fn bucket_start(day: Date, bucket: Bucket) -> Date {
    let first = |month: u8| {
        Date::from_calendar_date(
            day.year(),
            Month::try_from(month).unwrap_or(Month::January),
            1,
        )
        .unwrap_or(day)
    };
    match bucket {
        Bucket::Day => day,
        Bucket::Week => day - Duration::days(i64::from(day.weekday().number_days_from_monday())),
        Bucket::Month => first(u8::from(day.month())),
        Bucket::Quarter => first((u8::from(day.month()) - 1) / 3 * 3 + 1),
        Bucket::Year => first(1),
    }
}

/// The first day of the bucket after the one starting at `start`.
pub(crate) fn next_bucket(start: Date, bucket: Bucket) -> Date {
    let months = |n: u32| {
        let m = u32::from(u8::from(start.month())) - 1 + n;
        let year = start.year() + (m / 12) as i32;
        Date::from_calendar_date(
            year,
            Month::try_from((m % 12) as u8 + 1).unwrap_or(Month::January),
            1,
        )
        .unwrap_or(start)
    };
    match bucket {
        Bucket::Day => start + Duration::days(1),
        Bucket::Week => start + Duration::days(7),
        Bucket::Month => months(1),
        Bucket::Quarter => months(3),
        Bucket::Year => months(12),
    }
}

/// The same date `years` earlier; 29 February becomes 28 February.
pub(crate) fn years_back(day: Date, years: i32) -> Date {
    let year = day.year() - years;
    Date::from_calendar_date(year, day.month(), day.day())
        .or_else(|_| Date::from_calendar_date(year, day.month(), day.day() - 1))
        .unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn buckets_start_on_their_first_day_and_weeks_on_monday() {
        assert_eq!(
            bucket_start(date!(2026 - 10 - 31), Bucket::Month),
            date!(2026 - 10 - 01)
        );
        assert_eq!(
            bucket_start(date!(2026 - 10 - 11), Bucket::Week),
            date!(2026 - 10 - 05)
        );
        assert_eq!(
            bucket_start(date!(2026 - 10 - 05), Bucket::Week),
            date!(2026 - 10 - 05)
        );
        assert_eq!(
            bucket_start(date!(2026 - 08 - 15), Bucket::Quarter),
            date!(2026 - 07 - 01)
        );
        assert_eq!(
            bucket_start(date!(2026 - 12 - 31), Bucket::Year),
            date!(2026 - 01 - 01)
        );
        assert_eq!(
            next_bucket(date!(2026 - 10 - 01), Bucket::Quarter),
            date!(2027 - 01 - 01)
        );
        assert_eq!(
            next_bucket(date!(2026 - 12 - 01), Bucket::Month),
            date!(2027 - 01 - 01)
        );
        assert_eq!(years_back(date!(2028 - 02 - 29), 1), date!(2027 - 02 - 28));
    }

    /// A zone with summer time: SQLite's shift follows the transitions, as `AT TIME ZONE` does.
    #[tokio::test]
    async fn sqlite_local_dates_follow_summer_time() {
        use sea_query::{Alias, Query, SqliteQueryBuilder};
        use sqlx::Row;
        let zone = Zone::new(TimeZone::get("America/New_York").unwrap(), Backend::Sqlite);
        let column = Expr::col(Alias::new("t"));
        let mut select = Query::select();
        select
            .expr_as(
                zone.bucket(column.clone(), FieldType::Datetime, Bucket::Day),
                Alias::new("d"),
            )
            .expr_as(
                zone.bucket(column, FieldType::Datetime, Bucket::Month),
                Alias::new("m"),
            )
            .from(Alias::new("x"))
            .order_by(Alias::new("t"), sea_query::Order::Asc);
        let (sql, _) = select.build(SqliteQueryBuilder);
        assert!(sql.contains("CASE WHEN"), "{sql}");
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE x (t TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        // 23:30 EST (-5) on 31 December; 23:30 EDT (-4) on 30 June; 00:30 EDT on 1 July.
        for t in [
            "2026-01-01T04:30:00.000000Z",
            "2026-07-01T03:30:00.000000Z",
            "2026-07-01T04:30:00.000000Z",
        ] {
            sqlx::query("INSERT INTO x VALUES (?)")
                .bind(t)
                .execute(&pool)
                .await
                .unwrap();
        }
        let rows = sqlx::query(&sql).fetch_all(&pool).await.unwrap();
        let got: Vec<(String, String)> = rows.iter().map(|r| (r.get("d"), r.get("m"))).collect();
        assert_eq!(
            got,
            [
                ("2025-12-31".to_string(), "2025-12-01".to_string()),
                ("2026-06-30".to_string(), "2026-06-01".to_string()),
                ("2026-07-01".to_string(), "2026-07-01".to_string()),
            ]
        );
        let shanghai = Zone::new(TimeZone::get("Asia/Shanghai").unwrap(), Backend::Sqlite);
        let mut select = Query::select();
        select.expr(shanghai.bucket(Expr::col(Alias::new("t")), FieldType::Datetime, Bucket::Day));
        let (sql, _) = select.build(SqliteQueryBuilder);
        assert!(
            sql.contains("'+28800 seconds'") && !sql.contains("CASE"),
            "{sql}"
        );
    }

    #[test]
    fn a_beijing_midnight_is_the_utc_evening_before() {
        let zone = Zone::new(TimeZone::get("Asia/Shanghai").unwrap(), Backend::Sqlite);
        let at = zone.midnight(date!(2026 - 11 - 01));
        assert_eq!(sqlite_timestamp(at), "2026-10-31T16:00:00.000000Z");
    }
}
