//! Random and malformed JSON thrown at record creation and definition upload: never a panic,
//! never a 5xx, always the one error format. Bounded: a fixed number of cases per backend.

use kangdao_tests::server::{json_of, patient_definition, TestServer};
use kangdao_tests::Backend;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

const CASES: u32 = 120;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[\\PC]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("110105194912310021"),
            Just("13812345678"),
            Just("2026-13-45"),
            Just("cardiology"),
            Just("VIP"),
            Just("name"),
            Just("reference"),
            Just("id_card"),
            Just("01a20f80-f6ae-72b0-a0aa-0e2e033019b0"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,10}".boxed(),
                    Just("name".to_string()).boxed(),
                    Just("type".to_string()).boxed(),
                    Just("fields".to_string()).boxed(),
                    Just("phone".to_string()).boxed(),
                    Just("total_spent".to_string()).boxed(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A definition close to a valid one, with one part replaced by random JSON.
fn mutated_definition() -> impl Strategy<Value = Value> {
    (any_json(), 0usize..4, 0usize..8).prop_map(|(noise, part, field)| {
        let mut def = patient_definition();
        def["name"] = json!(format!("fuzz_{field}"));
        match part {
            0 => def["fields"][field % 8] = noise,
            1 => def["fields"][field % 8]["type"] = noise,
            2 => def["fields"][field % 8]["options"] = noise,
            _ => def["layout"] = noise,
        }
        def
    })
}

async fn no_request_breaks_the_server(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = tokio::task::block_in_place(|| {
        runner.run(
            &(any_json(), mutated_definition(), "[\\PC]{0,40}"),
            |(data, definition, raw)| {
                handle.block_on(async {
                    for (path, body) in [
                        ("/api/v1/records/patient", json!({"data": data.clone()})),
                        ("/api/v1/records/patient", data.clone()),
                        ("/api/v1/entities", definition.clone()),
                        ("/api/v1/entities", data.clone()),
                    ] {
                        let response = admin.post(path, &body).await;
                        let status = response.status();
                        let body = json_of(response).await;
                        prop_assert!(status.as_u16() < 500, "{path}: {status} {body}");
                        if !status.is_success() {
                            prop_assert!(body["error"]["code"].is_string(), "{path}: {body}");
                        }
                    }
                    let response = admin
                        .request(reqwest::Method::POST, "/api/v1/records/patient")
                        .header("content-type", "application/json")
                        .body(raw.clone())
                        .send()
                        .await
                        .expect("raw post");
                    prop_assert!(response.status().as_u16() < 500);
                    let response = admin
                        .request(
                            reqwest::Method::POST,
                            "/api/v1/records/patient/import?dry_run=true",
                        )
                        .body(raw.clone())
                        .send()
                        .await
                        .expect("import");
                    prop_assert!(response.status().as_u16() < 500);
                    Ok(())
                })
            },
        )
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // Still serving.
    assert_eq!(admin.get("/readyz").await.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_random_json() {
    no_request_breaks_the_server(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_random_json() {
    no_request_breaks_the_server(Backend::Postgres).await
}
