//! The flow engine: "when X, if Y, do Z" as data (docs/flows.md). A definition is checked on
//! save (`schema`, `graph`, `checks`), kept in versions (`service`), compiled once per version
//! (`compiled`), and carried out durably by the runtime (`runs`, `dispatch`, `worker`,
//! `nodes`, `webhooks`) on the job table (`crate::jobs`); time drives runs through `timers`
//! (date-relative), `schedules` (cron and segment batches) and `wait_until`.

mod batch;
pub mod checks;
pub mod compiled;
pub mod definition;
mod dispatch;
mod dry_run;
pub mod graph;
mod nodes;
mod retention;
pub mod runs;
mod saver_sight;
pub mod schedules;
pub mod schema;
mod scope;
pub mod service;
mod step;
pub mod tasks;
pub mod templates;
pub mod timers;
mod wait_until;
mod waits;
pub mod webhooks;
mod worker;

#[cfg(test)]
pub(crate) mod tests_support;

pub use compiled::CompiledFlow;
pub use definition::FlowDefinition;
pub use dispatch::MAX_DEPTH;
pub use service::{FlowSummary, FlowVersionInfo, Precondition, SavedFlow};
pub use worker::STEP;

pub(crate) use dispatch::EnabledFlows;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Compiled flow versions by (name, version), and a generation that moves on every save so
/// the dispatcher reloads the enabled flows.
#[derive(Default)]
pub struct FlowCache {
    compiled: RwLock<HashMap<(String, i64), Arc<CompiledFlow>>>,
    generation: AtomicU64,
}

impl FlowCache {
    pub fn get(&self, name: &str, version: i64) -> Option<Arc<CompiledFlow>> {
        self.compiled
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(name.to_string(), version))
            .cloned()
    }

    pub fn put(&self, name: &str, version: i64, flow: Arc<CompiledFlow>) {
        let mut map = self
            .compiled
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Versions are immutable; the bound only keeps a long-running server's memory flat.
        if map.len() > 1_000 {
            map.clear();
        }
        map.insert((name.to_string(), version), flow);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl crate::engine::Engine {
    /// A flow was saved or deleted: the dispatcher reloads what is enabled.
    pub(crate) fn flows_changed(&self) {
        self.flows.bump();
    }
}
