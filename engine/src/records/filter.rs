//! The one permission-aware query compiler: a FilterExpr (the pure grammar of `query::grammar`)
//! compiled to conditions on projection columns (never JSON extraction, but for `contains` on
//! a textarea), with the caller's field rules applied on the way (`field_access`): hidden
//! fields refused, masked fields matched only by one exact value and noted for audit and the
//! lookup limit. Lists, exports, `exists` tests and charts compile through here; what differs
//! between the backends is asked of `dialect`.

use super::dialect::Dialect;
use super::field_access::{self, require_plain, FieldUse, Sight};
use super::lookups::MaskedLookup;
use crate::access::{Action, FieldRule, Principal, RowScope};
use crate::crypto::Keyring;
use crate::entities::storage::{column_name, q};
use crate::entities::{EntityRuntime, FieldStorage, StorageKind};
use crate::error::{EngineError, Result};
use crate::forms::compiled::subject_parts;
use crate::forms::{checks, FieldType};
use crate::query::grammar::{birthday_keys, calendar_period, days_of, ExistsTest, MAX_DEPTH};
pub use crate::query::grammar::{FilterExpr, Op};
use crate::records::projection;
use crate::store::{Arg, Backend};
use sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Query, Value as SeaValue};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use time::{Date, Duration, OffsetDateTime};

/// Values one `in`/`not_in` list may hold.
pub const MAX_LIST_VALUES: usize = 1000;
/// Conditions (and `exists` tests) one filter may hold.
pub const MAX_CONDITIONS: usize = 200;

/// What a filter is compiled against: the entity, the caller, the backend, the key and the
/// moment.
pub struct FilterContext<'a> {
    pub rt: &'a EntityRuntime,
    /// Every entity, for `exists` tests.
    pub entities: &'a [std::sync::Arc<EntityRuntime>],
    pub principal: &'a Principal,
    pub backend: Backend,
    pub keys: &'a Keyring,
    pub now: OffsetDateTime,
    pub today: Date,
}

/// A compiled filter and the masked fields it matches exactly, which the caller must admit
/// (`lookups::admit`) before running it.
pub struct CompiledFilter {
    pub condition: Expr,
    pub(crate) masked_lookups: Vec<MaskedLookup>,
}

/// The state of one compilation: what it has counted and noted.
#[derive(Default)]
struct Tally {
    conditions: Cell<usize>,
    lookups: RefCell<Vec<MaskedLookup>>,
}

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
            pinyin: None,
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
        if items.len() > MAX_LIST_VALUES {
            return Err(field_access::refuse(
                &fs.field,
                "too_many_values",
                format!("{} 的值列表最多 {MAX_LIST_VALUES} 个", fs.field),
                format!(
                    "a list of values for {} holds at most {MAX_LIST_VALUES}",
                    fs.field
                ),
            ));
        }
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

    pub fn compile(&self, filter: &FilterExpr) -> Result<CompiledFilter> {
        let tally = Tally::default();
        let condition = self.compile_at(filter, 0, &tally)?;
        Ok(CompiledFilter {
            condition,
            masked_lookups: tally.lookups.into_inner(),
        })
    }

    fn compile_at(&self, filter: &FilterExpr, depth: usize, tally: &Tally) -> Result<Expr> {
        if depth > MAX_DEPTH {
            return Err(EngineError::bad_request("the filter is nested too deeply"));
        }
        if matches!(
            filter,
            FilterExpr::Condition { .. } | FilterExpr::Exists { .. }
        ) {
            tally.conditions.set(tally.conditions.get() + 1);
            if tally.conditions.get() > MAX_CONDITIONS {
                return Err(EngineError::bad_request(format!(
                    "筛选条件过多，最多 {MAX_CONDITIONS} 个（a filter holds at most {MAX_CONDITIONS} conditions）"
                )));
            }
        }
        match filter {
            FilterExpr::And { and } => {
                let mut out = Expr::val(true);
                for (i, f) in and.iter().enumerate() {
                    let e = self.compile_at(f, depth + 1, tally)?;
                    out = if i == 0 { e } else { out.and(e) };
                }
                Ok(out)
            }
            FilterExpr::Or { or } => {
                let mut out = Expr::val(false);
                for (i, f) in or.iter().enumerate() {
                    let e = self.compile_at(f, depth + 1, tally)?;
                    out = if i == 0 { e } else { out.or(e) };
                }
                Ok(out)
            }
            FilterExpr::Not { not } => Ok(self.compile_at(not, depth + 1, tally)?.not()),
            FilterExpr::Exists { exists } => self.exists(exists, depth, tally),
            FilterExpr::Condition { field, op, value } => self.condition(field, *op, value, tally),
            // Segments are inlined before compiling (`Engine::expand_segments`); one reaching
            // here came by a path that does not take them.
            FilterExpr::Segment { segment } => Err(EngineError::bad_request(format!(
                "此处不能使用分群 {segment}（a segment cannot be used here: {segment}）"
            ))),
        }
    }

    /// `EXISTS` over the referencing entity's live records, through its indexed reference
    /// column or side table.
    fn exists(&self, test: &ExistsTest, depth: usize, tally: &Tally) -> Result<Expr> {
        let target = self
            .entities
            .iter()
            .find(|e| e.name() == test.entity)
            .ok_or_else(|| EngineError::bad_request(format!("unknown entity {}", test.entity)))?;
        // The other entity's read right and field rules bind the test as they bind its lists.
        self.principal.require(target.name(), Action::Read)?;
        if target.name() == self.rt.name() {
            return Err(EngineError::bad_request(
                "exists within the same entity is not supported yet",
            ));
        }
        let link = target.definition().field(&test.reference);
        let is_subject = link.is_some_and(|f| f.field_type == FieldType::Subject);
        let points_here = link.is_some_and(|f| match f.field_type {
            // A subject may point here unless its `entities` leave this entity out.
            FieldType::Subject => {
                f.entities.is_empty() || f.entities.iter().any(|e| e.as_str() == self.rt.name())
            }
            _ => f
                .entity
                .as_ref()
                .is_some_and(|e| e.as_str() == self.rt.name()),
        });
        if !points_here {
            return Err(EngineError::bad_request(format!(
                "{}.{} is not a reference to {}",
                test.entity,
                test.reference,
                self.rt.name()
            )));
        }
        let fs = resolve_field(target, &test.reference)?;
        require_plain(
            target,
            self.principal,
            &test.reference,
            fs.sensitive,
            FieldUse::Filter,
        )?;
        let inner_table = Alias::new(target.table.clone());
        let outer_id = (Alias::new(self.rt.table.clone()), Alias::new("id"));
        let mut sub = Query::select();
        sub.expr(Expr::val(1))
            .from(inner_table.clone())
            .and_where(Expr::col((inner_table.clone(), Alias::new("deleted_at"))).is_null());
        match &fs.kind {
            StorageKind::Column(column) if is_subject => {
                let entity_column = fs.entity_column().unwrap_or_default();
                sub.and_where(
                    Expr::col((inner_table.clone(), Alias::new(entity_column)))
                        .eq(self.rt.name().to_string()),
                );
                sub.and_where(
                    Expr::col((inner_table.clone(), Alias::new(column.clone()))).equals(outer_id),
                );
            }
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
                principal: self.principal,
                backend: self.backend,
                keys: self.keys,
                now: self.now,
                today: self.today,
            };
            sub.and_where(inner.compile_at(filters, depth + 1, tally)?);
        }
        Ok(Expr::exists(sub.to_owned()))
    }

    /// Birthdays (month and day of a date field) from today to N days ahead; 29 February counts
    /// on the 28th in other years.
    fn birthday_condition(&self, fs: &FieldStorage, column: &str, value: &Value) -> Result<Expr> {
        if fs.value_type != FieldType::Date {
            return Err(unsupported(Op::BirthdayInNDays, &fs.field));
        }
        let month_days = birthday_keys(self.today, days_of(value)?);
        let qualified = format!("{}.{}", q(&self.rt.table), q(column));
        let month_day = Dialect(self.backend).month_day(&qualified);
        Ok(Expr::cust(month_day).is_in(month_days.into_iter().map(SeaValue::from)))
    }

    fn condition(&self, field: &str, op: Op, value: &Value, tally: &Tally) -> Result<Expr> {
        let fs = resolve_field(self.rt, field)?;
        let sight = field_access::sight(
            self.rt,
            self.principal,
            field,
            fs.sensitive,
            FieldUse::Filter,
        )?;
        match (sight, op) {
            (Sight::Plain, _) => {}
            (_, Op::IsEmpty | Op::NotEmpty) => {}
            (Sight::Sensitive, Op::Eq | Op::In) => {}
            (Sight::Masked, Op::Eq) if !value.is_array() => {
                tally.lookups.borrow_mut().push(MaskedLookup {
                    entity: self.rt.name().to_string(),
                    field: field.to_string(),
                });
            }
            (Sight::Sensitive, _) => {
                return Err(field_access::refuse(
                    field,
                    "field_sensitive",
                    format!("{field} 为敏感字段，只能用 eq、in、is_empty、not_empty 筛选"),
                    format!("{field} is sensitive: only eq, in, is_empty and not_empty apply"),
                ))
            }
            (Sight::Masked, _) => {
                return Err(field_access::refuse(
                    field,
                    "field_masked",
                    format!("{field} 对您脱敏显示，只能按单个值精确查找（eq）"),
                    format!("{field} is masked for you: only an exact eq on one value applies"),
                ))
            }
        }
        match &fs.kind {
            StorageKind::Column(column) if fs.value_type == FieldType::Subject => {
                self.subject_condition(&fs, column, op, value)
            }
            StorageKind::SideTable(side) => self.side_condition(&fs, side, op, value),
            StorageKind::DocumentOnly => self.document_condition(&fs, op, value),
            StorageKind::Column(column) => self.column_condition(&fs, column, op, value),
        }
    }

    fn column_condition(
        &self,
        fs: &FieldStorage,
        column: &str,
        op: Op,
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
            Op::Eq => c().eq(self.bind(fs, value)?),
            Op::Ne => c().ne(self.bind(fs, value)?).or(c().is_null()),
            Op::Gt => c().gt(self.bind(fs, value)?),
            Op::Gte => c().gte(self.bind(fs, value)?),
            Op::Lt => c().lt(self.bind(fs, value)?),
            Op::Lte => c().lte(self.bind(fs, value)?),
            Op::In => c().is_in(self.bind_list(fs, value)?),
            Op::NotIn => c().is_not_in(self.bind_list(fs, value)?).or(c().is_null()),
            Op::Between => {
                let bounds = self.bind_list(fs, value)?;
                let [low, high] = <[SeaValue; 2]>::try_from(bounds)
                    .map_err(|_| EngineError::bad_request("between needs [low, high]"))?;
                c().gte(low).and(c().lte(high))
            }
            Op::Contains | Op::StartsWith if text_like => {
                let text = value
                    .as_str()
                    .ok_or_else(|| EngineError::bad_request(format!("{op} needs text")))?;
                Expr::expr(Func::lower(c())).like(like_pattern(text, op == Op::StartsWith))
            }
            Op::IsEmpty => {
                if text_like {
                    c().is_null().or(c().eq(""))
                } else {
                    c().is_null()
                }
            }
            Op::NotEmpty => {
                if text_like {
                    c().is_not_null().and(c().ne(""))
                } else {
                    c().is_not_null()
                }
            }
            Op::LastNDays => {
                let (a, b) = self.period(fs, -days_of(value)?, 0)?;
                c().gte(a).and(c().lte(b))
            }
            Op::NextNDays => {
                let (a, b) = self.period(fs, 0, days_of(value)?)?;
                c().gte(a).and(c().lte(b))
            }
            Op::BeforeNDays => {
                let (a, _) = self.period(fs, -days_of(value)?, 0)?;
                c().lt(a)
            }
            Op::AfterNDays => {
                let (_, b) = self.period(fs, 0, days_of(value)?)?;
                c().gt(b)
            }
            Op::ThisWeek | Op::ThisMonth | Op::ThisQuarter | Op::ThisYear => {
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
            Op::BirthdayInNDays => self.birthday_condition(fs, column, value)?,
            other => return Err(unsupported(other, &fs.field)),
        })
    }

    /// A subject's value `{"entity", "id"}` as the condition that its two columns hold it.
    fn subject_is(&self, fs: &FieldStorage, column: &str, value: &Value) -> Result<Expr> {
        let (entity, id) = subject_parts(value).ok_or_else(|| {
            EngineError::bad_request(format!(
                "{} takes a record link {{\"entity\", \"id\"}}",
                fs.field
            ))
        })?;
        let entity_column = fs.entity_column().unwrap_or_default();
        Ok(col(self.rt, &entity_column)
            .eq(entity.to_string())
            .and(col(self.rt, column).eq(Arg::Uuid(Some(id)).into_sea(self.backend))))
    }

    /// `eq`, `ne`, `in`, `not_in`, `is_empty` and `not_empty` on a subject's entity and id
    /// columns, which its index keys together.
    fn subject_condition(
        &self,
        fs: &FieldStorage,
        column: &str,
        op: Op,
        value: &Value,
    ) -> Result<Expr> {
        let any_of = |value: &Value| -> Result<Expr> {
            let items = value.as_array().ok_or_else(|| {
                EngineError::bad_request(format!("{} needs a list of values", fs.field))
            })?;
            if items.len() > MAX_LIST_VALUES {
                return Err(EngineError::bad_request(format!(
                    "a list of values for {} holds at most {MAX_LIST_VALUES}",
                    fs.field
                )));
            }
            let mut out = Expr::val(false);
            for (i, item) in items.iter().enumerate() {
                let e = self.subject_is(fs, column, item)?;
                out = if i == 0 { e } else { out.or(e) };
            }
            Ok(out)
        };
        let empty = || col(self.rt, column).is_null();
        Ok(match op {
            Op::Eq => self.subject_is(fs, column, value)?,
            Op::Ne => self.subject_is(fs, column, value)?.not().or(empty()),
            Op::In => any_of(value)?,
            Op::NotIn => any_of(value)?.not().or(empty()),
            Op::IsEmpty => empty(),
            Op::NotEmpty => col(self.rt, column).is_not_null(),
            other => return Err(unsupported(other, &fs.field)),
        })
    }

    fn side_condition(&self, fs: &FieldStorage, side: &str, op: Op, value: &Value) -> Result<Expr> {
        Ok(match op {
            Op::Eq | Op::Contains => self.side_exists(side, Some(vec![self.bind(fs, value)?])),
            Op::In => self.side_exists(side, Some(self.bind_list(fs, value)?)),
            Op::NotIn => self
                .side_exists(side, Some(self.bind_list(fs, value)?))
                .not(),
            Op::Ne => self
                .side_exists(side, Some(vec![self.bind(fs, value)?]))
                .not(),
            Op::IsEmpty => self.side_exists(side, None).not(),
            Op::NotEmpty => self.side_exists(side, None),
            other => return Err(unsupported(other, &fs.field)),
        })
    }

    /// Textareas have no column; `contains` is the one filter that scans the document.
    fn document_condition(&self, fs: &FieldStorage, op: Op, value: &Value) -> Result<Expr> {
        let extract = Dialect(self.backend).document_text(&self.rt.table, &fs.field);
        match op {
            Op::Contains if !fs.sensitive => {
                let text = value
                    .as_str()
                    .ok_or_else(|| EngineError::bad_request("contains needs text"))?;
                Ok(Expr::expr(Func::lower(Expr::cust(extract))).like(like_pattern(text, false)))
            }
            Op::IsEmpty => Ok(Expr::cust(extract.clone())
                .is_null()
                .or(Expr::cust(extract).eq(""))),
            Op::NotEmpty => Ok(Expr::cust(extract.clone())
                .is_not_null()
                .and(Expr::cust(extract).ne(""))),
            other => Err(unsupported(other, &fs.field)),
        }
    }
}

fn unsupported(op: Op, field: &str) -> EngineError {
    EngineError::bad_request(format!("the operator {op} does not apply to {field}"))
}

/// The caller's row scope on `rt` as a condition on its rows, or None for `all`. `own`: the
/// entity's `owner_field` (default `created_by`) holds the user's id; `department`: its
/// `department_field` holds one of the user's departments (no departments, or no such field,
/// matches nothing). Charts apply it; the same condition serves every query path.
pub(crate) fn row_scope_condition(rt: &EntityRuntime, principal: &Principal) -> Option<Expr> {
    let nothing = || Expr::cust("1 = 0");
    let column_of = |field: &str| match resolve_field(rt, field).map(|fs| fs.kind) {
        Ok(StorageKind::Column(column)) => Some(column),
        _ => None,
    };
    match principal.row_scope(rt.name()) {
        RowScope::All => None,
        RowScope::Own => {
            let owner = rt
                .definition()
                .owner_field
                .as_ref()
                .map(|f| f.as_str().to_string())
                .unwrap_or_else(|| "created_by".to_string());
            Some(match (column_of(&owner), principal.user_id) {
                (Some(column), Some(user)) => col(rt, &column).eq(user.to_string()),
                _ => nothing(),
            })
        }
        RowScope::Department => {
            let column = rt
                .definition()
                .department_field
                .as_ref()
                .and_then(|f| column_of(f.as_str()));
            Some(match column {
                Some(column) if !principal.departments.is_empty() => col(rt, &column).is_in(
                    principal
                        .departments
                        .iter()
                        .map(|d| SeaValue::from(d.clone())),
                ),
                _ => nothing(),
            })
        }
    }
}

/// The column of a field the caller sorts, groups or aggregates by: only a field the caller
/// sees plainly, never a sensitive, masked, hidden or multi-valued one.
pub(crate) fn sort_column(
    rt: &EntityRuntime,
    principal: &Principal,
    field: &str,
    usage: FieldUse,
) -> Result<(String, FieldType)> {
    let fs = resolve_field(rt, field)?;
    require_plain(rt, principal, field, fs.sensitive, usage)?;
    match fs.kind {
        // A link to any entity has no order or grouping that means something to staff.
        StorageKind::Column(_) if fs.value_type == FieldType::Subject => Err(
            EngineError::bad_request(format!("{field} cannot be sorted or grouped")),
        ),
        StorageKind::Column(c) => Ok((c, fs.value_type)),
        _ => Err(EngineError::bad_request(format!(
            "{field} cannot be sorted"
        ))),
    }
}

/// The column a list sorts a field by, for a caller allowed to sort by it (see
/// [`sort_column`]): a text field's pinyin sort key, so Chinese names order by their pinyin
/// (`records::pinyin`), else the field's own column.
pub(crate) fn order_column(
    rt: &EntityRuntime,
    principal: &Principal,
    field: &str,
) -> Result<String> {
    let (column, _) = sort_column(rt, principal, field, FieldUse::Sort)?;
    Ok(pinyin_sort_key(rt, field).unwrap_or(column))
}

/// A field's pinyin sort-key column, where it has one.
pub(crate) fn pinyin_sort_key(rt: &EntityRuntime, field: &str) -> Option<String> {
    rt.field_storage(field)?
        .pinyin
        .as_ref()
        .map(|p| p.sort_key.clone())
}

/// Text-search columns: text, phone, select and autonumber fields the caller sees plainly
/// (neither sensitive, nor hidden or masked by a role), and the pinyin initials of those text
/// fields.
pub(crate) fn search_columns(rt: &EntityRuntime, principal: &Principal) -> Vec<String> {
    rt.columns()
        .filter(|fs| {
            !fs.sensitive
                && matches!(
                    principal.field_rule(rt.name(), &fs.field),
                    FieldRule::Read | FieldRule::Write
                )
                && matches!(
                    fs.value_type,
                    FieldType::Text | FieldType::Phone | FieldType::Select | FieldType::Autonumber
                )
        })
        .flat_map(|fs| {
            std::iter::once(column_name(&fs.field))
                .chain(fs.pinyin.as_ref().map(|p| p.initials.clone()))
        })
        .collect()
}

pub(crate) fn search_condition(rt: &EntityRuntime, principal: &Principal, text: &str) -> Expr {
    let columns = search_columns(rt, principal);
    let mut out = Expr::val(false);
    for (i, c) in columns.iter().enumerate() {
        let e = Expr::expr(Func::lower(col(rt, c))).like(like_pattern(text, false));
        out = if i == 0 { e } else { out.or(e) };
    }
    out
}
