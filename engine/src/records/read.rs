//! Reading records: one by id, pages of a list, history, and the 360° view.

use super::dialect::Dialect;
use super::filter::{order_column, search_condition, FilterContext, FilterExpr};
use super::lookups::{self, MaskedLookup};
use super::rows::{self, stored_from_row, RECORD_COLUMNS};
use super::totals::Counting;
use super::{projection, wire_time, Record};
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, FieldRule, Principal};
use crate::engine::Engine;
use crate::entities::storage::q;
use crate::entities::{EntityRuntime, StorageKind};
use crate::error::{EngineError, Result};
use crate::forms::FieldType;
use crate::i18n::Lang;
use crate::store::Arg;
use sea_query::{Alias, Expr, ExprTrait, NullOrdering, Order, Query, SelectStatement};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 1000;
/// Sort keys one list may name.
pub const MAX_SORT_KEYS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

impl SortKey {
    /// `-updated_at,name` → updated_at descending, then name ascending.
    pub fn parse_list(text: &str) -> Vec<SortKey> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('-') {
                Some(field) => SortKey {
                    field: field.to_string(),
                    descending: true,
                },
                None => SortKey {
                    field: s.trim_start_matches('+').to_string(),
                    descending: false,
                },
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub page: u64,
    pub per_page: u64,
    pub sort: Vec<SortKey>,
    pub q: Option<String>,
    pub filter: Option<FilterExpr>,
    /// Whether the page says how long the list is: the exact `total` up to
    /// [`EXACT_TOTAL_BOUND`](super::totals::EXACT_TOTAL_BOUND) matching rows, `total_estimate` past it. `false` answers neither.
    pub count: bool,
    /// With `count`: the exact `total` however many rows match (`?count=exact`), for a caller
    /// who needs the precise figure, such as a report.
    pub exact_total: bool,
    /// The recycle bin: deleted records only.
    pub deleted: bool,
    pub unmask: Vec<String>,
}

impl ListQuery {
    pub fn counting(&self) -> Counting {
        match (self.count, self.exact_total) {
            (false, _) => Counting::Skip,
            (true, false) => Counting::Bounded,
            (true, true) => Counting::Exact,
        }
    }
}

/// One page of a list, as every list answers.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Exact whenever present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// In place of `total` past [`EXACT_TOTAL_BOUND`](super::totals::EXACT_TOTAL_BOUND); always greater than the bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_estimate: Option<u64>,
    pub page: u64,
    pub per_page: u64,
}

/// One version of a record.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub version: i64,
    pub op: String,
    pub data: Map<String, Value>,
    pub changed_fields: Vec<String>,
    pub actor: String,
    pub at: String,
}

/// A record, every record that references it, and their timeline.
#[derive(Debug, Clone, Serialize)]
pub struct View360 {
    pub record: Record,
    pub related: Vec<RelatedGroup>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelatedGroup {
    pub entity: String,
    pub field: String,
    pub total: u64,
    pub items: Vec<Record>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub entity: String,
    pub record_id: Uuid,
    pub version: i64,
    pub op: String,
    pub changed_fields: Vec<String>,
    pub actor: String,
    pub at: String,
}

const RELATED_PER_ENTITY: u64 = 20;
const TIMELINE_LIMIT: i64 = 100;

/// The sensitive fields of `unmask` the principal may see in full (rule `read` or `write`).
fn allowed_unmask(rt: &EntityRuntime, principal: &Principal, unmask: &[String]) -> Vec<String> {
    unmask
        .iter()
        .filter(|f| {
            rt.definition().field(f).is_some_and(|d| d.is_sensitive())
                && matches!(
                    principal.field_rule(rt.name(), f),
                    FieldRule::Read | FieldRule::Write
                )
        })
        .cloned()
        .collect()
}

/// A list's statements, compiled once for the caller: the page query (without its window),
/// the rows it matches (for bounded counts and estimates), their full count, and the masked
/// lookups to admit before any of them runs.
pub(crate) struct ListPlan {
    pub select: SelectStatement,
    /// `SELECT 1 FROM … WHERE …`: the page's rows, unordered.
    pub matching: SelectStatement,
    pub count: SelectStatement,
    pub masked_lookups: Vec<MaskedLookup>,
}

impl Engine {
    pub(crate) fn filter_context<'a>(
        &'a self,
        rt: &'a crate::entities::EntityRuntime,
        entities: &'a [std::sync::Arc<crate::entities::EntityRuntime>],
        principal: &'a Principal,
    ) -> FilterContext<'a> {
        let now = self.now();
        FilterContext {
            rt,
            entities,
            principal,
            backend: self.db.backend(),
            keys: &self.keys,
            now: now.to_offset(self.utc_offset_at(now)),
            today: self.today(),
        }
    }

    /// The entities an `exists` test may look into; the caller must be able to read each.
    pub(crate) async fn entities_for_filter(
        &self,
        principal: &Principal,
        filter: &FilterExpr,
    ) -> Result<Vec<std::sync::Arc<crate::entities::EntityRuntime>>> {
        let related = filter.related_entities();
        if related.is_empty() {
            return Ok(Vec::new());
        }
        for entity in &related {
            principal.require(entity, Action::Read)?;
        }
        self.catalog.all(&self.db).await
    }

    pub async fn get_record(
        &self,
        principal: &Principal,
        entity: &str,
        id: Uuid,
        unmask: &[String],
        _lang: Lang,
    ) -> Result<Record> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Read)?;
        let mut conn = self.db.acquire().await?;
        let stored = rows::load(&mut conn.conn(), &rt, id, false)
            .await?
            .filter(|s| s.deleted_at.is_none() || principal.can(entity, Action::Delete))
            .ok_or_else(|| EngineError::not_found(format!("{entity} {id}")))?;
        let unmasked = allowed_unmask(&rt, principal, unmask);
        if !unmasked.is_empty() {
            audit::append(
                &mut conn.conn(),
                self.clock.as_ref(),
                &AuditEntry::new(&principal.actor, "record.unmask")
                    .record(entity, id.to_string())
                    .fields(unmasked.clone()),
            )
            .await?;
        }
        stored.present(&rt, principal, &self.keys, &unmasked)
    }

    /// Compiles a list for the caller: the recycle bin only for holders of `delete`, filters,
    /// `q` and sorts through the permission-aware compiler, at most `MAX_SORT_KEYS` sort keys.
    pub(crate) async fn list_plan(
        &self,
        principal: &Principal,
        rt: &EntityRuntime,
        query: &ListQuery,
    ) -> Result<ListPlan> {
        let entity = rt.name();
        principal.require(entity, Action::Read)?;
        if query.deleted {
            principal.require(entity, Action::Delete)?;
        }
        if query.sort.len() > MAX_SORT_KEYS {
            return Err(EngineError::bad_request(format!(
                "排序最多 {MAX_SORT_KEYS} 个字段（sort by at most {MAX_SORT_KEYS} fields）"
            )));
        }
        let table = Alias::new(rt.table.clone());
        let mut condition = if query.deleted {
            Expr::col((table.clone(), Alias::new("deleted_at"))).is_not_null()
        } else {
            Expr::col((table.clone(), Alias::new("deleted_at"))).is_null()
        };
        let mut masked_lookups = Vec::new();
        if let Some(filter) = &query.filter {
            let entities = self.entities_for_filter(principal, filter).await?;
            let compiled = self
                .filter_context(rt, &entities, principal)
                .compile(filter)?;
            condition = condition.and(compiled.condition);
            masked_lookups = compiled.masked_lookups;
        }
        if let Some(text) = query.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            condition = condition.and(search_condition(rt, principal, text));
        }
        let mut select = Query::select();
        for column in [
            "id",
            "data",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
            "deleted_at",
        ] {
            select.column((table.clone(), Alias::new(column)));
        }
        select.from(table.clone()).and_where(condition.clone());
        let sort = if query.sort.is_empty() {
            vec![SortKey {
                field: "created_at".into(),
                descending: true,
            }]
        } else {
            query.sort.clone()
        };
        for key in &sort {
            let column = order_column(rt, principal, &key.field)?;
            let order = if key.descending {
                Order::Desc
            } else {
                Order::Asc
            };
            let column_ref = (table.clone(), Alias::new(column));
            // Nulls sort last; where none can occur the clause is left out, so an ordinary
            // index serves the sort in either direction on both backends.
            let never_null = super::field_access::is_system_column(&key.field)
                || query
                    .filter
                    .as_ref()
                    .is_some_and(|f| f.excludes_nulls_of(&key.field));
            if never_null {
                select.order_by(column_ref, order);
            } else {
                select.order_by_with_nulls(column_ref, order, NullOrdering::Last);
            }
        }
        // Ties break by id (creation order, ids being UUIDv7) in the last key's direction, so a
        // newest-first list is newest first within the same instant too, and the composite
        // `(select, created_at, id)` index walks a filtered newest-first page without sorting.
        let tie_break = if sort.last().is_some_and(|k| k.descending) {
            Order::Desc
        } else {
            Order::Asc
        };
        select.order_by((table.clone(), Alias::new("id")), tie_break);
        let mut matching = Query::select();
        matching
            .expr(Expr::cust("1"))
            .from(table.clone())
            .and_where(condition.clone());
        let mut count = Query::select();
        count
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from(table)
            .and_where(condition);
        Ok(ListPlan {
            select,
            matching,
            count,
            masked_lookups,
        })
    }

    /// One page of a planned list, read on `conn`.
    pub(crate) async fn fetch_page(
        &self,
        conn: &mut crate::store::Conn<'_>,
        plan: &ListPlan,
        page: u64,
        per_page: u64,
    ) -> Result<Vec<crate::store::DbRow>> {
        let mut select = plan.select.clone();
        select
            .limit(per_page)
            // Bound as a signed BIGINT: past i64::MAX the binding would panic.
            .offset(Ord::min(
                (page - 1).saturating_mul(per_page),
                i64::MAX as u64,
            ));
        let (sql, values) = Dialect(self.db.backend()).build(&select);
        conn.fetch_built(&sql, values).await
    }

    pub async fn list_records(
        &self,
        principal: &Principal,
        entity: &str,
        query: &ListQuery,
    ) -> Result<Page<Record>> {
        let rt = self.entity(entity).await?;
        let plan = self.list_plan(principal, &rt, query).await?;
        let per_page = match query.per_page {
            0 => DEFAULT_PER_PAGE,
            n => Ord::min(n, MAX_PER_PAGE),
        };
        let page = Ord::max(query.page, 1);
        let mut conn = self.db.acquire().await?;
        lookups::admit(
            &mut conn.conn(),
            self.clock.as_ref(),
            principal,
            &plan.masked_lookups,
        )
        .await?;
        let rows = self
            .fetch_page(&mut conn.conn(), &plan, page, per_page)
            .await?;
        let unmasked = allowed_unmask(&rt, principal, &query.unmask);
        let items = rows
            .iter()
            .map(|row| stored_from_row(row)?.present(&rt, principal, &self.keys, &unmasked))
            .collect::<Result<Vec<_>>>()?;
        if !unmasked.is_empty() {
            for item in &items {
                audit::append(
                    &mut conn.conn(),
                    self.clock.as_ref(),
                    &AuditEntry::new(&principal.actor, "record.unmask")
                        .record(entity, item.id.to_string())
                        .fields(unmasked.clone()),
                )
                .await?;
            }
        }
        let total = self
            .list_total(&mut conn.conn(), &plan, query.counting())
            .await?;
        Ok(Page {
            items,
            total: total.exact(),
            total_estimate: total.estimate(),
            page,
            per_page,
        })
    }

    pub async fn record_history(
        &self,
        principal: &Principal,
        entity: &str,
        id: Uuid,
    ) -> Result<Vec<Change>> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Read)?;
        // The history of a deleted record is for holders of `delete`, as the record is.
        if !principal.can(entity, Action::Delete) {
            let live = rows::load(&mut self.db.acquire().await?.conn(), &rt, id, false)
                .await?
                .is_some_and(|s| s.deleted_at.is_none());
            if !live {
                return Err(EngineError::not_found(format!("{entity} {id}")));
            }
        }
        let rows = self
            .db
            .fetch_all(
                "SELECT version, op, data, changed_fields, actor, at FROM record_changes \
                 WHERE entity = $1 AND record_id = $2 ORDER BY version",
                vec![entity.into(), id.into()],
            )
            .await?;
        if rows.is_empty() {
            return Err(EngineError::not_found(format!("{entity} {id}")));
        }
        rows.iter()
            .map(|row| {
                let sealed = match row.req_json("data")? {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                let plain = projection::unseal_owned(&rt, sealed, &self.keys)?;
                Ok(Change {
                    version: row.req_int("version")?,
                    op: row.req_text("op")?,
                    data: super::present_data(&rt, principal, plain, &[]),
                    changed_fields: visible_fields(
                        principal,
                        entity,
                        string_list(row.json("changed_fields")?),
                    ),
                    actor: row.req_text("actor")?,
                    at: wire_time(row.req_time("at")?),
                })
            })
            .collect()
    }

    pub async fn view360(
        &self,
        principal: &Principal,
        entity: &str,
        id: Uuid,
        lang: Lang,
    ) -> Result<View360> {
        let record = self.get_record(principal, entity, id, &[], lang).await?;
        let mut related = Vec::new();
        let mut timeline_records: Vec<(String, Uuid)> = vec![(entity.to_string(), id)];
        for other in self.catalog.all(&self.db).await? {
            if !principal.can(other.name(), Action::Read) {
                continue;
            }
            // References to this entity, and subjects that may point at it (a task, message
            // or consent about this record).
            for field in other
                .definition()
                .fields
                .iter()
                .filter(|f| match f.field_type {
                    FieldType::Reference | FieldType::References => {
                        f.entity.as_ref().is_some_and(|e| e.as_str() == entity)
                    }
                    FieldType::Subject => {
                        f.entities.is_empty() || f.entities.iter().any(|e| e.as_str() == entity)
                    }
                    _ => false,
                })
            {
                let Some(fs) = other.storage.get(field.name.as_str()) else {
                    continue;
                };
                let (where_sql, args) = match (&fs.kind, fs.entity_column()) {
                    (StorageKind::Column(c), Some(entity_column)) => (
                        format!("{} = $1 AND {} = $2", q(&entity_column), q(c)),
                        vec![Arg::from(entity), Arg::Uuid(Some(id))],
                    ),
                    (StorageKind::Column(c), None) => {
                        (format!("{} = $1", q(c)), vec![Arg::Uuid(Some(id))])
                    }
                    (StorageKind::SideTable(side), _) => (
                        format!("id IN (SELECT record_id FROM {} WHERE value = $1)", q(side)),
                        vec![Arg::Uuid(Some(id))],
                    ),
                    (StorageKind::DocumentOnly, _) => continue,
                };
                let base = format!(
                    "FROM {} WHERE deleted_at IS NULL AND {where_sql}",
                    q(&other.table)
                );
                let total = self
                    .db
                    .fetch_one(&format!("SELECT COUNT(*) AS n {base}"), args.clone())
                    .await?
                    .req_int("n")? as u64;
                // A reference names this entity, so "none yet" is worth showing; a subject
                // may point anywhere (every task, message and consent has one), so only the
                // groups that hold records are listed.
                if total == 0 && fs.entity_column().is_some() {
                    continue;
                }
                let rows = self
                    .db
                    .fetch_all(
                        &format!("SELECT {RECORD_COLUMNS} {base} ORDER BY created_at DESC LIMIT {RELATED_PER_ENTITY}"),
                        args,
                    )
                    .await?;
                let items = rows
                    .iter()
                    .map(|row| stored_from_row(row)?.present(&other, principal, &self.keys, &[]))
                    .collect::<Result<Vec<_>>>()?;
                timeline_records.extend(items.iter().map(|r| (other.name().to_string(), r.id)));
                related.push(RelatedGroup {
                    entity: other.name().to_string(),
                    field: field.name.to_string(),
                    total,
                    items,
                });
            }
        }
        let timeline = self.timeline(principal, &timeline_records).await?;
        Ok(View360 {
            record,
            related,
            timeline,
        })
    }

    async fn timeline(
        &self,
        principal: &Principal,
        records: &[(String, Uuid)],
    ) -> Result<Vec<TimelineEntry>> {
        let placeholders: Vec<String> = (1..=records.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT entity, record_id, version, op, changed_fields, actor, at FROM record_changes \
             WHERE record_id IN ({}) ORDER BY at DESC, version DESC LIMIT {TIMELINE_LIMIT}",
            placeholders.join(", ")
        );
        let args = records.iter().map(|(_, id)| Arg::Uuid(Some(*id))).collect();
        self.db
            .fetch_all(&sql, args)
            .await?
            .iter()
            .map(|row| {
                let entity = row.req_text("entity")?;
                Ok(TimelineEntry {
                    changed_fields: visible_fields(
                        principal,
                        &entity,
                        string_list(row.json("changed_fields")?),
                    ),
                    entity,
                    record_id: row.req_uuid("record_id")?,
                    version: row.req_int("version")?,
                    op: row.req_text("op")?,
                    actor: row.req_text("actor")?,
                    at: wire_time(row.req_time("at")?),
                })
            })
            .collect()
    }
}

/// The changed fields a reader may know of: hidden ones left out.
fn visible_fields(principal: &Principal, entity: &str, fields: Vec<String>) -> Vec<String> {
    fields
        .into_iter()
        .filter(|f| principal.field_rule(entity, f) != FieldRule::Hidden)
        .collect()
}

fn string_list(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_lists_parse() {
        assert_eq!(
            SortKey::parse_list("-updated_at, name"),
            vec![
                SortKey {
                    field: "updated_at".into(),
                    descending: true
                },
                SortKey {
                    field: "name".into(),
                    descending: false
                }
            ]
        );
        assert!(SortKey::parse_list("").is_empty());
    }
}
