//! Creating, updating and upserting records: versions, numbering, defaults, validation,
//! optimistic concurrency and history.

use crate::support::*;
use kangdao_engine::records::UniqueKey;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;
use time::macros::datetime;

on_both_backends!(
    created_record_shape,
    invalid_record_reports_every_field,
    update_versions_and_history,
    upsert_by_unique_field,
    side_tables_follow_only_changed_fields,
);

async fn created_record_shape(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let first = create(
        &ctx,
        "patient",
        json!({"name": "张三", "id_number": id_number(1), "phone": phone(1)}),
    )
    .await;
    assert_eq!(first.version, 1);
    assert_eq!(first.entity, "patient");
    assert_eq!(first.data["patient_no"], json!("P2026000001"));
    // Defaults fill absent fields.
    assert_eq!(first.data["tier"], json!("normal"));
    assert_eq!(first.data["total_spent"].as_f64(), Some(0.0));
    assert_eq!(first.data["name"], json!("张三"));

    let second = create(&ctx, "patient", json!({"name": "李四"})).await;
    assert_eq!(second.data["patient_no"], json!("P2026000002"));
    assert_eq!(second.version, 1);
    assert_ne!(first.id, second.id);
    // UUIDv7: time-ordered ids.
    assert_eq!(first.id.get_version_num(), 7);

    // The wire shape.
    let wire = serde_json::to_value(&first).unwrap();
    for key in [
        "id",
        "entity",
        "version",
        "data",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    ] {
        assert!(wire.get(key).is_some(), "wire record lacks {key}: {wire}");
    }
    assert!(
        wire.get("deleted_at").is_none(),
        "live record has deleted_at"
    );
    assert_eq!(wire["id"], json!(first.id.to_string()));
    assert_eq!(wire["version"], json!(1));
    assert!(wire["data"].is_object());
    // The clock says 09:00 in Shanghai: 01:00 UTC, RFC 3339.
    assert_eq!(first.created_at, "2026-11-24T01:00:00.000000Z");
    assert_eq!(first.updated_at, first.created_at);
    assert_eq!(first.created_by, "system");
    assert_eq!(first.updated_by, "system");
    time::OffsetDateTime::parse(
        &first.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("created_at is RFC 3339");

    // Reading it back gives the same record.
    let read = ctx
        .engine
        .get_record(&ctx.admin, "patient", first.id, &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(read.data["patient_no"], json!("P2026000001"));
    assert_eq!(read.created_at, first.created_at);

    // The autonumber year is the configured zone's: 2026-12-31T17:30Z is 2027 in Shanghai,
    // and the counter restarts.
    ctx.clock.set(datetime!(2026-12-31 17:30:00 UTC));
    let third = create(&ctx, "patient", json!({"name": "王五"})).await;
    assert_eq!(third.data["patient_no"], json!("P2027000001"));
}

async fn invalid_record_reports_every_field(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let good = id_number(7);
    let last = good.chars().last().unwrap();
    let wrong = if last == '0' { '1' } else { '0' };
    let bad_id = format!("{}{wrong}", &good[..17]);
    let err = try_create(
        &ctx,
        "patient",
        json!({"id_number": bad_id, "phone": "12345", "dept": "cardiology"}),
    )
    .await
    .expect_err("an invalid record is refused");
    assert!(
        matches!(err, EngineError::Validation { .. }),
        "expected Validation, got {err:?}"
    );
    assert_eq!(err.code(), "validation_failed");
    assert_eq!(
        detail_fields(&err),
        vec!["id_number", "name", "phone"],
        "{err:?}"
    );
    let codes = detail_codes(&err);
    assert!(
        codes.contains(&("id_number".into(), "id_card_checksum".into())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("name".into(), "required".into())),
        "{codes:?}"
    );
    for d in err.details() {
        assert!(!d.message.is_empty(), "empty message for {}", d.field);
    }
    // Nothing was stored, and no number was used up.
    let page = list(
        &ctx,
        "patient",
        kangdao_engine::records::ListQuery {
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.total, Some(0));
    let ok = create(&ctx, "patient", json!({"name": "赵六"})).await;
    assert_eq!(ok.data["patient_no"], json!("P2026000001"));

    // Too long a name and a value outside a select's options are caught too.
    let err = try_create(
        &ctx,
        "patient",
        json!({"name": "x".repeat(51), "dept": "nowhere", "total_spent": -1}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        detail_fields(&err),
        vec!["dept", "name", "total_spent"],
        "{err:?}"
    );
}

async fn update_versions_and_history(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let created = create(
        &ctx,
        "patient",
        json!({"name": "张三", "visit_count": 1, "id_number": id_number(3)}),
    )
    .await;
    ctx.clock.advance(time::Duration::minutes(5));
    let updated = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            created.id,
            obj(json!({"visit_count": 2})),
            1,
            Lang::En,
        )
        .await
        .expect("update with the current version");
    assert_eq!(updated.version, 2);
    assert_eq!(updated.data["visit_count"], json!(2));
    // A partial update keeps the other fields.
    assert_eq!(updated.data["name"], json!("张三"));
    assert_eq!(updated.data["patient_no"], created.data["patient_no"]);
    assert_eq!(updated.created_at, created.created_at);
    assert_ne!(updated.updated_at, created.updated_at);
    // The answer is built from the row as written, without reading it back: a read agrees
    // with it in every part (the sensitive ID number masked alike).
    let read = ctx
        .engine
        .get_record(&ctx.admin, "patient", created.id, &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        serde_json::to_value(&updated).unwrap()
    );

    // A stale version is refused and changes nothing.
    let err = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            created.id,
            obj(json!({"visit_count": 99})),
            1,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::VersionConflict { current: 2 }),
        "{err:?}"
    );
    let err = ctx
        .engine
        .delete_record(&ctx.admin, "patient", created.id, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::VersionConflict { .. }),
        "{err:?}"
    );

    let third = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            created.id,
            obj(json!({"name": "张三丰"})),
            2,
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(third.version, 3);
    ctx.engine
        .delete_record(&ctx.admin, "patient", created.id, 3)
        .await
        .expect("delete at the current version");
    // A deleted record leaves lists; read by id it says when it was deleted.
    let deleted = ctx
        .engine
        .get_record(&ctx.admin, "patient", created.id, &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(deleted.version, 4);
    assert!(deleted.deleted_at.is_some());
    let page = list(
        &ctx,
        "patient",
        kangdao_engine::records::ListQuery {
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.total, Some(0));
    let err = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            created.id,
            obj(json!({"visit_count": 5})),
            4,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotFound { .. }), "{err:?}");
    let restored = ctx
        .engine
        .restore_record(&ctx.admin, "patient", created.id, Lang::En)
        .await
        .expect("restore");
    assert_eq!(restored.version, 5);
    assert_eq!(restored.data["visit_count"], json!(2));

    let history = ctx
        .engine
        .record_history(&ctx.admin, "patient", created.id)
        .await
        .unwrap();
    let versions: Vec<i64> = history.iter().map(|c| c.version).collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    let ops: Vec<&str> = history.iter().map(|c| c.op.as_str()).collect();
    assert_eq!(ops, vec!["create", "update", "update", "delete", "restore"]);
    assert_eq!(history[0].data["visit_count"], json!(1));
    assert_eq!(history[1].data["visit_count"], json!(2));
    assert_eq!(history[2].data["name"], json!("张三丰"));
    assert!(
        history[1].changed_fields.iter().any(|f| f == "visit_count"),
        "{:?}",
        history[1].changed_fields
    );
    assert!(!history[1].changed_fields.iter().any(|f| f == "name"));
    assert!(history.iter().all(|c| c.actor == "system"));
    // History masks sensitive fields like every read.
    assert_ne!(history[0].data["id_number"], json!(id_number(3)));
}

async fn upsert_by_unique_field(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let first = ctx
        .engine
        .upsert_record_by(
            &ctx.admin,
            "patient",
            UniqueKey {
                field: "mrn",
                value: "MRN-0001",
            },
            obj(json!({"name": "张三", "visit_count": 1})),
            None,
            Lang::En,
        )
        .await
        .expect("first upsert creates");
    assert!(first.created);
    assert_eq!(first.record.version, 1);
    assert_eq!(first.record.data["mrn"], json!("MRN-0001"));

    let second = ctx
        .engine
        .upsert_record_by(
            &ctx.admin,
            "patient",
            UniqueKey {
                field: "mrn",
                value: "MRN-0001",
            },
            obj(json!({"name": "张三", "visit_count": 2})),
            None,
            Lang::En,
        )
        .await
        .expect("second upsert updates");
    assert!(!second.created);
    assert_eq!(second.record.id, first.record.id);
    assert_eq!(second.record.version, 2);
    assert_eq!(second.record.data["visit_count"], json!(2));
    let page = list(
        &ctx,
        "patient",
        kangdao_engine::records::ListQuery {
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.total, Some(1));

    // If-Match is honoured when sent.
    let err = ctx
        .engine
        .upsert_record_by(
            &ctx.admin,
            "patient",
            UniqueKey {
                field: "mrn",
                value: "MRN-0001",
            },
            obj(json!({"visit_count": 3})),
            Some(1),
            Lang::En,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::VersionConflict { current: 2 }),
        "{err:?}"
    );

    // A sensitive field, or one that is not unique, cannot key an upsert.
    for field in ["id_number", "phone", "name"] {
        let err = ctx
            .engine
            .upsert_record_by(
                &ctx.admin,
                "patient",
                UniqueKey {
                    field,
                    value: &id_number(1),
                },
                obj(json!({"name": "李四"})),
                None,
                Lang::En,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::BadRequest { .. }),
            "{field}: {err:?}"
        );
    }
    // An invalid body through upsert is a validation error, and creates nothing.
    let err = ctx
        .engine
        .upsert_record_by(
            &ctx.admin,
            "patient",
            UniqueKey {
                field: "mrn",
                value: "MRN-0002",
            },
            obj(json!({"phone": "12"})),
            None,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Validation { .. }), "{err:?}");
}

/// Tags live in a side table, rewritten only when they change: an update of another field, a
/// delete and a restore leave them findable; a change of the tags moves them; a unique field
/// kept through an update is not a clash, and one taken from another record still is.
async fn side_tables_follow_only_changed_fields(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let tagged = |tag: &str| kangdao_engine::records::ListQuery {
        filter: Some(
            kangdao_engine::records::FilterExpr::parse(
                json!({"field": "tags", "op": "eq", "value": tag}),
            )
            .unwrap(),
        ),
        ..Default::default()
    };
    let names = |tag: &'static str| {
        let ctx = &ctx;
        async move {
            ctx.engine
                .list_records(&ctx.admin, "patient", &tagged(tag))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.data["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let first = create(
        &ctx,
        "patient",
        json!({"name": "王五", "tags": ["diabetes"], "mrn": "MRN-1", "id_number": id_number(7)}),
    )
    .await;
    create(&ctx, "patient", json!({"name": "赵六", "mrn": "MRN-2"})).await;
    let renamed = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            first.id,
            obj(json!({"name": "王五一"})),
            1,
            Lang::En,
        )
        .await
        .expect("an update keeping its unique values");
    assert_eq!(renamed.version, 2);
    assert_eq!(names("diabetes").await, vec!["王五一"]);

    let clash = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            first.id,
            obj(json!({"mrn": "MRN-2"})),
            2,
            Lang::En,
        )
        .await;
    assert!(
        matches!(clash, Err(EngineError::UniqueViolation { ref field }) if field == "mrn"),
        "{clash:?}"
    );

    ctx.engine
        .update_record(
            &ctx.admin,
            "patient",
            first.id,
            obj(json!({"tags": ["hypertension"]})),
            2,
            Lang::En,
        )
        .await
        .unwrap();
    assert!(names("diabetes").await.is_empty());
    assert_eq!(names("hypertension").await, vec!["王五一"]);

    ctx.engine
        .delete_record(&ctx.admin, "patient", first.id, 3)
        .await
        .unwrap();
    assert!(names("hypertension").await.is_empty());
    ctx.engine
        .restore_record(&ctx.admin, "patient", first.id, Lang::En)
        .await
        .unwrap();
    assert_eq!(names("hypertension").await, vec!["王五一"]);
}
