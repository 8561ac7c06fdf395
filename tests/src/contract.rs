//! Every answer a test receives is checked against the OpenAPI document the server publishes:
//! the operation (method + path template) must be documented, its status documented for that
//! operation, and its body valid against that status's schema. Answers to routes the document
//! does not have (unknown paths, unsupported methods) must be errors in the one error format.

use jsonschema::{Draft, Validator};
use kangdao_server::routes::openapi::{document, Operation, ROUTES};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The documented operation `method path` (query string ignored) falls under, if any; where
/// several templates match, the one with the most fixed segments wins, as in the router.
pub fn operation_for(method: &str, path: &str) -> Option<&'static Operation> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter(|op| op.method.eq_ignore_ascii_case(method))
        .filter_map(|op| {
            let template: Vec<&str> = op.path.split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut fixed = 0;
            for (t, s) in template.iter().zip(&segments) {
                if t.starts_with('{') {
                    if s.is_empty() {
                        return None;
                    }
                } else if t == s {
                    fixed += 1;
                } else {
                    return None;
                }
            }
            Some((fixed, op))
        })
        .max_by_key(|(fixed, _)| *fixed)
        .map(|(_, op)| op)
}

fn validator(schema: &Value) -> Arc<Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Validator>>>> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().expect("validator cache").get(&key) {
        return v.clone();
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document()["components"],
        "allOf": [schema],
    });
    let compiled = Arc::new(
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the documented schema {schema} does not compile: {e}")),
    );
    cache
        .lock()
        .expect("validator cache")
        .insert(key, compiled.clone());
    compiled
}

/// Checks `body` against `schema`, naming every problem.
pub fn check_schema(schema: &Value, body: &Value) -> Result<(), String> {
    let validator = validator(schema);
    let problems: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn error_schema() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

/// How strictly an answer is held to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// The status must be documented for the operation and the body match its schema.
    Documented,
    /// A request deliberately outside the document (garbage bytes, wrong content type): any
    /// error status may come back, but still in the one error format; successes are checked
    /// as documented.
    Garbage,
}

/// Checks one answer; `Err` says what is outside the document.
pub fn check_answer(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    strictness: Strictness,
) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let shown: String = text.chars().take(600).collect();
    let parse_json = || -> Result<Value, String> {
        if !content_type.is_some_and(|c| c.starts_with("application/json")) {
            return Err(format!(
                "content type {content_type:?} instead of application/json: {shown}"
            ));
        }
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {shown}"))
    };
    let as_error = || -> Result<(), String> {
        let value = parse_json()?;
        check_schema(&error_schema(), &value)
            .map_err(|e| format!("not in the one error format ({e}): {shown}"))
    };
    let Some(op) = operation_for(method, path) else {
        // The browser app is served at every GET outside the server's own paths.
        let route = path.split(['?', '#']).next().unwrap_or(path);
        if method.eq_ignore_ascii_case("GET") && !kangdao_server::ui::is_server_path(route) {
            return Ok(());
        }
        if status < 400 {
            return Err(format!("{status} from a route the document does not have"));
        }
        return as_error();
    };
    let documented = &document()["paths"][op.path][op.method]["responses"];
    let Some(answer) = documented.get(status.to_string()) else {
        if strictness == Strictness::Garbage && status >= 400 {
            return as_error();
        }
        let statuses: Vec<&String> = documented
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        return Err(format!(
            "status {status} is not documented for {} {} (documented: {statuses:?}); body: {shown}",
            op.method, op.path
        ));
    };
    let Some(content) = answer.get("content").and_then(Value::as_object) else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!("documented without a body, answered: {shown}"))
        };
    };
    if let Some(json_content) = content.get("application/json") {
        let value = parse_json()?;
        return check_schema(&json_content["schema"], &value)
            .map_err(|e| format!("{e}; body: {shown}"));
    }
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if content.contains_key(media) {
        Ok(())
    } else {
        Err(format!(
            "content type {media:?} is not one of {:?}",
            content.keys().collect::<Vec<_>>()
        ))
    }
}
