//! Entity definitions over HTTP: a GET → edit → PUT round trip, versions as preconditions,
//! concurrent changes, and several definitions applied as one batch with a dry run.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    a_read_definition_goes_back_unchanged,
    a_read_definition_goes_back_unchanged
);
on_both_backends!(stale_versions_are_conflicts, stale_versions_are_conflicts);
on_both_backends!(
    concurrent_puts_each_land_or_conflict,
    concurrent_puts_each_land_or_conflict
);
on_both_backends!(a_batch_with_a_dry_run, a_batch_with_a_dry_run);
on_both_backends!(a_busy_table_is_a_conflict, a_busy_table_is_a_conflict);
on_both_backends!(
    a_failing_batch_creates_nothing,
    a_failing_batch_creates_nothing
);

async fn define_patient(admin: &Session) {
    let response = admin.post("/api/v1/entities", &patient_definition()).await;
    assert_eq!(response.status(), 201);
}

async fn put_if(admin: &Session, path: &str, version: Option<i64>, body: &Value) -> Answer {
    let mut builder = admin.request(Method::PUT, path).json(body);
    if let Some(v) = version {
        builder = builder.header("If-Match", format!("\"{v}\""));
    }
    builder.send().await.expect("PUT")
}

fn add_field(definition: &Value, field: Value) -> Value {
    let mut definition = definition.clone();
    definition["fields"]
        .as_array_mut()
        .expect("fields")
        .push(field);
    definition
}

async fn a_read_definition_goes_back_unchanged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let response = admin.get("/api/v1/entities/patient").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let read = json_of(response).await;
    assert_eq!(read["version"], 1);
    // What GET answered is accepted back as it is, and changes nothing.
    let response = admin.put("/api/v1/entities/patient", &read).await;
    assert_eq!(response.status(), 200);
    let same = json_of(response).await;
    assert_eq!(
        same["version"], 1,
        "no new version for an unchanged definition"
    );
    // Edited, it is version 2.
    let edited = add_field(&read, json!({"name": "nickname", "type": "text"}));
    let response = admin.put("/api/v1/entities/patient", &edited).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = json_of(response).await;
    assert_eq!(changed["version"], 2);
    assert!(changed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "nickname"));
    server.stop().await;
}

async fn stale_versions_are_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    let mut bare = read.clone();
    bare.as_object_mut().unwrap().remove("version");
    let first = add_field(&bare, json!({"name": "first", "type": "text"}));
    let response = put_if(&admin, "/api/v1/entities/patient", Some(1), &first).await;
    assert_eq!(response.status(), 200);
    // If-Match stale.
    let second = add_field(&bare, json!({"name": "second", "type": "text"}));
    let response = put_if(&admin, "/api/v1/entities/patient", Some(1), &second).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "version_conflict");
    // The body's version stale.
    let second = add_field(&read, json!({"name": "second", "type": "text"}));
    let response = admin.put("/api/v1/entities/patient", &second).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "version_conflict");
    let now = json_of(admin.get("/api/v1/entities/patient").await).await;
    assert_eq!(now["version"], 2);
    assert!(!now["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "second"));
    // DELETE honours If-Match too.
    let response = admin.delete("/api/v1/entities/patient", Some(1)).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "version_conflict");
    // A malformed If-Match is a 400, not a 500.
    let response = admin
        .request(Method::PUT, "/api/v1/entities/patient")
        .header("If-Match", "\"abc\"")
        .json(&now)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = admin.delete("/api/v1/entities/patient", Some(2)).await;
    assert_eq!(response.status(), 204);
    server.stop().await;
}

async fn concurrent_puts_each_land_or_conflict(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let session = admin.clone();
        let body = add_field(&read, json!({"name": format!("extra_{i}"), "type": "text"}));
        tasks.push(tokio::spawn(async move {
            let response = session.put("/api/v1/entities/patient", &body).await;
            (i, response.status().as_u16())
        }));
    }
    let mut landed = Vec::new();
    for task in tasks {
        let (i, status) = task.await.unwrap();
        match status {
            200 => landed.push(i),
            409 => {}
            other => panic!("extra_{i}: {other}"),
        }
    }
    assert_eq!(landed.len(), 1);
    let now = json_of(admin.get("/api/v1/entities/patient").await).await;
    assert_eq!(now["version"], 2);
    for i in 0..20 {
        let present = now["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == format!("extra_{i}"));
        assert_eq!(present, landed.contains(&i), "extra_{i}");
    }
    server.stop().await;
}

fn ward_definitions() -> Value {
    json!({"entities": [
        {"name": "ward", "fields": [
            {"name": "name", "type": "text", "required": true},
            {"name": "head_nurse", "type": "reference", "entity": "nurse"}
        ]},
        {"name": "nurse", "fields": [
            {"name": "name", "type": "text", "required": true},
            {"name": "ward", "type": "reference", "entity": "ward"},
            {"name": "staff_no", "type": "text", "unique": true}
        ]}
    ]})
}

async fn a_batch_with_a_dry_run(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let response = admin
        .post("/api/v1/entity-batches?dry_run=true", &ward_definitions())
        .await;
    assert_eq!(response.status(), 200);
    let plan = json_of(response).await;
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["entities"][0]["change"], "created");
    assert_eq!(plan["entities"][1]["unique_added"], json!(["staff_no"]));
    assert_eq!(admin.get("/api/v1/entities/ward").await.status(), 404);
    let response = admin
        .post("/api/v1/entity-batches", &ward_definitions())
        .await;
    assert_eq!(response.status(), 200);
    let applied = json_of(response).await;
    assert_eq!(applied["dry_run"], false);
    for name in ["ward", "nurse"] {
        let response = admin.get(&format!("/api/v1/entities/{name}")).await;
        assert_eq!(response.status(), 200, "{name}");
    }
    let ward = json_of(
        admin
            .post("/api/v1/records/ward", &json!({"data": {"name": "三病区"}}))
            .await,
    )
    .await;
    let response = admin
        .post(
            "/api/v1/records/nurse",
            &json!({"data": {"name": "李护士", "ward": ward["id"], "staff_no": "N1"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    // The same batch again changes nothing.
    let again = json_of(
        admin
            .post("/api/v1/entity-batches", &ward_definitions())
            .await,
    )
    .await;
    assert_eq!(again["entities"][0]["change"], "unchanged");
    assert_eq!(again["entities"][0]["version"], 1);
    server.stop().await;
}

async fn a_failing_batch_creates_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut batch = ward_definitions();
    batch["entities"][1]["fields"][1] = json!({"name": "ward", "type": "reference"});
    let response = admin.post("/api/v1/entity-batches", &batch).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["code"], "bad_request");
    for name in ["ward", "nurse"] {
        assert_eq!(
            admin
                .get(&format!("/api/v1/entities/{name}"))
                .await
                .status(),
            404
        );
    }
    let listed = json_of(admin.get("/api/v1/entities").await).await;
    assert_eq!(listed["items"], json!([]));
    // Not the documented shape.
    let response = admin
        .post("/api/v1/entity-batches", &json!({"entity": []}))
        .await;
    assert_eq!(response.status(), 400);
    server.stop().await;
}

async fn a_busy_table_is_a_conflict(backend: Backend) {
    use kangdao_engine::store::{Db, DbOptions};
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "张三"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    // Another transaction holds the table (PostgreSQL) or the database's write lock (SQLite).
    let other = Db::connect(&DbOptions {
        url: server.db.url.clone(),
        max_connections: 1,
    })
    .await
    .unwrap();
    let mut holder = other.begin().await.unwrap();
    if backend == Backend::Postgres {
        holder
            .execute("LOCK TABLE e_patient IN ACCESS SHARE MODE", vec![])
            .await
            .unwrap();
    }
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    let edited = add_field(&read, json!({"name": "nickname", "type": "text"}));
    let response = admin.put("/api/v1/entities/patient", &edited).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "conflict");
    drop(holder);
    let response = admin.put("/api/v1/entities/patient", &edited).await;
    assert_eq!(response.status(), 200);
    server.stop().await;
}
