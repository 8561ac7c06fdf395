//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`: every operation
//! with its parameters, request body and answers (success and errors), precise enough to
//! generate a typed client. [`ROUTES`] in `paths.rs` is the one list of endpoints; a test checks
//! the router answers every one of them, and every HTTP test checks the answers it gets
//! against this document.

mod flow_schemas;
mod paths;
mod report_schemas;
mod schemas;

pub use paths::{Answer, Body, Operation, ROUTES};
pub use schemas::ERROR_CODES;

use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Endpoints that answer without signing in.
pub fn is_public(path: &str) -> bool {
    ROUTES.iter().any(|op| op.path == path && op.public)
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "bad_request: not of the documented shape, or names an unknown entity or field",
        401 => "unauthenticated",
        403 => "forbidden, or csrf_failed (a cookie-authenticated write without X-CSRF-Token)",
        404 => "not_found (also a record outside the caller's row scope)",
        409 => "version_conflict, unique_violation or conflict",
        413 => "payload_too_large",
        414 => "uri_too_long",
        422 => "validation_failed: details name each field (and line, for imports)",
        428 => "precondition_required: If-Match is missing",
        429 => "rate_limited; Retry-After says when to try again",
        431 => "headers_too_large",
        500 => "internal: logged with a request id, no detail shown",
        _ => "error",
    }
}

fn json_content(schema: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}})
}

fn success(op: &Operation) -> Value {
    match op.answer {
        Answer::Empty => json!({"description": "done"}),
        Answer::Json(schema) => json!({"description": "success", "content": json_content(schema)}),
        Answer::Record => json!({
            "description": "the record",
            "headers": {"ETag": {"description": "the record's version, for If-Match", "schema": {"type": "string"}}},
            "content": json_content("Record")
        }),
        Answer::Table => json!({
            "description": "the file",
            "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}
            }
        }),
        Answer::Metrics => json!({
            "description": "the metrics, in the Prometheus text format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}}
        }),
    }
}

fn operation(op: &Operation) -> Value {
    let mut responses = Map::new();
    responses.insert(op.status.to_string(), success(op));
    for status in op.error_statuses() {
        let answer = if status < 400 {
            success(op)
        } else if status == 503 {
            json!({"description": "the database does not answer", "content": json_content("Health")})
        } else {
            let mut answer =
                json!({"description": error_description(status), "content": json_content("Error")});
            if status == 429 {
                answer["headers"] = json!({"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}});
            }
            answer
        };
        responses.insert(status.to_string(), answer);
    }
    let mut out = json!({
        "operationId": operation_id(op),
        "summary": op.summary,
        "responses": responses,
    });
    let mut parameters: Vec<Value> = op.path_parameters().map(paths::path_parameter).collect();
    parameters.extend(
        op.query
            .iter()
            .map(|name| paths::query_parameter(op.path, name)),
    );
    if matches!(op.method, "patch" | "delete") && op.path.starts_with("/api/v1/records/") {
        parameters.push(json!({"name": "If-Match", "in": "header", "required": false,
            "description": "the record's version as read (its ETag); required: without it the answer is 428",
            "schema": {"type": "string"}}));
    }
    if op.path == "/api/v1/records/{entity}/by/{field}/{value}" {
        parameters.push(json!({"name": "If-Match", "in": "header", "required": false,
            "description": "optional: the version the update expects", "schema": {"type": "string"}}));
    }
    if op.path == "/api/v1/hooks/{flow}" {
        parameters.push(json!({"name": "X-Kangdao-Signature", "in": "header", "required": true,
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>; t must be within the trigger's window_seconds (default 300) of the server's clock",
            "schema": {"type": "string", "examples": ["t=1764032523,v1=5d41402abc4b2a76b9719d911017c592b3c0e9d5a2a4c4b9f1e5c3c1f0e9d8a7"]}}));
        parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "the sender's key for this delivery (at most 200 characters): sent again, it answers the first run's id and starts nothing",
            "schema": {"type": "string", "maxLength": 200}}));
    }
    if !parameters.is_empty() {
        out["parameters"] = json!(parameters);
    }
    match op.body {
        Body::None => {}
        Body::Json(schema) => {
            out["requestBody"] = json!({"required": true, "content": json_content(schema)});
        }
        Body::Table => {
            out["requestBody"] = json!({"required": true, "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}
            }});
        }
    }
    out["security"] = if op.public {
        json!([])
    } else {
        json!([{"session": [], "csrf": []}, {"bearer": []}])
    };
    out
}

/// `get /api/v1/records/{entity}/{id}` → `get_records_entity_id`.
fn operation_id(op: &Operation) -> String {
    let mut id = op.method.to_string();
    for part in op
        .path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "api" && *p != "v1")
    {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .map(|c| c.to_ascii_lowercase()),
        );
    }
    id
}

fn build() -> Value {
    let mut paths = Map::new();
    for op in ROUTES {
        let item = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        item[op.method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Kangdao 康道 API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Forms, records and access for hospital patient-relationship apps. Every error answers {\"error\": {\"code\", \"message\", \"details\"}}; lists answer {\"items\", \"total\", \"page\", \"per_page\"}, where a record list past its counting bound answers \"total_estimate\" instead of \"total\" (see RecordPage)."},
        "paths": paths,
        "components": {
            "schemas": schemas::all(),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "kangdao_session", "description": "set by POST /api/v1/auth/login"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "required on cookie-authenticated writes; GET /api/v1/me answers it"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token for integrations (kd_…)"}
            }
        }
    })
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

pub async fn serve() -> Json<Value> {
    Json(document().clone())
}
