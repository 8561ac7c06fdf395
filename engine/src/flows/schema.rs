//! The JSON Schemas of the flow format (docs/flows.md, section 2), embedded as files and checked
//! piece by piece: the document's frame first, then the trigger and each node against the
//! schema of its type, so every problem names the node it is in.

use crate::error::FieldError;
use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, Validator};
use once_cell::sync::Lazy;
use serde_json::{json, Value};
use std::collections::HashMap;

const BASE: &str = "https://kangdao.invalid/schemas/flow/";

/// Every schema file, by file name.
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    ("flow.json", include_str!("schemas/flow.json")),
    (
        "trigger-record_created.json",
        include_str!("schemas/trigger-record_created.json"),
    ),
    (
        "trigger-record_updated.json",
        include_str!("schemas/trigger-record_updated.json"),
    ),
    (
        "trigger-record_deleted.json",
        include_str!("schemas/trigger-record_deleted.json"),
    ),
    (
        "trigger-date_relative.json",
        include_str!("schemas/trigger-date_relative.json"),
    ),
    (
        "trigger-cron.json",
        include_str!("schemas/trigger-cron.json"),
    ),
    (
        "trigger-manual.json",
        include_str!("schemas/trigger-manual.json"),
    ),
    (
        "trigger-webhook.json",
        include_str!("schemas/trigger-webhook.json"),
    ),
    (
        "trigger-segment_batch.json",
        include_str!("schemas/trigger-segment_batch.json"),
    ),
    (
        "node-condition.json",
        include_str!("schemas/node-condition.json"),
    ),
    ("node-switch.json", include_str!("schemas/node-switch.json")),
    (
        "node-update_record.json",
        include_str!("schemas/node-update_record.json"),
    ),
    (
        "node-create_record.json",
        include_str!("schemas/node-create_record.json"),
    ),
    (
        "node-create_task.json",
        include_str!("schemas/node-create_task.json"),
    ),
    (
        "node-send_message.json",
        include_str!("schemas/node-send_message.json"),
    ),
    (
        "node-add_tag.json",
        include_str!("schemas/node-add_tag.json"),
    ),
    (
        "node-remove_tag.json",
        include_str!("schemas/node-remove_tag.json"),
    ),
    ("node-delay.json", include_str!("schemas/node-delay.json")),
    (
        "node-wait_until.json",
        include_str!("schemas/node-wait_until.json"),
    ),
    (
        "node-webhook_call.json",
        include_str!("schemas/node-webhook_call.json"),
    ),
    (
        "node-approval.json",
        include_str!("schemas/node-approval.json"),
    ),
    ("node-end.json", include_str!("schemas/node-end.json")),
];

fn parsed(file: &str) -> Option<Value> {
    SCHEMA_FILES
        .iter()
        .find(|(name, _)| *name == file)
        .and_then(|(_, text)| serde_json::from_str(text).ok())
}

/// Serves the embedded files to the validator; nothing is ever fetched.
struct Embedded;

impl jsonschema::Retrieve for Embedded {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let text = uri.as_str();
        let file = text.strip_prefix(BASE).unwrap_or(text);
        parsed(file).ok_or_else(|| format!("no embedded schema {text}").into())
    }
}

fn build(schema: &Value) -> Option<Validator> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_retriever(Embedded)
        .build(schema)
        .map_err(|e| tracing::error!(error = %e, "a flow schema does not compile"))
        .ok()
}

/// The document's frame: the trigger and the nodes only as objects with a `type`.
static FRAME: Lazy<Option<Validator>> = Lazy::new(|| {
    let mut flow = parsed("flow.json")?;
    let props = flow.get_mut("properties")?.as_object_mut()?;
    props.insert(
        "trigger".into(),
        json!({"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}),
    );
    props.insert(
        "nodes".into(),
        json!({"type": "array", "minItems": 1, "maxItems": 200,
               "items": {"type": "object", "required": ["id", "type"],
                         "properties": {"type": {"type": "string"}}}}),
    );
    build(&flow)
});

static PIECES: Lazy<HashMap<String, Validator>> = Lazy::new(|| {
    SCHEMA_FILES
        .iter()
        .filter(|(name, _)| *name != "flow.json")
        .filter_map(|(name, _)| {
            let validator = build(&json!({"$ref": format!("{BASE}{name}")}))?;
            Some((name.trim_end_matches(".json").to_string(), validator))
        })
        .collect()
});

fn path_of(prefix: &str, location: &jsonschema::paths::Location) -> String {
    let mut out = prefix.to_string();
    for segment in location.iter() {
        if !out.is_empty() {
            out.push('.');
        }
        match segment {
            LocationSegment::Property(p) => out.push_str(&p),
            LocationSegment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

fn problem(node: Option<&str>, prefix: &str, e: &jsonschema::ValidationError<'_>) -> FieldError {
    let mut field = path_of(prefix, e.instance_path());
    let (code, zh, en) = match e.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_string();
            field = if field.is_empty() {
                name.clone()
            } else {
                format!("{field}.{name}")
            };
            (
                "required",
                format!("缺少 {name}"),
                format!("{name} is required"),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let names = unexpected.join(", ");
            (
                "unknown_property",
                format!("不认识的属性：{names}"),
                format!("unknown property: {names}"),
            )
        }
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => (
            "not_allowed",
            "取值不在允许范围内".to_string(),
            "the value is not one of those allowed".to_string(),
        ),
        ValidationErrorKind::Pattern { .. } => (
            "invalid_format",
            "格式不正确".to_string(),
            "the value is not in the expected format".to_string(),
        ),
        _ => (
            "schema",
            "不符合流程定义格式".to_string(),
            format!("does not match the flow format: {}", e.masked()),
        ),
    };
    FieldError::in_node(node, field, code, format!("{zh} / {en}"))
}

/// Every shape problem of a flow document at once. Empty means the typed read will succeed.
pub fn check_shape(doc: &Value) -> Vec<FieldError> {
    let Some(frame) = FRAME.as_ref() else {
        return vec![FieldError::new("", "internal", "flow schema unavailable")];
    };
    let mut out: Vec<FieldError> = frame
        .iter_errors(doc)
        .map(|e| problem(None, "", &e))
        .collect();
    if let Some(trigger) = doc.get("trigger") {
        out.extend(check_piece("trigger", trigger, Some("trigger"), "trigger"));
    }
    if let Some(nodes) = doc.get("nodes").and_then(Value::as_array) {
        for (i, node) in nodes.iter().enumerate() {
            let id = node.get("id").and_then(Value::as_str);
            out.extend(check_piece("node", node, id, &format!("nodes.{i}")));
        }
    }
    out
}

fn check_piece(kind: &str, piece: &Value, node: Option<&str>, prefix: &str) -> Vec<FieldError> {
    let Some(ty) = piece.get("type").and_then(Value::as_str) else {
        return Vec::new(); // the frame reported it
    };
    match PIECES.get(&format!("{kind}-{ty}")) {
        Some(validator) => validator
            .iter_errors(piece)
            .map(|e| problem(node, prefix, &e))
            .collect(),
        None => vec![FieldError::in_node(
            node,
            format!("{prefix}.type"),
            "unknown_type",
            format!("未知的类型 {ty} / unknown type {ty}"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles() {
        assert!(FRAME.is_some());
        assert_eq!(PIECES.len(), SCHEMA_FILES.len() - 1);
    }

    #[test]
    fn the_schemas_are_those_docs_flows_md_shows() {
        let doc = include_str!("../../../docs/flows.md");
        let mut shown = 0;
        for block in doc.split("```json\n").skip(1) {
            let text = block.split("```").next().unwrap_or_default();
            let Ok(value) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let Some(id) = value.get("$id").and_then(Value::as_str) else {
                continue;
            };
            let file = id.strip_prefix(BASE).unwrap();
            assert_eq!(
                parsed(file).as_ref(),
                Some(&value),
                "{file} differs from docs/flows.md"
            );
            shown += 1;
        }
        assert_eq!(shown, SCHEMA_FILES.len());
    }

    #[test]
    fn problems_name_their_node_and_path() {
        let doc = json!({"name": "x", "trigger": {"type": "record_updated", "entity": "patient", "colour": 1},
            "nodes": [{"id": "check", "type": "condition"},
                      {"id": "up", "type": "update_record", "set": {}},
                      {"id": "what", "type": "teleport"}],
            "edges": []});
        let problems = check_shape(&doc);
        let by = |node: &str| {
            problems
                .iter()
                .filter(|p| p.node.as_deref() == Some(node))
                .count()
        };
        assert!(by("trigger") >= 1, "{problems:?}");
        assert!(
            by("check") >= 1,
            "condition needs expr or filter: {problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.node.as_deref() == Some("up") && p.field.starts_with("nodes.1.set")),
            "{problems:?}"
        );
        assert!(problems
            .iter()
            .any(|p| p.node.as_deref() == Some("what") && p.code == "unknown_type"));
    }

    #[test]
    fn the_vip_flow_of_design_md_passes() {
        let doc: Value = serde_json::from_str(super::super::tests_support::VIP_FLOW).unwrap();
        assert_eq!(check_shape(&doc), vec![]);
    }
}
