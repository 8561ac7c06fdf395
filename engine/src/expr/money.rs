//! Money in expressions: exact decimals, not binary floats, so `19.99 * 3` is `59.97` and a
//! sum of fen never drifts. A money field reaches an expression as a `Decimal` of yuan; rhai's
//! decimal package does `Decimal` with `Decimal` or an integer, and the operators below let a
//! literal such as `0.95` (a float) join in: the float is read back as the decimal it was
//! written as. A result stored in a money field is rounded to the fen, half away from zero.

use rhai::{Dynamic, Engine, FLOAT};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// The largest amount in fen a money field holds (forms' own bound).
const MAX_FEN: i64 = crate::forms::checks::MAX_FEN as i64;

/// A stored money value (a JSON number of yuan) as an expression sees it.
pub fn money_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(Decimal::from)
            .or_else(|| n.as_f64().and_then(float_as_written))
            .map_or(Dynamic::UNIT, Dynamic::from_decimal),
        _ => Dynamic::UNIT,
    }
}

/// An expression's result as an amount in fen, rounded half away from zero; `None` for what
/// is no number or lies beyond the range.
pub fn dynamic_to_fen(d: &Dynamic) -> Option<i64> {
    let yuan = if let Some(x) = d.clone().try_cast::<Decimal>() {
        x
    } else if let Ok(i) = d.as_int() {
        Decimal::from(i)
    } else {
        float_as_written(d.as_float().ok()?)?
    };
    let fen = (yuan * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()?;
    (fen.abs() <= MAX_FEN).then_some(fen)
}

/// A decimal as JSON: an integer when whole, else the nearest float.
pub fn decimal_to_json(x: Decimal) -> Option<Value> {
    if x.fract().is_zero() {
        if let Some(i) = x.to_i64() {
            return Some(Value::from(i));
        }
    }
    x.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

/// A float read as the shortest decimal that prints as it (`0.1` is 0.1, not
/// 0.1000000000000000055…): the number the user wrote.
fn float_as_written(x: FLOAT) -> Option<Decimal> {
    if !x.is_finite() {
        return None;
    }
    format!("{x}")
        .parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_f64(x))
}

fn mixed(x: FLOAT) -> Result<Decimal, Box<rhai::EvalAltResult>> {
    float_as_written(x).ok_or_else(|| "arithmetic".into())
}

fn checked(r: Option<Decimal>) -> Result<Decimal, Box<rhai::EvalAltResult>> {
    r.ok_or_else(|| "arithmetic".into())
}

/// Registers `Decimal` with float operators and the comparisons with `()` (an empty money
/// field), as for the other number types.
pub fn register(engine: &mut Engine) {
    macro_rules! arithmetic {
        ($op:literal, $method:ident) => {
            engine.register_fn($op, |a: Decimal, b: FLOAT| checked(a.$method(mixed(b)?)));
            engine.register_fn($op, |a: FLOAT, b: Decimal| checked(mixed(a)?.$method(b)));
        };
    }
    arithmetic!("+", checked_add);
    arithmetic!("-", checked_sub);
    arithmetic!("*", checked_mul);
    arithmetic!("/", checked_div);
    arithmetic!("%", checked_rem);
    macro_rules! comparison {
        ($op:literal, $cmp:tt) => {
            engine.register_fn($op, |a: Decimal, b: FLOAT| Ok::<_, Box<rhai::EvalAltResult>>(a $cmp mixed(b)?));
            engine.register_fn($op, |a: FLOAT, b: Decimal| Ok::<_, Box<rhai::EvalAltResult>>(mixed(a)? $cmp b));
            engine.register_fn($op, |_: (), _: Decimal| false);
            engine.register_fn($op, |_: Decimal, _: ()| false);
        };
    }
    comparison!("<", <);
    comparison!(">", >);
    comparison!("<=", <=);
    comparison!(">=", >=);
    engine.register_fn("==", |a: Decimal, b: FLOAT| {
        Ok::<_, Box<rhai::EvalAltResult>>(a == mixed(b)?)
    });
    engine.register_fn("==", |a: FLOAT, b: Decimal| {
        Ok::<_, Box<rhai::EvalAltResult>>(mixed(a)? == b)
    });
    engine.register_fn("!=", |a: Decimal, b: FLOAT| {
        Ok::<_, Box<rhai::EvalAltResult>>(a != mixed(b)?)
    });
    engine.register_fn("!=", |a: FLOAT, b: Decimal| {
        Ok::<_, Box<rhai::EvalAltResult>>(mixed(a)? != b)
    });
    engine.register_fn("==", |_: (), _: Decimal| false);
    engine.register_fn("==", |_: Decimal, _: ()| false);
    engine.register_fn("!=", |_: (), _: Decimal| true);
    engine.register_fn("!=", |_: Decimal, _: ()| true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{compile, eval, TimeContext};
    use serde_json::json;
    use time::macros::datetime;

    fn run(src: &str, spent: Value) -> Dynamic {
        let ctx = TimeContext {
            now: datetime!(2026-11-25 01:02:03 UTC),
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        };
        let mut record = rhai::Map::new();
        record.insert("spent".into(), money_to_dynamic(&spent));
        eval(
            &compile(src).unwrap(),
            vec![("record", Dynamic::from_map(record))],
            &ctx,
        )
        .unwrap()
    }

    #[test]
    fn amounts_add_and_multiply_exactly() {
        // In binary floats 0.1 + 0.2 is 0.30000000000000004 and 1.005 * 100 is 100.49999….
        assert_eq!(
            dynamic_to_fen(&run("record.spent + 0.2", json!(0.1))),
            Some(30)
        );
        assert_eq!(
            dynamic_to_fen(&run("record.spent * 3", json!(19.99))),
            Some(5997)
        );
        assert_eq!(
            dynamic_to_fen(&run("record.spent * 1", json!(1.005))),
            Some(101)
        );
        assert_eq!(
            dynamic_to_fen(&run("record.spent * 0.1", json!(1234.5))),
            Some(12345)
        );
    }

    #[test]
    fn sub_fen_results_round_half_away_from_zero() {
        assert_eq!(
            dynamic_to_fen(&run("record.spent / 3", json!(100))),
            Some(3333)
        );
        assert_eq!(
            dynamic_to_fen(&run("record.spent * 0.5", json!(0.05))),
            Some(3)
        );
        assert_eq!(
            dynamic_to_fen(&run("-record.spent * 0.5", json!(0.05))),
            Some(-3)
        );
    }

    #[test]
    fn amounts_compare_with_integers_floats_and_empty_fields() {
        assert!(run("record.spent > 5000", json!(5200)).as_bool().unwrap());
        assert!(run("record.spent >= 5000.5", json!(5000.5))
            .as_bool()
            .unwrap());
        assert!(run("record.spent == 0.3", json!(0.3)).as_bool().unwrap());
        assert!(!run("record.spent > 5000", Value::Null).as_bool().unwrap());
        assert!(run("record.spent != 1.5", Value::Null).as_bool().unwrap());
    }

    #[test]
    fn results_beyond_the_range_are_refused() {
        assert_eq!(dynamic_to_fen(&Dynamic::from_float(f64::INFINITY)), None);
        assert_eq!(dynamic_to_fen(&Dynamic::from_int(i64::MAX)), None);
    }
}
