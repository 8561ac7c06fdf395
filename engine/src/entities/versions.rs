//! The saved versions of an entity's definition, for the designer's version list: who saved
//! which version when, what it changed, and any version's definition as it was.
//!
//! A definition is schema, not patient data: no record value is in it. Its versions are a
//! design tool and answer to whoever holds `design` on the entity (others who may read the
//! entity get 403; those who may neither read nor design it, 404, as for the definition).

use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::records::wire_time;
use crate::store::DbRow;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Versions per page by default, and at most (the lists' rule).
const DEFAULT_PER_PAGE: u64 = 50;
const MAX_PER_PAGE: u64 = 1000;

/// What a version changed against the one before it (the first version adds every field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionSummary {
    pub fields_added: Vec<String>,
    pub fields_removed: Vec<String>,
    /// Fields in both versions whose definition differs (label, options, rules …).
    pub fields_changed: Vec<String>,
    /// Whether anything besides the fields changed: the label, layout, scope fields, or the
    /// order of the fields.
    pub other_changed: bool,
}

/// One saved version, as the version list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionVersion {
    pub version: i64,
    pub saved_at: String,
    pub saved_by: String,
    pub summary: VersionSummary,
}

/// A page of versions, newest first, in the shape of every list.
#[derive(Debug, Clone, Serialize)]
pub struct VersionPage {
    pub items: Vec<DefinitionVersion>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// One version's definition as it was saved. The definition carries no `version` of its own,
/// so it can be edited and saved again (with the current version as the precondition).
#[derive(Debug, Clone, Serialize)]
pub struct VersionedDefinition {
    pub version: i64,
    pub saved_at: String,
    pub saved_by: String,
    pub definition: Value,
}

/// A definition's fields by name, in JSON as saved.
fn fields_of(definition: &Value) -> BTreeMap<String, &Value> {
    definition
        .get("fields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| Some((f.get("name")?.as_str()?.to_string(), f)))
                .collect()
        })
        .unwrap_or_default()
}

/// In field order of the newer definition (removed ones in the older one's order).
fn summarize(newer: &Value, older: Option<&Value>) -> VersionSummary {
    let empty = Value::Null;
    let older = older.unwrap_or(&empty);
    let (new_fields, old_fields) = (fields_of(newer), fields_of(older));
    let order = |definition: &Value| -> Vec<String> {
        definition
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("name")?.as_str().map(str::to_string))
            .collect()
    };
    let mut summary = VersionSummary::default();
    for name in order(newer) {
        match old_fields.get(&name) {
            None => summary.fields_added.push(name),
            Some(old) if Some(old) != new_fields.get(&name) => summary.fields_changed.push(name),
            Some(_) => {}
        }
    }
    summary.fields_removed = order(older)
        .into_iter()
        .filter(|name| !new_fields.contains_key(name))
        .collect();
    let without_fields = |definition: &Value| -> Value {
        let mut d = definition.clone();
        if let Some(map) = d.as_object_mut() {
            map.remove("fields");
        }
        d
    };
    let kept_in_order = |definition: &Value| -> Vec<String> {
        order(definition)
            .into_iter()
            .filter(|name| new_fields.contains_key(name) && old_fields.contains_key(name))
            .collect()
    };
    summary.other_changed = !older.is_null()
        && (without_fields(newer) != without_fields(older)
            || kept_in_order(newer) != kept_in_order(older));
    summary
}

struct SavedVersion {
    version: i64,
    saved_at: String,
    saved_by: String,
    definition: Value,
}

fn saved_version(row: &DbRow) -> Result<SavedVersion> {
    Ok(SavedVersion {
        version: row.req_int("version")?,
        saved_at: wire_time(row.req_time("created_at")?),
        saved_by: row.req_text("created_by")?,
        definition: row.req_json("definition")?,
    })
}

impl Engine {
    /// Only a designer of the entity reads its versions.
    async fn require_designer(&self, principal: &Principal, name: &str) -> Result<()> {
        self.entity(name).await?;
        if !principal.can(name, Action::Read) && !principal.can(name, Action::Design) {
            return Err(EngineError::not_found(format!("entity {name}")));
        }
        principal.require(name, Action::Design)
    }

    /// The saved versions of an entity's definition, newest first, each with what it changed
    /// against the one before. `page` counts from 1 (0 is the first); `per_page` 0 means 50,
    /// at most 1000.
    pub async fn entity_versions(
        &self,
        principal: &Principal,
        name: &str,
        page: u64,
        per_page: u64,
    ) -> Result<VersionPage> {
        self.require_designer(principal, name).await?;
        let per_page = match per_page {
            0 => DEFAULT_PER_PAGE,
            n => n.min(MAX_PER_PAGE),
        };
        let page = page.max(1);
        let offset = (page - 1).saturating_mul(per_page);
        let total = self
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM entity_versions WHERE entity = $1",
                vec![name.into()],
            )
            .await?
            .req_int("n")?;
        // One more than the page: the version before the page's last, to summarize it.
        let rows = self
            .db
            .fetch_all(
                "SELECT version, definition, created_at, created_by FROM entity_versions \
                 WHERE entity = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
                vec![
                    name.into(),
                    i64::try_from(per_page + 1).unwrap_or(i64::MAX).into(),
                    i64::try_from(offset).unwrap_or(i64::MAX).into(),
                ],
            )
            .await?;
        let saved = rows.iter().map(saved_version).collect::<Result<Vec<_>>>()?;
        let items = saved
            .iter()
            .enumerate()
            .take(per_page as usize)
            .map(|(i, v)| DefinitionVersion {
                version: v.version,
                saved_at: v.saved_at.clone(),
                saved_by: v.saved_by.clone(),
                summary: summarize(&v.definition, saved.get(i + 1).map(|o| &o.definition)),
            })
            .collect();
        Ok(VersionPage {
            items,
            total: u64::try_from(total).unwrap_or(0),
            page,
            per_page,
        })
    }

    /// One saved version of an entity's definition.
    pub async fn entity_version(
        &self,
        principal: &Principal,
        name: &str,
        version: i64,
    ) -> Result<VersionedDefinition> {
        self.require_designer(principal, name).await?;
        let row = self
            .db
            .fetch_optional(
                "SELECT version, definition, created_at, created_by FROM entity_versions \
                 WHERE entity = $1 AND version = $2",
                vec![name.into(), version.into()],
            )
            .await?
            .ok_or_else(|| EngineError::not_found(format!("version {version} of entity {name}")))?;
        let saved = saved_version(&row)?;
        Ok(VersionedDefinition {
            version: saved.version,
            saved_at: saved.saved_at,
            saved_by: saved.saved_by,
            definition: saved.definition,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_is_summarized_against_the_one_before() {
        let v1 = json!({"name": "p", "fields": [
            {"name": "name", "type": "text"}, {"name": "age", "type": "integer"},
            {"name": "note", "type": "textarea"}]});
        let v2 = json!({"name": "p", "fields": [
            {"name": "name", "type": "text", "label": {"zh": "姓名"}},
            {"name": "note", "type": "textarea"}, {"name": "tier", "type": "text"}],
            "layout": [{"section": {"zh": "基本"}, "fields": ["name"]}]});
        let first = summarize(&v1, None);
        assert_eq!(first.fields_added, vec!["name", "age", "note"]);
        assert!(first.fields_removed.is_empty() && !first.other_changed);
        let second = summarize(&v2, Some(&v1));
        assert_eq!(second.fields_added, vec!["tier"]);
        assert_eq!(second.fields_removed, vec!["age"]);
        assert_eq!(second.fields_changed, vec!["name"]);
        assert!(second.other_changed);
        assert_eq!(summarize(&v2, Some(&v2)), VersionSummary::default());
        // Only the order of two fields changes.
        let v3 = json!({"name": "p", "fields": [
            {"name": "note", "type": "textarea"},
            {"name": "name", "type": "text", "label": {"zh": "姓名"}},
            {"name": "tier", "type": "text"}],
            "layout": [{"section": {"zh": "基本"}, "fields": ["name"]}]});
        let reordered = summarize(&v3, Some(&v2));
        assert!(reordered.fields_added.is_empty() && reordered.fields_changed.is_empty());
        assert!(reordered.other_changed);
    }
}
