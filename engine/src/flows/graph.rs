//! A flow's nodes and edges as a petgraph graph: the structural checks on save (ids, edges,
//! `when`, cycles, reachability) and, for the runtime, the edges an outcome follows.

use super::definition::{Edge, FlowDefinition, NodeKind};
use crate::error::FieldError;
use petgraph::algo::{kosaraju_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;
use std::collections::{HashMap, HashSet};

/// The trigger's name as the source of edges.
pub const TRIGGER: &str = "trigger";

/// Outcome names with a fixed meaning, which switch cases may not take.
const RESERVED: &[&str] = &["true", "false", "timeout", "error"];

/// A checked flow's graph. Node weights are indexes into `definition.nodes` (`None` is the
/// trigger); edge weights are indexes into `definition.edges`.
#[derive(Debug, Clone)]
pub struct FlowGraph {
    graph: DiGraph<Option<usize>, usize>,
    by_id: HashMap<String, NodeIndex>,
    trigger: NodeIndex,
}

impl FlowGraph {
    /// A graph of the trigger alone, for a definition whose structure has problems.
    pub fn empty() -> FlowGraph {
        let mut graph = DiGraph::new();
        let trigger = graph.add_node(None);
        let by_id = HashMap::from([(TRIGGER.to_string(), trigger)]);
        FlowGraph {
            graph,
            by_id,
            trigger,
        }
    }

    /// Builds the graph, or every structural problem at once.
    pub fn build(def: &FlowDefinition) -> Result<FlowGraph, Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut graph = DiGraph::new();
        let trigger = graph.add_node(None);
        let mut by_id: HashMap<String, NodeIndex> = HashMap::new();
        by_id.insert(TRIGGER.to_string(), trigger);
        for (i, node) in def.nodes.iter().enumerate() {
            if by_id.contains_key(&node.id) {
                problems.push(FieldError::in_node(
                    Some(&node.id),
                    format!("nodes.{i}.id"),
                    "duplicate_id",
                    format!("节点编号 {0} 重复 / node id {0} is used twice", node.id),
                ));
                continue;
            }
            by_id.insert(node.id.clone(), graph.add_node(Some(i)));
        }
        let mut starts = 0;
        for (i, edge) in def.edges.iter().enumerate() {
            let (from, to) = (by_id.get(&edge.from), by_id.get(&edge.to));
            let field = format!("edges.{i}");
            let node_of = |id: &str| by_id.contains_key(id).then(|| id.to_string());
            if from.is_none() {
                problems.push(FieldError::in_node(
                    None,
                    format!("{field}.from"),
                    "unknown_node",
                    format!(
                        "连线起点 {0} 不存在 / edge from unknown node {0}",
                        edge.from
                    ),
                ));
            }
            if to.is_none() || edge.to == TRIGGER {
                problems.push(FieldError::in_node(
                    node_of(&edge.from).as_deref(),
                    format!("{field}.to"),
                    "unknown_node",
                    format!("连线终点 {0} 不存在 / edge to unknown node {0}", edge.to),
                ));
            }
            if edge.from == TRIGGER {
                starts += 1;
            }
            if let Some(problem) = check_when(def, edge, &field) {
                problems.push(problem);
            }
            if let (Some(&a), Some(&b)) = (from, to) {
                if edge.to != TRIGGER {
                    graph.add_edge(a, b, i);
                }
            }
        }
        if starts == 0 {
            problems.push(FieldError::in_node(
                Some(TRIGGER),
                "edges",
                "no_start",
                "没有从触发器出发的连线 / no edge leaves the trigger",
            ));
        }
        for (i, node) in def.nodes.iter().enumerate() {
            if let NodeKind::Switch { cases, default } = &node.kind {
                let mut seen = HashSet::new();
                for (c, case) in cases.iter().enumerate() {
                    if !seen.insert(case.name.as_str()) || RESERVED.contains(&case.name.as_str()) {
                        problems.push(FieldError::in_node(
                            Some(&node.id),
                            format!("nodes.{i}.cases.{c}.name"),
                            "duplicate_case",
                            format!(
                                "分支名 {0} 重复或为保留字 / case name {0} is taken or reserved",
                                case.name
                            ),
                        ));
                    }
                }
                if let Some(d) = default {
                    if seen.contains(d.as_str()) || RESERVED.contains(&d.as_str()) {
                        problems.push(FieldError::in_node(
                            Some(&node.id),
                            format!("nodes.{i}.default"),
                            "duplicate_case",
                            format!("默认分支名 {d} 已被使用 / default name {d} is taken"),
                        ));
                    }
                }
            }
        }
        let built = FlowGraph {
            graph,
            by_id,
            trigger,
        };
        if toposort(&built.graph, None).is_err() {
            problems.push(built.cycle_problem(def));
        }
        let mut reached = HashSet::new();
        let mut dfs = Dfs::new(&built.graph, trigger);
        while let Some(n) = dfs.next(&built.graph) {
            reached.insert(n);
        }
        for (i, node) in def.nodes.iter().enumerate() {
            if built
                .by_id
                .get(&node.id)
                .is_some_and(|n| !reached.contains(n))
            {
                problems.push(FieldError::in_node(
                    Some(&node.id),
                    format!("nodes.{i}"),
                    "unreachable",
                    format!(
                        "节点 {0} 无法从触发器到达 / node {0} cannot be reached from the trigger",
                        node.id
                    ),
                ));
            }
        }
        if problems.is_empty() {
            Ok(built)
        } else {
            Err(problems)
        }
    }

    fn cycle_problem(&self, def: &FlowDefinition) -> FieldError {
        let name = |n: NodeIndex| match self.graph[n] {
            Some(i) => def.nodes[i].id.clone(),
            None => TRIGGER.to_string(),
        };
        let cycle: Vec<NodeIndex> = kosaraju_scc(&self.graph)
            .into_iter()
            .find(|scc| scc.len() > 1 || scc.iter().any(|&n| self.graph.contains_edge(n, n)))
            .unwrap_or_default();
        let mut names: Vec<String> = cycle.iter().map(|&n| name(n)).collect();
        names.sort();
        let first = names.first().cloned();
        let edge = cycle.iter().find_map(|&a| {
            cycle
                .iter()
                .find_map(|&b| self.graph.find_edge(a, b).map(|e| self.graph[e]))
        });
        let path = names.join(" → ");
        FieldError::in_node(
            first.as_deref(),
            edge.map_or("edges".to_string(), |e| format!("edges.{e}")),
            "cycle",
            format!("流程存在循环：{path} / the flow has a cycle: {path}"),
        )
    }

    /// The ids of the nodes an outcome of `from` leads to, in edge order.
    pub fn next<'d>(
        &self,
        def: &'d FlowDefinition,
        from: &str,
        when: Option<&str>,
    ) -> Vec<&'d str> {
        def.edges
            .iter()
            .filter(|e| {
                e.from == from && e.when.as_deref() == when && self.by_id.contains_key(&e.to)
            })
            .map(|e| e.to.as_str())
            .collect()
    }

    /// Whether `earlier` can run before `node` (a path leads from it to `node`).
    pub fn precedes(&self, earlier: &str, node: &str) -> bool {
        let (Some(&a), Some(&b)) = (self.by_id.get(earlier), self.by_id.get(node)) else {
            return false;
        };
        a != b && petgraph::algo::has_path_connecting(&self.graph, a, b, None)
    }

    /// Whether `from` has an edge for `when`.
    /// Whether more than one edge leads into `node`: only then can two branches reach it.
    pub fn joins(&self, def: &FlowDefinition, node: &str) -> bool {
        def.edges.iter().filter(|e| e.to == node).nth(1).is_some()
    }

    pub fn has_edge(&self, def: &FlowDefinition, from: &str, when: &str) -> bool {
        def.edges
            .iter()
            .any(|e| e.from == from && e.when.as_deref() == Some(when))
    }

    pub fn trigger(&self) -> NodeIndex {
        self.trigger
    }
}

/// The `when` an edge may carry, by the table of docs/flows.md section 3.
fn check_when(def: &FlowDefinition, edge: &Edge, field: &str) -> Option<FieldError> {
    let when = edge.when.as_deref();
    let bad = |why_zh: &str, why_en: &str| {
        Some(FieldError::in_node(
            Some(&edge.from),
            format!("{field}.when"),
            "bad_when",
            format!("{why_zh} / {why_en}"),
        ))
    };
    if edge.from == TRIGGER {
        if when.is_some() {
            return bad(
                "触发器的连线不能带条件",
                "an edge from the trigger takes no when",
            );
        }
        return None;
    }
    let node = def.nodes.iter().find(|n| n.id == edge.from)?;
    match (&node.kind, when) {
        (NodeKind::End {}, _) => bad("结束节点之后不能再有连线", "no edge may leave an end node"),
        (_, Some("error")) => None,
        (NodeKind::Condition { .. }, Some("true" | "false")) => None,
        (NodeKind::Condition { .. }, _) => bad(
            "条件节点的连线须为 true 或 false",
            "a condition's edge needs when true or false",
        ),
        (NodeKind::Switch { cases, default }, Some(w))
            if cases.iter().any(|c| c.name == w) || default.as_deref() == Some(w) =>
        {
            None
        }
        (NodeKind::Switch { .. }, _) => bad(
            "分支节点的连线须为其分支名",
            "a switch's edge needs one of its case names",
        ),
        (NodeKind::Approval { outcomes, .. }, Some(w)) if outcomes.iter().any(|o| o == w) => None,
        (
            NodeKind::Approval {
                timeout: Some(_), ..
            },
            Some("timeout"),
        ) => None,
        (NodeKind::Approval { .. }, _) => bad(
            "审批节点的连线须为其结果之一",
            "an approval's edge needs one of its outcomes",
        ),
        (
            NodeKind::WaitUntil {
                change: Some(_), ..
            },
            Some("timeout"),
        ) => None,
        (_, None) => None,
        (_, Some(_)) => bad(
            "该节点的连线只能不带条件或为 error",
            "this node's edges take no when, or error",
        ),
    }
}
