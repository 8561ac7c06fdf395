//! Component schemas of the saved reports: segments, charts and dashboards
//! (docs/reports.md sections 10 and 11).

use serde_json::{json, Value};

const NAME_PATTERN: &str = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$";

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn name() -> Value {
    json!({"type": "string", "pattern": NAME_PATTERN, "maxLength": 28})
}

fn label() -> Value {
    json!({"type": "object", "additionalProperties": false,
           "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}})
}

/// What every saved definition answers besides its own keys (a PUT may send them back).
fn saved_keys() -> Value {
    json!({
        "version": {"type": "integer", "minimum": 1, "description": "answered; in a PUT body the precondition (like If-Match)"},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "updated_by": {"type": "string"}
    })
}

fn with_saved_keys(mut properties: Value) -> Value {
    if let (Some(own), Value::Object(saved)) = (properties.as_object_mut(), saved_keys()) {
        own.extend(saved);
    }
    properties
}

fn page_of(item: &str, description: &str) -> Value {
    json!({
        "type": "object", "description": description,
        "required": ["items", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": reference(item)},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1}
        }
    })
}

fn error_object() -> Value {
    json!({"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "array", "items": reference("FieldError")}}})
}

pub fn components() -> Vec<(String, Value)> {
    let segment_properties = with_saved_keys(json!({
        "name": name(), "label": label(), "entity": {"type": "string"},
        "filters": reference("FilterExpr"),
        "member_count": {"type": ["integer", "null"], "minimum": 0,
            "description": "answered by GET: the members counted under the caller's rights; null where the caller's field rules refuse the segment's filter"}
    }));
    let chart_properties = with_saved_keys(json!({
        "name": name(), "label": label(), "spec": reference("ChartSpec")
    }));
    let dashboard_properties = with_saved_keys(json!({
        "name": name(), "label": label(),
        "filters": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "additionalProperties": false, "required": ["param", "fields"],
            "properties": {
                "param": {"type": "string", "description": "`period` (?from=&to=) or a query parameter's name"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "chart name → the field of that chart the parameter filters"}}}},
        "items": {"type": "array", "maxItems": 50, "items": {
            "type": "object", "additionalProperties": false, "required": ["chart"],
            "properties": {
                "chart": name(),
                "x": {"type": "integer", "minimum": 0}, "y": {"type": "integer", "minimum": 0},
                "w": {"type": "integer", "minimum": 1}, "h": {"type": "integer", "minimum": 1}}}}
    }));
    vec![
        (
            "Segment",
            json!({
                "description": "A saved filter on an entity (docs/reports.md section 10)",
                "type": "object", "additionalProperties": false,
                "required": ["name", "entity", "filters"],
                "properties": segment_properties,
                "examples": [{"name": "lapsed_6m", "label": {"zh": "半年未就诊"}, "entity": "patient",
                  "filters": {"not": {"exists": {"entity": "visit", "ref": "patient",
                    "filters": {"field": "visit_time", "op": "last_n_days", "value": 182}}}}}]
            }),
        ),
        (
            "SegmentPage",
            page_of("Segment", "The segments on entities the caller may read, on one page"),
        ),
        (
            "SavedChart",
            json!({
                "description": "A saved chart (docs/reports.md section 11)",
                "type": "object", "additionalProperties": false, "required": ["name", "spec"],
                "properties": chart_properties
            }),
        ),
        (
            "SavedChartPage",
            page_of("SavedChart", "The saved charts on entities the caller may read, on one page"),
        ),
        (
            "Dashboard",
            json!({
                "description": "A grid of saved charts with shared filters (docs/reports.md section 11)",
                "type": "object", "additionalProperties": false, "required": ["name", "items"],
                "properties": dashboard_properties
            }),
        ),
        (
            "DashboardPage",
            page_of("Dashboard", "The dashboards, on one page"),
        ),
        (
            "ChartData",
            json!({
                "description": "A saved chart's answer; `explain` with ?explain=true for holders of design",
                "allOf": [reference("ChartAnswer")]
            }),
        ),
        (
            "DashboardData",
            json!({
                "description": "Every chart of a dashboard in its order, each with its data or its own error",
                "type": "object", "required": ["name", "version", "charts"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "integer", "minimum": 1},
                    "label": label(),
                    "charts": {"type": "array", "items": {
                        "type": "object", "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "label": label(),
                            "spec": reference("ChartSpec"),
                            "data": reference("ChartAnswer"),
                            "error": error_object()
                        }}}
                }
            }),
        ),
    ]
    .into_iter()
    .map(|(name, schema)| (name.to_string(), schema))
    .collect()
}
