//! Pure value checks shared by the forms engine, import and tests: resident ID numbers
//! (GB 11643), phone numbers, money, dates, datetimes and e-mail addresses.
//!
//! None of these reads the clock: where "today" matters, the caller passes it.

use once_cell::sync::Lazy;
use regex::Regex;
use time::{Date, Month, OffsetDateTime};

/// Why a string is not a valid 18-character resident ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCardProblem {
    /// Not 17 digits followed by a digit or X.
    Format,
    /// The GB 11643 check digit does not match.
    Checksum,
    /// The birth date is not a real date, is before 1900, or (with a `today`) in the future.
    BirthDate,
}

impl IdCardProblem {
    /// The validation error code for this problem.
    pub fn code(self) -> &'static str {
        match self {
            IdCardProblem::Format => "id_card_format",
            IdCardProblem::Checksum => "id_card_checksum",
            IdCardProblem::BirthDate => "id_card_birth_date",
        }
    }
}

/// Sex as an ID number encodes it (the 17th digit: odd male, even female).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// The GB 11643 check character for the first 17 digits (which must be ASCII digits).
pub fn id_card_check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK_CHARS
        .get((sum % 11) as usize)
        .map(|&c| char::from(c))
}

/// 17 digits then a digit or X (either case), after trimming surrounding whitespace.
fn id_card_shape(s: &str) -> Option<&[u8]> {
    let b = s.trim().as_bytes();
    if b.len() != 18 || b[0] == b'0' || !b[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match b[17] {
        b'0'..=b'9' | b'X' | b'x' => Some(b),
        _ => None,
    }
}

fn digits_value(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

fn birth_date_of(b: &[u8]) -> Option<Date> {
    let year = i32::try_from(digits_value(&b[6..10])).ok()?;
    let month = Month::try_from(u8::try_from(digits_value(&b[10..12])).ok()?).ok()?;
    let day = u8::try_from(digits_value(&b[12..14])).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn earliest_birth_date() -> Date {
    Date::from_calendar_date(1900, Month::January, 1).unwrap_or(Date::MIN)
}

/// Checks an 18-character resident ID number: shape, a real birth date on or after
/// 1900-01-01, and the check digit. Returns it trimmed with an upper-case X.
///
/// This cannot know today's date; [`check_id_card_at`] also rejects future birth dates.
pub fn check_id_card(s: &str) -> Result<String, IdCardProblem> {
    let b = id_card_shape(s).ok_or(IdCardProblem::Format)?;
    match birth_date_of(b) {
        Some(d) if d >= earliest_birth_date() => {}
        _ => return Err(IdCardProblem::BirthDate),
    }
    let expected = id_card_check_char(&b[..17]).ok_or(IdCardProblem::Format)?;
    let given = char::from(b[17].to_ascii_uppercase());
    if given != expected {
        return Err(IdCardProblem::Checksum);
    }
    let mut out = String::with_capacity(18);
    out.push_str(std::str::from_utf8(&b[..17]).map_err(|_| IdCardProblem::Format)?);
    out.push(given);
    Ok(out)
}

/// [`check_id_card`], also rejecting a birth date after `today`.
pub fn check_id_card_at(s: &str, today: Date) -> Result<String, IdCardProblem> {
    let normalized = check_id_card(s)?;
    match id_card_birth_date(&normalized) {
        Some(d) if d <= today => Ok(normalized),
        _ => Err(IdCardProblem::BirthDate),
    }
}

/// The birth date an ID number encodes, if it has the right shape and the date is real.
pub fn id_card_birth_date(s: &str) -> Option<Date> {
    birth_date_of(id_card_shape(s)?)
}

/// The sex an ID number encodes, if it has the right shape.
pub fn id_card_sex(s: &str) -> Option<Sex> {
    let b = id_card_shape(s)?;
    if (b[16] - b'0') % 2 == 1 {
        Some(Sex::Male)
    } else {
        Some(Sex::Female)
    }
}

/// Normalizes a mainland phone number, or None if it is not one.
///
/// Mobile: `1[3-9]` and 9 more digits, optionally after `+86` / `86`, spaces and hyphens
/// anywhere → 11 digits. Landline: area code `0\d{2,3}` (`010`, `02x` are 3 digits, others 4),
/// a 7–8 digit local number, and an optional hyphen-separated
/// extension of 1–6 digits → `010-12345678`, `0755-1234567-123`.
pub fn normalize_phone(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    let compact: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
    // Mobile.
    let mobile = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("86").filter(|rest| rest.len() == 11))
        .unwrap_or(&compact);
    if is_mobile(mobile) {
        return Some(mobile.to_string());
    }
    // Landline: split on hyphens (after dropping spaces) to find an extension.
    let no_spaces: String = s.chars().filter(|c| *c != ' ').collect();
    let parts: Vec<&str> = no_spaces.split('-').filter(|p| !p.is_empty()).collect();
    if parts.is_empty()
        || parts.len() > 3
        || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    // The area code and local number are either one run of digits or two.
    let (area, local, ext) = match parts.as_slice() {
        [joined] => {
            let (a, l) = split_area(joined)?;
            (a, l, None)
        }
        [first, second] => {
            if first.len() <= 4 {
                (*first, *second, None)
            } else {
                let (a, l) = split_area(first)?;
                (a, l, Some(*second))
            }
        }
        [a, l, e] => (*a, *l, Some(*e)),
        _ => return None,
    };
    if !valid_area(area) || !(7..=8).contains(&local.len()) {
        return None;
    }
    match ext {
        Some(e) if (1..=6).contains(&e.len()) => Some(format!("{area}-{local}-{e}")),
        Some(_) => None,
        None => Some(format!("{area}-{local}")),
    }
}

fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

fn area_len(digits: &str) -> usize {
    if digits.starts_with("010") || digits.starts_with("02") {
        3
    } else {
        4
    }
}

fn valid_area(area: &str) -> bool {
    area.starts_with('0')
        && area.len() >= 3
        && area.len() == area_len(area)
        && !area.starts_with("00")
}

fn split_area(joined: &str) -> Option<(&str, &str)> {
    if !joined.starts_with('0') {
        return None;
    }
    let n = area_len(joined);
    if joined.len() <= n {
        return None;
    }
    Some(joined.split_at(n))
}

/// Largest money amount in fen (both signs).
pub const MAX_FEN: f64 = 9e15;
/// How far (in yuan) a money value may be from a whole fen and still be rounded to it.
pub const MONEY_TOLERANCE_YUAN: f64 = 1e-6;

/// Converts yuan to whole fen by rounding `x·100`. None when `x` is not finite, is more than
/// 1e-6 yuan away from a whole fen, or the result is beyond ±9e15 fen.
pub fn money_to_fen(x: f64) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let scaled = x * 100.0;
    let rounded = scaled.round();
    if rounded.abs() > MAX_FEN {
        return None;
    }
    if (scaled - rounded).abs() > MONEY_TOLERANCE_YUAN * 100.0 {
        return None;
    }
    // In range (|rounded| ≤ 9e15 < 2^63), so the cast is exact.
    Some(rounded as i64)
}

/// Fen back to yuan (a JSON number with at most two decimals).
pub fn fen_to_yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// Fen as the JSON number of yuan: an integer when whole (`100`), else two decimals (`0.1`).
pub fn fen_to_json(fen: i64) -> serde_json::Value {
    if fen % 100 == 0 {
        serde_json::Value::from(fen / 100)
    } else {
        serde_json::Number::from_f64(fen_to_yuan(fen))
            .map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A strict `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (&b[0..4], &b[5..7], &b[8..10]);
    if ![y, m, d].iter().all(|p| p.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let year = i32::try_from(digits_value(y)).ok()?;
    let month = Month::try_from(u8::try_from(digits_value(m)).ok()?).ok()?;
    let day = u8::try_from(digits_value(d)).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// Formats a date as `YYYY-MM-DD` (years 0–9999; others get their sign and digits).
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// An RFC 3339 date-time with an offset or `Z` (`2026-03-01T08:30:00+08:00`).
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Fixed-width UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, always 6 digits): the wire
/// and storage form, whose text order is time order for years 0000–9999.
pub fn format_datetime_utc(t: OffsetDateTime) -> String {
    crate::store::db::sqlite_timestamp(t)
}

static EMAIL_RE: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    )
    .ok()
});

/// A plain `local@domain.tld` address (no quoted local parts, no IP literals), ≤ 254 bytes.
pub fn check_email(s: &str) -> bool {
    if s.len() > 254 {
        return false;
    }
    let Some((local, _)) = s.rsplit_once('@') else {
        return false;
    };
    if local.len() > 64 {
        return false;
    }
    EMAIL_RE.as_ref().is_some_and(|re| re.is_match(s))
}

/// A hyphenated UUID (`8-4-4-4-12` hex digits, any case).
pub fn check_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// Whether `value` holds a NUL character (U+0000) in any string or object key within it.
pub fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// One `nul_character` error per field of `input` whose name or value holds a NUL character:
/// PostgreSQL cannot store one in text or JSONB, so both backends refuse it alike, before
/// anything else is checked. `label` gives a field's label (None for an unknown field).
pub fn nul_characters(
    input: &serde_json::Map<String, serde_json::Value>,
    label: impl Fn(&str) -> Option<String>,
    lang: crate::i18n::Lang,
) -> Vec<crate::error::FieldError> {
    input
        .iter()
        .filter(|(key, value)| key.contains('\0') || holds_nul(value))
        .map(|(key, _)| {
            let shown = label(key).unwrap_or_else(|| key.replace('\0', "\\0"));
            let message = super::messages::field_message("nul_character", &shown, None, lang);
            crate::error::FieldError::new(key.as_str(), "nul_character", message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    /// Builds a valid ID number from an area code, a birth date and a sequence number.
    fn make_id(area: &str, birth: &str, seq: &str) -> String {
        let first17 = format!("{area}{birth}{seq}");
        let c = id_card_check_char(first17.as_bytes()).unwrap();
        format!("{first17}{c}")
    }

    #[test]
    fn a_nul_character_anywhere_in_a_value_names_its_field() {
        let input = serde_json::json!({
            "name": "a\u{0}b", "tags": ["ok", "x\u{0}"], "note": {"k\u{0}": 1},
            "phone": "13800138000", "n": 3
        });
        let errors = nul_characters(
            input.as_object().unwrap(),
            |k| (k == "name").then(|| "姓名".to_string()),
            crate::i18n::Lang::Zh,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "note", "tags"]);
        assert!(errors.iter().all(|e| e.code == "nul_character"));
        assert!(errors[0].message.contains("姓名"), "{}", errors[0].message);
        assert!(!holds_nul(&serde_json::json!({"a": ["b", {"c": "d"}]})));
    }

    #[test]
    fn the_classic_example_id_number_is_valid_and_x_is_upper_cased() {
        assert_eq!(
            check_id_card("11010519491231002X").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            check_id_card("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            id_card_birth_date("11010519491231002X"),
            Some(date!(1949 - 12 - 31))
        );
        // 17th digit 2 is even: female.
        assert_eq!(id_card_sex("11010519491231002X"), Some(Sex::Female));
    }

    #[test]
    fn a_wrong_check_digit_is_a_checksum_problem() {
        assert_eq!(
            check_id_card("110105194912310021"),
            Err(IdCardProblem::Checksum)
        );
        // A single changed digit in the body breaks the checksum too.
        assert_eq!(
            check_id_card("11010519491231003X"),
            Err(IdCardProblem::Checksum)
        );
    }

    #[test]
    fn check_digits_computed_by_gb_11643() {
        // 440524188001010014 is the standard textbook number (check digit 4).
        assert_eq!(id_card_check_char(b"44052418800101001"), Some('4'));
        // ...but its 1880 birth date is before 1900.
        assert_eq!(
            check_id_card("440524188001010014"),
            Err(IdCardProblem::BirthDate)
        );
        let id = make_id("320102", "19900307", "123");
        assert!(check_id_card(&id).is_ok());
        assert_eq!(id_card_sex(&id), Some(Sex::Male));
    }

    #[test]
    fn malformed_id_numbers_are_format_problems() {
        for bad in [
            "",
            "11010519491231002",
            "1101051949123100211",
            "11010519491231002Y",
            "1101051949123100X1",
            "01010519491231002X",
            "１１０１０５１９４９１２３１００２X",
        ] {
            assert_eq!(check_id_card(bad), Err(IdCardProblem::Format), "{bad}");
        }
    }

    #[test]
    fn impossible_early_and_future_birth_dates_are_rejected() {
        let today = date!(2026 - 03 - 01);
        let feb30 = make_id("110105", "19900230", "001");
        assert_eq!(check_id_card(&feb30), Err(IdCardProblem::BirthDate));
        let before_1900 = make_id("110105", "18991231", "001");
        assert_eq!(check_id_card(&before_1900), Err(IdCardProblem::BirthDate));
        let tomorrow = make_id("110105", "20260302", "001");
        assert!(
            check_id_card(&tomorrow).is_ok(),
            "without today, the future is unknown"
        );
        assert_eq!(
            check_id_card_at(&tomorrow, today),
            Err(IdCardProblem::BirthDate)
        );
        let born_today = make_id("110105", "20260301", "001");
        assert!(check_id_card_at(&born_today, today).is_ok());
    }

    #[test]
    fn mobile_numbers_normalize_to_eleven_digits() {
        for ok in [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+86 138 0013 8000",
            "+8613800138000",
            "86 13800138000",
            "8613800138000",
        ] {
            assert_eq!(normalize_phone(ok).as_deref(), Some("13800138000"), "{ok}");
        }
        for bad in [
            "12800138000",
            "1380013800",
            "138001380000",
            "+1 415 555 0100",
            "abc",
            "",
        ] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn landlines_normalize_to_area_local_and_extension() {
        assert_eq!(
            normalize_phone("010-12345678").as_deref(),
            Some("010-12345678")
        );
        assert_eq!(
            normalize_phone("01062345678").as_deref(),
            Some("010-62345678")
        );
        assert_eq!(
            normalize_phone("0755 1234567").as_deref(),
            Some("0755-1234567")
        );
        assert_eq!(
            normalize_phone("0755-1234567-123").as_deref(),
            Some("0755-1234567-123")
        );
        assert_eq!(
            normalize_phone("075512345678-8001").as_deref(),
            Some("0755-12345678-8001")
        );
        assert_eq!(
            normalize_phone("020-87654321").as_deref(),
            Some("020-87654321")
        );
        // Local numbers have 7–8 digits, extensions up to 6; area codes 3–4 digits.
        assert_eq!(normalize_phone("010-123456789"), None);
        assert_eq!(normalize_phone("12345678"), None);
        assert_eq!(normalize_phone("010-123456"), None);
        assert_eq!(normalize_phone("0755-1234567-1234567"), None);
        assert_eq!(normalize_phone("07-1234567"), None);
    }

    #[test]
    fn money_rounds_to_fen_and_rejects_sub_fen_amounts() {
        assert_eq!(money_to_fen(0.1), Some(10));
        assert_eq!(fen_to_yuan(10), 0.1);
        assert_eq!(money_to_fen(19.99), Some(1999));
        assert_eq!(money_to_fen(-3.3), Some(-330));
        assert_eq!(money_to_fen(19.999), None);
        // 1e-7 yuan is within the 1e-6 tolerance of 0 fen; 2e-6 is not.
        assert_eq!(money_to_fen(1e-7), Some(0));
        assert_eq!(money_to_fen(2e-6), None);
        assert_eq!(money_to_fen(f64::NAN), None);
        assert_eq!(money_to_fen(f64::INFINITY), None);
        assert_eq!(money_to_fen(1e14), None);
        assert_eq!(money_to_fen(8e13), Some(8_000_000_000_000_000));
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(parse_date("2026-03-01"), Some(date!(2026 - 03 - 01)));
        for bad in [
            "2026-3-1",
            "2026-02-30",
            "20260301",
            "2026-03-01T00:00",
            " 2026-03-01",
            "+206-03-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(format_date(date!(2026 - 03 - 01)), "2026-03-01");
    }

    #[test]
    fn datetimes_need_an_offset_and_store_as_fixed_width_utc() {
        let t = parse_datetime("2026-03-01T08:30:00+08:00").unwrap();
        assert_eq!(t, datetime!(2026-03-01 00:30:00 UTC));
        assert_eq!(format_datetime_utc(t), "2026-03-01T00:30:00.000000Z");
        let t = parse_datetime("2026-03-01T00:30:00.1234567Z").unwrap();
        assert_eq!(format_datetime_utc(t), "2026-03-01T00:30:00.123456Z");
        assert_eq!(parse_datetime("2026-03-01T08:30:00"), None);
        assert_eq!(parse_datetime("2026-03-01"), None);
        // Text order is time order.
        let a = format_datetime_utc(parse_datetime("2026-03-01T09:00:00+08:00").unwrap());
        let b = format_datetime_utc(parse_datetime("2026-03-01T02:00:00+00:00").unwrap());
        assert!(a < b);
    }

    #[test]
    fn email_addresses() {
        for ok in ["a@b.cn", "zhang.san+crm@hospital.example.com"] {
            assert!(check_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "a@@b.cn",
            "a b@c.cn",
            ".a@b.cn",
            "a..b@c.cn",
            "a@-b.cn",
        ] {
            assert!(!check_email(bad), "{bad}");
        }
    }

    #[test]
    fn uuids_must_be_hyphenated() {
        assert!(check_uuid("0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b"));
        assert!(!check_uuid("0190a3c45b6d7e8f9a0b1c2d3e4f5a6b"));
        assert!(!check_uuid("not-a-uuid"));
    }
}
