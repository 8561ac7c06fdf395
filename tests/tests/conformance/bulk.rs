//! Bulk creation: batches written while the next is validated, every record or none.

use crate::support::*;
use kangdao_engine::records::{ListQuery, SortKey};
use kangdao_engine::{EngineError, Lang};
use serde_json::json;

on_both_backends!(
    bulk_create_is_all_or_nothing_across_batches,
    a_wide_entity_is_written_in_smaller_statements,
);

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

/// 150 text fields project 450 columns (each with its pinyin key and initials): a batch of 500
/// such rows needs more bound values than one statement may carry on either backend, so it is
/// written in more, smaller statements.
async fn a_wide_entity_is_written_in_smaller_statements(backend: Backend) {
    let ctx = open(backend).await;
    let fields: Vec<serde_json::Value> = (0..150)
        .map(|i| json!({"name": format!("t{i}"), "type": "text"}))
        .collect();
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "wide", "fields": fields}),
            Lang::En,
        )
        .await
        .expect("create a wide entity");
    let names = ["张三", "李四", "alice"];
    let docs: Vec<_> = (0..500)
        .map(|i| {
            let mut doc = serde_json::Map::new();
            for f in 0..150 {
                doc.insert(format!("t{f}"), json!(format!("{}{i}", names[(i + f) % 3])));
            }
            doc
        })
        .collect();
    let ids = ctx
        .engine
        .create_records_bulk(&ctx.admin, "wide", docs, Lang::En)
        .await
        .expect("bulk create wide records");
    assert_eq!(ids.len(), 500);
    let page = list(
        &ctx,
        "wide",
        ListQuery {
            sort: SortKey::parse_list("t149,id"),
            q: Some("ls1".into()),
            per_page: 1000,
            count: true,
            ..ListQuery::default()
        },
    )
    .await;
    // Every record holds 李四<i> in a third of its fields: `ls1` finds those whose i starts
    // with 1, by the initials every statement wrote.
    let expected = (0..500).filter(|i| i.to_string().starts_with('1')).count();
    assert_eq!(page.total, Some(expected as u64));
    // Sorted by the pinyin key of the last column: the alices first, then 李四, then 张三.
    let first = page.items.first().unwrap().data["t149"].as_str().unwrap();
    let last = page.items.last().unwrap().data["t149"].as_str().unwrap();
    assert!(
        first.starts_with("alice") && last.starts_with("张三"),
        "{first} … {last}"
    );
}
