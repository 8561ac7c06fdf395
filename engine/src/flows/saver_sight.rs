//! A flow reads as its own actor, but whoever saves it chooses what it reads: a condition on a
//! field hidden from the saver, then the tag or message the flow leaves, would tell them the
//! value. So every field a definition reads of its trigger's record (expressions, templates,
//! filters, a date-relative trigger's date, the whole record, a watched change) must not be
//! hidden from the saver.

use super::compiled::{node_exprs, node_templates};
use super::definition::{FlowDefinition, NodeKind, Trigger};
use super::graph::TRIGGER;
use crate::access::{FieldRule, Principal};
use crate::entities::EntityRuntime;
use crate::error::FieldError;
use crate::expr::{Read, Root};
use std::collections::HashMap;
use std::sync::Arc;

/// The reads of `def` that `principal` may not make, each named by its node.
pub(crate) fn hidden_reads(
    principal: &Principal,
    def: &FlowDefinition,
    entities: &HashMap<String, Arc<EntityRuntime>>,
) -> Vec<FieldError> {
    let Some(rt) = def.trigger.entity().and_then(|e| entities.get(e)) else {
        return Vec::new();
    };
    let mut reads: Vec<(String, String, String)> = Vec::new();
    let mut note = |node: &str, path: String, entity: &str, field: &str| {
        reads.push((node.to_string(), path, format!("{entity}\u{0}{field}")));
    };
    if let Some(filter) = def.trigger.filter() {
        for field in filter_fields(filter) {
            note(TRIGGER, "trigger.filter".into(), rt.name(), &field);
        }
    }
    if let Trigger::DateRelative { field, .. } = &def.trigger {
        note(TRIGGER, "trigger.field".into(), rt.name(), field);
    }
    for (i, node) in def.nodes.iter().enumerate() {
        let path = format!("nodes.{i}");
        let record_reads = node_exprs(&node.kind)
            .into_iter()
            .flat_map(|(_, source)| crate::expr::reads(source))
            .chain(
                node_templates(&node.kind)
                    .into_iter()
                    .flat_map(|(_, source)| super::templates::reads(source)),
            );
        for read in record_reads {
            for (entity, field) in fields_of(rt, entities, &read) {
                note(&node.id, path.clone(), &entity, &field);
            }
        }
        // A whole record (`to_json(record)` in a call's body) reads every field of it.
        let reads_whole = node_exprs(&node.kind).into_iter().any(|(_, source)| {
            crate::expr::whole_roots(source)
                .iter()
                .any(|r| matches!(r, Root::Record | Root::Old))
        });
        if reads_whole {
            for field in &rt.definition().fields {
                note(&node.id, path.clone(), rt.name(), field.name.as_str());
            }
        }
        // A `change` wait resumes when its fields change and its filter holds on the watched
        // record: both tell the saver something of those fields.
        if let NodeKind::WaitUntil {
            change: Some(change),
            ..
        } = &node.kind
        {
            if let Some(watched) = watched_entity(def, rt, change.node.as_deref()) {
                let filtered = change.filter.iter().flat_map(filter_fields);
                for field in change.fields.iter().cloned().chain(filtered) {
                    note(&node.id, path.clone(), &watched, &field);
                }
            }
        }
        let filters: Vec<&serde_json::Value> = match &node.kind {
            NodeKind::Condition {
                filter: Some(f), ..
            } => vec![f],
            NodeKind::Switch { cases, .. } => {
                cases.iter().filter_map(|c| c.filter.as_ref()).collect()
            }
            _ => Vec::new(),
        };
        for field in filters.into_iter().flat_map(filter_fields) {
            note(&node.id, path.clone(), rt.name(), &field);
        }
    }
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (node, path, key) in reads {
        let (entity, field) = key.split_once('\u{0}').unwrap_or((&key, ""));
        if principal.field_rule(entity, field) != FieldRule::Hidden
            || !seen.insert((node.clone(), key.clone()))
        {
            continue;
        }
        problems.push(FieldError::in_node(
            Some(&node),
            path,
            "field_hidden",
            format!(
                "字段 {entity}.{field} 对您不可见，流程不能读取 / the field {entity}.{field} is hidden from you; a flow you save cannot read it"
            ),
        ));
    }
    problems
}

/// The fields a read names: a field of the trigger's record, and through a reference one
/// field of the record it points at.
fn fields_of(
    rt: &EntityRuntime,
    entities: &HashMap<String, Arc<EntityRuntime>>,
    read: &Read,
) -> Vec<(String, String)> {
    if !matches!(read.root, Root::Record | Root::Old) {
        return Vec::new();
    }
    let Some(field) = rt.definition().field(&read.name) else {
        return Vec::new();
    };
    let mut out = vec![(rt.name().to_string(), read.name.clone())];
    let target = field.entity.as_ref().and_then(|e| entities.get(e.as_str()));
    if let (Some(target), Some(then)) = (target, &read.then) {
        if target.definition().field(then).is_some() {
            out.push((target.name().to_string(), then.clone()));
        }
    }
    out
}

/// The entity a `change` wait watches: the trigger's record, or the record node `made_by` made.
fn watched_entity(
    def: &FlowDefinition,
    rt: &EntityRuntime,
    made_by: Option<&str>,
) -> Option<String> {
    let Some(made_by) = made_by else {
        return Some(rt.name().to_string());
    };
    match &def.nodes.iter().find(|n| n.id == made_by)?.kind {
        NodeKind::CreateRecord { entity, .. } => Some(entity.clone()),
        NodeKind::CreateTask { .. } => Some(super::checks::TASK_ENTITY.to_string()),
        NodeKind::SendMessage { .. } => Some(super::checks::MESSAGE_ENTITY.to_string()),
        _ => None,
    }
}

fn filter_fields(filter: &serde_json::Value) -> Vec<String> {
    crate::query::FilterExpr::parse(filter.clone())
        .map(|parsed| {
            parsed
                .conditions()
                .into_iter()
                .map(|(field, _)| field.to_string())
                .collect()
        })
        .unwrap_or_default()
}
