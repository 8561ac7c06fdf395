//! The forms engine: entity definitions, their JSON Schema, and validation of every write.

pub mod checks;
pub mod compiled;
pub mod definition;
pub mod formula;
pub mod messages;

pub use compiled::{CompiledEntity, PrepareContext};
pub use definition::{
    EntityDefinition, FieldDef, FieldType, FormulaResult, LayoutSection, SelectOption,
};
