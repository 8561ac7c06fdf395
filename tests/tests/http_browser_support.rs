//! What the browser app needs beyond records themselves: saved list views private to their
//! user, the import wizard's preview and column report, and the server's time zone; on SQLite
//! and on PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{
    json_of, patient_definition, url_encoded, Answer, Session, TestServer,
};
use kangdao_tests::Backend;
use serde_json::{json, Value};

async fn status_and_body(response: Answer) -> (u16, Value) {
    let status = response.status().as_u16();
    if status == 204 {
        return (status, Value::Null);
    }
    (status, json_of(response).await)
}

async fn add_user(admin: &Session, username: &str, role: Value) {
    let (status, body) = status_and_body(admin.post("/api/v1/roles", &role).await).await;
    assert_eq!(status, 201, "{body}");
    let user =
        json!({"username": username, "password": "staff-password-1", "roles": [role["name"]]});
    let (status, body) = status_and_body(admin.post("/api/v1/users", &user).await).await;
    assert_eq!(status, 201, "{body}");
}

async fn server_with_patients(backend: Backend) -> (TestServer, Session) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (status, body) =
        status_and_body(admin.post("/api/v1/entities", &patient_definition()).await).await;
    assert_eq!(status, 201, "{body}");
    (server, admin)
}

fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect()
}

async fn views_are_private_named_and_bounded(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    add_user(
        &admin,
        "nurse_li",
        json!({"name": "nurse", "permissions": [{"entity": "patient", "actions": ["read"]}]}),
    )
    .await;
    add_user(
        &admin,
        "porter_wu",
        json!({"name": "porter", "permissions": []}),
    )
    .await;
    let nurse = server.login("nurse_li", "staff-password-1").await;
    let porter = server.login("porter_wu", "staff-password-1").await;

    let state = json!({"q": "张", "sort": "-created_at", "filter": {"field": "dept", "op": "eq", "value": "cardiology"}, "columns": ["name", "dept"]});
    let (status, mine) = status_and_body(
        nurse
            .post(
                "/api/v1/list-views",
                &json!({"entity": "patient", "name": " 心内科 ", "state": state}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201, "{mine}");
    assert_eq!(mine["name"], "心内科", "the name is trimmed");
    assert_eq!(mine["state"], state, "the state comes back as sent");
    let id = mine["id"].as_str().expect("id").to_string();
    let (status, _) = status_and_body(
        nurse
            .post(
                "/api/v1/list-views",
                &json!({"entity": "patient", "name": "骨科", "state": {}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201);

    let (status, body) = status_and_body(
        nurse
            .post(
                "/api/v1/list-views",
                &json!({"entity": "patient", "name": "心内科", "state": {}}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    let listed = json_of(nurse.get("/api/v1/list-views?entity=patient").await).await;
    assert_eq!(names(&listed), ["心内科", "骨科"], "in the order saved");
    let admin_views = json_of(admin.get("/api/v1/list-views?entity=patient").await).await;
    assert_eq!(
        admin_views["items"],
        json!([]),
        "another user's views are not listed"
    );

    // Someone else's view is not theirs to change or delete: it does not exist for them.
    let path = format!("/api/v1/list-views/{id}");
    let (status, _) =
        status_and_body(admin.put(&path, &json!({"name": "x", "state": {}})).await).await;
    assert_eq!(status, 404);
    let (status, _) = status_and_body(admin.delete(&path, None).await).await;
    assert_eq!(status, 404);

    // Bad input is refused, naming the part, and loses nothing.
    for (body, field) in [
        (json!({"name": "", "state": {}}), "name"),
        (json!({"name": "x".repeat(51), "state": {}}), "name"),
        (json!({"name": "ok", "state": [1, 2]}), "state"),
        (
            json!({"name": "ok", "state": {"q": "字".repeat(3000)}}),
            "state",
        ),
    ] {
        let (status, answer) = status_and_body(nurse.put(&path, &body).await).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
    }
    let (status, body) = status_and_body(
        nurse
            .put(&path, &json!({"name": "骨科", "state": {}}))
            .await,
    )
    .await;
    assert_eq!(status, 409, "renaming onto another view's name: {body}");
    let kept = json_of(nurse.get("/api/v1/list-views?entity=patient").await).await;
    assert_eq!(kept["items"][0]["state"], state, "nothing half-written");

    let (status, renamed) = status_and_body(
        nurse
            .put(
                &path,
                &json!({"name": "心内科（本周）", "state": {"sort": "name"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["state"], json!({"sort": "name"}));
    assert_eq!(renamed["created_at"], mine["created_at"]);

    // Views follow the entity's read right.
    let (status, _) = status_and_body(porter.get("/api/v1/list-views?entity=patient").await).await;
    assert_eq!(status, 403);
    let (status, _) = status_and_body(
        porter
            .post(
                "/api/v1/list-views",
                &json!({"entity": "patient", "name": "x", "state": {}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = status_and_body(nurse.get("/api/v1/list-views?entity=nothing").await).await;
    assert_eq!(status, 404);
    let (status, _) = status_and_body(nurse.get("/api/v1/list-views").await).await;
    assert_eq!(status, 400);

    let (status, _) = status_and_body(nurse.delete(&path, None).await).await;
    assert_eq!(status, 204);
    let left = json_of(nurse.get("/api/v1/list-views?entity=patient").await).await;
    assert_eq!(names(&left), ["骨科"]);
    server.stop().await;
}
on_both_backends!(list_views, views_are_private_named_and_bounded);

async fn import_csv(session: &Session, path: &str, csv: &str) -> (u16, Value) {
    status_and_body(
        session
            .request(reqwest::Method::POST, path)
            .header("content-type", "text/csv")
            .body(csv.to_string())
            .send()
            .await
            .expect("import"),
    )
    .await
}

async fn import_preview_proposes_only_fields_the_caller_may_fill(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    add_user(
        &admin,
        "reg_zhao",
        json!({"name": "registrar", "permissions": [{"entity": "patient",
            "actions": ["read", "create", "update"], "fields": {"total_spent": "hidden", "mrn": "read"}}]}),
    )
    .await;
    let registrar = server.login("reg_zhao", "staff-password-1").await;
    let csv = "姓名,手机号,total_spent,病案号,备注,Department,Name\n\
               张三,13800138000,100,M1,复诊,cardiology,x\n\
               李四,13900139000,200,M2,,orthopedics,y\n";

    let (status, preview) = import_csv(&admin, "/api/v1/records/patient/import-preview", csv).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["columns"],
        json!([
            {"column": "姓名", "field": "name"},
            {"column": "手机号", "field": "phone"},
            {"column": "total_spent", "field": "total_spent"},
            {"column": "病案号", "field": "mrn"},
            {"column": "备注", "field": null},
            {"column": "Department", "field": "dept"},
            // 姓名 took `name` already: a second column never proposes the same field.
            {"column": "Name", "field": null}
        ])
    );
    assert_eq!(preview["total_rows"], 2);
    assert_eq!(preview["sample"][1][0], "李四");
    assert_eq!(preview["sample"][1][4], "", "missing cells are empty");

    let (status, preview) =
        import_csv(&registrar, "/api/v1/records/patient/import-preview", csv).await;
    assert_eq!(status, 200, "{preview}");
    let proposed: Vec<&Value> = preview["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| &c["field"])
        .collect();
    assert_eq!(
        proposed,
        [
            &json!("name"),
            &json!("phone"),
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("dept"),
            &Value::Null
        ],
        "a hidden field and a read-only one are never proposed"
    );

    // The dry run reports the mapping it used, column by column.
    let mapping = json!({"total_spent": "", "病案号": "", "备注": "", "Name": ""}).to_string();
    let query = format!(
        "/api/v1/records/patient/import?dry_run=true&mapping={}",
        url_encoded(&mapping)
    );
    let (status, report) = import_csv(&registrar, &query, csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid_rows"], 2);
    assert_eq!(
        report["columns"][0],
        json!({"column": "姓名", "field": "name"})
    );
    assert_eq!(
        report["columns"][2],
        json!({"column": "total_spent", "field": null})
    );

    // Without the right to create, no preview: the file is not even read.
    add_user(
        &admin,
        "viewer_qian",
        json!({"name": "viewer", "permissions": [{"entity": "patient", "actions": ["read"]}]}),
    )
    .await;
    let viewer = server.login("viewer_qian", "staff-password-1").await;
    let (status, _) = import_csv(&viewer, "/api/v1/records/patient/import-preview", csv).await;
    assert_eq!(status, 403);
    let (status, body) = import_csv(
        &admin,
        "/api/v1/records/patient/import-preview",
        "a,\"b\n1,2\n",
    )
    .await;
    assert_eq!(status, 400, "an unreadable file is named: {body}");
    server.stop().await;
}
on_both_backends!(
    import_preview,
    import_preview_proposes_only_fields_the_caller_may_fill
);

async fn me_tells_the_server_time_zone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let me = json_of(admin.get("/api/v1/me").await).await;
    assert_eq!(me["timezone"], "Asia/Shanghai", "{me}");
    server.stop().await;
}
on_both_backends!(me_time_zone, me_tells_the_server_time_zone);
