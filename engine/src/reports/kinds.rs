//! The statements of each chart type, built from a plan: the grouped query (dimensions by
//! ordinal, so an expression with a bound zone groups as it selects), wrapped by the query
//! that adds SQLite's medians and the derived measures and orders; and how each type runs
//! them.

use super::compile::{ChartPlan, MeasureKind};
use super::custom;
use super::derived::Node;
use super::ExplainedStatement;
use crate::forms::FieldType;
use crate::records::dialect::{Dialect, NumberKind};
use crate::store::{Backend, Conn, DbRow};
use sea_query::{Alias, Expr, ExprTrait, JoinType, NullOrdering, Order, Query, SelectStatement};

fn col(table: &str, column: String) -> Expr {
    Expr::col((Alias::new(table.to_string()), Alias::new(column)))
}

pub(crate) fn dim_alias(i: usize) -> String {
    format!("d{i}")
}
pub(crate) fn key_alias(i: usize) -> String {
    format!("o{i}")
}
pub(crate) fn measure_alias(j: usize) -> String {
    format!("m{j}")
}

/// The statements a chart ran, for explain.
#[derive(Default)]
pub(crate) struct Recorder {
    pub statements: Vec<ExplainedStatement>,
}

fn value_type(v: &sea_query::Value) -> String {
    use sea_query::Value as V;
    match v {
        V::String(_) => "text".into(),
        V::BigInt(_) | V::Int(_) | V::SmallInt(_) | V::TinyInt(_) => "integer".into(),
        V::Double(_) | V::Float(_) => "number".into(),
        V::Bool(_) => "boolean".into(),
        other => {
            let debug = format!("{other:?}");
            let name = debug.split('(').next().unwrap_or("value");
            match name {
                "Uuid" => "uuid".into(),
                "TimeDate" => "date".into(),
                "TimeDateTimeWithTimeZone" => "timestamptz".into(),
                "Json" => "json".into(),
                other => other.to_lowercase(),
            }
        }
    }
}

impl Recorder {
    pub async fn fetch(
        &mut self,
        conn: &mut Conn<'_>,
        sql: String,
        values: sea_query::Values,
    ) -> crate::error::Result<Vec<DbRow>> {
        self.statements.push(ExplainedStatement {
            sql: sql.clone(),
            params: values.0.iter().map(value_type).collect(),
        });
        conn.fetch_built(&sql, values).await
    }
}

impl ChartPlan {
    /// `FROM` the entity's table, with each hopped entity's live, in-scope record joined.
    fn add_rows_source(&self, select: &mut SelectStatement) {
        select.from(Alias::new(self.rt.table.clone()));
        for hop in &self.hops {
            let target = hop.target.table.clone();
            let mut on = col(&target, "id".into())
                .equals((
                    Alias::new(self.rt.table.clone()),
                    Alias::new(hop.reference_column.clone()),
                ))
                .and(col(&target, "deleted_at".into()).is_null());
            if let Some(scope) = &hop.scope {
                on = on.and(scope.clone());
            }
            select.left_join(Alias::new(target), on);
        }
    }

    /// The grouped query over `dims` (indexes into the plan's dimensions).
    pub fn grouped(&self, dims: &[usize], condition: Expr) -> SelectStatement {
        let mut select = Query::select();
        self.add_rows_source(&mut select);
        for &i in dims {
            select.expr_as(self.dims[i].expr.clone(), Alias::new(dim_alias(i)));
        }
        for &i in dims {
            if let Some(key) = &self.dims[i].pinyin_key {
                select.expr_as(
                    custom(self.backend, "MIN($1)", [key.clone()]),
                    Alias::new(key_alias(i)),
                );
            }
        }
        for (j, m) in self.measures.iter().enumerate() {
            if let MeasureKind::Agg(e) = &m.kind {
                select.expr_as(e.clone(), Alias::new(measure_alias(j)));
            }
        }
        if dims.is_empty()
            && !self
                .measures
                .iter()
                .any(|m| matches!(m.kind, MeasureKind::Agg(_)))
        {
            // Only medians joined on: the one group still needs a column.
            select.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
        }
        select.and_where(condition);
        // By position: PostgreSQL cannot match `$1` in the select list to `$2` in GROUP BY.
        for position in 1..=dims.len() {
            select.add_group_by([Expr::cust(position.to_string())]);
        }
        select
    }

    /// SQLite's median of one measure by `dims`: the middle rows of each group by a window.
    fn sqlite_median(
        &self,
        dims: &[usize],
        condition: Expr,
        value: &Expr,
        money: bool,
    ) -> SelectStatement {
        let mut inner = Query::select();
        self.add_rows_source(&mut inner);
        let mut partition = String::new();
        let mut exprs = Vec::new();
        for (n, &i) in dims.iter().enumerate() {
            inner.expr_as(self.dims[i].expr.clone(), Alias::new(dim_alias(i)));
            if n > 0 {
                partition.push_str(", ");
            }
            partition.push_str(&format!("${}", n + 1));
            exprs.push(self.dims[i].expr.clone());
        }
        let over = |order: bool| {
            let v = exprs.len() + 1;
            let mut w = String::new();
            if !partition.is_empty() {
                w.push_str(&format!("PARTITION BY {partition}"));
            }
            if order {
                w.push_str(&format!(" ORDER BY ${v}"));
            }
            w
        };
        inner.expr_as(value.clone(), Alias::new("v"));
        let mut with_value = exprs.clone();
        with_value.push(value.clone());
        inner.expr_as(
            custom(
                self.backend,
                format!("ROW_NUMBER() OVER ({})", over(true)),
                with_value,
            ),
            Alias::new("rn"),
        );
        inner.expr_as(
            custom(
                self.backend,
                format!("COUNT(*) OVER ({})", over(false)),
                exprs.clone(),
            ),
            Alias::new("cnt"),
        );
        inner.and_where(condition.and(value.clone().is_not_null()));
        let mut middle = Query::select();
        middle.from_subquery(inner, Alias::new("w"));
        for &i in dims {
            middle.expr_as(col("w", dim_alias(i)), Alias::new(dim_alias(i)));
        }
        let avg = if money {
            "CAST(ROUND(AVG($1)) AS INTEGER)"
        } else {
            "CAST(AVG($1) AS REAL)"
        };
        middle.expr_as(
            custom(self.backend, avg, [col("w", "v".into())]),
            Alias::new("v"),
        );
        middle.and_where(Expr::cust(
            "\"w\".\"rn\" IN ((\"w\".\"cnt\" + 1) / 2, (\"w\".\"cnt\" + 2) / 2)",
        ));
        for position in 1..=dims.len() {
            middle.add_group_by([Expr::cust(position.to_string())]);
        }
        middle
    }

    /// A measure's value in the wrapping query.
    fn measure_ref(&self, j: usize) -> Expr {
        match &self.measures[j].kind {
            MeasureKind::Median { .. } => col(&format!("md{j}"), "v".into()),
            _ => col("g", measure_alias(j)),
        }
    }

    fn derived(&self, node: &Node) -> Expr {
        let real = match self.backend {
            Backend::Postgres => "CAST($1 AS double precision)",
            Backend::Sqlite => "CAST($1 AS REAL)",
        };
        match node {
            Node::Number(n) => Expr::val(*n),
            Node::Name(name) => {
                let j = self
                    .measures
                    .iter()
                    .position(|m| &m.name == name && !matches!(m.kind, MeasureKind::Derived(_)))
                    .unwrap_or(0);
                let value = custom(self.backend, real, [self.measure_ref(j)]);
                if self.measures[j].answer_type == FieldType::Money {
                    custom(self.backend, "($1 / 100.0)", [value])
                } else {
                    value
                }
            }
            Node::Neg(inner) => custom(self.backend, "(-$1)", [self.derived(inner)]),
            Node::Binary(a, op, b) => {
                let template = match op {
                    '+' => "($1 + $2)",
                    '-' => "($1 - $2)",
                    '*' => "($1 * $2)",
                    _ => "($1 / NULLIF($2, 0))",
                };
                custom(self.backend, template, [self.derived(a), self.derived(b)])
            }
        }
    }

    /// The chart's rows over `dims`, ordered: the grouped query wrapped with medians, derived
    /// measures and the order of section 3.
    pub fn ordered(&self, dims: &[usize], condition: Expr) -> SelectStatement {
        let mut outer = Query::select();
        outer.from_subquery(self.grouped(dims, condition.clone()), Alias::new("g"));
        for &i in dims {
            outer.expr_as(col("g", dim_alias(i)), Alias::new(dim_alias(i)));
            if self.dims[i].pinyin_key.is_some() {
                outer.expr_as(col("g", key_alias(i)), Alias::new(key_alias(i)));
            }
        }
        for (j, m) in self.measures.iter().enumerate() {
            let e = match &m.kind {
                MeasureKind::Agg(_) => col("g", measure_alias(j)),
                MeasureKind::Median { value, money } => {
                    let alias = format!("md{j}");
                    let mut on = Expr::cust("1 = 1");
                    for &i in dims {
                        on = on.and(custom(
                            self.backend,
                            "$1 IS $2",
                            [col("g", dim_alias(i)), col(&alias, dim_alias(i))],
                        ));
                    }
                    outer.join_subquery(
                        JoinType::LeftJoin,
                        self.sqlite_median(dims, condition.clone(), value, *money),
                        Alias::new(alias.clone()),
                        on,
                    );
                    col(&alias, "v".into())
                }
                MeasureKind::Derived(node) => self.derived(node),
            };
            outer.expr_as(e, Alias::new(measure_alias(j)));
        }
        let dim_order = |i: usize| -> Expr {
            let d = &self.dims[i];
            let e = if d.pinyin_key.is_some() {
                col("g", key_alias(i))
            } else {
                col("g", dim_alias(i))
            };
            if (d.text || d.pinyin_key.is_some()) && self.backend == Backend::Postgres {
                custom(self.backend, "$1 COLLATE \"C\"", [e])
            } else {
                e
            }
        };
        for key in &self.spec.sort {
            let Some(index) = self.column_index(&key.by) else {
                continue;
            };
            let order = match key.dir {
                Some(super::SortDir::Desc) => Order::Desc,
                _ => Order::Asc,
            };
            let e = if index < self.dims.len() {
                if !dims.contains(&index) {
                    continue;
                }
                dim_order(index)
            } else {
                Expr::col(Alias::new(measure_alias(index - self.dims.len())))
            };
            outer.order_by_expr_with_nulls(e, order, NullOrdering::Last);
        }
        for &i in dims {
            outer.order_by_expr_with_nulls(dim_order(i), Order::Asc, NullOrdering::Last);
        }
        outer
    }

    /// `SELECT COUNT(*), SUM(...)` of the rows `ordered` answers past the first `skip`.
    pub fn others_statement(
        &self,
        ordered: &SelectStatement,
        skip: u64,
    ) -> (String, sea_query::Values) {
        let dialect = Dialect(self.backend);
        let (inner, values) = dialect.build(ordered);
        let tail = match self.backend {
            Backend::Postgres => format!("OFFSET {skip}"),
            Backend::Sqlite => format!("LIMIT -1 OFFSET {skip}"),
        };
        let mut sums = vec!["COUNT(*) AS n".to_string()];
        for (j, m) in self.measures.iter().enumerate() {
            let kind = if matches!(m.answer_type, FieldType::Number) {
                NumberKind::Real
            } else {
                NumberKind::Whole
            };
            sums.push(format!(
                "{} AS {}",
                dialect.sum(&format!("\"x\".\"{}\"", measure_alias(j)), kind),
                measure_alias(j)
            ));
        }
        (
            format!("SELECT {} FROM ({inner} {tail}) AS \"x\"", sums.join(", ")),
            values,
        )
    }

    /// The funnel's one statement: each stage's count side by side.
    pub fn funnel_statement(&self) -> SelectStatement {
        let mut select = Query::select();
        self.add_rows_source(&mut select);
        let distinct = self.measures[0].value.clone();
        for (k, reached) in self.stages.iter().enumerate() {
            let e = match &distinct {
                Some(value) => custom(
                    self.backend,
                    "COUNT(DISTINCT CASE WHEN $1 THEN $2 END)",
                    [reached.clone(), value.clone()],
                ),
                None => custom(
                    self.backend,
                    "COUNT(CASE WHEN $1 THEN 1 END)",
                    [reached.clone()],
                ),
            };
            select.expr_as(e, Alias::new(format!("s{k}")));
        }
        select.and_where(self.condition.clone());
        select
    }

    pub fn build(&self, select: &SelectStatement) -> (String, sea_query::Values) {
        Dialect(self.backend).build(select)
    }
}
