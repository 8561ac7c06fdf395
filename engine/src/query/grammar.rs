//! FilterExpr: the one filter grammar of lists, exports, segments, charts and field rules, as
//! pure types. Nothing here knows SQL or storage: the SQL compiler and the in-memory evaluator
//! both take these types.

use crate::error::{EngineError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Duration};

/// Every operator of the filter grammar (DESIGN.md, "Reports engine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Contains,
    StartsWith,
    IsEmpty,
    NotEmpty,
    Between,
    LastNDays,
    BeforeNDays,
    NextNDays,
    AfterNDays,
    ThisWeek,
    ThisMonth,
    ThisQuarter,
    ThisYear,
    BirthdayInNDays,
}

impl Op {
    pub const ALL: [Op; 22] = [
        Op::Eq,
        Op::Ne,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::In,
        Op::NotIn,
        Op::Contains,
        Op::StartsWith,
        Op::IsEmpty,
        Op::NotEmpty,
        Op::Between,
        Op::LastNDays,
        Op::BeforeNDays,
        Op::NextNDays,
        Op::AfterNDays,
        Op::ThisWeek,
        Op::ThisMonth,
        Op::ThisQuarter,
        Op::ThisYear,
        Op::BirthdayInNDays,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::IsEmpty => "is_empty",
            Op::NotEmpty => "not_empty",
            Op::Between => "between",
            Op::LastNDays => "last_n_days",
            Op::BeforeNDays => "before_n_days",
            Op::NextNDays => "next_n_days",
            Op::AfterNDays => "after_n_days",
            Op::ThisWeek => "this_week",
            Op::ThisMonth => "this_month",
            Op::ThisQuarter => "this_quarter",
            Op::ThisYear => "this_year",
            Op::BirthdayInNDays => "birthday_in_n_days",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether every record the condition keeps has a value in its field.
    pub fn excludes_nulls(self) -> bool {
        !matches!(self, Op::Ne | Op::NotIn | Op::IsEmpty)
    }

    /// The calendar periods: the week (Monday first), month, quarter or year holding today.
    pub fn is_calendar_period(self) -> bool {
        matches!(
            self,
            Op::ThisWeek | Op::ThisMonth | Op::ThisQuarter | Op::ThisYear
        )
    }

    /// Operators whose value is a number of days.
    pub fn takes_days(self) -> bool {
        matches!(
            self,
            Op::LastNDays | Op::BeforeNDays | Op::NextNDays | Op::AfterNDays | Op::BirthdayInNDays
        )
    }

    /// Operators whose value is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn | Op::Between)
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A filter tree as clients send it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FilterExpr {
    And {
        and: Vec<FilterExpr>,
    },
    Or {
        or: Vec<FilterExpr>,
    },
    Not {
        not: Box<FilterExpr>,
    },
    /// Records of another entity that reference this one: `{"exists": {"entity": "visit",
    /// "ref": "patient", "filters": …}}`.
    Exists {
        exists: ExistsTest,
    },
    Condition {
        field: String,
        op: Op,
        value: Value,
    },
    /// A saved segment by name: `{"segment": "lapsed_6m"}`. It stands for the segment's own
    /// filter, inlined by `Engine::expand_segments` before anything compiles or evaluates it.
    Segment {
        segment: String,
    },
}

/// A test on related records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExistsTest {
    pub entity: String,
    /// The reference (or references) field of `entity` that points at the filtered entity.
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Box<FilterExpr>>,
}

/// The shape as it arrives, before operators are checked.
#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum RawFilter {
    And {
        and: Vec<RawFilter>,
    },
    Or {
        or: Vec<RawFilter>,
    },
    Not {
        not: Box<RawFilter>,
    },
    Exists {
        exists: RawExists,
    },
    Condition {
        field: String,
        op: String,
        #[serde(default)]
        value: Value,
    },
    Segment {
        segment: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExists {
    entity: String,
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    filters: Option<Box<RawFilter>>,
}

/// How deep `and`/`or`/`not`/`exists` may nest.
pub const MAX_DEPTH: usize = 16;

impl RawFilter {
    fn typed(self, depth: usize) -> Result<FilterExpr> {
        if depth > MAX_DEPTH {
            return Err(EngineError::bad_request(format!(
                "the filter is nested too deeply (at most {MAX_DEPTH} levels)"
            )));
        }
        let list = |items: Vec<RawFilter>| -> Result<Vec<FilterExpr>> {
            items.into_iter().map(|f| f.typed(depth + 1)).collect()
        };
        Ok(match self {
            RawFilter::And { and } => FilterExpr::And { and: list(and)? },
            RawFilter::Or { or } => FilterExpr::Or { or: list(or)? },
            RawFilter::Not { not } => FilterExpr::Not {
                not: Box::new(not.typed(depth + 1)?),
            },
            RawFilter::Exists { exists } => FilterExpr::Exists {
                exists: ExistsTest {
                    entity: exists.entity,
                    reference: exists.reference,
                    filters: match exists.filters {
                        Some(f) => Some(Box::new(f.typed(depth + 1)?)),
                        None => None,
                    },
                },
            },
            RawFilter::Condition { field, op, value } => {
                let op = Op::parse(&op).ok_or_else(|| {
                    EngineError::bad_request(format!(
                        "unknown filter operator {op:?} on {field}; known: {}",
                        Op::ALL.map(Op::as_str).join(" ")
                    ))
                })?;
                FilterExpr::Condition { field, op, value }
            }
            RawFilter::Segment { segment } => FilterExpr::Segment { segment },
        })
    }
}

impl<'de> Deserialize<'de> for FilterExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = RawFilter::deserialize(d)?;
        raw.typed(0)
            .map_err(|e| serde::de::Error::custom(e.message(crate::Lang::En)))
    }
}

impl FilterExpr {
    /// Parses a filter from its JSON form: the shape, the operators and the nesting depth.
    pub fn parse(v: Value) -> Result<FilterExpr> {
        let raw: RawFilter = serde_json::from_value(v).map_err(|_| {
            EngineError::bad_request(
                "filter must be {\"field\",\"op\",\"value\"} or {\"and\": […]}, {\"or\": […]}, {\"not\": …}, {\"exists\": {\"entity\",\"ref\",\"filters\"}}, {\"segment\": name}",
            )
        })?;
        raw.typed(0)
    }

    /// Whether every record the filter keeps has a value in `field`.
    pub fn excludes_nulls_of(&self, field: &str) -> bool {
        match self {
            FilterExpr::And { and } => and.iter().any(|f| f.excludes_nulls_of(field)),
            FilterExpr::Or { or } => {
                !or.is_empty() && or.iter().all(|f| f.excludes_nulls_of(field))
            }
            FilterExpr::Not { .. } | FilterExpr::Exists { .. } | FilterExpr::Segment { .. } => {
                false
            }
            FilterExpr::Condition { field: f, op, .. } => f == field && op.excludes_nulls(),
        }
    }

    /// The other entities the filter looks into (through `exists`), for permission checks.
    pub fn related_entities(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_related(&mut out);
        out
    }

    /// The (field, operator) pairs of this entity's conditions, outside `exists` tests.
    pub fn conditions(&self) -> Vec<(&str, Op)> {
        let mut out = Vec::new();
        self.collect_conditions(&mut out);
        out
    }

    fn collect_conditions<'a>(&'a self, out: &mut Vec<(&'a str, Op)>) {
        match self {
            FilterExpr::And { and: list } | FilterExpr::Or { or: list } => {
                list.iter().for_each(|f| f.collect_conditions(out))
            }
            FilterExpr::Not { not } => not.collect_conditions(out),
            FilterExpr::Exists { .. } | FilterExpr::Segment { .. } => {}
            FilterExpr::Condition { field, op, .. } => out.push((field, *op)),
        }
    }

    fn collect_related(&self, out: &mut Vec<String>) {
        match self {
            FilterExpr::And { and: list } | FilterExpr::Or { or: list } => {
                list.iter().for_each(|f| f.collect_related(out))
            }
            FilterExpr::Not { not } => not.collect_related(out),
            FilterExpr::Exists { exists } => {
                out.push(exists.entity.clone());
                if let Some(f) = &exists.filters {
                    f.collect_related(out);
                }
            }
            FilterExpr::Condition { .. } | FilterExpr::Segment { .. } => {}
        }
    }

    /// The saved segments the filter names, in order of appearance, each once (inside
    /// `exists` tests too).
    pub fn segments(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_segments(&mut out);
        out
    }

    fn collect_segments(&self, out: &mut Vec<String>) {
        match self {
            FilterExpr::And { and: list } | FilterExpr::Or { or: list } => {
                list.iter().for_each(|f| f.collect_segments(out))
            }
            FilterExpr::Not { not } => not.collect_segments(out),
            FilterExpr::Exists { exists } => {
                if let Some(f) = &exists.filters {
                    f.collect_segments(out);
                }
            }
            FilterExpr::Segment { segment } => {
                if !out.contains(segment) {
                    out.push(segment.clone());
                }
            }
            FilterExpr::Condition { .. } => {}
        }
    }
}

/// A whole number of days for the relative date operators.
pub fn days_of(value: &Value) -> Result<i64> {
    value
        .as_i64()
        .filter(|n| (0..=36_600).contains(n))
        .ok_or_else(|| {
            EngineError::bad_request(
                "a relative date filter needs a whole number of days (0 to 36600)",
            )
        })
}

/// [first day, first day of the next period) of the week (Monday first), month, quarter or
/// year holding `today`; `op` is one of the calendar-period operators.
pub fn calendar_period(today: Date, op: Op) -> (Date, Date) {
    use time::Month;
    let first_of = |year: i32, month: u8| {
        Date::from_calendar_date(year, Month::try_from(month).unwrap_or(Month::January), 1)
            .unwrap_or(today)
    };
    let next_month = |year: i32, month: u8, add: u8| {
        let m = u32::from(month) - 1 + u32::from(add);
        first_of(year + (m / 12) as i32, (m % 12) as u8 + 1)
    };
    let (y, m) = (today.year(), u8::from(today.month()));
    match op {
        Op::ThisWeek => {
            let start =
                today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
            (start, start + Duration::days(7))
        }
        Op::ThisMonth => (first_of(y, m), next_month(y, m, 1)),
        Op::ThisQuarter => {
            let qm = (m - 1) / 3 * 3 + 1;
            (first_of(y, qm), next_month(y, qm, 3))
        }
        _ => (first_of(y, 1), first_of(y + 1, 1)),
    }
}

/// The month-day keys (`MM-DD`) of birthdays from today to `days` ahead; 29 February counts on
/// the 28th in other years.
pub fn birthday_keys(today: Date, days: i64) -> std::collections::BTreeSet<String> {
    let mut month_days = std::collections::BTreeSet::new();
    for offset in 0..=Ord::min(days, 366) {
        let day = today + Duration::days(offset);
        month_days.insert(format!("{:02}-{:02}", u8::from(day.month()), day.day()));
        if day.month() == time::Month::February
            && day.day() == 28
            && !time::util::is_leap_year(day.year())
        {
            month_days.insert("02-29".to_string());
        }
    }
    month_days
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    #[test]
    fn calendar_periods_start_on_monday_and_the_first() {
        let wed = date!(2026 - 11 - 25);
        assert_eq!(
            calendar_period(wed, Op::ThisWeek),
            (date!(2026 - 11 - 23), date!(2026 - 11 - 30))
        );
        assert_eq!(
            calendar_period(wed, Op::ThisMonth),
            (date!(2026 - 11 - 01), date!(2026 - 12 - 01))
        );
        assert_eq!(
            calendar_period(wed, Op::ThisQuarter),
            (date!(2026 - 10 - 01), date!(2027 - 01 - 01))
        );
        assert_eq!(
            calendar_period(wed, Op::ThisYear),
            (date!(2026 - 01 - 01), date!(2027 - 01 - 01))
        );
    }

    #[test]
    fn a_range_on_the_sort_field_rules_out_nulls() {
        let f = FilterExpr::parse(json!({"and": [
            {"field": "tier", "op": "eq", "value": "VIP"},
            {"field": "total_spent", "op": "gt", "value": 5000}
        ]}))
        .unwrap();
        assert!(f.excludes_nulls_of("total_spent"));
        assert!(f.excludes_nulls_of("tier"));
        assert!(!f.excludes_nulls_of("name"));
        let f = FilterExpr::parse(json!({"or": [
            {"field": "total_spent", "op": "gt", "value": 5000},
            {"field": "tier", "op": "eq", "value": "VIP"}
        ]}))
        .unwrap();
        assert!(!f.excludes_nulls_of("total_spent"));
        let f =
            FilterExpr::parse(json!({"not": {"field": "total_spent", "op": "is_empty"}})).unwrap();
        assert!(!f.excludes_nulls_of("total_spent"));
    }

    #[test]
    fn filters_parse_from_json_with_typed_operators() {
        let f = FilterExpr::parse(json!({"and": [
            {"field": "tier", "op": "eq", "value": "VIP"},
            {"not": {"field": "total_spent", "op": "lt", "value": 5000}}
        ]}))
        .unwrap();
        assert!(matches!(f, FilterExpr::And { ref and } if and.len() == 2));
        assert_eq!(
            f.conditions(),
            vec![("tier", Op::Eq), ("total_spent", Op::Lt)]
        );
        assert!(FilterExpr::parse(json!({"field": 1})).is_err());
        assert!(FilterExpr::parse(json!([1, 2])).is_err());
        let unknown = FilterExpr::parse(json!({"field": "tier", "op": "like", "value": "V"}));
        assert!(unknown.unwrap_err().to_string().contains("like"));
    }

    #[test]
    fn every_operator_round_trips_by_name() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.as_str()), Some(op));
            assert_eq!(serde_json::to_value(op).unwrap(), json!(op.as_str()));
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let mut f = json!({"field": "tier", "op": "eq", "value": "VIP"});
        for _ in 0..=MAX_DEPTH {
            f = json!({ "not": f });
        }
        assert!(FilterExpr::parse(f).is_err());
    }

    #[test]
    fn a_segment_leaf_parses_and_is_listed() {
        let f = FilterExpr::parse(json!({"and": [
            {"segment": "lapsed_6m"},
            {"not": {"segment": "lapsed_6m"}},
            {"exists": {"entity": "visit", "ref": "patient", "filters": {"segment": "recent"}}}
        ]}))
        .unwrap();
        assert_eq!(f.segments(), vec!["lapsed_6m", "recent"]);
        assert!(f.conditions().is_empty());
        assert!(FilterExpr::parse(json!({"segment": "a", "field": "x"})).is_err());
        assert_eq!(
            serde_json::to_value(FilterExpr::Segment {
                segment: "a".into()
            })
            .unwrap(),
            json!({"segment": "a"})
        );
    }

    #[test]
    fn birthdays_on_29_february_count_on_the_28th() {
        let keys = birthday_keys(date!(2027 - 02 - 27), 2);
        assert!(keys.contains("02-29"));
        assert!(keys.contains("03-01"));
    }
}
