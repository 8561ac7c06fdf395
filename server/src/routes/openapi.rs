//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`. `ROUTES` is the one
//! list of endpoints; a test checks the router answers every one of them.

use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, summary, request body schema, success status).
pub const ROUTES: &[(&str, &str, &str, Option<&str>, u16)] = &[
    ("post", "/api/v1/auth/login", "Log in with a user name and password; answers the user and a CSRF token, and sets the session cookie", Some("Login"), 200),
    ("post", "/api/v1/auth/logout", "End the session", None, 204),
    ("get", "/api/v1/me", "The signed-in user, their permissions and the session's CSRF token", None, 200),
    ("get", "/api/v1/entities", "Entity definitions the caller may read or design", None, 200),
    ("post", "/api/v1/entities", "Create an entity from a definition", Some("EntityDefinition"), 201),
    ("get", "/api/v1/entities/{entity}", "One entity definition with its version", None, 200),
    ("put", "/api/v1/entities/{entity}", "Apply a new version of a definition (new fields get columns and a backfill); If-Match or the body's version is the precondition (stale → 409); an unchanged definition keeps its version", Some("EntityDefinition"), 200),
    ("delete", "/api/v1/entities/{entity}", "Remove an entity that holds no records", None, 204),
    ("post", "/api/v1/entities/{entity}/impact", "How many stored records a new definition would invalidate, with examples", Some("EntityDefinition"), 200),
    ("get", "/api/v1/entities/{entity}/schema", "The JSON Schema (2020-12) the definition compiles to", None, 200),
    ("post", "/api/v1/entity-batches", "Install or change several entity definitions in one transaction ({\"entities\": [definition, …]}); ?dry_run=true answers the change plan and its impact without writing", Some("DefinitionBatch"), 200),
    ("get", "/api/v1/records/{entity}", "List records: page, per_page (≤ 1000), sort (-updated_at,name), q, filter (FilterExpr JSON), count, deleted", None, 200),
    ("post", "/api/v1/records/{entity}", "Create a record", Some("DataBody"), 201),
    ("get", "/api/v1/records/{entity}/{id}", "One record; ?unmask=a,b shows sensitive fields plain where allowed (audited)", None, 200),
    ("patch", "/api/v1/records/{entity}/{id}", "Change some fields; needs If-Match with the version read (stale → 409, missing → 428)", Some("DataBody"), 200),
    ("delete", "/api/v1/records/{entity}/{id}", "Soft-delete a record; needs If-Match", None, 204),
    ("post", "/api/v1/records/{entity}/{id}/restore", "Restore a deleted record (409 when a unique value was taken meanwhile)", None, 200),
    ("get", "/api/v1/records/{entity}/{id}/history", "Every version of a record", None, 200),
    ("get", "/api/v1/records/{entity}/{id}/view360", "The record, every record referencing it, and their timeline", None, 200),
    ("put", "/api/v1/records/{entity}/by/{field}/{value}", "Create or update idempotently by a unique, non-sensitive field (If-Match optional)", Some("DataBody"), 200),
    ("post", "/api/v1/records/{entity}/import", "Import CSV or XLSX (raw body); ?dry_run, ?atomic (default true), ?mapping (JSON column → field)", None, 200),
    ("get", "/api/v1/records/{entity}/export", "Export records as ?format=csv|xlsx (masked as the caller sees them)", None, 200),
    ("post", "/api/v1/reports/query", "Run a chart spec: dimensions, measures (count, sum, avg, min, max), filters", Some("ChartSpec"), 200),
    ("get", "/api/v1/users", "List users", None, 200),
    ("post", "/api/v1/users", "Create a user", Some("NewUser"), 201),
    ("get", "/api/v1/users/{id}", "One user", None, 200),
    ("patch", "/api/v1/users/{id}", "Change a user (roles, departments, disabled, password …)", Some("UserUpdate"), 200),
    ("delete", "/api/v1/users/{id}", "Delete a user", None, 204),
    ("get", "/api/v1/roles", "List roles", None, 200),
    ("post", "/api/v1/roles", "Create a role with per-entity permissions and system rights", Some("Role"), 201),
    ("get", "/api/v1/roles/{name}", "One role", None, 200),
    ("put", "/api/v1/roles/{name}", "Replace a role", Some("Role"), 200),
    ("delete", "/api/v1/roles/{name}", "Delete a role", None, 204),
    ("get", "/api/v1/tokens", "The caller's API tokens (never their values)", None, 200),
    ("post", "/api/v1/tokens", "Create an API token for integrations; its value is shown once", Some("NewToken"), 201),
    ("delete", "/api/v1/tokens/{id}", "Revoke an API token", None, 204),
    ("get", "/api/v1/audit", "The audit log, newest first (actor, action, entity, record_id filters)", None, 200),
    ("get", "/healthz", "Liveness", None, 200),
    ("get", "/readyz", "Readiness: the database answers", None, 200),
    ("get", "/api/openapi.json", "This document", None, 200),
];

/// Endpoints that answer without signing in.
pub const PUBLIC: &[&str] = &[
    "/api/v1/auth/login",
    "/healthz",
    "/readyz",
    "/api/openapi.json",
];

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn schemas() -> Value {
    json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
            "code": {"type": "string", "enum": ["bad_request", "unauthenticated", "forbidden", "csrf_failed", "not_found", "version_conflict", "unique_violation", "conflict", "precondition_required", "payload_too_large", "validation_failed", "rate_limited", "internal"]},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}, "line": {"type": "integer", "description": "import only; 1 = header"}}}}}}}},
        "Login": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
        "DataBody": {"type": "object", "required": ["data"], "properties": {"data": {"type": "object"}}},
        "Record": {"type": "object", "required": ["id", "entity", "version", "data", "created_at", "created_by", "updated_at", "updated_by"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "entity": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
            "data": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"}, "created_by": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"}, "updated_by": {"type": "string"}, "deleted_at": {"type": "string", "format": "date-time"}}},
        "Page": {"type": "object", "required": ["items", "page", "per_page"], "properties": {"items": {"type": "array"}, "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
        "EntityDefinition": {"type": "object", "required": ["name", "fields"], "properties": {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9]*(_[a-z0-9]+)*$", "maxLength": 28},
            "label": {"$ref": "#/components/schemas/Label"},
            "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
            "layout": {"type": "array"}, "owner_field": {"type": "string"}, "department_field": {"type": "string"}, "medical_record": {"type": "boolean"},
            "version": {"type": "integer", "minimum": 0, "description": "the version a GET answered: the precondition of a PUT"}}},
        "DefinitionBatch": {"type": "object", "required": ["entities"], "properties": {"entities": {"type": "array", "items": {"$ref": "#/components/schemas/EntityDefinition"}}}},
        "Label": {"type": "object", "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}},
        "Field": {"type": "object", "required": ["name", "type"], "properties": {
            "name": {"type": "string"},
            "type": {"type": "string", "enum": ["text", "textarea", "number", "integer", "money", "boolean", "date", "datetime", "select", "multiselect", "tags", "phone", "email", "id_card", "reference", "references", "user", "attachment", "autonumber", "formula"]},
            "label": {"$ref": "#/components/schemas/Label"}, "required": {"type": "boolean"}, "unique": {"type": "boolean"}, "indexed": {"type": "boolean"},
            "default": {}, "min": {"type": "number"}, "max": {"type": "number"}, "min_length": {"type": "integer"}, "max_length": {"type": "integer"},
            "pattern": {"type": "string"}, "options": {"type": "array"}, "sensitive": {"type": "boolean"}, "visible_if": {"type": "object"}, "readonly_if": {"type": "object"},
            "help": {"$ref": "#/components/schemas/Label"}, "entity": {"type": "string"}, "expr": {"type": "string"},
            "result": {"type": "string", "enum": ["number", "integer", "money", "text", "boolean", "date"]}, "prefix": {"type": "string"}, "digits": {"type": "integer"}, "yearly": {"type": "boolean"}}},
        "ChartSpec": {"type": "object", "required": ["entity", "measures"], "properties": {
            "entity": {"type": "string"}, "chart": {"type": "string"}, "dimensions": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}}}},
            "measures": {"type": "array", "items": {"type": "object", "properties": {"agg": {"type": "string", "enum": ["count", "sum", "avg", "min", "max"]}, "field": {"type": "string"}}}},
            "filters": {"type": "object"}, "sort": {"type": "array"}, "limit": {"type": "integer"}}},
        "NewUser": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string", "minLength": 8}, "display_name": {"type": "string"}, "is_admin": {"type": "boolean"}, "roles": {"type": "array", "items": {"type": "string"}}, "departments": {"type": "array", "items": {"type": "string"}}}},
        "UserUpdate": {"type": "object", "properties": {"display_name": {"type": ["string", "null"]}, "roles": {"type": "array"}, "departments": {"type": "array"}, "disabled": {"type": "boolean"}, "is_admin": {"type": "boolean"}, "password": {"type": "string"}}},
        "Role": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "label": {"$ref": "#/components/schemas/Label"}, "permissions": {"type": "array", "items": {"type": "object", "required": ["entity", "actions"], "properties": {
            "entity": {"type": "string"}, "actions": {"type": "array", "items": {"type": "string", "enum": ["read", "create", "update", "delete", "export", "design"]}},
            "rows": {"type": "string", "enum": ["all", "own", "department"]}, "fields": {"type": "object", "additionalProperties": {"type": "string", "enum": ["hidden", "masked", "read", "write"]}}}}},
            "rights": {"type": "array", "items": {"type": "string", "enum": ["users", "roles", "audit", "packs", "settings", "new_entity"]}}}},
        "NewToken": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}
    })
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, body, status) in ROUTES {
        let mut operation = json!({
            "summary": summary,
            "responses": {
                status.to_string(): {"description": "success"},
                "400": error_response("bad_request"),
                "401": error_response("unauthenticated"),
                "403": error_response("forbidden or csrf_failed"),
                "404": error_response("not_found"),
                "409": error_response("version_conflict, unique_violation or conflict"),
                "413": error_response("payload_too_large"),
                "422": error_response("validation_failed"),
                "428": error_response("precondition_required"),
                "429": error_response("rate_limited")
            }
        });
        if let Some(schema) = body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if !PUBLIC.contains(path) {
            operation["security"] = json!([{"session": [], "csrf": []}, {"bearer": []}]);
        }
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            operation["parameters"] = json!(params);
        }
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[*method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Kangdao 康道 API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Forms, records and access for hospital patient-relationship apps. Errors: {\"error\": {\"code\", \"message\", \"details\"}}."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "kangdao_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "required on cookie-authenticated writes"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token for integrations"}
            }
        }
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
