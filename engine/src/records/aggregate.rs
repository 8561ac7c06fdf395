//! Grouped counts and sums on projection columns: the core of charts and dashboards. Money is
//! summed in fen as integers, so sums are exact.

use super::dialect::{Dialect, NumberKind};
use super::field_access::{refuse, FieldUse};
use super::filter::{pinyin_sort_key, sort_column, FilterExpr};
use super::lookups;
use super::read::MAX_SORT_KEYS;
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::forms::{checks, FieldType};
use crate::store::DbRow;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub field: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub agg: Aggregation,
    #[serde(default)]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureSort {
    pub by: String,
    #[serde(default)]
    pub dir: Option<String>,
}

/// A chart's question: group by dimensions, aggregate measures, filtered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    pub entity: String,
    #[serde(default)]
    pub chart: Option<String>,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    #[serde(default)]
    pub filters: Option<FilterExpr>,
    #[serde(default)]
    pub sort: Vec<MeasureSort>,
    #[serde(default)]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AggregateResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

const MAX_ROWS: u64 = 10_000;
/// Dimensions and measures one chart may hold together.
pub const MAX_COLUMNS: usize = 20;

fn read_value(row: &DbRow, name: &str, value_type: FieldType) -> Result<Value> {
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
            .map(|t| Value::from(super::wire_time(t)))
            .unwrap_or(Value::Null),
        _ => row.text(name)?.map(Value::from).unwrap_or(Value::Null),
    })
}

impl Engine {
    pub async fn aggregate(
        &self,
        principal: &Principal,
        spec: &AggregateSpec,
    ) -> Result<AggregateResult> {
        let rt = self.entity(&spec.entity).await?;
        principal.require(&spec.entity, Action::Read)?;
        if spec.measures.is_empty() {
            return Err(EngineError::bad_request(
                "a chart needs at least one measure",
            ));
        }
        if spec.dimensions.len() + spec.measures.len() > MAX_COLUMNS {
            return Err(EngineError::bad_request(format!(
                "图表的维度和度量合计最多 {MAX_COLUMNS} 个（a chart holds at most {MAX_COLUMNS} dimensions and measures together）"
            )));
        }
        if spec.sort.len() > MAX_SORT_KEYS {
            return Err(EngineError::bad_request(format!(
                "排序最多 {MAX_SORT_KEYS} 项（sort by at most {MAX_SORT_KEYS} columns）"
            )));
        }
        let backend = self.db.backend();
        let dialect = Dialect(backend);
        let table = Alias::new(rt.table.clone());
        let mut select = Query::select();
        let mut columns = Vec::new();
        let mut readers: Vec<(String, FieldType)> = Vec::new();
        // What each column orders by: its alias, or a text dimension's pinyin key.
        let mut orderings: Vec<String> = Vec::new();
        for (i, dim) in spec.dimensions.iter().enumerate() {
            let (column, value_type) =
                sort_column(&rt, principal, &dim.field, FieldUse::Dimension)?;
            let alias = format!("d{i}");
            select.expr_as(
                Expr::col((table.clone(), Alias::new(column.clone()))),
                Alias::new(alias.clone()),
            );
            select.add_group_by([Expr::col((table.clone(), Alias::new(column)))]);
            columns.push(Column {
                name: dim.field.clone(),
                column_type: value_type.as_str().into(),
            });
            // A text dimension orders by its pinyin key, as lists do (one key per group).
            orderings.push(match pinyin_sort_key(&rt, &dim.field) {
                Some(key) => format!(
                    "MIN({}.{})",
                    crate::entities::storage::q(&rt.table),
                    crate::entities::storage::q(&key)
                ),
                None => alias.clone(),
            });
            readers.push((alias, value_type));
        }
        for (i, measure) in spec.measures.iter().enumerate() {
            let alias = format!("m{i}");
            let (expr, name, value_type) = match (measure.agg, &measure.field) {
                (Aggregation::Count, None) => (
                    Expr::cust("COUNT(*)"),
                    "count".to_string(),
                    FieldType::Integer,
                ),
                (agg, Some(field)) => {
                    let (column, value_type) =
                        sort_column(&rt, principal, field, FieldUse::Measure)?;
                    let numeric = matches!(
                        value_type,
                        FieldType::Integer | FieldType::Number | FieldType::Money
                    );
                    let ordered =
                        numeric || matches!(value_type, FieldType::Date | FieldType::Datetime);
                    match agg {
                        Aggregation::Sum | Aggregation::Avg if !numeric => {
                            return Err(refuse(
                                field,
                                "not_numeric",
                                format!("{field} 不是数值字段，不能求和或求平均"),
                                format!("{field} is not numeric"),
                            ))
                        }
                        Aggregation::Min | Aggregation::Max if !ordered => {
                            return Err(refuse(
                                field,
                                "not_ordered",
                                format!("最小值、最大值只适用于数值、金额和日期字段，{field} 不是"),
                                format!("min and max apply to number, integer, money, date and datetime fields; {field} is none"),
                            ))
                        }
                        _ => {}
                    }
                    let col = format!(
                        "{}.{}",
                        crate::entities::storage::q(&rt.table),
                        crate::entities::storage::q(&column)
                    );
                    let kind = match value_type {
                        FieldType::Money | FieldType::Integer => NumberKind::Whole,
                        _ => NumberKind::Real,
                    };
                    let real_type = |k: NumberKind| match k {
                        NumberKind::Whole => value_type,
                        NumberKind::Real => FieldType::Number,
                    };
                    let (sql, result_type) = match agg {
                        Aggregation::Count => (format!("COUNT({col})"), FieldType::Integer),
                        Aggregation::Sum => (dialect.sum(&col, kind), real_type(kind)),
                        // An integer's average is a real; money's is rounded to the fen.
                        Aggregation::Avg if value_type == FieldType::Money => {
                            (dialect.avg(&col, NumberKind::Whole), FieldType::Money)
                        }
                        Aggregation::Avg => {
                            (dialect.avg(&col, NumberKind::Real), FieldType::Number)
                        }
                        Aggregation::Min => (format!("MIN({col})"), value_type),
                        Aggregation::Max => (format!("MAX({col})"), value_type),
                    };
                    let agg_name = match agg {
                        Aggregation::Count => "count",
                        Aggregation::Sum => "sum",
                        Aggregation::Avg => "avg",
                        Aggregation::Min => "min",
                        Aggregation::Max => "max",
                    };
                    (Expr::cust(sql), format!("{agg_name}_{field}"), result_type)
                }
                (_, None) => return Err(EngineError::bad_request("only count may omit its field")),
            };
            select.expr_as(expr, Alias::new(alias.clone()));
            columns.push(Column {
                name,
                column_type: value_type.as_str().into(),
            });
            orderings.push(alias.clone());
            readers.push((alias, value_type));
        }
        select.from(table.clone());
        let mut condition = Expr::col((table.clone(), Alias::new("deleted_at"))).is_null();
        let mut masked_lookups = Vec::new();
        if let Some(filter) = &spec.filters {
            let entities = self.entities_for_filter(principal, filter).await?;
            let compiled = self
                .filter_context(&rt, &entities, principal)
                .compile(filter)?;
            condition = condition.and(compiled.condition);
            masked_lookups = compiled.masked_lookups;
        }
        select.and_where(condition);
        for sort in &spec.sort {
            let index = columns
                .iter()
                .position(|c| c.name == sort.by)
                .ok_or_else(|| {
                    EngineError::bad_request(format!("sort by unknown column {}", sort.by))
                })?;
            let order = match sort.dir.as_deref() {
                Some("desc") => Order::Desc,
                _ => Order::Asc,
            };
            select.order_by_expr(Expr::cust(orderings[index].clone()), order);
        }
        for ordering in orderings.iter().take(spec.dimensions.len()) {
            select.order_by_expr(Expr::cust(ordering.clone()), Order::Asc);
        }
        let (mut sql, values) = dialect.build(&select);
        // A literal, not a bound value: with `LIMIT $1` PostgreSQL's cached generic plan
        // assumes a handful of rows and walks an index instead of a parallel scan (2× slower
        // on 100,000 patients). The number is ours, never the caller's text.
        let limit = Ord::min(spec.limit.unwrap_or(MAX_ROWS), MAX_ROWS);
        sql.push_str(&format!(" LIMIT {limit}"));
        let mut conn = self.db.acquire().await?;
        lookups::admit(
            &mut conn.conn(),
            self.clock.as_ref(),
            principal,
            &masked_lookups,
        )
        .await?;
        let rows = conn.conn().fetch_built(&sql, values).await?;
        let rows = rows
            .iter()
            .map(|row| {
                readers
                    .iter()
                    .map(|(alias, t)| read_value(row, alias, *t))
                    .collect()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AggregateResult { columns, rows })
    }
}
