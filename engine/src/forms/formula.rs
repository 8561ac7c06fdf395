//! The formula sandbox: rhai with only the safe packages, hard limits, no I/O, no `eval`, no
//! modules. One engine for the whole process; formulas compile once per definition.
//!
//! A formula sees one variable, `record`: a map of the record's fields (money in yuan as a
//! float, dates as `YYYY-MM-DD` strings, a missing field reads as `()`), and the helpers
//! `today()`, `days_between(a, b)`, `age(birth_date)`, `year(date)` and `month(date)`.

use super::checks::{fen_to_json, format_date, money_to_fen, parse_date};
use super::definition::FormulaResult;
use once_cell::sync::Lazy;
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage,
    LogicPackage, Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Map, Scope, AST, FLOAT, INT};
use serde_json::{Number, Value};
use std::cell::Cell;
use time::Date;

pub const MAX_OPERATIONS: u64 = 10_000;

/// `record.name`, `record?.name`, `record["name"]` and `` record[`name`] ``.
static FIELD_READ: Lazy<Option<regex::Regex>> = Lazy::new(|| {
    regex::Regex::new(
        r#"\brecord\s*\??\.\s*([A-Za-z_][A-Za-z0-9_]*)|\brecord\s*\??\[\s*(?:"([^"]*)"|`([^`]*)`)\s*\]"#,
    )
    .ok()
});

/// The fields a formula's source reads from `record` by name, in order of first mention.
/// (A read by a computed key cannot be seen here; `prepare` never gives formulas the
/// sensitive fields, so such a read finds nothing.)
pub fn fields_read(expr: &str) -> Vec<String> {
    let Some(re) = FIELD_READ.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for caps in re.captures_iter(expr) {
        let name = caps
            .get(1)
            .or_else(|| caps.get(2))
            .or_else(|| caps.get(3))
            .map(|m| m.as_str().to_string());
        if let Some(name) = name {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

thread_local! {
    /// The `today` of the prepare call evaluating formulas on this thread.
    static TODAY: Cell<Option<Date>> = const { Cell::new(None) };
}

type FnResult<T> = Result<T, Box<EvalAltResult>>;

fn today() -> FnResult<Date> {
    TODAY
        .with(Cell::get)
        .ok_or_else(|| "today() is not available here".into())
}

fn date_arg(s: &str) -> FnResult<Date> {
    parse_date(s).ok_or_else(|| format!("not a date (YYYY-MM-DD): {s:?}").into())
}

fn whole_years(from: Date, to: Date) -> INT {
    let mut years = INT::from(to.year()) - INT::from(from.year());
    if (u8::from(to.month()), to.day()) < (u8::from(from.month()), from.day()) {
        years -= 1;
    }
    years
}

fn build_engine() -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(ArithmeticPackage::new().as_shared_module());
    engine.register_global_module(LogicPackage::new().as_shared_module());
    engine.register_global_module(BasicStringPackage::new().as_shared_module());
    engine.register_global_module(BasicMathPackage::new().as_shared_module());
    engine.register_global_module(BasicArrayPackage::new().as_shared_module());
    engine.register_global_module(BasicMapPackage::new().as_shared_module());

    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_expr_depths(32, 32);
    engine.set_max_string_size(10_000);
    engine.set_max_array_size(1_000);
    engine.set_max_map_size(1_000);
    engine.set_max_call_levels(16);

    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.disable_symbol("export");
    engine.disable_symbol("print");
    engine.disable_symbol("debug");
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());

    engine.register_fn("today", || -> FnResult<String> {
        Ok(format_date(today()?))
    });
    engine.register_fn("days_between", |a: &str, b: &str| -> FnResult<INT> {
        let (a, b) = (date_arg(a)?, date_arg(b)?);
        Ok((b - a).whole_days())
    });
    engine.register_fn("age", |birth: &str| -> FnResult<INT> {
        Ok(whole_years(date_arg(birth)?, today()?))
    });
    engine.register_fn("year", |d: &str| -> FnResult<INT> {
        Ok(INT::from(date_arg(d)?.year()))
    });
    engine.register_fn("month", |d: &str| -> FnResult<INT> {
        Ok(INT::from(u8::from(date_arg(d)?.month())))
    });
    engine
}

static ENGINE: Lazy<Engine> = Lazy::new(build_engine);

/// The shared sandboxed engine.
pub fn engine() -> &'static Engine {
    &ENGINE
}

/// Compiles a formula once; the error text is rhai's parse error.
pub fn compile_formula(expr: &str) -> Result<AST, String> {
    engine().compile(expr).map_err(|e| e.to_string())
}

/// A JSON value as a formula sees it.
pub fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Dynamic::from_int(i)
            } else {
                Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN))
            }
        }
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(m) => {
            let map: Map = m
                .iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect();
            Dynamic::from_map(map)
        }
    }
}

/// Runs a compiled formula over `record` with `today`. The error text says why it failed
/// (including the operation limit).
pub fn eval_formula(ast: &AST, record: &Map, today: Date) -> Result<Dynamic, String> {
    struct Restore(Option<Date>);
    impl Drop for Restore {
        fn drop(&mut self) {
            TODAY.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TODAY.with(|t| t.replace(Some(today))));
    let mut scope = Scope::new();
    scope.push_constant_dynamic("record", Dynamic::from_map(record.clone()));
    engine()
        .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
        .map_err(|e| e.to_string())
}

fn as_number(d: &Dynamic) -> Option<f64> {
    if let Some(i) = d.clone().try_cast::<INT>() {
        Some(i as f64)
    } else {
        d.clone().try_cast::<FLOAT>()
    }
}

/// Converts a formula's value to its declared result type. `()` becomes null.
pub fn to_result(d: Dynamic, result: FormulaResult) -> Result<Value, String> {
    if d.is_unit() {
        return Ok(Value::Null);
    }
    let type_name = d.type_name();
    let wrong = || format!("expected a {result:?} result, got {type_name}").to_lowercase();
    match result {
        FormulaResult::Number => {
            let x = as_number(&d).ok_or_else(wrong)?;
            if let Some(i) = d.clone().try_cast::<INT>() {
                return Ok(Value::from(i));
            }
            Number::from_f64(x)
                .map(Value::Number)
                .ok_or_else(|| "the result is not a finite number".to_string())
        }
        FormulaResult::Integer => {
            if let Some(i) = d.clone().try_cast::<INT>() {
                return Ok(Value::from(i));
            }
            let x = as_number(&d).ok_or_else(wrong)?;
            if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.2e18 {
                Ok(Value::from(x as i64))
            } else {
                Err("the result is not a whole number".to_string())
            }
        }
        FormulaResult::Money => {
            let x = as_number(&d).ok_or_else(wrong)?;
            // A computed amount is rounded to the fen, not rejected for sub-fen digits.
            let fen = if x.is_finite() && (x * 100.0).abs() <= super::checks::MAX_FEN {
                money_to_fen((x * 100.0).round() / 100.0)
            } else {
                None
            };
            let fen = fen.ok_or_else(|| "the amount is out of range".to_string())?;
            Ok(fen_to_json(fen))
        }
        FormulaResult::Text => d
            .into_immutable_string()
            .map(|s| Value::String(s.to_string()))
            .map_err(|_| wrong()),
        FormulaResult::Boolean => d.as_bool().map(Value::Bool).map_err(|_| wrong()),
        FormulaResult::Date => {
            let s = d.into_immutable_string().map_err(|_| wrong())?;
            parse_date(&s)
                .map(|date| Value::String(format_date(date)))
                .ok_or_else(|| format!("not a date (YYYY-MM-DD): {s:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn run(expr: &str, record: Value) -> Result<Dynamic, String> {
        let ast = compile_formula(expr)?;
        let map = json_to_dynamic(&record)
            .try_cast::<Map>()
            .unwrap_or_default();
        eval_formula(&ast, &map, date!(2026 - 03 - 01))
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
            (date!(2026 - 03 - 01) - date!(1990 - 03 - 02)).whole_days()
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
        assert!(err.contains("Too many operations"), "{err}");
    }

    #[test]
    fn eval_import_and_print_are_not_available() {
        assert!(compile_formula("eval(\"1\")").is_err());
        assert!(compile_formula("import \"x\" as y; 1").is_err());
        assert!(compile_formula("print(\"x\")").is_err());
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
