//! FilterExpr: the one filter grammar of lists, segments, charts and field rules, compiled to
//! conditions on projection columns (never JSON extraction, but for `contains` on a textarea).

use crate::crypto::Keyring;
use crate::entities::storage::{column_name, q};
use crate::entities::{EntityRuntime, FieldStorage, StorageKind};
use crate::error::{EngineError, Result};
use crate::forms::{checks, FieldType};
use crate::records::projection;
use crate::store::{Arg, Backend};
use sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Query, Value as SeaValue};
use serde::Deserialize;
use serde_json::Value;
use time::{Date, Duration, OffsetDateTime};

/// A filter tree as clients send it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
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
        op: String,
        #[serde(default)]
        value: Value,
    },
}

/// A test on related records.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExistsTest {
    pub entity: String,
    /// The reference (or references) field of `entity` that points at the filtered entity.
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub filters: Option<Box<FilterExpr>>,
}

impl FilterExpr {
    pub fn parse(v: Value) -> Result<FilterExpr> {
        serde_json::from_value(v).map_err(|_| {
            EngineError::bad_request(
                "filter must be {\"field\",\"op\",\"value\"} or {\"and\": […]}, {\"or\": […]}, {\"not\": …}",
            )
        })
    }
}

impl FilterExpr {
    /// Whether every record the filter keeps has a value in `field`.
    pub fn excludes_nulls_of(&self, field: &str) -> bool {
        match self {
            FilterExpr::And { and } => and.iter().any(|f| f.excludes_nulls_of(field)),
            FilterExpr::Or { or } => {
                !or.is_empty() && or.iter().all(|f| f.excludes_nulls_of(field))
            }
            FilterExpr::Not { .. } | FilterExpr::Exists { .. } => false,
            FilterExpr::Condition { field: f, op, .. } => {
                f == field
                    && matches!(
                        op.as_str(),
                        "eq" | "gt"
                            | "gte"
                            | "lt"
                            | "lte"
                            | "in"
                            | "between"
                            | "contains"
                            | "starts_with"
                            | "not_empty"
                            | "last_n_days"
                            | "next_n_days"
                            | "before_n_days"
                            | "after_n_days"
                            | "this_week"
                            | "this_month"
                            | "this_quarter"
                            | "this_year"
                            | "birthday_in_n_days"
                    )
            }
        }
    }
}

impl FilterExpr {
    /// The other entities the filter looks into (through `exists`), for permission checks.
    pub fn related_entities(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_related(&mut out);
        out
    }

    /// The (field, operator) pairs of this entity's conditions, outside `exists` tests.
    pub fn conditions(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        self.collect_conditions(&mut out);
        out
    }

    fn collect_conditions<'a>(&'a self, out: &mut Vec<(&'a str, &'a str)>) {
        match self {
            FilterExpr::And { and: list } | FilterExpr::Or { or: list } => {
                list.iter().for_each(|f| f.collect_conditions(out))
            }
            FilterExpr::Not { not } => not.collect_conditions(out),
            FilterExpr::Exists { .. } => {}
            FilterExpr::Condition { field, op, .. } => out.push((field, op)),
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
            FilterExpr::Condition { .. } => {}
        }
    }
}

/// Every operator of the filter grammar.
pub const OPERATORS: &[&str] = &[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "is_empty",
    "not_empty",
    "between",
    "last_n_days",
    "before_n_days",
    "next_n_days",
    "after_n_days",
    "this_week",
    "this_month",
    "this_quarter",
    "this_year",
    "birthday_in_n_days",
];

/// Columns every record fills.
pub(crate) fn is_system_column(field: &str) -> bool {
    matches!(
        field,
        "id" | "version" | "created_at" | "updated_at" | "created_by" | "updated_by"
    )
}

/// What a filter is compiled against: the entity, the backend, the key and the moment.
pub struct FilterContext<'a> {
    pub rt: &'a EntityRuntime,
    /// Every entity, for `exists` tests.
    pub entities: &'a [std::sync::Arc<EntityRuntime>],
    pub backend: Backend,
    pub keys: &'a Keyring,
    pub now: OffsetDateTime,
    pub today: Date,
}

const MAX_DEPTH: usize = 16;

/// A system column every record has.
fn system_type(field: &str) -> Option<FieldType> {
    Some(match field {
        "id" => FieldType::Reference,
        "version" => FieldType::Integer,
        "created_at" | "updated_at" => FieldType::Datetime,
        "created_by" | "updated_by" => FieldType::Text,
        _ => return None,
    })
}

/// The column a field sorts and filters on, and how its values bind.
pub(crate) fn resolve_field(rt: &EntityRuntime, field: &str) -> Result<FieldStorage> {
    if let Some(value_type) = system_type(field) {
        return Ok(FieldStorage {
            field: field.to_string(),
            value_type,
            kind: StorageKind::Column(field.to_string()),
            sensitive: false,
            unique_index: None,
            plain_index: None,
        });
    }
    rt.field_storage(field)
        .cloned()
        .ok_or_else(|| EngineError::bad_request(format!("unknown field {field} of {}", rt.name())))
}

fn col(rt: &EntityRuntime, column: &str) -> Expr {
    Expr::col((Alias::new(rt.table.clone()), Alias::new(column.to_string())))
}

fn like_pattern(text: &str, prefix_only: bool) -> LikeExpr {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = if prefix_only {
        format!("{escaped}%")
    } else {
        format!("%{escaped}%")
    };
    LikeExpr::new(pattern).escape('\\')
}

impl FilterContext<'_> {
    fn bind(&self, fs: &FieldStorage, value: &Value) -> Result<SeaValue> {
        // Writes store phones and ID numbers normalised (and hash that form when sensitive):
        // compare with the same form, or `+86 139…` and a lower-case `x` never match.
        let normalized = match (fs.value_type, value) {
            (FieldType::Phone, Value::String(s)) => checks::normalize_phone(s).map(Value::String),
            (FieldType::IdCard, Value::String(s)) => {
                checks::check_id_card(s).ok().map(Value::String)
            }
            _ => None,
        };
        let value = normalized.as_ref().unwrap_or(value);
        let arg = projection::scalar_arg(fs, Some(value), self.keys);
        let arg = match (&arg, fs.value_type, value) {
            // Numbers compare with numbers; an integer column also takes 3.0.
            (Arg::Int(None), FieldType::Integer, Value::Number(n)) => {
                Arg::Int(n.as_f64().map(|f| f as i64))
            }
            _ => arg,
        };
        let is_null = arg.is_null();
        if is_null || value.is_null() {
            return Err(EngineError::bad_request(format!(
                "the filter value is not a valid value for {} (the value is not repeated: it may be personal)",
                fs.field
            )));
        }
        Ok(arg.into_sea(self.backend))
    }

    fn bind_list(&self, fs: &FieldStorage, value: &Value) -> Result<Vec<SeaValue>> {
        let items = value.as_array().ok_or_else(|| {
            EngineError::bad_request(format!("{} needs a list of values", fs.field))
        })?;
        items.iter().map(|v| self.bind(fs, v)).collect()
    }

    fn side_exists(&self, side: &str, values: Option<Vec<SeaValue>>) -> Expr {
        let side_alias = Alias::new(side.to_string());
        let mut sub = Query::select();
        sub.expr(Expr::val(1)).from(side_alias.clone()).and_where(
            Expr::col((side_alias.clone(), Alias::new("record_id")))
                .equals((Alias::new(self.rt.table.clone()), Alias::new("id"))),
        );
        if let Some(values) = values {
            sub.and_where(Expr::col((side_alias, Alias::new("value"))).is_in(values));
        }
        Expr::exists(sub.to_owned())
    }

    /// Dates or datetimes bounding a relative period, as bound values for `fs`.
    fn period(
        &self,
        fs: &FieldStorage,
        from_days: i64,
        to_days: i64,
    ) -> Result<(SeaValue, SeaValue)> {
        let (a, b) = match fs.value_type {
            FieldType::Date => (
                Arg::Date(Some(self.today + Duration::days(from_days))),
                Arg::Date(Some(self.today + Duration::days(to_days))),
            ),
            FieldType::Datetime => (
                Arg::Time(Some(self.now + Duration::days(from_days))),
                Arg::Time(Some(self.now + Duration::days(to_days))),
            ),
            _ => {
                return Err(EngineError::bad_request(format!(
                    "{} is not a date field",
                    fs.field
                )))
            }
        };
        Ok((a.into_sea(self.backend), b.into_sea(self.backend)))
    }

    fn days(value: &Value) -> Result<i64> {
        value
            .as_i64()
            .filter(|n| (0..=36_600).contains(n))
            .ok_or_else(|| {
                EngineError::bad_request(
                    "a relative date filter needs a whole number of days (0 to 36600)",
                )
            })
    }

    pub fn compile(&self, filter: &FilterExpr) -> Result<Expr> {
        self.compile_at(filter, 0)
    }

    fn compile_at(&self, filter: &FilterExpr, depth: usize) -> Result<Expr> {
        if depth > MAX_DEPTH {
            return Err(EngineError::bad_request("the filter is nested too deeply"));
        }
        match filter {
            FilterExpr::And { and } => {
                let mut out = Expr::val(true);
                for (i, f) in and.iter().enumerate() {
                    let e = self.compile_at(f, depth + 1)?;
                    out = if i == 0 { e } else { out.and(e) };
                }
                Ok(out)
            }
            FilterExpr::Or { or } => {
                let mut out = Expr::val(false);
                for (i, f) in or.iter().enumerate() {
                    let e = self.compile_at(f, depth + 1)?;
                    out = if i == 0 { e } else { out.or(e) };
                }
                Ok(out)
            }
            FilterExpr::Not { not } => Ok(self.compile_at(not, depth + 1)?.not()),
            FilterExpr::Exists { exists } => self.exists(exists, depth),
            FilterExpr::Condition { field, op, value } => self.condition(field, op, value),
        }
    }

    /// `EXISTS` over the referencing entity's live records, through its indexed reference
    /// column or side table.
    fn exists(&self, test: &ExistsTest, depth: usize) -> Result<Expr> {
        let target = self
            .entities
            .iter()
            .find(|e| e.name() == test.entity)
            .ok_or_else(|| EngineError::bad_request(format!("unknown entity {}", test.entity)))?;
        if target.name() == self.rt.name() {
            return Err(EngineError::bad_request(
                "exists within the same entity is not supported yet",
            ));
        }
        let points_here = target
            .definition()
            .field(&test.reference)
            .and_then(|f| f.entity.as_ref())
            .is_some_and(|e| e.as_str() == self.rt.name());
        if !points_here {
            return Err(EngineError::bad_request(format!(
                "{}.{} is not a reference to {}",
                test.entity,
                test.reference,
                self.rt.name()
            )));
        }
        let fs = resolve_field(target, &test.reference)?;
        let inner_table = Alias::new(target.table.clone());
        let outer_id = (Alias::new(self.rt.table.clone()), Alias::new("id"));
        let mut sub = Query::select();
        sub.expr(Expr::val(1))
            .from(inner_table.clone())
            .and_where(Expr::col((inner_table.clone(), Alias::new("deleted_at"))).is_null());
        match &fs.kind {
            StorageKind::Column(column) => {
                sub.and_where(
                    Expr::col((inner_table.clone(), Alias::new(column.clone()))).equals(outer_id),
                );
            }
            StorageKind::SideTable(side) => {
                let side = Alias::new(side.clone());
                let mut links = Query::select();
                links
                    .column((side.clone(), Alias::new("record_id")))
                    .from(side.clone())
                    .and_where(Expr::col((side, Alias::new("value"))).equals(outer_id));
                sub.and_where(
                    Expr::col((inner_table.clone(), Alias::new("id")))
                        .in_subquery(links.to_owned()),
                );
            }
            StorageKind::DocumentOnly => {
                return Err(EngineError::bad_request(format!(
                    "{} cannot link records",
                    test.reference
                )))
            }
        }
        if let Some(filters) = &test.filters {
            let inner = FilterContext {
                rt: target,
                entities: self.entities,
                backend: self.backend,
                keys: self.keys,
                now: self.now,
                today: self.today,
            };
            sub.and_where(inner.compile_at(filters, depth + 1)?);
        }
        Ok(Expr::exists(sub.to_owned()))
    }

    /// Birthdays (month and day of a date field) from today to N days ahead; 29 February counts
    /// on the 28th in other years.
    fn birthday_condition(&self, fs: &FieldStorage, column: &str, value: &Value) -> Result<Expr> {
        if fs.value_type != FieldType::Date {
            return Err(unsupported("birthday_in_n_days", &fs.field));
        }
        let days = Ord::min(Self::days(value)?, 366);
        let mut month_days = std::collections::BTreeSet::new();
        for offset in 0..=days {
            let day = self.today + Duration::days(offset);
            month_days.insert(format!("{:02}-{:02}", u8::from(day.month()), day.day()));
            if day.month() == time::Month::February
                && day.day() == 28
                && !time::util::is_leap_year(day.year())
            {
                month_days.insert("02-29".to_string());
            }
        }
        let qualified = format!("{}.{}", q(&self.rt.table), q(column));
        let month_day = match self.backend {
            Backend::Sqlite => format!("substr({qualified}, 6, 5)"),
            Backend::Postgres => format!("to_char({qualified}, 'MM-DD')"),
        };
        Ok(Expr::cust(month_day).is_in(month_days.into_iter().map(SeaValue::from)))
    }

    fn condition(&self, field: &str, op: &str, value: &Value) -> Result<Expr> {
        let fs = resolve_field(self.rt, field)?;
        if fs.sensitive && !matches!(op, "eq" | "in" | "is_empty" | "not_empty") {
            return Err(EngineError::bad_request(format!(
                "{field} is sensitive: only eq, in, is_empty and not_empty apply"
            )));
        }
        match &fs.kind {
            StorageKind::SideTable(side) => self.side_condition(&fs, side, op, value),
            StorageKind::DocumentOnly => self.document_condition(&fs, op, value),
            StorageKind::Column(column) => self.column_condition(&fs, column, op, value),
        }
    }

    fn column_condition(
        &self,
        fs: &FieldStorage,
        column: &str,
        op: &str,
        value: &Value,
    ) -> Result<Expr> {
        let c = || col(self.rt, column);
        let text_like = matches!(
            fs.value_type,
            FieldType::Text
                | FieldType::Select
                | FieldType::Phone
                | FieldType::Email
                | FieldType::IdCard
                | FieldType::Autonumber
                | FieldType::User
        );
        Ok(match op {
            "eq" => c().eq(self.bind(fs, value)?),
            "ne" => c().ne(self.bind(fs, value)?).or(c().is_null()),
            "gt" => c().gt(self.bind(fs, value)?),
            "gte" => c().gte(self.bind(fs, value)?),
            "lt" => c().lt(self.bind(fs, value)?),
            "lte" => c().lte(self.bind(fs, value)?),
            "in" => c().is_in(self.bind_list(fs, value)?),
            "not_in" => c().is_not_in(self.bind_list(fs, value)?).or(c().is_null()),
            "between" => {
                let bounds = self.bind_list(fs, value)?;
                let [low, high] = <[SeaValue; 2]>::try_from(bounds)
                    .map_err(|_| EngineError::bad_request("between needs [low, high]"))?;
                c().gte(low).and(c().lte(high))
            }
            "contains" | "starts_with" if text_like => {
                let text = value
                    .as_str()
                    .ok_or_else(|| EngineError::bad_request(format!("{op} needs text")))?;
                Expr::expr(Func::lower(c())).like(like_pattern(text, op == "starts_with"))
            }
            "is_empty" => {
                if text_like {
                    c().is_null().or(c().eq(""))
                } else {
                    c().is_null()
                }
            }
            "not_empty" => {
                if text_like {
                    c().is_not_null().and(c().ne(""))
                } else {
                    c().is_not_null()
                }
            }
            "last_n_days" => {
                let (a, b) = self.period(fs, -Self::days(value)?, 0)?;
                c().gte(a).and(c().lte(b))
            }
            "next_n_days" => {
                let (a, b) = self.period(fs, 0, Self::days(value)?)?;
                c().gte(a).and(c().lte(b))
            }
            "before_n_days" => {
                let (a, _) = self.period(fs, -Self::days(value)?, 0)?;
                c().lt(a)
            }
            "after_n_days" => {
                let (_, b) = self.period(fs, 0, Self::days(value)?)?;
                c().gt(b)
            }
            "this_week" | "this_month" | "this_quarter" | "this_year" => {
                let (start, end) = calendar_period(self.today, op);
                let (a, b) = self.period(
                    fs,
                    (start - self.today).whole_days(),
                    (end - self.today).whole_days(),
                )?;
                let (a, b) = if fs.value_type == FieldType::Datetime {
                    // Whole local days: from the period's first midnight to the next period's.
                    let offset = self.now.offset();
                    (
                        Arg::Time(Some(start.midnight().assume_offset(offset)))
                            .into_sea(self.backend),
                        Arg::Time(Some(end.midnight().assume_offset(offset)))
                            .into_sea(self.backend),
                    )
                } else {
                    (a, b)
                };
                c().gte(a).and(c().lt(b))
            }
            "birthday_in_n_days" => self.birthday_condition(fs, column, value)?,
            other => return Err(unsupported(other, &fs.field)),
        })
    }

    fn side_condition(
        &self,
        fs: &FieldStorage,
        side: &str,
        op: &str,
        value: &Value,
    ) -> Result<Expr> {
        Ok(match op {
            "eq" | "contains" => self.side_exists(side, Some(vec![self.bind(fs, value)?])),
            "in" => self.side_exists(side, Some(self.bind_list(fs, value)?)),
            "not_in" => self
                .side_exists(side, Some(self.bind_list(fs, value)?))
                .not(),
            "ne" => self
                .side_exists(side, Some(vec![self.bind(fs, value)?]))
                .not(),
            "is_empty" => self.side_exists(side, None).not(),
            "not_empty" => self.side_exists(side, None),
            other => return Err(unsupported(other, &fs.field)),
        })
    }

    /// Textareas have no column; `contains` is the one filter that scans the document.
    fn document_condition(&self, fs: &FieldStorage, op: &str, value: &Value) -> Result<Expr> {
        let extract = match self.backend {
            Backend::Sqlite => format!(
                "json_extract({}.\"data\", '$.{}')",
                q(&self.rt.table),
                fs.field
            ),
            Backend::Postgres => format!("({}.\"data\" ->> '{}')", q(&self.rt.table), fs.field),
        };
        match op {
            "contains" if !fs.sensitive => {
                let text = value
                    .as_str()
                    .ok_or_else(|| EngineError::bad_request("contains needs text"))?;
                Ok(Expr::expr(Func::lower(Expr::cust(extract))).like(like_pattern(text, false)))
            }
            "is_empty" => Ok(Expr::cust(extract.clone())
                .is_null()
                .or(Expr::cust(extract).eq(""))),
            "not_empty" => Ok(Expr::cust(extract.clone())
                .is_not_null()
                .and(Expr::cust(extract).ne(""))),
            other => Err(unsupported(other, &fs.field)),
        }
    }
}

fn unsupported(op: &str, field: &str) -> EngineError {
    EngineError::bad_request(format!("the operator {op} does not apply to {field}"))
}

/// [first day, first day of the next period) of the week (Monday first), month, quarter or
/// year holding `today`.
fn calendar_period(today: Date, op: &str) -> (Date, Date) {
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
        "this_week" => {
            let start =
                today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
            (start, start + Duration::days(7))
        }
        "this_month" => (first_of(y, m), next_month(y, m, 1)),
        "this_quarter" => {
            let qm = (m - 1) / 3 * 3 + 1;
            (first_of(y, qm), next_month(y, qm, 3))
        }
        _ => (first_of(y, 1), first_of(y + 1, 1)),
    }
}

/// The column name of a field for sorting, refusing sensitive and multi-valued fields.
pub(crate) fn sort_column(rt: &EntityRuntime, field: &str) -> Result<(String, FieldType)> {
    let fs = resolve_field(rt, field)?;
    if fs.sensitive {
        return Err(EngineError::bad_request(format!(
            "{field} is sensitive and cannot be sorted"
        )));
    }
    match fs.kind {
        StorageKind::Column(c) => Ok((c, fs.value_type)),
        _ => Err(EngineError::bad_request(format!(
            "{field} cannot be sorted"
        ))),
    }
}

/// Text-search columns: text, phone, select and autonumber fields that are not sensitive.
pub(crate) fn search_columns(rt: &EntityRuntime) -> Vec<String> {
    rt.columns()
        .filter(|fs| {
            !fs.sensitive
                && matches!(
                    fs.value_type,
                    FieldType::Text | FieldType::Phone | FieldType::Select | FieldType::Autonumber
                )
        })
        .map(|fs| column_name(&fs.field))
        .collect()
}

pub(crate) fn search_condition(rt: &EntityRuntime, text: &str) -> Expr {
    let columns = search_columns(rt);
    let mut out = Expr::val(false);
    for (i, c) in columns.iter().enumerate() {
        let e = Expr::expr(Func::lower(col(rt, c))).like(like_pattern(text, false));
        out = if i == 0 { e } else { out.or(e) };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn calendar_periods_start_on_monday_and_the_first() {
        let wed = date!(2026 - 11 - 25);
        assert_eq!(
            calendar_period(wed, "this_week"),
            (date!(2026 - 11 - 23), date!(2026 - 11 - 30))
        );
        assert_eq!(
            calendar_period(wed, "this_month"),
            (date!(2026 - 11 - 01), date!(2026 - 12 - 01))
        );
        assert_eq!(
            calendar_period(wed, "this_quarter"),
            (date!(2026 - 10 - 01), date!(2027 - 01 - 01))
        );
        assert_eq!(
            calendar_period(wed, "this_year"),
            (date!(2026 - 01 - 01), date!(2027 - 01 - 01))
        );
    }

    #[test]
    fn a_range_on_the_sort_field_rules_out_nulls() {
        let f = FilterExpr::parse(serde_json::json!({"and": [
            {"field": "tier", "op": "eq", "value": "VIP"},
            {"field": "total_spent", "op": "gt", "value": 5000}
        ]}))
        .unwrap();
        assert!(f.excludes_nulls_of("total_spent"));
        assert!(f.excludes_nulls_of("tier"));
        assert!(!f.excludes_nulls_of("name"));
        let f = FilterExpr::parse(serde_json::json!({"or": [
            {"field": "total_spent", "op": "gt", "value": 5000},
            {"field": "tier", "op": "eq", "value": "VIP"}
        ]}))
        .unwrap();
        assert!(!f.excludes_nulls_of("total_spent"));
        let f = FilterExpr::parse(
            serde_json::json!({"not": {"field": "total_spent", "op": "is_empty"}}),
        )
        .unwrap();
        assert!(!f.excludes_nulls_of("total_spent"));
    }

    #[test]
    fn filters_parse_from_json() {
        let f = FilterExpr::parse(serde_json::json!({"and": [
            {"field": "tier", "op": "eq", "value": "VIP"},
            {"not": {"field": "total_spent", "op": "lt", "value": 5000}}
        ]}))
        .unwrap();
        assert!(matches!(f, FilterExpr::And { ref and } if and.len() == 2));
        assert!(FilterExpr::parse(serde_json::json!({"field": 1})).is_err());
        assert!(FilterExpr::parse(serde_json::json!([1, 2])).is_err());
    }
}
