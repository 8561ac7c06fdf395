//! Formulas: a computed field's expression in the shared dialect (`crate::expr`). A formula
//! sees one variable, `record`: a map of the record's non-sensitive fields (money in yuan as a
//! float, dates as `YYYY-MM-DD` strings, a missing field reads as `()`).

use super::checks::{fen_to_json, format_date, parse_date};
use super::definition::FormulaResult;
use crate::expr::{self, ExprError, Root, TimeContext};
use rhai::{Dynamic, Map, AST, FLOAT, INT};
use serde_json::{Number, Value};

pub use crate::expr::json_to_dynamic;

/// The fields a formula's source reads from `record` by name, in order of first mention.
/// (A read by a computed key cannot be seen here; `prepare` never gives formulas the
/// sensitive fields, so such a read finds nothing.)
pub fn fields_read(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for read in expr::reads(source) {
        if read.root == Root::Record && !out.contains(&read.name) {
            out.push(read.name);
        }
    }
    out
}

/// Compiles a formula once.
pub fn compile_formula(source: &str) -> Result<AST, ExprError> {
    expr::compile(source)
}

/// Runs a compiled formula over `record`.
pub fn eval_formula(ast: &AST, record: &Map, ctx: &TimeContext) -> Result<Dynamic, ExprError> {
    expr::eval(
        ast,
        vec![("record", Dynamic::from_map(record.clone()))],
        ctx,
    )
}

fn as_number(d: &Dynamic) -> Option<f64> {
    if let Some(i) = d.clone().try_cast::<INT>() {
        Some(i as f64)
    } else if let Some(x) = d.clone().try_cast::<rust_decimal::Decimal>() {
        rust_decimal::prelude::ToPrimitive::to_f64(&x)
    } else {
        d.clone().try_cast::<FLOAT>()
    }
}

/// Converts a formula's value to its declared result type. `()` becomes null.
pub fn to_result(d: Dynamic, result: FormulaResult) -> Result<Value, ExprError> {
    if d.is_unit() {
        return Ok(Value::Null);
    }
    let wrong = || {
        ExprError::new("wrong_result_type")
            .with_detail(format!("{result:?} / {}", d.type_name()).to_lowercase())
    };
    match result {
        FormulaResult::Number => {
            if let Some(i) = d.clone().try_cast::<INT>() {
                return Ok(Value::from(i));
            }
            let x = as_number(&d).ok_or_else(wrong)?;
            Number::from_f64(x)
                .map(Value::Number)
                .ok_or_else(|| ExprError::new("arithmetic"))
        }
        FormulaResult::Integer => {
            if let Some(i) = d.clone().try_cast::<INT>() {
                return Ok(Value::from(i));
            }
            let x = as_number(&d).ok_or_else(wrong)?;
            if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.2e18 {
                Ok(Value::from(x as i64))
            } else {
                Err(wrong())
            }
        }
        FormulaResult::Money => {
            // A computed amount is rounded to the fen, not rejected for sub-fen digits.
            if as_number(&d).is_none() {
                return Err(wrong());
            }
            let fen =
                crate::expr::dynamic_to_fen(&d).ok_or_else(|| ExprError::new("arithmetic"))?;
            Ok(fen_to_json(fen))
        }
        FormulaResult::Text => match d.clone().into_immutable_string() {
            Ok(s) => Ok(Value::String(s.to_string())),
            Err(_) => Err(wrong()),
        },
        FormulaResult::Boolean => d.as_bool().map(Value::Bool).map_err(|_| wrong()),
        FormulaResult::Date => {
            let s = d.clone().into_immutable_string().map_err(|_| wrong())?;
            parse_date(&s)
                .map(|date| Value::String(format_date(date)))
                .ok_or_else(|| ExprError::new("not_a_date"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn run(source: &str, record: Value) -> Result<Dynamic, ExprError> {
        let ast = compile_formula(source)?;
        let map = json_to_dynamic(&record)
            .try_cast::<Map>()
            .unwrap_or_default();
        let ctx = TimeContext {
            // 2026-03-01 in Beijing.
            now: datetime!(2026-03-01 02:00 UTC),
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        };
        eval_formula(&ast, &map, &ctx)
    }

    #[test]
    fn the_fields_a_formula_reads_by_name() {
        assert_eq!(
            fields_read(
                "record.weight / (record . height * record?.height) + record[\"bmi_base\"]"
            ),
            vec!["weight", "height", "bmi_base"]
        );
        assert_eq!(fields_read("`${record[`phone`]}`"), vec!["phone"]);
        assert!(fields_read("my_record.id_number + records.x").is_empty());
    }

    #[test]
    fn price_times_quantity() {
        let v = run(
            "record.price * record.qty",
            serde_json::json!({"price": 12.5, "qty": 3}),
        )
        .unwrap();
        assert_eq!(
            to_result(v, FormulaResult::Money).unwrap(),
            serde_json::json!(37.5)
        );
    }

    #[test]
    fn age_and_dates_use_the_given_today() {
        let rec = serde_json::json!({"birth_date": "1990-03-02"});
        let v = run("age(record.birth_date)", rec.clone()).unwrap();
        assert_eq!(v.as_int().unwrap(), 35, "one day before the 36th birthday");
        let v = run("days_between(record.birth_date, today())", rec.clone()).unwrap();
        assert_eq!(
            v.as_int().unwrap(),
            (time::macros::date!(2026 - 03 - 01) - time::macros::date!(1990 - 03 - 02))
                .whole_days()
        );
        assert_eq!(
            run("year(today())", rec.clone()).unwrap().as_int().unwrap(),
            2026
        );
        assert_eq!(
            run("month(record.birth_date)", rec)
                .unwrap()
                .as_int()
                .unwrap(),
            3
        );
    }

    #[test]
    fn a_missing_field_reads_as_unit() {
        let v = run("record.nothing_here", serde_json::json!({})).unwrap();
        assert!(v.is_unit());
        assert_eq!(to_result(v, FormulaResult::Number).unwrap(), Value::Null);
    }

    #[test]
    fn an_infinite_loop_stops_at_the_operation_limit() {
        let err = run("loop { }", serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "too_many_operations");
    }

    #[test]
    fn results_must_have_the_declared_type() {
        assert!(to_result(Dynamic::from("x".to_string()), FormulaResult::Number).is_err());
        assert!(to_result(Dynamic::from_float(1.5), FormulaResult::Integer).is_err());
        assert_eq!(
            to_result(Dynamic::from_float(2.0), FormulaResult::Integer).unwrap(),
            serde_json::json!(2)
        );
        assert_eq!(
            to_result(Dynamic::from_float(19.999), FormulaResult::Money).unwrap(),
            serde_json::json!(20)
        );
        assert!(to_result(Dynamic::from_int(1), FormulaResult::Boolean).is_err());
        assert!(to_result(Dynamic::from("2026-02-30".to_string()), FormulaResult::Date).is_err());
        assert_eq!(
            to_result(Dynamic::from("2026-02-28".to_string()), FormulaResult::Date).unwrap(),
            serde_json::json!("2026-02-28")
        );
    }
}
