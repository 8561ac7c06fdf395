//! From a record's document to its typed projection columns and side-table rows, and the
//! encryption of sensitive values on the way in and out.

use crate::crypto::Keyring;
use crate::entities::{EntityRuntime, FieldStorage, StorageKind};
use crate::error::Result;
use crate::forms::{checks, FieldType};
use crate::store::Arg;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The projection value of one scalar field, typed for its column. Sensitive fields project
/// only their keyed hash.
pub fn scalar_arg(fs: &FieldStorage, plain: Option<&Value>, keys: &Keyring) -> Arg {
    use FieldType as T;
    let value = plain.filter(|v| !v.is_null());
    if fs.sensitive {
        return Arg::Text(value.map(|v| keys.lookup_hash(&fs.field, &text_of(v))));
    }
    match fs.value_type {
        T::Reference => Arg::Uuid(
            value
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
        ),
        T::Number => Arg::Real(value.and_then(Value::as_f64)),
        T::Integer => Arg::Int(value.and_then(as_whole)),
        T::Money => Arg::Int(value.and_then(Value::as_f64).and_then(checks::money_to_fen)),
        T::Boolean => Arg::Bool(value.and_then(Value::as_bool)),
        T::Date => Arg::Date(value.and_then(Value::as_str).and_then(checks::parse_date)),
        T::Datetime => Arg::Time(
            value
                .and_then(Value::as_str)
                .and_then(checks::parse_datetime),
        ),
        _ => Arg::Text(value.map(text_of)),
    }
}

fn as_whole(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
            .map(|f| f as i64)
    })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The side-table values of a multi-valued field.
pub fn side_values(fs: &FieldStorage, plain: Option<&Value>) -> Vec<Arg> {
    let Some(Value::Array(items)) = plain else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .filter_map(|item| item.as_str())
        .filter(|s| seen.insert(*s))
        .filter_map(|s| match fs.value_type {
            FieldType::References => Uuid::parse_str(s).ok().map(|u| Arg::Uuid(Some(u))),
            _ => Some(Arg::Text(Some(s.to_string()))),
        })
        .collect()
}

/// The document as persisted: sensitive values sealed. An unchanged value keeps its old
/// ciphertext, so history does not show a change that did not happen.
pub fn seal(
    rt: &EntityRuntime,
    plain: &Map<String, Value>,
    previous_sealed: Option<&Map<String, Value>>,
    previous_plain: Option<&Map<String, Value>>,
    keys: &Keyring,
) -> Map<String, Value> {
    let mut sealed = plain.clone();
    for fs in rt.storage.values().filter(|fs| fs.sensitive) {
        let Some(value) = plain.get(&fs.field).filter(|v| !v.is_null()) else {
            continue;
        };
        let unchanged = previous_plain.and_then(|p| p.get(&fs.field)) == Some(value);
        let kept = if unchanged {
            previous_sealed.and_then(|p| p.get(&fs.field)).cloned()
        } else {
            None
        };
        let ciphertext = kept.unwrap_or_else(|| Value::String(keys.encrypt(&text_of(value))));
        sealed.insert(fs.field.clone(), ciphertext);
    }
    sealed
}

/// The plaintext document from its persisted form.
pub fn unseal(
    rt: &EntityRuntime,
    sealed: &Map<String, Value>,
    keys: &Keyring,
) -> Result<Map<String, Value>> {
    let mut plain = sealed.clone();
    for fs in rt.storage.values().filter(|fs| fs.sensitive) {
        if let Some(Value::String(s)) = sealed.get(&fs.field) {
            if Keyring::is_ciphertext(s) {
                plain.insert(fs.field.clone(), Value::String(keys.decrypt(s)?));
            }
        }
    }
    Ok(plain)
}

/// Column name and value for every projected scalar field of the current definition.
pub fn column_args(
    rt: &EntityRuntime,
    plain: &Map<String, Value>,
    keys: &Keyring,
) -> Vec<(String, Arg)> {
    rt.columns()
        .filter_map(|fs| match &fs.kind {
            StorageKind::Column(c) => Some((c.clone(), scalar_arg(fs, plain.get(&fs.field), keys))),
            _ => None,
        })
        .collect()
}
