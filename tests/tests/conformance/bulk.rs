//! Bulk creation: batches written while the next is validated, every record or none.

use crate::support::*;
use kangdao_engine::records::ListQuery;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;

on_both_backends!(bulk_create_is_all_or_nothing_across_batches);

async fn bulk_create_is_all_or_nothing_across_batches(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let doc = |i: u32| {
        obj(
            json!({"name": format!("批量{i}"), "id_number": id_number(i), "phone": phone(i), "mrn": format!("B{i:05}")}),
        )
    };
    // Bad documents in the first and the third batch: both reported, nothing stored.
    let mut docs: Vec<_> = (0..1200).map(doc).collect();
    docs[10].insert("phone".into(), json!("12345"));
    docs[1100].remove("name");
    let err = ctx
        .engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .unwrap_err();
    let EngineError::Validation { details } = err else {
        panic!("expected validation errors, got {err:?}");
    };
    let fields: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["10.phone", "1100.name"]);
    let count = |ctx: &Ctx| {
        let query = ListQuery {
            per_page: 1,
            count: true,
            exact_total: true,
            ..ListQuery::default()
        };
        let engine = ctx.engine.clone();
        let admin = ctx.admin.clone();
        async move {
            engine
                .list_records(&admin, "patient", &query)
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(count(&ctx).await, Some(0));

    // A unique clash in the second batch rolls back the first batch too.
    let mut docs: Vec<_> = (0..1200).map(doc).collect();
    docs[700].insert("mrn".into(), json!("B00003"));
    let err = ctx
        .engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::UniqueViolation { ref field } if field == "mrn"),
        "{err:?}"
    );
    assert_eq!(count(&ctx).await, Some(0));

    // All good: every record, numbered without gaps across batches.
    let ids = ctx
        .engine
        .create_records_bulk(
            &ctx.admin,
            "patient",
            (0..1200).map(doc).collect(),
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 1200);
    assert_eq!(count(&ctx).await, Some(1200));
    let last = ctx
        .engine
        .get_record(&ctx.admin, "patient", ids[1199], &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(last.data["patient_no"], "P2026001200", "{:?}", last.data);
    let first = ctx
        .engine
        .get_record(&ctx.admin, "patient", ids[0], &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(first.data["name"], "批量0");
}
