//! What a step's expressions and templates see: `record` (the trigger's record as it stands
//! now, with the references the node follows loaded once), `old`, `steps`, and the clock.

use super::compiled::{node_exprs, node_templates};
use super::definition::Node;
use super::templates;
use crate::engine::Engine;
use crate::entities::EntityRuntime;
use crate::error::Result;
use crate::expr::{json_to_dynamic, Root, TimeContext};
use crate::forms::FieldType;
use crate::records::{projection, rows};
use crate::store::{Arg, Conn};
use rhai::{Dynamic, Map as RhaiMap};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A record loaded for a step, in plain (sensitive fields opened: the flow acts on them).
#[derive(Clone)]
pub(crate) struct Loaded {
    pub rt: Arc<EntityRuntime>,
    pub id: Uuid,
    pub version: i64,
    pub plain: Map<String, Value>,
    /// The stored row when it was read under the step's row lock: a write by this step can
    /// start from it instead of reading the row again.
    pub locked: Option<crate::records::StoredRecord>,
}

impl Loaded {
    pub async fn load(
        engine: &Engine,
        conn: &mut Conn<'_>,
        rt: Arc<EntityRuntime>,
        id: Uuid,
        lock: bool,
    ) -> Result<Option<Loaded>> {
        let Some(stored) = rows::load(conn, &rt, id, lock).await? else {
            return Ok(None);
        };
        if stored.deleted_at.is_some() {
            return Ok(None);
        }
        let locked = lock.then(|| stored.clone());
        let plain = projection::unseal_owned(&rt, stored.sealed, &engine.keys)?;
        Ok(Some(Loaded {
            rt,
            id,
            version: stored.version,
            plain,
            locked,
        }))
    }

    /// The record's fields as JSON with its `id`, for templates and filters.
    pub fn json(&self) -> Map<String, Value> {
        let mut m = self.plain.clone();
        m.insert("id".into(), Value::String(self.id.to_string()));
        m.insert("version".into(), Value::from(self.version));
        m
    }

    /// The record as an expression sees it: money as exact yuan, a reference as `#{id}` unless
    /// `followed` holds its record.
    pub fn dynamic(&self, followed: &HashMap<String, Loaded>) -> Dynamic {
        let mut map = RhaiMap::new();
        for f in &self.rt.definition().fields {
            let name = f.name.as_str();
            let value = self.plain.get(name).unwrap_or(&Value::Null);
            let d = match f.value_type() {
                FieldType::Money => crate::expr::money_to_dynamic(value),
                FieldType::Reference => match (followed.get(name), value.as_str()) {
                    (Some(r), _) => r.dynamic(&HashMap::new()),
                    (None, Some(id)) => {
                        let mut m = RhaiMap::new();
                        m.insert("id".into(), Dynamic::from(id.to_string()));
                        Dynamic::from_map(m)
                    }
                    (None, None) => Dynamic::UNIT,
                },
                _ => json_to_dynamic(value),
            };
            map.insert(name.into(), d);
        }
        map.insert("id".into(), Dynamic::from(self.id.to_string()));
        Dynamic::from_map(map)
    }
}

/// The reference fields a node's expressions and templates follow (`record.<ref>.x`).
pub(crate) fn followed_references(node: &Node) -> Vec<String> {
    let mut reads: Vec<crate::expr::Read> = node_exprs(&node.kind)
        .into_iter()
        .flat_map(|(_, s)| crate::expr::reads(s))
        .collect();
    for (_, t) in node_templates(&node.kind) {
        reads.extend(templates::reads(t));
    }
    let mut out: Vec<String> = Vec::new();
    for r in reads {
        if r.root == Root::Record && r.then.is_some() && !out.contains(&r.name) {
            out.push(r.name);
        }
    }
    out
}

/// Everything one step evaluates against.
pub(crate) struct Scope {
    pub record: Option<Loaded>,
    pub followed: HashMap<String, Loaded>,
    pub old: Option<Map<String, Value>>,
    pub steps: Map<String, Value>,
    /// The request body of a run started by a `webhook` trigger.
    pub body: Option<Value>,
    pub time: TimeContext,
}

impl Scope {
    pub fn variables(&self) -> Vec<(&'static str, Dynamic)> {
        let mut vars = Vec::with_capacity(4);
        vars.push((
            "record",
            self.record.as_ref().map_or_else(
                || Dynamic::from_map(RhaiMap::new()),
                |r| r.dynamic(&self.followed),
            ),
        ));
        if let Some(old) = &self.old {
            vars.push(("old", json_to_dynamic(&Value::Object(old.clone()))));
        }
        vars.push(("steps", json_to_dynamic(&Value::Object(self.steps.clone()))));
        if let Some(body) = &self.body {
            vars.push(("body", json_to_dynamic(body)));
        }
        vars
    }

    /// The data templates render over.
    pub fn template_data(&self) -> Value {
        let mut record = self.record.as_ref().map(Loaded::json).unwrap_or_default();
        for (name, r) in &self.followed {
            record.insert(name.clone(), Value::Object(r.json()));
        }
        serde_json::json!({
            "record": record,
            "old": self.old.clone().unwrap_or_default(),
            "steps": self.steps,
            "body": self.body.clone().unwrap_or_default(),
            "now": crate::forms::checks::format_datetime_utc(self.time.now),
        })
    }
}

/// The record as it was before version `version` (`old` under `record_updated`), from history.
pub(crate) async fn previous_version(
    engine: &Engine,
    conn: &mut Conn<'_>,
    rt: &EntityRuntime,
    id: Uuid,
    version: i64,
) -> Result<Option<Map<String, Value>>> {
    let row = conn
        .fetch_optional(
            "SELECT data FROM record_changes WHERE entity = $1 AND record_id = $2 AND version = $3",
            vec![Arg::from(rt.name()), Arg::from(id), Arg::from(version - 1)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    match row.req_json("data")? {
        Value::Object(sealed) => Ok(Some(projection::unseal_owned(rt, sealed, &engine.keys)?)),
        _ => Ok(None),
    }
}
