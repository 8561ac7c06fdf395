//! The HTTP API as a new user meets it with curl, against a real server, on SQLite and on
//! PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{id_number, json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};

async fn define_patient(admin: &Session) {
    let response = admin.post("/api/v1/entities", &patient_definition()).await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

fn detail_fields(body: &Value) -> Vec<String> {
    let mut fields: Vec<String> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().unwrap_or_default().to_string())
        .collect();
    fields.sort();
    fields
}

fn patients_csv(rows: usize, bad_line: Option<usize>) -> String {
    let mut csv = String::from("name,id_number,phone,mrn,dept,total_spent\n");
    for i in 0..rows {
        let line = i + 2;
        let phone = if Some(line) == bad_line {
            "12345".to_string()
        } else {
            format!("139{:08}", i)
        };
        let birth = format!("19{:02}0{}1{}", 50 + i % 40, 1 + i % 9, i % 10);
        csv.push_str(&format!(
            "患者{i},{},{phone},M{i:05},cardiology,{}.5\n",
            id_number("110105", &birth, i as u32),
            i
        ));
    }
    csv
}

async fn import(admin: &Session, query: &str, csv: &str) -> Answer {
    admin
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/records/patient/import?{query}"),
        )
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("import")
}

async fn count_patients(admin: &Session) -> u64 {
    json_of(
        admin
            .get("/api/v1/records/patient?per_page=1&count=exact")
            .await,
    )
    .await["total"]
        .as_u64()
        .expect("total")
}

async fn walkthrough(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;

    // A valid record: version 1, an ETag, a readable number, the ID number masked.
    let id_no = id_number("110105", "19491231", 2);
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "张三", "id_number": id_no, "phone": "13812345678", "dept": "cardiology", "mrn": "M1"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let record = json_of(response).await;
    assert_eq!(record["version"], 1);
    assert_eq!(record["entity"], "patient");
    assert_eq!(record["data"]["tier"], "normal");
    assert!(record["data"]["patient_no"]
        .as_str()
        .unwrap()
        .starts_with("P20"));
    assert_eq!(
        record["data"]["id_number"],
        format!("110105********{}", &id_no[14..])
    );
    assert_eq!(record["data"]["phone"], "138****5678");
    let id = record["id"].as_str().unwrap().to_string();

    // A bad check digit, a bad phone and no name: one 422 naming all three, in either language.
    let bad = json!({"data": {"id_number": "110105194912310021", "phone": "12345"}});
    let body = json_of(admin.post("/api/v1/records/patient", &bad).await).await;
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(detail_fields(&body), ["id_number", "name", "phone"]);
    assert!(body["error"]["details"][0]["message"]
        .as_str()
        .unwrap()
        .chars()
        .any(|c| c > '\u{4e00}'));
    let mut english = server.admin().await;
    english.lang = "en";
    let body = json_of(english.post("/api/v1/records/patient", &bad).await).await;
    let messages: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains("Name")), "{messages:?}");

    // Optimistic concurrency: If-Match required, stale versions refused.
    let path = format!("/api/v1/records/patient/{id}");
    let response = admin
        .patch(&path, None, &json!({"data": {"tier": "VIP"}}))
        .await;
    assert_eq!(response.status(), 428);
    assert_eq!(
        json_of(response).await["error"]["code"],
        "precondition_required"
    );
    let response = admin
        .patch(&path, Some(1), &json!({"data": {"tier": "VIP"}}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let response = admin
        .patch(&path, Some(1), &json!({"data": {"tier": "normal"}}))
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(json_of(response).await["error"]["code"], "version_conflict");

    // The unmasked ID number only on request, and the request is audited.
    let plain = json_of(admin.get(&format!("{path}?unmask=id_number")).await).await;
    assert_eq!(plain["data"]["id_number"], id_no);
    let audit = json_of(admin.get("/api/v1/audit?action=record.unmask").await).await;
    assert_eq!(audit["total"], 1);

    // Lists answer items, total, page, per_page.
    let list = json_of(
        admin
            .get("/api/v1/records/patient?sort=-updated_at&q=%E5%BC%A0")
            .await,
    )
    .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["page"], 1);
    assert_eq!(list["per_page"], 50);
    assert_eq!(list["items"][0]["id"], id.as_str());

    // Import 1,000 rows with one bad row: the dry run names its line and writes nothing.
    let csv = patients_csv(1000, Some(502));
    let report = json_of(import(&admin, "dry_run=true", &csv).await).await;
    assert_eq!(report["total_rows"], 1000);
    assert_eq!(report["imported"], 0);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["line"], 502);
    assert_eq!(errors[0]["field"], "phone");
    assert_eq!(count_patients(&admin).await, 1);
    // All-or-nothing by default.
    let response = import(&admin, "", &csv).await;
    assert_eq!(response.status(), 422);
    let body = json_of(response).await;
    assert_eq!(body["error"]["details"][0]["line"], 502);
    assert_eq!(count_patients(&admin).await, 1);
    // Fixed file: every row in.
    let report = json_of(import(&admin, "dry_run=false", &patients_csv(1000, None)).await).await;
    assert_eq!(report["imported"], 1000);
    assert_eq!(count_patients(&admin).await, 1001);

    // Export back as CSV and XLSX.
    let response = admin.get("/api/v1/records/patient/export?format=csv").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 1002);
    assert!(text.contains("患者999"));
    let xlsx = admin
        .get("/api/v1/records/patient/export?format=xlsx")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(xlsx.starts_with(b"PK"));
    server.stop().await;
}
on_both_backends!(a_new_user_walks_through_the_api, walkthrough);

async fn csrf_and_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut admin = server.admin().await;
    define_patient(&admin).await;
    let me = json_of(admin.get("/api/v1/me").await).await;
    assert_eq!(me["csrf_token"].as_str(), admin.csrf.as_deref());
    assert_eq!(me["user"]["username"], "admin");

    let csrf = admin.csrf.take();
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "李四"}}),
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(json_of(response).await["error"]["code"], "csrf_failed");
    admin.csrf = Some("wrong".into());
    assert_eq!(
        admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": "李四"}})
            )
            .await
            .status(),
        403
    );
    admin.csrf = csrf;

    let anonymous = server.anonymous();
    let response = anonymous.get("/api/v1/records/patient").await;
    assert_eq!(response.status(), 401);
    assert_eq!(json_of(response).await["error"]["code"], "unauthenticated");

    // An integration's token: no cookie, no CSRF token.
    let created = json_of(admin.post("/api/v1/tokens", &json!({"name": "HIS"})).await).await;
    let token = created["token"].as_str().unwrap().to_string();
    let his = server.with_token(&token);
    let response = his
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "王五"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let listed = json_of(admin.get("/api/v1/tokens").await).await;
    assert!(!listed.to_string().contains(&token));
    let revoke = admin
        .delete(
            &format!("/api/v1/tokens/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    let response = his.get("/api/v1/records/patient").await;
    assert_eq!(response.status(), 401);

    // Log-out ends the session.
    assert_eq!(
        admin.post("/api/v1/auth/logout", &json!({})).await.status(),
        204
    );
    assert_eq!(admin.get("/api/v1/me").await.status(), 401);
    server.stop().await;
}
on_both_backends!(writes_need_csrf_or_a_token, csrf_and_tokens);

async fn one_error_format(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let malformed = admin
        .garbage(reqwest::Method::POST, "/api/v1/records/patient")
        .header("content-type", "application/json")
        .body("{\"data\": {")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(json_of(malformed).await["error"]["code"], "bad_request");
    let wrong_shape = admin
        .post("/api/v1/records/patient", &json!({"name": "x"}))
        .await;
    assert_eq!(wrong_shape.status(), 400);
    let huge = json!({"data": {"name": "x".repeat(2 * 1024 * 1024)}});
    let response = admin.post("/api/v1/records/patient", &huge).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "a 413 closes the connection whose body it left unread"
    );
    assert_eq!(
        json_of(response).await["error"]["code"],
        "payload_too_large"
    );
    let response = admin.get("/api/v1/no/such/route").await;
    assert_eq!(response.status(), 404);
    assert_eq!(json_of(response).await["error"]["code"], "not_found");
    let response = admin.get("/api/v1/records/visit").await;
    assert_eq!(response.status(), 404);
    let response = admin
        .get("/api/v1/records/patient?filter=%7B%22field%22%3A%22nope%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A1%7D")
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["code"], "bad_request");
    let response = admin.get("/api/v1/records/patient/not-a-uuid").await;
    assert_eq!(response.status(), 404);
    let response = admin
        .request(reqwest::Method::PUT, "/api/v1/records/patient")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(json_of(response).await["error"]["code"].is_string());
    let response = admin
        .post(
            "/api/v1/entities",
            &json!({"name": "Bad Name", "fields": []}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = admin.post("/api/v1/entities", &patient_definition()).await;
    assert_eq!(response.status(), 409);
    // Field rules are filters over the record: unknown fields and operators are refused.
    let ruled = |rule: Value| {
        json!({"name": "follow_up", "fields": [
            {"name": "status", "type": "select", "options": [{"value": "pending"}, {"value": "done"}]},
            {"name": "result", "type": "textarea", "visible_if": rule}]})
    };
    let response = admin
        .post(
            "/api/v1/entities",
            &ruled(json!({"field": "stauts", "op": "eq", "value": "done"})),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["field"],
        "fields.1.visible_if"
    );
    let response = admin
        .post(
            "/api/v1/entities",
            &ruled(json!({"field": "status", "op": "equals", "value": "done"})),
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = admin
        .post(
            "/api/v1/entities",
            &ruled(json!({"field": "status", "op": "eq", "value": "done"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    server.stop().await;
}
on_both_backends!(every_error_has_one_shape, one_error_format);

async fn upsert_and_unique(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let response = admin
        .put(
            "/api/v1/records/patient/by/mrn/M001",
            &json!({"data": {"name": "赵六"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let first = json_of(response).await;
    let response = admin
        .put(
            "/api/v1/records/patient/by/mrn/M001",
            &json!({"data": {"name": "赵六六"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let second = json_of(response).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["version"], 2);
    let response = admin
        .put(
            &format!(
                "/api/v1/records/patient/by/id_number/{}",
                id_number("110105", "19800101", 1)
            ),
            &json!({"data": {}}),
        )
        .await;
    assert_eq!(response.status(), 400);

    // A unique clash is a 409 naming the field; after a delete the value is free; restoring
    // the deleted record then clashes.
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "钱七", "mrn": "M001"}}),
        )
        .await;
    assert_eq!(response.status(), 409);
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "unique_violation");
    assert_eq!(body["error"]["details"][0]["field"], "mrn");
    let path = format!("/api/v1/records/patient/{}", first["id"].as_str().unwrap());
    assert_eq!(admin.delete(&path, None).await.status(), 428);
    assert_eq!(admin.delete(&path, Some(1)).await.status(), 409);
    assert_eq!(admin.delete(&path, Some(2)).await.status(), 204);
    assert_eq!(admin.get(&path).await.status(), 404);
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "钱七", "mrn": "M001"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = admin.post(&format!("{path}/restore"), &json!({})).await;
    assert_eq!(response.status(), 409);
    let body = json_of(response).await;
    assert_eq!(body["error"]["details"][0]["field"], "mrn");
    let history = json_of(admin.get(&format!("{path}/history")).await).await;
    let ops: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "update", "delete"]);
    server.stop().await;
}
on_both_backends!(upserts_and_unique_fields, upsert_and_unique);

async fn money_is_exact(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    for i in 0..10 {
        let response = admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": format!("患者{i}"), "total_spent": 0.1}}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let spec = json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "tier"}],
                      "measures": [{"agg": "count"}, {"agg": "sum", "field": "total_spent"}]});
    let result = json_of(admin.post("/api/v1/reports/query", &spec).await).await;
    assert_eq!(result["columns"][2]["name"], "sum_total_spent");
    assert_eq!(result["rows"][0][0], "normal");
    assert_eq!(result["rows"][0][1], 10);
    assert_eq!(result["rows"][0][2].as_f64(), Some(1.0));
    let response = admin
        .post(
            "/api/v1/records/patient",
            &json!({"data": {"name": "x", "total_spent": 19.999}}),
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["code"],
        "money_precision"
    );
    server.stop().await;
}
on_both_backends!(money_sums_are_exact, money_is_exact);

async fn related_records(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let visit = json!({"name": "visit", "fields": [
        {"name": "patient", "type": "reference", "entity": "patient", "required": true},
        {"name": "amount", "type": "money"},
        {"name": "diagnosis", "type": "text", "sensitive": true}]});
    assert_eq!(admin.post("/api/v1/entities", &visit).await.status(), 201);
    let patient = json_of(
        admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": "孙八"}}),
            )
            .await,
    )
    .await;
    let pid = patient["id"].as_str().unwrap();
    let response = admin
        .post(
            "/api/v1/records/visit",
            &json!({"data": {"patient": uuid::Uuid::now_v7().to_string(), "amount": 10}}),
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json_of(response).await["error"]["details"][0]["code"],
        "reference_not_found"
    );
    let response = admin
        .post(
            "/api/v1/records/visit",
            &json!({"data": {"patient": pid, "amount": 120.5, "diagnosis": "高血压"}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let view = json_of(
        admin
            .get(&format!("/api/v1/records/patient/{pid}/view360"))
            .await,
    )
    .await;
    assert_eq!(view["record"]["id"], pid);
    assert_eq!(view["related"][0]["entity"], "visit");
    assert_eq!(view["related"][0]["total"], 1);
    assert_eq!(view["related"][0]["items"][0]["data"]["diagnosis"], "高**");
    assert_eq!(view["timeline"].as_array().unwrap().len(), 2);
    let schema = json_of(admin.get("/api/v1/entities/visit/schema").await).await;
    assert!(
        schema["$schema"]
            .as_str()
            .unwrap_or_default()
            .contains("2020-12"),
        "{schema}"
    );
    server.stop().await;
}
on_both_backends!(view360_shows_related_records, related_records);

async fn throttled_logins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.anonymous();
    for _ in 0..5 {
        let response = client
            .post(
                "/api/v1/auth/login",
                &json!({"username": "admin", "password": "wrong-password"}),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let response = client
        .post(
            "/api/v1/auth/login",
            &json!({"username": "admin", "password": kangdao_tests::server::ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json_of(response).await["error"]["code"], "rate_limited");
    server.stop().await;
}
on_both_backends!(repeated_bad_logins_are_throttled, throttled_logins);

async fn documented_routes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let anonymous = server.anonymous();
    let doc = json_of(anonymous.get("/api/openapi.json").await).await;
    assert_eq!(doc["openapi"], "3.1.0");
    for operation in kangdao_server::routes::openapi::ROUTES {
        let (method, path) = (operation.method, operation.path);
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the document"
        );
        let concrete = path
            .replace("{entity}", "patient")
            .replace("{id}", "01a20f80-f6ae-72b0-a0aa-0e2e033019b0")
            .replace("{field}", "mrn")
            .replace("{value}", "M1")
            .replace("{name}", "nurse");
        let response = anonymous
            .garbage(method.to_uppercase().parse().unwrap(), &concrete)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if operation.public {
            assert_ne!(status, 404, "{method} {path}");
            assert_ne!(status, 405, "{method} {path}");
        } else {
            assert_eq!(status, 401, "{method} {path} should exist and need sign-in");
        }
    }
    server.stop().await;
}
on_both_backends!(the_openapi_document_matches_the_router, documented_routes);

async fn roles_and_permissions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let id_no = id_number("110105", "19700101", 7);
    let created = json_of(
        admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": "周九", "id_number": id_no, "mrn": "M9"}}),
            )
            .await,
    )
    .await;
    let path = format!(
        "/api/v1/records/patient/{}",
        created["id"].as_str().unwrap()
    );
    let role = json!({"name": "front_desk", "label": {"zh": "前台"}, "rights": ["users"], "permissions": [
        {"entity": "patient", "actions": ["read"], "fields": {"id_number": "masked", "mrn": "hidden"}}]});
    assert_eq!(admin.post("/api/v1/roles", &role).await.status(), 201);
    let user =
        json!({"username": "desk_wang", "password": "desk-password-1", "roles": ["front_desk"]});
    assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);

    let desk = server.login("desk_wang", "desk-password-1").await;
    let record = json_of(desk.get(&format!("{path}?unmask=id_number")).await).await;
    assert_eq!(record["data"]["name"], "周九");
    assert!(
        record["data"].get("mrn").is_none(),
        "hidden fields are left out: {record}"
    );
    assert_ne!(
        record["data"]["id_number"],
        id_no.as_str(),
        "a masked rule never unmasks"
    );
    let response = desk
        .post("/api/v1/records/patient", &json!({"data": {"name": "x"}}))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(json_of(response).await["error"]["code"], "forbidden");
    assert_eq!(
        desk.patch(&path, Some(1), &json!({"data": {"name": "y"}}))
            .await
            .status(),
        403
    );
    assert_eq!(
        desk.get("/api/v1/records/patient/export").await.status(),
        403
    );
    assert_eq!(
        desk.post("/api/v1/entities", &json!({"name": "thing", "fields": []}))
            .await
            .status(),
        403
    );
    // A user manager may add users but not administrators.
    let promoted = json!({"username": "desk_li", "password": "desk-password-2", "is_admin": true});
    assert_eq!(desk.post("/api/v1/users", &promoted).await.status(), 403);
    let plain = json!({"username": "desk_li", "password": "desk-password-2"});
    assert_eq!(desk.post("/api/v1/users", &plain).await.status(), 201);
    assert_eq!(desk.get("/api/v1/roles").await.status(), 403);
    // A filter cannot look into an entity the role may not read.
    let exists =
        "%7B%22exists%22%3A%7B%22entity%22%3A%22visit%22%2C%22ref%22%3A%22patient%22%7D%7D";
    assert_eq!(
        desk.get(&format!("/api/v1/records/patient?filter={exists}"))
            .await
            .status(),
        403
    );
    assert_eq!(desk.get("/api/v1/audit").await.status(), 403);

    // A disabled user's session ends.
    let users = json_of(admin.get("/api/v1/users").await).await;
    let desk_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "desk_wang")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = admin
        .patch(
            &format!("/api/v1/users/{desk_id}"),
            None,
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(desk.get(&path).await.status(), 401);
    server.stop().await;
}
on_both_backends!(roles_limit_what_users_do, roles_and_permissions);
