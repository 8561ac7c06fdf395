//! Entity definitions over HTTP: a GET → edit → PUT round trip, versions as preconditions,
//! concurrent changes, and several definitions applied as one batch with a dry run.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{id_number, json_of, patient_definition, Answer, Session, TestServer};
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
    // Only the core pack's entities, there from the first start.
    let listed = json_of(admin.get("/api/v1/entities").await).await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["consent", "message", "task"]);
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

on_both_backends!(
    a_check_answers_what_saving_would,
    a_check_answers_what_saving_would
);
on_both_backends!(
    a_check_reports_every_problem_at_once_as_saving_does,
    a_check_reports_every_problem_at_once_as_saving_does
);
on_both_backends!(
    a_check_needs_the_right_saving_needs,
    a_check_needs_the_right_saving_needs
);
on_both_backends!(
    versions_list_newest_first_with_what_changed,
    versions_list_newest_first_with_what_changed
);
on_both_backends!(
    versions_answer_designers_only_and_hold_no_record_data,
    versions_answer_designers_only_and_hold_no_record_data
);
on_both_backends!(
    layout_tabs_are_kept_and_checked,
    layout_tabs_are_kept_and_checked
);

/// What a definition check must leave alone: every definition table, the audit log, the
/// tables and columns of the database, and the records' history.
async fn definition_fingerprint(server: &TestServer) -> Vec<String> {
    use kangdao_engine::store::{Db, DbOptions};
    let db = Db::connect(&DbOptions {
        url: server.db.url.clone(),
        max_connections: 1,
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT name || ':' || CAST(version AS TEXT) || ':' || CAST(definition AS TEXT) AS v FROM entities ORDER BY name",
        "SELECT entity || ':' || CAST(version AS TEXT) || ':' || CAST(definition AS TEXT) AS v FROM entity_versions ORDER BY entity, version",
        "SELECT entity || ':' || field || ':' || COALESCE(unique_index, '') || ':' || COALESCE(plain_index, '') AS v FROM entity_fields ORDER BY entity, field",
        "SELECT CAST(COUNT(*) AS TEXT) AS v FROM audit_log",
        "SELECT CAST(COUNT(*) AS TEXT) AS v FROM record_changes",
    ] {
        for row in db.fetch_all(sql, vec![]).await.unwrap() {
            out.push(row.req_text("v").unwrap());
        }
    }
    let schema = match server.db.backend {
        Backend::Sqlite => {
            "SELECT type || ':' || name || ':' || COALESCE(sql, '') AS v FROM sqlite_master ORDER BY type, name"
        }
        Backend::Postgres => {
            "SELECT table_name::text || ':' || column_name::text AS v FROM information_schema.columns \
             WHERE table_schema = current_schema() ORDER BY 1"
        }
    };
    for row in db.fetch_all(schema, vec![]).await.unwrap() {
        out.push(row.req_text("v").unwrap());
    }
    if server.db.backend == Backend::Postgres {
        let indexes = "SELECT indexname::text AS v FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1";
        for row in db.fetch_all(indexes, vec![]).await.unwrap() {
            out.push(row.req_text("v").unwrap());
        }
    }
    out
}

fn in_english(session: &Session) -> Session {
    let mut english = session.clone();
    english.lang = "en";
    english
}

async fn a_check_answers_what_saving_would(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let before = definition_fingerprint(&server).await;
    // A new entity: it would be version 1, with every field added, compiled to JSON Schema.
    let response = admin
        .post("/api/v1/entity-checks", &patient_definition())
        .await;
    assert_eq!(response.status(), 200);
    let check = json_of(response).await;
    assert_eq!(check["ok"], true);
    assert_eq!(check["change"], "created");
    assert_eq!(check["version"], 1);
    assert_eq!(check["fields_added"][0], "name");
    assert_eq!(check["unique_added"], json!(["id_number", "mrn"]));
    assert_eq!(
        check["schema"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(check["schema"]["properties"]["name"]["maxLength"], 50);
    assert_eq!(
        definition_fingerprint(&server).await,
        before,
        "a check writes nothing"
    );
    assert_eq!(admin.get("/api/v1/entities/patient").await.status(), 404);

    define_patient(&admin).await;
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "张三"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    // What GET answered, unchanged.
    let check = json_of(admin.post("/api/v1/entity-checks", &read).await).await;
    assert_eq!(check["change"], "unchanged");
    assert_eq!(check["version"], 1);
    // A change: a new indexed field and a new unique one, on a table holding a record.
    let edited = add_field(
        &add_field(
            &read,
            json!({"name": "nickname", "type": "text", "indexed": true}),
        ),
        json!({"name": "card_no", "type": "text", "unique": true}),
    );
    let before = definition_fingerprint(&server).await;
    let response = admin
        .post("/api/v1/entity-checks?intent=update", &edited)
        .await;
    assert_eq!(response.status(), 200);
    let check = json_of(response).await;
    assert_eq!(check["change"], "changed");
    assert_eq!(check["version"], 2);
    assert_eq!(check["fields_added"], json!(["nickname", "card_no"]));
    assert_eq!(check["indexes_added"], json!(["nickname"]));
    assert_eq!(check["unique_added"], json!(["card_no"]));
    assert!(check["schema"]["properties"]["nickname"].is_object());
    assert_eq!(
        definition_fingerprint(&server).await,
        before,
        "no DDL, no version"
    );
    assert_eq!(
        json_of(admin.get("/api/v1/entities/patient").await).await["version"],
        1
    );

    // The answers saving would give: a stale version, an entity that exists or does not.
    let mut stale = edited.clone();
    stale["version"] = json!(7);
    let response = admin.post("/api/v1/entity-checks", &stale).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "version_conflict");
    let response = admin
        .post("/api/v1/entity-checks?intent=create", &edited)
        .await;
    assert_eq!(response.status(), 409);
    let ghost = json!({"name": "ghost", "fields": [{"name": "a", "type": "text"}]});
    let response = admin
        .post("/api/v1/entity-checks?intent=update", &ghost)
        .await;
    assert_eq!(response.status(), 404);
    let response = admin
        .post("/api/v1/entity-checks?intent=replace", &ghost)
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["field"],
        "intent"
    );
    // Not a definition at all.
    let response = admin
        .post("/api/v1/entity-checks", &json!({"name": "x", "feilds": []}))
        .await;
    assert_eq!(response.status(), 400);
    server.stop().await;
}

/// A definition with five problems: a formula that does not compile, a `visible_if` naming
/// no field, a layout naming no field, a field name used twice, and a formula reading a
/// sensitive field (its plaintext result would be stored).
fn broken_definition() -> Value {
    json!({"name": "patient", "fields": [
        {"name": "name", "type": "text"},
        {"name": "id_number", "type": "id_card", "sensitive": true},
        {"name": "bmi", "type": "formula", "expr": "record.weight +* 2"},
        {"name": "note", "type": "text", "visible_if": {"field": "ghost", "op": "eq", "value": 1}},
        {"name": "name", "type": "text"},
        {"name": "birth_year", "type": "formula", "result": "text", "expr": "record.id_number"}
    ], "layout": [{"section": {"zh": "基本"}, "fields": ["name", "nowhere"]}]})
}

fn detail_codes(body: &Value) -> Vec<(String, String)> {
    let mut codes: Vec<(String, String)> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().to_string(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    codes.sort();
    codes
}

async fn a_check_reports_every_problem_at_once_as_saving_does(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let before = definition_fingerprint(&server).await;
    let expected: Vec<(String, String)> = [
        ("fields.2.expr", "invalid_formula"),
        ("fields.3.visible_if", "invalid_rule"),
        ("fields.4.name", "duplicate_field"),
        ("fields.5.expr", "sensitive_in_formula"),
        ("layout.0.fields", "unknown_field"),
    ]
    .iter()
    .map(|(f, c)| (f.to_string(), c.to_string()))
    .collect();
    let response = admin
        .post("/api/v1/entity-checks", &broken_definition())
        .await;
    assert_eq!(response.status(), 400);
    let zh = json_of(response).await;
    assert_eq!(zh["error"]["code"], "bad_request");
    assert_eq!(detail_codes(&zh), expected, "{zh}");
    assert!(
        zh["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 处错误"),
        "{zh}"
    );
    let english = in_english(&admin);
    let en = json_of(
        english
            .post("/api/v1/entity-checks", &broken_definition())
            .await,
    )
    .await;
    assert_eq!(detail_codes(&en), expected);
    assert!(
        en["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 problems"),
        "{en}"
    );
    let message_of = |body: &Value, field: &str| -> String {
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["field"] == field)
            .and_then(|d| d["message"].as_str())
            .unwrap()
            .to_string()
    };
    assert!(message_of(&zh, "fields.5.expr").contains("不能读取敏感字段"));
    assert!(message_of(&en, "fields.5.expr").contains("may not read the sensitive field"));
    assert!(message_of(&zh, "fields.3.visible_if").contains("不存在的字段 ghost"));
    assert!(message_of(&en, "fields.3.visible_if").contains("unknown field ghost"));

    // Saving it answers the very same problems, and saves nothing.
    let saved = json_of(english.post("/api/v1/entities", &broken_definition()).await).await;
    assert_eq!(saved["error"], en["error"]);
    assert_eq!(definition_fingerprint(&server).await, before);

    // On an existing entity, a change saving refuses (a field's storage type) comes with the
    // definition's other problems.
    define_patient(&admin).await;
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    let mut changed = read.clone();
    changed["fields"][0]["type"] = json!("integer");
    changed["fields"][0]
        .as_object_mut()
        .unwrap()
        .remove("max_length");
    changed["layout"][0]["fields"] = json!(["name", "nowhere"]);
    let response = english.post("/api/v1/entity-checks", &changed).await;
    assert_eq!(response.status(), 400);
    let check = json_of(response).await;
    assert_eq!(
        detail_codes(&check),
        vec![
            (
                "fields.0.type".to_string(),
                "incompatible_change".to_string()
            ),
            ("layout.0.fields".to_string(), "unknown_field".to_string()),
        ]
    );
    let saved = json_of(english.put("/api/v1/entities/patient", &changed).await).await;
    assert_eq!(saved["error"], check["error"]);
    server.stop().await;
}

async fn a_check_needs_the_right_saving_needs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let roles = [
        json!({"name": "reader", "permissions": [{"entity": "patient", "actions": ["read", "update"]}]}),
        json!({"name": "designer", "permissions": [{"entity": "patient", "actions": ["design"]}]}),
        json!({"name": "builder", "permissions": [], "rights": ["new_entity"]}),
    ];
    for role in &roles {
        assert_eq!(admin.post("/api/v1/roles", role).await.status(), 201);
        let name = role["name"].as_str().unwrap();
        let user =
            json!({"username": name, "password": format!("{name}-password-1"), "roles": [name]});
        assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    }
    let reader = server.login("reader", "reader-password-1").await;
    let designer = server.login("designer", "designer-password-1").await;
    let builder = server.login("builder", "builder-password-1").await;
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    let edited = add_field(&read, json!({"name": "nickname", "type": "text"}));
    let ward = json!({"name": "ward", "fields": [{"name": "name", "type": "text"}]});

    // A change needs `design` on the entity; a new entity needs `new_entity`.
    let response = reader.post("/api/v1/entity-checks", &edited).await;
    assert_eq!(response.status(), 403);
    assert_eq!(json_of(response).await["error"]["code"], "forbidden");
    assert_eq!(
        reader.post("/api/v1/entity-checks", &ward).await.status(),
        403
    );
    assert_eq!(
        designer
            .post("/api/v1/entity-checks", &edited)
            .await
            .status(),
        200
    );
    assert_eq!(
        designer.post("/api/v1/entity-checks", &ward).await.status(),
        403
    );
    assert_eq!(
        builder.post("/api/v1/entity-checks", &ward).await.status(),
        200
    );
    assert_eq!(
        builder
            .post("/api/v1/entity-checks", &edited)
            .await
            .status(),
        403
    );
    // Refused before its problems are looked at, as saving is: a definition that parses but
    // does not compile is still a 403 for the reader.
    let broken = add_field(&edited, json!({"name": "nickname", "type": "integer"}));
    let response = reader.post("/api/v1/entity-checks", &broken).await;
    assert_eq!(response.status(), 403);
    // Without signing in: 401.
    let response = server
        .anonymous()
        .post("/api/v1/entity-checks", &ward)
        .await;
    assert_eq!(response.status(), 401);
    server.stop().await;
}

async fn versions_list_newest_first_with_what_changed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let v1 = json_of(admin.get("/api/v1/entities/patient").await).await;
    let v2 = add_field(&v1, json!({"name": "nickname", "type": "text"}));
    assert_eq!(
        admin.put("/api/v1/entities/patient", &v2).await.status(),
        200
    );
    let mut v3 = json_of(admin.get("/api/v1/entities/patient").await).await;
    v3["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != "tier");
    v3["fields"][0]["label"] = json!({"zh": "患者姓名", "en": "Patient name"});
    v3["label"] = json!({"zh": "病人"});
    assert_eq!(
        admin.put("/api/v1/entities/patient", &v3).await.status(),
        200
    );
    let me = json_of(admin.get("/api/v1/me").await).await;
    let my_id = me["user"]["id"].as_str().unwrap().to_string();

    let response = admin.get("/api/v1/entities/patient/versions").await;
    assert_eq!(response.status(), 200);
    let page = json_of(response).await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["page"], 1);
    assert_eq!(page["per_page"], 50);
    let items = page["items"].as_array().unwrap();
    let versions: Vec<i64> = items
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(items[0]["saved_by"], my_id.as_str());
    assert!(items[0]["saved_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        items[0]["summary"],
        json!({"fields_added": [], "fields_removed": ["tier"], "fields_changed": ["name"], "other_changed": true})
    );
    assert_eq!(
        items[1]["summary"],
        json!({"fields_added": ["nickname"], "fields_removed": [], "fields_changed": [], "other_changed": false})
    );
    assert_eq!(items[2]["summary"]["fields_added"][0], "name");
    assert_eq!(items[2]["summary"]["fields_removed"], json!([]));

    // Paged: the last item of a page is still summarized against the version before it.
    let first = json_of(
        admin
            .get("/api/v1/entities/patient/versions?page=1&per_page=2")
            .await,
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][1]["summary"], items[1]["summary"]);
    let second = json_of(
        admin
            .get("/api/v1/entities/patient/versions?page=2&per_page=2")
            .await,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["version"], 1);
    assert_eq!(second["total"], 3);
    let response = admin
        .get("/api/v1/entities/patient/versions?per_page=5000")
        .await;
    assert_eq!(response.status(), 400);

    // One version's definition, as it was, ready to be saved again.
    let response = admin.get("/api/v1/entities/patient/versions/1").await;
    assert_eq!(response.status(), 200);
    let old = json_of(response).await;
    assert_eq!(old["version"], 1);
    assert_eq!(old["saved_by"], my_id.as_str());
    let mut expected = v1.clone();
    expected.as_object_mut().unwrap().remove("version");
    assert_eq!(old["definition"], expected);
    assert!(old["definition"].get("version").is_none());
    // Restoring it is a PUT of that definition with the current version as the precondition.
    let response = put_if(
        &admin,
        "/api/v1/entities/patient",
        Some(3),
        &old["definition"],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["version"], 4);
    let latest = json_of(
        admin
            .get("/api/v1/entities/patient/versions?per_page=1")
            .await,
    )
    .await;
    assert_eq!(
        latest["items"][0]["summary"]["fields_added"],
        json!(["tier"])
    );
    assert_eq!(
        latest["items"][0]["summary"]["fields_removed"],
        json!(["nickname"])
    );

    for missing in [
        "/api/v1/entities/patient/versions/9",
        "/api/v1/entities/patient/versions/0",
        "/api/v1/entities/patient/versions/abc",
        "/api/v1/entities/ghost/versions",
        "/api/v1/entities/ghost/versions/1",
    ] {
        let response = admin.get(missing).await;
        assert_eq!(response.status(), 404, "{missing}");
        assert_eq!(json_of(response).await["error"]["code"], "not_found");
    }
    server.stop().await;
}

async fn versions_answer_designers_only_and_hold_no_record_data(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let id_no = id_number("110105", "19800101", 7);
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "张秘密", "id_number": id_no, "mrn": "M4242"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let roles = [
        // Reads patients, with the name hidden and the MRN masked; may not design.
        json!({"name": "reader", "permissions": [{"entity": "patient", "actions": ["read"],
               "fields": {"name": "hidden", "mrn": "masked"}}]}),
        // Designs patients, with the same field rules.
        json!({"name": "designer", "permissions": [{"entity": "patient", "actions": ["design", "read"],
               "fields": {"name": "hidden", "mrn": "masked"}}]}),
        json!({"name": "stranger", "permissions": []}),
    ];
    for role in &roles {
        assert_eq!(admin.post("/api/v1/roles", role).await.status(), 201);
        let name = role["name"].as_str().unwrap();
        let user =
            json!({"username": name, "password": format!("{name}-password-1"), "roles": [name]});
        assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    }
    let reader = server.login("reader", "reader-password-1").await;
    let designer = server.login("designer", "designer-password-1").await;
    let stranger = server.login("stranger", "stranger-password-1").await;
    for path in [
        "/api/v1/entities/patient/versions",
        "/api/v1/entities/patient/versions/1",
    ] {
        let response = reader.get(path).await;
        assert_eq!(response.status(), 403, "{path}");
        assert_eq!(json_of(response).await["error"]["code"], "forbidden");
        let response = stranger.get(path).await;
        assert_eq!(response.status(), 404, "{path}: an entity it cannot see");
        let response = designer.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        // A definition is schema: the fields are described, no record's values are in it —
        // not the hidden name, not the masked MRN, not the ID number, plain or masked.
        let text = response.text().await.unwrap();
        for value in ["张秘密", "M4242", id_no.as_str(), "M***", &id_no[..6]] {
            assert!(!text.contains(value), "{path} holds {value}: {text}");
        }
        assert!(text.contains("id_number"), "{path} describes the fields");
    }
    server.stop().await;
}

async fn layout_tabs_are_kept_and_checked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut tabbed = patient_definition();
    tabbed["layout"] = json!([
        {"section": {"zh": "基本信息", "en": "Basics"}, "tab": {"zh": "概况", "en": "Overview"},
         "columns": 2, "fields": ["name", "dept"]},
        {"section": {"zh": "证件", "en": "Documents"}, "tab": {"zh": "证件与联系", "en": "Contact"},
         "columns": 1, "fields": ["id_number", "phone"]},
        {"section": {"zh": "会员", "en": "Membership"}, "tab": {"zh": "概况", "en": "Overview"},
         "columns": 1, "fields": ["tier"]},
        {"section": {"zh": "其他", "en": "Other"}, "columns": 1, "fields": ["mrn"]}
    ]);
    let response = admin.post("/api/v1/entity-checks", &tabbed).await;
    assert_eq!(response.status(), 200);
    let response = admin.post("/api/v1/entities", &tabbed).await;
    assert_eq!(response.status(), 201);
    let read = json_of(admin.get("/api/v1/entities/patient").await).await;
    assert_eq!(read["layout"], tabbed["layout"]);
    assert!(read["layout"][3].get("tab").is_none());
    // Saved back as read: unchanged.
    let again = json_of(admin.put("/api/v1/entities/patient", &read).await).await;
    assert_eq!(again["version"], 1);
    // A tab label without text, and one tab labelled two ways.
    let mut bad = read.clone();
    bad["layout"][1]["tab"] = json!({"zh": ""});
    bad["layout"][2]["tab"] = json!({"zh": "概况", "en": "Summary"});
    let english = in_english(&admin);
    let response = english.post("/api/v1/entity-checks", &bad).await;
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(
        detail_codes(&body),
        vec![
            ("layout.1.tab".to_string(), "empty_tab".to_string()),
            ("layout.2.tab".to_string(), "inconsistent_tab".to_string()),
        ]
    );
    let response = english.put("/api/v1/entities/patient", &bad).await;
    assert_eq!(response.status(), 400);
    // Not a label at all.
    bad["layout"][1]["tab"] = json!("概况");
    assert_eq!(
        english.post("/api/v1/entity-checks", &bad).await.status(),
        400
    );
    server.stop().await;
}
