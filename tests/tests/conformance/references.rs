//! Reference fields: checked on write, and followed backwards by the 360° view.

use crate::support::*;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;

on_both_backends!(references_checked_and_view360);

fn assert_reference_not_found(err: &EngineError) {
    assert!(
        matches!(err, EngineError::Validation { .. }),
        "expected Validation, got {err:?}"
    );
    assert_eq!(
        detail_codes(err),
        vec![("patient".to_string(), "reference_not_found".to_string())],
        "{err:?}"
    );
}

async fn references_checked_and_view360(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let missing = uuid::Uuid::now_v7();
    let err = try_create(
        &ctx,
        "visit",
        json!({"patient": missing.to_string(), "amount": 10}),
    )
    .await
    .unwrap_err();
    assert_reference_not_found(&err);

    let p = create(&ctx, "patient", json!({"name": "张三"})).await;
    let gone = create(&ctx, "patient", json!({"name": "李四"})).await;
    ctx.engine
        .delete_record(&ctx.admin, "patient", gone.id, 1)
        .await
        .unwrap();
    let err = try_create(
        &ctx,
        "visit",
        json!({"patient": gone.id.to_string(), "amount": 10}),
    )
    .await
    .unwrap_err();
    assert_reference_not_found(&err);

    // A bulk write checks references too.
    let err = ctx
        .engine
        .create_records_bulk(
            &ctx.admin,
            "visit",
            vec![
                obj(json!({"patient": p.id.to_string()})),
                obj(json!({"patient": missing.to_string()})),
            ],
            Lang::En,
        )
        .await
        .unwrap_err();
    assert!(
        err.details()
            .iter()
            .any(|d| d.code == "reference_not_found"),
        "{err:?}"
    );

    // An update pointing an existing visit at a deleted patient is refused.
    let v1 = create(
        &ctx,
        "visit",
        json!({"patient": p.id.to_string(), "amount": 100, "diagnosis": "感冒"}),
    )
    .await;
    let err = ctx
        .engine
        .update_record(
            &ctx.admin,
            "visit",
            v1.id,
            obj(json!({"patient": gone.id.to_string()})),
            1,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert_reference_not_found(&err);

    ctx.clock.advance(time::Duration::hours(1));
    let v2 = create(
        &ctx,
        "visit",
        json!({"patient": p.id.to_string(), "amount": 50.5}),
    )
    .await;
    let other = create(&ctx, "patient", json!({"name": "王五"})).await;
    create(
        &ctx,
        "visit",
        json!({"patient": other.id.to_string(), "amount": 1}),
    )
    .await;
    ctx.clock.advance(time::Duration::hours(1));
    ctx.engine
        .update_record(
            &ctx.admin,
            "patient",
            p.id,
            obj(json!({"visit_count": 2})),
            1,
            Lang::En,
        )
        .await
        .unwrap();

    let view = ctx
        .engine
        .view360(&ctx.admin, "patient", p.id, Lang::En)
        .await
        .unwrap();
    assert_eq!(view.record.id, p.id);
    assert_eq!(view.record.version, 2);
    let visits = view
        .related
        .iter()
        .find(|g| g.entity == "visit" && g.field == "patient")
        .expect("the visits are related");
    assert_eq!(visits.total, 2);
    let mut related_ids: Vec<_> = visits.items.iter().map(|r| r.id).collect();
    related_ids.sort();
    let mut expected = vec![v1.id, v2.id];
    expected.sort();
    assert_eq!(related_ids, expected);
    // Related records are masked like any read.
    let with_diagnosis = visits.items.iter().find(|r| r.id == v1.id).unwrap();
    assert_ne!(with_diagnosis.data["diagnosis"], json!("感冒"));

    // The timeline holds the patient's own versions and its visits' creation, newest first.
    let entries: Vec<(String, uuid::Uuid, i64, String)> = view
        .timeline
        .iter()
        .map(|t| (t.entity.clone(), t.record_id, t.version, t.op.clone()))
        .collect();
    for want in [
        ("patient".to_string(), p.id, 1, "create".to_string()),
        ("patient".to_string(), p.id, 2, "update".to_string()),
        ("visit".to_string(), v1.id, 1, "create".to_string()),
        ("visit".to_string(), v2.id, 1, "create".to_string()),
    ] {
        assert!(
            entries.contains(&want),
            "timeline lacks {want:?}: {entries:?}"
        );
    }
    assert!(
        !entries.iter().any(|e| e.1 == other.id),
        "another patient's entries leaked into the timeline: {entries:?}"
    );
    let times: Vec<&str> = view.timeline.iter().map(|t| t.at.as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "timeline is newest first");

    // A deleted visit drops out of the view.
    ctx.engine
        .delete_record(&ctx.admin, "visit", v2.id, 1)
        .await
        .unwrap();
    let view = ctx
        .engine
        .view360(&ctx.admin, "patient", p.id, Lang::En)
        .await
        .unwrap();
    let visits = view.related.iter().find(|g| g.entity == "visit").unwrap();
    assert_eq!(visits.total, 1);
    assert_eq!(visits.items.len(), 1);
}
