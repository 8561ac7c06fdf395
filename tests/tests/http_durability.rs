//! Durable single creates on SQLite: a 201 means the record is in the database file and its
//! WAL synced, concurrent creates share syncs, and the record survives the server being killed
//! right after answering.

use kangdao_tests::server::{json_of, patient_definition, TestServer};
use kangdao_tests::Backend;
use serde_json::json;
use std::time::{Duration, Instant};

/// A quick timing, not a benchmark: 16 API clients create patients one at a time for a few
/// seconds on SQLite (debug build, this machine) and the rate and latencies are printed.
/// `cargo test -p kangdao-tests --test http_durability -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a timing to read, not a check"]
async fn sixteen_clients_creating_patients() {
    const CLIENTS: usize = 16;
    const SECONDS: u64 = 5;
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    let token = json_of(
        admin
            .post("/api/v1/tokens", &json!({"name": "timing"}))
            .await,
    )
    .await["token"]
        .as_str()
        .expect("token")
        .to_string();
    // A plain client: the contract check of every answer would cost this 2-core machine more
    // than the server's work being timed.
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/records/patient", server.base);
    let body = json!({"data": {"name": "张三", "phone": "13912345678", "dept": "cardiology"}});
    let until = Instant::now() + Duration::from_secs(SECONDS);
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url, body, token) = (client.clone(), url.clone(), body.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(response.status(), 201, "{:?}", response.text().await);
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{CLIENTS} clients, {} creates in {elapsed:.1} s: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
    server.stop().await;
}
