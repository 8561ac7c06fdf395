//! A cell's text to a field's JSON value, for import.
//!
//! Coercion only reads the text as the field's type: "1,234.5" as a number, "是" as true,
//! "2026/11/24" as a date. Whether the value is allowed (required, ranges, options, ID-card
//! checksums …) is validation's business, later, on the coerced record.

use crate::forms::definition::{FieldDef, FieldType, SelectOption};
use crate::i18n::Lang;
use once_cell::sync::Lazy;
use regex::Regex;
use serde_json::Value;
use std::borrow::Cow;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// What coercion needs beyond the cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoerceContext {
    /// The configured zone's offset (e.g. +08:00), for datetimes written without one.
    pub utc_offset: UtcOffset,
}

impl CoerceContext {
    pub fn new(utc_offset: UtcOffset) -> Self {
        CoerceContext { utc_offset }
    }
}

/// Why a cell's text cannot be the field's type. The message never repeats the cell's text:
/// the field may be sensitive and import reports are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{code}")]
pub struct CoerceError {
    pub code: &'static str,
}

impl CoerceError {
    pub const INVALID_NUMBER: &'static str = "invalid_number";
    pub const NOT_INTEGER: &'static str = "not_integer";
    pub const OUT_OF_RANGE: &'static str = "out_of_range";
    pub const INVALID_BOOLEAN: &'static str = "invalid_boolean";
    pub const DATE_FORMAT: &'static str = "date_format";
    pub const DATETIME_FORMAT: &'static str = "datetime_format";
    pub const NOT_IMPORTABLE: &'static str = "not_importable";

    fn new(code: &'static str) -> Self {
        CoerceError { code }
    }

    /// The message for the person importing, naming the field by `field_label`.
    pub fn message(&self, field_label: &str, lang: Lang) -> String {
        let l = field_label;
        match (self.code, lang) {
            (Self::INVALID_NUMBER, Lang::Zh) => format!("{l}：不是有效的数字"),
            (Self::INVALID_NUMBER, Lang::En) => format!("{l}: not a valid number"),
            (Self::NOT_INTEGER, Lang::Zh) => format!("{l}：必须是整数"),
            (Self::NOT_INTEGER, Lang::En) => format!("{l}: must be a whole number"),
            (Self::OUT_OF_RANGE, Lang::Zh) => format!("{l}：数值超出可保存的范围"),
            (Self::OUT_OF_RANGE, Lang::En) => format!("{l}: the number is too large"),
            (Self::INVALID_BOOLEAN, Lang::Zh) => {
                format!("{l}：请填写 是/否（或 true/false、1/0）")
            }
            (Self::INVALID_BOOLEAN, Lang::En) => {
                format!("{l}: write yes/no (or true/false, 1/0)")
            }
            (Self::DATE_FORMAT, Lang::Zh) => {
                format!("{l}：日期格式不正确或日期不存在，请写作 2026-11-24")
            }
            (Self::DATE_FORMAT, Lang::En) => {
                format!("{l}: not a valid date; write it as 2026-11-24")
            }
            (Self::DATETIME_FORMAT, Lang::Zh) => {
                format!("{l}：时间格式不正确，请写作 2026-11-24 09:00")
            }
            (Self::DATETIME_FORMAT, Lang::En) => {
                format!("{l}: not a valid date and time; write it as 2026-11-24 09:00")
            }
            (Self::NOT_IMPORTABLE, Lang::Zh) => format!("{l}：该字段不能通过导入填写"),
            (Self::NOT_IMPORTABLE, Lang::En) => format!("{l}: this field cannot be imported"),
            (code, Lang::Zh) => format!("{l}：无效的值（{code}）"),
            (code, Lang::En) => format!("{l}: invalid value ({code})"),
        }
    }

    /// The message naming `field` by its label in `lang` (its name when it has none).
    pub fn message_for(&self, field: &FieldDef, lang: Lang) -> String {
        let label = field
            .label
            .as_ref()
            .and_then(|l| l.text(lang))
            .unwrap_or(field.name.as_str());
        self.message(label, lang)
    }
}

/// The value of `field` that the cell text `raw` stands for: `Ok(None)` for an empty cell (and
/// always for formula fields, which are computed).
pub fn coerce_cell(
    field: &FieldDef,
    raw: &str,
    ctx: &CoerceContext,
) -> Result<Option<Value>, CoerceError> {
    let text = raw.trim();
    if text.is_empty() || field.field_type == FieldType::Formula {
        return Ok(None);
    }
    let value = match field.field_type {
        FieldType::Text
        | FieldType::Textarea
        | FieldType::Phone
        | FieldType::Email
        | FieldType::IdCard
        | FieldType::Autonumber
        | FieldType::User
        | FieldType::Reference => Value::String(text.to_owned()),
        FieldType::Number => number_value(parse_number(text)?),
        FieldType::Integer => Value::from(parse_integer(text)?),
        FieldType::Money => number_value(parse_money(text)?),
        FieldType::Boolean => Value::Bool(parse_boolean(text)?),
        FieldType::Date => Value::String(format_date(
            parse_date(text).ok_or(CoerceError::new(CoerceError::DATE_FORMAT))?,
        )),
        FieldType::Datetime => Value::String(parse_datetime(text, ctx.utc_offset)?),
        FieldType::Select => Value::String(match_option(&field.options, text)),
        FieldType::Multiselect => Value::Array(
            split_list(text)
                .map(|item| Value::String(match_option(&field.options, item)))
                .collect(),
        ),
        FieldType::Tags | FieldType::References => Value::Array(
            split_list(text)
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        ),
        // `patient:0193…` (as exports write it) → `{"entity", "id"}`; text of another shape
        // goes on as it is, for validation to name the field.
        FieldType::Subject => match text.split_once(':') {
            Some((entity, id)) => serde_json::json!({"entity": entity.trim(), "id": id.trim()}),
            None => Value::String(text.to_owned()),
        },
        FieldType::Attachment => return Err(CoerceError::new(CoerceError::NOT_IMPORTABLE)),
        FieldType::Formula => return Ok(None),
    };
    Ok(Some(value))
}

fn number_value(n: f64) -> Value {
    // parse_number only returns finite numbers, which JSON can hold.
    serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
}

/// Full-width digits and signs (as typed with a Chinese input method) to ASCII.
fn to_ascii_digits(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
                '．' => '.',
                '，' => ',',
                '－' | '−' => '-',
                '＋' => '+',
                '：' => ':',
                '／' => '/',
                '　' => ' ',
                _ => c,
            })
            .collect(),
    )
}

/// Plain decimal text, with optional thousand separators in the integer part, and an optional
/// exponent (as Excel writes large numbers in CSV). No "inf", "NaN", spaces or units.
static NUMBER: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d*)?(?:[eE][+-]?\d+)?$")
        .expect("number pattern")
});

fn parse_number(text: &str) -> Result<f64, CoerceError> {
    let invalid = CoerceError::new(CoerceError::INVALID_NUMBER);
    let ascii = to_ascii_digits(text);
    let s = ascii.trim();
    if !NUMBER.is_match(s) || !s.bytes().any(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    let n: f64 = s.replace(',', "").parse().map_err(|_| invalid)?;
    if n.is_finite() {
        Ok(n)
    } else {
        Err(CoerceError::new(CoerceError::OUT_OF_RANGE))
    }
}

fn parse_integer(text: &str) -> Result<i64, CoerceError> {
    let n = parse_number(text)?;
    let ascii = to_ascii_digits(text);
    let s = ascii.trim().replace(',', "");
    // Exactly, without a detour through f64, when written without an exponent: "12", "12.00".
    if !s.contains(['e', 'E']) {
        let (whole, fraction) = s.split_once('.').unwrap_or((&s, ""));
        if !fraction.bytes().all(|b| b == b'0') {
            return Err(CoerceError::new(CoerceError::NOT_INTEGER));
        }
        return match whole {
            "" | "+" | "-" => Ok(0),
            _ => whole
                .parse::<i64>()
                .map_err(|_| CoerceError::new(CoerceError::OUT_OF_RANGE)),
        };
    }
    if n.fract() != 0.0 {
        return Err(CoerceError::new(CoerceError::NOT_INTEGER));
    }
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_POW_63..TWO_POW_63).contains(&n) {
        Ok(n as i64)
    } else {
        Err(CoerceError::new(CoerceError::OUT_OF_RANGE))
    }
}

/// Yuan, with an optional sign, "¥"/"￥" before and "元" after. The value is kept as written;
/// validation rejects more than two decimals.
fn parse_money(text: &str) -> Result<f64, CoerceError> {
    let (sign, rest) = match text.strip_prefix(['-', '－']) {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix(['+', '＋']).unwrap_or(text)),
    };
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(['¥', '￥']).unwrap_or(rest).trim();
    let rest = rest.strip_suffix('元').unwrap_or(rest).trim_end();
    if rest.starts_with(['-', '+', '－', '＋']) && !sign.is_empty() {
        return Err(CoerceError::new(CoerceError::INVALID_NUMBER));
    }
    parse_number(&format!("{sign}{rest}"))
}

fn parse_boolean(text: &str) -> Result<bool, CoerceError> {
    let lower = text.to_lowercase();
    match lower.as_str() {
        "true" | "1" | "yes" | "y" | "是" | "√" | "✓" | "✔" | "对" => Ok(true),
        "false" | "0" | "no" | "n" | "否" | "×" | "✗" | "✘" | "错" => Ok(false),
        _ => Err(CoerceError::new(CoerceError::INVALID_BOOLEAN)),
    }
}

/// 2026-11-24, 2026/11/24, 2026.11.24 (one separator throughout, month and day with or without
/// a leading zero) and 2026年11月24日.
static DATE: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        r"^(\d{4})(?:-(\d{1,2})-(\d{1,2})|/(\d{1,2})/(\d{1,2})|\.(\d{1,2})\.(\d{1,2})|\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?)$",
    )
    .expect("date pattern")
});

fn parse_date(text: &str) -> Option<Date> {
    let ascii = to_ascii_digits(text);
    let caps = DATE.captures(ascii.trim())?;
    let year: i32 = caps.get(1)?.as_str().parse().ok()?;
    let (month, day) = [(2, 3), (4, 5), (6, 7), (8, 9)]
        .into_iter()
        .find_map(|(m, d)| Some((caps.get(m)?, caps.get(d)?)))?;
    let month = Month::try_from(month.as_str().parse::<u8>().ok()?).ok()?;
    let day: u8 = day.as_str().parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// H:MM or H:MM:SS (fractions of a second allowed and kept).
static TIME: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$").expect("time pattern")
});

fn parse_time(text: &str) -> Option<Time> {
    let caps = TIME.captures(text)?;
    let hour: u8 = caps.get(1)?.as_str().parse().ok()?;
    let minute: u8 = caps.get(2)?.as_str().parse().ok()?;
    let second: u8 = caps.get(3).map_or(Some(0), |s| s.as_str().parse().ok())?;
    let nanos: u32 = match caps.get(4) {
        Some(f) => format!("{:0<9}", f.as_str()).parse().ok()?,
        None => 0,
    };
    Time::from_hms_nano(hour, minute, second, nanos).ok()
}

/// RFC 3339 as written; a local date and time ("2026-11-24 09:00", "2026/11/24 9:00:30",
/// "2026-11-24T09:00") or a date alone (midnight) at `offset`.
fn parse_datetime(text: &str, offset: UtcOffset) -> Result<String, CoerceError> {
    let invalid = CoerceError::new(CoerceError::DATETIME_FORMAT);
    if OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return Ok(text.to_owned());
    }
    let ascii = to_ascii_digits(text);
    let s = ascii.trim();
    let (date_part, time_part) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let date = parse_date(date_part).ok_or(invalid)?;
    let time = if time_part.is_empty() {
        Time::MIDNIGHT
    } else {
        parse_time(time_part).ok_or(invalid)?
    };
    PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .format(&Rfc3339)
        .map_err(|_| invalid)
}

/// The option's value for a cell naming an option by value or by label; the text itself when
/// none matches (validation reports it as an invalid option).
fn match_option(options: &[SelectOption], text: &str) -> String {
    if let Some(o) = options.iter().find(|o| o.value == text) {
        return o.value.clone();
    }
    let by_label = options.iter().find(|o| {
        o.label.as_ref().is_some_and(|l| {
            [&l.zh, &l.en]
                .into_iter()
                .flatten()
                .any(|label| label.trim().eq_ignore_ascii_case(text))
        })
    });
    if let Some(o) = by_label {
        return o.value.clone();
    }
    if let Some(o) = options.iter().find(|o| o.value.eq_ignore_ascii_case(text)) {
        return o.value.clone();
    }
    text.to_owned()
}

/// The items of a list cell: separated by , ， ; ； 、 or |, trimmed, empties dropped.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '，', ';', '；', '、', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Label;
    use crate::names::FieldName;
    use serde_json::json;

    fn field(field_type: FieldType) -> FieldDef {
        FieldDef::new(FieldName::new("f").unwrap(), field_type)
    }

    fn beijing() -> CoerceContext {
        CoerceContext::new(UtcOffset::from_hms(8, 0, 0).unwrap())
    }

    fn ok(field_type: FieldType, raw: &str) -> Option<Value> {
        coerce_cell(&field(field_type), raw, &beijing()).unwrap()
    }

    fn code(field_type: FieldType, raw: &str) -> &'static str {
        coerce_cell(&field(field_type), raw, &beijing())
            .unwrap_err()
            .code
    }

    fn dept() -> FieldDef {
        let mut f = field(FieldType::Select);
        f.options = vec![
            SelectOption {
                value: "cardiology".into(),
                label: Some(Label {
                    zh: Some("心内科".into()),
                    en: Some("Cardiology".into()),
                }),
                color: None,
            },
            SelectOption {
                value: "VIP".into(),
                label: None,
                color: None,
            },
        ];
        f
    }

    #[test]
    fn empty_cells_are_no_value_for_every_type() {
        for t in [
            FieldType::Text,
            FieldType::Number,
            FieldType::Integer,
            FieldType::Money,
            FieldType::Boolean,
            FieldType::Date,
            FieldType::Datetime,
            FieldType::Select,
            FieldType::Multiselect,
            FieldType::Attachment,
        ] {
            assert_eq!(ok(t, "  \t"), None, "{t:?}");
        }
    }

    #[test]
    fn text_like_fields_keep_the_trimmed_text_for_validation_to_judge() {
        for t in [
            FieldType::Text,
            FieldType::Textarea,
            FieldType::Phone,
            FieldType::Email,
            FieldType::IdCard,
            FieldType::Autonumber,
            FieldType::User,
            FieldType::Reference,
        ] {
            assert_eq!(
                ok(t, " 013800138000 "),
                Some(json!("013800138000")),
                "{t:?}"
            );
        }
        assert_eq!(ok(FieldType::IdCard, "not an id"), Some(json!("not an id")));
    }

    #[test]
    fn subject_cells_read_entity_colon_id_as_exports_write_them() {
        assert_eq!(
            ok(
                FieldType::Subject,
                " patient:0193a6f2-7c1e-7b3a-9f0e-4d2c8a1b5e60 "
            ),
            Some(json!({"entity": "patient", "id": "0193a6f2-7c1e-7b3a-9f0e-4d2c8a1b5e60"}))
        );
        // Another shape is left for validation, which names the field.
        assert_eq!(ok(FieldType::Subject, "P001"), Some(json!("P001")));
    }

    #[test]
    fn numbers_accept_thousand_separators_and_full_width_digits() {
        assert_eq!(ok(FieldType::Number, "1,234.5"), Some(json!(1234.5)));
        assert_eq!(ok(FieldType::Number, "-0.25"), Some(json!(-0.25)));
        assert_eq!(ok(FieldType::Number, "１２．５"), Some(json!(12.5)));
        assert_eq!(ok(FieldType::Number, "1.5E+3"), Some(json!(1500.0)));
        assert_eq!(ok(FieldType::Number, "12"), Some(json!(12.0)));
        for bad in [
            "abc", "1,2", "12%", "1 234", "NaN", "inf", "-", ".", "1.2.3", "1,234,56",
        ] {
            assert_eq!(code(FieldType::Number, bad), "invalid_number", "{bad}");
        }
        assert_eq!(code(FieldType::Number, "1e999"), "out_of_range");
    }

    #[test]
    fn integers_accept_whole_decimals_and_refuse_fractions() {
        assert_eq!(ok(FieldType::Integer, "12"), Some(json!(12)));
        assert_eq!(ok(FieldType::Integer, "12.0"), Some(json!(12)));
        assert_eq!(ok(FieldType::Integer, "-1,000"), Some(json!(-1000)));
        assert_eq!(ok(FieldType::Integer, "1e3"), Some(json!(1000)));
        // Exactly, not through f64.
        assert_eq!(
            ok(FieldType::Integer, "9007199254740993"),
            Some(json!(9_007_199_254_740_993_i64))
        );
        assert_eq!(code(FieldType::Integer, "12.5"), "not_integer");
        assert_eq!(code(FieldType::Integer, "twelve"), "invalid_number");
        assert_eq!(
            code(FieldType::Integer, "99999999999999999999"),
            "out_of_range"
        );
    }

    #[test]
    fn money_is_yuan_without_symbols_and_keeps_every_decimal() {
        assert_eq!(ok(FieldType::Money, "¥1,234.50"), Some(json!(1234.5)));
        assert_eq!(ok(FieldType::Money, "￥ 88"), Some(json!(88.0)));
        assert_eq!(ok(FieldType::Money, "100元"), Some(json!(100.0)));
        assert_eq!(ok(FieldType::Money, "-¥5.5"), Some(json!(-5.5)));
        // Not rounded: validation rejects the third decimal.
        assert_eq!(ok(FieldType::Money, "1.005"), Some(json!(1.005)));
        assert_eq!(code(FieldType::Money, "¥abc"), "invalid_number");
        assert_eq!(code(FieldType::Money, "$5"), "invalid_number");
    }

    #[test]
    fn booleans_read_the_ways_people_write_yes_and_no() {
        for yes in ["true", "TRUE", "1", "yes", "Y", "是", "√", "✓", "对"] {
            assert_eq!(ok(FieldType::Boolean, yes), Some(json!(true)), "{yes}");
        }
        for no in ["false", "False", "0", "no", "N", "否", "×", "✗", "错"] {
            assert_eq!(ok(FieldType::Boolean, no), Some(json!(false)), "{no}");
        }
        assert_eq!(code(FieldType::Boolean, "maybe"), "invalid_boolean");
    }

    #[test]
    fn dates_in_common_chinese_spellings_become_iso_and_must_exist() {
        for raw in [
            "2026-11-24",
            "2026/11/24",
            "2026.11.24",
            "2026年11月24日",
            "2026年11月24",
        ] {
            assert_eq!(ok(FieldType::Date, raw), Some(json!("2026-11-24")), "{raw}");
        }
        assert_eq!(ok(FieldType::Date, "2026/3/5"), Some(json!("2026-03-05")));
        assert_eq!(ok(FieldType::Date, "2024-2-29"), Some(json!("2024-02-29")));
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "24/11/2026",
            "2026-11/24",
            "昨天",
        ] {
            assert_eq!(code(FieldType::Date, bad), "date_format", "{bad}");
        }
    }

    #[test]
    fn datetimes_without_an_offset_are_read_in_the_configured_zone() {
        let dt = |raw| ok(FieldType::Datetime, raw);
        assert_eq!(
            dt("2026-11-24 09:00"),
            Some(json!("2026-11-24T09:00:00+08:00"))
        );
        assert_eq!(
            dt("2026/11/24 9:05:30"),
            Some(json!("2026-11-24T09:05:30+08:00"))
        );
        assert_eq!(
            dt("2026-11-24T09:00"),
            Some(json!("2026-11-24T09:00:00+08:00"))
        );
        // A midnight Excel datetime reads back as a bare date.
        assert_eq!(dt("2026-11-24"), Some(json!("2026-11-24T00:00:00+08:00")));
        // RFC 3339 stays as written.
        assert_eq!(
            dt("2026-11-24T01:00:00Z"),
            Some(json!("2026-11-24T01:00:00Z"))
        );
        assert_eq!(
            dt("2026-11-24T09:00:00.5+08:00"),
            Some(json!("2026-11-24T09:00:00.5+08:00"))
        );
        let utc = CoerceContext::new(UtcOffset::UTC);
        assert_eq!(
            coerce_cell(&field(FieldType::Datetime), "2026-11-24 09:00", &utc).unwrap(),
            Some(json!("2026-11-24T09:00:00Z"))
        );
        for bad in [
            "2026-11-24 25:00",
            "2026-11-24 9",
            "tomorrow",
            "2026-02-30 10:00",
        ] {
            assert_eq!(code(FieldType::Datetime, bad), "datetime_format", "{bad}");
        }
    }

    #[test]
    fn select_cells_match_option_values_then_labels() {
        let f = dept();
        let c = |raw| coerce_cell(&f, raw, &beijing()).unwrap();
        assert_eq!(c("cardiology"), Some(json!("cardiology")));
        assert_eq!(c("心内科"), Some(json!("cardiology")));
        assert_eq!(c("CARDIOLOGY"), Some(json!("cardiology")));
        assert_eq!(c("vip"), Some(json!("VIP")));
        // Unknown text is kept for validation to report as an invalid option.
        assert_eq!(c("骨科"), Some(json!("骨科")));
    }

    #[test]
    fn list_cells_split_on_chinese_and_ascii_separators() {
        let mut f = dept();
        f.field_type = FieldType::Multiselect;
        assert_eq!(
            coerce_cell(&f, "心内科、VIP", &beijing()).unwrap(),
            Some(json!(["cardiology", "VIP"]))
        );
        assert_eq!(
            ok(FieldType::Tags, "高血压，糖尿病; 随访 | ;"),
            Some(json!(["高血压", "糖尿病", "随访"]))
        );
        assert_eq!(
            ok(FieldType::References, "P001,P002"),
            Some(json!(["P001", "P002"]))
        );
    }

    #[test]
    fn attachments_cannot_be_imported_and_formulas_are_ignored() {
        assert_eq!(code(FieldType::Attachment, "scan.pdf"), "not_importable");
        assert_eq!(ok(FieldType::Formula, "123"), None);
    }

    #[test]
    fn messages_name_the_field_in_both_languages_without_the_cell_text() {
        let err = coerce_cell(&field(FieldType::Integer), "12.5", &beijing()).unwrap_err();
        assert_eq!(err.message("年龄", Lang::Zh), "年龄：必须是整数");
        assert_eq!(err.message("Age", Lang::En), "Age: must be a whole number");
        let mut f = field(FieldType::Date);
        f.label = Some(Label {
            zh: Some("出生日期".into()),
            en: None,
        });
        let err = coerce_cell(&f, "1990-02-30", &beijing()).unwrap_err();
        let zh = err.message_for(&f, Lang::Zh);
        assert!(zh.starts_with("出生日期：") && !zh.contains("1990"), "{zh}");
        assert!(err.message_for(&f, Lang::En).starts_with("出生日期: "));
    }
}
