//! The audit log: append-only entries naming actors, actions, records and fields — never
//! values. The HMAC chain (`prev_mac`, `mac`) is laid on by a later change; entries written
//! here leave both NULL.

use crate::access::paging::limit_offset;
use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::store::{Arg, Conn, Db, DbRow, Together};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// One thing to record. `fields` names the fields touched; `detail` carries context (never a
/// field's value, never a password).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub entity: Option<String>,
    pub record_id: Option<String>,
    pub fields: Vec<String>,
    pub detail: Value,
}

impl AuditEntry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> AuditEntry {
        AuditEntry {
            actor: actor.into(),
            action: action.into(),
            entity: None,
            record_id: None,
            fields: Vec::new(),
            detail: Value::Object(Default::default()),
        }
    }

    pub fn record(mut self, entity: impl Into<String>, record_id: impl Into<String>) -> Self {
        self.entity = Some(entity.into());
        self.record_id = Some(record_id.into());
        self
    }

    /// Names the entity without a record (definition changes, exports).
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.entity = Some(entity.into());
        self
    }

    pub fn fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub entity: Option<String>,
    pub record_id: Option<String>,
    pub fields: Vec<String>,
    pub detail: Value,
}

/// Which entries to list; every given part must match exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub record_id: Option<String>,
}

/// Appends `entry` on `conn` — a transaction's connection, so the entry commits or rolls back
/// with the change it describes, or a pooled one. Returns the entry's id.
pub async fn append(conn: &mut Conn<'_>, clock: &dyn Clock, entry: &AuditEntry) -> Result<i64> {
    let args = insert_args(clock, entry)?;
    let row = conn
        .fetch_one(&format!("{INSERT} RETURNING id"), args)
        .await?;
    row.req_int("id")
}

const INSERT: &str =
    "INSERT INTO audit_log (at, actor, action, entity, record_id, fields, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Adds `entry` to statements that run together (a record write's trail).
pub fn push(together: &mut Together, clock: &dyn Clock, entry: &AuditEntry) -> Result<()> {
    together.push(INSERT, insert_args(clock, entry)?);
    Ok(())
}

fn insert_args(clock: &dyn Clock, entry: &AuditEntry) -> Result<Vec<Arg>> {
    if entry.actor.is_empty() || entry.action.is_empty() {
        return Err(EngineError::internal(
            "an audit entry needs an actor and an action",
        ));
    }
    Ok(vec![
        clock.now().into(),
        entry.actor.clone().into(),
        entry.action.clone().into(),
        entry.entity.clone().into(),
        entry.record_id.clone().into(),
        Arg::Json(Some(serde_json::json!(entry.fields))),
        Arg::Json(Some(entry.detail.clone())),
    ])
}

fn record_from_row(row: &DbRow) -> Result<AuditRecord> {
    let fields = serde_json::from_value(row.json("fields")?.unwrap_or(Value::Array(vec![])))
        .map_err(|e| EngineError::internal(format!("bad stored audit fields: {e}")))?;
    Ok(AuditRecord {
        id: row.req_int("id")?,
        at: row.req_time("at")?,
        actor: row.req_text("actor")?,
        action: row.req_text("action")?,
        entity: row.text("entity")?,
        record_id: row.text("record_id")?,
        fields,
        detail: row.json("detail")?.unwrap_or(Value::Null),
    })
}

/// Entries matching `filter`, newest first, with the number of all matching entries.
pub async fn list(
    db: &Db,
    filter: &AuditFilter,
    page: u32,
    per_page: u32,
) -> Result<(Vec<AuditRecord>, i64)> {
    // Column names are fixed here; only the values are bound.
    let mut conditions = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    for (column, value) in [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("entity", &filter.entity),
        ("record_id", &filter.record_id),
    ] {
        if let Some(value) = value {
            args.push(value.clone().into());
            conditions.push(format!("{column} = ${}", args.len()));
        }
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let total = db
        .fetch_one(
            &format!("SELECT COUNT(*) AS n FROM audit_log{where_clause}"),
            args.clone(),
        )
        .await?
        .req_int("n")?;
    let (limit, offset) = limit_offset(page, per_page);
    let n = args.len();
    args.push(limit.into());
    args.push(offset.into());
    let rows = db
        .fetch_all(
            &format!(
                "SELECT id, at, actor, action, entity, record_id, fields, detail FROM audit_log{where_clause} \
                 ORDER BY id DESC LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            args,
        )
        .await?;
    let items = rows
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok((items, total))
}
