//! Runs and their steps as stored, and as a reader sees them. A step's input and output keep,
//! beside their values, which field each value came from or went to (`$fields`), so a reader
//! sees it as their field rules show that field; a value of a sensitive field is stored as
//! ciphertext.

use crate::access::{Action, FieldRule, Principal};
use crate::crypto::Keyring;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::masking::mask;
use crate::store::{Arg, Conn, DbRow};
use serde::Serialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// What `$fields` ties a sealed value to: no field, so no field rule can show it; every reader
/// sees `***`.
const SEALED: &str = "$sealed";

/// Run statuses that are final.
pub const FINISHED: &[&str] = &["succeeded", "failed", "cancelled"];

/// A step's values with the field each is tied to, built by the nodes.
#[derive(Debug, Clone, Default)]
pub struct Traced {
    pub values: Map<String, Value>,
    /// Path in `values` (dotted) → `entity.field`.
    pub fields: Map<String, Value>,
}

impl Traced {
    pub fn plain(mut self, key: &str, value: Value) -> Traced {
        self.values.insert(key.to_string(), value);
        self
    }

    /// A value tied to a field: stored as ciphertext when the field is sensitive.
    pub fn tied(
        mut self,
        path: &str,
        value: Value,
        entity: &str,
        field: &str,
        sensitive: bool,
        keys: &Keyring,
    ) -> Traced {
        let stored = match (&value, sensitive) {
            (Value::String(s), true) => Value::String(keys.encrypt(s)),
            (Value::Null, _) | (_, false) => value,
            (other, true) => Value::String(keys.encrypt(&other.to_string())),
        };
        insert_path(&mut self.values, path, stored);
        self.fields
            .insert(path.to_string(), Value::String(format!("{entity}.{field}")));
        self
    }

    /// A plain value at a dotted path (`body.mrn`).
    pub fn plain_at(mut self, path: &str, value: Value) -> Traced {
        insert_path(&mut self.values, path, value);
        self
    }

    /// A value that may hold a sensitive one without being any one field's (a webhook body
    /// reading patient fields, an answer from another system): stored as ciphertext, shown to
    /// every reader as `***`. Steps of the same run read it opened (`opened`).
    pub fn sealed(mut self, path: &str, value: &Value, keys: &Keyring) -> Traced {
        if value.is_null() {
            insert_path(&mut self.values, path, Value::Null);
            return self;
        }
        insert_path(
            &mut self.values,
            path,
            Value::String(keys.encrypt(&value.to_string())),
        );
        self.fields
            .insert(path.to_string(), Value::String(SEALED.into()));
        self
    }

    pub fn into_stored(mut self) -> Value {
        if !self.fields.is_empty() {
            self.values
                .insert("$fields".into(), Value::Object(self.fields));
        }
        Value::Object(self.values)
    }
}

fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = map
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = child {
                insert_path(m, rest, value);
            }
        }
    }
}

fn take_path<'a>(map: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    match path.split_once('.') {
        None => map.get_mut(path),
        Some((head, rest)) => match map.get_mut(head) {
            Some(Value::Object(m)) => take_path(m, rest),
            _ => None,
        },
    }
}

fn remove_path(map: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            map.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Value::Object(m)) = map.get_mut(head) {
                remove_path(m, rest);
            }
        }
    }
}

/// A stored input or output as `principal` may see it: hidden fields left out, masked and
/// sensitive ones masked, ciphertext opened only to be shown as the reader's rule allows.
pub(crate) fn present(engine: &Engine, principal: &Principal, stored: Option<Value>) -> Value {
    let Some(Value::Object(mut values)) = stored else {
        return Value::Null;
    };
    let fields = match values.remove("$fields") {
        Some(Value::Object(f)) => f,
        _ => Map::new(),
    };
    for (path, tied) in fields {
        if tied.as_str() == Some(SEALED) {
            if let Some(slot) = take_path(&mut values, &path) {
                *slot = Value::String("***".into());
            }
            continue;
        }
        let Some((entity, field)) = tied.as_str().and_then(|t| t.split_once('.')) else {
            remove_path(&mut values, &path);
            continue;
        };
        let def = engine
            .catalog
            .cached(entity)
            .and_then(|rt| rt.definition().field(field).cloned());
        let sensitive = def
            .as_ref()
            .is_some_and(crate::forms::FieldDef::is_sensitive);
        let rule = if principal.can(entity, Action::Read) {
            principal.field_rule(entity, field)
        } else {
            FieldRule::Hidden
        };
        if rule == FieldRule::Hidden {
            remove_path(&mut values, &path);
            continue;
        }
        let Some(slot) = take_path(&mut values, &path) else {
            continue;
        };
        let plain = match &*slot {
            Value::String(s) if Keyring::is_ciphertext(s) => match engine.keys.decrypt(s) {
                Ok(p) => Value::String(p),
                Err(_) => Value::String("***".into()),
            },
            other => other.clone(),
        };
        *slot = if rule == FieldRule::Masked || sensitive {
            match (&plain, &def) {
                (Value::Null, _) => Value::Null,
                (Value::String(s), Some(d)) => Value::String(mask(d.field_type, s)),
                (other, Some(d)) => Value::String(mask(d.field_type, &other.to_string())),
                (_, None) => Value::String("***".into()),
            }
        } else {
            plain
        };
    }
    Value::Object(values)
}

/// A stored output as later steps of the same run read it (`steps.<id>`): the flow acts on
/// plain values, so ciphertext is opened (a sealed value back to the JSON it was).
pub(crate) fn opened(stored: Value, keys: &Keyring) -> Value {
    let Value::Object(mut values) = stored else {
        return stored;
    };
    let fields = match values.remove("$fields") {
        Some(Value::Object(f)) => f,
        _ => Map::new(),
    };
    for (path, tied) in fields {
        let Some(slot) = take_path(&mut values, &path) else {
            continue;
        };
        let Value::String(s) = &*slot else { continue };
        if !Keyring::is_ciphertext(s) {
            continue;
        }
        let Ok(plain) = keys.decrypt(s) else { continue };
        *slot = if tied.as_str() == Some(SEALED) {
            serde_json::from_str(&plain).unwrap_or(Value::String(plain))
        } else {
            Value::String(plain)
        };
    }
    Value::Object(values)
}

/// A run as `GET /runs/{id}` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: Uuid,
    pub flow: String,
    pub flow_version: i64,
    pub status: String,
    pub depth: i64,
    pub trigger: Value,
    /// Who started the run: the actor of the triggering write, or the caller of a manual run.
    pub started_by: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub error: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepInfo>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepInfo {
    pub node: String,
    #[serde(rename = "type")]
    pub node_type: String,
    pub status: String,
    pub attempts: i64,
    pub input: Value,
    pub output: Value,
    pub error: Value,
    pub started_at: String,
    pub finished_at: Option<String>,
}

pub(crate) const RUN_COLUMNS: &str =
    "id, flow, flow_version, status, depth, trigger_info, entity, record_id, started_by, error, created_at, finished_at";

fn run_from_row(row: &DbRow) -> Result<RunInfo> {
    Ok(RunInfo {
        id: row.req_uuid("id")?,
        flow: row.req_text("flow")?,
        flow_version: row.req_int("flow_version")?,
        status: row.req_text("status")?,
        depth: row.req_int("depth")?,
        trigger: row.req_json("trigger_info")?,
        started_by: row.text("started_by")?,
        created_at: crate::records::wire_time(row.req_time("created_at")?),
        finished_at: row.time("finished_at")?.map(crate::records::wire_time),
        error: row.json("error")?.unwrap_or(Value::Null),
        steps: None,
    })
}

/// Query of a flow's runs.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub status: Option<String>,
    pub record_id: Option<Uuid>,
    pub page: u64,
    pub per_page: u64,
}

impl Engine {
    /// The flow's trigger entity must be designable by the reader, as for reading the flow.
    async fn require_run_reader(&self, principal: &Principal, flow: &str) -> Result<()> {
        let row = self
            .db
            .fetch_optional(
                "SELECT definition FROM flows WHERE name = $1",
                vec![Arg::from(flow)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("flow"))?;
        let def = row.req_json("definition")?;
        match def.pointer("/trigger/entity").and_then(Value::as_str) {
            Some(entity) if principal.can(entity, Action::Design) => Ok(()),
            None if principal.is_admin => Ok(()),
            _ => Err(EngineError::not_found("flow")),
        }
    }

    pub async fn list_runs(
        &self,
        principal: &Principal,
        flow: &str,
        query: &RunQuery,
    ) -> Result<(Vec<RunInfo>, u64)> {
        self.require_run_reader(principal, flow).await?;
        let mut conditions = vec!["flow = $1".to_string()];
        let mut args = vec![Arg::from(flow)];
        if let Some(status) = &query.status {
            args.push(Arg::from(status.as_str()));
            conditions.push(format!("status = ${}", args.len()));
        }
        if let Some(record) = query.record_id {
            args.push(Arg::from(record));
            conditions.push(format!("record_id = ${}", args.len()));
        }
        let filter = conditions.join(" AND ");
        let total = self
            .db
            .fetch_one(
                &format!("SELECT COUNT(*) AS n FROM flow_runs WHERE {filter}"),
                args.clone(),
            )
            .await?
            .req_int("n")? as u64;
        let per_page = query.per_page.clamp(1, 200);
        let offset = query.page.saturating_sub(1) * per_page;
        let rows = self
            .db
            .fetch_all(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM flow_runs WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT {per_page} OFFSET {offset}"
                ),
                args,
            )
            .await?;
        let runs = rows.iter().map(run_from_row).collect::<Result<Vec<_>>>()?;
        Ok((runs, total))
    }

    pub async fn get_run(&self, principal: &Principal, id: Uuid) -> Result<RunInfo> {
        let row = self
            .db
            .fetch_optional(
                &format!("SELECT {RUN_COLUMNS} FROM flow_runs WHERE id = $1"),
                vec![Arg::from(id)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("run"))?;
        let mut run = run_from_row(&row)?;
        self.require_run_reader(principal, &run.flow).await?;
        let steps = self
            .db
            .fetch_all(
                "SELECT node, node_type, status, attempts, input, output, error, started_at, finished_at \
                 FROM flow_steps WHERE run_id = $1 ORDER BY seq",
                vec![Arg::from(id)],
            )
            .await?;
        let mut out = Vec::new();
        for s in &steps {
            out.push(StepInfo {
                node: s.req_text("node")?,
                node_type: s.req_text("node_type")?,
                status: s.req_text("status")?,
                attempts: s.req_int("attempts")?,
                input: present(self, principal, s.json("input")?),
                output: present(self, principal, s.json("output")?),
                error: s.json("error")?.unwrap_or(Value::Null),
                started_at: crate::records::wire_time(s.req_time("started_at")?),
                finished_at: s.time("finished_at")?.map(crate::records::wire_time),
            });
        }
        run.steps = Some(out);
        Ok(run)
    }

    /// Cancels a run that has not finished: its pending jobs stop.
    pub async fn cancel_run(&self, principal: &Principal, id: Uuid) -> Result<RunInfo> {
        let run = self.get_run(principal, id).await?;
        self.require_run_writer(principal, &run.flow).await?;
        if FINISHED.contains(&run.status.as_str()) {
            return Err(EngineError::Conflict(format!(
                "运行已结束（{}） / the run has finished ({})",
                run.status, run.status
            )));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        self.cancel_in(&mut conn, id, now).await?;
        crate::access::audit::append(
            &mut conn,
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new(&principal.actor, "run.cancel")
                .detail(json!({"flow": run.flow, "run": id})),
        )
        .await?;
        tx.commit().await?;
        self.get_run(principal, id).await
    }

    /// Cancels one run in the caller's transaction: its unfinished jobs (a running step then
    /// commits nothing), its waits with their open approval tasks, and the run itself.
    pub(crate) async fn cancel_in(
        &self,
        conn: &mut Conn<'_>,
        run: Uuid,
        now: OffsetDateTime,
    ) -> Result<()> {
        crate::jobs::cancel_for_run(conn, run, now).await?;
        self.drop_waits(conn, run, now).await?;
        conn.execute(
            "UPDATE flow_runs SET status = 'cancelled', finished_at = $2, updated_at = $2 WHERE id = $1 AND finished_at IS NULL",
            vec![Arg::from(run), Arg::from(now)],
        )
        .await?;
        Ok(())
    }

    /// Cancels a flow's unfinished runs (the flow was deleted), each as a run cancel does.
    pub(crate) async fn cancel_unfinished_runs(
        &self,
        conn: &mut Conn<'_>,
        flow: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let runs = conn
            .fetch_all(
                "SELECT id FROM flow_runs WHERE flow = $1 AND finished_at IS NULL",
                vec![Arg::from(flow)],
            )
            .await?;
        for row in &runs {
            self.cancel_in(conn, row.req_uuid("id")?, now).await?;
        }
        Ok(())
    }

    /// Retries a failed run: its failed step is made ready again, with the same idempotency key.
    pub async fn retry_run(&self, principal: &Principal, id: Uuid) -> Result<RunInfo> {
        let run = self.get_run(principal, id).await?;
        self.require_run_writer(principal, &run.flow).await?;
        if run.status != "failed" {
            return Err(EngineError::Conflict(format!(
                "只有失败的运行可以重试（当前 {}） / only a failed run can be retried (it is {})",
                run.status, run.status
            )));
        }
        let failed: Vec<String> = run
            .steps
            .iter()
            .flatten()
            .filter(|s| s.status == "failed")
            .map(|s| s.node.clone())
            .collect();
        if failed.is_empty() {
            return Err(EngineError::Conflict(
                "没有可重试的步骤 / no step to retry".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        for node in &failed {
            conn.execute(
                "DELETE FROM flow_steps WHERE run_id = $1 AND node = $2",
                vec![Arg::from(id), Arg::from(node.as_str())],
            )
            .await?;
            conn.execute(
                "DELETE FROM flow_jobs WHERE run_id = $1 AND node = $2",
                vec![Arg::from(id), Arg::from(node.as_str())],
            )
            .await?;
            super::worker::enqueue_step(&mut conn, id, node, now, now).await?;
        }
        conn.execute(
            "UPDATE flow_runs SET status = 'running', finished_at = NULL, error = NULL, updated_at = $2 WHERE id = $1",
            vec![Arg::from(id), Arg::from(now)],
        )
        .await?;
        crate::access::audit::append(
            &mut conn,
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new(&principal.actor, "run.retry")
                .detail(json!({"flow": run.flow, "run": id})),
        )
        .await?;
        tx.commit().await?;
        self.wake_flow_worker();
        self.get_run(principal, id).await
    }

    /// Starts a `manual` flow on a record. The caller needs `update` on the record, checked as
    /// a `PATCH` of it is; the run acts as the flow and records who started it.
    pub async fn start_manual_run(
        &self,
        principal: &Principal,
        flow: &str,
        record_id: Uuid,
    ) -> Result<RunInfo> {
        let row = self
            .db
            .fetch_optional(
                "SELECT version, enabled FROM flows WHERE name = $1 AND deleted_at IS NULL",
                vec![Arg::from(flow)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("flow"))?;
        let compiled = self.compiled_flow(flow, row.req_int("version")?).await?;
        let super::definition::Trigger::Manual { entity, .. } = &compiled.def.trigger else {
            return Err(EngineError::Conflict(format!(
                "流程 {flow} 不是手动触发的 / the flow {flow} is not started by hand"
            )));
        };
        if !row.bool("enabled")?.unwrap_or(false) {
            return Err(EngineError::Conflict(format!(
                "流程 {flow} 未启用 / the flow {flow} is not enabled"
            )));
        }
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Update)?;
        let now = self.now();
        let id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let stored = crate::records::rows::load(&mut conn, &rt, record_id, false)
            .await?
            .filter(|s| s.deleted_at.is_none())
            .ok_or_else(|| EngineError::not_found(format!("{entity} {record_id}")))?;
        let trigger = json!({
            "type": "manual", "entity": entity, "record_id": record_id,
            "version": stored.version, "actor": principal.actor,
        });
        conn.execute(
            "INSERT INTO flow_runs (id, flow, flow_version, status, depth, trigger_info, entity, record_id, \
             started_by, created_at, updated_at) VALUES ($1, $2, $3, 'running', 0, $4, $5, $6, $7, $8, $8)",
            vec![
                Arg::from(id),
                Arg::from(flow),
                Arg::from(compiled.version),
                Arg::Json(Some(trigger)),
                Arg::from(entity.as_str()),
                Arg::from(record_id),
                Arg::from(principal.actor.as_str()),
                Arg::from(now),
            ],
        )
        .await?;
        super::worker::enqueue_start(&mut conn, &compiled, id, now).await?;
        crate::access::audit::append(
            &mut conn,
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new(&principal.actor, "run.start")
                .record(entity, record_id.to_string())
                .detail(json!({"flow": flow, "run": id})),
        )
        .await?;
        let row = conn
            .fetch_one(
                &format!("SELECT {RUN_COLUMNS} FROM flow_runs WHERE id = $1"),
                vec![Arg::from(id)],
            )
            .await?;
        let run = run_from_row(&row)?;
        tx.commit().await?;
        self.wake_flow_worker();
        Ok(run)
    }

    async fn require_run_writer(&self, principal: &Principal, flow: &str) -> Result<()> {
        let row = self
            .db
            .fetch_optional(
                "SELECT definition FROM flows WHERE name = $1",
                vec![Arg::from(flow)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("flow"))?;
        let def: super::FlowDefinition = serde_json::from_value(row.req_json("definition")?)
            .map_err(|e| EngineError::internal(format!("stored flow unreadable: {e}")))?;
        let entities = self.entity_map().await?;
        for entity in super::checks::named_entities(&def, &entities) {
            principal.require(&entity, Action::Design)?;
        }
        Ok(())
    }
}
