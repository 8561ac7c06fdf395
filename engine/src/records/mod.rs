//! Records: every write validated and versioned with its history, every read shaped by the
//! reader's rights, and the queries lists and charts compile to.

pub(crate) mod dialect;
pub mod events;
pub(crate) mod field_access;
pub mod filter;
pub mod list_views;
pub mod lookups;
pub mod pinyin;
pub mod projection;
mod read;
pub(crate) mod rows;
pub mod totals;
pub mod transfer;
mod write;

pub use events::{ChangeEvent, ChangeHook, ChangeOp, CommittedChange, HookFuture};
pub use filter::FilterExpr;
pub use read::{Change, ListQuery, Page, SortKey, View360, DEFAULT_PER_PAGE, MAX_PER_PAGE};
pub use totals::{Counting, ListTotal, EXACT_TOTAL_BOUND};
pub use transfer::{ImportColumn, ImportOptions, ImportPreview, ImportReport, ImportRowError};
pub use write::{UniqueKey, UpsertOutcome};

use crate::access::{FieldRule, Principal};
use crate::crypto::Keyring;
use crate::entities::EntityRuntime;
use crate::error::Result;
use crate::masking::mask;
use crate::store::db::sqlite_timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// A record on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: Uuid,
    pub entity: String,
    pub version: i64,
    pub data: Map<String, Value>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

/// RFC 3339 in UTC with microseconds: what the API answers for every timestamp.
pub fn wire_time(t: OffsetDateTime) -> String {
    sqlite_timestamp(t)
}

/// A record as read from its table.
#[derive(Debug, Clone)]
pub(crate) struct StoredRecord {
    pub id: Uuid,
    pub version: i64,
    pub sealed: Map<String, Value>,
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
    pub deleted_at: Option<OffsetDateTime>,
}

/// The document a reader may see: fields of the current definition only, hidden fields left
/// out, sensitive and masked fields masked unless unmasking was asked for and allowed.
pub(crate) fn present_data(
    rt: &EntityRuntime,
    principal: &Principal,
    mut plain: Map<String, Value>,
    unmask: &[String],
) -> Map<String, Value> {
    let entity = rt.name();
    let mut out = Map::new();
    for field in &rt.definition().fields {
        // Moved out, key and value, not copied: a list presents every field of every record.
        let Some((name, value)) = plain.remove_entry(field.name.as_str()) else {
            continue;
        };
        let rule = principal.field_rule(entity, &name);
        if rule == FieldRule::Hidden {
            continue;
        }
        let may_unmask =
            matches!(rule, FieldRule::Read | FieldRule::Write) && unmask.contains(&name);
        let must_mask = rule == FieldRule::Masked || (field.is_sensitive() && !may_unmask);
        let shown = match (must_mask, value) {
            (true, Value::String(s)) => Value::String(mask(field.field_type, &s)),
            (true, Value::Null) => Value::Null,
            (true, other) => Value::String(mask(field.field_type, &other.to_string())),
            (false, v) => v,
        };
        out.insert(name, shown);
    }
    out
}

impl StoredRecord {
    pub(crate) fn present(
        self,
        rt: &EntityRuntime,
        principal: &Principal,
        keys: &Keyring,
        unmask: &[String],
    ) -> Result<Record> {
        let plain = projection::unseal_owned(rt, self.sealed, keys)?;
        Ok(Record {
            id: self.id,
            entity: rt.name().to_string(),
            version: self.version,
            data: present_data(rt, principal, plain, unmask),
            created_at: wire_time(self.created_at),
            created_by: self.created_by,
            updated_at: wire_time(self.updated_at),
            updated_by: self.updated_by,
            deleted_at: self.deleted_at.map(wire_time),
        })
    }
}
