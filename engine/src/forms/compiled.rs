//! A checked, compiled entity definition: its JSON Schema, a validator for it, and its
//! formulas, ready to validate and normalize every write.

use super::checks::{
    check_email, check_id_card, check_id_card_at, check_uuid, fen_to_json, format_datetime_utc,
    money_to_fen, normalize_phone, parse_date, parse_datetime,
};
use super::definition::{EntityDefinition, FieldDef, FieldType};
use super::formula;
use super::messages::{definition_message, definition_summary, field_message};
use crate::error::{EngineError, FieldError};
use crate::i18n::{Label, Lang};
use crate::query::{evaluate, EvalContext, FilterExpr};
use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, Validator};
use serde_json::{json, Map, Number, Value};
use std::collections::{HashMap, HashSet};
use time::Date;

/// At most this many fields in one entity.
pub const MAX_FIELDS: usize = 200;

/// What `prepare` needs from the request: the user's language and today's date (from the
/// engine's clock, in the configured zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareContext {
    pub lang: Lang,
    pub today: Date,
    /// The moment of the write, for field rules with relative datetime operators.
    pub now: time::OffsetDateTime,
    /// The configured zone's offset at `now`, for formulas' local dates and times.
    pub offset: time::UtcOffset,
}

/// A checked definition with its JSON Schema, validator and compiled formulas.
pub struct CompiledEntity {
    def: EntityDefinition,
    schema: Value,
    /// Validates the stored document: one property per non-computed field; no `required`
    /// and no `additionalProperties` (removed fields' data is kept; both are checked in Rust).
    validator: Validator,
    by_name: HashMap<String, usize>,
    /// (field index, compiled formula), in definition order.
    formulas: Vec<(usize, rhai::AST)>,
    /// (field index, `visible_if`, `readonly_if`) of the fields that have a rule.
    rules: Vec<(usize, Option<FilterExpr>, Option<FilterExpr>)>,
}

impl std::fmt::Debug for CompiledEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledEntity")
            .field("def", &self.def)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// One problem a value has: a record validation code and its detail for the message.
#[derive(Debug, Clone, PartialEq)]
struct Problem {
    code: &'static str,
    detail: Option<String>,
}

impl Problem {
    fn new(code: &'static str) -> Self {
        Problem { code, detail: None }
    }
    fn with(code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            code,
            detail: Some(detail.into()),
        }
    }
}

fn is_text_like(t: FieldType) -> bool {
    matches!(
        t,
        FieldType::Text | FieldType::Textarea | FieldType::Email | FieldType::Tags
    )
}

fn is_numeric(f: &FieldDef) -> bool {
    matches!(
        f.value_type(),
        FieldType::Number | FieldType::Integer | FieldType::Money
    )
}

fn label_of(f: &FieldDef, lang: Lang) -> &str {
    f.label
        .as_ref()
        .and_then(|l| l.text(lang))
        .unwrap_or(f.name.as_str())
}

fn format_limit(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The JSON Schema of one field's value. `with_pattern` is false for a pattern that does not
/// compile (reported separately).
fn field_schema(f: &FieldDef, lang: Lang, with_pattern: bool) -> Value {
    let mut s = Map::new();
    let string_limits = |s: &mut Map<String, Value>| {
        if let Some(n) = f.min_length {
            s.insert("minLength".into(), json!(n));
        }
        if let Some(n) = f.max_length {
            s.insert("maxLength".into(), json!(n));
        }
        if let (Some(p), true) = (&f.pattern, with_pattern) {
            s.insert("pattern".into(), json!(p));
        }
    };
    let numeric_limits = |s: &mut Map<String, Value>| {
        if let Some(x) = f.min.and_then(Number::from_f64) {
            s.insert("minimum".into(), Value::Number(x));
        }
        if let Some(x) = f.max.and_then(Number::from_f64) {
            s.insert("maximum".into(), Value::Number(x));
        }
    };
    let string_format = |s: &mut Map<String, Value>, format: &str| {
        s.insert("type".into(), json!("string"));
        s.insert("format".into(), json!(format));
    };
    let options: Vec<&str> = f.options.iter().map(|o| o.value.as_str()).collect();
    match f.value_type() {
        FieldType::Text | FieldType::Textarea => {
            s.insert("type".into(), json!("string"));
            string_limits(&mut s);
        }
        FieldType::Email => {
            string_format(&mut s, "email");
            string_limits(&mut s);
        }
        FieldType::Number | FieldType::Money => {
            s.insert("type".into(), json!("number"));
            numeric_limits(&mut s);
        }
        FieldType::Integer => {
            s.insert("type".into(), json!("integer"));
            numeric_limits(&mut s);
        }
        FieldType::Boolean => {
            s.insert("type".into(), json!("boolean"));
        }
        FieldType::Date => string_format(&mut s, "date"),
        FieldType::Datetime => string_format(&mut s, "date-time"),
        FieldType::Select => {
            s.insert("type".into(), json!("string"));
            s.insert("enum".into(), json!(options));
        }
        FieldType::Multiselect => {
            s.insert("type".into(), json!("array"));
            s.insert("items".into(), json!({"type": "string", "enum": options}));
        }
        FieldType::Tags => {
            let mut item = Map::new();
            item.insert("type".into(), json!("string"));
            string_limits(&mut item);
            s.insert("type".into(), json!("array"));
            s.insert("items".into(), Value::Object(item));
        }
        FieldType::Phone => string_format(&mut s, "phone"),
        FieldType::IdCard => string_format(&mut s, "id_card"),
        FieldType::Reference | FieldType::User => string_format(&mut s, "uuid"),
        FieldType::References => {
            s.insert("type".into(), json!("array"));
            s.insert("items".into(), json!({"type": "string", "format": "uuid"}));
        }
        FieldType::Attachment => {
            s.insert("type".into(), json!("array"));
            s.insert(
                "items".into(),
                json!({
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "name": {"type": "string", "minLength": 1},
                        "size": {"type": "integer", "minimum": 0},
                        "content_type": {"type": "string"}
                    },
                    "required": ["id", "name", "size", "content_type"],
                    "additionalProperties": false
                }),
            );
        }
        FieldType::Autonumber => {
            s.insert("type".into(), json!("string"));
        }
        FieldType::Subject => {
            let mut entity = json!({"type": "string", "pattern": crate::names::NAME_PATTERN, "maxLength": crate::names::MAX_NAME_LEN});
            if !f.entities.is_empty() {
                let allowed: Vec<&str> = f.entities.iter().map(|e| e.as_str()).collect();
                entity["enum"] = json!(allowed);
            }
            s.insert("type".into(), json!("object"));
            s.insert(
                "properties".into(),
                json!({"entity": entity, "id": {"type": "string", "format": "uuid"}}),
            );
            s.insert("required".into(), json!(["entity", "id"]));
            s.insert("additionalProperties".into(), json!(false));
        }
        // value_type() never answers Formula.
        FieldType::Formula => {}
    }
    if f.field_type.is_computed() {
        s.insert("readOnly".into(), json!(true));
    }
    if let Some(title) = f.label.as_ref().and_then(|l| l.text(lang)) {
        s.insert("title".into(), json!(title));
    }
    if let Some(help) = f.help.as_ref().and_then(|l| l.text(lang)) {
        s.insert("description".into(), json!(help));
    }
    Value::Object(s)
}

fn validator_options() -> jsonschema::ValidationOptions<'static> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .with_format("id_card", |s: &str| check_id_card(s).is_ok())
        .with_format("phone", |s: &str| normalize_phone(s).is_some())
        .with_format("uuid", check_uuid)
        .with_format("date", |s: &str| parse_date(s).is_some())
        .with_format("date-time", |s: &str| checked_datetime(s).is_some())
        .with_format("email", check_email)
}

/// A datetime in the stored form, if `s` is RFC 3339 with an offset and its UTC year is 1–9999.
fn checked_datetime(s: &str) -> Option<String> {
    let t = parse_datetime(s)?;
    let utc = t.to_offset(time::UtcOffset::UTC);
    (1..=9999)
        .contains(&utc.year())
        .then(|| format_datetime_utc(utc))
}

/// Whether a value counts as missing for `required`: null, blank text, an empty list or a
/// list of blank strings.
fn is_empty_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(items)) => items
            .iter()
            .all(|i| matches!(i, Value::String(s) if s.trim().is_empty())),
        Some(_) => false,
    }
}

/// Maps one jsonschema error on field `f` to our code.
fn schema_problem(
    f: &FieldDef,
    kind: &ValidationErrorKind,
    instance: &Value,
    depth: usize,
    today: Date,
) -> Problem {
    let refs = matches!(
        f.field_type,
        FieldType::Reference | FieldType::User | FieldType::References
    );
    let on_item = depth > 1 || f.field_type != FieldType::References;
    if f.field_type == FieldType::Subject {
        return match kind {
            ValidationErrorKind::Enum { .. } => Problem::new("entity_not_allowed"),
            _ => Problem::new("invalid_subject"),
        };
    }
    match kind {
        ValidationErrorKind::Type { .. } => {
            if refs && on_item {
                Problem::new("invalid_reference")
            } else if f.value_type() == FieldType::Integer && instance.is_number() {
                Problem::new("not_integer")
            } else {
                Problem::new("invalid_type")
            }
        }
        ValidationErrorKind::Format { format } => match format.as_str() {
            "id_card" => {
                let s = instance.as_str().unwrap_or("");
                let code = check_id_card_at(s, today)
                    .err()
                    .map_or("id_card_format", |p| p.code());
                Problem::new(code)
            }
            "phone" => Problem::new("phone_format"),
            "email" => Problem::new("email_format"),
            "date" => Problem::new("date_format"),
            "date-time" => Problem::new("datetime_format"),
            "uuid" if refs => Problem::new("invalid_reference"),
            _ => Problem::new("invalid_type"),
        },
        ValidationErrorKind::MinLength { limit } => Problem::with("min_length", limit.to_string()),
        ValidationErrorKind::MaxLength { limit } => Problem::with("max_length", limit.to_string()),
        ValidationErrorKind::Pattern { .. } => Problem::new("pattern"),
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => Problem::with(
            "min",
            limit
                .as_f64()
                .map_or_else(|| limit.to_string(), format_limit),
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => Problem::with(
            "max",
            limit
                .as_f64()
                .map_or_else(|| limit.to_string(), format_limit),
        ),
        ValidationErrorKind::Enum { .. } => Problem::new("invalid_option"),
        _ => Problem::new("invalid_type"),
    }
}

/// Keeps the first of each string, in order.
fn dedup_strings(items: Vec<String>) -> Vec<Value> {
    let mut seen = HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .map(Value::String)
        .collect()
}

/// The checks JSON Schema cannot express, on a value that passed the schema. Returns the
/// normalized value when it differs from the one given.
fn check_value(f: &FieldDef, v: &Value, today: Date) -> Result<Option<Value>, Problem> {
    let string = || v.as_str().ok_or_else(|| Problem::new("invalid_type"));
    let strings = || -> Result<Vec<&str>, Problem> {
        v.as_array()
            .ok_or_else(|| Problem::new("invalid_type"))?
            .iter()
            .map(|i| i.as_str().ok_or_else(|| Problem::new("invalid_type")))
            .collect()
    };
    match f.value_type() {
        FieldType::Integer => {
            let n = v.as_number().ok_or_else(|| Problem::new("invalid_type"))?;
            if n.is_i64() {
                return Ok(None);
            }
            match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 9.0e18 => Ok(Some(json!(x as i64))),
                _ => Err(Problem::new("not_integer")),
            }
        }
        FieldType::Money => {
            let x = v.as_f64().ok_or_else(|| Problem::new("invalid_type"))?;
            let fen = money_to_fen(x).ok_or_else(|| Problem::new("money_precision"))?;
            Ok(Some(fen_to_json(fen)))
        }
        FieldType::Number => match v.as_f64() {
            Some(x) if x.is_finite() => Ok(None),
            _ => Err(Problem::new("invalid_type")),
        },
        FieldType::Date => match parse_date(string()?) {
            Some(_) => Ok(None),
            None => Err(Problem::new("date_format")),
        },
        FieldType::Datetime => checked_datetime(string()?)
            .map(|s| Some(Value::String(s)))
            .ok_or_else(|| Problem::new("datetime_format")),
        FieldType::Phone => normalize_phone(string()?)
            .map(|s| Some(Value::String(s)))
            .ok_or_else(|| Problem::new("phone_format")),
        FieldType::Email => {
            if check_email(string()?) {
                Ok(None)
            } else {
                Err(Problem::new("email_format"))
            }
        }
        FieldType::IdCard => check_id_card_at(string()?, today)
            .map(|s| Some(Value::String(s)))
            .map_err(|p| Problem::new(p.code())),
        FieldType::Reference | FieldType::User => {
            let s = string()?;
            if check_uuid(s) {
                Ok(Some(Value::String(s.to_ascii_lowercase())))
            } else {
                Err(Problem::new("invalid_reference"))
            }
        }
        FieldType::References => {
            let items = strings().map_err(|_| Problem::new("invalid_reference"))?;
            if !items.iter().all(|s| check_uuid(s)) {
                return Err(Problem::new("invalid_reference"));
            }
            let items = items.iter().map(|s| s.to_ascii_lowercase()).collect();
            Ok(Some(Value::Array(dedup_strings(items))))
        }
        FieldType::Subject => {
            let (entity, id) = subject_parts(v).ok_or_else(|| Problem::new("invalid_subject"))?;
            if !f.entities.is_empty() && !f.entities.iter().any(|e| e.as_str() == entity) {
                return Err(Problem::new("entity_not_allowed"));
            }
            Ok(Some(json!({"entity": entity, "id": id.to_string()})))
        }
        FieldType::Tags => {
            let items = strings()?
                .into_iter()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Ok(Some(Value::Array(dedup_strings(items))))
        }
        FieldType::Multiselect => {
            let items = strings()?.into_iter().map(str::to_string).collect();
            Ok(Some(Value::Array(dedup_strings(items))))
        }
        FieldType::Select => {
            let s = string()?;
            if f.options.iter().any(|o| o.value == s) {
                Ok(None)
            } else {
                Err(Problem::new("invalid_option"))
            }
        }
        FieldType::Text
        | FieldType::Textarea
        | FieldType::Boolean
        | FieldType::Attachment
        | FieldType::Autonumber
        | FieldType::Formula => Ok(None),
    }
}

/// The entity and id of a `subject` value `{"entity", "id"}`: a valid entity name and a UUID,
/// nothing else. `None` for any other shape.
pub fn subject_parts(v: &Value) -> Option<(&str, uuid::Uuid)> {
    let m = v.as_object()?;
    if m.len() != 2 {
        return None;
    }
    let entity = m.get("entity")?.as_str()?;
    crate::names::check_slug(entity).ok()?;
    let id = m.get("id")?.as_str().filter(|s| check_uuid(s))?;
    Some((entity, uuid::Uuid::parse_str(id).ok()?))
}

/// Checks a numeric value against the field's min and max (used for formula results, which
/// the schema does not see).
fn check_range(f: &FieldDef, v: &Value) -> Option<Problem> {
    let x = v.as_f64()?;
    if let Some(min) = f.min {
        if x < min {
            return Some(Problem::with("min", format_limit(min)));
        }
    }
    if let Some(max) = f.max {
        if x > max {
            return Some(Problem::with("max", format_limit(max)));
        }
    }
    None
}

/// A field's value as formulas see it: money always as an exact decimal of yuan.
fn formula_value(f: &FieldDef, v: &Value) -> rhai::Dynamic {
    match f.value_type() {
        FieldType::Money => crate::expr::money_to_dynamic(v),
        _ => formula::json_to_dynamic(v),
    }
}

/// A tab label as a definition error names it: `基本信息 / Basics`.
fn tab_text(label: &Label) -> String {
    [label.zh.as_deref(), label.en.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Collects definition errors with their localized messages.
struct DefErrors {
    lang: Lang,
    list: Vec<FieldError>,
}

impl DefErrors {
    fn push(&mut self, path: String, code: &str, a: &str, b: &str) {
        let message = definition_message(code, a, b, self.lang);
        self.list.push(FieldError::new(path, code, message));
    }
}

impl CompiledEntity {
    /// Checks a definition is well-formed and compiles it. Every problem at once:
    /// `Err(EngineError::BadRequest { message, details })`, one `FieldError` per problem, its
    /// `field` the path (`fields.3.options`, `layout.0.fields`), its message in `lang`.
    pub fn compile(def: EntityDefinition, lang: Lang) -> Result<CompiledEntity, EngineError> {
        let mut errs = DefErrors {
            lang,
            list: Vec::new(),
        };
        if def.fields.len() > MAX_FIELDS {
            errs.push(
                "fields".into(),
                "too_many_fields",
                &def.fields.len().to_string(),
                &MAX_FIELDS.to_string(),
            );
        }
        let mut by_name = HashMap::with_capacity(def.fields.len());
        let mut formulas = Vec::new();
        let mut bad_pattern = vec![false; def.fields.len()];
        for (i, f) in def.fields.iter().enumerate() {
            let at = |key: &str| format!("fields.{i}.{key}");
            let t = f.field_type;
            let tname = t.as_str();
            if by_name.insert(f.name.as_str().to_string(), i).is_some() {
                errs.push(at("name"), "duplicate_field", f.name.as_str(), "");
            }
            // options
            let has_options = matches!(t, FieldType::Select | FieldType::Multiselect);
            if has_options {
                if f.options.is_empty() {
                    errs.push(at("options"), "required", "options", tname);
                }
                let mut seen = HashSet::new();
                for (j, o) in f.options.iter().enumerate() {
                    if o.value.trim().is_empty() {
                        errs.push(
                            format!("fields.{i}.options.{j}.value"),
                            "empty_option",
                            "",
                            "",
                        );
                    } else if !seen.insert(o.value.as_str()) {
                        errs.push(
                            format!("fields.{i}.options.{j}.value"),
                            "duplicate_option",
                            &o.value,
                            "",
                        );
                    }
                }
            } else if !f.options.is_empty() {
                errs.push(at("options"), "not_allowed", "options", tname);
            }
            // entities (subject)
            if t != FieldType::Subject && !f.entities.is_empty() {
                errs.push(at("entities"), "not_allowed", "entities", tname);
            }
            // entity
            let is_ref = matches!(t, FieldType::Reference | FieldType::References);
            match (&f.entity, is_ref) {
                (None, true) => errs.push(at("entity"), "required", "entity", tname),
                (Some(_), false) => errs.push(at("entity"), "not_allowed", "entity", tname),
                _ => {}
            }
            // expr and result
            if t == FieldType::Formula {
                match &f.expr {
                    None => errs.push(at("expr"), "required", "expr", tname),
                    Some(expr) => match formula::compile_formula(expr) {
                        Ok(ast) => formulas.push((i, ast)),
                        Err(e) => errs.push(at("expr"), "invalid_formula", &e.message(), ""),
                    },
                }
            } else {
                if f.expr.is_some() {
                    errs.push(at("expr"), "not_allowed", "expr", tname);
                }
                if f.result.is_some() {
                    errs.push(at("result"), "not_allowed", "result", tname);
                }
            }
            // autonumber
            if t == FieldType::Autonumber {
                if let Some(d) = f.digits {
                    if !(1..=12).contains(&d) {
                        errs.push(at("digits"), "out_of_range", "digits", "1–12");
                    }
                }
            } else {
                for (key, set) in [
                    ("prefix", f.prefix.is_some()),
                    ("digits", f.digits.is_some()),
                    ("yearly", f.yearly.is_some()),
                ] {
                    if set {
                        errs.push(at(key), "not_allowed", key, tname);
                    }
                }
            }
            // sensitive, unique, indexed
            let may_be_sensitive = matches!(
                t,
                FieldType::Text
                    | FieldType::Textarea
                    | FieldType::Phone
                    | FieldType::Email
                    | FieldType::IdCard
            );
            if f.sensitive == Some(true) && !may_be_sensitive {
                errs.push(at("sensitive"), "not_allowed", "sensitive", tname);
            }
            let may_be_indexed = !(matches!(
                t,
                FieldType::Textarea | FieldType::Attachment | FieldType::Boolean
            ) || t.is_multi_valued());
            // A subject is always indexed (entity and id together); unique makes no sense
            // for a link many records share.
            let may_be_unique = may_be_indexed && t != FieldType::Subject;
            for (key, set, allowed) in [
                ("unique", f.unique, may_be_unique),
                ("indexed", f.indexed, may_be_indexed),
            ] {
                if set && !allowed {
                    errs.push(at(key), "not_allowed", key, tname);
                }
            }
            // min / max
            let numeric = matches!(
                t,
                FieldType::Number | FieldType::Integer | FieldType::Money | FieldType::Formula
            ) && is_numeric(f);
            for (key, set) in [("min", f.min.is_some()), ("max", f.max.is_some())] {
                if set && !numeric {
                    errs.push(at(key), "not_allowed", key, tname);
                }
            }
            if let (Some(min), Some(max)) = (f.min, f.max) {
                if min > max {
                    errs.push(at("min"), "invalid_range", "min", "max");
                }
            }
            for (key, x) in [("min", f.min), ("max", f.max)] {
                if x.is_some_and(|x| !x.is_finite()) {
                    errs.push(at(key), "out_of_range", key, "±1.7e308");
                }
            }
            // lengths and pattern
            let text_like = is_text_like(t);
            for (key, set) in [
                ("min_length", f.min_length.is_some()),
                ("max_length", f.max_length.is_some()),
                ("pattern", f.pattern.is_some()),
            ] {
                if set && !text_like {
                    errs.push(at(key), "not_allowed", key, tname);
                }
            }
            if let (Some(min), Some(max)) = (f.min_length, f.max_length) {
                if min > max {
                    errs.push(
                        at("min_length"),
                        "invalid_range",
                        "min_length",
                        "max_length",
                    );
                }
            }
            if let Some(p) = &f.pattern {
                let probe = json!({"type": "string", "pattern": p});
                if let Err(e) = validator_options().build(&probe) {
                    bad_pattern[i] = true;
                    errs.push(at("pattern"), "invalid_pattern", &e.to_string(), "");
                }
            }
            if f.default.is_some() && t.is_computed() {
                errs.push(at("default"), "not_allowed", "default", tname);
            }
        }
        // A formula may not read a sensitive field: its result would be stored, kept in
        // history and projected in plaintext.
        for (i, f) in def.fields.iter().enumerate() {
            let Some(expr) = f
                .expr
                .as_deref()
                .filter(|_| f.field_type == FieldType::Formula)
            else {
                continue;
            };
            for name in formula::fields_read(expr) {
                let Some(read) = def.field(&name).filter(|r| r.is_sensitive()) else {
                    continue;
                };
                let message = match lang {
                    Lang::Zh => format!(
                        "公式字段 {} 不能读取敏感字段 {}（结果会以明文保存）",
                        f.name.as_str(),
                        read.name.as_str()
                    ),
                    Lang::En => format!(
                        "The formula field {} may not read the sensitive field {} (its result would be stored in plaintext)",
                        f.name.as_str(),
                        read.name.as_str()
                    ),
                };
                errs.list.push(FieldError::new(
                    format!("fields.{i}.expr"),
                    "sensitive_in_formula",
                    message,
                ));
            }
        }
        // layout and scope fields
        for (j, section) in def.layout.iter().enumerate() {
            for name in &section.fields {
                if !by_name.contains_key(name.as_str()) {
                    errs.push(
                        format!("layout.{j}.fields"),
                        "unknown_field",
                        name.as_str(),
                        "",
                    );
                }
            }
        }
        // Tabs: a label with text, and one label per tab (sections sharing a tab's zh or en
        // text must carry the same label, or the form would show two tabs of one name).
        let mut tabs: Vec<&Label> = Vec::new();
        for (j, section) in def.layout.iter().enumerate() {
            let Some(tab) = &section.tab else { continue };
            let has_text = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
            if !has_text(&tab.zh) && !has_text(&tab.en) {
                errs.push(format!("layout.{j}.tab"), "empty_tab", "", "");
                continue;
            }
            let clash = tabs.iter().find(|other| {
                **other != tab
                    && ((tab.zh.is_some() && other.zh == tab.zh)
                        || (tab.en.is_some() && other.en == tab.en))
            });
            match clash {
                Some(other) => errs.push(
                    format!("layout.{j}.tab"),
                    "inconsistent_tab",
                    &tab_text(tab),
                    &tab_text(other),
                ),
                None if !tabs.contains(&tab) => tabs.push(tab),
                None => {}
            }
        }
        for (key, name, want) in [
            ("owner_field", &def.owner_field, FieldType::User),
            ("department_field", &def.department_field, FieldType::Select),
        ] {
            if let Some(name) = name {
                match def.field(name.as_str()) {
                    None => errs.push(key.into(), "unknown_field", name.as_str(), ""),
                    Some(f) if f.field_type != want => {
                        errs.push(key.into(), "wrong_field_type", name.as_str(), want.as_str())
                    }
                    Some(_) => {}
                }
            }
        }

        // The served schema and the document validator.
        let mut properties = Map::new();
        let mut stored = Map::new();
        let mut required = Vec::new();
        for (i, f) in def.fields.iter().enumerate() {
            let s = field_schema(f, lang, !bad_pattern[i]);
            if !f.field_type.is_computed() {
                stored.insert(f.name.to_string(), s.clone());
                if f.required {
                    required.push(json!(f.name.as_str()));
                }
            }
            properties.insert(f.name.to_string(), s);
        }
        let mut schema = Map::new();
        schema.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        schema.insert("title".into(), json!(def.name.as_str()));
        if let Some(title) = def.label.as_ref().and_then(|l| l.text(lang)) {
            schema.insert("title".into(), json!(title));
        }
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(properties));
        schema.insert("required".into(), Value::Array(required));
        schema.insert("additionalProperties".into(), json!(false));
        let schema = Value::Object(schema);
        let stored_schema = json!({"type": "object", "properties": stored});
        let options = validator_options();
        if let Err(e) = options.build(&schema) {
            errs.push("fields".into(), "invalid_schema", &e.to_string(), "");
        }
        let validator = match options.build(&stored_schema) {
            Ok(v) => Some(v),
            Err(e) => {
                errs.push("fields".into(), "invalid_schema", &e.to_string(), "");
                None
            }
        };

        let Some(validator) = validator else {
            return Err(EngineError::BadRequest {
                message: definition_summary(errs.list.len(), lang),
                details: errs.list,
            });
        };
        // Rules that do not parse are reported when the definition is saved.
        let parse_rule = |rule: &Option<Value>| {
            rule.as_ref()
                .and_then(|r| FilterExpr::parse(r.clone()).ok())
        };
        let rules = def
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let (visible, readonly) = (parse_rule(&f.visible_if), parse_rule(&f.readonly_if));
                (visible.is_some() || readonly.is_some()).then_some((i, visible, readonly))
            })
            .collect();
        let compiled = CompiledEntity {
            def,
            schema,
            validator,
            by_name,
            formulas,
            rules,
        };
        // Defaults must be valid values of their field, by the same checks as any write.
        for (i, f) in compiled.def.fields.iter().enumerate() {
            let Some(default) = &f.default else { continue };
            if f.field_type.is_computed() {
                continue;
            }
            let mut doc = Map::new();
            doc.insert(f.name.to_string(), default.clone());
            let mut problems = Vec::new();
            compiled.validate_fields(&mut doc, Date::MAX, Lang::En, &[], &mut problems);
            if let Some(p) = problems.into_iter().find(|p| p.field == f.name.as_str()) {
                let cause = field_message(&p.code, label_of(f, lang), None, lang);
                errs.push(format!("fields.{i}.default"), "invalid_default", &cause, "");
            }
        }
        if errs.list.is_empty() {
            Ok(compiled)
        } else {
            Err(EngineError::BadRequest {
                message: definition_summary(errs.list.len(), lang),
                details: errs.list,
            })
        }
    }

    pub fn definition(&self) -> &EntityDefinition {
        &self.def
    }

    /// The JSON Schema 2020-12 document the definition compiles to (served to clients as is).
    pub fn json_schema(&self) -> &Value {
        &self.schema
    }

    /// The current definition's field of this name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.by_name.get(name).and_then(|&i| self.def.fields.get(i))
    }

    fn error(&self, f: &FieldDef, p: &Problem, lang: Lang) -> FieldError {
        let message = field_message(p.code, label_of(f, lang), p.detail.as_deref(), lang);
        FieldError::new(f.name.as_str(), p.code, message)
    }

    /// Validates and normalizes the current definition's non-computed fields of `doc` in
    /// place, pushing every problem (at most one per field and code).
    fn validate_fields(
        &self,
        doc: &mut Map<String, Value>,
        today: Date,
        lang: Lang,
        hidden: &[usize],
        out: &mut Vec<FieldError>,
    ) {
        let n = self.def.fields.len();
        // Required first: a missing value gets only that error. A field its `visible_if`
        // hides is not required.
        let mut skip = vec![false; n];
        for (i, f) in self.def.fields.iter().enumerate() {
            if f.field_type.is_computed() {
                skip[i] = true;
            } else if f.required && !hidden.contains(&i) && is_empty_value(doc.get(f.name.as_str()))
            {
                out.push(self.error(f, &Problem::new("required"), lang));
                skip[i] = true;
            }
        }
        // The JSON Schema pass.
        let instance = Value::Object(std::mem::take(doc));
        if !self.validator.is_valid(&instance) {
            let mut seen: HashSet<(usize, &'static str)> = HashSet::new();
            for e in self.validator.iter_errors(&instance) {
                let path = e.instance_path();
                let mut segments = path.iter();
                let Some(LocationSegment::Property(name)) = segments.next() else {
                    continue;
                };
                let Some(&i) = self.by_name.get(name.as_ref()) else {
                    continue;
                };
                if skip[i] {
                    continue;
                }
                let depth = path.iter().count();
                let f = &self.def.fields[i];
                let p = schema_problem(f, e.kind(), e.instance(), depth, today);
                if seen.insert((i, p.code)) {
                    out.push(self.error(f, &p, lang));
                }
            }
            for (i, _) in seen {
                skip[i] = true;
            }
        }
        if let Value::Object(m) = instance {
            *doc = m;
        }
        // The checks JSON Schema cannot express, and normalization.
        for (i, f) in self.def.fields.iter().enumerate() {
            if skip[i] {
                continue;
            }
            let Some(v) = doc.get_mut(f.name.as_str()) else {
                continue;
            };
            if v.is_null() {
                continue;
            }
            match check_value(f, v, today) {
                Ok(Some(normalized)) => *v = normalized,
                Ok(None) => {}
                Err(p) => out.push(self.error(f, &p, lang)),
            }
        }
    }

    /// Computes the formula fields in definition order into `doc`.
    fn compute_formulas(
        &self,
        doc: &mut Map<String, Value>,
        ctx: &PrepareContext,
        lang: Lang,
        out: &mut Vec<FieldError>,
    ) {
        if self.formulas.is_empty() {
            return;
        }
        // A formula judges local dates at the write's moment, so the zone's offset then is
        // the zone for it.
        let time = crate::expr::TimeContext {
            now: ctx.now,
            timezone: jiff::tz::TimeZone::fixed(
                jiff::tz::Offset::from_seconds(ctx.offset.whole_seconds())
                    .unwrap_or(jiff::tz::Offset::UTC),
            ),
        };
        let mut record = rhai::Map::new();
        for f in &self.def.fields {
            // Sensitive values never reach a formula, however it reads the record.
            if f.field_type == FieldType::Formula || f.is_sensitive() {
                continue;
            }
            if let Some(v) = doc.get(f.name.as_str()) {
                record.insert(f.name.as_str().into(), formula_value(f, v));
            }
        }
        for (i, ast) in &self.formulas {
            let Some(f) = self.def.fields.get(*i) else {
                continue;
            };
            let result = f.result.unwrap_or_default();
            let value = formula::eval_formula(ast, &record, &time)
                .and_then(|d| formula::to_result(d, result));
            match value {
                Ok(v) => {
                    if let Some(p) = check_range(f, &v) {
                        out.push(self.error(f, &p, lang));
                    }
                    record.insert(f.name.as_str().into(), formula_value(f, &v));
                    doc.insert(f.name.to_string(), v);
                }
                Err(cause) => {
                    out.push(self.error(f, &Problem::with("formula_error", cause.message()), lang));
                }
            }
        }
    }

    /// Validates one write and returns the normalized full document, or every problem at once.
    ///
    /// `input` is what the caller sent (a create's data or a PATCH's); `existing` the stored
    /// plaintext document on update, `None` on create. The result is `existing` (every key,
    /// also those of removed fields) overlaid with `input`; a null clears a field; on create
    /// an absent field gets its default. Formulas are computed once the rest is valid;
    /// autonumbers are left as `existing` has them.
    pub fn prepare(
        &self,
        input: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
        ctx: &PrepareContext,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        let lang = ctx.lang;
        let mut errors = super::checks::nul_characters(
            input,
            |k| self.field(k).map(|f| label_of(f, lang).into()),
            lang,
        );
        let mut doc = existing.cloned().unwrap_or_default();
        for (key, value) in input {
            let Some(f) = self.field(key) else {
                let message = field_message("unknown_field", key, None, lang);
                errors.push(FieldError::new(key.as_str(), "unknown_field", message));
                continue;
            };
            if f.field_type.is_computed() {
                let old = existing.and_then(|e| e.get(key)).unwrap_or(&Value::Null);
                if value != old {
                    errors.push(self.error(f, &Problem::new("read_only"), lang));
                }
                continue;
            }
            if value.is_null() {
                doc.remove(key);
            } else {
                doc.insert(key.clone(), value.clone());
            }
        }
        if existing.is_none() {
            for f in &self.def.fields {
                if let Some(default) = &f.default {
                    if !f.field_type.is_computed() && !input.contains_key(f.name.as_str()) {
                        doc.insert(f.name.to_string(), default.clone());
                    }
                }
            }
        }
        let judged_at = EvalContext {
            today: ctx.today,
            now: ctx.now,
        };
        let holds = |rule: &FilterExpr, record: &Map<String, Value>| {
            evaluate(rule, record, &judged_at).unwrap_or(false)
        };
        // `visible_if` is judged on the record after the write.
        let hidden: Vec<usize> = self
            .rules
            .iter()
            .filter(|(_, visible, _)| visible.as_ref().is_some_and(|r| !holds(r, &doc)))
            .map(|(i, _, _)| *i)
            .collect();
        self.validate_fields(&mut doc, ctx.today, lang, &hidden, &mut errors);
        // Formulas over invalid data would only add noise.
        if errors.is_empty() {
            self.compute_formulas(&mut doc, ctx, lang, &mut errors);
        }
        // `readonly_if` is judged on the stored record (on create: on the record being
        // created); a read-only field may be sent back unchanged, never changed.
        for (i, _, readonly) in &self.rules {
            let (Some(rule), Some(f)) = (readonly, self.def.fields.get(*i)) else {
                continue;
            };
            let name = f.name.as_str();
            if !input.contains_key(name) || !holds(rule, existing.unwrap_or(&doc)) {
                continue;
            }
            let before = existing.and_then(|e| e.get(name)).filter(|v| !v.is_null());
            let after = doc.get(name).filter(|v| !v.is_null());
            if before != after && !errors.iter().any(|e| e.field == name) {
                errors.push(self.error(f, &Problem::new("read_only"), lang));
            }
        }
        if errors.is_empty() {
            Ok(doc)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    const ID: &str = "11010519491231002X";

    fn zh() -> PrepareContext {
        PrepareContext {
            lang: Lang::Zh,
            today: date!(2026 - 03 - 01),
            now: time::macros::datetime!(2026 - 03 - 01 10:00 +08:00),
            offset: time::macros::offset!(+8),
        }
    }

    fn en() -> PrepareContext {
        PrepareContext {
            lang: Lang::En,
            ..zh()
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn readonly_rules_with_relative_times_are_judged_at_the_moment_of_the_write() {
        // A complaint is locked for a day after it was closed. The write happens at 22:00 in
        // Shanghai; closed at 21:00 that day (13:00 UTC, after midday UTC) is within the day.
        let def: EntityDefinition = serde_json::from_value(json!({
            "name": "complaint",
            "fields": [
                {"name": "closed_at", "type": "datetime"},
                {"name": "summary", "type": "text",
                 "readonly_if": {"field": "closed_at", "op": "last_n_days", "value": 1}}
            ]
        }))
        .unwrap();
        let complaint = CompiledEntity::compile(def, Lang::En).unwrap();
        let stored = obj(json!({"closed_at": "2026-03-01T13:00:00Z", "summary": "等候时间过长"}));
        let ctx = PrepareContext {
            now: time::macros::datetime!(2026 - 03 - 01 22:00 +08:00),
            ..en()
        };
        let errors = complaint
            .prepare(&obj(json!({"summary": "已处理"})), Some(&stored), &ctx)
            .expect_err("a closed complaint's summary is read-only for a day");
        assert_eq!(errors[0].field, "summary");
        let two_days_later = PrepareContext {
            today: date!(2026 - 03 - 03),
            now: time::macros::datetime!(2026 - 03 - 03 10:00 +08:00),
            ..en()
        };
        assert!(complaint
            .prepare(
                &obj(json!({"summary": "已处理"})),
                Some(&stored),
                &two_days_later
            )
            .is_ok());
    }

    /// A patient like DESIGN.md's: name, ID number, phone, birth date, department, tags,
    /// a computed age and a medical record number.
    fn patient() -> CompiledEntity {
        let def: EntityDefinition = serde_json::from_value(json!({
            "name": "patient",
            "label": {"zh": "患者", "en": "Patient"},
            "fields": [
                {"name": "mrn", "type": "autonumber", "prefix": "P", "unique": true},
                {"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}, "required": true, "max_length": 50},
                {"name": "id_number", "type": "id_card", "label": {"zh": "身份证号", "en": "ID number"}, "sensitive": true, "unique": true},
                {"name": "phone", "type": "phone", "label": {"zh": "手机号", "en": "Phone"}},
                {"name": "birth_date", "type": "date", "label": {"zh": "出生日期", "en": "Birth date"}},
                {"name": "age", "type": "formula", "expr": "if record.birth_date == () { () } else { age(record.birth_date) }", "result": "integer"},
                {"name": "department", "type": "select", "options": [{"value": "cardiology"}, {"value": "oncology"}], "default": "cardiology"},
                {"name": "level", "type": "select", "options": [{"value": "normal"}, {"value": "vip"}]},
                {"name": "tags", "type": "tags"},
                {"name": "balance", "type": "money", "min": 0},
                {"name": "visits", "type": "integer", "min": 0, "max": 1000},
                {"name": "email", "type": "email"},
                {"name": "seen_at", "type": "datetime"},
                {"name": "doctor", "type": "user"},
                {"name": "files", "type": "attachment"}
            ],
            "layout": [{"section": {"zh": "基本信息"}, "fields": ["name", "id_number", "phone"]}],
            "owner_field": "doctor",
            "department_field": "department",
            "medical_record": true
        }))
        .unwrap();
        CompiledEntity::compile(def, Lang::Zh).unwrap()
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn compiled_entities_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<CompiledEntity>();
    }

    #[test]
    fn a_good_patient_is_normalized() {
        let p = patient();
        let input = obj(json!({
            "name": " 张三 ",
            "id_number": "11010519491231002x",
            "phone": "+86 138-0013-8000",
            "birth_date": "1949-12-31",
            "tags": [" 高血压 ", "", "糖尿病", "高血压"],
            "balance": 0.1,
            "visits": 3.0,
            "email": "zs@example.cn",
            "seen_at": "2026-03-01T08:30:00+08:00",
            "doctor": "0190A3C4-5B6D-7E8F-9A0B-1C2D3E4F5A6B",
            "files": [{"id": "0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b", "name": "ct.pdf", "size": 1024, "content_type": "application/pdf"}]
        }));
        let doc = p.prepare(&input, None, &zh()).unwrap();
        assert_eq!(doc["name"], json!(" 张三 "), "text is kept as typed");
        assert_eq!(doc["id_number"], json!(ID));
        assert_eq!(doc["phone"], json!("13800138000"));
        assert_eq!(doc["tags"], json!(["高血压", "糖尿病"]));
        assert_eq!(doc["balance"], json!(0.1));
        assert_eq!(doc["visits"], json!(3));
        assert_eq!(doc["seen_at"], json!("2026-03-01T00:30:00.000000Z"));
        assert_eq!(doc["doctor"], json!("0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"));
        assert_eq!(
            doc["department"],
            json!("cardiology"),
            "the default on create"
        );
        assert_eq!(doc["age"], json!(76), "computed at ctx.today");
        assert!(!doc.contains_key("mrn"), "the store assigns autonumbers");
    }

    #[test]
    fn a_bad_patient_gets_every_error_at_once_in_chinese_and_english() {
        let p = patient();
        let input = obj(json!({"id_number": "110105194912310021", "phone": "12345"}));
        let errors = p.prepare(&input, None, &zh()).unwrap_err();
        assert_eq!(
            codes(&errors),
            vec![
                ("id_number", "id_card_checksum"),
                ("name", "required"),
                ("phone", "phone_format")
            ]
        );
        let msg = |errs: &[FieldError], field: &str| {
            errs.iter()
                .find(|e| e.field == field)
                .unwrap()
                .message
                .clone()
        };
        assert_eq!(msg(&errors, "name"), "姓名 为必填项");
        assert_eq!(msg(&errors, "id_number"), "身份证号 校验位不正确");
        let errors = p.prepare(&input, None, &en()).unwrap_err();
        assert_eq!(codes(&errors).len(), 3);
        assert_eq!(msg(&errors, "name"), "Name is required");
        assert_eq!(
            msg(&errors, "id_number"),
            "ID number: the check digit is wrong"
        );
        assert!(msg(&errors, "phone").starts_with("Phone "));
    }

    #[test]
    fn required_rejects_blank_text_and_null() {
        let p = patient();
        for blank in [json!(""), json!("   "), Value::Null] {
            let errors = p
                .prepare(&obj(json!({"name": blank})), None, &en())
                .unwrap_err();
            assert_eq!(codes(&errors), vec![("name", "required")]);
        }
    }

    #[test]
    fn each_kind_of_bad_value_gets_its_code() {
        let p = patient();
        let input = obj(json!({
            "name": "x".repeat(51),
            "level": "gold",
            "balance": 19.999,
            "visits": 1.5,
            "email": "not-an-email",
            "seen_at": "2026-03-01 08:30",
            "birth_date": "1990-02-30",
            "doctor": "someone",
            "tags": "not a list",
            "files": [{"id": "x"}]
        }));
        let errors = p.prepare(&input, None, &en()).unwrap_err();
        assert_eq!(
            codes(&errors),
            vec![
                ("balance", "money_precision"),
                ("birth_date", "date_format"),
                ("doctor", "invalid_reference"),
                ("email", "email_format"),
                ("files", "invalid_type"),
                ("level", "invalid_option"),
                ("name", "max_length"),
                ("seen_at", "datetime_format"),
                ("tags", "invalid_type"),
                ("visits", "not_integer"),
            ]
        );
        let below = p
            .prepare(
                &obj(json!({"name": "a", "balance": -1, "visits": 1001})),
                None,
                &en(),
            )
            .unwrap_err();
        assert_eq!(codes(&below), vec![("balance", "min"), ("visits", "max")]);
        assert!(
            below
                .iter()
                .any(|e| e.message == "visits must be at most 1000"),
            "{below:?}"
        );
    }

    #[test]
    fn id_numbers_with_bad_shape_or_birth_dates() {
        let p = patient();
        let first17 = "11010520260302001";
        let c = super::super::checks::id_card_check_char(first17.as_bytes()).unwrap();
        let future = format!("{first17}{c}");
        for (id, code) in [
            ("1101051949", "id_card_format"),
            (future.as_str(), "id_card_birth_date"),
            ("110105194902300011", "id_card_birth_date"),
        ] {
            let errors = p
                .prepare(&obj(json!({"name": "a", "id_number": id})), None, &en())
                .unwrap_err();
            assert_eq!(codes(&errors), vec![("id_number", code)], "{id}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let p = patient();
        let errors = p
            .prepare(&obj(json!({"name": "a", "nickname": "b"})), None, &en())
            .unwrap_err();
        assert_eq!(codes(&errors), vec![("nickname", "unknown_field")]);
    }

    #[test]
    fn computed_fields_are_read_only_unless_unchanged() {
        let p = patient();
        let existing = p
            .prepare(
                &obj(json!({"name": "a", "birth_date": "2000-01-01"})),
                None,
                &en(),
            )
            .unwrap();
        let mut existing = existing;
        existing.insert("mrn".into(), json!("P2026000001"));
        assert_eq!(existing["age"], json!(26));
        // Sending back what was read is fine.
        let same = obj(json!({"age": 26, "mrn": "P2026000001", "name": "b"}));
        let doc = p.prepare(&same, Some(&existing), &en()).unwrap();
        assert_eq!(doc["mrn"], json!("P2026000001"));
        // Changing them is not.
        let changed = obj(json!({"age": 30, "mrn": "P1"}));
        let errors = p.prepare(&changed, Some(&existing), &en()).unwrap_err();
        assert_eq!(
            codes(&errors),
            vec![("age", "read_only"), ("mrn", "read_only")]
        );
        let errors = p
            .prepare(&obj(json!({"name": "a", "age": 1})), None, &en())
            .unwrap_err();
        assert_eq!(codes(&errors), vec![("age", "read_only")]);
    }

    #[test]
    fn patch_overlays_existing_and_keeps_removed_fields_data() {
        let p = patient();
        let existing = obj(json!({
            "name": "张三",
            "phone": "13800138000",
            "department": "oncology",
            "old_notes": "from a field since removed",
            "mrn": "P2026000001"
        }));
        let patch = obj(json!({"phone": "010-62345678", "level": "vip", "department": null}));
        let doc = p.prepare(&patch, Some(&existing), &zh()).unwrap();
        assert_eq!(doc["name"], json!("张三"));
        assert_eq!(doc["phone"], json!("010-62345678"));
        assert_eq!(doc["level"], json!("vip"));
        assert!(
            !doc.contains_key("department"),
            "null clears, and no default on update"
        );
        assert_eq!(doc["old_notes"], json!("from a field since removed"));
        assert_eq!(doc["mrn"], json!("P2026000001"));
        assert_eq!(
            doc["age"],
            Value::Null,
            "no birth date: the formula gives ()"
        );
        // A PATCH that breaks a required field through null is caught.
        let errors = p
            .prepare(&obj(json!({"name": null})), Some(&existing), &en())
            .unwrap_err();
        assert_eq!(codes(&errors), vec![("name", "required")]);
    }

    #[test]
    fn defaults_apply_on_create_unless_sent() {
        let p = patient();
        let doc = p.prepare(&obj(json!({"name": "a"})), None, &en()).unwrap();
        assert_eq!(doc["department"], json!("cardiology"));
        let doc = p
            .prepare(
                &obj(json!({"name": "a", "department": "oncology"})),
                None,
                &en(),
            )
            .unwrap();
        assert_eq!(doc["department"], json!("oncology"));
        let doc = p
            .prepare(&obj(json!({"name": "a", "department": null})), None, &en())
            .unwrap();
        assert!(!doc.contains_key("department"));
    }

    fn order_def(expr_total: &str) -> EntityDefinition {
        serde_json::from_value(json!({
            "name": "order",
            "fields": [
                {"name": "price", "type": "money"},
                {"name": "qty", "type": "integer"},
                {"name": "total", "type": "formula", "expr": expr_total, "result": "money"},
                {"name": "big", "type": "formula", "expr": "record.total > 100.0", "result": "boolean"},
                {"name": "note", "type": "formula", "expr": "`total ${record.total}`", "result": "text"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn formulas_compute_in_order() {
        let order =
            CompiledEntity::compile(order_def("record.price * record.qty"), Lang::En).unwrap();
        let doc = order
            .prepare(&obj(json!({"price": 12.5, "qty": 10})), None, &en())
            .unwrap();
        assert_eq!(doc["total"], json!(125));
        assert_eq!(
            doc["big"],
            json!(true),
            "later formulas see earlier results"
        );
        assert_eq!(
            doc["note"],
            json!("total 125"),
            "money is an exact decimal in formulas"
        );
        let exact = order
            .prepare(&obj(json!({"price": 19.99, "qty": 3})), None, &en())
            .unwrap();
        assert_eq!(exact["total"], json!(59.97), "no binary float drift");
    }

    #[test]
    fn formula_failures_are_formula_errors() {
        let order = CompiledEntity::compile(order_def("loop { }"), Lang::En).unwrap();
        let errors = order
            .prepare(&obj(json!({"price": 1, "qty": 1})), None, &en())
            .unwrap_err();
        assert_eq!(codes(&errors)[0], ("total", "formula_error"));
        assert!(
            errors[0].message.contains("too many operations"),
            "{errors:?}"
        );

        let order = CompiledEntity::compile(order_def("\"text\""), Lang::En).unwrap();
        let errors = order
            .prepare(&obj(json!({"price": 1})), None, &en())
            .unwrap_err();
        assert_eq!(codes(&errors)[0], ("total", "formula_error"));

        // A missing field reads as (): price * () fails as an error, not a panic.
        let order =
            CompiledEntity::compile(order_def("record.price * record.qty"), Lang::En).unwrap();
        let errors = order
            .prepare(&obj(json!({"price": 1})), None, &en())
            .unwrap_err();
        assert_eq!(codes(&errors)[0], ("total", "formula_error"));
    }

    #[test]
    fn the_json_schema_describes_every_field() {
        let p = patient();
        let s = p.json_schema();
        assert_eq!(
            s["$schema"],
            json!("https://json-schema.org/draft/2020-12/schema")
        );
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["required"], json!(["name"]));
        assert_eq!(s["properties"]["id_number"]["format"], json!("id_card"));
        assert_eq!(s["properties"]["phone"]["format"], json!("phone"));
        assert_eq!(s["properties"]["doctor"]["format"], json!("uuid"));
        assert_eq!(s["properties"]["seen_at"]["format"], json!("date-time"));
        assert_eq!(s["properties"]["level"]["enum"], json!(["normal", "vip"]));
        assert_eq!(s["properties"]["tags"]["items"]["type"], json!("string"));
        assert_eq!(s["properties"]["name"]["maxLength"], json!(50));
        assert_eq!(s["properties"]["age"]["type"], json!("integer"));
        assert_eq!(s["properties"]["age"]["readOnly"], json!(true));
        assert_eq!(s["properties"]["name"]["title"], json!("姓名"));
        // It is a valid 2020-12 schema our validator builds.
        assert!(validator_options().build(s).is_ok());
    }

    #[test]
    fn a_broken_definition_reports_every_problem_at_once() {
        let def: EntityDefinition = serde_json::from_value(json!({
            "name": "broken",
            "fields": [
                {"name": "a", "type": "text"},
                {"name": "a", "type": "text"},
                {"name": "kind", "type": "select"},
                {"name": "ref", "type": "reference"},
                {"name": "code", "type": "text", "pattern": "(unclosed"},
                {"name": "calc", "type": "formula", "expr": "1 +* 2"},
                {"name": "n", "type": "integer", "default": "ten"},
                {"name": "p", "type": "phone", "min_length": 3, "options": [{"value": "x"}]},
                {"name": "m", "type": "number", "min": 5, "max": 1},
                {"name": "b", "type": "boolean", "unique": true, "sensitive": true},
                {"name": "t", "type": "tags", "default": "ok"},
                {"name": "auto", "type": "autonumber", "digits": 13, "default": "P1"},
                {"name": "s", "type": "select", "options": [{"value": "x"}, {"value": "x"}, {"value": ""}], "default": "y"}
            ],
            "layout": [{"section": {"en": "Main"}, "fields": ["a", "ghost"]}],
            "owner_field": "a",
            "department_field": "nowhere"
        }))
        .unwrap();
        let err = CompiledEntity::compile(def, Lang::En).unwrap_err();
        let EngineError::BadRequest { message, details } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            codes(details),
            vec![
                ("department_field", "unknown_field"),
                ("fields.1.name", "duplicate_field"),
                ("fields.10.default", "invalid_default"),
                ("fields.11.default", "not_allowed"),
                ("fields.11.digits", "out_of_range"),
                ("fields.12.default", "invalid_default"),
                ("fields.12.options.1.value", "duplicate_option"),
                ("fields.12.options.2.value", "empty_option"),
                ("fields.2.options", "required"),
                ("fields.3.entity", "required"),
                ("fields.4.pattern", "invalid_pattern"),
                ("fields.5.expr", "invalid_formula"),
                ("fields.6.default", "invalid_default"),
                ("fields.7.min_length", "not_allowed"),
                ("fields.7.options", "not_allowed"),
                ("fields.8.min", "invalid_range"),
                ("fields.9.sensitive", "not_allowed"),
                ("fields.9.unique", "not_allowed"),
                ("layout.0.fields", "unknown_field"),
                ("owner_field", "wrong_field_type"),
            ],
            "{details:#?}"
        );
        assert!(message.contains("20 problems"), "{message}");
        let zh = CompiledEntity::compile(order_def("1 +"), Lang::Zh).unwrap_err();
        assert!(
            zh.details()[0].message.starts_with("公式无法编译"),
            "{zh:?}"
        );
    }

    #[test]
    fn layout_tabs_need_a_label_and_one_label_per_tab() {
        let with_layout = |layout: Value| -> EntityDefinition {
            serde_json::from_value(json!({
                "name": "tabbed",
                "fields": [{"name": "a", "type": "text"}, {"name": "b", "type": "text"}],
                "layout": layout
            }))
            .unwrap()
        };
        let good = with_layout(json!([
            {"section": {"zh": "基本"}, "tab": {"zh": "概况", "en": "Overview"}, "fields": ["a"]},
            {"section": {"zh": "其他"}, "fields": ["b"]},
            {"section": {"zh": "补充"}, "tab": {"zh": "概况", "en": "Overview"}, "fields": []}
        ]));
        let compiled = CompiledEntity::compile(good.clone(), Lang::En).expect("valid tabs");
        assert_eq!(
            compiled.definition().layout[0].tab,
            Some(Label {
                zh: Some("概况".into()),
                en: Some("Overview".into())
            })
        );
        // Kept through a save and a load: the stored JSON carries it, and an untabbed
        // section's JSON has no `tab` at all.
        let stored = serde_json::to_value(&good).unwrap();
        assert_eq!(stored["layout"][0]["tab"]["en"], json!("Overview"));
        assert!(stored["layout"][1].get("tab").is_none());
        assert_eq!(
            serde_json::from_value::<EntityDefinition>(stored).unwrap(),
            good
        );

        let bad = with_layout(json!([
            {"section": {"zh": "基本"}, "tab": {}, "fields": ["a"]},
            {"section": {"zh": "其他"}, "tab": {"zh": " ", "en": ""}, "fields": ["b"]},
            {"section": {"zh": "一"}, "tab": {"zh": "概况", "en": "Overview"}, "fields": []},
            {"section": {"zh": "二"}, "tab": {"zh": "概况", "en": "Summary"}, "fields": []}
        ]));
        let err = CompiledEntity::compile(bad, Lang::Zh).unwrap_err();
        assert_eq!(
            codes(err.details()),
            vec![
                ("layout.0.tab", "empty_tab"),
                ("layout.1.tab", "empty_tab"),
                ("layout.3.tab", "inconsistent_tab"),
            ]
        );
        assert!(
            err.details()[2].message.contains("概况 / Overview"),
            "{err:?}"
        );
    }

    #[test]
    fn a_field_limit_of_two_hundred() {
        let fields: Vec<Value> = (0..201)
            .map(|i| json!({"name": format!("f{i}"), "type": "text"}))
            .collect();
        let def: EntityDefinition =
            serde_json::from_value(json!({"name": "wide", "fields": fields})).unwrap();
        let err = CompiledEntity::compile(def, Lang::En).unwrap_err();
        assert_eq!(err.details()[0].code, "too_many_fields");
    }

    #[test]
    fn odd_inputs_never_panic() {
        let p = patient();
        for v in [
            json!(null),
            json!(true),
            json!(1e308),
            json!(-0.0),
            json!(u64::MAX),
            json!([]),
            json!([null, 1, {"a": []}]),
            json!({"nested": {"deep": [1, 2]}}),
            json!("١٢٣"),
            json!("\u{0}"),
        ] {
            for f in &p.definition().fields {
                let input = obj(json!({ f.name.as_str(): v.clone(), "name": "a" }));
                let _ = p.prepare(&input, None, &en());
                let _ = p.prepare(&input, Some(&input), &zh());
            }
        }
    }
}
