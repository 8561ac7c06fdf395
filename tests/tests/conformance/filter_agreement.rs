//! The in-memory evaluator and the SQL compiler agree: every shared filter vector
//! (`engine/tests/vectors/filter_eval.json`) is stored as a record and listed with its filter,
//! and the record is found exactly when the evaluator says it matches.

use crate::support::*;
use kangdao_engine::forms::checks::{parse_date, parse_datetime};
use kangdao_engine::query::FilterExpr;
use kangdao_engine::records::ListQuery;
use kangdao_engine::Lang;
use serde_json::{json, Value};
use time::UtcOffset;

on_both_backends!(the_evaluator_agrees_with_sql);

async fn the_evaluator_agrees_with_sql(backend: Backend) {
    let ctx = open(backend).await;
    let def = json!({"name": "probe", "fields": [
        {"name": "case_no", "type": "integer", "indexed": true},
        {"name": "tier", "type": "text"},
        {"name": "visits", "type": "integer"},
        {"name": "total_spent", "type": "money"},
        {"name": "vip", "type": "boolean"},
        {"name": "age", "type": "integer"},
        {"name": "birth_date", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "name", "type": "text"},
        {"name": "dept", "type": "text"},
        {"name": "mrn", "type": "text"},
        {"name": "tags", "type": "tags"},
        {"name": "phone", "type": "text"},
        {"name": "visit_date", "type": "date"},
        {"name": "recheck_date", "type": "date"}
    ]});
    ctx.engine
        .create_entity(&ctx.admin, def, Lang::En)
        .await
        .unwrap();
    let cases: Vec<Value> = serde_json::from_str(include_str!(
        "../../../engine/tests/vectors/filter_eval.json"
    ))
    .unwrap();
    let offset = UtcOffset::from_hms(8, 0, 0).unwrap();
    let mut disagreements = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let today = parse_date(case["today"].as_str().unwrap()).unwrap();
        let now = match case.get("now").and_then(Value::as_str) {
            Some(now) => parse_datetime(now).unwrap(),
            None => today.with_hms(12, 0, 0).unwrap().assume_offset(offset),
        };
        ctx.clock.set(now);
        let mut record = case["record"].as_object().unwrap().clone();
        record.retain(|_, v| !v.is_null());
        record.insert("case_no".into(), json!(n));
        create(&ctx, "probe", Value::Object(record)).await;
        let combined =
            json!({"and": [case["filter"].clone(), {"field": "case_no", "op": "eq", "value": n}]});
        let listed = match FilterExpr::parse(combined) {
            Ok(filter) => ctx
                .engine
                .list_records(
                    &ctx.admin,
                    "probe",
                    &ListQuery {
                        per_page: 10,
                        page: 1,
                        filter: Some(filter),
                        ..Default::default()
                    },
                )
                .await
                .map(|page| Value::from(!page.items.is_empty()))
                .unwrap_or_else(|_| Value::from("error")),
            Err(_) => Value::from("error"),
        };
        if listed != case["expected"] {
            disagreements.push(format!(
                "{name}: the vectors say {}, SQL says {listed}",
                case["expected"]
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
