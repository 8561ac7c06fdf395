//! The core pack over HTTP: task, message and consent exist from the first start, cannot be
//! deleted and keep their fields; a task's `subject` links it to a record of any entity,
//! filters by it and shows in that record's 360° view — on SQLite and PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, url_encoded, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};

on_both_backends!(
    core_entities_from_the_first_start,
    core_entities_from_the_first_start
);
on_both_backends!(tasks_about_a_patient, tasks_about_a_patient);
on_both_backends!(core_entities_are_protected, core_entities_are_protected);

async fn create(admin: &Session, entity: &str, data: Value) -> Value {
    let response = admin
        .post(
            &format!("/api/v1/records/{entity}"),
            &json!({ "data": data }),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.value());
    json_of(response).await
}

async fn task_titles(admin: &Session, filter: Value) -> Vec<String> {
    let response = admin
        .get(&format!(
            "/api/v1/records/task?sort=title&filter={}",
            url_encoded(&filter.to_string())
        ))
        .await;
    assert_eq!(response.status(), 200, "{filter}: {:?}", response.value());
    json_of(response).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["data"]["title"].as_str().unwrap().to_string())
        .collect()
}

async fn core_entities_from_the_first_start(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let listed = json_of(admin.get("/api/v1/entities").await).await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["consent", "message", "task"]);
    // The compiled schema describes a subject as an entity and an id.
    let schema = json_of(admin.get("/api/v1/entities/task/schema").await).await;
    let subject = &schema["properties"]["subject"];
    assert_eq!(subject["type"], "object");
    assert_eq!(subject["required"], json!(["entity", "id"]));
    assert_eq!(subject["properties"]["id"]["format"], "uuid");
    assert_eq!(subject["title"], "Subject");
    // A second server on the same database starts and installs nothing again.
    let twin = server.twin().await;
    let again = json_of(admin.get("/api/v1/entities/task").await).await;
    assert_eq!(again["version"], 1);
    twin.stop().await;
    server.stop().await;
}

async fn tasks_about_a_patient(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    let zhang = create(&admin, "patient", json!({"name": "张三"})).await;
    let li = create(&admin, "patient", json!({"name": "李四"})).await;
    let zhang_link = json!({"entity": "patient", "id": zhang["id"]});
    let li_link = json!({"entity": "patient", "id": li["id"]});
    let task = create(
        &admin,
        "task",
        json!({"title": "电话随访张三", "assignee_role": "nurse", "subject": zhang_link, "due_at": "2026-11-26T09:00:00+08:00"}),
    )
    .await;
    assert_eq!(task["data"]["subject"], zhang_link);
    assert_eq!(task["data"]["status"], "open");
    create(
        &admin,
        "task",
        json!({"title": "回访李四", "assignee_role": "nurse", "subject": li_link}),
    )
    .await;
    create(
        &admin,
        "task",
        json!({"title": "整理病历", "assignee_role": "nurse"}),
    )
    .await;

    // A subject pointing at nothing, or at a deleted record: 422 naming the field.
    let missing = json!({"entity": "patient", "id": "0193a6f2-7c1e-7b3a-9f0e-4d2c8a1b5e60"});
    let response = admin
        .post(
            "/api/v1/records/task",
            &json!({"data": {"title": "x", "subject": missing}}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["details"][0]["field"], "subject");
    assert_eq!(body["error"]["details"][0]["code"], "reference_not_found");
    let gone = create(&admin, "patient", json!({"name": "王五"})).await;
    let path = format!("/api/v1/records/patient/{}", gone["id"].as_str().unwrap());
    assert_eq!(admin.delete(&path, Some(1)).await.status(), 204);
    let response = admin
        .post(
            "/api/v1/records/task",
            &json!({"data": {"title": "x", "subject": {"entity": "patient", "id": gone["id"]}}}),
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["field"],
        "subject"
    );

    // Filters on the subject.
    assert_eq!(
        task_titles(
            &admin,
            json!({"field": "subject", "op": "eq", "value": zhang_link})
        )
        .await,
        ["电话随访张三"]
    );
    assert_eq!(
        task_titles(
            &admin,
            json!({"field": "subject", "op": "in", "value": [zhang_link, li_link]})
        )
        .await,
        ["电话随访张三", "回访李四"],
        "sorted by pinyin: dianhua before huifang"
    );
    assert_eq!(
        task_titles(&admin, json!({"field": "subject", "op": "is_empty"})).await,
        ["整理病历"]
    );
    // Patients with an open task about them.
    let exists = json!({"exists": {"entity": "task", "ref": "subject",
        "filters": {"field": "title", "op": "starts_with", "value": "电话"}}});
    let response = admin
        .get(&format!(
            "/api/v1/records/patient?filter={}",
            url_encoded(&exists.to_string())
        ))
        .await;
    assert_eq!(response.status(), 200);
    let patients = json_of(response).await;
    assert_eq!(patients["total"], 1);
    assert_eq!(patients["items"][0]["id"], zhang["id"]);

    // The patient's 360° view lists the task about them.
    let view = json_of(
        admin
            .get(&format!(
                "/api/v1/records/patient/{}/view360",
                zhang["id"].as_str().unwrap()
            ))
            .await,
    )
    .await;
    let groups = view["related"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["entity"], "task");
    assert_eq!(groups[0]["field"], "subject");
    assert_eq!(groups[0]["total"], 1);
    assert_eq!(groups[0]["items"][0]["id"], task["id"]);
    server.stop().await;
}

async fn core_entities_are_protected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let response = admin.delete("/api/v1/entities/task", None).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "conflict");

    let consent = json_of(admin.get("/api/v1/entities/consent").await).await;
    // Changing a core field: its type.
    let mut changed = consent.clone();
    changed["fields"][4]["type"] = json!("date");
    let response = admin.put("/api/v1/entities/consent", &changed).await;
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "bad_request");
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["code"] == "core_field" && d["field"] == "fields.4"),
        "{details:?}"
    );
    // Removing one.
    let mut removed = consent.clone();
    removed["fields"].as_array_mut().unwrap().remove(2);
    let response = admin.put("/api/v1/entities/consent", &removed).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["code"],
        "core_field"
    );
    // The definition check says the same, saving nothing.
    let response = admin.post("/api/v1/entity-checks", &removed).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["code"],
        "core_field"
    );
    // Adding a field is fine.
    let mut grown = consent.clone();
    grown["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "witness", "type": "text", "label": {"zh": "见证人"}}));
    let response = admin.put("/api/v1/entities/consent", &grown).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["version"], 2);
    server.stop().await;
}
