//! Entity definitions: the shape business staff design in the form designer and packs ship.

use crate::i18n::Label;
use crate::names::{EntityName, FieldName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every field type a definition may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Textarea,
    Number,
    Integer,
    Money,
    Boolean,
    Date,
    Datetime,
    Select,
    Multiselect,
    Tags,
    Phone,
    Email,
    IdCard,
    Reference,
    References,
    User,
    Attachment,
    Autonumber,
    Formula,
    /// A link to a record of any entity: `{"entity": "patient", "id": "<uuid>"}`.
    Subject,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Money => "money",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Select => "select",
            FieldType::Multiselect => "multiselect",
            FieldType::Tags => "tags",
            FieldType::Phone => "phone",
            FieldType::Email => "email",
            FieldType::IdCard => "id_card",
            FieldType::Reference => "reference",
            FieldType::References => "references",
            FieldType::User => "user",
            FieldType::Attachment => "attachment",
            FieldType::Autonumber => "autonumber",
            FieldType::Formula => "formula",
            FieldType::Subject => "subject",
        }
    }

    /// Fields holding a list of values; they get a side table instead of a column.
    pub fn is_multi_valued(self) -> bool {
        matches!(
            self,
            FieldType::Multiselect | FieldType::Tags | FieldType::References
        )
    }

    /// Set by the engine, never by the person entering the record.
    pub fn is_computed(self) -> bool {
        matches!(self, FieldType::Autonumber | FieldType::Formula)
    }
}

/// What a formula field computes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormulaResult {
    #[default]
    Number,
    Integer,
    Money,
    Text,
    Boolean,
    Date,
}

/// One option of a select or multiselect field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One field of an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: FieldName,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub indexed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SelectOption>,
    /// Encrypted at rest and masked on read. Unset means the type's default: ID numbers and
    /// phones are personal identifiers and sensitive unless a definition says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    /// FilterExpr JSON over the record: the field shows only when it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_if: Option<Value>,
    /// FilterExpr JSON over the record: the field is read-only when it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_if: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Label>,
    /// The entity a `reference` / `references` field points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityName>,
    /// `subject`: the entities it may point at (any entity when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityName>,
    /// The rhai expression of a `formula` field, over `record`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    /// The type a `formula` field computes to (default number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<FormulaResult>,
    /// `autonumber`: text before the number (`P` gives `P2026000001`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `autonumber`: digits of the counter (default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<u8>,
    /// `autonumber`: whether the year stands between prefix and counter, and the counter
    /// restarts each year (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<bool>,
}

impl FieldDef {
    /// A minimal field of the given type, for tests and code that builds definitions.
    pub fn new(name: FieldName, field_type: FieldType) -> Self {
        FieldDef {
            name,
            field_type,
            label: None,
            required: false,
            unique: false,
            indexed: false,
            default: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            pattern: None,
            options: Vec::new(),
            sensitive: None,
            visible_if: None,
            readonly_if: None,
            help: None,
            entity: None,
            entities: Vec::new(),
            expr: None,
            result: None,
            prefix: None,
            digits: None,
            yearly: None,
        }
    }

    /// The type the stored value has: a formula's result type, else the field's own.
    pub fn value_type(&self) -> FieldType {
        if self.field_type == FieldType::Formula {
            match self.result.unwrap_or_default() {
                FormulaResult::Number => FieldType::Number,
                FormulaResult::Integer => FieldType::Integer,
                FormulaResult::Money => FieldType::Money,
                FormulaResult::Text => FieldType::Text,
                FormulaResult::Boolean => FieldType::Boolean,
                FormulaResult::Date => FieldType::Date,
            }
        } else {
            self.field_type
        }
    }

    pub fn is_sensitive(&self) -> bool {
        self.sensitive.unwrap_or(matches!(
            self.field_type,
            FieldType::IdCard | FieldType::Phone
        ))
    }

    /// Whether this field has a typed projection column (or, multi-valued, a side table).
    pub fn is_projected(&self) -> bool {
        !matches!(self.field_type, FieldType::Textarea | FieldType::Attachment)
    }
}

/// A section of the form layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutSection {
    pub section: Label,
    /// The tab the section shows under: sections with the same tab label form one tab, tabs in
    /// the order they first appear, sections in layout order; sections without one show
    /// outside any tab, as before tabs existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab: Option<Label>,
    #[serde(default = "one_column")]
    pub columns: u8,
    pub fields: Vec<FieldName>,
}

fn one_column() -> u8 {
    1
}

/// An entity definition: fields, layout and the fields that drive row scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDefinition {
    pub name: EntityName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    pub fields: Vec<FieldDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layout: Vec<LayoutSection>,
    /// Row scope `own`: the field naming the owner (default `created_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_field: Option<FieldName>,
    /// Row scope `department`: the select field holding the record's department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_field: Option<FieldName>,
    /// Medical records are restricted, never deleted, on erasure.
    #[serde(default, skip_serializing_if = "is_false")]
    pub medical_record: bool,
}

impl EntityDefinition {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_and_phones_are_sensitive_unless_said_otherwise() {
        let parse = |v: serde_json::Value| serde_json::from_value::<FieldDef>(v).unwrap();
        assert!(parse(serde_json::json!({"name": "id_number", "type": "id_card"})).is_sensitive());
        assert!(parse(serde_json::json!({"name": "phone", "type": "phone"})).is_sensitive());
        assert!(!parse(
            serde_json::json!({"name": "ward_phone", "type": "phone", "sensitive": false})
        )
        .is_sensitive());
        assert!(!parse(serde_json::json!({"name": "name", "type": "text"})).is_sensitive());
        assert!(
            parse(serde_json::json!({"name": "diagnosis", "type": "text", "sensitive": true}))
                .is_sensitive()
        );
    }
}
