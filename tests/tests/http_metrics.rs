//! `/metrics` in the Prometheus text format: requests counted by route template, method and
//! status, never with a record's id or a query string, and the database pool — on SQLite and
//! PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{id_number, json_of, patient_definition, TestServer};
use kangdao_tests::Backend;
use serde_json::json;

/// The value of the sample named `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split(['{', ' '])
                .next()
                .is_some_and(|metric| metric == name)
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn requests_by_route_template_and_pool_use(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    let created = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "张三", "id_number": id_number("110105", "19800101", 1),
                             "phone": "13912345678", "dept": "cardiology"}}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = json_of(created).await["id"]
        .as_str()
        .expect("record id")
        .to_string();
    for _ in 0..3 {
        let read = admin
            .get(&format!("/api/v1/records/patient/{id}?deleted=false"))
            .await;
        assert_eq!(read.status(), 200);
    }
    let missing = admin
        .get(&format!("/api/v1/records/patient/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(missing.status(), 404);

    // Read without signing in, as a monitoring system scrapes.
    let scraped = server.anonymous().get("/metrics").await;
    assert_eq!(scraped.status(), 200);
    assert!(scraped
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/plain")));
    let text = scraped.text().await.expect("UTF-8");
    let route = "route=\"/api/v1/records/{entity}/{id}\"";
    assert_eq!(
        sample(
            &text,
            "kangdao_http_request_duration_seconds_count",
            &[route, "method=\"GET\"", "status=\"200\""],
        ),
        Some(3.0),
        "three reads of one record under its route template:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "kangdao_http_request_duration_seconds_count",
            &[route, "method=\"GET\"", "status=\"404\""],
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "kangdao_http_request_duration_seconds_count",
            &[
                "route=\"/api/v1/records/{entity}\"",
                "method=\"POST\"",
                "status=\"201\""
            ],
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "kangdao_http_request_duration_seconds_bucket",
            &[route, "status=\"200\"", "le=\"+Inf\""],
        ) == Some(3.0),
        "a latency histogram per route:\n{text}"
    );
    assert!(!text.contains(&id), "no record id in a label:\n{text}");
    assert!(!text.contains("deleted="), "no query string:\n{text}");
    assert!(!text.contains("patient"), "no path value:\n{text}");
    let open = sample(&text, "kangdao_db_pool_connections", &[]).expect("pool size");
    let idle = sample(&text, "kangdao_db_pool_idle_connections", &[]).expect("idle");
    let max = sample(&text, "kangdao_db_pool_max_connections", &[]).expect("max");
    assert!(open >= 1.0 && idle <= open && open <= max, "{text}");

    // The scrape itself is counted on the next one.
    let again = server
        .anonymous()
        .get("/metrics")
        .await
        .text()
        .await
        .expect("UTF-8");
    assert_eq!(
        sample(
            &again,
            "kangdao_http_request_duration_seconds_count",
            &["route=\"/metrics\"", "status=\"200\""],
        ),
        Some(1.0),
        "{again}"
    );
    server.stop().await;
}

on_both_backends!(metrics, requests_by_route_template_and_pool_use);
