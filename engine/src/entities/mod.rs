//! Entity definitions at run time: versions, their tables, and the compiled cache.

mod catalog;
mod service;
pub mod storage;

pub use catalog::{Catalog, EntityRuntime};
pub use service::{ChangeKind, DefinitionChanges, EntityChange, EntityInfo, Impact, ImpactExample};
pub use storage::{FieldStorage, StorageKind};
