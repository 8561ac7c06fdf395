//! Localized messages for record validation errors (per field) and definition errors.

use crate::i18n::Lang;

/// The message for a record validation error `code` on the field labelled `label`.
/// `detail` is the limit (min/max/lengths), the offending value, or the cause.
pub fn field_message(code: &str, label: &str, detail: Option<&str>, lang: Lang) -> String {
    let d = detail.unwrap_or("");
    match (code, lang) {
        ("required", Lang::Zh) => format!("{label} 为必填项"),
        ("required", Lang::En) => format!("{label} is required"),
        ("unknown_field", Lang::Zh) => format!("未知字段 {label}"),
        ("unknown_field", Lang::En) => format!("Unknown field {label}"),
        ("nul_character", Lang::Zh) => format!("{label} 含有不允许的空字符（\\u0000）"),
        ("nul_character", Lang::En) => {
            format!("{label} contains a NUL character (\\u0000), which is not allowed")
        }
        ("read_only", Lang::Zh) => format!("{label} 为只读字段，不能修改"),
        ("read_only", Lang::En) => format!("{label} is read-only"),
        ("invalid_type", Lang::Zh) => format!("{label} 的值类型不正确"),
        ("invalid_type", Lang::En) => format!("{label}: the value has the wrong type"),
        ("min_length", Lang::Zh) => format!("{label} 至少 {d} 个字符"),
        ("min_length", Lang::En) => format!("{label} must be at least {d} characters"),
        ("max_length", Lang::Zh) => format!("{label} 最多 {d} 个字符"),
        ("max_length", Lang::En) => format!("{label} must be at most {d} characters"),
        ("pattern", Lang::Zh) => format!("{label} 格式不正确"),
        ("pattern", Lang::En) => format!("{label} does not have the required format"),
        ("min", Lang::Zh) => format!("{label} 不能小于 {d}"),
        ("min", Lang::En) => format!("{label} must be at least {d}"),
        ("max", Lang::Zh) => format!("{label} 不能大于 {d}"),
        ("max", Lang::En) => format!("{label} must be at most {d}"),
        ("invalid_option", Lang::Zh) => format!("{label} 的值不是可选项之一"),
        ("invalid_option", Lang::En) => format!("{label}: not one of the options"),
        ("not_integer", Lang::Zh) => format!("{label} 必须为整数"),
        ("not_integer", Lang::En) => format!("{label} must be a whole number"),
        ("id_card_format", Lang::Zh) => format!("{label} 应为 18 位身份证号"),
        ("id_card_format", Lang::En) => {
            format!("{label}: an ID number is 17 digits followed by a digit or X")
        }
        ("id_card_checksum", Lang::Zh) => format!("{label} 校验位不正确"),
        ("id_card_checksum", Lang::En) => format!("{label}: the check digit is wrong"),
        ("id_card_birth_date", Lang::Zh) => format!("{label} 中的出生日期无效"),
        ("id_card_birth_date", Lang::En) => format!("{label}: the birth date is not valid"),
        ("phone_format", Lang::Zh) => format!("{label} 不是有效的手机或固定电话号码"),
        ("phone_format", Lang::En) => format!("{label} is not a valid mobile or landline number"),
        ("email_format", Lang::Zh) => format!("{label} 不是有效的电子邮箱地址"),
        ("email_format", Lang::En) => format!("{label} is not a valid email address"),
        ("date_format", Lang::Zh) => format!("{label} 应为 YYYY-MM-DD 格式的日期"),
        ("date_format", Lang::En) => format!("{label} must be a date written YYYY-MM-DD"),
        ("datetime_format", Lang::Zh) => format!("{label} 应为带时区的 RFC 3339 时间"),
        ("datetime_format", Lang::En) => {
            format!("{label} must be an RFC 3339 date-time with an offset")
        }
        ("money_precision", Lang::Zh) => format!("{label} 金额最多保留两位小数"),
        ("money_precision", Lang::En) => {
            format!("{label}: an amount has at most 2 decimal places")
        }
        ("invalid_reference", Lang::Zh) => format!("{label} 应为记录 ID（UUID）"),
        ("invalid_reference", Lang::En) => format!("{label} must be a record id (UUID)"),
        ("invalid_subject", Lang::Zh) => {
            format!("{label} 应为关联记录 {{\"entity\": 实体名, \"id\": 记录 ID}}")
        }
        ("invalid_subject", Lang::En) => {
            format!("{label} must be a record link {{\"entity\": name, \"id\": record id}}")
        }
        ("entity_not_allowed", Lang::Zh) => format!("{label} 不能关联该实体的记录"),
        ("entity_not_allowed", Lang::En) => {
            format!("{label} may not link to a record of that entity")
        }
        ("formula_error", Lang::Zh) => format!("{label} 计算失败：{d}"),
        ("formula_error", Lang::En) => format!("{label} could not be computed: {d}"),
        (_, Lang::Zh) => format!("{label} 的值无效"),
        (_, Lang::En) => format!("{label}: invalid value"),
    }
}

/// The message for a definition error `code`; `a` and `b` are its arguments.
pub fn definition_message(code: &str, a: &str, b: &str, lang: Lang) -> String {
    match (code, lang) {
        ("duplicate_field", Lang::Zh) => format!("字段名 {a} 重复"),
        ("duplicate_field", Lang::En) => format!("The field name {a} is used more than once"),
        ("too_many_fields", Lang::Zh) => format!("字段数 {a} 超过上限 {b}"),
        ("too_many_fields", Lang::En) => format!("{a} fields is more than the limit of {b}"),
        ("not_allowed", Lang::Zh) => format!("{b} 类型的字段不能设置 {a}"),
        ("not_allowed", Lang::En) => format!("{a} is not allowed on a {b} field"),
        ("required", Lang::Zh) => format!("{b} 类型的字段必须设置 {a}"),
        ("required", Lang::En) => format!("A {b} field needs {a}"),
        ("empty_option", Lang::Zh) => "选项值不能为空".to_string(),
        ("empty_option", Lang::En) => "An option value cannot be empty".to_string(),
        ("duplicate_option", Lang::Zh) => format!("选项值 {a} 重复"),
        ("duplicate_option", Lang::En) => format!("The option value {a} is used more than once"),
        ("out_of_range", Lang::Zh) => format!("{a} 应在 {b} 之间"),
        ("out_of_range", Lang::En) => format!("{a} must be between {b}"),
        ("invalid_range", Lang::Zh) => format!("{a} 不能大于 {b}"),
        ("invalid_range", Lang::En) => format!("{a} cannot be greater than {b}"),
        ("invalid_pattern", Lang::Zh) => format!("正则表达式无效：{a}"),
        ("invalid_pattern", Lang::En) => format!("Invalid regular expression: {a}"),
        ("invalid_formula", Lang::Zh) => format!("公式无法编译：{a}"),
        ("invalid_formula", Lang::En) => format!("The formula does not compile: {a}"),
        ("invalid_default", Lang::Zh) => format!("默认值无效：{a}"),
        ("invalid_default", Lang::En) => format!("Invalid default value: {a}"),
        ("unknown_field", Lang::Zh) => format!("字段 {a} 不存在"),
        ("unknown_field", Lang::En) => format!("There is no field {a}"),
        ("empty_tab", Lang::Zh) => "标签页名称至少需要中文（zh）或英文（en）之一".to_string(),
        ("empty_tab", Lang::En) => "A tab label needs a zh or an en text".to_string(),
        ("inconsistent_tab", Lang::Zh) => {
            format!("标签页 {a} 在另一分区的名称不同（{b}）：同一标签页的名称须完全一致")
        }
        ("inconsistent_tab", Lang::En) => format!(
            "The tab {a} is labelled differently in another section ({b}): one tab has one label"
        ),
        ("wrong_field_type", Lang::Zh) => format!("字段 {a} 必须是 {b} 类型"),
        ("wrong_field_type", Lang::En) => format!("The field {a} must be of type {b}"),
        ("invalid_schema", Lang::Zh) => format!("定义无法编译为 JSON Schema：{a}"),
        ("invalid_schema", Lang::En) => {
            format!("The definition does not compile to JSON Schema: {a}")
        }
        (_, Lang::Zh) => format!("定义有误：{a}"),
        (_, Lang::En) => format!("Invalid definition: {a}"),
    }
}

/// The summary message of a rejected definition.
pub fn definition_summary(count: usize, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("实体定义有 {count} 处错误"),
        Lang::En => format!("The entity definition has {count} problems"),
    }
}
