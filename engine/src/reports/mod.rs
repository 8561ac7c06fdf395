//! The report engine's chart path (docs/reports.md): a chart spec compiled, under the viewer's
//! rights and row scope, into one parameterised statement per chart where it can be, through
//! the one filter compiler; answered as columns, rows and labels.

mod answer;
mod chart_export;
mod chart_indexes;
mod compile;
pub mod dashboard_cache;
mod dashboard_data;
pub mod dashboards;
mod derived;
mod kinds;
mod periods;
pub mod saved;
pub mod saved_charts;
mod saved_values;
pub mod segments;
pub mod spec;
mod zone;

pub use spec::{
    Aggregation, Bucket, ChartSpec, ChartType, Comparison, Dimension, Measure, Period, SortDir,
    SortKey, Stage,
};

use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::i18n::Lang;
use crate::query::grammar::FilterExpr;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Dimensions and measures one chart may hold together.
pub const MAX_COLUMNS: usize = 20;
/// Rows one chart answers at most (and the default `limit`).
pub const MAX_ROWS: u64 = 10_000;
/// Sort keys one chart may name.
pub const MAX_SORT_KEYS: usize = 8;
/// Rows of one table page at most.
pub const MAX_PER_PAGE: u64 = 1000;
/// Empty time buckets filled at most.
pub const MAX_FILLED_BUCKETS: usize = 1000;
/// Rows a filled chart may hold (buckets × series).
pub const MAX_FILLED_ROWS: usize = 100_000;
/// Funnel stages.
pub const MIN_STAGES: usize = 2;
pub const MAX_STAGES: usize = 12;
/// Characters of a derived measure's expression.
pub const MAX_EXPR_CHARS: usize = 200;

/// How one chart is run beyond its spec: a dashboard's parameters, explain, the language.
#[derive(Debug, Clone, Default)]
pub struct ChartRun {
    /// ANDed to the spec's filters (dashboard parameters).
    pub extra_filter: Option<FilterExpr>,
    pub period: Option<PeriodOverride>,
    pub explain: bool,
    pub lang: Lang,
}

/// A dashboard's from/to on one chart's date or datetime field (both days included, local
/// zone); on a KPI it replaces `period`.
#[derive(Debug, Clone)]
pub struct PeriodOverride {
    pub field: String,
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

/// Rows past a top N, summed (section 4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Others {
    pub groups: u64,
    pub values: Vec<Value>,
}

/// A KPI's period as local dates, both included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodDates {
    pub from: String,
    pub to: String,
}

/// One KPI comparison (section 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonAnswer {
    pub compare: Comparison,
    pub from: String,
    pub to: String,
    pub values: Vec<Value>,
    pub change: Vec<Value>,
    pub change_ratio: Vec<Value>,
}

/// A pivot's totals (section 7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PivotTotals {
    pub rows: Vec<Vec<Value>>,
    pub columns: Vec<Vec<Value>>,
    pub grand: Vec<Value>,
}

/// One statement run, with the types (never the values) of its bound parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedStatement {
    pub sql: String,
    pub params: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explain {
    pub statements: Vec<ExplainedStatement>,
}

/// A chart's answer (section 9).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartAnswer {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// Per column: value → its text in the caller's language.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub others: Option<Others>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodDates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparisons: Option<Vec<ComparisonAnswer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<PivotTotals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Explain>,
}

impl ChartAnswer {
    pub(crate) fn new(columns: Vec<Column>, rows: Vec<Vec<Value>>) -> ChartAnswer {
        ChartAnswer {
            columns,
            rows,
            labels: BTreeMap::new(),
            others: None,
            period: None,
            comparisons: None,
            totals: None,
            page: None,
            per_page: None,
            total: None,
            filled: None,
            explain: None,
        }
    }
}

/// What a chart reads: for the dashboard cache's keys and the indexes a saved chart builds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartFootprint {
    /// Every entity the chart reads: its own, a hopped one, `exists` sub-filters.
    pub entities: Vec<String>,
    pub index_wants: Vec<IndexWant>,
}

/// A composite index a chart would use: projection column names, in index order.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexWant {
    pub entity: String,
    pub columns: Vec<String>,
}

impl Engine {
    /// Runs a chart for `principal`: every field checked against the definition and the
    /// viewer's field rules, the viewer's row scope applied.
    pub async fn run_chart(
        &self,
        principal: &Principal,
        spec: &ChartSpec,
        run: &ChartRun,
    ) -> Result<ChartAnswer> {
        if run.explain {
            principal.require(&spec.entity, Action::Design)?;
        }
        let plan = self.compile_chart(principal, spec, run).await?;
        let mut answer = self.answer_chart(principal, &plan, run).await?;
        if !run.explain {
            answer.explain = None;
        }
        Ok(answer)
    }

    /// Compiles without running (for saving): every field and right checked as run_chart would.
    pub async fn check_chart(
        &self,
        principal: &Principal,
        spec: &ChartSpec,
    ) -> Result<ChartFootprint> {
        let plan = self
            .compile_chart(principal, spec, &ChartRun::default())
            .await?;
        Ok(plan.footprint())
    }
}

/// A custom SQL expression whose `$1`, `$2`… name `exprs`. PostgreSQL's builder numbers its
/// placeholders; SQLite's takes `?` in order, so the template is rewritten for it.
pub(crate) fn custom(
    backend: crate::store::Backend,
    template: impl Into<String>,
    exprs: impl IntoIterator<Item = sea_query::Expr>,
) -> sea_query::Expr {
    let template: String = template.into();
    let exprs: Vec<sea_query::Expr> = exprs.into_iter().collect();
    if backend == crate::store::Backend::Postgres {
        return sea_query::Expr::cust_with_exprs(template, exprs);
    }
    let chars: Vec<char> = template.chars().collect();
    let mut sql = String::with_capacity(template.len());
    let mut ordered = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let digits = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if chars[i] == '$' && digits > 0 {
            let n: usize = chars[i + 1..i + 1 + digits]
                .iter()
                .collect::<String>()
                .parse()
                .unwrap_or(0);
            if let Some(e) = n.checked_sub(1).and_then(|k| exprs.get(k)) {
                ordered.push(e.clone());
            }
            sql.push('?');
            i += 1 + digits;
        } else {
            sql.push(chars[i]);
            i += 1;
        }
    }
    sea_query::Expr::cust_with_exprs(sql, ordered)
}

fn too_many(zh: String, en: String) -> EngineError {
    EngineError::bad_request(format!("{zh}（{en}）"))
}
