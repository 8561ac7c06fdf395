//! A chart's periods as local days: a KPI's period and the periods compared with it, the
//! filter keeping a date or datetime field within some days (a dashboard's `from`/`to`), and
//! the days a chart's own date filter bounds (the span of filled time buckets).

use super::spec::{Comparison, Period};
use super::zone::{years_back, Zone};
use crate::error::Result;
use crate::forms::FieldType;
use crate::query::grammar::{calendar_period, days_of, FilterExpr, Op};
use crate::records::field_access::refuse;
use serde_json::{json, Value};
use time::{Date, Duration};

/// A KPI period: local dates, both included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Span {
    pub from: Date,
    pub to: Date,
}

/// Names a KPI period's days, or a relative `last_n_days`.
pub(crate) fn period_span(period: &Period, today: Date) -> Result<Span> {
    let bad_period = |why: &str| {
        refuse(
            "period",
            "bad_period",
            format!("统计周期有误：{why}"),
            format!("the period is wrong: {why}"),
        )
    };
    match (period.op, &period.from, &period.to) {
        (Some(op), None, None) if op.is_calendar_period() => {
            let (start, end) = calendar_period(today, op);
            Ok(Span {
                from: start,
                to: end - Duration::days(1),
            })
        }
        (Some(Op::LastNDays), None, None) => {
            let days = days_of(period.value.as_ref().unwrap_or(&Value::Null))?;
            Ok(Span {
                from: today - Duration::days(days),
                to: today,
            })
        }
        (None, from, to) if from.is_some() || to.is_some() => {
            let parse = |s: &Option<String>| -> Result<Option<Date>> {
                s.as_deref()
                    .map(|s| {
                        crate::forms::checks::parse_date(s)
                            .ok_or_else(|| bad_period("from and to are dates YYYY-MM-DD"))
                    })
                    .transpose()
            };
            let (from, to) = (parse(from)?, parse(to)?);
            match (from, to) {
                (Some(from), Some(to)) if from <= to => Ok(Span { from, to }),
                _ => Err(bad_period("from and to are both needed, from not after to")),
            }
        }
        _ => Err(bad_period(
            "op is one of this_week this_month this_quarter this_year last_n_days, or from and to are given",
        )),
    }
}

/// The period compared with `current`.
pub(crate) fn compared_span(period: &Period, current: Span, compare: Comparison) -> Span {
    match compare {
        Comparison::SamePeriodLastYear => Span {
            from: years_back(current.from, 1),
            to: years_back(current.to, 1),
        },
        Comparison::PreviousPeriod => match period.op {
            Some(op) if op.is_calendar_period() => {
                let day_before = current.from - Duration::days(1);
                let (start, _) = calendar_period(day_before, op);
                Span {
                    from: start,
                    to: day_before,
                }
            }
            _ => {
                let days = (current.to - current.from).whole_days() + 1;
                Span {
                    from: current.from - Duration::days(days),
                    to: current.from - Duration::days(1),
                }
            }
        },
    }
}

/// The filter keeping `field` within the local days of `span` (either end open).
pub(crate) fn span_filter(
    zone: &Zone,
    field_type: FieldType,
    field: &str,
    from: Option<Date>,
    to: Option<Date>,
) -> Result<FilterExpr> {
    let mut parts = Vec::new();
    let instant = |d: Date| {
        Value::String(
            zone.midnight(d)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        )
    };
    let condition = |op: Op, value: Value| FilterExpr::Condition {
        field: field.to_string(),
        op,
        value,
    };
    match field_type {
        FieldType::Datetime => {
            if let Some(from) = from {
                parts.push(condition(Op::Gte, instant(from)));
            }
            if let Some(to) = to {
                parts.push(condition(Op::Lt, instant(to + Duration::days(1))));
            }
        }
        FieldType::Date => {
            if let Some(from) = from {
                parts.push(condition(
                    Op::Gte,
                    json!(crate::forms::checks::format_date(from)),
                ));
            }
            if let Some(to) = to {
                parts.push(condition(
                    Op::Lte,
                    json!(crate::forms::checks::format_date(to)),
                ));
            }
        }
        _ => {
            return Err(refuse(
                field,
                "not_a_date",
                format!("{field} 不是日期或日期时间字段"),
                format!("{field} is not a date or datetime field"),
            ))
        }
    }
    Ok(FilterExpr::And { and: parts })
}

/// The local days a top-level date condition on `field` bounds, if any (section 3).
pub(crate) fn filter_span(
    filter: &FilterExpr,
    field: &str,
    today: Date,
    zone_offset: time::UtcOffset,
) -> Option<Span> {
    match filter {
        FilterExpr::And { and } => and
            .iter()
            .find_map(|f| filter_span(f, field, today, zone_offset)),
        FilterExpr::Condition {
            field: f,
            op,
            value,
        } if f == field => match op {
            Op::LastNDays => days_of(value).ok().map(|n| Span {
                from: today - Duration::days(n),
                to: today,
            }),
            Op::NextNDays => days_of(value).ok().map(|n| Span {
                from: today,
                to: today + Duration::days(n),
            }),
            op if op.is_calendar_period() => {
                let (start, end) = calendar_period(today, *op);
                Some(Span {
                    from: start,
                    to: end - Duration::days(1),
                })
            }
            Op::Between => {
                let bounds = value.as_array()?;
                let day = |v: &Value| -> Option<Date> {
                    let s = v.as_str()?;
                    crate::forms::checks::parse_date(s).or_else(|| {
                        time::OffsetDateTime::parse(
                            s,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                        .map(|t| t.to_offset(zone_offset).date())
                    })
                };
                match bounds.as_slice() {
                    [a, b] => Some(Span {
                        from: day(a)?,
                        to: day(b)?,
                    }),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}
