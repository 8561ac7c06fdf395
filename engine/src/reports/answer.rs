//! Running a plan and shaping its answer: rows read by their types, empty time buckets
//! filled, top N with others, pages, KPI comparisons, funnel conversions, pivot totals,
//! labels in the caller's language.

use super::compile::{ChartPlan, LabelSource, Span};
use super::kinds::{dim_alias, key_alias, measure_alias, Recorder};
use super::spec::{ChartType, SortDir};
use super::zone::{bucket_start, next_bucket};
use super::{
    ChartAnswer, ChartRun, Column, ComparisonAnswer, Explain, Others, PeriodDates, PivotTotals,
    MAX_FILLED_BUCKETS, MAX_FILLED_ROWS, MAX_ROWS,
};
use crate::access::Principal;
use crate::engine::Engine;
use crate::error::Result;
use crate::forms::{checks, FieldType};
use crate::records::lookups;
use crate::store::{Arg, Conn, DbRow};
use sea_query::{Alias, Expr, ExprTrait, Query};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn read_value(row: &DbRow, name: &str, value_type: FieldType) -> Result<Value> {
    Ok(match value_type {
        FieldType::Integer => row.int(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Money => row
            .int(name)?
            .map(checks::fen_to_json)
            .unwrap_or(Value::Null),
        FieldType::Number => row.real(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Boolean => row.bool(name)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Reference => row
            .uuid(name)?
            .map(|u| Value::from(u.to_string()))
            .unwrap_or(Value::Null),
        FieldType::Date => row
            .date(name)?
            .map(|d| Value::from(checks::format_date(d)))
            .unwrap_or(Value::Null),
        FieldType::Datetime => row
            .time(name)?
            .map(|t| Value::from(crate::records::wire_time(t)))
            .unwrap_or(Value::Null),
        _ => row.text(name)?.map(Value::from).unwrap_or(Value::Null),
    })
}

/// A row as answered, and the keys it orders by (a text dimension's pinyin key).
#[derive(Debug, Clone)]
struct Row {
    values: Vec<Value>,
    keys: Vec<Value>,
}

fn round4(x: f64) -> Value {
    Value::from((x * 10_000.0).round() / 10_000.0)
}

fn share(part: Option<f64>, whole: Option<f64>) -> Value {
    match (part, whole) {
        (Some(p), Some(w)) if w != 0.0 => round4(p / w),
        _ => Value::Null,
    }
}

/// Order of two values as both backends order them: nulls last either way, numbers by
/// value, text byte-wise.
fn compare(a: &Value, b: &Value, desc: bool) -> Ordering {
    let ordering = match (a, b) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Greater,
        (_, Value::Null) => return Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if desc {
        ordering.reverse()
    } else {
        ordering
    }
}

impl ChartPlan {
    fn columns(&self, dims: &[usize]) -> Vec<Column> {
        dims.iter()
            .map(|&i| Column {
                name: self.dims[i].name.clone(),
                column_type: self.dims[i].answer_type.as_str().into(),
            })
            .chain(self.measures.iter().map(|m| Column {
                name: m.name.clone(),
                column_type: m.answer_type.as_str().into(),
            }))
            .collect()
    }

    fn read_rows(&self, dims: &[usize], rows: &[DbRow]) -> Result<Vec<Row>> {
        rows.iter()
            .map(|row| {
                let mut values = Vec::new();
                let mut keys = Vec::new();
                for &i in dims {
                    let d = &self.dims[i];
                    let v = read_value(row, &dim_alias(i), d.answer_type)?;
                    keys.push(if d.pinyin_key.is_some() {
                        row.text(&key_alias(i))?
                            .map(Value::from)
                            .unwrap_or(Value::Null)
                    } else {
                        v.clone()
                    });
                    values.push(v);
                }
                for (j, m) in self.measures.iter().enumerate() {
                    let v = read_value(row, &measure_alias(j), m.answer_type)?;
                    keys.push(v.clone());
                    values.push(v);
                }
                Ok(Row { values, keys })
            })
            .collect()
    }

    /// Sorts rows in memory exactly as `ordered` sorts them in SQL (after filling).
    fn sort_rows(&self, dims: &[usize], rows: &mut [Row]) {
        let position = |index: usize| -> Option<usize> {
            if index < self.dims.len() {
                dims.iter().position(|&d| d == index)
            } else {
                Some(dims.len() + index - self.dims.len())
            }
        };
        let mut keys: Vec<(usize, bool)> = Vec::new();
        for key in &self.spec.sort {
            if let Some(p) = self.column_index(&key.by).and_then(position) {
                keys.push((p, key.dir == Some(SortDir::Desc)));
            }
        }
        keys.extend((0..dims.len()).map(|p| (p, false)));
        rows.sort_by(|a, b| {
            keys.iter()
                .map(|&(p, desc)| compare(&a.keys[p], &b.keys[p], desc))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }

    /// Adds the empty buckets of the time axis (section 3); Some(false) when there are too many.
    fn fill(&self, dims: &[usize], rows: &mut Vec<Row>) -> Option<bool> {
        let axis = dims.iter().position(|&i| self.dims[i].bucket.is_some())?;
        let bucket = self.dims[dims[axis]].bucket?;
        let found: Vec<time::Date> = rows
            .iter()
            .filter_map(|r| r.values[axis].as_str().and_then(checks::parse_date))
            .collect();
        let span = self.fill_span.or_else(|| {
            Some(Span {
                from: *found.iter().min()?,
                to: *found.iter().max()?,
            })
        })?;
        let mut buckets = Vec::new();
        let mut at = bucket_start(span.from, bucket);
        let last = bucket_start(span.to, bucket);
        while at <= last {
            if buckets.len() >= MAX_FILLED_BUCKETS {
                return Some(false);
            }
            buckets.push(checks::format_date(at));
            at = next_bucket(at, bucket);
        }
        let series_at = (dims.len() == 2).then_some(1 - axis);
        let mut series: Vec<(Value, Value)> = Vec::new();
        match series_at {
            Some(s) => {
                for r in rows.iter() {
                    if !series.iter().any(|(v, _)| v == &r.values[s]) {
                        series.push((r.values[s].clone(), r.keys[s].clone()));
                    }
                }
            }
            None => series.push((Value::Null, Value::Null)),
        }
        // Every series gets every bucket: bounded, so a fine axis by a wide series cannot
        // grow without end.
        if buckets.len().saturating_mul(series.len()) > MAX_FILLED_ROWS {
            return Some(false);
        }
        let present: BTreeSet<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.values[axis].as_str().unwrap_or_default().to_string(),
                    series_at
                        .map(|s| r.values[s].to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        let empty: Vec<Value> = self
            .measures
            .iter()
            .map(|m| match (m.zero_when_empty, m.answer_type) {
                (true, FieldType::Money) => checks::fen_to_json(0),
                (true, FieldType::Number) => Value::from(0.0),
                (true, _) => Value::from(0),
                (false, _) => Value::Null,
            })
            .collect();
        for (value, key) in &series {
            for b in &buckets {
                let id = (
                    b.clone(),
                    series_at.map(|_| value.to_string()).unwrap_or_default(),
                );
                if present.contains(&id) {
                    continue;
                }
                let mut values = vec![Value::Null; dims.len()];
                values[axis] = Value::from(b.clone());
                let mut keys = values.clone();
                if let Some(s) = series_at {
                    values[s] = value.clone();
                    keys[s] = key.clone();
                }
                values.extend(empty.iter().cloned());
                keys.extend(empty.iter().cloned());
                rows.push(Row { values, keys });
            }
        }
        self.sort_rows(dims, rows);
        Some(true)
    }

    fn fills(&self) -> bool {
        self.spec.chart.fills_buckets()
            && self.spec.fill != Some(false)
            && self.dims.iter().any(|d| d.bucket.is_some())
    }

    /// Sums rows past the top N in memory (filled charts), in fen for money.
    fn others_of(&self, dims: usize, rest: &[Row]) -> Option<Others> {
        if rest.is_empty() {
            return None;
        }
        let mut values = vec![Value::Null; dims];
        for (j, m) in self.measures.iter().enumerate() {
            let column = rest.iter().map(|r| &r.values[dims + j]);
            values.push(match m.answer_type {
                FieldType::Money => {
                    let fen: Option<i64> = column
                        .filter_map(|v| v.as_f64())
                        .map(|y| (y * 100.0).round() as i64)
                        .reduce(|a, b| a + b);
                    fen.map(checks::fen_to_json).unwrap_or(Value::Null)
                }
                FieldType::Number => column
                    .filter_map(|v| v.as_f64())
                    .reduce(|a, b| a + b)
                    .map(Value::from)
                    .unwrap_or(Value::Null),
                _ => column
                    .filter_map(|v| v.as_i64())
                    .reduce(|a, b| a + b)
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            });
        }
        Some(Others {
            groups: rest.len() as u64,
            values,
        })
    }
}

fn values_of(rows: Vec<Row>) -> Vec<Vec<Value>> {
    rows.into_iter().map(|r| r.values).collect()
}

impl Engine {
    pub(crate) async fn answer_chart(
        &self,
        principal: &Principal,
        plan: &ChartPlan,
        run: &ChartRun,
    ) -> Result<ChartAnswer> {
        let mut recorder = Recorder::default();
        let mut conn = self.db.acquire().await?;
        let mut c = conn.conn();
        lookups::admit(&mut c, self.clock.as_ref(), principal, &plan.masked_lookups).await?;
        let all: Vec<usize> = (0..plan.dims.len()).collect();
        let mut answer = match plan.spec.chart {
            ChartType::Kpi => self.kpi(plan, &mut c, &mut recorder).await?,
            ChartType::Funnel => funnel(plan, &mut c, &mut recorder, run).await?,
            ChartType::Pivot => pivot(plan, &mut c, &mut recorder).await?,
            ChartType::Table => table(plan, &mut c, &mut recorder, &all).await?,
            _ => series(plan, &mut c, &mut recorder, &all).await?,
        };
        if plan.spec.chart != ChartType::Funnel {
            answer.labels = labels(plan, &mut c, &answer, run).await?;
        }
        answer.explain = Some(Explain {
            statements: recorder.statements,
        });
        Ok(answer)
    }

    async fn kpi(
        &self,
        plan: &ChartPlan,
        conn: &mut Conn<'_>,
        recorder: &mut Recorder,
    ) -> Result<ChartAnswer> {
        let columns = plan.columns(&[]);
        let conditions: Vec<Expr> = if plan.kpi_conditions.is_empty() {
            vec![plan.condition.clone()]
        } else {
            plan.kpi_conditions
                .iter()
                .map(|c| plan.condition.clone().and(c.clone()))
                .collect()
        };
        // Every period in one statement: `p` tells them apart.
        let mut union: Option<sea_query::SelectStatement> = None;
        for (p, condition) in conditions.iter().enumerate() {
            let mut one = Query::select();
            one.from_subquery(plan.ordered(&[], condition.clone()), Alias::new("k"));
            one.expr_as(Expr::val(p as i64), Alias::new("p"));
            for j in 0..plan.measures.len() {
                one.expr_as(
                    Expr::col((Alias::new("k"), Alias::new(measure_alias(j)))),
                    Alias::new(measure_alias(j)),
                );
            }
            match &mut union {
                None => union = Some(one),
                Some(u) => {
                    u.union(sea_query::UnionType::All, one);
                }
            }
        }
        let union = union.unwrap_or_else(Query::select);
        let (sql, values) = plan.build(&union);
        let rows = recorder.fetch(conn, sql, values).await?;
        let mut by_period: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        for row in &rows {
            let p = row.int("p")?.unwrap_or_default();
            by_period.insert(
                p,
                plan.read_rows(&[], std::slice::from_ref(row))?[0]
                    .values
                    .clone(),
            );
        }
        let width = plan.measures.len();
        let period_values = |p: i64| {
            by_period
                .get(&p)
                .cloned()
                .unwrap_or(vec![Value::Null; width])
        };
        let current = period_values(0);
        let mut answer = ChartAnswer::new(columns, vec![current.clone()]);
        if let Some(kpi) = &plan.kpi {
            answer.period = Some(PeriodDates {
                from: checks::format_date(kpi.current.from),
                to: checks::format_date(kpi.current.to),
            });
            let mut comparisons = Vec::new();
            for (n, (compare, span)) in kpi.comparisons.iter().enumerate() {
                let values = period_values(n as i64 + 1);
                let change: Vec<Value> = current
                    .iter()
                    .zip(&values)
                    .map(|(a, b)| match (a.as_f64(), b.as_f64()) {
                        (Some(a), Some(b)) => round4(a - b),
                        _ => Value::Null,
                    })
                    .collect();
                let change_ratio = change
                    .iter()
                    .zip(&values)
                    .map(|(c, b)| share(c.as_f64(), b.as_f64()))
                    .collect();
                comparisons.push(ComparisonAnswer {
                    compare: *compare,
                    from: checks::format_date(span.from),
                    to: checks::format_date(span.to),
                    values,
                    change,
                    change_ratio,
                });
            }
            answer.comparisons = Some(comparisons);
        }
        Ok(answer)
    }
}

async fn series(
    plan: &ChartPlan,
    conn: &mut Conn<'_>,
    recorder: &mut Recorder,
    dims: &[usize],
) -> Result<ChartAnswer> {
    let limit = plan.spec.limit.unwrap_or(MAX_ROWS);
    let ordered = plan.ordered(dims, plan.condition.clone());
    let (sql, values) = plan.build(&ordered);
    if plan.fills() {
        // Filling comes before the limit: every group is read, the axis filled, then cut.
        let rows = recorder
            .fetch(conn, format!("{sql} LIMIT {MAX_ROWS}"), values)
            .await?;
        let mut rows = plan.read_rows(dims, &rows)?;
        let filled = plan.fill(dims, &mut rows);
        let rest = if rows.len() as u64 > limit {
            rows.split_off(limit as usize)
        } else {
            Vec::new()
        };
        let mut answer = ChartAnswer::new(plan.columns(dims), values_of(rows));
        answer.filled = filled;
        if plan.spec.others {
            answer.others = plan.others_of(dims.len(), &rest);
        }
        return Ok(answer);
    }
    // A literal, not a bound value: with `LIMIT $1` PostgreSQL's cached generic plan assumes
    // a handful of rows and walks an index instead of a parallel scan. The number is ours.
    let rows = recorder
        .fetch(conn, format!("{sql} LIMIT {limit}"), values)
        .await?;
    let rows = plan.read_rows(dims, &rows)?;
    let full = rows.len() as u64 == limit;
    let mut answer = ChartAnswer::new(plan.columns(dims), values_of(rows));
    if plan.spec.others && full {
        let (sql, values) = plan.others_statement(&ordered, limit);
        let rows = recorder.fetch(conn, sql, values).await?;
        if let Some(row) = rows.first() {
            let groups = row.int("n")?.unwrap_or_default();
            if groups > 0 {
                let mut values = vec![Value::Null; dims.len()];
                for (j, m) in plan.measures.iter().enumerate() {
                    values.push(read_value(row, &measure_alias(j), m.answer_type)?);
                }
                answer.others = Some(Others {
                    groups: groups as u64,
                    values,
                });
            }
        }
    }
    Ok(answer)
}

async fn table(
    plan: &ChartPlan,
    conn: &mut Conn<'_>,
    recorder: &mut Recorder,
    dims: &[usize],
) -> Result<ChartAnswer> {
    let per_page = plan.spec.per_page.unwrap_or(50);
    let page = plan.spec.page.unwrap_or(1);
    let cap = plan.spec.limit.unwrap_or(MAX_ROWS);
    let skip = (page - 1).saturating_mul(per_page);
    let ordered = plan.ordered(dims, plan.condition.clone());
    let (sql, values) = plan.build(&ordered);
    let (rows, total, filled) = if plan.fills() {
        let rows = recorder
            .fetch(conn, format!("{sql} LIMIT {MAX_ROWS}"), values)
            .await?;
        let mut rows = plan.read_rows(dims, &rows)?;
        let filled = plan.fill(dims, &mut rows);
        rows.truncate(cap as usize);
        let total = rows.len() as u64;
        let page_rows: Vec<Row> = rows
            .into_iter()
            .skip(skip as usize)
            .take(per_page as usize)
            .collect();
        (page_rows, total, filled)
    } else {
        let (grouped, count_values) = plan.build(&plan.grouped(dims, plan.condition.clone()));
        let counted = recorder
            .fetch(
                conn,
                format!("SELECT COUNT(*) AS n FROM ({grouped} LIMIT {cap}) AS \"t\""),
                count_values,
            )
            .await?;
        let total = counted
            .first()
            .map(|r| r.int("n"))
            .transpose()?
            .flatten()
            .unwrap_or_default() as u64;
        let take = Ord::min(per_page, cap.saturating_sub(skip));
        let rows = if take == 0 || skip >= total {
            Vec::new()
        } else {
            let rows = recorder
                .fetch(conn, format!("{sql} LIMIT {take} OFFSET {skip}"), values)
                .await?;
            plan.read_rows(dims, &rows)?
        };
        (rows, total, None)
    };
    let mut answer = ChartAnswer::new(plan.columns(dims), values_of(rows));
    answer.page = Some(page);
    answer.per_page = Some(per_page);
    answer.total = Some(total);
    answer.filled = filled;
    Ok(answer)
}

async fn pivot(
    plan: &ChartPlan,
    conn: &mut Conn<'_>,
    recorder: &mut Recorder,
) -> Result<ChartAnswer> {
    let limit = plan.spec.limit.unwrap_or(MAX_ROWS);
    let read = |dims: &'static [usize], limit: u64| {
        let (sql, values) = plan.build(&plan.ordered(dims, plan.condition.clone()));
        (dims, format!("{sql} LIMIT {limit}"), values)
    };
    let cells = read(&[0, 1], limit);
    let mut statements = vec![cells];
    if plan.spec.totals {
        statements.push(read(&[0], MAX_ROWS));
        statements.push(read(&[1], MAX_ROWS));
        statements.push(read(&[], 1));
    }
    let mut answers = Vec::new();
    for (dims, sql, values) in statements {
        let rows = recorder.fetch(conn, sql, values).await?;
        answers.push(values_of(plan.read_rows(dims, &rows)?));
    }
    let mut answers = answers.into_iter();
    let mut answer = ChartAnswer::new(plan.columns(&[0, 1]), answers.next().unwrap_or_default());
    if plan.spec.totals {
        let rows = answers.next().unwrap_or_default();
        let columns = answers.next().unwrap_or_default();
        let grand = answers
            .next()
            .and_then(|g| g.into_iter().next())
            .unwrap_or_else(|| vec![Value::Null; plan.measures.len()]);
        answer.totals = Some(PivotTotals {
            rows,
            columns,
            grand,
        });
    }
    Ok(answer)
}

async fn funnel(
    plan: &ChartPlan,
    conn: &mut Conn<'_>,
    recorder: &mut Recorder,
    run: &ChartRun,
) -> Result<ChartAnswer> {
    let (sql, values) = plan.build(&plan.funnel_statement());
    let rows = recorder.fetch(conn, sql, values).await?;
    let counts: Vec<i64> = match rows.first() {
        Some(row) => (0..plan.stages.len())
            .map(|k| row.int(&format!("s{k}")).map(Option::unwrap_or_default))
            .collect::<Result<_>>()?,
        None => vec![0; plan.stages.len()],
    };
    let first = counts.first().copied().map(|c| c as f64);
    let mut out = Vec::new();
    let mut stage_labels = BTreeMap::new();
    for (k, stage) in plan.spec.stages.iter().enumerate() {
        let count = counts[k] as f64;
        let conversion = if k == 0 {
            Value::Null
        } else {
            share(Some(count), Some(counts[k - 1] as f64))
        };
        out.push(vec![
            Value::from(stage.name.clone()),
            Value::from(counts[k]),
            conversion,
            share(Some(count), first),
        ]);
        let label = stage
            .label
            .as_ref()
            .and_then(|l| l.text(run.lang))
            .unwrap_or(&stage.name);
        stage_labels.insert(stage.name.clone(), label.to_string());
    }
    let column = |name: &str, t: &str| Column {
        name: name.into(),
        column_type: t.into(),
    };
    let mut answer = ChartAnswer::new(
        vec![
            column("stage", "text"),
            column(&plan.measures[0].name, "integer"),
            column("conversion", "number"),
            column("overall", "number"),
        ],
        out,
    );
    answer.labels.insert("stage".into(), stage_labels);
    Ok(answer)
}

/// Labels of select and user dimensions for the values answered (rows, others, totals).
async fn labels(
    plan: &ChartPlan,
    conn: &mut Conn<'_>,
    answer: &ChartAnswer,
    run: &ChartRun,
) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for (position, dim) in plan.dims.iter().enumerate() {
        let mut seen: BTreeSet<String> = answer
            .rows
            .iter()
            .filter_map(|r| r.get(position).and_then(|v| v.as_str()).map(str::to_string))
            .collect();
        if let Some(t) = &answer.totals {
            let source = if position == 0 { &t.rows } else { &t.columns };
            seen.extend(
                source
                    .iter()
                    .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_string)),
            );
        }
        if seen.is_empty() {
            continue;
        }
        let mut names = BTreeMap::new();
        match &dim.labels {
            LabelSource::None => continue,
            LabelSource::Options(options) => {
                for value in seen {
                    let label = options
                        .iter()
                        .find(|o| o.value == value)
                        .and_then(|o| o.label.as_ref())
                        .and_then(|l| l.text(run.lang))
                        .map(str::to_string)
                        .unwrap_or_else(|| value.clone());
                    names.insert(value, label);
                }
            }
            LabelSource::Users => {
                let ids: Vec<uuid::Uuid> = seen
                    .iter()
                    .filter_map(|v| uuid::Uuid::parse_str(v).ok())
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let mut select = Query::select();
                select
                    .columns([
                        Alias::new("id"),
                        Alias::new("display_name"),
                        Alias::new("username"),
                    ])
                    .from(Alias::new("users"))
                    .and_where(
                        Expr::col(Alias::new("id")).is_in(
                            ids.iter()
                                .map(|id| Arg::Uuid(Some(*id)).into_sea(plan.backend)),
                        ),
                    );
                let (sql, values) = plan.build(&select);
                let rows = conn.fetch_built(&sql, values).await?;
                for row in &rows {
                    let Some(id) = row.uuid("id")? else { continue };
                    let name = row
                        .text("display_name")?
                        .filter(|n| !n.is_empty())
                        .or(row.text("username")?)
                        .unwrap_or_default();
                    // The value as stored, so the chart finds it.
                    if let Some(value) = seen
                        .iter()
                        .find(|v| uuid::Uuid::parse_str(v).ok() == Some(id))
                    {
                        names.insert(value.clone(), name);
                    }
                }
            }
        }
        out.insert(dim.name.clone(), names);
    }
    Ok(out)
}
