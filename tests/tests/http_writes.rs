//! Record writes over HTTP as integrations and staff make them, on SQLite and PostgreSQL:
//! racing first upserts, writes that change nothing, create-only tokens, field rules
//! (`visible_if`/`readonly_if`) and formulas over sensitive fields.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{id_number, json_of, patient_definition, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};

async fn define(admin: &Session, definition: &Value) {
    let response = admin.post("/api/v1/entities", definition).await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

async fn history_len(admin: &Session, id: &str) -> usize {
    json_of(
        admin
            .get(&format!("/api/v1/records/patient/{id}/history"))
            .await,
    )
    .await["items"]
        .as_array()
        .expect("history items")
        .len()
}

async fn count_patients(admin: &Session) -> u64 {
    json_of(admin.get("/api/v1/records/patient?per_page=1").await).await["total"]
        .as_u64()
        .expect("total")
}

async fn racing_first_upserts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define(&admin, &patient_definition()).await;

    let mut tasks = Vec::new();
    for n in 0..50 {
        let session = admin.clone();
        tasks.push(tokio::spawn(async move {
            let response = session
                .put(
                    "/api/v1/records/patient/by/mrn/NEW-0001",
                    &json!({"data": {"name": "首次推送", "dept": "cardiology", "total_spent": 10}}),
                )
                .await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (n, status, body)
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (n, status, body) = task.await.unwrap();
        assert!(
            status == 201 || status == 200,
            "push {n}: every first push is a create or an update, got {status}: {body}"
        );
        if status == 201 {
            created += 1;
        }
        let body: Value = serde_json::from_str(&body).unwrap();
        ids.insert(body["id"].as_str().unwrap().to_string());
        assert_eq!(body["version"], 1, "identical pushes change nothing");
    }
    assert_eq!(created, 1, "exactly one push creates the record");
    assert_eq!(ids.len(), 1, "one record");
    assert_eq!(count_patients(&admin).await, 1);
    server.stop().await;
}
on_both_backends!(
    concurrent_first_upserts_make_one_record,
    racing_first_upserts
);

async fn unchanged_writes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define(&admin, &patient_definition()).await;
    let push = json!({"data": {"name": "王五", "dept": "cardiology", "total_spent": 12.5}});
    let first = admin
        .put("/api/v1/records/patient/by/mrn/HIS-7", &push)
        .await;
    assert_eq!(first.status(), 201);
    let first = json_of(first).await;
    let id = first["id"].as_str().unwrap().to_string();

    // The HIS pushes the same patient again: 200, same version, no history.
    let again = admin
        .put("/api/v1/records/patient/by/mrn/HIS-7", &push)
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.headers().get("etag").unwrap().to_str().unwrap(),
        "\"1\""
    );
    let again = json_of(again).await;
    assert_eq!(again["version"], 1);
    assert_eq!(again["updated_at"], first["updated_at"]);
    assert_eq!(history_len(&admin, &id).await, 1);

    // A PATCH with identical data: the same.
    let path = format!("/api/v1/records/patient/{id}");
    let same = admin
        .patch(
            &path,
            Some(1),
            &json!({"data": {"name": "王五", "total_spent": 12.50}}),
        )
        .await;
    assert_eq!(same.status(), 200);
    assert_eq!(json_of(same).await["version"], 1);
    assert_eq!(history_len(&admin, &id).await, 1);

    // A real change still makes a version.
    let changed = admin
        .patch(&path, Some(1), &json!({"data": {"total_spent": 13}}))
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(json_of(changed).await["version"], 2);
    assert_eq!(history_len(&admin, &id).await, 2);
    server.stop().await;
}
on_both_backends!(writes_that_change_nothing_make_no_version, unchanged_writes);

/// A user holding only `role`, and a Bearer client for one of their tokens.
async fn token_of(server: &TestServer, admin: &Session, role: &Value) -> Session {
    assert_eq!(admin.post("/api/v1/roles", role).await.status(), 201);
    let name = role["name"].as_str().unwrap();
    let user = json!({"username": format!("{name}_user"), "password": "integration-pw-1", "roles": [name]});
    assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    let session = server
        .login(&format!("{name}_user"), "integration-pw-1")
        .await;
    let created = session
        .post("/api/v1/tokens", &json!({"name": "HIS"}))
        .await;
    assert_eq!(created.status(), 201);
    let token = json_of(created).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    server.with_token(&token)
}

async fn create_only_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define(&admin, &patient_definition()).await;
    let role = json!({"name": "his_push", "permissions": [
        {"entity": "patient", "actions": ["create"], "fields": {"phone": "masked", "dept": "hidden"}}]});
    let his = token_of(&server, &admin, &role).await;
    let id_no = id_number("110105", "19800101", 3);
    let response = his
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "赵六", "id_number": id_no, "phone": "13900001111", "mrn": "H1", "dept": "cardiology"}}),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "a create-only token's create is a 201"
    );
    let body = json_of(response).await;
    assert_eq!(body["version"], 1);
    assert!(body["id"].is_string() && body["created_at"].is_string());
    let data = body["data"].as_object().unwrap();
    assert_eq!(data["name"], "赵六");
    assert_eq!(data["mrn"], "H1");
    assert_ne!(data["id_number"], id_no.as_str(), "sensitive: masked");
    assert!(data["id_number"].as_str().unwrap().contains('*'));
    assert_ne!(data["phone"], "13900001111", "masked by the role");
    assert!(data.get("dept").is_none(), "hidden by the role");
    assert!(
        data.get("total_spent").is_none() && data.get("patient_no").is_none(),
        "what the caller did not send it does not see: {body}"
    );
    assert_eq!(count_patients(&admin).await, 1, "written once");

    // Reading stays refused.
    let id = body["id"].as_str().unwrap();
    let read = his.get(&format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(read.status(), 403);

    // An update-only token's PATCH answers 200 with what it wrote.
    let role = json!({"name": "his_update", "permissions": [
        {"entity": "patient", "actions": ["update"]}]});
    let updater = token_of(&server, &admin, &role).await;
    let response = updater
        .patch(
            &format!("/api/v1/records/patient/{id}"),
            Some(1),
            &json!({"data": {"total_spent": 99}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["version"], 2);
    assert_eq!(body["data"], json!({"total_spent": 99}));
    server.stop().await;
}
on_both_backends!(create_only_tokens_get_their_201, create_only_tokens);

fn follow_up_definition() -> Value {
    json!({"name": "follow_up", "label": {"zh": "随访", "en": "Follow-up"}, "fields": [
        {"name": "code", "type": "text", "unique": true},
        {"name": "status", "type": "select", "options": [{"value": "open"}, {"value": "done"}], "default": "open"},
        {"name": "result", "type": "text", "label": {"zh": "随访结果", "en": "Result"}, "required": true,
         "visible_if": {"field": "status", "op": "eq", "value": "done"}},
        {"name": "locked", "type": "boolean"},
        {"name": "amount", "type": "money", "label": {"zh": "金额", "en": "Amount"},
         "readonly_if": {"field": "locked", "op": "eq", "value": true}}
    ]})
}

async fn refused_field(response: kangdao_tests::server::Answer, field: &str, code: &str) {
    assert_eq!(response.status(), 422);
    let body = json_of(response).await;
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["field"] == field && d["code"] == code),
        "{body}"
    );
}

async fn field_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define(&admin, &follow_up_definition()).await;
    let records = "/api/v1/records/follow_up";

    // A field hidden by `visible_if` is not required; shown, it is.
    let open = admin
        .post(records, &json!({"data": {"code": "F1", "status": "open"}}))
        .await;
    assert_eq!(open.status(), 201);
    let open = json_of(open).await;
    let done = admin
        .post(records, &json!({"data": {"code": "F2", "status": "done"}}))
        .await;
    refused_field(done, "result", "required").await;
    let path = format!("{records}/{}", open["id"].as_str().unwrap());
    let closing = admin
        .patch(&path, Some(1), &json!({"data": {"status": "done"}}))
        .await;
    refused_field(closing, "result", "required").await;

    // `readonly_if` on create is judged on the record being created.
    let locked = admin
        .post(
            records,
            &json!({"data": {"code": "F3", "locked": true, "amount": 5}}),
        )
        .await;
    refused_field(locked, "amount", "read_only").await;

    // On update it is judged on the stored record.
    let r = json_of(
        admin
            .post(
                records,
                &json!({"data": {"code": "F4", "locked": false, "amount": 5}}),
            )
            .await,
    )
    .await;
    let path = format!("{records}/{}", r["id"].as_str().unwrap());
    let lock = admin
        .patch(&path, Some(1), &json!({"data": {"locked": true}}))
        .await;
    assert_eq!(lock.status(), 200);
    let change = admin
        .patch(&path, Some(2), &json!({"data": {"amount": 6}}))
        .await;
    refused_field(change, "amount", "read_only").await;
    let unlock_and_change = admin
        .patch(
            &path,
            Some(2),
            &json!({"data": {"locked": false, "amount": 6}}),
        )
        .await;
    refused_field(unlock_and_change, "amount", "read_only").await;
    let cleared = admin
        .patch(&path, Some(2), &json!({"data": {"amount": null}}))
        .await;
    refused_field(cleared, "amount", "read_only").await;
    let same = admin
        .patch(
            &path,
            Some(2),
            &json!({"data": {"amount": 5.0, "code": "F4"}}),
        )
        .await;
    assert_eq!(same.status(), 200, "sending back what was read is fine");

    // The rules bind the upsert and the import too.
    let upsert = admin
        .put(
            &format!("{records}/by/code/F4"),
            &json!({"data": {"amount": 7}}),
        )
        .await;
    refused_field(upsert, "amount", "read_only").await;
    let import = admin
        .request(reqwest::Method::POST, &format!("{records}/import"))
        .header("content-type", "text/csv")
        .body("code,locked,amount\nF9,true,3\n")
        .send()
        .await
        .unwrap();
    assert_eq!(import.status(), 422);
    let body = json_of(import).await;
    assert!(body.to_string().contains("read_only"), "{body}");
    let stored = json_of(admin.get(&path).await).await;
    assert_eq!(stored["data"]["amount"], 5);
    assert_eq!(stored["version"], 2);
    server.stop().await;
}
on_both_backends!(visible_if_and_readonly_if_bind_every_writer, field_rules);

async fn sensitive_formulas(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let def = json!({"name": "person", "fields": [
        {"name": "id_number", "type": "id_card", "label": {"zh": "身份证号", "en": "ID number"}},
        {"name": "id_copy", "type": "formula", "expr": "record.id_number", "result": "text"}
    ]});
    let response = admin.post("/api/v1/entities", &def).await;
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "bad_request");
    let detail = &body["error"]["details"][0];
    assert_eq!(detail["field"], "fields.1.expr");
    assert_eq!(detail["code"], "sensitive_in_formula");
    let message = detail["message"].as_str().unwrap();
    assert!(
        message.contains("id_copy") && message.contains("id_number"),
        "{message}"
    );
    assert!(message.starts_with("公式字段"), "Chinese first: {message}");
    server.stop().await;
}
on_both_backends!(a_formula_may_not_read_a_sensitive_field, sensitive_formulas);
