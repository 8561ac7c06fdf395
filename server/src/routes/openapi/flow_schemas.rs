//! The flow definition format as OpenAPI components: the engine's JSON Schema files
//! (docs/flows.md, section 2) bundled, their file references rewritten to components, plus
//! the shapes of flow lists, runs and dry runs.

use kangdao_engine::flows::schema::SCHEMA_FILES;
use serde_json::{json, Value};

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A component name for a schema file: `node-send_message.json` → `FlowNode_send_message`.
fn component_of(file: &str) -> String {
    let stem = file.trim_end_matches(".json");
    if let Some(kind) = stem.strip_prefix("node-") {
        format!("FlowNode_{kind}")
    } else if let Some(kind) = stem.strip_prefix("trigger-") {
        format!("FlowTrigger_{kind}")
    } else {
        "FlowDefinition".to_string()
    }
}

/// Rewrites `$ref`s (`flow.json#/$defs/x`, `#/$defs/x` inside flow.json, `node-….json`) to
/// components and drops the file-level keywords.
fn rewrite(value: &mut Value, in_flow_json: bool) {
    match value {
        Value::Object(map) => {
            map.remove("$id");
            map.remove("$schema");
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                let target = if let Some(def) = r.strip_prefix("flow.json#/$defs/") {
                    format!("#/components/schemas/FlowDef_{def}")
                } else if let (true, Some(def)) = (in_flow_json, r.strip_prefix("#/$defs/")) {
                    format!("#/components/schemas/FlowDef_{def}")
                } else if r.ends_with(".json") {
                    format!("#/components/schemas/{}", component_of(r))
                } else {
                    r.clone()
                };
                *r = target;
            }
            for v in map.values_mut() {
                rewrite(v, in_flow_json);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, in_flow_json)),
        _ => {}
    }
}

fn run_schema() -> Value {
    json!({
        "type": "object", "required": ["id", "flow", "flow_version", "status", "depth", "trigger", "created_at", "finished_at", "error"],
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "flow": {"type": "string"},
            "flow_version": {"type": "integer", "minimum": 1},
            "status": {"enum": ["pending", "running", "waiting", "succeeded", "failed", "cancelled"]},
            "depth": {"type": "integer", "minimum": 0},
            "trigger": {"type": "object", "description": "what started the run: type, entity, record_id, version, changed_fields, actor"},
            "started_by": {"type": ["string", "null"], "description": "who started the run: the actor of the triggering write, or the caller who started a manual run"},
            "created_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "error": {"description": "why the run failed: code, message, node; null otherwise"},
            "steps": {"type": "array", "items": reference("FlowStep")}
        }
    })
}

/// Every flow component, by name.
pub fn components() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (file, text) in SCHEMA_FILES {
        let Ok(mut schema) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let in_flow_json = *file == "flow.json";
        if in_flow_json {
            if let Some(Value::Object(defs)) =
                schema.as_object_mut().and_then(|m| m.remove("$defs"))
            {
                for (name, mut def) in defs {
                    rewrite(&mut def, true);
                    out.push((format!("FlowDef_{name}"), def));
                }
            }
        }
        rewrite(&mut schema, in_flow_json);
        out.push((component_of(file), schema));
    }
    out.push((
        "FlowSummary".into(),
        json!({"type": "object", "required": ["name", "label", "enabled", "version", "trigger", "updated_at", "updated_by"],
               "properties": {"name": {"type": "string"}, "label": {}, "enabled": {"type": "boolean"},
                              "version": {"type": "integer", "minimum": 1},
                              "trigger": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}, "entity": {"type": "string"}}},
                              "updated_at": {"type": "string", "format": "date-time"}, "updated_by": {"type": "string"}}}),
    ));
    out.push((
        "FlowPage".into(),
        page("FlowSummary", "The flows the caller may read, on one page"),
    ));
    out.push((
        "FlowVersion".into(),
        json!({"type": "object", "required": ["version", "saved_at", "saved_by"],
               "properties": {"version": {"type": "integer", "minimum": 1}, "saved_at": {"type": "string", "format": "date-time"}, "saved_by": {"type": "string"}}}),
    ));
    out.push((
        "FlowVersionPage".into(),
        page("FlowVersion", "Saved versions, newest first, on one page"),
    ));
    out.push((
        "FlowCheck".into(),
        json!({"type": "object", "required": ["ok"], "properties": {"ok": {"const": true}, "version": {}}}),
    ));
    out.push((
        "FlowDryRunRequest".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "record_id": {"type": "string", "format": "uuid", "description": "required when the trigger has a record"},
            "definition": {"description": "a draft to try instead of the saved version, checked as on save"},
            "body": {"type": "object", "description": "for a webhook trigger: the request body, in scope as `body`"},
            "choose": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "for an approval or wait_until node: the edge its wait ends by (an outcome, `timeout`, `error`, or `resumed` for a wait_until ending normally); unnamed waits stop the path"}}}),
    ));
    out.push((
        "WebhookBody".into(),
        json!({"type": "object", "description": "any JSON object of at most 256 KiB; the run sees it as `body`, and stores it as ciphertext"}),
    ));
    out.push((
        "WebhookAccepted".into(),
        json!({"type": "object", "required": ["run_id"], "additionalProperties": false,
               "properties": {"run_id": {"type": "string", "format": "uuid"}}}),
    ));
    out.push((
        "FlowDryRun".into(),
        json!({"type": "object", "required": ["flow", "version", "record", "trigger", "path", "ended"], "properties": {
            "flow": {"type": "string"}, "version": {"type": "integer"}, "record": {}, "trigger": {"type": "object"},
            "path": {"type": "array", "items": {"type": "object", "required": ["node", "type"], "properties": {
                "node": {"type": "string"}, "type": {"type": "string"}, "input": {}, "output": {}, "would": {},
                "would_wait_until": {"type": "string"}, "would_wait": {"type": "boolean"}, "chosen": {"type": "string"},
                "error": {}, "next": {"type": "array", "items": {"type": "string"}}}}},
            "ended": {"enum": ["no_more_edges", "end", "failed", "waiting"]}}}),
    ));
    out.push((
        "FlowRunStart".into(),
        json!({"type": "object", "required": ["record_id"], "additionalProperties": false, "properties": {
            "record_id": {"type": "string", "format": "uuid", "description": "the record to run the manual flow on; the caller needs update on it"}}}),
    ));
    out.push((
        "TaskCompletion".into(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "outcome": {"type": "string", "maxLength": 64, "description": "one of the task's outcomes, when it has them"},
            "comment": {"type": "string", "maxLength": 4000}}}),
    ));
    out.push(("FlowRun".into(), run_schema()));
    out.push((
        "FlowRunPage".into(),
        page("FlowRun", "A flow's runs, newest first"),
    ));
    out.push((
        "FlowStep".into(),
        json!({"type": "object", "required": ["node", "type", "status", "attempts", "input", "output", "error", "started_at", "finished_at"],
               "properties": {"node": {"type": "string"}, "type": {"type": "string"},
                              "status": {"enum": ["ready", "running", "waiting", "succeeded", "failed", "cancelled"]},
                              "attempts": {"type": "integer", "minimum": 0},
                              "input": {"description": "what the step read or was given, shown through the reader's field rules"},
                              "output": {"description": "what the step produced, shown through the reader's field rules"},
                              "error": {"description": "code and message, never a value; null when none"},
                              "started_at": {"type": "string", "format": "date-time"},
                              "finished_at": {"type": ["string", "null"], "format": "date-time"}}}),
    ));
    out
}

fn page(item: &str, description: &str) -> Value {
    json!({"type": "object", "description": description, "required": ["items", "page", "per_page"],
           "properties": {"items": {"type": "array", "items": reference(item)},
                          "total": {"type": "integer", "minimum": 0},
                          "page": {"type": "integer", "minimum": 1},
                          "per_page": {"type": "integer", "minimum": 1, "maximum": 1000}}})
}
