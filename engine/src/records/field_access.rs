//! What a caller may do with a field in a query. The compiler asks here before it names a
//! column: a field hidden from the caller is refused wherever a query names it; a field the
//! caller sees masked may be matched only by one exact value (audited and rate-limited, see
//! `lookups`); a sensitive field the caller may unmask keeps `eq`, `in` and emptiness.

use crate::access::{Action, FieldRule, Principal};
use crate::entities::EntityRuntime;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::FieldDef;
use crate::i18n::Lang;

/// Columns every record fills.
pub(crate) fn is_system_column(field: &str) -> bool {
    matches!(
        field,
        "id" | "version" | "created_at" | "updated_at" | "created_by" | "updated_by"
    )
}

/// How the caller sees a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sight {
    /// Plain text: every operator, sort, grouping and search.
    Plain,
    /// Sensitive, and the caller may unmask it: exact matches (`eq`, `in`) and emptiness.
    Sensitive,
    /// Masked for the caller: one exact value at a time, and emptiness.
    Masked,
}

/// Where a query names a field, for the refusal's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldUse {
    Filter,
    Sort,
    Dimension,
    Measure,
    Export,
}

impl FieldUse {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            FieldUse::Filter => ("筛选", "filter on"),
            FieldUse::Sort => ("排序", "sort by"),
            FieldUse::Dimension => ("分组", "group by"),
            FieldUse::Measure => ("统计", "aggregate"),
            FieldUse::Export => ("导出", "export"),
        }
    }
}

/// A 400 naming `field`, with the reason in both languages.
pub(crate) fn refuse(field: &str, code: &str, zh: String, en: String) -> EngineError {
    let message = format!("{zh}（{en}）");
    EngineError::BadRequest {
        message: message.clone(),
        details: vec![FieldError::new(field, code, message)],
    }
}

/// How `principal` sees `field` of `rt`; a hidden field is refused for `usage`. System
/// columns (id, version, timestamps, authors) are plain to every reader.
pub(crate) fn sight(
    rt: &EntityRuntime,
    principal: &Principal,
    field: &str,
    sensitive: bool,
    usage: FieldUse,
) -> Result<Sight> {
    if is_system_column(field) {
        return Ok(Sight::Plain);
    }
    let (zh, en) = usage.words();
    match principal.field_rule(rt.name(), field) {
        FieldRule::Hidden => Err(refuse(
            field,
            "field_hidden",
            format!("字段 {field} 对您不可见，不能用于{zh}"),
            format!("the field {field} is hidden from you; you cannot {en} it"),
        )),
        FieldRule::Masked => Ok(Sight::Masked),
        FieldRule::Read | FieldRule::Write if sensitive => Ok(Sight::Sensitive),
        FieldRule::Read | FieldRule::Write => Ok(Sight::Plain),
    }
}

/// Refuses a field the caller does not see plainly where only plain fields serve (sorts,
/// dimensions, measures): each answer would be an oracle on the masked value.
pub(crate) fn require_plain(
    rt: &EntityRuntime,
    principal: &Principal,
    field: &str,
    sensitive: bool,
    usage: FieldUse,
) -> Result<()> {
    match sight(rt, principal, field, sensitive, usage)? {
        Sight::Plain => Ok(()),
        Sight::Sensitive | Sight::Masked => {
            let (zh, en) = usage.words();
            Err(refuse(
                field,
                "field_masked",
                format!("字段 {field} 为敏感或脱敏字段，不能用于{zh}"),
                format!("the field {field} is sensitive or masked for you; you cannot {en} it"),
            ))
        }
    }
}

/// Why `principal` may not fill `field` from an import (its code, in Chinese and English), or
/// None when they may.
fn import_refusal(
    rt: &EntityRuntime,
    principal: &Principal,
    name: &str,
) -> Option<(&'static str, String, String)> {
    match principal.field_rule(rt.name(), name) {
        FieldRule::Hidden => Some((
            "field_hidden",
            format!("字段 {name} 对您不可见，不能导入"),
            format!("the field {name} is hidden from you and cannot be imported"),
        )),
        FieldRule::Masked | FieldRule::Read if principal.can(rt.name(), Action::Update) => Some((
            "field_read_only",
            format!("字段 {name} 对您只读，不能导入"),
            format!("the field {name} is read-only for you and cannot be imported"),
        )),
        _ => None,
    }
}

/// Whether an import by `principal` may fill `field`.
pub(crate) fn importable(rt: &EntityRuntime, principal: &Principal, name: &str) -> bool {
    import_refusal(rt, principal, name).is_none()
}

/// Refuses an import whose columns fill a field hidden from the caller, or one a role keeps
/// from them (`masked` or `read` where the caller's roles otherwise write the entity).
pub(crate) fn require_importable(
    rt: &EntityRuntime,
    principal: &Principal,
    targets: &[Option<FieldDef>],
    lang: Lang,
) -> Result<()> {
    let details: Vec<FieldError> = targets
        .iter()
        .flatten()
        .filter_map(|field| {
            let name = field.name.as_str();
            let (code, zh, en) = import_refusal(rt, principal, name)?;
            Some(FieldError::new(name, code, lang.pick(&zh, &en)))
        })
        .collect();
    if details.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
    Err(EngineError::BadRequest {
        message: match lang {
            Lang::Zh => format!("导入映射到了您不能写入的字段：{}", names.join("、")),
            Lang::En => format!(
                "The import maps columns to fields you may not write: {}",
                names.join(", ")
            ),
        },
        details,
    })
}
