//! Interim audit writer; replaced by the access branch's module.
#![allow(dead_code)]
use crate::clock::Clock;
use crate::error::Result;
use crate::store::{Arg, Conn};
use serde_json::Value;

pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub entity: Option<String>,
    pub record_id: Option<String>,
    pub fields: Vec<String>,
    pub detail: Value,
}

impl AuditEntry {
    pub fn new(actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            actor: actor.into(),
            action: action.into(),
            entity: None,
            record_id: None,
            fields: Vec::new(),
            detail: Value::Object(Default::default()),
        }
    }
    pub fn entity(mut self, e: &str) -> Self {
        self.entity = Some(e.into());
        self
    }
    pub fn record(mut self, id: impl ToString) -> Self {
        self.record_id = Some(id.to_string());
        self
    }
    pub fn fields(mut self, f: Vec<String>) -> Self {
        self.fields = f;
        self
    }
    pub fn detail(mut self, d: Value) -> Self {
        self.detail = d;
        self
    }
}

pub async fn append(conn: &mut Conn<'_>, clock: &dyn Clock, e: AuditEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, entity, record_id, fields, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            clock.now().into(),
            e.actor.into(),
            e.action.into(),
            Arg::Text(e.entity),
            Arg::Text(e.record_id),
            Value::from(e.fields).into(),
            e.detail.into(),
        ],
    )
    .await?;
    Ok(())
}
