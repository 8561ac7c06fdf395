//! From a record's document to its typed projection columns and side-table rows, and the
//! encryption of sensitive values on the way in and out.

use super::pinyin;
use crate::crypto::Keyring;
use crate::entities::storage::q;
use crate::entities::{EntityRuntime, FieldStorage, StorageKind};
use crate::error::Result;
use crate::forms::{checks, FieldType};
use crate::store::{Arg, Conn};
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
        // The id column; the entity goes to its own column (`ProjectionWriter`).
        T::Subject => Arg::Uuid(
            value
                .and_then(|v| v.get("id"))
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
    unseal_owned(rt, sealed.clone(), keys)
}

/// [`unseal`] of a document the caller no longer needs sealed: decrypted in place, no copy.
pub fn unseal_owned(
    rt: &EntityRuntime,
    mut document: Map<String, Value>,
    keys: &Keyring,
) -> Result<Map<String, Value>> {
    for fs in rt.storage.values().filter(|fs| fs.sensitive) {
        if let Some(Value::String(s)) = document.get_mut(&fs.field) {
            if Keyring::is_ciphertext(s) {
                *s = keys.decrypt(s)?;
            }
        }
    }
    Ok(document)
}

/// The one writer of projection columns (a text field's pinyin sort key and initials among
/// them) and side-table rows: inserts, updates, imports, bulk creates and backfills all take
/// their projected values from here, so a field is projected the same way whichever path
/// wrote it.
pub struct ProjectionWriter<'a> {
    rt: &'a EntityRuntime,
    keys: &'a Keyring,
    fields: Vec<&'a FieldStorage>,
}

impl<'a> ProjectionWriter<'a> {
    /// Every projected field of the current definition (inserts and updates).
    pub fn new(rt: &'a EntityRuntime, keys: &'a Keyring) -> Self {
        ProjectionWriter {
            rt,
            keys,
            fields: rt.columns().chain(rt.side_tables()).collect(),
        }
    }

    /// Only the given fields (a backfill of fields just added or brought back).
    pub fn only(rt: &'a EntityRuntime, keys: &'a Keyring, fields: &'a [FieldStorage]) -> Self {
        ProjectionWriter {
            rt,
            keys,
            fields: fields
                .iter()
                .filter(|fs| !matches!(fs.kind, StorageKind::DocumentOnly))
                .collect(),
        }
    }

    /// The projection columns this writer fills, in a fixed order: each field's column, then
    /// its pinyin sort key and initials where it has them.
    pub fn columns(&self) -> impl Iterator<Item = String> + '_ {
        self.fields.iter().flat_map(|fs| fs.projection_columns())
    }

    /// Column values for one document, in the order of [`Self::columns`].
    pub fn column_values(&self, plain: &Map<String, Value>) -> Vec<Arg> {
        let mut values = Vec::with_capacity(self.fields.len());
        for fs in self.fields.iter().filter(|fs| fs.column().is_some()) {
            let value = plain.get(&fs.field);
            values.push(scalar_arg(fs, value, self.keys));
            if fs.value_type == FieldType::Subject {
                let entity = value.and_then(|v| v.get("entity")).and_then(Value::as_str);
                values.push(Arg::Text(entity.map(str::to_string)));
            }
            if fs.pinyin.is_some() {
                let text = value.filter(|v| !v.is_null()).map(text_of);
                values.push(Arg::Text(text.as_deref().map(pinyin::sort_key)));
                values.push(Arg::Text(text.as_deref().and_then(pinyin::initials)));
            }
        }
        values
    }

    /// Side tables and their values for one document.
    pub fn side_rows(&self, plain: &Map<String, Value>) -> Vec<(&'a str, Vec<Arg>)> {
        self.fields
            .iter()
            .filter_map(|fs| match &fs.kind {
                StorageKind::SideTable(side) => {
                    Some((side.as_str(), side_values(fs, plain.get(&fs.field))))
                }
                _ => None,
            })
            .collect()
    }

    /// Replaces a stored record's side-table rows with those of `plain`; with `previous` (the
    /// stored document), only those of the fields whose value changed.
    pub async fn replace_side_rows(
        &self,
        conn: &mut Conn<'_>,
        id: Uuid,
        plain: &Map<String, Value>,
        previous: Option<&Map<String, Value>>,
    ) -> Result<()> {
        for fs in &self.fields {
            let StorageKind::SideTable(side) = &fs.kind else {
                continue;
            };
            if previous.is_some_and(|p| p.get(&fs.field) == plain.get(&fs.field)) {
                continue;
            }
            let values = side_values(fs, plain.get(&fs.field));
            let side = side.as_str();
            conn.execute(
                &format!("DELETE FROM {} WHERE record_id = $1", q(side)),
                vec![id.into()],
            )
            .await?;
            for value in values {
                conn.execute(
                    &format!("INSERT INTO {} (record_id, value) VALUES ($1, $2)", q(side)),
                    vec![id.into(), value],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Rewrites a stored record's projection (columns and side tables) from its document,
    /// leaving the document, version and history alone: what a backfill does per record.
    pub async fn rewrite(
        &self,
        conn: &mut Conn<'_>,
        id: Uuid,
        plain: &Map<String, Value>,
    ) -> Result<()> {
        let columns: Vec<String> = self.columns().collect();
        if !columns.is_empty() {
            let mut args = self.column_values(plain);
            let sets: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} = ${}", q(c), i + 1))
                .collect();
            args.push(id.into());
            conn.execute(
                &format!(
                    "UPDATE {} SET {} WHERE \"id\" = ${}",
                    q(&self.rt.table),
                    sets.join(", "),
                    args.len()
                ),
                args,
            )
            .await?;
        }
        self.replace_side_rows(conn, id, plain, None).await
    }
}
