//! What each node does, for a run (effects in the step's fenced transaction) or a dry run
//! (nothing written: the effect is reported). Errors name a code and never a value.

use super::checks::{MESSAGE_ENTITY, TASK_ENTITY};
use super::compiled::CompiledFlow;
use super::definition::{as_expr, Assignee, Due, Node, NodeKind, Span};
use super::runs::Traced;
use super::scope::{Loaded, Scope};
use crate::access::Principal;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::expr::{dynamic_to_json, ExprError, Root};
use crate::forms::checks::format_datetime_utc;
use crate::forms::FieldType;
use crate::i18n::Lang;
use crate::query::{self, FilterExpr};
use crate::records::{projection, rows};
use crate::store::{Arg, Conn};
use rhai::Dynamic;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a branch goes after a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// Follow the edges with this `when` (`None`: the plain edges).
    Edge(Option<String>),
    /// Follow the plain edges once this time has come.
    After(OffsetDateTime),
    /// The branch ends here.
    Stop,
    /// The whole run ends here.
    End,
    /// The branch waits on a record (an approval's task, a watched record) until a change
    /// resumes it or, with `timeout`, until then; a `wait_until` time is its timeout (`waits`).
    Wait {
        entity: String,
        record_id: Uuid,
        timeout: Option<OffsetDateTime>,
        kind: super::waits::WaitKind,
    },
}

#[derive(Debug)]
pub(crate) struct Done {
    pub next: Next,
    pub input: Traced,
    pub output: Traced,
    /// For a dry run: what the node would have written.
    pub would: Option<Value>,
}

/// Why a step failed: deterministic failures are not retried.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    pub(super) fn fixed(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            code: code.to_string(),
            message: message.into(),
            retryable: false,
        }
    }

    pub(super) fn expr(node: &str, e: &ExprError) -> Failure {
        Failure::fixed(e.code, format!("节点 {node}：{}", e.message()))
    }

    pub fn json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        let retryable = matches!(
            e,
            EngineError::Storage(_) | EngineError::VersionConflict { .. }
        );
        let code = e.code().to_string();
        // Validation details name fields and codes; their messages may quote a value, so
        // only the codes are kept.
        let message = match &e {
            EngineError::Validation { details } => details
                .iter()
                .map(|d| format!("{}: {}", d.field, d.code))
                .collect::<Vec<_>>()
                .join("; "),
            EngineError::Storage(_) => "数据库暂不可用 / the database is unavailable".to_string(),
            other => other.message(Lang::Zh),
        };
        Failure {
            code,
            message,
            retryable,
        }
    }
}

type NodeResult = std::result::Result<Done, Failure>;

/// One node's execution.
pub(crate) struct NodeRun<'a> {
    pub engine: &'a Engine,
    pub flow: &'a CompiledFlow,
    pub node: &'a Node,
    pub run_id: Uuid,
    pub principal: &'a Principal,
    pub scope: &'a mut Scope,
    pub dry: bool,
}

pub(super) fn done(next: Next) -> Done {
    Done {
        next,
        input: Traced::default(),
        output: Traced::default(),
        would: None,
    }
}

impl NodeRun<'_> {
    pub(super) fn eval(&self, source: &str) -> std::result::Result<Dynamic, Failure> {
        let ast = self
            .flow
            .expr(source)
            .ok_or_else(|| Failure::fixed("internal", "expression not compiled"))?;
        crate::expr::eval(ast, self.scope.variables(), &self.scope.time)
            .map_err(|e| Failure::expr(&self.node.id, &e))
    }

    fn render(&self, source: &str) -> std::result::Result<String, Failure> {
        let offset = self.engine.utc_offset_at(self.scope.time.now);
        self.flow
            .templates
            .render(source, &self.scope.template_data(), offset)
            .map_err(|m| Failure::fixed("template", format!("节点 {}：{m}", self.node.id)))
    }

    /// The fields a test reads from `record`, tied to their fields, for the step's input.
    fn reads_of(&self, source: &str) -> Traced {
        let mut traced = Traced::default();
        let Some(rec) = &self.scope.record else {
            return traced;
        };
        for read in crate::expr::reads(source) {
            if read.root != Root::Record || read.then.is_some() {
                continue;
            }
            if let Some(f) = rec.rt.definition().field(&read.name) {
                let value = rec.plain.get(&read.name).cloned().unwrap_or(Value::Null);
                traced = traced.tied(
                    &format!("reads.{}", read.name),
                    value,
                    rec.rt.name(),
                    &read.name,
                    f.is_sensitive(),
                    &self.engine.keys,
                );
            }
        }
        traced
    }

    fn holds(
        &self,
        expr: Option<&str>,
        filter: Option<&Value>,
    ) -> std::result::Result<bool, Failure> {
        if let Some(source) = expr {
            let value = self.eval(source)?;
            return value.as_bool().map_err(|_| {
                Failure::fixed(
                    "wrong_result_type",
                    format!(
                        "节点 {}：条件须得出真或假 / a condition must give true or false",
                        self.node.id
                    ),
                )
            });
        }
        if let Some(filter) = filter {
            let parsed = FilterExpr::parse(filter.clone())?;
            let record = self
                .scope
                .record
                .as_ref()
                .map(Loaded::json)
                .unwrap_or_default();
            let at = self
                .scope
                .time
                .now
                .to_offset(self.engine.utc_offset_at(self.scope.time.now));
            let ctx = query::EvalContext {
                today: at.date(),
                now: at,
            };
            return Ok(query::evaluate(&parsed, &record, &ctx)?);
        }
        Ok(false)
    }

    pub async fn execute(&mut self, conn: &mut Conn<'_>) -> NodeResult {
        let node = self.node;
        match &node.kind {
            NodeKind::Condition { expr, filter } => {
                let result = self.holds(expr.as_deref(), filter.as_ref())?;
                let mut d = done(Next::Edge(Some(result.to_string())));
                d.input = expr
                    .as_deref()
                    .map(|e| self.reads_of(e))
                    .unwrap_or_default();
                d.output = Traced::default().plain("result", Value::Bool(result));
                Ok(d)
            }
            NodeKind::Switch { cases, default } => {
                let mut chosen = None;
                let mut input = Traced::default();
                for case in cases {
                    if let Some(e) = &case.expr {
                        let r = self.reads_of(e);
                        input.values.extend(r.values);
                        input.fields.extend(r.fields);
                    }
                    if self.holds(case.expr.as_deref(), case.filter.as_ref())? {
                        chosen = Some(case.name.clone());
                        break;
                    }
                }
                let chosen = chosen.or_else(|| default.clone());
                let mut d = done(chosen.clone().map_or(Next::Stop, |c| Next::Edge(Some(c))));
                d.input = input;
                d.output =
                    Traced::default().plain("case", chosen.map_or(Value::Null, Value::String));
                Ok(d)
            }
            NodeKind::UpdateRecord { set, target } => {
                self.update_record(conn, set, target.as_deref()).await
            }
            NodeKind::AddTag {
                field,
                tags,
                target,
            } => {
                self.change_tags(conn, field.as_deref(), tags, target.as_deref(), true)
                    .await
            }
            NodeKind::RemoveTag {
                field,
                tags,
                target,
            } => {
                self.change_tags(conn, field.as_deref(), tags, target.as_deref(), false)
                    .await
            }
            NodeKind::CreateRecord {
                entity,
                set,
                target,
                link,
            } => {
                self.create_record(conn, entity, set, target.as_deref(), link.as_deref())
                    .await
            }
            NodeKind::SendMessage {
                channel,
                to,
                template,
                title,
                purpose,
                target,
            } => {
                self.send_message(
                    conn,
                    channel,
                    to,
                    template,
                    title.as_deref(),
                    purpose.as_deref(),
                    target.as_deref(),
                )
                .await
            }
            NodeKind::CreateTask {
                title,
                description,
                assignee,
                due,
                priority,
                target,
            } => {
                self.create_task(
                    conn,
                    title,
                    description.as_deref(),
                    assignee,
                    due.as_ref(),
                    priority.as_deref(),
                    target.as_deref(),
                    None,
                )
                .await
            }
            NodeKind::Approval {
                title,
                description,
                assignee,
                outcomes,
                due,
                timeout,
                priority,
                target,
            } => {
                let timeout = timeout.map(|t| self.after(t)).transpose()?;
                let mut d = self
                    .create_task(
                        conn,
                        title,
                        description.as_deref(),
                        assignee,
                        due.as_ref(),
                        priority.as_deref(),
                        target.as_deref(),
                        Some(outcomes),
                    )
                    .await?;
                let id = d
                    .output
                    .values
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .unwrap_or(Uuid::nil());
                d.next = Next::Wait {
                    entity: TASK_ENTITY.into(),
                    record_id: id,
                    timeout,
                    kind: super::waits::WaitKind::Approval,
                };
                Ok(d)
            }
            NodeKind::Delay { duration } => {
                let due = self.after(*duration)?;
                let mut d = done(Next::After(due));
                d.output =
                    Traced::default().plain("until", Value::String(format_datetime_utc(due)));
                Ok(d)
            }
            NodeKind::WaitUntil {
                until,
                change,
                timeout,
            } => {
                self.wait_until(conn, until.as_ref(), change.as_ref(), *timeout)
                    .await
            }
            NodeKind::End {} => Ok(done(Next::End)),
            NodeKind::WebhookCall { .. } if self.dry => self.webhook_dry_run(),
            // The worker sends calls outside the step's transaction (`webhooks::call`).
            NodeKind::WebhookCall { .. } => Err(Failure::fixed(
                "internal",
                "a webhook_call is not run inside a step transaction",
            )),
        }
    }

    /// `now` plus a span: days are calendar days in the configured zone.
    pub(super) fn after(&self, span: Span) -> std::result::Result<OffsetDateTime, Failure> {
        let now = self.scope.time.now;
        let local = now.to_offset(self.engine.utc_offset_at(now));
        let date = local
            .date()
            .checked_add(time::Duration::days(span.days.unwrap_or(0)))
            .ok_or_else(|| Failure::fixed("arithmetic", "时间超出范围 / time out of range"))?;
        let moved = self.scope.time.local_instant(date, local.time());
        Ok(moved
            + time::Duration::hours(span.hours.unwrap_or(0))
            + time::Duration::minutes(span.minutes.unwrap_or(0)))
    }

    /// The record a node acts on: the trigger's, or the one `target` references.
    async fn acting(
        &mut self,
        conn: &mut Conn<'_>,
        target: Option<&str>,
    ) -> std::result::Result<Loaded, Failure> {
        let record = self.scope.record.clone().ok_or_else(|| {
            Failure::fixed(
                "no_record",
                "该运行没有可操作的记录 / the run has no record to act on",
            )
        })?;
        let Some(target) = target else {
            return Ok(record);
        };
        let field = record.rt.definition().field(target).cloned();
        let (Some(field), Some(id)) = (
            field,
            record
                .plain
                .get(target)
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
        ) else {
            return Err(Failure::fixed(
                "no_target",
                format!(
                    "节点 {}：引用字段 {target} 为空 / the reference {target} is empty",
                    self.node.id
                ),
            ));
        };
        let entity = field
            .entity
            .as_ref()
            .map(|e| e.as_str().to_string())
            .unwrap_or_default();
        let rt = self.engine.entity(&entity).await?;
        Loaded::load(self.engine, conn, rt, id, !self.dry)
            .await?
            .ok_or_else(|| Failure::fixed("no_target", format!("节点 {}：{target} 指向的记录不存在 / the record {target} points at is gone", self.node.id)))
    }

    /// A `set` map's values, evaluated, typed by the fields they go to.
    fn values(
        &self,
        rt: &crate::entities::EntityRuntime,
        set: &Map<String, Value>,
        input: &mut Traced,
    ) -> std::result::Result<Map<String, Value>, Failure> {
        let mut out = Map::new();
        for (name, value) in set {
            let field = rt.definition().field(name);
            let money = field.is_some_and(|f| f.value_type() == FieldType::Money);
            let mut v = match as_expr(value) {
                Some(source) if money => {
                    let d = self.eval(source)?;
                    if d.is_unit() {
                        Value::Null
                    } else {
                        crate::expr::dynamic_to_fen(&d)
                            .map(crate::forms::checks::fen_to_json)
                            .ok_or_else(|| Failure::fixed("arithmetic", format!("节点 {}：{name} 不是金额或超出范围 / {name} is no amount or out of range", self.node.id)))?
                    }
                }
                Some(source) => {
                    let d = self.eval(source)?;
                    dynamic_to_json(&d).ok_or_else(|| Failure::fixed("wrong_result_type", format!("节点 {}：{name} 的值无法保存 / the value for {name} cannot be stored", self.node.id)))?
                }
                None => value.clone(),
            };
            if let Some(f) = field {
                match (f.value_type(), &v) {
                    (FieldType::Money, Value::Number(n)) if n.is_f64() => {
                        let x = n.as_f64().unwrap_or_default();
                        v = crate::expr::dynamic_to_fen(&Dynamic::from_float(x))
                            .map(crate::forms::checks::fen_to_json)
                            .ok_or_else(|| Failure::fixed("arithmetic", format!("节点 {}：{name} 超出金额范围 / {name} is out of the money range", self.node.id)))?;
                    }
                    (FieldType::Reference, Value::Object(m)) => {
                        v = m.get("id").cloned().unwrap_or(Value::Null)
                    }
                    _ => {}
                }
                let path = format!("set.{name}");
                *input = std::mem::take(input).tied(
                    &path,
                    v.clone(),
                    rt.name(),
                    name,
                    f.is_sensitive(),
                    &self.engine.keys,
                );
            }
            out.insert(name.clone(), v);
        }
        Ok(out)
    }

    async fn write_update(
        &mut self,
        conn: &mut Conn<'_>,
        acting: &Loaded,
        data: Map<String, Value>,
    ) -> std::result::Result<i64, Failure> {
        if self.dry {
            if let Some(rec) = self.scope.record.as_mut().filter(|r| r.id == acting.id) {
                rec.plain.extend(data);
            }
            return Ok(acting.version);
        }
        let stored = match &acting.locked {
            Some(stored) => stored.clone(),
            None => rows::load(conn, &acting.rt, acting.id, true)
                .await?
                .filter(|r| r.deleted_at.is_none())
                .ok_or_else(|| Failure::fixed("not_found", "记录已删除 / the record is gone"))?,
        };
        let Some(written) = self
            .engine
            .apply_update(conn, &acting.rt, self.principal, &stored, &data, Lang::Zh)
            .await?
        else {
            return Ok(stored.version);
        };
        let version = written.version;
        // The run's record as now written, for what follows in this step.
        if let Some(record) = self.scope.record.as_mut().filter(|r| r.id == acting.id) {
            record.plain = projection::unseal(&acting.rt, &written.sealed, &self.engine.keys)?;
            record.version = version;
            record.locked = Some(written);
        }
        Ok(version)
    }

    async fn update_record(
        &mut self,
        conn: &mut Conn<'_>,
        set: &Map<String, Value>,
        target: Option<&str>,
    ) -> NodeResult {
        let acting = self.acting(conn, target).await?;
        let mut input = Traced::default();
        let data = self.values(&acting.rt, set, &mut input)?;
        let would = json!({"entity": acting.rt.name(), "id": acting.id, "set": data});
        let version = self.write_update(conn, &acting, data).await?;
        let mut d = done(Next::Edge(None));
        d.input = input;
        d.output = Traced::default()
            .plain("entity", json!(acting.rt.name()))
            .plain("id", json!(acting.id))
            .plain("version", json!(version));
        d.would = Some(would);
        Ok(d)
    }

    async fn change_tags(
        &mut self,
        conn: &mut Conn<'_>,
        field: Option<&str>,
        tags: &Value,
        target: Option<&str>,
        add: bool,
    ) -> NodeResult {
        let acting = self.acting(conn, target).await?;
        let field = match field {
            Some(f) => f.to_string(),
            None => acting
                .rt
                .definition()
                .fields
                .iter()
                .find(|f| matches!(f.field_type, FieldType::Tags | FieldType::Multiselect))
                .map(|f| f.name.to_string())
                .ok_or_else(|| Failure::fixed("no_tag_field", "没有标签字段 / no tags field"))?,
        };
        let wanted: Vec<String> = match as_expr(tags) {
            Some(source) => {
                let d = self.eval(source)?;
                match dynamic_to_json(&d) {
                    Some(Value::Array(items)) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                    Some(Value::String(s)) => vec![s],
                    _ => return Err(Failure::fixed("wrong_result_type", format!("节点 {}：标签须为文字或文字列表 / tags must be text or a list of texts", self.node.id))),
                }
            }
            None => tags
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut current: Vec<String> = acting
            .plain
            .get(&field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let before = current.clone();
        if add {
            for t in &wanted {
                if !current.contains(t) {
                    current.push(t.clone());
                }
            }
        } else {
            current.retain(|t| !wanted.contains(t));
        }
        let mut d = done(Next::Edge(None));
        d.input = Traced::default()
            .plain("tags", json!(wanted))
            .plain("field", json!(field));
        let version = if current == before {
            acting.version
        } else {
            let mut data = Map::new();
            data.insert(field.clone(), json!(current));
            d.would = Some(json!({"entity": acting.rt.name(), "id": acting.id, "set": data}));
            self.write_update(conn, &acting, data).await?
        };
        d.output = Traced::default()
            .plain("entity", json!(acting.rt.name()))
            .plain("id", json!(acting.id))
            .plain("version", json!(version));
        Ok(d)
    }

    /// Creates a record of `entity` from `data` in the step's transaction. The idempotency key
    /// makes a repeated step find its earlier record instead of making a second.
    async fn insert(
        &mut self,
        conn: &mut Conn<'_>,
        entity: &str,
        data: Map<String, Value>,
    ) -> std::result::Result<Uuid, Failure> {
        let rt = self.engine.entity(entity).await?;
        if self.dry {
            rt.compiled
                .prepare(&data, None, &self.engine.prepare_context(Lang::Zh))
                .map_err(|details| Failure::from(EngineError::Validation { details }))?;
            return Ok(Uuid::nil());
        }
        let plain = rt
            .compiled
            .prepare(&data, None, &self.engine.prepare_context(Lang::Zh))
            .map_err(|details| Failure::from(EngineError::Validation { details }))?;
        let ids = self
            .engine
            .insert_prepared(conn, &rt, self.principal, vec![plain], Lang::Zh)
            .await?;
        let id = ids
            .first()
            .copied()
            .ok_or_else(|| Failure::fixed("internal", "no record inserted"))?;
        Ok(id)
    }

    fn subject_of(acting: Option<&Loaded>) -> Value {
        acting.map_or(Value::Null, |a| json!({"entity": a.rt.name(), "id": a.id}))
    }

    async fn create_record(
        &mut self,
        conn: &mut Conn<'_>,
        entity: &str,
        set: &Map<String, Value>,
        target: Option<&str>,
        link: Option<&str>,
    ) -> NodeResult {
        let rt = self.engine.entity(entity).await?;
        let mut input = Traced::default();
        let mut data = self.values(&rt, set, &mut input)?;
        if let Some(link) = link {
            let acting = self.acting(conn, target).await?;
            let value = match rt.definition().field(link).map(|f| f.field_type) {
                Some(FieldType::Reference) => json!(acting.id),
                _ => Self::subject_of(Some(&acting)),
            };
            data.insert(link.to_string(), value);
        }
        let would = json!({"entity": entity, "data": data});
        let id = self.insert(conn, entity, data).await?;
        let mut d = done(Next::Edge(None));
        d.input = input;
        d.output = Traced::default()
            .plain("entity", json!(entity))
            .plain("id", json!(id));
        d.would = Some(would);
        Ok(d)
    }

    /// The newest consent for the subject and purpose decides; without one, clinical
    /// follow-up and service notices may be sent and the rest may not.
    async fn consented(
        &self,
        conn: &mut Conn<'_>,
        subject: &Value,
        purpose: &str,
        channel: &str,
    ) -> std::result::Result<bool, Failure> {
        let default = matches!(purpose, "clinical_follow_up" | "service_notice");
        let (Some(entity), Some(id)) = (
            subject.get("entity").and_then(Value::as_str),
            subject.get("id").and_then(Value::as_str),
        ) else {
            return Ok(default);
        };
        let Ok(rt) = self.engine.entity("consent").await else {
            return Ok(default);
        };
        let column = |f: &str| {
            rt.field_storage(f)
                .and_then(|s| s.column().map(str::to_string))
        };
        let (
            Some(subject_id),
            Some(purpose_col),
            Some(channel_col),
            Some(granted_col),
            Some(at_col),
        ) = (
            column("subject"),
            column("purpose"),
            column("channel"),
            column("granted"),
            column("at"),
        )
        else {
            return Ok(default);
        };
        // A subject projects into `f_<field>__e` (entity) beside `f_<field>` (id).
        let subject_entity = format!("{subject_id}__e");
        let q = crate::entities::storage::q;
        let sql = format!(
            "SELECT {granted} AS granted FROM {table} WHERE deleted_at IS NULL AND {se} = $1 AND {si} = $2 AND {p} = $3 \
             AND ({c} IS NULL OR {c} = $4) ORDER BY {at} DESC, id DESC LIMIT 1",
            granted = q(&granted_col),
            table = q(&rt.table),
            se = q(&subject_entity),
            si = q(&subject_id),
            p = q(&purpose_col),
            c = q(&channel_col),
            at = q(&at_col),
        );
        let id = Uuid::parse_str(id).map_err(|_| Failure::fixed("internal", "bad subject id"))?;
        let row = conn
            .fetch_optional(
                &sql,
                vec![
                    Arg::from(entity),
                    Arg::from(id),
                    Arg::from(purpose),
                    Arg::from(channel),
                ],
            )
            .await?;
        Ok(match row {
            Some(r) => r.bool("granted")?.unwrap_or(false),
            None => default,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_message(
        &mut self,
        conn: &mut Conn<'_>,
        channel: &str,
        to: &Value,
        template: &str,
        title: Option<&str>,
        purpose: Option<&str>,
        target: Option<&str>,
    ) -> NodeResult {
        let acting = if self.scope.record.is_some() {
            Some(self.acting(conn, target).await?)
        } else {
            None
        };
        let recipient = match as_expr(to) {
            Some(source) => dynamic_to_json(&self.eval(source)?).unwrap_or(Value::Null),
            None => to.clone(),
        };
        let recipient = match recipient {
            Value::String(s) if !s.trim().is_empty() => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(Failure::fixed(
                    "empty_recipient",
                    format!("节点 {}：接收人为空 / the recipient is empty", self.node.id),
                ))
            }
        };
        let body = self.render(template)?;
        let title = title.map(|t| self.render(t)).transpose()?;
        let purpose = purpose.unwrap_or("service_notice");
        let subject = Self::subject_of(acting.as_ref());
        let allowed = self.consented(conn, &subject, purpose, channel).await?;
        let status = if allowed { "pending" } else { "blocked" };
        let mut data = Map::new();
        data.insert("channel".into(), json!(channel));
        data.insert("recipient".into(), json!(recipient));
        if !subject.is_null() {
            data.insert("subject".into(), subject.clone());
        }
        data.insert("purpose".into(), json!(purpose));
        data.insert("body".into(), json!(body));
        if let Some(t) = &title {
            data.insert("title".into(), json!(t));
        }
        data.insert("status".into(), json!(status));
        if !allowed {
            data.insert("last_error".into(), json!("no_consent"));
        }
        data.insert(
            "idempotency_key".into(),
            json!(format!("{}:{}", self.run_id, self.node.id)),
        );
        data.insert("run_id".into(), json!(self.run_id.to_string()));
        let keys = &self.engine.keys;
        // Shown only through the reader's field rules (`dry_run::shown_would`).
        let would_data = data.clone();
        let id = self.insert(conn, MESSAGE_ENTITY, data).await?;
        let mut d = done(Next::Edge(None));
        d.input = Traced::default()
            .tied(
                "to",
                json!(recipient),
                MESSAGE_ENTITY,
                "recipient",
                true,
                keys,
            )
            .plain("purpose", json!(purpose))
            .plain("channel", json!(channel));
        d.output = Traced::default()
            .plain("entity", json!(MESSAGE_ENTITY))
            .plain("id", json!(id))
            .plain("status", json!(status));
        d.would = Some(json!({"entity": MESSAGE_ENTITY, "data": would_data}));
        Ok(d)
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_task(
        &mut self,
        conn: &mut Conn<'_>,
        title: &str,
        description: Option<&str>,
        assignee: &Assignee,
        due: Option<&Due>,
        priority: Option<&str>,
        target: Option<&str>,
        outcomes: Option<&[String]>,
    ) -> NodeResult {
        let acting = if self.scope.record.is_some() {
            Some(self.acting(conn, target).await?)
        } else {
            None
        };
        let mut data = Map::new();
        data.insert("title".into(), json!(self.render(title)?));
        if let Some(outcomes) = outcomes {
            data.insert("outcomes".into(), json!(outcomes));
        }
        if let Some(d) = description {
            data.insert("description".into(), json!(self.render(d)?));
        }
        let subject = Self::subject_of(acting.as_ref());
        if !subject.is_null() {
            data.insert("subject".into(), subject);
        }
        match assignee {
            Assignee::Role { role } => {
                data.insert("assignee_role".into(), json!(role));
            }
            Assignee::User { user } => {
                let row = conn
                    .fetch_optional(
                        "SELECT id FROM users WHERE username = $1",
                        vec![Arg::from(user.as_str())],
                    )
                    .await?;
                let id = row.map(|r| r.req_uuid("id")).transpose()?.ok_or_else(|| {
                    Failure::fixed(
                        "unknown_user",
                        format!(
                            "节点 {}：用户不存在 / the user does not exist",
                            self.node.id
                        ),
                    )
                })?;
                data.insert("assignee_user".into(), json!(id));
            }
            Assignee::UserExpr { user } => {
                let v = dynamic_to_json(&self.eval(&user.expr)?).unwrap_or(Value::Null);
                data.insert("assignee_user".into(), v);
            }
        }
        let due_at = match due {
            Some(Due::Span(span)) => Some(format_datetime_utc(self.after(*span)?)),
            Some(Due::Expr(e)) => {
                dynamic_to_json(&self.eval(&e.expr)?).and_then(|v| v.as_str().map(str::to_string))
            }
            None => None,
        };
        if let Some(due_at) = due_at {
            data.insert("due_at".into(), json!(due_at));
        }
        data.insert("priority".into(), json!(priority.unwrap_or("normal")));
        data.insert("status".into(), json!("open"));
        data.insert(
            "idempotency_key".into(),
            json!(format!("{}:{}", self.run_id, self.node.id)),
        );
        data.insert("run_id".into(), json!(self.run_id.to_string()));
        let would = json!({"entity": TASK_ENTITY, "data": data});
        let id = self.insert(conn, TASK_ENTITY, data).await?;
        let mut d = done(Next::Edge(None));
        d.output = Traced::default()
            .plain("entity", json!(TASK_ENTITY))
            .plain("id", json!(id));
        d.would = Some(would);
        Ok(d)
    }
}
