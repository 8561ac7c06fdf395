//! Unique fields: among live records only, hash-unique when sensitive, checked on restore.

use crate::support::*;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;

on_both_backends!(unique_among_live_records);

fn assert_unique(err: &EngineError, field: &str) {
    match err {
        EngineError::UniqueViolation { field: f } => assert_eq!(f, field, "{err:?}"),
        other => panic!("expected UniqueViolation on {field}, got {other:?}"),
    }
    assert_eq!(err.code(), "unique_violation");
}

async fn unique_among_live_records(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let a = create(
        &ctx,
        "patient",
        json!({"name": "甲", "mrn": "M1", "id_number": id_number(1)}),
    )
    .await;

    let err = try_create(
        &ctx,
        "patient",
        json!({"name": "乙", "mrn": "M1", "id_number": id_number(2)}),
    )
    .await
    .unwrap_err();
    assert_unique(&err, "mrn");

    // Sensitive and unique: the keyed hash is what is unique.
    let err = try_create(
        &ctx,
        "patient",
        json!({"name": "乙", "mrn": "M2", "id_number": id_number(1)}),
    )
    .await
    .unwrap_err();
    assert_unique(&err, "id_number");
    // A lower-case x check character is the same ID number.
    let with_x = (10..2000)
        .map(id_number)
        .find(|n| n.ends_with('X'))
        .expect("some ID number ends in X");
    create(&ctx, "patient", json!({"name": "X", "id_number": with_x})).await;
    let err = try_create(
        &ctx,
        "patient",
        json!({"name": "x", "id_number": with_x.to_lowercase()}),
    )
    .await
    .unwrap_err();
    assert_unique(&err, "id_number");
    // And a filter finds it either way.
    for written in [with_x.clone(), with_x.to_lowercase()] {
        let page = list(
            &ctx,
            "patient",
            kangdao_engine::records::ListQuery {
                filter: Some(
                    kangdao_engine::records::FilterExpr::parse(
                        json!({"field": "id_number", "op": "eq", "value": written}),
                    )
                    .unwrap(),
                ),
                count: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(page.total, Some(1), "id_number eq {written}");
    }

    // An update into a taken value is refused too.
    let other = create(&ctx, "patient", json!({"name": "丙", "mrn": "M9"})).await;
    let err = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            other.id,
            obj(json!({"mrn": "M1"})),
            1,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert_unique(&err, "mrn");

    // After a soft delete both values are free again.
    ctx.engine
        .delete_record(&ctx.admin, "patient", a.id, 1)
        .await
        .unwrap();
    let b = create(
        &ctx,
        "patient",
        json!({"name": "乙", "mrn": "M1", "id_number": id_number(2)}),
    )
    .await;
    let c = create(
        &ctx,
        "patient",
        json!({"name": "丁", "mrn": "M3", "id_number": id_number(1)}),
    )
    .await;

    // Restoring the deleted one while its values are taken is a conflict naming the field.
    let err = ctx
        .engine
        .restore_record(&ctx.admin, "patient", a.id, Lang::En)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::UniqueViolation { field } if field == "mrn" || field == "id_number"),
        "{err:?}"
    );
    ctx.engine
        .delete_record(&ctx.admin, "patient", b.id, b.version)
        .await
        .unwrap();
    let err = ctx
        .engine
        .restore_record(&ctx.admin, "patient", a.id, Lang::En)
        .await
        .unwrap_err();
    assert_unique(&err, "id_number");
    ctx.engine
        .delete_record(&ctx.admin, "patient", c.id, c.version)
        .await
        .unwrap();
    let restored = ctx
        .engine
        .restore_record(&ctx.admin, "patient", a.id, Lang::En)
        .await
        .expect("restore once nothing clashes");
    assert_eq!(restored.data["mrn"], json!("M1"));
    // Now b cannot come back.
    let err = ctx
        .engine
        .restore_record(&ctx.admin, "patient", b.id, Lang::En)
        .await
        .unwrap_err();
    assert_unique(&err, "mrn");
}
