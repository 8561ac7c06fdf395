//! The database remembers its key: an engine holding another key refuses to open.

use crate::support::*;
use kangdao_engine::crypto::Keyring;
use kangdao_engine::{Engine, EngineError, Lang, Settings};
use serde_json::json;

on_both_backends!(another_key_is_refused);

async fn another_key_is_refused(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let r = create(
        &ctx,
        "patient",
        json!({"name": "张三", "id_number": id_number(5)}),
    )
    .await;

    let other = Engine::open(
        connect(&ctx.fresh.url).await,
        Keyring::from_master(&[8u8; 32]),
        ctx.clock.clone(),
        Settings::default(),
    )
    .await;
    match other {
        Err(EngineError::Configuration(message)) => {
            assert!(!message.is_empty());
        }
        Err(e) => panic!("expected Configuration, got {e:?}"),
        Ok(_) => panic!("an engine with another key opened the database"),
    }

    // The right key opens it again and reads the sealed value.
    let same = Engine::open(
        connect(&ctx.fresh.url).await,
        Keyring::from_master(&MASTER),
        ctx.clock.clone(),
        Settings::default(),
    )
    .await
    .expect("the same key opens the database");
    let read = same
        .get_record(
            &ctx.admin,
            "patient",
            r.id,
            &["id_number".to_string()],
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(read.data["id_number"], json!(id_number(5)));
    same.db.close().await;
}
