//! The six dashboard questions: each chart's spec, the same question in hand-written SQL over
//! the floor's plain tables, and its answer computed in Rust from the generated clinic, so
//! the floor's SQL is checked before it is timed and the engine's answer is checked against
//! the floor's.

use super::common::{bind_of, Bind};
use super::data::{yuan, Clinic, SHANGHAI};
use super::load::backend_of;
use kangdao_engine::store::{Arg, Db};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::BTreeMap;
use time::{Date, Duration, OffsetDateTime};

/// The dashboard's charts, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    PatientsByDept,
    NewPatientsMonthly,
    SpendByTier,
    VisitsWeeklyByDept,
    RevisitRate,
    MedianSpendBySource,
}

pub const CHARTS: [Chart; 6] = [
    Chart::PatientsByDept,
    Chart::NewPatientsMonthly,
    Chart::SpendByTier,
    Chart::VisitsWeeklyByDept,
    Chart::RevisitRate,
    Chart::MedianSpendBySource,
];

/// Days of the new-patients line (18 months) and of the weekly visits (12 weeks).
const MONTHS_18_DAYS: i64 = 548;
const WEEKS_12_DAYS: i64 = 84;

impl Chart {
    pub fn name(self) -> &'static str {
        match self {
            Chart::PatientsByDept => "patients_by_dept",
            Chart::NewPatientsMonthly => "new_patients_monthly",
            Chart::SpendByTier => "spend_by_tier",
            Chart::VisitsWeeklyByDept => "visits_weekly_by_dept",
            Chart::RevisitRate => "revisit_rate",
            Chart::MedianSpendBySource => "median_spend_by_source",
        }
    }

    pub fn label(self) -> Value {
        let (zh, en) = match self {
            Chart::PatientsByDept => ("各科室患者数", "Patients by department"),
            Chart::NewPatientsMonthly => ("近18个月新增患者", "New patients per month"),
            Chart::SpendByTier => ("各等级消费占比", "Spend share by tier"),
            Chart::VisitsWeeklyByDept => ("近12周各科室就诊量", "Visits per week by department"),
            Chart::RevisitRate => ("本月复诊率", "Revisit rate this month"),
            Chart::MedianSpendBySource => ("各来源消费中位数", "Median spend by source"),
        };
        json!({"zh": zh, "en": en})
    }

    pub fn parse(name: &str) -> Option<Chart> {
        CHARTS.into_iter().find(|c| c.name() == name)
    }

    /// The chart spec (docs/reports.md sections 5 and 12).
    pub fn spec(self) -> Value {
        match self {
            Chart::PatientsByDept => json!({
                "entity": "patient", "chart": "bar",
                "dimensions": [{"field": "primary_dept"}],
                "measures": [{"agg": "count"}],
                "sort": [{"by": "count", "dir": "desc"}]}),
            Chart::NewPatientsMonthly => json!({
                "entity": "patient", "chart": "line",
                "dimensions": [{"field": "created_at", "bucket": "month"}],
                "measures": [{"agg": "count"}],
                "filters": {"field": "created_at", "op": "last_n_days", "value": MONTHS_18_DAYS}}),
            Chart::SpendByTier => json!({
                "entity": "patient", "chart": "pie",
                "dimensions": [{"field": "tier"}],
                "measures": [{"agg": "sum", "field": "total_spent"}]}),
            Chart::VisitsWeeklyByDept => json!({
                "entity": "visit", "chart": "area",
                "dimensions": [{"field": "visit_time", "bucket": "week"}, {"field": "dept"}],
                "measures": [{"agg": "count"}],
                "filters": {"field": "visit_time", "op": "last_n_days", "value": WEEKS_12_DAYS}}),
            Chart::RevisitRate => json!({
                "entity": "visit", "chart": "kpi",
                "measures": [{"agg": "ratio", "name": "revisit_rate",
                              "filter": {"field": "return_visit", "op": "eq", "value": true}}],
                "period": {"field": "visit_time", "op": "this_month"},
                "compare": ["previous_period"]}),
            Chart::MedianSpendBySource => json!({
                "entity": "patient", "chart": "bar",
                "dimensions": [{"field": "source"}],
                "measures": [{"agg": "median", "field": "total_spent"}]}),
        }
    }
}

/// One answered cell, in the form both answers are compared in (money in yuan).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
    Null,
}

pub type Rows = Vec<Vec<Cell>>;

/// How to read a floor column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    /// An integer count of fen, answered in yuan.
    Fen,
    Real,
    /// A real count of fen, answered in yuan.
    RealFen,
}

pub struct FloorQuery {
    pub sql: String,
    binds: Vec<Arg>,
    kinds: Vec<Kind>,
}

fn local_date(t: OffsetDateTime) -> Date {
    t.to_offset(SHANGHAI).date()
}

fn local_midnight(d: Date) -> OffsetDateTime {
    d.midnight().assume_offset(SHANGHAI)
}

fn month_start(d: Date) -> Date {
    d.replace_day(1).expect("first of month")
}

fn week_start(d: Date) -> Date {
    d - Duration::days(i64::from(d.weekday().number_days_from_monday()))
}

fn previous_month_start(d: Date) -> Date {
    month_start(month_start(d) - Duration::days(1))
}

fn next_month_start(d: Date) -> Date {
    month_start(month_start(d) + Duration::days(31))
}

fn day_text(d: Date) -> String {
    kangdao_engine::store::db::format_date(d)
}

/// [previous month's first midnight, this month's, next month's), local.
fn kpi_bounds(now: OffsetDateTime) -> [OffsetDateTime; 3] {
    let today = local_date(now);
    [
        local_midnight(previous_month_start(today)),
        local_midnight(month_start(today)),
        local_midnight(next_month_start(today)),
    ]
}

/// The hand-written SQL of a chart on the floor's tables, in the backend's dialect, bucketing
/// in Asia/Shanghai (weeks from Monday, labelled by their first day).
pub fn floor_query(chart: Chart, now: OffsetDateTime, backend: Backend) -> FloorQuery {
    let pg = backend == Backend::Postgres;
    let time = |t: OffsetDateTime| Arg::Time(Some(t));
    let (sql, binds, kinds): (&str, Vec<Arg>, Vec<Kind>) = match chart {
        Chart::PatientsByDept => (
            "SELECT primary_dept, COUNT(*) AS n FROM floor_patient \
             GROUP BY primary_dept ORDER BY n DESC, primary_dept",
            vec![],
            vec![Kind::Text, Kind::Int],
        ),
        Chart::NewPatientsMonthly => (
            if pg {
                "SELECT (date_trunc('month', created_at AT TIME ZONE 'Asia/Shanghai'))::date::text \
                 AS month, COUNT(*) FROM floor_patient \
                 WHERE created_at >= $1 AND created_at <= $2 GROUP BY 1 ORDER BY 1"
            } else {
                "SELECT strftime('%Y-%m-01', created_at, '+8 hours') AS month, COUNT(*) \
                 FROM floor_patient WHERE created_at >= ?1 AND created_at <= ?2 \
                 GROUP BY 1 ORDER BY 1"
            },
            vec![time(now - Duration::days(MONTHS_18_DAYS)), time(now)],
            vec![Kind::Text, Kind::Int],
        ),
        Chart::SpendByTier => (
            if pg {
                "SELECT tier, SUM(total_spent)::bigint FROM floor_patient GROUP BY tier ORDER BY tier"
            } else {
                "SELECT tier, SUM(total_spent) FROM floor_patient GROUP BY tier ORDER BY tier"
            },
            vec![],
            vec![Kind::Text, Kind::Fen],
        ),
        Chart::VisitsWeeklyByDept => (
            if pg {
                "SELECT (date_trunc('week', visit_time AT TIME ZONE 'Asia/Shanghai'))::date::text \
                 AS week, dept, COUNT(*) FROM floor_visit \
                 WHERE visit_time >= $1 AND visit_time <= $2 GROUP BY 1, 2 ORDER BY 1, 2"
            } else {
                "SELECT date(visit_time, '+8 hours', 'weekday 0', '-6 days') AS week, dept, \
                 COUNT(*) FROM floor_visit WHERE visit_time >= ?1 AND visit_time <= ?2 \
                 GROUP BY 1, 2 ORDER BY 1, 2"
            },
            vec![time(now - Duration::days(WEEKS_12_DAYS)), time(now)],
            vec![Kind::Text, Kind::Text, Kind::Int],
        ),
        Chart::RevisitRate => {
            let [previous, current, next] = kpi_bounds(now);
            (
                if pg {
                    "SELECT CASE WHEN visit_time >= $2 THEN 'current' ELSE 'previous' END, \
                     AVG(CASE WHEN return_visit THEN 1.0 ELSE 0.0 END)::float8 FROM floor_visit \
                     WHERE visit_time >= $1 AND visit_time < $3 GROUP BY 1 ORDER BY 1"
                } else {
                    "SELECT CASE WHEN visit_time >= ?2 THEN 'current' ELSE 'previous' END, \
                     AVG(return_visit) FROM floor_visit \
                     WHERE visit_time >= ?1 AND visit_time < ?3 GROUP BY 1 ORDER BY 1"
                },
                vec![time(previous), time(current), time(next)],
                vec![Kind::Text, Kind::Real],
            )
        }
        Chart::MedianSpendBySource => (
            if pg {
                "SELECT source, (percentile_cont(0.5) WITHIN GROUP (ORDER BY total_spent))::float8 \
                 FROM floor_patient GROUP BY source ORDER BY source"
            } else {
                // SQLite has no median: the middle row (or two) of each source by rank.
                "SELECT source, AVG(total_spent) FROM (SELECT source, total_spent, \
                 ROW_NUMBER() OVER (PARTITION BY source ORDER BY total_spent) AS rn, \
                 COUNT(*) OVER (PARTITION BY source) AS n FROM floor_patient \
                 WHERE total_spent IS NOT NULL) WHERE rn IN ((n + 1) / 2, (n + 2) / 2) \
                 GROUP BY source ORDER BY source"
            },
            vec![],
            vec![Kind::Text, Kind::RealFen],
        ),
    };
    FloorQuery {
        sql: sql.to_string(),
        binds,
        kinds,
    }
}

/// Runs a floor query: rows fetched and decoded (the timed part), cells converted after.
pub async fn run_floor(db: &Db, query: &FloorQuery) -> Rows {
    let backend = backend_of(db);
    let binds: Vec<Bind> = query
        .binds
        .iter()
        .cloned()
        .map(|a| bind_of(a, backend))
        .collect();
    match db {
        Db::Sqlite(store) => {
            let mut q = sqlx::query(&query.sql);
            for b in binds {
                q = match b {
                    Bind::Text(v) => q.bind(v),
                    Bind::Int(v) => q.bind(v),
                    Bind::Real(v) => q.bind(v),
                    Bind::Bool(v) => q.bind(v),
                    other => panic!("not bound on SQLite: {other:?}"),
                };
            }
            let rows = q.fetch_all(store.pool()).await.expect("floor query");
            rows.iter()
                .map(|r| {
                    query
                        .kinds
                        .iter()
                        .enumerate()
                        .map(|(i, k)| match k {
                            Kind::Text => text_cell(r.get::<Option<String>, _>(i)),
                            Kind::Int => int_cell(r.get::<Option<i64>, _>(i), false),
                            Kind::Fen => int_cell(r.get::<Option<i64>, _>(i), true),
                            Kind::Real => real_cell(r.get::<Option<f64>, _>(i), false),
                            Kind::RealFen => real_cell(r.get::<Option<f64>, _>(i), true),
                        })
                        .collect()
                })
                .collect()
        }
        Db::Postgres(pool) => {
            let mut q = sqlx::query(&query.sql);
            for b in binds {
                q = match b {
                    Bind::Text(v) => q.bind(v),
                    Bind::Int(v) => q.bind(v),
                    Bind::Real(v) => q.bind(v),
                    Bind::Bool(v) => q.bind(v),
                    Bind::Uuid(v) => q.bind(v),
                    Bind::Time(v) => q.bind(v),
                    Bind::Date(v) => q.bind(v),
                };
            }
            let rows = q.fetch_all(pool).await.expect("floor query");
            rows.iter()
                .map(|r| {
                    query
                        .kinds
                        .iter()
                        .enumerate()
                        .map(|(i, k)| match k {
                            Kind::Text => text_cell(r.get::<Option<String>, _>(i)),
                            Kind::Int => int_cell(r.get::<Option<i64>, _>(i), false),
                            Kind::Fen => int_cell(r.get::<Option<i64>, _>(i), true),
                            Kind::Real => real_cell(r.get::<Option<f64>, _>(i), false),
                            Kind::RealFen => real_cell(r.get::<Option<f64>, _>(i), true),
                        })
                        .collect()
                })
                .collect()
        }
    }
}

fn text_cell(v: Option<String>) -> Cell {
    v.map(Cell::Text).unwrap_or(Cell::Null)
}

fn int_cell(v: Option<i64>, fen: bool) -> Cell {
    match v {
        Some(n) if fen => Cell::Num(yuan(n)),
        Some(n) => Cell::Int(n),
        None => Cell::Null,
    }
}

fn real_cell(v: Option<f64>, fen: bool) -> Cell {
    match v {
        Some(x) if fen => Cell::Num(x / 100.0),
        Some(x) => Cell::Num(x),
        None => Cell::Null,
    }
}

/// The chart's answer computed in Rust from the generated rows, in the floor's row order.
pub fn expected(chart: Chart, clinic: &Clinic) -> Rows {
    let now = clinic.now;
    let text = |s: &str| Cell::Text(s.to_string());
    match chart {
        Chart::PatientsByDept => {
            let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
            for p in &clinic.patients {
                *counts.entry(p.primary_dept).or_default() += 1;
            }
            let mut rows: Vec<(&str, i64)> = counts.into_iter().collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            rows.into_iter()
                .map(|(d, n)| vec![text(d), Cell::Int(n)])
                .collect()
        }
        Chart::NewPatientsMonthly => {
            let from = now - Duration::days(MONTHS_18_DAYS);
            let mut counts: BTreeMap<Date, i64> = BTreeMap::new();
            for p in clinic
                .patients
                .iter()
                .filter(|p| p.created_at >= from && p.created_at <= now)
            {
                *counts
                    .entry(month_start(local_date(p.created_at)))
                    .or_default() += 1;
            }
            counts
                .into_iter()
                .map(|(m, n)| vec![Cell::Text(day_text(m)), Cell::Int(n)])
                .collect()
        }
        Chart::SpendByTier => {
            let mut sums: BTreeMap<&str, Option<i64>> = BTreeMap::new();
            for p in &clinic.patients {
                let sum = sums.entry(p.tier).or_default();
                if let Some(fen) = p.total_spent_fen {
                    *sum = Some(sum.unwrap_or(0) + fen);
                }
            }
            sums.into_iter()
                .map(|(t, s)| vec![text(t), s.map(|f| Cell::Num(yuan(f))).unwrap_or(Cell::Null)])
                .collect()
        }
        Chart::VisitsWeeklyByDept => {
            let from = now - Duration::days(WEEKS_12_DAYS);
            let mut counts: BTreeMap<(Date, &str), i64> = BTreeMap::new();
            for v in clinic
                .visits
                .iter()
                .filter(|v| v.visit_time >= from && v.visit_time <= now)
            {
                *counts
                    .entry((week_start(local_date(v.visit_time)), v.dept))
                    .or_default() += 1;
            }
            counts
                .into_iter()
                .map(|((w, d), n)| vec![Cell::Text(day_text(w)), text(d), Cell::Int(n)])
                .collect()
        }
        Chart::RevisitRate => {
            let [previous, current, next] = kpi_bounds(now);
            let rate = |from: OffsetDateTime, to: OffsetDateTime| {
                let (mut n, mut returning) = (0u64, 0u64);
                for v in clinic
                    .visits
                    .iter()
                    .filter(|v| v.visit_time >= from && v.visit_time < to)
                {
                    n += 1;
                    returning += u64::from(v.return_visit);
                }
                if n == 0 {
                    Cell::Null
                } else {
                    Cell::Num(returning as f64 / n as f64)
                }
            };
            vec![
                vec![text("current"), rate(current, next)],
                vec![text("previous"), rate(previous, current)],
            ]
        }
        Chart::MedianSpendBySource => {
            let mut values: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
            for p in &clinic.patients {
                let v = values.entry(p.source).or_default();
                if let Some(fen) = p.total_spent_fen {
                    v.push(fen);
                }
            }
            values
                .into_iter()
                .map(|(s, mut v)| {
                    v.sort_unstable();
                    let median = match v.len() {
                        0 => Cell::Null,
                        n if n % 2 == 1 => Cell::Num(yuan(v[n / 2])),
                        n => Cell::Num((v[n / 2 - 1] + v[n / 2]) as f64 / 200.0),
                    };
                    vec![text(s), median]
                })
                .collect()
        }
    }
}

/// Equal answers: the same rows in the same order, numbers within half a fen (a median of
/// money is rounded to the fen) or a millionth of their size.
pub fn same_rows(what: &str, got: &Rows, want: &Rows) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} rows, expected {}\n got  {got:?}\n want {want:?}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = g.len() == w.len()
            && g.iter().zip(w).all(|(a, b)| match (a, b) {
                (Cell::Num(x), Cell::Num(y)) => close(*x, *y),
                (Cell::Int(x), Cell::Num(y)) | (Cell::Num(y), Cell::Int(x)) => close(*x as f64, *y),
                _ => a == b,
            });
        if !same {
            return Err(format!("{what}: row {i} is {g:?}, expected {w:?}"));
        }
    }
    Ok(())
}

fn close(x: f64, y: f64) -> bool {
    (x - y).abs() <= 0.0051 || (x - y).abs() <= 1e-6 * x.abs().max(y.abs())
}
