//! A dry run: the path a flow would take on one record and what each node would do, with
//! nothing written (no record, job, run, audit entry or message). It reads as the flow does,
//! in a transaction that is rolled back, and shows values through the reader's field rules.

use super::compiled::CompiledFlow;
use super::definition::Trigger;
use super::graph::TRIGGER;
use super::nodes::{Next, NodeRun};
use super::runs::present;
use super::worker::{flow_principal, RecordRead, RunRow};
use crate::access::{Action, FieldRule, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::masking::mask;
use serde_json::{json, Map, Value};
use std::collections::{HashSet, VecDeque};
use uuid::Uuid;

/// Nodes a dry run visits at most (a flow has at most 200).
const MAX_VISITS: usize = 400;

/// What `choose` names for a `wait_until` that ends normally (its edges without `when`).
const RESUMED: &str = "resumed";

/// `choose` checked against the flow: each key a waiting node, each value an edge it has.
fn chosen_edges(
    flow: &CompiledFlow,
    choose: Map<String, Value>,
) -> Result<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    for (node, when) in choose {
        let kind = flow.node(&node).map(|n| n.kind.kind());
        if !matches!(kind, Some("approval" | "wait_until")) {
            return Err(EngineError::bad_request(format!(
                "choose：{node} 不是审批或等待节点 / choose: {node} is no approval or wait_until node"
            )));
        }
        let Some(when) = when.as_str().map(str::to_string) else {
            return Err(EngineError::bad_request(format!(
                "choose.{node} 须为字符串 / choose.{node} must be a string"
            )));
        };
        let legal = (kind == Some("wait_until") && when == RESUMED)
            || flow.graph.has_edge(&flow.def, &node, &when);
        if !legal {
            return Err(EngineError::bad_request(format!(
                "choose：{node} 没有 {when} 出边 / choose: {node} has no edge {when}"
            )));
        }
        out.insert(node, when);
    }
    Ok(out)
}

impl Engine {
    /// `values` (a `set` or a record's data for `entity`) as `principal` may see them.
    fn shown_values(&self, principal: &Principal, entity: &str, values: &Value) -> Value {
        let Some(map) = values.as_object() else {
            return values.clone();
        };
        let rt = self.catalog.cached(entity);
        let mut out = Map::new();
        for (k, v) in map {
            let def = rt.as_ref().and_then(|rt| rt.definition().field(k).cloned());
            let rule = if principal.can(entity, Action::Read) {
                principal.field_rule(entity, k)
            } else {
                FieldRule::Hidden
            };
            if rule == FieldRule::Hidden {
                continue;
            }
            let sensitive = def
                .as_ref()
                .is_some_and(crate::forms::FieldDef::is_sensitive);
            let shown = match (rule == FieldRule::Masked || sensitive, v, &def) {
                (true, Value::Null, _) => Value::Null,
                (true, Value::String(s), Some(d)) => Value::String(mask(d.field_type, s)),
                (true, other, Some(d)) => Value::String(mask(d.field_type, &other.to_string())),
                (true, _, None) => Value::String("***".into()),
                (false, other, _) => other.clone(),
            };
            out.insert(k.clone(), shown);
        }
        Value::Object(out)
    }

    fn shown_would(&self, principal: &Principal, would: &Value) -> Value {
        let mut out = would.clone();
        let entity = would
            .get("entity")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for key in ["set", "data"] {
            if let Some(values) = would.get(key) {
                out[key] = self.shown_values(principal, &entity, values);
            }
        }
        out
    }

    /// Dry-runs flow `name` (or the draft `definition`, checked as on save) on a record, or,
    /// for a `webhook` trigger, on a request `body`. A wait (approval, wait_until) stops the
    /// path unless `choose` names the edge it ends by.
    pub async fn dry_run_flow(
        &self,
        principal: &Principal,
        name: &str,
        record_id: Option<Uuid>,
        definition: Option<Value>,
        body: Option<Value>,
        choose: Map<String, Value>,
    ) -> Result<Value> {
        if body.as_ref().is_some_and(|b| !b.is_object()) {
            return Err(EngineError::bad_request(
                "body 须为 JSON 对象 / body must be a JSON object",
            ));
        }
        let saved = self.get_flow(principal, name).await?;
        let flow: std::sync::Arc<CompiledFlow> = match definition {
            Some(draft) => std::sync::Arc::new(self.check_flow(principal, &draft).await?),
            None => self.compiled_flow(name, saved.version).await?,
        };
        let choose = chosen_edges(&flow, choose)?;
        let entity = flow.def.trigger.entity().map(str::to_string);
        if flow.def.trigger.entity().is_some() && record_id.is_none() {
            return Err(EngineError::bad_request(
                "record_id is required: the flow's trigger has a record",
            ));
        }
        if let (Some(entity), Some(id)) = (&entity, record_id) {
            principal.require(entity, Action::Read)?;
            // The record must exist and be visible to the caller, as a read of it would be.
            self.get_record(principal, entity, id, &[], crate::Lang::Zh)
                .await?;
        }
        let entities = self.entity_map().await?;
        let actor = flow_principal(&flow, &entities, None);
        let run = RunRow {
            id: Uuid::nil(),
            flow: flow.def.name.clone(),
            version: flow.version,
            status: "running".into(),
            entity: entity.clone(),
            record_id,
            trigger: json!({"type": flow.def.trigger.kind()}),
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let mut path = Vec::new();
        let mut queue: VecDeque<String> = flow
            .graph
            .next(&flow.def, TRIGGER, None)
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut ended = "no_more_edges";
        let mut scope: Option<super::scope::Scope> = None;
        while let Some(node_id) = queue.pop_front() {
            if !seen.insert(node_id.clone()) || seen.len() > MAX_VISITS {
                continue;
            }
            let Some(node) = flow.node(&node_id) else {
                continue;
            };
            // Later nodes see earlier updates: the scope is kept across the path.
            let mut current = match scope.take() {
                Some(s) => s,
                None => {
                    let mut fresh = self
                        .scope_for(&mut conn, &flow, &run, node, now, RecordRead::Plain)
                        .await?;
                    if matches!(flow.def.trigger, Trigger::Webhook { .. }) {
                        fresh.body = Some(body.clone().unwrap_or_else(|| json!({})));
                    }
                    fresh
                }
            };
            for name in super::scope::followed_references(node) {
                if current.followed.contains_key(&name) {
                    continue;
                }
                let fresh = self
                    .scope_for(&mut conn, &flow, &run, node, now, RecordRead::Plain)
                    .await?;
                current.followed.extend(fresh.followed);
                break;
            }
            let outcome = NodeRun {
                engine: self,
                flow: &flow,
                node,
                run_id: Uuid::nil(),
                principal: &actor,
                scope: &mut current,
                dry: true,
            }
            .execute(&mut conn)
            .await;
            let mut entry = json!({"node": node.id, "type": node.kind.kind()});
            match outcome {
                Ok(done) => {
                    entry["input"] = present(self, principal, Some(done.input.into_stored()));
                    entry["output"] = present(self, principal, Some(done.output.into_stored()));
                    if let Some(would) = &done.would {
                        entry["would"] = self.shown_would(principal, would);
                    }
                    let waits = matches!(node.kind.kind(), "approval" | "wait_until")
                        && matches!(done.next, Next::Wait { .. } | Next::Stop);
                    let next: Vec<String> = match &done.next {
                        _ if waits => {
                            entry["would_wait"] = json!(true);
                            match choose.get(&node.id) {
                                Some(when) => {
                                    entry["chosen"] = json!(when);
                                    let when = (when != RESUMED).then_some(when.as_str());
                                    flow.graph
                                        .next(&flow.def, &node.id, when)
                                        .into_iter()
                                        .map(str::to_string)
                                        .collect()
                                }
                                None => {
                                    ended = "waiting";
                                    Vec::new()
                                }
                            }
                        }
                        Next::Edge(when) => flow
                            .graph
                            .next(&flow.def, &node.id, when.as_deref())
                            .into_iter()
                            .map(str::to_string)
                            .collect(),
                        Next::After(due) => {
                            entry["would_wait_until"] = json!(crate::records::wire_time(*due));
                            current.time.now = *due;
                            flow.graph
                                .next(&flow.def, &node.id, None)
                                .into_iter()
                                .map(str::to_string)
                                .collect()
                        }
                        // Nothing is waited for in a dry run: the path stops here.
                        Next::Stop | Next::Wait { .. } => Vec::new(),
                        Next::End => {
                            ended = "end";
                            queue.clear();
                            Vec::new()
                        }
                    };
                    entry["next"] = json!(next);
                    queue.extend(next);
                }
                Err(failure) => {
                    entry["error"] = failure.json();
                    let next: Vec<String> = flow
                        .graph
                        .next(&flow.def, &node.id, Some("error"))
                        .into_iter()
                        .map(str::to_string)
                        .collect();
                    entry["next"] = json!(next);
                    if next.is_empty() {
                        ended = "failed";
                        queue.clear();
                    }
                    queue.extend(next);
                }
            }
            path.push(entry);
            scope = Some(current);
        }
        // Nothing a dry run did is kept.
        drop(tx);
        let mut trigger = json!({"type": flow.def.trigger.kind()});
        if let Trigger::RecordUpdated { fields, .. } = &flow.def.trigger {
            trigger["fields"] = json!(fields);
        }
        Ok(json!({
            "flow": flow.def.name, "version": flow.version,
            "record": record_id.map(|id| json!({"entity": entity, "id": id})),
            "trigger": trigger, "path": path, "ended": ended,
        }))
    }
}
