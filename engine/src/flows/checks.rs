//! The checks a flow passes on save (docs/flows.md, section 3), after its shape: entities and
//! fields exist with fitting types, expressions compile, templates parse, references are
//! followed one hop, and no sensitive value is copied anywhere plain. Every problem at once,
//! each naming its node.

use super::compiled::{node_exprs, node_templates, CompiledFlow};
use super::definition::{as_expr, Assignee, FlowDefinition, NodeKind, Trigger, WatchChange};
use super::graph::{FlowGraph, TRIGGER};
use super::templates;
use crate::entities::EntityRuntime;
use crate::error::FieldError;
use crate::expr::{self, Read, Root};
use crate::forms::{FieldDef, FieldType};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Fields every record has besides its definition's.
const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
];

/// The entities the core pack provides for `create_task`, `approval` and `send_message`.
pub const TASK_ENTITY: &str = "task";
pub const MESSAGE_ENTITY: &str = "message";

/// Trigger and node types the runtime carries out today. The format has more (docs/flows.md);
/// a flow using one of the others is refused on save rather than saved and never run.
pub const RUNNABLE_TRIGGERS: &[&str] = &[
    "record_created",
    "record_updated",
    "record_deleted",
    "date_relative",
    "cron",
    "manual",
    "webhook",
    "segment_batch",
];
pub const RUNNABLE_NODES: &[&str] = &[
    "condition",
    "switch",
    "update_record",
    "create_record",
    "create_task",
    "send_message",
    "add_tag",
    "remove_tag",
    "delay",
    "webhook_call",
    "wait_until",
    "approval",
    "end",
];

/// What the checks look things up in.
pub struct CheckContext<'a> {
    pub entities: &'a HashMap<String, Arc<EntityRuntime>>,
    pub users: &'a HashSet<String>,
    pub roles: &'a HashSet<String>,
    pub webhook_allow: &'a [String],
}

struct Checker<'a> {
    def: &'a FlowDefinition,
    ctx: &'a CheckContext<'a>,
    graph: Option<&'a FlowGraph>,
    problems: Vec<FieldError>,
}

/// Where an expression's value goes: whether that place may hold a sensitive value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// A boolean or a time: nothing of a value stays behind.
    Test,
    Plain,
    Sensitive,
}

impl<'a> Checker<'a> {
    fn push(&mut self, node: Option<&str>, field: String, code: &str, zh: String, en: String) {
        self.problems.push(FieldError::in_node(
            node,
            field,
            code,
            format!("{zh} / {en}"),
        ));
    }

    fn entity(&self, name: &str) -> Option<&'a Arc<EntityRuntime>> {
        self.ctx.entities.get(name)
    }

    fn trigger_entity(&self) -> Option<&'a Arc<EntityRuntime>> {
        self.def.trigger.entity().and_then(|e| self.entity(e))
    }

    fn field<'r>(rt: &'r EntityRuntime, name: &str) -> Option<&'r FieldDef> {
        rt.definition().field(name)
    }

    fn has_field(rt: &EntityRuntime, name: &str) -> bool {
        SYSTEM_FIELDS.contains(&name) || rt.definition().field(name).is_some()
    }

    fn unknown_field(&mut self, node: Option<&str>, path: String, rt: &EntityRuntime, name: &str) {
        let entity = rt.name().to_string();
        self.push(
            node,
            path,
            "unknown_field",
            format!("{entity} 没有字段 {name}"),
            format!("{entity} has no field {name}"),
        );
    }

    fn check_trigger(&mut self) {
        let node = Some(TRIGGER);
        if !RUNNABLE_TRIGGERS.contains(&self.def.trigger.kind()) {
            let kind = self.def.trigger.kind();
            self.push(
                node,
                "trigger.type".into(),
                "not_supported",
                format!("触发器类型 {kind} 尚未提供"),
                format!("trigger type {kind} is not available yet"),
            );
        }
        if let Some(entity) = self.def.trigger.entity() {
            if self.entity(entity).is_none() {
                self.push(
                    node,
                    "trigger.entity".into(),
                    "unknown_entity",
                    format!("表单 {entity} 不存在"),
                    format!("no entity {entity}"),
                );
                return;
            }
        }
        let rt = self.trigger_entity();
        match &self.def.trigger {
            Trigger::RecordUpdated {
                fields: Some(fields),
                ..
            } => {
                if let Some(rt) = rt {
                    for (i, f) in fields.iter().enumerate() {
                        if Self::field(rt, f).is_none() {
                            self.unknown_field(node, format!("trigger.fields.{i}"), rt, f);
                        }
                    }
                }
            }
            Trigger::DateRelative { field, .. } => {
                if let Some(rt) = rt {
                    let def = Self::field(rt, field);
                    match def.map(FieldDef::value_type) {
                        None => self.unknown_field(node, "trigger.field".into(), rt, field),
                        // Sensitive values are ciphertext: no range of them can be scanned.
                        Some(FieldType::Date | FieldType::Datetime)
                            if def.is_some_and(FieldDef::is_sensitive) =>
                        {
                            self.push(
                                node,
                                "trigger.field".into(),
                                "sensitive_field",
                                format!("{field} 是敏感字段，不能用作定时依据"),
                                format!("{field} is sensitive and cannot time a flow"),
                            )
                        }
                        Some(FieldType::Date | FieldType::Datetime) => {}
                        Some(_) => self.push(
                            node,
                            "trigger.field".into(),
                            "wrong_type",
                            format!("{field} 不是日期字段"),
                            format!("{field} is not a date field"),
                        ),
                    }
                }
            }
            Trigger::Webhook {
                secret, secret_set, ..
            } if secret.is_none() && secret_set != &Some(true) => {
                self.push(
                    node,
                    "trigger.secret".into(),
                    "required",
                    "入站 Webhook 需要密钥".into(),
                    "an inbound webhook needs a secret".into(),
                );
            }
            Trigger::Cron { cron, .. } | Trigger::SegmentBatch { cron, .. }
                if super::schedules::CronSchedule::parse(cron).is_err() =>
            {
                self.push(
                    node,
                    "trigger.cron".into(),
                    "bad_cron",
                    "定时规则无效：须为 5 段（分 时 日 月 周）".into(),
                    "the schedule is not a valid 5-field cron pattern (minute hour day month weekday)"
                        .into(),
                );
            }
            _ => {}
        }
        if let (Some(filter), Some(rt)) = (self.def.trigger.filter(), rt) {
            self.check_filter(node, "trigger.filter".into(), rt, filter);
        }
    }

    fn check_filter(
        &mut self,
        node: Option<&str>,
        path: String,
        rt: &EntityRuntime,
        filter: &serde_json::Value,
    ) {
        match crate::query::FilterExpr::parse(filter.clone()) {
            Err(e) => self.push(
                node,
                path,
                "bad_filter",
                "筛选条件有误".into(),
                format!("bad filter: {e}"),
            ),
            Ok(parsed) => {
                if !parsed.segments().is_empty() {
                    self.push(
                        node,
                        path.clone(),
                        "segment_not_here",
                        "流程的筛选条件中不能引用分群，请在分群批量触发器的 segment 中指定".into(),
                        "a flow's filter cannot name a segment; name it as the segment_batch trigger's segment".into(),
                    );
                }
                for (field, _) in parsed.conditions() {
                    if !Self::has_field(rt, field) {
                        self.unknown_field(node, path.clone(), rt, field);
                    }
                }
                for entity in parsed.related_entities() {
                    if self.entity(&entity).is_none() {
                        self.push(
                            node,
                            path.clone(),
                            "unknown_entity",
                            format!("表单 {entity} 不存在"),
                            format!("no entity {entity}"),
                        );
                    }
                }
            }
        }
    }

    /// The entity a node acts on: the trigger's, or the one its `target` references.
    fn acting_entity(
        &mut self,
        node: &str,
        path: &str,
        target: Option<&str>,
    ) -> Option<&'a Arc<EntityRuntime>> {
        let rt = self.trigger_entity()?;
        let Some(target) = target else {
            return Some(rt);
        };
        match Self::field(rt, target) {
            Some(f) if f.field_type == FieldType::Reference => {
                let referenced = f.entity.as_ref().map(|e| e.as_str().to_string());
                referenced.and_then(|e| self.entity(&e))
            }
            Some(_) => {
                self.push(
                    Some(node),
                    format!("{path}.target"),
                    "not_a_reference",
                    format!("{target} 不是引用字段"),
                    format!("{target} is not a reference field"),
                );
                None
            }
            None => {
                self.unknown_field(Some(node), format!("{path}.target"), rt, target);
                None
            }
        }
    }

    /// Checks the names an expression or template reads; answers whether it reads a sensitive
    /// value.
    fn check_reads(&mut self, node: &str, path: &str, reads: &[Read]) -> bool {
        let mut sensitive = false;
        let record_rt = self.trigger_entity();
        for read in reads {
            match read.root {
                Root::Record | Root::Old => {
                    if read.root == Root::Old
                        && !matches!(self.def.trigger, Trigger::RecordUpdated { .. })
                    {
                        self.push(
                            Some(node),
                            path.into(),
                            "old_not_available",
                            "只有“记录更新”触发器可以使用 old".into(),
                            "old exists only under record_updated".into(),
                        );
                        continue;
                    }
                    let Some(rt) = record_rt else {
                        self.push(
                            Some(node),
                            path.into(),
                            "no_record",
                            "该触发器没有记录，不能使用 record".into(),
                            "this trigger has no record".into(),
                        );
                        continue;
                    };
                    if SYSTEM_FIELDS.contains(&read.name.as_str()) {
                        continue;
                    }
                    let Some(f) = Self::field(rt, &read.name) else {
                        self.unknown_field(Some(node), path.into(), rt, &read.name);
                        continue;
                    };
                    sensitive |= f.is_sensitive();
                    let Some(then) = &read.then else { continue };
                    if f.field_type != FieldType::Reference || read.root == Root::Old {
                        let name = &read.name;
                        self.push(
                            Some(node),
                            path.into(),
                            "not_a_reference",
                            format!("{name} 不是引用字段，不能继续读取"),
                            format!("{name} is not a reference and cannot be followed"),
                        );
                        continue;
                    }
                    if read.deeper {
                        self.push(
                            Some(node),
                            path.into(),
                            "too_deep",
                            "引用只能跟随一层".into(),
                            "a reference is followed one hop only".into(),
                        );
                    }
                    let target = f.entity.as_ref().and_then(|e| self.entity(e.as_str()));
                    if let Some(target) = target {
                        if SYSTEM_FIELDS.contains(&then.as_str()) {
                            continue;
                        }
                        match Self::field(target, then) {
                            Some(tf) => sensitive |= tf.is_sensitive(),
                            None => self.unknown_field(Some(node), path.into(), target, then),
                        }
                    }
                }
                Root::Body => {
                    if !matches!(self.def.trigger, Trigger::Webhook { .. }) {
                        self.push(
                            Some(node),
                            path.into(),
                            "body_not_available",
                            "只有 Webhook 触发器可以使用 body".into(),
                            "body exists only under webhook".into(),
                        );
                    }
                }
                Root::Steps => {
                    let before = self.graph.is_none_or(|g| g.precedes(&read.name, node));
                    if !before {
                        let name = &read.name;
                        self.push(
                            Some(node),
                            path.into(),
                            "unknown_step",
                            format!("步骤 {name} 不在此节点之前"),
                            format!("step {name} does not run before this node"),
                        );
                    }
                }
            }
        }
        sensitive
    }

    fn check_expr(
        &mut self,
        flow: &mut CompiledFlow,
        node: &str,
        path: &str,
        source: &str,
        sink: Sink,
    ) {
        if let Err(e) = flow.add_expr(source) {
            self.push(
                Some(node),
                path.into(),
                "expr_compile",
                format!("表达式有误：{}", e.message()),
                "the expression does not compile".into(),
            );
            return;
        }
        let reads = expr::reads(source);
        if self.check_reads(node, path, &reads) && sink == Sink::Plain {
            self.push(
                Some(node),
                path.into(),
                "sensitive_to_plain",
                "不能把敏感字段的值写入非敏感的位置".into(),
                "a sensitive value cannot be copied into a place that is not sensitive".into(),
            );
        }
    }

    fn check_set(
        &mut self,
        flow: &mut CompiledFlow,
        node: &str,
        path: &str,
        rt: &EntityRuntime,
        set: &serde_json::Map<String, serde_json::Value>,
    ) {
        for (name, value) in set {
            let slot = format!("{path}.set.{name}");
            let Some(f) = Self::field(rt, name) else {
                self.unknown_field(Some(node), slot, rt, name);
                continue;
            };
            if f.field_type.is_computed() {
                self.push(
                    Some(node),
                    slot,
                    "computed_field",
                    format!("{name} 由系统计算，不能赋值"),
                    format!("{name} is computed and cannot be set"),
                );
                continue;
            }
            match as_expr(value) {
                Some(source) => {
                    let sink = if f.is_sensitive() {
                        Sink::Sensitive
                    } else {
                        Sink::Plain
                    };
                    self.check_expr(flow, node, &format!("{slot}.expr"), source, sink);
                }
                None if f.field_type == FieldType::Select => {
                    let known = value
                        .as_str()
                        .is_some_and(|v| f.options.iter().any(|o| o.value == v));
                    if !known && !value.is_null() {
                        self.push(
                            Some(node),
                            slot,
                            "unknown_option",
                            format!("{name} 没有这个选项"),
                            format!("{name} has no such option"),
                        );
                    }
                }
                None => {}
            }
        }
    }

    fn check_node(&mut self, flow: &mut CompiledFlow, index: usize) {
        let node = &self.def.nodes[index];
        let id = node.id.as_str();
        let path = format!("nodes.{index}");
        if !RUNNABLE_NODES.contains(&node.kind.kind()) {
            let kind = node.kind.kind();
            self.push(
                Some(id),
                format!("{path}.type"),
                "not_supported",
                format!("节点类型 {kind} 尚未提供"),
                format!("node type {kind} is not available yet"),
            );
        }
        // Record-bound nodes need a live record to act on.
        let needs_record = matches!(
            node.kind,
            NodeKind::UpdateRecord { .. } | NodeKind::AddTag { .. } | NodeKind::RemoveTag { .. }
        ) || matches!(&node.kind, NodeKind::CreateRecord { link: Some(_), .. });
        if needs_record && !self.def.trigger.has_live_record() && node.kind.target().is_none() {
            self.push(
                Some(id),
                path.clone(),
                "no_record",
                "该触发器没有可操作的记录".into(),
                "this trigger has no record to act on".into(),
            );
        }
        let acting = if self.def.trigger.entity().is_some() {
            self.acting_entity(id, &path, node.kind.target())
        } else {
            None
        };
        // Expressions in slots the kind-specific checks below do not cover.
        for (slot, source) in node_exprs(&node.kind) {
            if slot.starts_with("set.") {
                continue;
            }
            let sink = match slot.as_str() {
                "to.expr" => Sink::Sensitive,
                "expr" | "until.expr" | "due.expr" | "change.expr" | "assignee.user.expr" => {
                    Sink::Test
                }
                s if s.starts_with("cases.") => Sink::Test,
                s if s.starts_with("body") => {
                    if matches!(
                        &node.kind,
                        NodeKind::WebhookCall {
                            sends_sensitive: Some(true),
                            ..
                        }
                    ) {
                        Sink::Sensitive
                    } else {
                        Sink::Plain
                    }
                }
                _ => Sink::Plain,
            };
            self.check_expr(flow, id, &format!("{path}.{slot}"), source, sink);
        }
        for (slot, source) in node_templates(&node.kind) {
            let field = format!("{path}.{slot}");
            if let Err(why) = flow.templates.add(source) {
                self.push(
                    Some(id),
                    field,
                    "template_parse",
                    why,
                    "the template does not parse".into(),
                );
                continue;
            }
            if self.check_reads(id, &field, &templates::reads(source)) {
                self.push(
                    Some(id),
                    field,
                    "sensitive_to_plain",
                    "文本内容不能引用敏感字段".into(),
                    "a text cannot show a sensitive field".into(),
                );
            }
        }
        match &node.kind {
            NodeKind::Condition {
                filter: Some(filter),
                ..
            } => {
                if let Some(rt) = self.trigger_entity() {
                    self.check_filter(Some(id), format!("{path}.filter"), rt, filter);
                }
            }
            NodeKind::Switch { cases, .. } => {
                for (c, case) in cases.iter().enumerate() {
                    if let (Some(filter), Some(rt)) = (&case.filter, self.trigger_entity()) {
                        self.check_filter(Some(id), format!("{path}.cases.{c}.filter"), rt, filter);
                    }
                }
            }
            NodeKind::UpdateRecord { set, .. } => {
                if let Some(rt) = acting {
                    self.check_set(flow, id, &path, rt, set);
                }
            }
            NodeKind::CreateRecord {
                entity, set, link, ..
            } => {
                if entity == TASK_ENTITY || entity == MESSAGE_ENTITY {
                    self.push(
                        Some(id),
                        format!("{path}.entity"),
                        "core_entity",
                        "任务与消息请用对应节点创建".into(),
                        "tasks and messages are made by their own nodes".into(),
                    );
                }
                match self.entity(entity) {
                    None => self.push(
                        Some(id),
                        format!("{path}.entity"),
                        "unknown_entity",
                        format!("表单 {entity} 不存在"),
                        format!("no entity {entity}"),
                    ),
                    Some(rt) => {
                        self.check_set(flow, id, &path, rt, set);
                        if let Some(link) = link {
                            let fits = Self::field(rt, link).is_some_and(|f| {
                                f.field_type.as_str() == "subject"
                                    || (f.field_type == FieldType::Reference
                                        && acting.is_some_and(|a| {
                                            f.entity
                                                .as_ref()
                                                .is_some_and(|e| e.as_str() == a.name())
                                        }))
                            });
                            if !fits {
                                self.push(
                                    Some(id),
                                    format!("{path}.link"),
                                    "bad_link",
                                    format!("{link} 不是指向该记录的引用字段"),
                                    format!("{link} is not a reference to the record acted on"),
                                );
                            }
                        }
                    }
                }
            }
            NodeKind::AddTag { field, .. } | NodeKind::RemoveTag { field, .. } => {
                if let Some(rt) = acting {
                    let tag_fields: Vec<&FieldDef> = rt
                        .definition()
                        .fields
                        .iter()
                        .filter(|f| {
                            matches!(f.field_type, FieldType::Tags | FieldType::Multiselect)
                        })
                        .collect();
                    let ok = match field {
                        Some(name) => tag_fields.iter().any(|f| f.name.as_str() == name),
                        None => tag_fields.len() == 1,
                    };
                    if !ok {
                        self.push(
                            Some(id),
                            format!("{path}.field"),
                            "no_tag_field",
                            "需要一个标签或多选字段".into(),
                            "a tags or multiselect field is needed".into(),
                        );
                    }
                }
            }
            NodeKind::CreateTask { assignee, .. } | NodeKind::Approval { assignee, .. } => {
                self.check_assignee(id, &path, assignee);
            }
            NodeKind::WaitUntil {
                change: Some(change),
                ..
            } => {
                self.check_watch(id, &path, change);
                if let Some(watched) = &change.node {
                    let earlier = self.graph.is_none_or(|g| g.precedes(watched, id));
                    let makes = self.def.nodes.iter().any(|n| {
                        &n.id == watched
                            && matches!(
                                n.kind,
                                NodeKind::SendMessage { .. }
                                    | NodeKind::CreateTask { .. }
                                    | NodeKind::CreateRecord { .. }
                            )
                    });
                    if !earlier || !makes {
                        self.push(
                            Some(id),
                            format!("{path}.change.node"),
                            "unknown_step",
                            format!("{watched} 不是此前创建记录的节点"),
                            format!("{watched} is not an earlier node that makes a record"),
                        );
                    }
                }
            }
            NodeKind::WebhookCall { url, .. }
                if !self
                    .ctx
                    .webhook_allow
                    .iter()
                    .any(|prefix| url.starts_with(prefix.as_str())) =>
            {
                self.push(
                    Some(id),
                    format!("{path}.url"),
                    "url_not_allowed",
                    "该地址不在允许的 Webhook 地址列表中（flow_webhook_allow）".into(),
                    "the URL is not among the allowed webhook prefixes (flow_webhook_allow)".into(),
                );
            }
            _ => {}
        }
        if matches!(
            node.kind,
            NodeKind::CreateTask { .. } | NodeKind::Approval { .. }
        ) && self.entity(TASK_ENTITY).is_none()
        {
            self.push(
                Some(id),
                path.clone(),
                "unknown_entity",
                "任务表单不存在".into(),
                "the task entity is missing".into(),
            );
        }
        if matches!(node.kind, NodeKind::SendMessage { .. })
            && self.entity(MESSAGE_ENTITY).is_none()
        {
            self.push(
                Some(id),
                path,
                "unknown_entity",
                "消息表单不存在".into(),
                "the message entity is missing".into(),
            );
        }
    }

    /// The entity a `change` wait watches: the record an earlier node made, or the trigger's.
    fn watched_entity(&self, change: &WatchChange) -> Option<&'a Arc<EntityRuntime>> {
        match &change.node {
            None => self.trigger_entity(),
            Some(watched) => {
                self.def
                    .nodes
                    .iter()
                    .find(|n| &n.id == watched)
                    .and_then(|n| match &n.kind {
                        NodeKind::SendMessage { .. } => self.entity(MESSAGE_ENTITY),
                        NodeKind::CreateTask { .. } => self.entity(TASK_ENTITY),
                        NodeKind::CreateRecord { entity, .. } => self.entity(entity),
                        _ => None,
                    })
            }
        }
    }

    /// A `change` wait's fields and filter exist on the record it watches; without `node` the
    /// trigger must have a record.
    fn check_watch(&mut self, id: &str, path: &str, change: &WatchChange) {
        if change.node.is_none() && !self.def.trigger.has_live_record() {
            self.push(
                Some(id),
                format!("{path}.change"),
                "no_record",
                "该触发器没有可等待变化的记录".into(),
                "this trigger has no record whose change could be waited for".into(),
            );
            return;
        }
        let Some(rt) = self.watched_entity(change) else {
            return;
        };
        for (i, f) in change.fields.iter().enumerate() {
            if Self::field(rt, f).is_none() {
                self.unknown_field(Some(id), format!("{path}.change.fields.{i}"), rt, f);
            }
        }
        if let Some(filter) = &change.filter {
            self.check_filter(Some(id), format!("{path}.change.filter"), rt, filter);
        }
    }

    fn check_assignee(&mut self, id: &str, path: &str, assignee: &Assignee) {
        match assignee {
            Assignee::User { user } if !self.ctx.users.contains(user) => {
                self.push(
                    Some(id),
                    format!("{path}.assignee.user"),
                    "unknown_user",
                    format!("用户 {user} 不存在"),
                    format!("no user {user}"),
                );
            }
            Assignee::Role { role } if !self.ctx.roles.contains(role) => {
                self.push(
                    Some(id),
                    format!("{path}.assignee.role"),
                    "unknown_role",
                    format!("角色 {role} 不存在"),
                    format!("no role {role}"),
                );
            }
            _ => {}
        }
    }
}

/// The usernames and role names a definition's assignees name, to look up before checking.
pub fn named_assignees(def: &FlowDefinition) -> (Vec<String>, Vec<String>) {
    let (mut users, mut roles) = (Vec::new(), Vec::new());
    for node in &def.nodes {
        if let NodeKind::CreateTask { assignee, .. } | NodeKind::Approval { assignee, .. } =
            &node.kind
        {
            match assignee {
                Assignee::User { user } => users.push(user.clone()),
                Assignee::Role { role } => roles.push(role.clone()),
                Assignee::UserExpr { .. } => {}
            }
        }
    }
    (users, roles)
}

/// The entities a definition names: its trigger's, targets', created records', and those
/// reached by `record.<reference>`. Saving needs `design` on each.
pub fn named_entities(
    def: &FlowDefinition,
    entities: &HashMap<String, Arc<EntityRuntime>>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |e: &str| {
        if !out.iter().any(|x| x == e) {
            out.push(e.to_string());
        }
    };
    let trigger = def.trigger.entity().and_then(|e| entities.get(e));
    if let Some(e) = def.trigger.entity() {
        add(e);
    }
    // A segment's `exists` tests read other entities: the flow reads them as it selects.
    if let Trigger::SegmentBatch {
        filter: Some(filter),
        ..
    } = &def.trigger
    {
        if let Ok(parsed) = crate::query::FilterExpr::parse(filter.clone()) {
            for e in parsed.related_entities() {
                add(&e);
            }
        }
    }
    let referenced = |field: &str| -> Option<String> {
        trigger
            .and_then(|rt| rt.definition().field(field))
            .filter(|f| f.field_type == FieldType::Reference)
            .and_then(|f| f.entity.as_ref().map(|e| e.as_str().to_string()))
    };
    for node in &def.nodes {
        if let Some(target) = node.kind.target() {
            if let Some(e) = referenced(target) {
                add(&e);
            }
        }
        if let NodeKind::CreateRecord { entity, .. } = &node.kind {
            add(entity);
        }
        let sources: Vec<String> = node_exprs(&node.kind)
            .into_iter()
            .map(|(_, s)| s.to_string())
            .collect();
        let mut reads: Vec<Read> = sources.iter().flat_map(|s| expr::reads(s)).collect();
        for (_, t) in node_templates(&node.kind) {
            reads.extend(templates::reads(t));
        }
        for read in reads {
            if read.root == Root::Record && read.then.is_some() {
                if let Some(e) = referenced(&read.name) {
                    add(&e);
                }
            }
        }
    }
    out
}

/// Checks a definition whose shape passed, and compiles it.
pub fn check(def: FlowDefinition, ctx: &CheckContext<'_>) -> Result<CompiledFlow, Vec<FieldError>> {
    let graph = FlowGraph::build(&def);
    let mut problems = Vec::new();
    let graph = match graph {
        Ok(g) => Some(g),
        Err(p) => {
            problems = p;
            None
        }
    };
    let mut flow = CompiledFlow::new(
        def.clone(),
        def.version.unwrap_or(0),
        graph.clone().unwrap_or_else(FlowGraph::empty),
    );
    let mut checker = Checker {
        def: &def,
        ctx,
        graph: graph.as_ref(),
        problems,
    };
    checker.check_trigger();
    let sources: Vec<&str> = def
        .nodes
        .iter()
        .flat_map(|n| {
            super::compiled::node_exprs(&n.kind)
                .into_iter()
                .map(|(_, s)| s)
        })
        .collect();
    for (i, node) in def.nodes.iter().enumerate() {
        // `steps.<id>` does not parse when the id is an expression keyword (`if`, `call` …):
        // an expression reading it that way gets this hint beside its compile error.
        let dotted = format!("steps.{}", node.id);
        let read_dotted = sources.iter().any(|s| {
            s.match_indices(&dotted).any(|(at, _)| {
                !s[at + dotted.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
        });
        if read_dotted && crate::expr::compile(&dotted).is_err() {
            checker.problems.push(FieldError::in_node(
                Some(&node.id),
                format!("nodes.{i}.id"),
                "reserved_id",
                format!(
                    "节点编号 {0} 是表达式保留字，不能写作 steps.{0}：请写 steps[\"{0}\"] 或换一个编号 / the node id {0} is an expression keyword, so steps.{0} does not parse: write steps[\"{0}\"] or choose another id",
                    node.id
                ),
            ));
        }
    }
    for i in 0..def.nodes.len() {
        checker.check_node(&mut flow, i);
    }
    if checker.problems.is_empty() {
        Ok(flow)
    } else {
        Err(checker.problems)
    }
}
