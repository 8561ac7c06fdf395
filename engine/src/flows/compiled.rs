//! A checked flow version, ready to run: its definition, graph, expressions compiled once and
//! templates parsed once. Kept per (flow, version) for as long as runs need it.

use super::definition::{as_expr, Assignee, Due, FlowDefinition, NodeKind};
use super::graph::FlowGraph;
use super::templates::Templates;
use crate::expr::{self, ExprError};
use rhai::AST;
use std::collections::HashMap;

#[derive(Debug)]
pub struct CompiledFlow {
    pub def: FlowDefinition,
    pub version: i64,
    pub graph: FlowGraph,
    exprs: HashMap<String, AST>,
    pub templates: Templates,
}

impl CompiledFlow {
    pub fn new(def: FlowDefinition, version: i64, graph: FlowGraph) -> CompiledFlow {
        CompiledFlow {
            def,
            version,
            graph,
            exprs: HashMap::new(),
            templates: Templates::default(),
        }
    }

    /// Compiles `source` once for this version.
    pub fn add_expr(&mut self, source: &str) -> Result<(), ExprError> {
        if !self.exprs.contains_key(source) {
            let ast = expr::compile(source)?;
            self.exprs.insert(source.to_string(), ast);
        }
        Ok(())
    }

    pub fn expr(&self, source: &str) -> Option<&AST> {
        self.exprs.get(source)
    }

    pub fn node(&self, id: &str) -> Option<&super::definition::Node> {
        self.def.nodes.iter().find(|n| n.id == id)
    }
}

/// Every expression source in a node, with the JSON path of its slot.
pub fn node_exprs(kind: &NodeKind) -> Vec<(String, &str)> {
    let mut out: Vec<(String, &str)> = Vec::new();
    match kind {
        NodeKind::Condition { expr: Some(e), .. } => out.push(("expr".into(), e)),
        NodeKind::Switch { cases, .. } => {
            for (i, c) in cases.iter().enumerate() {
                if let Some(e) = &c.expr {
                    out.push((format!("cases.{i}.expr"), e));
                }
            }
        }
        NodeKind::UpdateRecord { set, .. } | NodeKind::CreateRecord { set, .. } => {
            for (k, v) in set {
                if let Some(e) = as_expr(v) {
                    out.push((format!("set.{k}.expr"), e));
                }
            }
        }
        NodeKind::SendMessage { to, .. } => {
            if let Some(e) = as_expr(to) {
                out.push(("to.expr".into(), e));
            }
        }
        NodeKind::AddTag { tags, .. } | NodeKind::RemoveTag { tags, .. } => {
            if let Some(e) = as_expr(tags) {
                out.push(("tags.expr".into(), e));
            }
        }
        NodeKind::WaitUntil { until, change, .. } => {
            if let Some(u) = until {
                out.push(("until.expr".into(), &u.expr));
            }
            if let Some(e) = change.as_ref().and_then(|c| c.expr.as_deref()) {
                out.push(("change.expr".into(), e));
            }
        }
        NodeKind::WebhookCall {
            body: Some(body), ..
        } => {
            if let Some(e) = as_expr(body) {
                out.push(("body.expr".into(), e));
            } else if let Some(map) = body.as_object() {
                for (k, v) in map {
                    if let Some(e) = as_expr(v) {
                        out.push((format!("body.{k}.expr"), e));
                    }
                }
            }
        }
        _ => {}
    }
    if let NodeKind::CreateTask { assignee, due, .. } | NodeKind::Approval { assignee, due, .. } =
        kind
    {
        if let Assignee::UserExpr { user } = assignee {
            out.push(("assignee.user.expr".into(), &user.expr));
        }
        if let Some(Due::Expr(e)) = due {
            out.push(("due.expr".into(), &e.expr));
        }
    }
    out
}

/// Every template in a node, with the JSON path of its slot.
pub fn node_templates(kind: &NodeKind) -> Vec<(&'static str, &str)> {
    match kind {
        NodeKind::SendMessage {
            template, title, ..
        } => {
            let mut out = vec![("template", template.as_str())];
            if let Some(t) = title {
                out.push(("title", t));
            }
            out
        }
        NodeKind::CreateTask {
            title, description, ..
        }
        | NodeKind::Approval {
            title, description, ..
        } => {
            let mut out = vec![("title", title.as_str())];
            if let Some(d) = description {
                out.push(("description", d));
            }
            out
        }
        _ => Vec::new(),
    }
}
