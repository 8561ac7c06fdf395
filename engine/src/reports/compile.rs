//! Spec → plan: every field resolved against the definition and the viewer's field rules, the
//! filters (spec, dashboard, ratio, stages) compiled through the one filter compiler, the
//! viewer's row scope added as one more condition. The statements are built from the plan in
//! `kinds`.

use super::custom;
use super::derived::{self, Node};
pub(crate) use super::periods::Span;
use super::periods::{compared_span, filter_span, period_span, span_filter};
use super::spec::{Aggregation, Bucket, ChartSpec, ChartType, Comparison, Measure, Period};
use super::zone::Zone;
use super::{too_many, ChartFootprint, ChartRun, IndexWant};
use super::{MAX_COLUMNS, MAX_PER_PAGE, MAX_ROWS, MAX_SORT_KEYS, MAX_STAGES, MIN_STAGES};
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::entities::{EntityRuntime, FieldStorage, StorageKind};
use crate::error::{EngineError, Result};
use crate::forms::definition::SelectOption;
use crate::forms::FieldType;
use crate::query::grammar::FilterExpr;
use crate::records::field_access::{refuse, require_plain, sight, FieldUse};
use crate::records::filter::{pinyin_sort_key, resolve_field, row_scope_condition};
use crate::records::lookups::MaskedLookup;
use crate::store::Backend;
use sea_query::{Alias, Expr, ExprTrait};
use std::sync::Arc;

/// A reference followed to another entity (`patient.source`): a LEFT JOIN on its id.
pub(crate) struct Hop {
    pub reference: String,
    pub reference_column: String,
    pub target: Arc<EntityRuntime>,
    /// The viewer's row scope on the target: a record out of it groups under null.
    pub scope: Option<Expr>,
}

/// Where a column's labels come from.
pub(crate) enum LabelSource {
    None,
    Options(Vec<SelectOption>),
    Users,
}

pub(crate) struct DimPlan {
    pub name: String,
    /// The grouping expression.
    pub expr: Expr,
    pub answer_type: FieldType,
    /// A text field's pinyin key column: the group orders by its least key.
    pub pinyin_key: Option<Expr>,
    /// Text compared byte-wise (`COLLATE "C"` on PostgreSQL).
    pub text: bool,
    pub bucket: Option<Bucket>,
    /// The field of the chart's own entity (None through a hop), for the fill span.
    pub own_field: Option<String>,
    pub labels: LabelSource,
    /// The projection column, where it is one of the chart's own entity.
    pub index_column: Option<String>,
}

pub(crate) enum MeasureKind {
    /// An aggregate over the grouped rows.
    Agg(Expr),
    /// SQLite's median, computed by a window query joined to the grouped one.
    Median {
        value: Expr,
        money: bool,
    },
    Derived(Node),
}

pub(crate) struct MeasurePlan {
    pub name: String,
    pub kind: MeasureKind,
    pub answer_type: FieldType,
    /// An empty bucket answers 0 (not null).
    pub zero_when_empty: bool,
    pub index_column: Option<String>,
    /// The aggregated column (a funnel counts its distinct values per stage).
    pub value: Option<Expr>,
}

pub(crate) struct KpiPlan {
    pub current: Span,
    pub comparisons: Vec<(Comparison, Span)>,
}

pub(crate) struct ChartPlan {
    pub spec: ChartSpec,
    pub rt: Arc<EntityRuntime>,
    pub backend: Backend,
    pub hops: Vec<Hop>,
    pub dims: Vec<DimPlan>,
    pub measures: Vec<MeasurePlan>,
    /// Live rows, row scope, the spec's and the run's filters.
    pub condition: Expr,
    pub masked_lookups: Vec<MaskedLookup>,
    pub entities_read: Vec<String>,
    /// Per funnel stage, the condition of reaching it.
    pub stages: Vec<Expr>,
    pub kpi: Option<KpiPlan>,
    /// KPI periods' conditions, current first then the comparisons.
    pub kpi_conditions: Vec<Expr>,
    /// The local days the chart's period spans, where a date filter bounds the time axis.
    pub fill_span: Option<Span>,
}

impl ChartPlan {
    pub fn footprint(&self) -> ChartFootprint {
        let mut index_wants = Vec::new();
        let measure_columns: Vec<&String> = self
            .measures
            .iter()
            .filter_map(|m| m.index_column.as_ref())
            .collect();
        for dim in &self.dims {
            let Some(d) = &dim.index_column else { continue };
            if measure_columns.is_empty() {
                index_wants.push(IndexWant {
                    entity: self.rt.name().to_string(),
                    columns: vec![d.clone()],
                });
            }
            for m in &measure_columns {
                if *m != d {
                    index_wants.push(IndexWant {
                        entity: self.rt.name().to_string(),
                        columns: vec![d.clone(), (*m).clone()],
                    });
                }
            }
        }
        index_wants.dedup();
        ChartFootprint {
            entities: self.entities_read.clone(),
            index_wants,
        }
    }

    /// Whether a measure or dimension column of this name exists, and its index.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.dims
            .iter()
            .map(|d| d.name.as_str())
            .chain(self.measures.iter().map(|m| m.name.as_str()))
            .position(|n| n == name)
    }
}

fn text_like(t: FieldType) -> bool {
    matches!(
        t,
        FieldType::Text
            | FieldType::Select
            | FieldType::Phone
            | FieldType::Email
            | FieldType::IdCard
            | FieldType::Autonumber
            | FieldType::User
    )
}

fn groupable(t: FieldType) -> bool {
    text_like(t)
        || matches!(
            t,
            FieldType::Boolean
                | FieldType::Integer
                | FieldType::Number
                | FieldType::Money
                | FieldType::Date
                | FieldType::Datetime
                | FieldType::Reference
        )
}

fn not_groupable(field: &str) -> EngineError {
    refuse(
        field,
        "not_groupable",
        format!("字段 {field} 不能用于分组或统计"),
        format!("the field {field} cannot be grouped or aggregated"),
    )
}

fn bad(field: &str, code: &str, zh: String, en: String) -> EngineError {
    refuse(field, code, zh, en)
}

/// A resolved field path: its column expression, storage and owning entity.
struct Resolved {
    column: Expr,
    storage: FieldStorage,
    owner: Arc<EntityRuntime>,
    hopped: bool,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

impl Engine {
    /// Resolves `field` or `reference.field` for `usage`, checking rights and field rules;
    /// `plain` demands the field be seen plainly (dimensions, sorts, aggregates).
    async fn resolve_path(
        &self,
        principal: &Principal,
        rt: &Arc<EntityRuntime>,
        hops: &mut Vec<Hop>,
        path: &str,
        usage: FieldUse,
        plain: bool,
    ) -> Result<Resolved> {
        let (owner, field, hopped) = match path.split_once('.') {
            None => (rt.clone(), path.to_string(), false),
            Some((reference, field)) => {
                let fs = resolve_field(rt, reference)?;
                require_plain(rt, principal, reference, fs.sensitive, usage)?;
                let target_name = rt
                    .definition()
                    .field(reference)
                    .filter(|f| f.field_type == FieldType::Reference)
                    .and_then(|f| f.entity.as_ref())
                    .map(|e| e.as_str().to_string());
                let (Some(target_name), StorageKind::Column(reference_column)) =
                    (target_name, fs.kind.clone())
                else {
                    return Err(bad(
                        path,
                        "not_a_reference",
                        format!("{reference} 不是单个引用字段，不能经由它取字段"),
                        format!("{reference} is not a single reference; no field can be reached through it"),
                    ));
                };
                if target_name == rt.name() {
                    return Err(EngineError::bad_request(format!(
                        "{path}: a reference to the same entity cannot be followed in a chart yet"
                    )));
                }
                principal.require(&target_name, Action::Read)?;
                let target = self.entity(&target_name).await?;
                if !hops.iter().any(|h| h.reference == reference) {
                    hops.push(Hop {
                        reference: reference.to_string(),
                        reference_column,
                        scope: row_scope_condition(&target, principal),
                        target: target.clone(),
                    });
                }
                (target, field.to_string(), true)
            }
        };
        let storage = resolve_field(&owner, &field)?;
        if plain {
            require_plain(&owner, principal, &field, storage.sensitive, usage)?;
        } else {
            sight(&owner, principal, &field, storage.sensitive, usage)?;
        }
        let column = match &storage.kind {
            StorageKind::Column(c) if storage.value_type != FieldType::Subject => c.clone(),
            _ => return Err(not_groupable(path)),
        };
        Ok(Resolved {
            column: Expr::col((Alias::new(owner.table.clone()), Alias::new(column))),
            storage,
            owner,
            hopped,
        })
    }

    pub(crate) async fn compile_chart(
        &self,
        principal: &Principal,
        spec: &ChartSpec,
        run: &ChartRun,
    ) -> Result<ChartPlan> {
        // A spec naming an unknown entity is a bad spec (400), not a missing resource.
        let rt = match self.entity(&spec.entity).await {
            Err(EngineError::NotFound { .. }) => {
                return Err(bad(
                    "entity",
                    "unknown_entity",
                    format!("表单 {} 不存在", spec.entity),
                    format!("unknown entity {}", spec.entity),
                ))
            }
            found => found?,
        };
        principal.require(&spec.entity, Action::Read)?;
        check_shape(spec)?;
        let backend = self.db.backend();
        let zone = Zone::new(self.settings.timezone.clone(), backend);
        let today = self.today();
        let mut hops = Vec::new();

        let mut dims = Vec::new();
        for dim in &spec.dimensions {
            let r = self
                .resolve_path(
                    principal,
                    &rt,
                    &mut hops,
                    &dim.field,
                    FieldUse::Dimension,
                    true,
                )
                .await?;
            let value_type = r.storage.value_type;
            if !groupable(value_type) {
                return Err(not_groupable(&dim.field));
            }
            let field_name = dim.field.rsplit('.').next().unwrap_or(&dim.field);
            let labels = match value_type {
                FieldType::Select => LabelSource::Options(
                    r.owner
                        .definition()
                        .field(field_name)
                        .map(|f| f.options.clone())
                        .unwrap_or_default(),
                ),
                FieldType::User => LabelSource::Users,
                _ if matches!(field_name, "created_by" | "updated_by") => LabelSource::Users,
                _ => LabelSource::None,
            };
            let index_column = match (&r.storage.kind, r.hopped) {
                (StorageKind::Column(c), false) => Some(c.clone()),
                _ => None,
            };
            let plan = match dim.bucket {
                Some(bucket) => {
                    if !matches!(value_type, FieldType::Date | FieldType::Datetime) {
                        return Err(bad(
                            &dim.field,
                            "not_a_date",
                            format!("{} 不是日期字段，不能按时间分段", dim.field),
                            format!(
                                "{} is not a date or datetime field; it has no time buckets",
                                dim.field
                            ),
                        ));
                    }
                    DimPlan {
                        name: dim.field.clone(),
                        expr: zone.bucket(r.column, value_type, bucket),
                        answer_type: FieldType::Date,
                        pinyin_key: None,
                        text: false,
                        bucket: Some(bucket),
                        own_field: (!r.hopped).then(|| dim.field.clone()),
                        labels: LabelSource::None,
                        index_column,
                    }
                }
                None => DimPlan {
                    name: dim.field.clone(),
                    pinyin_key: pinyin_sort_key(&r.owner, field_name)
                        .map(|key| Expr::col((Alias::new(r.owner.table.clone()), Alias::new(key)))),
                    expr: r.column,
                    answer_type: value_type,
                    text: text_like(value_type),
                    bucket: None,
                    own_field: None,
                    labels,
                    index_column,
                },
            };
            dims.push(plan);
        }

        // Filters: the spec's, the run's, ratio and stage filters, compiled with one context.
        let mut all_filters: Vec<FilterExpr> = Vec::new();
        all_filters.extend(spec.filters.clone());
        all_filters.extend(run.extra_filter.clone());
        all_filters.extend(spec.measures.iter().filter_map(|m| m.filter.clone()));
        all_filters.extend(spec.stages.iter().filter_map(|s| s.filter.clone()));
        let together = FilterExpr::And {
            and: all_filters.clone(),
        };
        let entities = self.entities_for_filter(principal, &together).await?;
        let ctx = self.filter_context(&rt, &entities, principal);
        let mut masked_lookups = Vec::new();
        let mut compile = |filter: &FilterExpr| -> Result<Expr> {
            let compiled = ctx.compile(filter)?;
            masked_lookups.extend(compiled.masked_lookups);
            Ok(compiled.condition)
        };

        let live = Expr::col((Alias::new(rt.table.clone()), Alias::new("deleted_at"))).is_null();
        let mut condition = live;
        if let Some(scope) = row_scope_condition(&rt, principal) {
            condition = condition.and(scope);
        }
        if let Some(filter) = &spec.filters {
            condition = condition.and(compile(filter)?);
        }
        if let Some(filter) = &run.extra_filter {
            condition = condition.and(compile(filter)?);
        }

        let mut measures = Vec::new();
        for (i, measure) in spec.measures.iter().enumerate() {
            let plan = self
                .measure_plan(
                    principal,
                    &rt,
                    &mut hops,
                    spec,
                    i,
                    measure,
                    backend,
                    &mut compile,
                )
                .await?;
            measures.push(plan);
        }

        // The period: a dashboard's from/to, or a KPI's own.
        let field_type_of = |field: &str| -> Result<FieldType> {
            let fs = resolve_field(&rt, field)?;
            sight(&rt, principal, field, fs.sensitive, FieldUse::Filter)?;
            Ok(fs.value_type)
        };
        let mut kpi = None;
        let mut kpi_conditions = Vec::new();
        let mut fill_span = None;
        if spec.chart == ChartType::Kpi {
            let (field, current, period_for_compare) = match (&run.period, &spec.period) {
                (Some(o), own) if o.from.is_some() || o.to.is_some() => {
                    // A side left out keeps the KPI's own period's, else today.
                    let own = own.as_ref().map(|p| period_span(p, today)).transpose()?;
                    let to = o.to.or(own.map(|s| s.to)).unwrap_or(today);
                    let Some(from) = o.from.or(own.map(|s| s.from)).filter(|f| *f <= to) else {
                        return Err(bad(
                            "from",
                            "bad_period",
                            "KPI 的统计周期需要不晚于结束日期的开始日期".into(),
                            "a KPI's period needs a from not after its to".into(),
                        ));
                    };
                    let p = Period {
                        field: o.field.clone(),
                        op: None,
                        value: None,
                        from: Some(crate::forms::checks::format_date(from)),
                        to: Some(crate::forms::checks::format_date(to)),
                    };
                    (o.field.clone(), Span { from, to }, p)
                }
                (_, Some(p)) => (p.field.clone(), period_span(p, today)?, p.clone()),
                (_, None) => {
                    if !spec.compare.is_empty() {
                        return Err(bad(
                            "compare",
                            "no_period",
                            "比较需要统计周期（period）".into(),
                            "comparisons need a period".into(),
                        ));
                    }
                    (
                        String::new(),
                        Span {
                            from: today,
                            to: today,
                        },
                        Period {
                            field: String::new(),
                            op: None,
                            value: None,
                            from: None,
                            to: None,
                        },
                    )
                }
            };
            if !field.is_empty() {
                let field_type = field_type_of(&field)?;
                let comparisons: Vec<(Comparison, Span)> = spec
                    .compare
                    .iter()
                    .map(|c| (*c, compared_span(&period_for_compare, current, *c)))
                    .collect();
                for span in std::iter::once(current).chain(comparisons.iter().map(|(_, s)| *s)) {
                    let f = span_filter(&zone, field_type, &field, Some(span.from), Some(span.to))?;
                    kpi_conditions.push(compile(&f)?);
                }
                kpi = Some(KpiPlan {
                    current,
                    comparisons,
                });
            }
        } else if let Some(o) = &run.period {
            let field_type = field_type_of(&o.field)?;
            let f = span_filter(&zone, field_type, &o.field, o.from, o.to)?;
            condition = condition.and(compile(&f)?);
            if let (Some(from), Some(to)) = (o.from, o.to) {
                if dims
                    .iter()
                    .any(|d| d.bucket.is_some() && d.own_field.as_deref() == Some(&o.field))
                {
                    fill_span = Some(Span { from, to });
                }
            }
        }
        if fill_span.is_none() {
            if let (Some(dim), Some(filter)) =
                (dims.iter().find(|d| d.bucket.is_some()), &spec.filters)
            {
                if let Some(field) = &dim.own_field {
                    fill_span = filter_span(filter, field, today, self.utc_offset_at(self.now()));
                }
            }
        }

        // Funnel stages: reaching stage k means matching stages 1..=k.
        let mut stages = Vec::new();
        let mut reached: Option<Expr> = None;
        for stage in &spec.stages {
            if let Some(filter) = &stage.filter {
                let c = compile(filter)?;
                reached = Some(match reached {
                    Some(r) => r.and(c),
                    None => c,
                });
            }
            stages.push(reached.clone().unwrap_or_else(|| Expr::cust("1 = 1")));
        }

        let mut entities_read = vec![rt.name().to_string()];
        entities_read.extend(hops.iter().map(|h| h.target.name().to_string()));
        entities_read.extend(together.related_entities());
        entities_read.sort();
        entities_read.dedup();

        Ok(ChartPlan {
            spec: spec.clone(),
            rt,
            backend,
            hops,
            dims,
            measures,
            condition,
            masked_lookups,
            entities_read,
            stages,
            kpi,
            kpi_conditions,
            fill_span,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn measure_plan(
        &self,
        principal: &Principal,
        rt: &Arc<EntityRuntime>,
        hops: &mut Vec<Hop>,
        spec: &ChartSpec,
        index: usize,
        measure: &Measure,
        backend: Backend,
        compile: &mut impl FnMut(&FilterExpr) -> Result<Expr>,
    ) -> Result<MeasurePlan> {
        use crate::records::dialect::{Dialect, NumberKind};
        let name = measure.column_name();
        let plan = |kind, answer_type, zero, index_column| MeasurePlan {
            name: name.clone(),
            kind,
            answer_type,
            zero_when_empty: zero,
            index_column,
            value: None,
        };
        if let Some(expr) = &measure.expr {
            if measure.agg.is_some() || measure.field.is_some() || measure.filter.is_some() {
                return Err(EngineError::bad_request(
                    "a derived measure has only expr and name（派生度量只含 expr 和 name）",
                ));
            }
            if measure.name.is_none() {
                return Err(bad(
                    "name",
                    "name_required",
                    "派生度量需要名称（name）".into(),
                    "a derived measure needs a name".into(),
                ));
            }
            let node = derived::parse(expr)?;
            let mut names = Vec::new();
            node.names(&mut names);
            for n in names {
                let target = spec
                    .measures
                    .iter()
                    .position(|m| m.expr.is_none() && m.column_name() == n);
                if target.is_none() {
                    return Err(bad(
                        &n,
                        "unknown_measure",
                        format!("派生度量引用了未知的度量 {n}"),
                        format!("the derived measure names no other measure {n}"),
                    ));
                }
            }
            return Ok(plan(
                MeasureKind::Derived(node),
                FieldType::Number,
                false,
                None,
            ));
        }
        let agg = measure.agg.ok_or_else(|| {
            EngineError::bad_request("a measure needs agg or expr（度量需要 agg 或 expr）")
        })?;
        if agg == Aggregation::Ratio {
            let filter = measure.filter.as_ref().ok_or_else(|| {
                EngineError::bad_request("ratio needs a filter（ratio 需要筛选条件 filter）")
            })?;
            if measure.field.is_some() {
                return Err(EngineError::bad_request(
                    "ratio takes a filter, not a field",
                ));
            }
            let condition = compile(filter)?;
            let sql = match backend {
                Backend::Postgres => "(AVG(CASE WHEN $1 THEN 1.0 ELSE 0.0 END)::double precision)",
                Backend::Sqlite => "AVG(CASE WHEN $1 THEN 1.0 ELSE 0.0 END)",
            };
            return Ok(plan(
                MeasureKind::Agg(custom(backend, sql, [condition])),
                FieldType::Number,
                false,
                None,
            ));
        }
        if measure.filter.is_some() {
            return Err(EngineError::bad_request("only ratio takes a filter"));
        }
        let Some(field) = &measure.field else {
            if agg == Aggregation::Count {
                return Ok(plan(
                    MeasureKind::Agg(Expr::cust("COUNT(*)")),
                    FieldType::Integer,
                    true,
                    None,
                ));
            }
            return Err(EngineError::bad_request(format!(
                "{} needs a field（{} 需要字段 field）",
                agg.as_str(),
                agg.as_str()
            )));
        };
        let _ = index;
        // A count of values tells only emptiness: allowed on a field the viewer sees masked.
        let plain = agg != Aggregation::Count;
        let r = self
            .resolve_path(principal, rt, hops, field, FieldUse::Measure, plain)
            .await?;
        let value_type = r.storage.value_type;
        let index_column = match (&r.storage.kind, r.hopped) {
            (StorageKind::Column(c), false) => Some(c.clone()),
            _ => None,
        };
        let numeric = matches!(
            value_type,
            FieldType::Integer | FieldType::Number | FieldType::Money
        );
        let ordered = numeric || matches!(value_type, FieldType::Date | FieldType::Datetime);
        let dialect = Dialect(backend);
        let column_sql = |template: &str| custom(backend, template.to_string(), [r.column.clone()]);
        let whole = matches!(value_type, FieldType::Integer | FieldType::Money);
        match agg {
            Aggregation::Sum | Aggregation::Avg | Aggregation::Median if !numeric => {
                return Err(bad(
                    field,
                    "not_numeric",
                    format!("{field} 不是数值字段，不能求和、平均或中位数"),
                    format!("{field} is not numeric"),
                ))
            }
            Aggregation::Min | Aggregation::Max if !ordered => {
                return Err(bad(
                    field,
                    "not_ordered",
                    format!("最小值、最大值只适用于数值、金额和日期字段，{field} 不是"),
                    format!("min and max apply to number, integer, money, date and datetime fields; {field} is none"),
                ))
            }
            Aggregation::CountDistinct if !groupable(value_type) => return Err(not_groupable(field)),
            _ => {}
        }
        let mut planned = match agg {
            Aggregation::Count => {
                let template = if text_like(value_type) {
                    "COUNT(NULLIF($1, ''))"
                } else {
                    "COUNT($1)"
                };
                plan(
                    MeasureKind::Agg(column_sql(template)),
                    FieldType::Integer,
                    true,
                    index_column,
                )
            }
            Aggregation::CountDistinct => plan(
                MeasureKind::Agg(column_sql("COUNT(DISTINCT $1)")),
                FieldType::Integer,
                true,
                index_column,
            ),
            Aggregation::Sum => {
                let kind = if whole {
                    NumberKind::Whole
                } else {
                    NumberKind::Real
                };
                let answer = if whole { value_type } else { FieldType::Number };
                plan(
                    MeasureKind::Agg(column_sql(&dialect.sum("$1", kind))),
                    answer,
                    true,
                    index_column,
                )
            }
            Aggregation::Avg => {
                let (kind, answer) = if value_type == FieldType::Money {
                    (NumberKind::Whole, FieldType::Money)
                } else {
                    (NumberKind::Real, FieldType::Number)
                };
                plan(
                    MeasureKind::Agg(column_sql(&dialect.avg("$1", kind))),
                    answer,
                    false,
                    index_column,
                )
            }
            Aggregation::Min => plan(
                MeasureKind::Agg(column_sql("MIN($1)")),
                value_type,
                false,
                index_column,
            ),
            Aggregation::Max => plan(
                MeasureKind::Agg(column_sql("MAX($1)")),
                value_type,
                false,
                index_column,
            ),
            Aggregation::Median => {
                let money = value_type == FieldType::Money;
                let answer = if money {
                    FieldType::Money
                } else {
                    FieldType::Number
                };
                let kind = match backend {
                    Backend::Postgres => MeasureKind::Agg(column_sql(if money {
                        "(ROUND(percentile_cont(0.5) WITHIN GROUP (ORDER BY $1))::bigint)"
                    } else {
                        "(percentile_cont(0.5) WITHIN GROUP (ORDER BY $1))"
                    })),
                    Backend::Sqlite => MeasureKind::Median {
                        value: r.column.clone(),
                        money,
                    },
                };
                plan(kind, answer, false, index_column)
            }
            Aggregation::Ratio => unreachable_ratio()?,
        };
        planned.value = Some(r.column.clone());
        Ok(planned)
    }
}

fn unreachable_ratio() -> Result<MeasurePlan> {
    Err(EngineError::internal("ratio is planned before fields"))
}

/// The spec's shape: counts, names and the parts each chart type takes.
fn check_shape(spec: &ChartSpec) -> Result<()> {
    let chart = spec.chart;
    let dims = spec.dimensions.len();
    if spec.measures.is_empty() {
        return Err(EngineError::bad_request(
            "图表至少需要一个度量（a chart needs at least one measure）",
        ));
    }
    if dims + spec.measures.len() > MAX_COLUMNS {
        return Err(too_many(
            format!("图表的维度和度量合计最多 {MAX_COLUMNS} 个"),
            format!("a chart holds at most {MAX_COLUMNS} dimensions and measures together"),
        ));
    }
    if spec.sort.len() > MAX_SORT_KEYS {
        return Err(too_many(
            format!("排序最多 {MAX_SORT_KEYS} 项"),
            format!("sort by at most {MAX_SORT_KEYS} columns"),
        ));
    }
    let wrong = |what: &str| -> Result<()> {
        Err(bad(
            "chart",
            "bad_chart",
            format!("图表类型与设置不符：{what}"),
            format!("the chart type does not fit: {what}"),
        ))
    };
    match chart {
        ChartType::Pivot if dims != 2 => return wrong("a pivot has exactly 2 dimensions"),
        ChartType::Kpi | ChartType::Funnel if dims != 0 => {
            return wrong("a kpi or funnel has no dimensions")
        }
        _ if dims > 2 => return wrong("a chart has at most 2 dimensions"),
        _ => {}
    }
    if chart != ChartType::Kpi && (spec.period.is_some() || !spec.compare.is_empty()) {
        return wrong("period and compare belong to a kpi");
    }
    if chart != ChartType::Funnel && !spec.stages.is_empty() {
        return wrong("stages belong to a funnel");
    }
    if chart != ChartType::Pivot && spec.totals {
        return wrong("totals belong to a pivot");
    }
    if chart != ChartType::Table && (spec.page.is_some() || spec.per_page.is_some()) {
        return wrong("page and per_page belong to a table");
    }
    if chart == ChartType::Funnel {
        if !(MIN_STAGES..=MAX_STAGES).contains(&spec.stages.len()) {
            return wrong("a funnel has 2 to 12 stages");
        }
        let fits = spec.measures.len() == 1
            && matches!(
                (&spec.measures[0].agg, &spec.measures[0].field),
                (Some(Aggregation::Count), None) | (Some(Aggregation::CountDistinct), Some(_))
            )
            && spec.measures[0].expr.is_none();
        if !fits {
            return wrong("a funnel's one measure is count or count_distinct of a field");
        }
        let mut names: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
        if names.iter().any(|n| !valid_name(n)) {
            return Err(bad(
                "stages",
                "bad_name",
                "阶段名称须为小写字母开头的 a-z、0-9、_".into(),
                "a stage name matches [a-z][a-z0-9_]*".into(),
            ));
        }
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return wrong("stage names are unique");
        }
    }
    let mut names = Vec::new();
    for m in &spec.measures {
        if let Some(name) = &m.name {
            if !valid_name(name) {
                return Err(bad(
                    "name",
                    "bad_name",
                    "度量名称须为小写字母开头的 a-z、0-9、_".into(),
                    "a measure name matches [a-z][a-z0-9_]*".into(),
                ));
            }
        }
        names.push(m.column_name());
    }
    let mut seen: Vec<&str> = spec.dimensions.iter().map(|d| d.field.as_str()).collect();
    for n in &names {
        if seen.contains(&n.as_str()) {
            return Err(bad(
                n,
                "duplicate_name",
                format!("列名 {n} 重复，请用 name 区分"),
                format!("the column name {n} is used twice; tell them apart with name"),
            ));
        }
        seen.push(n);
    }
    if let Some(limit) = spec.limit {
        if limit == 0 || limit > MAX_ROWS {
            return Err(too_many(
                format!("limit 须在 1 到 {MAX_ROWS} 之间"),
                format!("limit is between 1 and {MAX_ROWS}"),
            ));
        }
    }
    if spec.others && spec.limit.is_none() {
        return wrong("others needs a limit");
    }
    if spec.others {
        let additive = spec.measures.iter().all(|m| {
            m.expr.is_none() && matches!(m.agg, Some(Aggregation::Count) | Some(Aggregation::Sum))
        });
        if !additive {
            return Err(bad(
                "others",
                "not_additive",
                "“其他”只能合计 count 和 sum 度量".into(),
                "others sums only count and sum measures".into(),
            ));
        }
    }
    if let Some(per_page) = spec.per_page {
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(too_many(
                format!("per_page 须在 1 到 {MAX_PER_PAGE} 之间"),
                format!("per_page is between 1 and {MAX_PER_PAGE}"),
            ));
        }
    }
    if spec.page == Some(0) {
        return Err(EngineError::bad_request(
            "page starts at 1（page 从 1 开始）",
        ));
    }
    for key in &spec.sort {
        if !spec.dimensions.iter().any(|d| d.field == key.by) && !names.contains(&key.by) {
            return Err(bad(
                &key.by,
                "unknown_column",
                format!("排序的列 {} 不在图表中", key.by),
                format!("sort by unknown column {}", key.by),
            ));
        }
    }
    Ok(())
}
