//! The forms engine: entity definitions, their JSON Schema, and validation of every write.

pub mod definition;

pub use definition::{EntityDefinition, FieldDef, FieldType, FormulaResult, LayoutSection, SelectOption};
