//! The component schemas of the OpenAPI document: what the API takes and answers, precise
//! enough to generate a typed client. Request bodies the server parses strictly carry
//! `additionalProperties: false`; answers list every field they always carry as required.

use kangdao_engine::records::EXACT_TOTAL_BOUND;
use serde_json::{json, Value};

/// Error codes of the one error format (DESIGN.md, "Precise rules", Wire).
pub const ERROR_CODES: &[&str] = &[
    "bad_request",
    "unauthenticated",
    "forbidden",
    "csrf_failed",
    "not_found",
    "version_conflict",
    "unique_violation",
    "precondition_required",
    "payload_too_large",
    "validation_failed",
    "rate_limited",
    "conflict",
    "method_not_allowed",
    "uri_too_long",
    "headers_too_large",
    "internal",
];

const NAME_PATTERN: &str = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$";

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A list in the one list shape, of items of schema `item`.
fn page_of(item: &str, description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": ["items", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": reference(item)},
            "total": {"type": "integer", "minimum": 0, "description": "exact whenever present"},
            "total_estimate": {"type": "integer", "minimum": 0, "description": "given instead of total where counting would cost more than the page"},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 1000}
        }
    })
}

/// A page of records: `total` and `total_estimate` as `?count=` and the counting bound decide.
fn record_page() -> Value {
    let bound = EXACT_TOTAL_BOUND;
    let mut page = page_of(
        "Record",
        &format!(
            "One page of records. Counting stops at {bound} matching rows, so a total never costs \
             more than the page: with ?count=true (the default) the answer carries the exact \
             `total` when at most {bound} rows match, else `total_estimate` instead; \
             ?count=exact always carries the exact `total`; ?count=false carries neither."
        ),
    );
    page["properties"]["total"]["description"] = json!(format!(
        "exact: present with ?count=true when at most {bound} rows match, and always with ?count=exact"
    ));
    page["properties"]["total_estimate"] = json!({
        "type": "integer", "minimum": bound + 1,
        "description": format!(
            "present instead of `total` with ?count=true when more than {bound} rows match: \
             PostgreSQL's planner estimate, or on SQLite an exact count at most 60 seconds old; \
             never at or under {bound}"
        )
    });
    page["not"] = json!({"required": ["total", "total_estimate"]});
    page
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable_timestamp() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}

fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn field_types() -> Value {
    json!([
        "text",
        "textarea",
        "number",
        "integer",
        "money",
        "boolean",
        "date",
        "datetime",
        "select",
        "multiselect",
        "tags",
        "phone",
        "email",
        "id_card",
        "reference",
        "references",
        "user",
        "attachment",
        "autonumber",
        "formula",
        "subject"
    ])
}

fn filter_ops() -> Value {
    json!([
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
        "birthday_in_n_days"
    ])
}

fn definitions() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Label",
            json!({
                "type": "object", "additionalProperties": false,
                "description": "A label in both languages",
                "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}
            }),
        ),
        (
            "SelectOption",
            json!({
                "type": "object", "additionalProperties": false, "required": ["value"],
                "properties": {"value": {"type": "string"}, "label": reference("Label"), "color": {"type": "string"}}
            }),
        ),
        (
            "Field",
            json!({
                "type": "object", "additionalProperties": false, "required": ["name", "type"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 28},
                    "type": {"type": "string", "enum": field_types()},
                    "label": reference("Label"),
                    "required": {"type": "boolean"},
                    "unique": {"type": "boolean"},
                    "indexed": {"type": "boolean"},
                    "default": {},
                    "min": {"type": "number"},
                    "max": {"type": "number"},
                    "min_length": {"type": "integer", "minimum": 0, "maximum": 4294967295u32},
                    "max_length": {"type": "integer", "minimum": 0, "maximum": 4294967295u32},
                    "pattern": {"type": "string"},
                    "options": {"type": "array", "items": reference("SelectOption")},
                    "sensitive": {"type": "boolean", "description": "unset: id_card and phone are sensitive"},
                    "visible_if": reference("FilterExpr"),
                    "readonly_if": reference("FilterExpr"),
                    "help": reference("Label"),
                    "entity": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 28, "description": "reference / references: the entity pointed at"},
                    "entities": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 28}, "description": "subject: the entities it may point at (any when absent); a subject's value is {\"entity\", \"id\"}"},
                    "expr": {"type": "string", "description": "formula: expression over `record`"},
                    "result": {"type": "string", "enum": ["number", "integer", "money", "text", "boolean", "date"]},
                    "prefix": {"type": "string"},
                    "digits": {"type": "integer", "minimum": 0, "maximum": 255},
                    "yearly": {"type": "boolean"}
                }
            }),
        ),
        (
            "LayoutSection",
            json!({
                "type": "object", "additionalProperties": false, "required": ["section", "fields"],
                "properties": {
                    "section": reference("Label"),
                    "tab": {
                        "allOf": [reference("Label")],
                        "description": "the tab the section shows under: sections with the same tab label form one tab (tabs in order of first appearance, sections in layout order); sections without one show outside any tab. A tab label needs zh or en text, and one tab has one label"
                    },
                    "columns": {"type": "integer", "minimum": 0, "maximum": 255},
                    "fields": {"type": "array", "items": {"type": "string"}}
                }
            }),
        ),
        (
            "EntityDefinition",
            json!({
                "type": "object", "additionalProperties": false, "required": ["name", "fields"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 28},
                    "label": reference("Label"),
                    "fields": {"type": "array", "items": reference("Field")},
                    "layout": {"type": "array", "items": reference("LayoutSection")},
                    "owner_field": {"type": "string"},
                    "department_field": {"type": "string"},
                    "medical_record": {"type": "boolean"},
                    "version": {"type": "integer", "minimum": 0, "description": "the version a GET answered: the precondition of a PUT"}
                }
            }),
        ),
        (
            "DefinitionBatch",
            json!({
                "type": "object", "additionalProperties": false, "required": ["entities"],
                "properties": {"entities": {"type": "array", "items": reference("EntityDefinition")}}
            }),
        ),
        (
            "DefinitionChanges",
            json!({
                "description": "The change plan of a batch of definitions, with its impact in a dry run",
                "type": "object", "required": ["dry_run", "entities"],
                "properties": {
                    "dry_run": {"type": "boolean"},
                    "entities": {"type": "array", "items": {
                        "type": "object",
                        "required": ["name", "change", "version", "fields_added", "fields_restored", "indexes_added", "unique_added", "unique_dropped", "unique_pending", "impact"],
                        "properties": {
                            "name": {"type": "string"},
                            "change": {"type": "string", "enum": ["created", "changed", "unchanged"]},
                            "version": {"type": "integer", "minimum": 0},
                            "fields_added": strings(),
                            "fields_restored": strings(),
                            "indexes_added": strings(),
                            "unique_added": strings(),
                            "unique_dropped": strings(),
                            "unique_pending": strings(),
                            "impact": reference("Impact")
                        }
                    }}
                }
            }),
        ),
        (
            "DefinitionCheck",
            json!({
                "description": "What saving the definition would do; a definition that would not save answers the 400 (every problem at once) or 409 saving would give",
                "type": "object",
                "required": ["ok", "name", "change", "version", "fields_added", "fields_restored", "indexes_added", "unique_added", "unique_dropped", "schema"],
                "properties": {
                    "ok": {"type": "boolean", "const": true},
                    "name": {"type": "string"},
                    "change": {"type": "string", "enum": ["created", "changed", "unchanged"]},
                    "version": {"type": "integer", "minimum": 1, "description": "the version saving would make (the current one when unchanged)"},
                    "fields_added": strings(),
                    "fields_restored": strings(),
                    "indexes_added": strings(),
                    "unique_added": strings(),
                    "unique_dropped": strings(),
                    "schema": reference("JsonSchema")
                }
            }),
        ),
        (
            "DefinitionVersion",
            json!({
                "description": "One saved version of a definition, with what it changed against the one before",
                "type": "object", "required": ["version", "saved_at", "saved_by", "summary"],
                "properties": {
                    "version": {"type": "integer", "minimum": 1},
                    "saved_at": {"type": "string", "format": "date-time"},
                    "saved_by": {"type": "string"},
                    "summary": {
                        "type": "object",
                        "required": ["fields_added", "fields_removed", "fields_changed", "other_changed"],
                        "properties": {
                            "fields_added": strings(),
                            "fields_removed": strings(),
                            "fields_changed": strings(),
                            "other_changed": {"type": "boolean", "description": "the label, layout, scope fields or order of the fields changed"}
                        }
                    }
                }
            }),
        ),
        (
            "DefinitionVersionPage",
            json!(page_of(
                "DefinitionVersion",
                "Saved versions of a definition, newest first"
            )),
        ),
        (
            "VersionedDefinition",
            json!({
                "description": "One saved version's definition as it was saved (without a version of its own)",
                "type": "object", "required": ["version", "saved_at", "saved_by", "definition"],
                "properties": {
                    "version": {"type": "integer", "minimum": 1},
                    "saved_at": {"type": "string", "format": "date-time"},
                    "saved_by": {"type": "string"},
                    "definition": reference("EntityDefinition")
                }
            }),
        ),
        (
            "EntityInfo",
            json!({
                "description": "A definition with its version",
                "type": "object", "required": ["name", "fields", "version"],
                "properties": {
                    "name": {"type": "string"},
                    "label": reference("Label"),
                    "fields": {"type": "array", "items": reference("Field")},
                    "layout": {"type": "array", "items": reference("LayoutSection")},
                    "owner_field": {"type": "string"},
                    "department_field": {"type": "string"},
                    "medical_record": {"type": "boolean"},
                    "version": {"type": "integer", "minimum": 1}
                }
            }),
        ),
        (
            "EntityPage",
            json!(page_of("EntityInfo", "Entity definitions, all on one page")),
        ),
        (
            "Impact",
            json!({
                "type": "object", "required": ["invalid_records", "examples", "checked_records"],
                "properties": {
                    "invalid_records": {"type": "integer", "minimum": 0},
                    "checked_records": {"type": "integer", "minimum": 0},
                    "examples": {"type": "array", "items": {
                        "type": "object", "required": ["id", "errors"],
                        "properties": {"id": {"type": "string"}, "errors": {"type": "array", "items": reference("FieldError")}}
                    }}
                }
            }),
        ),
        (
            "JsonSchema",
            json!({"type": "object", "description": "A JSON Schema (2020-12) document"}),
        ),
        (
            "FilterExpr",
            json!({
                "description": "The filter grammar: a condition, a saved segment, or and/or/not/exists over filters (nested at most 16 deep)",
                "oneOf": [
                    {"type": "object", "additionalProperties": false, "required": ["field", "op"], "properties": {
                        "field": {"type": "string"}, "op": {"type": "string", "enum": filter_ops()}, "value": {}}},
                    {"type": "object", "additionalProperties": false, "required": ["and"], "properties": {
                        "and": {"type": "array", "items": reference("FilterExpr")}}},
                    {"type": "object", "additionalProperties": false, "required": ["or"], "properties": {
                        "or": {"type": "array", "items": reference("FilterExpr")}}},
                    {"type": "object", "additionalProperties": false, "required": ["not"], "properties": {
                        "not": reference("FilterExpr")}},
                    {"type": "object", "additionalProperties": false, "required": ["exists"], "properties": {
                        "exists": {"type": "object", "additionalProperties": false, "required": ["entity", "ref"], "properties": {
                            "entity": {"type": "string"}, "ref": {"type": "string"}, "filters": reference("FilterExpr")}}}},
                    {"type": "object", "additionalProperties": false, "required": ["segment"], "properties": {
                        "segment": {"type": "string", "description": "a saved segment on the filtered entity, standing for its filter"}}}
                ]
            }),
        ),
        (
            "DataBody",
            json!({
                "type": "object", "additionalProperties": false, "required": ["data"],
                "examples": [{"data": {"name": "张三", "mrn": "M0002", "dept": "cardiology", "total_spent": 12.5}}],
            "properties": {"data": {"type": "object", "description": "field name → value, as the entity's definition says"}}
            }),
        ),
        (
            "Record",
            json!({
                "type": "object",
                "required": ["id", "entity", "version", "data", "created_at", "created_by", "updated_at", "updated_by"],
                "properties": {
                    "id": uuid(),
                    "entity": {"type": "string"},
                    "version": {"type": "integer", "minimum": 1},
                    "data": {"type": "object", "description": "field name → value; sensitive fields masked unless unmasked"},
                    "created_at": timestamp(),
                    "created_by": {"type": "string"},
                    "updated_at": timestamp(),
                    "updated_by": {"type": "string"},
                    "deleted_at": timestamp()
                }
            }),
        ),
        ("RecordPage", record_page()),
        (
            "Change",
            json!({
                "type": "object", "required": ["version", "op", "data", "changed_fields", "actor", "at"],
                "properties": {
                    "version": {"type": "integer", "minimum": 1},
                    "op": {"type": "string"},
                    "data": {"type": "object"},
                    "changed_fields": strings(),
                    "actor": {"type": "string"},
                    "at": timestamp()
                }
            }),
        ),
        (
            "ChangePage",
            json!(page_of(
                "Change",
                "Every version of a record, all on one page"
            )),
        ),
        (
            "View360",
            json!({
                "type": "object", "required": ["record", "related", "timeline"],
                "properties": {
                    "record": reference("Record"),
                    "related": {"type": "array", "items": {
                        "type": "object", "required": ["entity", "field", "total", "items"],
                        "properties": {
                            "entity": {"type": "string"}, "field": {"type": "string"},
                            "total": {"type": "integer", "minimum": 0, "description": "exact, always: the referencing live records, counted through the reference's index (the group shows the newest 20)"},
                            "items": {"type": "array", "items": reference("Record")}
                        }
                    }},
                    "timeline": {"type": "array", "items": {
                        "type": "object", "required": ["entity", "record_id", "version", "op", "changed_fields", "actor", "at"],
                        "properties": {
                            "entity": {"type": "string"}, "record_id": uuid(),
                            "version": {"type": "integer", "minimum": 1}, "op": {"type": "string"},
                            "changed_fields": strings(), "actor": {"type": "string"}, "at": timestamp()
                        }
                    }}
                }
            }),
        ),
        (
            "ImportReport",
            json!({
                "type": "object", "required": ["dry_run", "total_rows", "valid_rows", "imported", "errors", "columns"],
                "properties": {
                    "dry_run": {"type": "boolean"},
                    "total_rows": {"type": "integer", "minimum": 0},
                    "valid_rows": {"type": "integer", "minimum": 0},
                    "imported": {"type": "integer", "minimum": 0},
                    "errors": {"type": "array", "items": reference("FieldError")},
                    "columns": {"type": "array", "items": reference("ImportColumn"), "description": "the file's header in order, with the field each column filled (null: skipped)"}
                }
            }),
        ),
        (
            "ImportColumn",
            json!({
                "type": "object", "required": ["column", "field"],
                "properties": {
                    "column": {"type": "string", "description": "the header as in the file"},
                    "field": {"type": ["string", "null"], "description": "the field it fills; null: none (skipped)"}
                }
            }),
        ),
        (
            "ImportPreview",
            json!({
                "type": "object", "required": ["columns", "total_rows", "sample"],
                "properties": {
                    "columns": {"type": "array", "items": reference("ImportColumn"), "description": "the header, each column with the field whose name or label it carries among those the caller may import"},
                    "total_rows": {"type": "integer", "minimum": 0},
                    "sample": {"type": "array", "maxItems": 5, "items": strings(), "description": "the first rows as text, one cell per column"}
                }
            }),
        ),
        (
            "ChartSpec",
            json!({
                "type": "object", "additionalProperties": false, "required": ["entity", "chart", "measures"],
                "description": "docs/reports.md, sections 1 to 8",
                "examples": [{"entity": "patient", "chart": "bar", "dimensions": [{"field": "dept"}],
                          "measures": [{"agg": "count"}, {"agg": "sum", "field": "total_spent"}],
                          "filters": {"field": "total_spent", "op": "gt", "value": 0}}],
                "properties": {
                    "entity": {"type": "string"},
                    "chart": {"type": "string", "enum": ["bar", "line", "area", "pie", "table", "kpi", "funnel", "pivot"]},
                    "dimensions": {"type": "array", "maxItems": 2, "items": {
                        "type": "object", "additionalProperties": false, "required": ["field"],
                        "properties": {
                            "field": {"type": "string", "description": "a field, or reference.field (one hop)"},
                            "bucket": {"type": "string", "enum": ["day", "week", "month", "quarter", "year"]}}}},
                    "measures": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": false,
                        "properties": {
                            "agg": {"type": "string", "enum": ["count", "count_distinct", "sum", "avg", "min", "max", "median", "ratio"]},
                            "field": {"type": "string"},
                            "filter": reference("FilterExpr"),
                            "expr": {"type": "string", "maxLength": 200, "description": "a derived measure over the other measures' names"},
                            "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}}}},
                    "filters": reference("FilterExpr"),
                    "sort": {"type": "array", "maxItems": 8, "items": {
                        "type": "object", "additionalProperties": false, "required": ["by"],
                        "properties": {"by": {"type": "string"}, "dir": {"type": "string", "enum": ["asc", "desc"]}}}},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
                    "others": {"type": "boolean"},
                    "fill": {"type": "boolean"},
                    "page": {"type": "integer", "minimum": 1},
                    "per_page": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "period": {"type": "object", "additionalProperties": false, "required": ["field"],
                        "properties": {"field": {"type": "string"}, "op": {"type": "string"}, "value": {},
                                       "from": date(), "to": date()}},
                    "compare": {"type": "array", "items": {"type": "string", "enum": ["previous_period", "same_period_last_year"]}},
                    "stages": {"type": "array", "maxItems": 12, "items": {
                        "type": "object", "additionalProperties": false, "required": ["name"],
                        "properties": {"name": {"type": "string"}, "label": reference("Label"), "filter": reference("FilterExpr")}}},
                    "totals": {"type": "boolean"}
                }
            }),
        ),
        (
            "ChartAnswer",
            json!({
                "type": "object", "required": ["columns", "rows", "labels"],
                "description": "docs/reports.md, section 9",
                "properties": {
                    "columns": {"type": "array", "items": {
                        "type": "object", "required": ["name", "type"],
                        "properties": {"name": {"type": "string"}, "type": {"type": "string"}}}},
                    "rows": {"type": "array", "items": {"type": "array", "description": "one value per column"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
                               "description": "per column, each value's text in the caller's language"},
                    "others": {"type": "object", "required": ["groups", "values"],
                        "properties": {"groups": {"type": "integer", "minimum": 1}, "values": {"type": "array"}}},
                    "period": {"type": "object", "required": ["from", "to"], "properties": {"from": date(), "to": date()}},
                    "comparisons": {"type": "array", "items": {
                        "type": "object", "required": ["compare", "from", "to", "values", "change", "change_ratio"],
                        "properties": {
                            "compare": {"type": "string", "enum": ["previous_period", "same_period_last_year"]},
                            "from": date(), "to": date(),
                            "values": {"type": "array"}, "change": {"type": "array"}, "change_ratio": {"type": "array"}}}},
                    "totals": {"type": "object", "required": ["rows", "columns", "grand"],
                        "properties": {"rows": {"type": "array", "items": {"type": "array"}},
                                       "columns": {"type": "array", "items": {"type": "array"}},
                                       "grand": {"type": "array"}}},
                    "page": {"type": "integer", "minimum": 1},
                    "per_page": {"type": "integer", "minimum": 1},
                    "total": {"type": "integer", "minimum": 0},
                    "filled": {"type": "boolean"},
                    "explain": {"type": "object", "required": ["statements"],
                        "properties": {"statements": {"type": "array", "items": {
                            "type": "object", "required": ["sql", "params"],
                            "properties": {"sql": {"type": "string"}, "params": strings()}}}}}
                }
            }),
        ),
        (
            "Login",
            json!({
                "type": "object", "additionalProperties": false, "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}}
            }),
        ),
        (
            "Me",
            json!({
                "type": "object", "required": ["user", "permissions", "rights", "csrf_token", "timezone"],
                "properties": {
                    "user": reference("User"),
                    "permissions": {"type": "array", "items": reference("EntityPermission")},
                    "rights": {"type": "array", "items": reference("SystemRight")},
                    "csrf_token": {"type": ["string", "null"], "description": "null when signed in with an API token"},
                    "timezone": {"type": "string", "examples": ["Asia/Shanghai"], "description": "the server's configured time zone (IANA): dates and \"today\" are judged in it, so the browser shows times in it too"}
                }
            }),
        ),
        (
            "User",
            json!({
                "type": "object",
                "required": ["id", "username", "display_name", "is_admin", "roles", "departments", "disabled", "created_at", "updated_at"],
                "properties": {
                    "id": uuid(),
                    "username": {"type": "string"},
                    "display_name": {"type": ["string", "null"]},
                    "is_admin": {"type": "boolean"},
                    "roles": strings(),
                    "departments": strings(),
                    "disabled": {"type": "boolean"},
                    "created_at": timestamp(),
                    "updated_at": timestamp(),
                    "version": {"type": "integer", "minimum": 1}
                }
            }),
        ),
        ("UserPage", json!(page_of("User", "One page of users"))),
        (
            "NewUser",
            json!({
                "type": "object", "additionalProperties": false, "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                    "password": {"type": "string"},
                    "display_name": {"type": ["string", "null"]},
                    "is_admin": {"type": "boolean"},
                    "roles": strings(),
                    "departments": strings()
                }
            }),
        ),
        (
            "UserUpdate",
            json!({
                "description": "The parts to change; what GET answered is accepted back (`version` is the precondition, `id` and `username` must be the user's own, the times are ignored)",
                "type": "object", "additionalProperties": false,
                "properties": {
                    "display_name": {"type": ["string", "null"]},
                    "roles": strings(),
                    "departments": strings(),
                    "disabled": {"type": "boolean"},
                    "is_admin": {"type": "boolean"},
                    "password": {"type": "string"},
                    "version": {"type": "integer", "minimum": 0},
                    "id": uuid(),
                    "username": {"type": "string"},
                    "created_at": {},
                    "updated_at": {}
                }
            }),
        ),
        (
            "SystemRight",
            json!({"type": "string", "enum": ["users", "roles", "audit", "packs", "settings", "new_entity"]}),
        ),
        (
            "EntityPermission",
            json!({
                "type": "object", "additionalProperties": false, "required": ["entity", "actions"],
                "properties": {
                    "entity": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 28},
                    "actions": {"type": "array", "items": {"type": "string", "enum": ["read", "create", "update", "delete", "export", "design"]}},
                    "rows": {"type": "string", "enum": ["all", "own", "department"]},
                    "fields": {"type": "object", "additionalProperties": {"type": "string", "enum": ["hidden", "masked", "read", "write"]}}
                }
            }),
        ),
        (
            "Role",
            json!({
                "type": "object", "additionalProperties": false, "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 28},
                    "label": reference("Label"),
                    "permissions": {"type": "array", "items": reference("EntityPermission")},
                    "rights": {"type": "array", "items": reference("SystemRight")},
                    "version": {"type": "integer", "minimum": 0}
                }
            }),
        ),
        (
            "RoleAnswer",
            json!({
                "description": "A role as stored",
                "type": "object", "required": ["name", "permissions", "rights"],
                "properties": {
                    "name": {"type": "string"},
                    "label": reference("Label"),
                    "permissions": {"type": "array", "items": reference("EntityPermission")},
                    "rights": {"type": "array", "items": reference("SystemRight")},
                    "version": {"type": "integer", "minimum": 0}
                }
            }),
        ),
        (
            "RolePage",
            json!(page_of("RoleAnswer", "Every role, on one page")),
        ),
        (
            "NewToken",
            json!({
                "type": "object", "additionalProperties": false, "required": ["name"],
                "properties": {"name": {"type": "string"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}}
            }),
        ),
        (
            "Token",
            json!({
                "description": "An API token as listed: never its value",
                "type": "object", "required": ["id", "user_id", "name", "created_at", "last_used_at", "expires_at", "revoked_at"],
                "properties": {
                    "id": uuid(), "user_id": uuid(), "name": {"type": "string"},
                    "created_at": timestamp(), "last_used_at": nullable_timestamp(),
                    "expires_at": nullable_timestamp(), "revoked_at": nullable_timestamp()
                }
            }),
        ),
        (
            "NewTokenAnswer",
            json!({
                "description": "The new token with its value, shown this once",
                "allOf": [reference("Token"), {"type": "object", "required": ["token"], "properties": {"token": {"type": "string", "pattern": "^kd_"}}}]
            }),
        ),
        (
            "NewListView",
            json!({
                "type": "object", "additionalProperties": false, "required": ["entity", "name", "state"],
                "properties": {
                    "entity": {"type": "string"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 50},
                    "state": {"type": "object", "description": "the browser's list state, at most 8 KiB as JSON"}
                }
            }),
        ),
        (
            "ListViewUpdate",
            json!({
                "type": "object", "additionalProperties": false, "required": ["name", "state"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 50},
                    "state": {"type": "object", "description": "the browser's list state, at most 8 KiB as JSON"}
                }
            }),
        ),
        (
            "ListView",
            json!({
                "description": "A saved list view, private to its user",
                "type": "object", "required": ["id", "entity", "name", "state", "created_at", "updated_at"],
                "properties": {
                    "id": uuid(), "entity": {"type": "string"}, "name": {"type": "string"},
                    "state": {"type": "object"}, "created_at": timestamp(), "updated_at": timestamp()
                }
            }),
        ),
        (
            "ListViewPage",
            json!(page_of(
                "ListView",
                "The caller's views of the entity, in the order saved, on one page"
            )),
        ),
        (
            "TokenPage",
            json!(page_of("Token", "The caller's tokens, on one page")),
        ),
        (
            "AuditEntry",
            json!({
                "type": "object", "required": ["id", "at", "actor", "action", "entity", "record_id", "fields", "detail"],
                "properties": {
                    "id": {"type": "integer"},
                    "at": timestamp(),
                    "actor": {"type": "string"},
                    "action": {"type": "string"},
                    "entity": {"type": ["string", "null"]},
                    "record_id": {"type": ["string", "null"]},
                    "fields": strings(),
                    "detail": {"description": "context of the action; never a field's value"}
                }
            }),
        ),
        (
            "AuditPage",
            json!(page_of(
                "AuditEntry",
                "One page of the audit log, newest first"
            )),
        ),
        (
            "Health",
            json!({
                "type": "object", "required": ["status"],
                "properties": {"status": {"type": "string"}}
            }),
        ),
        (
            "OpenApiDocument",
            json!({"type": "object", "required": ["openapi", "info", "paths"]}),
        ),
    ]
}

fn errors() -> Vec<(&'static str, Value)> {
    vec![
        (
            "FieldError",
            json!({
                "type": "object", "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1, "description": "import only; 1 = header"},
                    "node": {"type": "string", "description": "flow definitions only: the node the problem is in (`trigger` for the trigger)"}
                }
            }),
        ),
        (
            "Error",
            json!({
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string", "enum": ERROR_CODES},
                        "message": {"type": "string"},
                        "details": {"type": "array", "items": reference("FieldError")}
                    }
                }}
            }),
        ),
    ]
}

/// Every component schema, by name.
pub fn all() -> Value {
    let map: serde_json::Map<String, Value> = definitions()
        .into_iter()
        .chain(errors())
        .map(|(name, schema)| (name.to_string(), schema))
        .chain(super::flow_schemas::components())
        .chain(super::report_schemas::components())
        .collect();
    Value::Object(map)
}
