//! Changing a definition that holds records: added fields are backfilled without new versions
//! or history; removed fields are hidden and keep their data.

use crate::support::*;
use kangdao_engine::records::{FilterExpr, ListQuery};
use kangdao_engine::{EngineError, Lang};
use serde_json::{json, Value};

on_both_backends!(adding_and_removing_fields);

fn definition_with(extra: &[Value]) -> Value {
    let mut fields = patient_fields();
    fields.extend(extra.iter().cloned());
    json!({"name": "patient", "label": {"zh": "患者", "en": "Patient"}, "fields": fields})
}

async fn count(ctx: &Ctx, filter: Value) -> u64 {
    list(
        ctx,
        "patient",
        ListQuery {
            filter: Some(FilterExpr::parse(filter).unwrap()),
            per_page: 1,
            count: true,
            ..Default::default()
        },
    )
    .await
    .total
    .unwrap()
}

async fn changes(ctx: &Ctx) -> i64 {
    scalar_i64(
        ctx,
        "SELECT COUNT(*) FROM record_changes WHERE entity = 'patient'",
    )
    .await
}

async fn versions_above_one(ctx: &Ctx) -> i64 {
    scalar_i64(ctx, "SELECT COUNT(*) FROM e_patient WHERE version <> 1").await
}

async fn adding_and_removing_fields(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let docs: Vec<_> = (0..300)
        .map(|i| {
            obj(
                json!({"name": format!("患者{i}"), "mrn": format!("M{i:04}"),
                       "dept": if i % 3 == 0 { "cardiology" } else { "oncology" }}),
            )
        })
        .collect();
    let ids = ctx
        .engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .unwrap();
    assert_eq!(ids.len(), 300);
    let history_before = changes(&ctx).await;
    assert_eq!(history_before, 300);
    let entity_before = ctx
        .engine
        .get_entity(&ctx.admin, "patient")
        .await
        .unwrap()
        .version;

    let source = json!({"name": "source", "type": "select", "indexed": true,
                        "options": [{"value": "web"}, {"value": "referral"}]});
    let labels = json!({"name": "labels", "type": "tags"});
    let info = ctx
        .engine
        .update_entity(
            &ctx.admin,
            "patient",
            definition_with(&[source.clone(), labels.clone()]),
            Lang::En,
        )
        .await
        .expect("add two fields");
    assert_eq!(info.version, entity_before + 1);
    assert!(info.definition.field("source").is_some());

    // No version bump, no history.
    assert_eq!(versions_above_one(&ctx).await, 0);
    assert_eq!(changes(&ctx).await, history_before);
    // The new fields filter at once.
    assert_eq!(
        count(&ctx, json!({"field": "source", "op": "is_empty"})).await,
        300
    );
    assert_eq!(
        count(&ctx, json!({"field": "labels", "op": "is_empty"})).await,
        300
    );
    assert_eq!(
        count(
            &ctx,
            json!({"field": "dept", "op": "eq", "value": "cardiology"})
        )
        .await,
        100,
        "old projections are untouched"
    );
    // And take values.
    let r = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            ids[7],
            obj(json!({"source": "web", "labels": ["new"]})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(r.version, 2);
    assert_eq!(
        count(&ctx, json!({"field": "source", "op": "eq", "value": "web"})).await,
        1
    );
    assert_eq!(
        count(&ctx, json!({"field": "source", "op": "is_empty"})).await,
        299
    );
    assert_eq!(
        count(&ctx, json!({"field": "labels", "op": "eq", "value": "new"})).await,
        1
    );
    let history_mid = changes(&ctx).await;
    assert_eq!(history_mid, 301);

    // Removing the field hides it; the records keep their versions.
    ctx.engine
        .update_entity(&ctx.admin, "patient", definition_with(&[]), Lang::En)
        .await
        .expect("remove the fields");
    let hidden = ctx
        .engine
        .get_record(&ctx.admin, "patient", ids[7], &[], Lang::En)
        .await
        .unwrap();
    assert!(hidden.data.get("source").is_none(), "{:?}", hidden.data);
    assert!(hidden.data.get("labels").is_none());
    assert_eq!(hidden.version, 2);
    assert_eq!(changes(&ctx).await, history_mid);
    // A write while the field is hidden does not lose its data.
    let touched = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            ids[7],
            obj(json!({"visit_count": 4})),
            2,
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(touched.version, 3);
    // Data for a hidden field is not accepted as a write.
    let err = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            ids[8],
            obj(json!({"source": "referral"})),
            1,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Validation { .. } | EngineError::BadRequest { .. }
        ),
        "{err:?}"
    );

    // Re-adding it brings the data back, filterable.
    ctx.engine
        .update_entity(
            &ctx.admin,
            "patient",
            definition_with(&[source, labels]),
            Lang::En,
        )
        .await
        .expect("re-add the fields");
    let back = ctx
        .engine
        .get_record(&ctx.admin, "patient", ids[7], &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(back.data.get("source"), Some(&json!("web")));
    assert_eq!(back.data.get("labels"), Some(&json!(["new"])));
    assert_eq!(back.data.get("visit_count"), Some(&json!(4)));
    assert_eq!(back.version, 3);
    assert_eq!(
        count(&ctx, json!({"field": "source", "op": "eq", "value": "web"})).await,
        1
    );
    assert_eq!(
        count(&ctx, json!({"field": "labels", "op": "eq", "value": "new"})).await,
        1
    );
    assert_eq!(versions_above_one(&ctx).await, 1);
    assert_eq!(changes(&ctx).await, history_mid + 1);

    // The impact preview of a stricter rule counts the records it would break.
    let mut strict = patient_fields();
    for f in strict.iter_mut() {
        if f["name"] == "dept" {
            f["required"] = json!(true);
            f["options"] = json!([{"value": "cardiology"}]);
        }
    }
    let impact = ctx
        .engine
        .entity_impact(
            &ctx.admin,
            "patient",
            json!({"name": "patient", "fields": strict}),
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(impact.invalid_records, 200);
    assert!(!impact.examples.is_empty());
}

on_both_backends!(uniqueness_can_be_dropped_and_added_back);

fn with_mrn(unique: bool) -> Value {
    let fields: Vec<Value> = patient_fields()
        .into_iter()
        .map(|f| {
            if f["name"] == "mrn" {
                json!({"name": "mrn", "type": "text", "unique": unique})
            } else {
                f
            }
        })
        .collect();
    json!({"name": "patient", "label": {"zh": "患者", "en": "Patient"}, "fields": fields})
}

async fn uniqueness_can_be_dropped_and_added_back(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    create(&ctx, "patient", json!({"name": "甲", "mrn": "M1"})).await;
    assert!(matches!(
        try_create(&ctx, "patient", json!({"name": "乙", "mrn": "M1"})).await,
        Err(EngineError::UniqueViolation { .. })
    ));
    ctx.engine
        .update_entity(&ctx.admin, "patient", with_mrn(false), Lang::En)
        .await
        .unwrap();
    create(&ctx, "patient", json!({"name": "乙", "mrn": "M1"})).await;
    // Back to unique while two records share a value: refused, naming the field; the preview
    // says which records stand in the way.
    let impact = ctx
        .engine
        .entity_impact(&ctx.admin, "patient", with_mrn(true), Lang::En)
        .await
        .unwrap();
    assert_eq!(impact.invalid_records, 1);
    let err = ctx
        .engine
        .update_entity(&ctx.admin, "patient", with_mrn(true), Lang::En)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::UniqueViolation { ref field } if field == "mrn"),
        "{err:?}"
    );
    // The refused change left the definition as it was.
    assert!(
        !ctx.engine
            .get_entity(&ctx.admin, "patient")
            .await
            .unwrap()
            .definition
            .field("mrn")
            .unwrap()
            .unique
    );
    create(&ctx, "patient", json!({"name": "丙", "mrn": "M1"})).await;
}
