//! Entity definitions at run time: versions, their tables, and the compiled cache.

mod catalog;
mod maintenance;
mod pinyin_keys;
mod service;
pub mod storage;
mod versions;

pub use catalog::{Catalog, EntityRuntime};
pub use maintenance::{ANALYZE_AFTER_ROWS, ANALYZE_MIN_ROWS};
pub use service::{
    ChangeKind, DefinitionChanges, DefinitionCheck, DefinitionIntent, EntityChange, EntityInfo,
    Impact, ImpactExample,
};
pub use storage::{FieldStorage, PinyinColumns, StorageKind};
pub use versions::{DefinitionVersion, VersionPage, VersionSummary, VersionedDefinition};
