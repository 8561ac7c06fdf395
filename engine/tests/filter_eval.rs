//! The filter evaluator against the shared test vectors (`tests/vectors/filter_eval.json`):
//! the browser app's evaluator runs the same file.

use kangdao_engine::forms::checks::{parse_date, parse_datetime};
use kangdao_engine::query::{evaluate, EvalContext, FilterExpr, Op};
use serde_json::Value;
use std::collections::BTreeSet;
use time::UtcOffset;

#[test]
fn every_vector_holds() {
    let text = include_str!("vectors/filter_eval.json");
    let cases: Vec<Value> = serde_json::from_str(text).expect("vectors are JSON");
    assert!(cases.len() >= 90, "{}", cases.len());
    let mut operators = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let today = parse_date(case["today"].as_str().expect("today")).expect("a date");
        let offset = UtcOffset::from_hms(8, 0, 0).expect("offset");
        let ctx = match case.get("now").and_then(Value::as_str) {
            Some(now) => EvalContext {
                today,
                now: parse_datetime(now).expect("now is RFC 3339"),
            },
            None => EvalContext::on(today, offset),
        };
        let record = case["record"].as_object().expect("record").clone();
        let outcome = FilterExpr::parse(case["filter"].clone())
            .and_then(|filter| {
                for (_, op) in filter.conditions() {
                    operators.insert(op.as_str());
                }
                evaluate(&filter, &record, &ctx)
            })
            .map_or_else(|_| Value::from("error"), Value::from);
        if outcome != case["expected"] {
            failures.push(format!(
                "{name}: expected {}, got {outcome}",
                case["expected"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let all: BTreeSet<&str> = Op::ALL.iter().map(|op| op.as_str()).collect();
    assert_eq!(operators, all, "the vectors cover every operator");
}
