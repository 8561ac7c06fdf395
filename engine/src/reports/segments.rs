//! Segments: saved filters on an entity (`{"name", "label", "entity", "filters"}`), named in
//! any filter by the leaf `{"segment": "<name>"}`. A segment is inlined where it is named
//! ([`Engine::expand_segments`]) before the one filter compiler sees the filter, so it is
//! compiled under the viewer's rights like any filter: a segment filtering on a field hidden
//! from the viewer is refused for them, never answered. Its members are listed through the
//! record list path, so field rules and row scope apply.

use super::saved::{self, SavedKind, SavedRow};
use super::ChartSpec;
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::i18n::Label;
use crate::query::grammar::{ExistsTest, MAX_DEPTH};
use crate::query::FilterExpr;
use crate::records::Record;
use crate::records::{ListQuery, Page};
use crate::store::Conn;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A segment as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    pub entity: String,
    pub filters: FilterExpr,
}

/// A saved segment as `GET` answers it.
#[derive(Debug, Clone)]
pub struct SavedSegment {
    /// The definition with `version`, `member_count` and who saved it when.
    pub body: Value,
    pub version: i64,
}

/// The segments one filter named and the versions inlined, for cache keys.
pub type SegmentVersions = BTreeMap<String, i64>;

fn unknown_segment(name: &str) -> EngineError {
    EngineError::BadRequest {
        message: format!("分群 {name} 不存在（unknown segment {name}）"),
        details: vec![FieldError::new("segment", "unknown_segment", name)],
    }
}

fn segment_of(row: &SavedRow) -> Result<SegmentDefinition> {
    serde_json::from_value(row.definition.clone())
        .map_err(|e| EngineError::internal(format!("stored segment unreadable: {e}")))
}

impl Engine {
    /// Inlines every `{"segment": …}` leaf of `filter` (on `entity`) by the segment's stored
    /// filter; answers the expanded filter and the segments used. A segment on another entity
    /// than the place it is named (the filtered entity, or an `exists` test's) and an unknown
    /// one are a 400.
    pub async fn expand_segments(
        &self,
        entity: &str,
        filter: &FilterExpr,
    ) -> Result<(FilterExpr, Vec<String>)> {
        let (expanded, used) = self.expand_segments_versioned(entity, filter).await?;
        Ok((expanded, used.into_keys().collect()))
    }

    /// [`Self::expand_segments`] answering the version of each segment inlined.
    pub async fn expand_segments_versioned(
        &self,
        entity: &str,
        filter: &FilterExpr,
    ) -> Result<(FilterExpr, SegmentVersions)> {
        if filter.segments().is_empty() {
            return Ok((filter.clone(), SegmentVersions::new()));
        }
        let mut conn = self.db.acquire().await?;
        Self::expand_segments_on(&mut conn.conn(), entity, filter).await
    }

    /// [`Self::expand_segments_versioned`] read through `conn` (inside a transaction).
    pub(crate) async fn expand_segments_on(
        conn: &mut Conn<'_>,
        entity: &str,
        filter: &FilterExpr,
    ) -> Result<(FilterExpr, SegmentVersions)> {
        let mut loaded: BTreeMap<String, (String, FilterExpr, i64)> = BTreeMap::new();
        for name in filter.segments() {
            let row = Self::saved_row_on(conn, SavedKind::Segment, &name)
                .await?
                .ok_or_else(|| unknown_segment(&name))?;
            let def = segment_of(&row)?;
            loaded.insert(name, (def.entity, def.filters, row.version));
        }
        let expanded = inline(filter, entity, &loaded, 0)?;
        let versions = loaded
            .into_iter()
            .map(|(name, (_, _, version))| (name, version))
            .collect();
        Ok((expanded, versions))
    }

    /// Inlines the segments a chart spec names: in its filters, its measures' `ratio`
    /// filters and its funnel stages. Answers the expanded spec and the segments used.
    pub async fn expand_chart_segments(
        &self,
        spec: &ChartSpec,
    ) -> Result<(ChartSpec, Vec<String>)> {
        let (expanded, used) = self.expand_chart_segments_versioned(spec).await?;
        Ok((expanded, used.into_keys().collect()))
    }

    /// [`Self::expand_chart_segments`] answering the version of each segment inlined.
    pub async fn expand_chart_segments_versioned(
        &self,
        spec: &ChartSpec,
    ) -> Result<(ChartSpec, SegmentVersions)> {
        let mut out = spec.clone();
        let mut used = SegmentVersions::new();
        let slots = out
            .filters
            .iter_mut()
            .chain(out.measures.iter_mut().filter_map(|m| m.filter.as_mut()))
            .chain(out.stages.iter_mut().filter_map(|s| s.filter.as_mut()));
        for slot in slots {
            if slot.segments().is_empty() {
                continue;
            }
            let (expanded, versions) = self.expand_segments_versioned(&spec.entity, slot).await?;
            *slot = expanded;
            used.extend(versions);
        }
        Ok((out, used))
    }

    /// The segments on entities the caller may read.
    pub async fn list_segments(&self, principal: &Principal) -> Result<Vec<Value>> {
        Ok(self
            .saved_rows(SavedKind::Segment)
            .await?
            .into_iter()
            .filter(|row| {
                row.entity
                    .as_deref()
                    .is_some_and(|e| principal.can(e, Action::Read))
            })
            .map(|row| row.answer())
            .collect())
    }

    /// A segment the caller may read (404 otherwise: no oracle for names), with its member
    /// count under the caller's rights (`null` where their field rules refuse its filter).
    pub async fn get_segment(&self, principal: &Principal, name: &str) -> Result<SavedSegment> {
        let row = self.readable_segment(principal, name).await?;
        let def = segment_of(&row)?;
        let count = match self
            .segment_page(
                principal,
                &def,
                &ListQuery {
                    page: 1,
                    per_page: 1,
                    count: true,
                    exact_total: true,
                    ..ListQuery::default()
                },
            )
            .await
        {
            Ok(page) => page.total.map(Value::from).unwrap_or(Value::Null),
            Err(EngineError::BadRequest { .. } | EngineError::Forbidden(_)) => Value::Null,
            Err(e) => return Err(e),
        };
        let mut body = row.answer();
        body["member_count"] = count;
        Ok(SavedSegment {
            body,
            version: row.version,
        })
    }

    async fn readable_segment(&self, principal: &Principal, name: &str) -> Result<SavedRow> {
        let row = self.require_saved(SavedKind::Segment, name).await?;
        if !row
            .entity
            .as_deref()
            .is_some_and(|e| principal.can(e, Action::Read))
        {
            return Err(EngineError::not_found(format!("segment {name}")));
        }
        Ok(row)
    }

    /// The segment's members, a page at a time, through the record list path: the caller's
    /// field rules and row scope apply; `query.filter`, if any, narrows the segment.
    pub async fn segment_members(
        &self,
        principal: &Principal,
        name: &str,
        query: &ListQuery,
    ) -> Result<Page<Record>> {
        let row = self.readable_segment(principal, name).await?;
        self.segment_page(principal, &segment_of(&row)?, query)
            .await
    }

    async fn segment_page(
        &self,
        principal: &Principal,
        def: &SegmentDefinition,
        query: &ListQuery,
    ) -> Result<Page<Record>> {
        let mut query = query.clone();
        query.filter = Some(match query.filter.take() {
            Some(narrower) => FilterExpr::And {
                and: vec![def.filters.clone(), narrower],
            },
            None => def.filters.clone(),
        });
        self.list_records(principal, &def.entity, &query).await
    }

    /// Every check of saving a segment: its shape and name, `design` on its entity, no
    /// segment inside it, and its filter compiled under the saver's rights.
    async fn check_segment(&self, principal: &Principal, body: Value) -> Result<SegmentDefinition> {
        let def: SegmentDefinition =
            serde_json::from_value(body).map_err(|e| saved::shape_error(SavedKind::Segment, e))?;
        saved::check_name(SavedKind::Segment, &def.name)?;
        let rt = self
            .entity(&def.entity)
            .await
            .map_err(|_| EngineError::BadRequest {
                message: format!(
                    "表单 {} 不存在（unknown entity {}）",
                    def.entity, def.entity
                ),
                details: vec![FieldError::new(
                    "entity",
                    "unknown_entity",
                    def.entity.clone(),
                )],
            })?;
        principal.require(&def.entity, Action::Design)?;
        if !def.filters.segments().is_empty() {
            return Err(EngineError::BadRequest {
                message: "分群的筛选条件不能再引用分群（a segment's filter cannot name a segment）"
                    .into(),
                details: vec![FieldError::new(
                    "filters",
                    "segment_in_segment",
                    "a segment's filter cannot name a segment",
                )],
            });
        }
        self.refuse_saved_sensitive_values(&def.entity, &def.filters)
            .await?;
        let entities = self.entities_for_filter(principal, &def.filters).await?;
        self.filter_context(&rt, &entities, principal)
            .compile(&def.filters)?;
        Ok(def)
    }

    pub async fn create_segment(&self, principal: &Principal, body: Value) -> Result<SavedSegment> {
        let (body, _) = saved::body_parts(body)?;
        let def = self.check_segment(principal, body).await?;
        let stored = serde_json::to_value(&def).map_err(EngineError::internal)?;
        let mut tx = self.db.begin().await?;
        self.insert_saved(
            &mut tx.conn(),
            principal,
            SavedKind::Segment,
            &def.name,
            Some(&def.entity),
            &stored,
        )
        .await?;
        tx.commit().await?;
        self.get_segment(principal, &def.name).await
    }

    /// Changes a segment. The precondition is `If-Match` or the body's `version`; a save that
    /// changes nothing answers the version it had.
    pub async fn update_segment(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        if_match: Option<i64>,
    ) -> Result<SavedSegment> {
        let row = self.readable_segment(principal, name).await?;
        let (body, body_version) = saved::body_parts(body)?;
        saved::precondition(if_match, body_version, row.version)?;
        let def = self.check_segment(principal, body).await?;
        if def.name != name {
            return Err(name_changed(SavedKind::Segment));
        }
        // The old entity's designers decide too: moving a segment takes it from them.
        if let Some(old) = row.entity.as_deref() {
            principal.require(old, Action::Design)?;
        }
        let stored = serde_json::to_value(&def).map_err(EngineError::internal)?;
        if stored != row.definition {
            let mut tx = self.db.begin().await?;
            self.update_saved(
                &mut tx.conn(),
                principal,
                SavedKind::Segment,
                name,
                row.version,
                Some(&def.entity),
                &stored,
            )
            .await?;
            tx.commit().await?;
        }
        self.get_segment(principal, name).await
    }

    pub async fn delete_segment(
        &self,
        principal: &Principal,
        name: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let row = self.readable_segment(principal, name).await?;
        saved::precondition(if_match, None, row.version)?;
        let entity = row.entity.as_deref().unwrap_or_default();
        principal.require(entity, Action::Design)?;
        let mut tx = self.db.begin().await?;
        self.delete_saved(
            &mut tx.conn(),
            principal,
            SavedKind::Segment,
            name,
            row.version,
            Some(entity),
        )
        .await?;
        tx.commit().await
    }
}

/// A 400 for a PUT whose body names another definition.
pub(crate) fn name_changed(kind: SavedKind) -> EngineError {
    EngineError::BadRequest {
        message: format!(
            "{}名称不能修改（a {}'s name never changes）",
            kind.zh(),
            kind.as_str()
        ),
        details: vec![FieldError::new("name", "name_changed", "name")],
    }
}

/// `filter` with every segment leaf replaced by its stored filter; `entity` is the entity the
/// filter at this level is on (an `exists` test's filter is on the test's entity).
fn inline(
    filter: &FilterExpr,
    entity: &str,
    loaded: &BTreeMap<String, (String, FilterExpr, i64)>,
    depth: usize,
) -> Result<FilterExpr> {
    if depth > MAX_DEPTH {
        return Err(EngineError::bad_request("the filter is nested too deeply"));
    }
    let list = |items: &[FilterExpr]| -> Result<Vec<FilterExpr>> {
        items
            .iter()
            .map(|f| inline(f, entity, loaded, depth + 1))
            .collect()
    };
    Ok(match filter {
        FilterExpr::And { and } => FilterExpr::And { and: list(and)? },
        FilterExpr::Or { or } => FilterExpr::Or { or: list(or)? },
        FilterExpr::Not { not } => FilterExpr::Not {
            not: Box::new(inline(not, entity, loaded, depth + 1)?),
        },
        FilterExpr::Exists { exists } => FilterExpr::Exists {
            exists: ExistsTest {
                entity: exists.entity.clone(),
                reference: exists.reference.clone(),
                filters: match &exists.filters {
                    Some(f) => Some(Box::new(inline(f, &exists.entity, loaded, depth + 1)?)),
                    None => None,
                },
            },
        },
        FilterExpr::Condition { .. } => filter.clone(),
        FilterExpr::Segment { segment } => {
            let (on, stored, _) = loaded
                .get(segment)
                .ok_or_else(|| unknown_segment(segment))?;
            if on != entity {
                return Err(EngineError::BadRequest {
                    message: format!(
                        "分群 {segment} 属于 {on}，不能用于 {entity}（segment {segment} is on {on}, not {entity}）"
                    ),
                    details: vec![FieldError::new("segment", "segment_entity", segment.clone())],
                });
            }
            if !stored.segments().is_empty() {
                return Err(EngineError::bad_request(format!(
                    "分群 {segment} 的筛选条件引用了分群（segment {segment} names a segment）"
                )));
            }
            stored.clone()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> FilterExpr {
        FilterExpr::parse(v).unwrap()
    }

    #[test]
    fn segments_inline_in_place_and_check_their_entity() {
        let mut loaded = BTreeMap::new();
        loaded.insert(
            "vip".to_string(),
            (
                "patient".to_string(),
                parse(json!({"field": "tier", "op": "eq", "value": "VIP"})),
                2,
            ),
        );
        loaded.insert(
            "recent".to_string(),
            (
                "visit".to_string(),
                parse(json!({"field": "visit_time", "op": "last_n_days", "value": 30})),
                1,
            ),
        );
        let filter = parse(json!({"and": [{"segment": "vip"},
            {"exists": {"entity": "visit", "ref": "patient", "filters": {"segment": "recent"}}}]}));
        let out = inline(&filter, "patient", &loaded, 0).unwrap();
        assert_eq!(
            out,
            parse(
                json!({"and": [{"field": "tier", "op": "eq", "value": "VIP"},
                {"exists": {"entity": "visit", "ref": "patient",
                  "filters": {"field": "visit_time", "op": "last_n_days", "value": 30}}}]})
            )
        );
        let wrong = parse(json!({"segment": "recent"}));
        let err = inline(&wrong, "patient", &loaded, 0).unwrap_err();
        assert!(
            matches!(err, EngineError::BadRequest { ref details, .. } if details[0].code == "segment_entity")
        );
        let unknown = parse(json!({"not": {"segment": "nope"}}));
        assert!(inline(&unknown, "patient", &loaded, 0).is_err());
    }
}
