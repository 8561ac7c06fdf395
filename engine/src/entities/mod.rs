//! Entity definitions at run time: versions, their tables, and the compiled cache.

mod catalog;
mod maintenance;
mod service;
pub mod storage;

pub use catalog::{Catalog, EntityRuntime};
pub use maintenance::{ANALYZE_AFTER_ROWS, ANALYZE_MIN_ROWS};
pub use service::{ChangeKind, DefinitionChanges, EntityChange, EntityInfo, Impact, ImpactExample};
pub use storage::{FieldStorage, StorageKind};
