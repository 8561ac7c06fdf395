//! Interim stand-in for the validation module under construction on its own branch; replaced
//! when that lands. Never shipped alone.
#![allow(dead_code)]

use super::definition::EntityDefinition;
use crate::error::{EngineError, FieldError};
use crate::i18n::Lang;
use serde_json::{Map, Value};

pub struct PrepareContext {
    pub lang: Lang,
    pub today: time::Date,
}

pub struct CompiledEntity {
    def: EntityDefinition,
    schema: Value,
}

impl CompiledEntity {
    pub fn compile(def: EntityDefinition, _lang: Lang) -> Result<CompiledEntity, EngineError> {
        Ok(CompiledEntity { def, schema: Value::Null })
    }
    pub fn definition(&self) -> &EntityDefinition {
        &self.def
    }
    pub fn json_schema(&self) -> &Value {
        &self.schema
    }
    pub fn prepare(
        &self,
        input: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
        _ctx: &PrepareContext,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        let mut out = existing.cloned().unwrap_or_default();
        for (k, v) in input {
            out.insert(k.clone(), v.clone());
        }
        Ok(out)
    }
}

pub mod checks {
    pub fn money_to_fen(x: f64) -> Option<i64> {
        let f = (x * 100.0).round();
        ((x * 100.0 - f).abs() <= 1e-6 && f.abs() < 9e15).then_some(f as i64)
    }
    pub fn fen_to_yuan(fen: i64) -> f64 {
        fen as f64 / 100.0
    }
    pub fn parse_date(s: &str) -> Option<time::Date> {
        let f = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s, &f).ok()
    }
    pub fn parse_datetime(s: &str) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    }
}
