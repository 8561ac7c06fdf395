//! The forms engine: entity definitions, their JSON Schema, and validation of every write.

pub mod definition;
mod interim;

pub use definition::{EntityDefinition, FieldDef, FieldType, FormulaResult, LayoutSection, SelectOption};
pub use interim::{checks, CompiledEntity, PrepareContext};
