//! A flow definition as data: one trigger, nodes and edges (docs/flows.md, sections 1 and 2).
//! The JSON Schemas in `schemas/` are checked first (`schema.rs`); these types then read what
//! passed, so a document that reaches them has its shape right.

use crate::i18n::Label;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The definition as a designer writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Label>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub trigger: Trigger,
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    RecordCreated {
        entity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    RecordUpdated {
        entity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    RecordDeleted {
        entity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    DateRelative {
        entity: String,
        field: String,
        offset: Offset,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    Cron {
        cron: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    Manual {
        entity: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button: Option<Label>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    Webhook {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_set: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window_seconds: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
    SegmentBatch {
        entity: String,
        cron: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<Value>,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::RecordCreated { .. } => "record_created",
            Trigger::RecordUpdated { .. } => "record_updated",
            Trigger::RecordDeleted { .. } => "record_deleted",
            Trigger::DateRelative { .. } => "date_relative",
            Trigger::Cron { .. } => "cron",
            Trigger::Manual { .. } => "manual",
            Trigger::Webhook { .. } => "webhook",
            Trigger::SegmentBatch { .. } => "segment_batch",
        }
    }

    /// The entity whose records the trigger starts runs on, if any.
    pub fn entity(&self) -> Option<&str> {
        match self {
            Trigger::RecordCreated { entity, .. }
            | Trigger::RecordUpdated { entity, .. }
            | Trigger::RecordDeleted { entity, .. }
            | Trigger::DateRelative { entity, .. }
            | Trigger::Manual { entity, .. }
            | Trigger::SegmentBatch { entity, .. } => Some(entity),
            Trigger::Cron { .. } | Trigger::Webhook { .. } => None,
        }
    }

    /// Whether a run has a live record in scope as `record`.
    pub fn has_live_record(&self) -> bool {
        !matches!(
            self,
            Trigger::Cron { .. } | Trigger::Webhook { .. } | Trigger::RecordDeleted { .. }
        )
    }

    pub fn filter(&self) -> Option<&Value> {
        match self {
            Trigger::RecordCreated { filter, .. }
            | Trigger::RecordUpdated { filter, .. }
            | Trigger::RecordDeleted { filter, .. }
            | Trigger::DateRelative { filter, .. }
            | Trigger::SegmentBatch { filter, .. } => filter.as_ref(),
            _ => None,
        }
    }
}

/// A date-relative trigger's offset; negative is before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Offset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<i64>,
}

/// A non-negative span: a delay, a timeout, a task's due time from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<i64>,
}

/// An expression in a value slot: `{"expr": "record.phone"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExprValue {
    pub expr: String,
}

/// A due time: a span from now, or an expression giving a datetime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Due {
    Expr(ExprValue),
    Span(Span),
}

/// Who a task goes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Assignee {
    Role { role: String },
    UserExpr { user: ExprValue },
    User { user: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<Value>,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchChange {
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    Condition {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expr: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
    },
    Switch {
        cases: Vec<Case>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
    },
    UpdateRecord {
        set: Map<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    CreateRecord {
        entity: String,
        set: Map<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    CreateTask {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        assignee: Assignee,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<Due>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    SendMessage {
        channel: String,
        to: Value,
        template: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purpose: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    AddTag {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        tags: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    RemoveTag {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        tags: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    Delay {
        duration: Span,
    },
    WaitUntil {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ExprValue>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<WatchChange>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Span>,
    },
    WebhookCall {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_set: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_seconds: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retries: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sends_sensitive: Option<bool>,
    },
    Approval {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        assignee: Assignee,
        outcomes: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<Due>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Span>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    End {},
}

impl NodeKind {
    pub fn kind(&self) -> &'static str {
        match self {
            NodeKind::Condition { .. } => "condition",
            NodeKind::Switch { .. } => "switch",
            NodeKind::UpdateRecord { .. } => "update_record",
            NodeKind::CreateRecord { .. } => "create_record",
            NodeKind::CreateTask { .. } => "create_task",
            NodeKind::SendMessage { .. } => "send_message",
            NodeKind::AddTag { .. } => "add_tag",
            NodeKind::RemoveTag { .. } => "remove_tag",
            NodeKind::Delay { .. } => "delay",
            NodeKind::WaitUntil { .. } => "wait_until",
            NodeKind::WebhookCall { .. } => "webhook_call",
            NodeKind::Approval { .. } => "approval",
            NodeKind::End {} => "end",
        }
    }

    /// The reference field a node acts through, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            NodeKind::UpdateRecord { target, .. }
            | NodeKind::CreateRecord { target, .. }
            | NodeKind::CreateTask { target, .. }
            | NodeKind::SendMessage { target, .. }
            | NodeKind::AddTag { target, .. }
            | NodeKind::RemoveTag { target, .. }
            | NodeKind::Approval { target, .. } => target.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// An expression when `v` is `{"expr": "…"}`, else `None` (a literal).
pub fn as_expr(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("expr").and_then(Value::as_str),
        _ => None,
    }
}
