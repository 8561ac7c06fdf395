//! JSON values as expressions see them, and back.

use rhai::{Dynamic, Map, FLOAT, INT};
use serde_json::{Number, Value};

/// A JSON value as an expression sees it: null is `()`, numbers stay integers when whole.
pub fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Dynamic::from_int(i)
            } else {
                Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN))
            }
        }
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(m) => {
            let map: Map = m
                .iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect();
            Dynamic::from_map(map)
        }
    }
}

/// An expression's value as JSON: `()` is null; a value JSON cannot hold (a duration, a
/// non-finite number) is `None`.
pub fn dynamic_to_json(d: &Dynamic) -> Option<Value> {
    if d.is_unit() {
        return Some(Value::Null);
    }
    if let Ok(b) = d.as_bool() {
        return Some(Value::Bool(b));
    }
    if let Ok(i) = d.as_int() {
        return Some(Value::from(i as INT));
    }
    if let Ok(x) = d.as_float() {
        return Number::from_f64(x).map(Value::Number);
    }
    if let Some(x) = d.clone().try_cast::<rust_decimal::Decimal>() {
        return super::decimal_to_json(x);
    }
    if let Some(s) = d.read_lock::<rhai::ImmutableString>() {
        return Some(Value::String(s.to_string()));
    }
    if let Some(items) = d.read_lock::<rhai::Array>() {
        return items
            .iter()
            .map(dynamic_to_json)
            .collect::<Option<Vec<_>>>()
            .map(Value::Array);
    }
    if let Some(map) = d.read_lock::<Map>() {
        return map
            .iter()
            .map(|(k, v)| dynamic_to_json(v).map(|v| (k.to_string(), v)))
            .collect::<Option<serde_json::Map<_, _>>>()
            .map(Value::Object);
    }
    None
}
