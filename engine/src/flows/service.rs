//! Saving and reading flow definitions: the checks on save, versions, the precondition rule
//! and who may do what. Reading a flow needs `design` on its trigger's entity (on every entity
//! it names when the trigger names none); saving and deleting need it on every entity named.

use super::checks::{self, CheckContext};
use super::compiled::CompiledFlow;
use super::definition::FlowDefinition;
use super::schema;
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, Principal, SystemRight};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::store::{Arg, Conn, DbRow};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use time::OffsetDateTime;

/// A saved flow as `GET` answers it: the definition with its version and who saved it.
#[derive(Debug, Clone, Serialize)]
pub struct SavedFlow {
    #[serde(flatten)]
    pub definition: Value,
    #[serde(skip)]
    pub version: i64,
}

/// A line of the flow list.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSummary {
    pub name: String,
    pub label: Value,
    pub enabled: bool,
    pub version: i64,
    pub trigger: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
}

/// One saved version.
#[derive(Debug, Clone, Serialize)]
pub struct FlowVersionInfo {
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
    pub saved_by: String,
}

/// Where the caller's precondition comes from on `PUT` and `DELETE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Precondition {
    /// `If-Match`.
    pub if_match: Option<i64>,
}

fn bad(details: Vec<FieldError>) -> EngineError {
    let message = format!(
        "流程定义有 {} 处问题 / the flow definition has {} problems",
        details.len(),
        details.len()
    );
    EngineError::BadRequest { message, details }
}

/// Secrets never leave the server: the stored form carries ciphertext, answers `secret_set`.
fn seal_secrets(doc: &mut Value, keys: &crate::crypto::Keyring, previous: Option<&Value>) {
    let seal = |slot: &mut Value, old: Option<&Value>| {
        let Some(obj) = slot.as_object_mut() else {
            return;
        };
        match obj
            .remove("secret")
            .and_then(|s| s.as_str().map(str::to_string))
        {
            Some(plain) => {
                obj.insert("secret".into(), Value::String(keys.encrypt(&plain)));
            }
            None => {
                if let Some(kept) = old.and_then(|o| o.get("secret")) {
                    obj.insert("secret".into(), kept.clone());
                }
            }
        }
        obj.remove("secret_set");
    };
    seal(&mut doc["trigger"], previous.map(|p| &p["trigger"]));
    if let Some(nodes) = doc.get_mut("nodes").and_then(Value::as_array_mut) {
        for node in nodes {
            let id = node.get("id").cloned();
            let old = previous
                .and_then(|p| p.get("nodes"))
                .and_then(Value::as_array)
                .and_then(|ns| ns.iter().find(|n| n.get("id") == id.as_ref()));
            seal(node, old);
        }
    }
}

/// The stored form as an answer: `secret` becomes `secret_set`.
fn shown(mut doc: Value) -> Value {
    let show = |slot: &mut Value| {
        if let Some(obj) = slot.as_object_mut() {
            if obj.remove("secret").is_some() {
                obj.insert("secret_set".into(), Value::Bool(true));
            }
        }
    };
    show(&mut doc["trigger"]);
    if let Some(nodes) = doc.get_mut("nodes").and_then(Value::as_array_mut) {
        nodes.iter_mut().for_each(show);
    }
    doc
}

/// The parts of a document that make its meaning, to tell a change from a re-save.
fn meaning(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(obj) = d.as_object_mut() {
        for k in [
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ] {
            obj.remove(k);
        }
        obj.entry("enabled").or_insert(Value::Bool(false));
        obj.entry("edges").or_insert(json!([]));
    }
    d
}

impl Engine {
    pub(crate) async fn entity_map(
        &self,
    ) -> Result<HashMap<String, Arc<crate::entities::EntityRuntime>>> {
        Ok(self
            .catalog
            .all(&self.db)
            .await?
            .into_iter()
            .map(|rt| (rt.name().to_string(), rt))
            .collect())
    }

    async fn existing_names(
        &self,
        table: &str,
        column: &str,
        names: &[String],
    ) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for name in names {
            let row = self
                .db
                .fetch_optional(
                    &format!("SELECT {column} FROM {table} WHERE {column} = $1"),
                    vec![Arg::from(name.as_str())],
                )
                .await?;
            if row.is_some() {
                found.insert(name.clone());
            }
        }
        Ok(found)
    }

    /// Every check of saving, nothing written: the compiled flow, a 400 with every problem,
    /// or 403 when the caller may not design an entity the flow names.
    pub async fn check_flow(&self, principal: &Principal, doc: &Value) -> Result<CompiledFlow> {
        let problems = schema::check_shape(doc);
        if !problems.is_empty() {
            return Err(bad(problems));
        }
        let def: FlowDefinition = serde_json::from_value(doc.clone()).map_err(|e| {
            bad(vec![FieldError::new(
                "",
                "schema",
                format!("不符合流程定义格式 / does not match the flow format: {e}"),
            )])
        })?;
        let entities = self.entity_map().await?;
        for entity in checks::named_entities(&def, &entities) {
            if entities.contains_key(&entity) {
                principal.require(&entity, Action::Design)?;
            }
        }
        if def.trigger.entity().is_none() && checks::named_entities(&def, &entities).is_empty() {
            principal.require_right(SystemRight::Settings)?;
        }
        let (users, roles) = checks::named_assignees(&def);
        let users = self.existing_names("users", "username", &users).await?;
        let roles = self.existing_names("roles", "name", &roles).await?;
        let ctx = CheckContext {
            entities: &entities,
            users: &users,
            roles: &roles,
            webhook_allow: &self.settings.flow_webhook_allow,
        };
        let flow = checks::check(def, &ctx).map_err(bad)?;
        let hidden = super::saver_sight::hidden_reads(principal, &flow.def, &entities);
        if !hidden.is_empty() {
            return Err(bad(hidden));
        }
        self.check_segment_filter(principal, &flow.def, &entities)
            .await?;
        Ok(flow)
    }

    /// A segment batch's filter (or named segment) is compiled to SQL: it is checked on save
    /// by the records' compiler for the saver, as a list filter would be, so a field hidden
    /// from them (or matched in a way their rules refuse) is refused here and not found out at
    /// the first fire. A named segment must exist on the trigger's entity; the entities its
    /// `exists` tests read need `design`, as a filter's do.
    async fn check_segment_filter(
        &self,
        principal: &Principal,
        def: &FlowDefinition,
        entities: &HashMap<String, Arc<crate::entities::EntityRuntime>>,
    ) -> Result<()> {
        let super::definition::Trigger::SegmentBatch {
            entity,
            filter,
            segment,
            ..
        } = &def.trigger
        else {
            return Ok(());
        };
        let Some(rt) = entities.get(entity.as_str()) else {
            return Ok(());
        };
        let path = if segment.is_some() {
            "trigger.segment"
        } else {
            "trigger.filter"
        };
        let refused = |e: EngineError| match e {
            EngineError::BadRequest { details, message } => bad(if details.is_empty() {
                vec![FieldError::in_node(
                    Some(super::graph::TRIGGER),
                    path,
                    "bad_filter",
                    message,
                )]
            } else {
                details
                    .into_iter()
                    .map(|d| {
                        FieldError::in_node(Some(super::graph::TRIGGER), path, &d.code, d.message)
                    })
                    .collect()
            }),
            other => other,
        };
        let parsed = match (filter, segment) {
            (Some(filter), _) => {
                crate::query::FilterExpr::parse(filter.clone()).map_err(refused)?
            }
            (None, Some(segment)) => {
                let named = crate::query::FilterExpr::Segment {
                    segment: segment.clone(),
                };
                let (expanded, _) = self
                    .expand_segments(entity, &named)
                    .await
                    .map_err(refused)?;
                for related in expanded.related_entities() {
                    principal.require(&related, Action::Design)?;
                }
                expanded
            }
            (None, None) => return Ok(()),
        };
        for related in parsed.related_entities() {
            principal.require(&related, Action::Read)?;
        }
        let all: Vec<Arc<crate::entities::EntityRuntime>> = entities.values().cloned().collect();
        self.filter_context(rt, &all, principal)
            .compile(&parsed)
            .map_err(refused)?;
        Ok(())
    }

    /// The readable flow, or 404 for a flow that does not exist or the caller may not read
    /// (no oracle for names).
    async fn flow_row(&self, principal: &Principal, name: &str) -> Result<DbRow> {
        let row = self
            .db
            .fetch_optional(
                "SELECT name, version, enabled, definition, created_at, created_by, updated_at, updated_by \
                 FROM flows WHERE name = $1 AND deleted_at IS NULL",
                vec![Arg::from(name)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("flow"))?;
        let def = row.req_json("definition")?;
        if !self.may_read_flow(principal, &def).await? {
            return Err(EngineError::not_found("flow"));
        }
        Ok(row)
    }

    async fn may_read_flow(&self, principal: &Principal, def: &Value) -> Result<bool> {
        if let Some(entity) = def.pointer("/trigger/entity").and_then(Value::as_str) {
            return Ok(principal.can(entity, Action::Design));
        }
        let parsed: FlowDefinition = match serde_json::from_value(def.clone()) {
            Ok(d) => d,
            Err(_) => return Ok(principal.is_admin),
        };
        let named = checks::named_entities(&parsed, &self.entity_map().await?);
        if named.is_empty() {
            return Ok(principal.has_right(SystemRight::Settings));
        }
        Ok(named.iter().all(|e| principal.can(e, Action::Design)))
    }

    fn answer(row: &DbRow) -> Result<SavedFlow> {
        let mut def = shown(row.req_json("definition")?);
        let version = row.req_int("version")?;
        if let Some(obj) = def.as_object_mut() {
            obj.insert("version".into(), json!(version));
            obj.insert(
                "enabled".into(),
                json!(row.bool("enabled")?.unwrap_or(false)),
            );
            for k in ["created_at", "updated_at"] {
                let t = row.req_time(k)?;
                obj.insert(
                    k.into(),
                    json!(crate::forms::checks::format_datetime_utc(t)),
                );
            }
            for k in ["created_by", "updated_by"] {
                obj.insert(k.into(), json!(row.req_text(k)?));
            }
        }
        Ok(SavedFlow {
            definition: def,
            version,
        })
    }

    pub async fn get_flow(&self, principal: &Principal, name: &str) -> Result<SavedFlow> {
        Self::answer(&self.flow_row(principal, name).await?)
    }

    pub async fn list_flows(&self, principal: &Principal) -> Result<Vec<FlowSummary>> {
        let rows = self
            .db
            .fetch_all(
                "SELECT name, version, enabled, definition, updated_at, updated_by FROM flows \
                 WHERE deleted_at IS NULL ORDER BY name",
                vec![],
            )
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let def = row.req_json("definition")?;
            if !self.may_read_flow(principal, &def).await? {
                continue;
            }
            let mut trigger =
                json!({"type": def.pointer("/trigger/type").cloned().unwrap_or(Value::Null)});
            if let Some(e) = def.pointer("/trigger/entity") {
                trigger["entity"] = e.clone();
            }
            out.push(FlowSummary {
                name: row.req_text("name")?,
                label: def.get("label").cloned().unwrap_or(Value::Null),
                enabled: row.bool("enabled")?.unwrap_or(false),
                version: row.req_int("version")?,
                trigger,
                updated_at: row.req_time("updated_at")?,
                updated_by: row.req_text("updated_by")?,
            });
        }
        Ok(out)
    }

    pub async fn create_flow(&self, principal: &Principal, doc: Value) -> Result<SavedFlow> {
        let flow = self.check_flow(principal, &doc).await?;
        let name = flow.def.name.clone();
        let mut stored = meaning(&doc);
        seal_secrets(&mut stored, &self.keys, None);
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let previous = conn
            .fetch_optional(
                "SELECT version, deleted_at FROM flows WHERE name = $1",
                vec![Arg::from(name.as_str())],
            )
            .await?;
        let version = match &previous {
            Some(row) if row.time("deleted_at")?.is_none() => {
                return Err(EngineError::Conflict(format!(
                    "流程 {name} 已存在 / flow {name} exists"
                )));
            }
            Some(row) => row.req_int("version")? + 1,
            None => 1,
        };
        let enabled = flow.def.enabled;
        let args = vec![
            Arg::from(name.as_str()),
            Arg::from(version),
            Arg::Bool(Some(enabled)),
            Arg::Time(enabled.then_some(now)),
            Arg::Json(Some(stored.clone())),
            Arg::from(now),
            Arg::from(principal.actor.as_str()),
        ];
        let sql = if previous.is_some() {
            "UPDATE flows SET version = $2, enabled = $3, enabled_at = $4, definition = $5, created_at = $6, \
             created_by = $7, updated_at = $6, updated_by = $7, deleted_at = NULL WHERE name = $1"
        } else {
            "INSERT INTO flows (name, version, enabled, enabled_at, definition, created_at, created_by, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7)"
        };
        conn.execute(sql, args).await.map_err(|e| {
            if e.is_unique_violation() {
                EngineError::Conflict(format!("流程 {name} 已存在 / flow {name} exists"))
            } else {
                e
            }
        })?;
        self.save_version(
            &mut conn,
            principal,
            &name,
            version,
            &stored,
            now,
            "flow.create",
        )
        .await?;
        let dated = matches!(
            flow.def.trigger,
            super::definition::Trigger::DateRelative { .. }
        );
        self.reset_sweep(&mut conn, &name, enabled && dated, now)
            .await?;
        self.reset_schedule(&mut conn, &flow.def, enabled, now)
            .await?;
        tx.commit().await?;
        self.flows_changed();
        self.get_flow(principal, &name).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_version(
        &self,
        conn: &mut Conn<'_>,
        principal: &Principal,
        name: &str,
        version: i64,
        stored: &Value,
        now: OffsetDateTime,
        action: &str,
    ) -> Result<()> {
        conn.execute(
            "INSERT INTO flow_versions (flow, version, definition, saved_at, saved_by) VALUES ($1, $2, $3, $4, $5)",
            vec![Arg::from(name), Arg::from(version), Arg::Json(Some(stored.clone())), Arg::from(now), Arg::from(principal.actor.as_str())],
        )
        .await?;
        let mut entry = AuditEntry::new(&principal.actor, action)
            .detail(json!({"flow": name, "version": version}));
        if let Some(entity) = stored.pointer("/trigger/entity").and_then(Value::as_str) {
            entry = entry.entity(entity);
        }
        if stored
            .get("nodes")
            .and_then(Value::as_array)
            .is_some_and(|ns| {
                ns.iter()
                    .any(|n| n.get("sends_sensitive") == Some(&Value::Bool(true)))
            })
        {
            entry.detail["sends_sensitive"] = Value::Bool(true);
        }
        audit::append(conn, self.clock.as_ref(), &entry).await?;
        Ok(())
    }

    /// Changes a flow. The precondition is `If-Match` or the body's `version`; with neither,
    /// the version read here is, so a change that raced another is refused, never lost.
    pub async fn update_flow(
        &self,
        principal: &Principal,
        name: &str,
        doc: Value,
        pre: Precondition,
    ) -> Result<SavedFlow> {
        let row = self.flow_row(principal, name).await?;
        let current = row.req_int("version")?;
        let expected = pre
            .if_match
            .or_else(|| doc.get("version").and_then(Value::as_i64))
            .unwrap_or(current);
        if expected != current {
            return Err(EngineError::VersionConflict { current });
        }
        if doc.get("name").and_then(Value::as_str) != Some(name) {
            return Err(bad(vec![FieldError::new(
                "name",
                "name_changed",
                "流程名称不能修改 / a flow's name never changes",
            )]));
        }
        let flow = self.check_flow(principal, &doc).await?;
        let previous = row.req_json("definition")?;
        let mut stored = meaning(&doc);
        seal_secrets(&mut stored, &self.keys, Some(&previous));
        if stored == previous {
            return Self::answer(&row);
        }
        let was_enabled = row.bool("enabled")?.unwrap_or(false);
        let enabled = flow.def.enabled;
        let now = self.now();
        let version = current + 1;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let enabled_at_sql = if enabled && !was_enabled {
            "$4"
        } else if enabled {
            "enabled_at"
        } else {
            "NULL"
        };
        let changed = conn
            .execute(
                &format!(
                    "UPDATE flows SET version = $2, enabled = $3, enabled_at = {enabled_at_sql}, definition = $5, \
                     updated_at = $4, updated_by = $6 WHERE name = $1 AND version = $7 AND deleted_at IS NULL"
                ),
                vec![
                    Arg::from(name),
                    Arg::from(version),
                    Arg::Bool(Some(enabled)),
                    Arg::from(now),
                    Arg::Json(Some(stored.clone())),
                    Arg::from(principal.actor.as_str()),
                    Arg::from(current),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(EngineError::VersionConflict {
                current: current + 1,
            });
        }
        self.save_version(
            &mut conn,
            principal,
            name,
            version,
            &stored,
            now,
            "flow.update",
        )
        .await?;
        // A new version's date rule applies to fire times after the save: none is replayed.
        let dated = matches!(
            flow.def.trigger,
            super::definition::Trigger::DateRelative { .. }
        );
        self.reset_sweep(&mut conn, name, enabled && dated, now)
            .await?;
        // Likewise a schedule's next fire is the first after the save.
        self.reset_schedule(&mut conn, &flow.def, enabled, now)
            .await?;
        tx.commit().await?;
        self.flows_changed();
        self.get_flow(principal, name).await
    }

    /// Deletes a flow: unfinished runs are cancelled; runs and versions stay readable until
    /// pruned.
    pub async fn delete_flow(
        &self,
        principal: &Principal,
        name: &str,
        pre: Precondition,
    ) -> Result<()> {
        let row = self.flow_row(principal, name).await?;
        let current = row.req_int("version")?;
        if pre.if_match.is_some_and(|v| v != current) {
            return Err(EngineError::VersionConflict { current });
        }
        let def: FlowDefinition = serde_json::from_value(row.req_json("definition")?)
            .map_err(|e| EngineError::internal(format!("stored flow unreadable: {e}")))?;
        let entities = self.entity_map().await?;
        for entity in checks::named_entities(&def, &entities) {
            if entities.contains_key(&entity) {
                principal.require(&entity, Action::Design)?;
            }
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let changed = conn
            .execute(
                "UPDATE flows SET deleted_at = $2, enabled = $3, enabled_at = NULL, updated_at = $2, updated_by = $4 \
                 WHERE name = $1 AND version = $5 AND deleted_at IS NULL",
                vec![Arg::from(name), Arg::from(now), Arg::Bool(Some(false)), Arg::from(principal.actor.as_str()), Arg::from(current)],
            )
            .await?;
        if changed == 0 {
            return Err(EngineError::VersionConflict {
                current: current + 1,
            });
        }
        self.cancel_unfinished_runs(&mut conn, name, now).await?;
        self.reset_sweep(&mut conn, name, false, now).await?;
        self.reset_schedule(&mut conn, &def, false, now).await?;
        audit::append(
            &mut conn,
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "flow.delete")
                .detail(json!({"flow": name, "version": current})),
        )
        .await?;
        tx.commit().await?;
        self.flows_changed();
        Ok(())
    }

    pub async fn flow_versions(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<Vec<FlowVersionInfo>> {
        self.flow_row(principal, name).await?;
        let rows = self
            .db
            .fetch_all(
                "SELECT version, saved_at, saved_by FROM flow_versions WHERE flow = $1 ORDER BY version DESC",
                vec![Arg::from(name)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FlowVersionInfo {
                    version: r.req_int("version")?,
                    saved_at: r.req_time("saved_at")?,
                    saved_by: r.req_text("saved_by")?,
                })
            })
            .collect()
    }

    pub async fn flow_version(
        &self,
        principal: &Principal,
        name: &str,
        version: i64,
    ) -> Result<Value> {
        self.flow_row(principal, name).await?;
        let row = self
            .db
            .fetch_optional(
                "SELECT definition FROM flow_versions WHERE flow = $1 AND version = $2",
                vec![Arg::from(name), Arg::from(version)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("flow version"))?;
        let mut def = shown(row.req_json("definition")?);
        def["version"] = json!(version);
        Ok(def)
    }

    /// The compiled graph of one saved version, compiled once and kept.
    pub(crate) async fn compiled_flow(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Arc<CompiledFlow>> {
        if let Some(flow) = self.flows.get(name, version) {
            return Ok(flow);
        }
        let mut conn = self.db.acquire().await?;
        self.compiled_flow_on(&mut conn.conn(), name, version).await
    }

    /// [`Self::compiled_flow`] read through `conn`: inside a transaction, so a write never
    /// waits for a second connection of the pool.
    pub(crate) async fn compiled_flow_on(
        &self,
        conn: &mut Conn<'_>,
        name: &str,
        version: i64,
    ) -> Result<Arc<CompiledFlow>> {
        if let Some(flow) = self.flows.get(name, version) {
            return Ok(flow);
        }
        let row = conn
            .fetch_optional(
                "SELECT definition FROM flow_versions WHERE flow = $1 AND version = $2",
                vec![Arg::from(name), Arg::from(version)],
            )
            .await?
            .ok_or_else(|| EngineError::not_found("flow version"))?;
        let def: FlowDefinition = serde_json::from_value(row.req_json("definition")?)
            .map_err(|e| EngineError::internal(format!("stored flow unreadable: {e}")))?;
        let graph = super::graph::FlowGraph::build(&def)
            .map_err(|_| EngineError::internal("a stored flow's graph does not build"))?;
        let mut flow = CompiledFlow::new(def, version, graph);
        let sources: Vec<String> = flow
            .def
            .nodes
            .iter()
            .flat_map(|n| {
                super::compiled::node_exprs(&n.kind)
                    .into_iter()
                    .map(|(_, s)| s.to_string())
            })
            .collect();
        for source in sources {
            flow.add_expr(&source).map_err(|e| {
                EngineError::internal(format!("a stored expression does not compile: {}", e.code))
            })?;
        }
        let templates: Vec<String> = flow
            .def
            .nodes
            .iter()
            .flat_map(|n| {
                super::compiled::node_templates(&n.kind)
                    .into_iter()
                    .map(|(_, s)| s.to_string())
            })
            .collect();
        for t in templates {
            flow.templates.add(&t).map_err(EngineError::internal)?;
        }
        let flow = Arc::new(flow);
        self.flows.put(name, version, flow.clone());
        Ok(flow)
    }
}
