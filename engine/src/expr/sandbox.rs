//! The sandbox: rhai with only the safe packages, hard limits, no I/O, no `eval`, no modules.
//! One engine for the whole process; sources compile once (per definition, per flow version).

use super::dates::{self, TimeContext};
use super::errors::ExprError;
use once_cell::sync::Lazy;
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage,
    LogicPackage, Package,
};
use rhai::{Dynamic, Engine, Scope, AST};

/// Operations per evaluation: `loop {}` stops here.
pub const MAX_OPERATIONS: u64 = 10_000;

/// The longest source accepted.
pub const MAX_SOURCE_CHARS: usize = 4_000;

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

    // An empty field compared by order is false, as `ne`/`lt` treat empty values in filters:
    // `record.tier != "VIP"` holds for an empty tier, `record.total > 5000` does not.
    register_unit_comparisons(&mut engine);
    super::money::register(&mut engine);
    dates::register(&mut engine);
    engine
}

fn register_unit_comparisons(engine: &mut Engine) {
    use rhai::{FLOAT, INT};
    macro_rules! with_unit {
        ($t:ty) => {
            engine.register_fn("==", |_: (), _: $t| false);
            engine.register_fn("==", |_: $t, _: ()| false);
            engine.register_fn("!=", |_: (), _: $t| true);
            engine.register_fn("!=", |_: $t, _: ()| true);
            for op in ["<", ">", "<=", ">="] {
                engine.register_fn(op, |_: (), _: $t| false);
                engine.register_fn(op, |_: $t, _: ()| false);
            }
        };
    }
    with_unit!(INT);
    with_unit!(FLOAT);
    with_unit!(bool);
    with_unit!(rhai::ImmutableString);
}

static ENGINE: Lazy<Engine> = Lazy::new(build_engine);

/// The shared sandboxed engine.
pub fn engine() -> &'static Engine {
    &ENGINE
}

/// Compiles a source once. The error names the position and what is wrong with the source.
pub fn compile(source: &str) -> Result<AST, ExprError> {
    if source.chars().count() > MAX_SOURCE_CHARS {
        return Err(ExprError::new("too_long"));
    }
    engine()
        .compile(source)
        .map_err(|e| ExprError::from_parse(&e))
}

/// Runs a compiled expression with `variables` as constants and `ctx` as "now" and the zone.
pub fn eval(
    ast: &AST,
    variables: Vec<(&'static str, Dynamic)>,
    ctx: &TimeContext,
) -> Result<Dynamic, ExprError> {
    let mut scope = Scope::new();
    for (name, value) in variables {
        scope.push_constant_dynamic(name, value);
    }
    dates::with_context(ctx, || {
        engine()
            .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            .map_err(|e| ExprError::from_eval(&e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::json_to_dynamic;
    use time::macros::datetime;

    fn run(src: &str, record: serde_json::Value) -> Result<Dynamic, ExprError> {
        let ctx = TimeContext {
            now: datetime!(2026-11-25 01:02:03 UTC),
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        };
        eval(
            &compile(src)?,
            vec![("record", json_to_dynamic(&record))],
            &ctx,
        )
    }

    #[test]
    fn a_keyword_node_is_read_by_index_not_by_dot() {
        // What `reserved_id` tells the designer to write instead of `steps.call`.
        assert!(compile("steps.call.status").is_err());
        let ctx = TimeContext {
            now: datetime!(2026-11-25 01:02:03 UTC),
            timezone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        };
        let steps = serde_json::json!({"call": {"status": 200}, "if": {"result": true}});
        let read = |src: &str| {
            eval(
                &compile(src).unwrap(),
                vec![("steps", json_to_dynamic(&steps))],
                &ctx,
            )
            .unwrap()
        };
        assert_eq!(read("steps[\"call\"].status").as_int().unwrap(), 200);
        assert!(read("steps[\"if\"].result").as_bool().unwrap());
    }

    #[test]
    fn an_endless_loop_stops_with_a_code() {
        let err = run("loop { }", serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "too_many_operations");
    }

    #[test]
    fn files_modules_and_eval_are_unavailable() {
        assert!(compile("eval(\"1\")").is_err());
        assert!(compile("import \"x\" as y; 1").is_err());
        assert!(compile("print(\"x\")").is_err());
        let err = run("open_file(\"/etc/passwd\")", serde_json::json!({})).unwrap_err();
        assert_eq!(err.code, "function_not_found");
    }

    #[test]
    fn errors_never_carry_the_value() {
        let record = serde_json::json!({"id_number": "11010519491231002X"});
        let err = run("record.id_number + 1 - 2", record.clone()).unwrap_err();
        assert!(
            !err.message().contains("11010519491231002X"),
            "{}",
            err.message()
        );
        let err = run("age(record.id_number)", record).unwrap_err();
        assert_eq!(err.code, "not_a_date");
        assert!(!err.message().contains("1101"), "{}", err.message());
    }

    #[test]
    fn empty_values_compare_as_filters_do() {
        let v = run("record.tier != \"VIP\"", serde_json::json!({})).unwrap();
        assert!(v.as_bool().unwrap());
        let v = run("record.total_spent > 5000", serde_json::json!({})).unwrap();
        assert!(!v.as_bool().unwrap());
        let v = run(
            "record.total_spent > 5000 && record.tier != \"VIP\"",
            serde_json::json!({"total_spent": 5200, "tier": "normal"}),
        )
        .unwrap();
        assert!(v.as_bool().unwrap());
    }

    #[test]
    fn durations_and_local_times() {
        let v = run(
            "at(record.surgery_date + days(3), \"09:00\")",
            serde_json::json!({"surgery_date": "2026-11-24T14:00:00.000000Z"}),
        )
        .unwrap();
        // 22:00 Beijing on the 24th, plus three days is the 27th; 09:00 Beijing is 01:00 UTC.
        assert_eq!(v.into_string().unwrap(), "2026-11-27T01:00:00.000000Z");
        let v = run("today()", serde_json::json!({})).unwrap();
        assert_eq!(v.into_string().unwrap(), "2026-11-25");
        let v = run("now() - hours(2)", serde_json::json!({})).unwrap();
        assert_eq!(v.into_string().unwrap(), "2026-11-24T23:02:03.000000Z");
    }
}
