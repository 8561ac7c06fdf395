//! `POST /api/v1/reports/query` over HTTP: the chart spec in, the answer out, with labels in
//! the caller's language and explain for designers.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, TestServer};
use kangdao_tests::Backend;
use serde_json::json;

async fn charts_over_http(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    for (name, dept, spent) in [
        ("张三", "cardiology", 10.5),
        ("李四", "cardiology", 20.0),
        ("王五", "orthopedics", 5.0),
    ] {
        let response = admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": name, "dept": dept, "total_spent": spent}}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let spec = json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "dept"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "total_spent"}],
        "sort": [{"by": "count", "dir": "desc"}], "limit": 1, "others": true});
    let answer = json_of(admin.post("/api/v1/reports/query", &spec).await).await;
    assert_eq!(answer["rows"], json!([["cardiology", 2, 30.5]]));
    assert_eq!(
        answer["others"],
        json!({"groups": 1, "values": [null, 1, 5]})
    );
    assert_eq!(answer["labels"]["dept"]["cardiology"], "心内科");
    assert!(answer.get("explain").is_none());

    // English labels from Accept-Language; explain for a designer (the admin).
    let mut english = admin.clone();
    english.lang = "en-US,en;q=0.9";
    let answer = json_of(
        english
            .post("/api/v1/reports/query?explain=true", &spec)
            .await,
    )
    .await;
    assert_eq!(answer["labels"]["dept"]["cardiology"], "Cardiology");
    let statements = answer["explain"]["statements"]
        .as_array()
        .expect("statements");
    assert_eq!(
        statements.len(),
        2,
        "the top row and the others: {statements:?}"
    );
    assert!(statements[0]["sql"].as_str().unwrap().contains("LIMIT 1"));

    // A misspelt key, a missing chart type and an unknown chart type are refused.
    for bad in [
        json!({"entity": "patient", "chart": "bar", "measures": [{"agg": "count"}], "limt": 5}),
        json!({"entity": "patient", "measures": [{"agg": "count"}]}),
        json!({"entity": "patient", "chart": "radar", "measures": [{"agg": "count"}]}),
    ] {
        let response = admin.post("/api/v1/reports/query", &bad).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let response = admin
        .post("/api/v1/reports/query?explain=perhaps", &spec)
        .await;
    assert_eq!(response.status(), 400);
    server.stop().await;
}
on_both_backends!(charts_answer_over_http, charts_over_http);
