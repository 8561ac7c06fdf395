//! Several server instances on one database see each other's definition changes.

use crate::support::*;
use kangdao_engine::crypto::Keyring;
use kangdao_engine::{Engine, EngineError, Lang, Settings};
use serde_json::json;

on_both_backends!(a_second_instance_sees_new_definitions);

async fn a_second_instance_sees_new_definitions(backend: Backend) {
    let ctx = open(backend).await;
    let other = Engine::open(
        connect(&ctx.fresh.url).await,
        Keyring::from_master(&MASTER),
        ctx.clock.clone(),
        Settings::default(),
    )
    .await
    .expect("second instance");
    // Look once so the second instance caches "no patient".
    assert!(matches!(
        other.get_entity(&ctx.admin, "patient").await,
        Err(EngineError::NotFound { .. })
    ));
    ctx.engine
        .create_entity(&ctx.admin, patient_definition(), Lang::En)
        .await
        .unwrap();
    // Definitions are re-checked every two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let seen = other
        .get_entity(&ctx.admin, "patient")
        .await
        .expect("the new entity");
    assert_eq!(seen.version, 1);
    let record = other
        .create_record(
            &ctx.admin,
            "patient",
            obj(json!({"name": "跨实例"})),
            Lang::En,
        )
        .await
        .expect("a record through the second instance");
    let mut fields = patient_fields();
    fields.push(json!({"name": "ward", "type": "text"}));
    ctx.engine
        .update_entity(
            &ctx.admin,
            "patient",
            json!({"name": "patient", "fields": fields}),
            Lang::En,
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let updated = other
        .update_record(
            &ctx.admin,
            "patient",
            record.id,
            obj(json!({"ward": "3A"})),
            1,
            Lang::En,
        )
        .await
        .expect("the second instance knows the new field");
    assert_eq!(updated.data["ward"], "3A");
}
