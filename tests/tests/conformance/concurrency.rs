//! Concurrent writers: optimistic concurrency holds under races, and numbers stay unique.

use crate::support::*;
use kangdao_engine::records::ListQuery;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;
use std::collections::BTreeSet;

on_both_backends!(racing_writers);

async fn racing_writers(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let r = create(&ctx, "patient", json!({"name": "张三", "visit_count": 0})).await;

    // Eight writers all holding version 1: exactly one wins, the rest get a version conflict.
    let mut tasks = Vec::new();
    for n in 1..=8 {
        let engine = ctx.engine.clone();
        let admin = ctx.admin.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .update_record(
                    &admin,
                    "patient",
                    r.id,
                    obj(json!({"visit_count": n})),
                    1,
                    Lang::En,
                )
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(rec) => {
                won += 1;
                assert_eq!(rec.version, 2);
            }
            Err(EngineError::VersionConflict { .. }) => {}
            Err(other) => panic!("a losing writer must get a version conflict, not {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let history = ctx
        .engine
        .record_history(&ctx.admin, "patient", r.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);

    // Concurrent creates: every one succeeds with its own number.
    let mut tasks = Vec::new();
    for n in 0..16 {
        let engine = ctx.engine.clone();
        let admin = ctx.admin.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .create_record(
                    &admin,
                    "patient",
                    obj(json!({"name": format!("并发{n}"), "mrn": format!("C{n}")})),
                    Lang::En,
                )
                .await
        }));
    }
    let mut numbers = BTreeSet::new();
    for task in tasks {
        let rec = task.await.unwrap().expect("a concurrent create succeeds");
        numbers.insert(rec.data["patient_no"].as_str().unwrap().to_string());
    }
    let expected: BTreeSet<String> = (2..=17).map(|n| format!("P2026{n:06}")).collect();
    assert_eq!(numbers, expected);

    // Two creates racing for one unique value: one wins, one gets a unique violation.
    let mut tasks = Vec::new();
    for n in 0..4 {
        let engine = ctx.engine.clone();
        let admin = ctx.admin.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .create_record(
                    &admin,
                    "patient",
                    obj(json!({"name": format!("抢{n}"), "mrn": "RACE"})),
                    Lang::En,
                )
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(EngineError::UniqueViolation { field }) => assert_eq!(field, "mrn"),
            Err(other) => panic!("expected a unique violation, got {other:?}"),
        }
    }
    assert_eq!(won, 1);
    let page = list(
        &ctx,
        "patient",
        ListQuery {
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.total, Some(18));
}
