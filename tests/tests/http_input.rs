//! Bad input from outside, on SQLite and PostgreSQL alike: NUL characters anywhere, paging
//! beyond its bounds, request lines and headers beyond the server's limits, methods a route
//! does not have, and import files that would be read wrongly. Every answer is a 4xx in the one
//! error format, naming what was wrong.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{
    id_number, json_of, patient_definition, url_encoded, Session, TestServer,
};
use kangdao_tests::Backend;
use reqwest::Method;
use serde_json::{json, Value};

async fn define_patient(admin: &Session) {
    let response = admin.post("/api/v1/entities", &patient_definition()).await;
    assert_eq!(response.status(), 201);
}

/// The status and the JSON error body, checked to be in the one error format.
async fn error_of(response: kangdao_tests::server::Answer) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = json_of(response).await;
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    assert!(body["error"]["code"].is_string(), "{status}: {body}");
    assert!(body["error"]["message"].is_string(), "{status}: {body}");
    assert!(body["error"]["details"].is_array(), "{status}: {body}");
    (status, body)
}

fn detail(body: &Value, i: usize) -> &Value {
    &body["error"]["details"][i]
}

async fn import(admin: &Session, query: &str, bytes: Vec<u8>) -> kangdao_tests::server::Answer {
    admin
        .request(
            Method::POST,
            &format!("/api/v1/records/patient/import?{query}"),
        )
        .body(bytes)
        .send()
        .await
        .expect("import")
}

async fn count_patients(admin: &Session) -> u64 {
    json_of(admin.get("/api/v1/records/patient?per_page=1").await).await["total"]
        .as_u64()
        .expect("total")
}

fn patient_row(i: u32, name: &str) -> String {
    format!(
        "{name},{},139{i:08},M{i:05}\n",
        id_number("110105", "19800101", i)
    )
}

async fn nul_is_refused_the_same_on_both_backends(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let created = json_of(
        admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": "张三", "mrn": "M1"}}),
            )
            .await,
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();

    // Record data: a 422 naming the field, on create, PATCH and upsert.
    let (status, body) = error_of(
        admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": "a\u{0}b", "mrn": "M2"}}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    assert_eq!(detail(&body, 0)["field"], "name");
    assert_eq!(detail(&body, 0)["code"], "nul_character");
    let (status, body) = error_of(
        admin
            .patch(
                &format!("/api/v1/records/patient/{id}"),
                Some(1),
                &json!({"data": {"mrn": "M\u{0}"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(detail(&body, 0)["field"], "mrn");
    let (status, body) = error_of(
        admin
            .put(
                "/api/v1/records/patient/by/mrn/M9",
                &json!({"data": {"name": "x\u{0}"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(detail(&body, 0)["field"], "name");

    // The upsert path value, q and a filter value: a 400 naming the parameter.
    let (status, body) = error_of(
        admin
            .put(
                "/api/v1/records/patient/by/mrn/M%00X",
                &json!({"data": {"name": "李四"}}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("value"))
    );
    assert_eq!(detail(&body, 0)["code"], "nul_character");
    let (status, body) = error_of(admin.get("/api/v1/records/patient?q=%E5%BC%A0%00").await).await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("q"))
    );
    let filter = json!({"field": "name", "op": "eq", "value": "a\u{0}"}).to_string();
    let (status, body) = error_of(
        admin
            .get(&format!(
                "/api/v1/records/patient?filter={}",
                url_encoded(&filter)
            ))
            .await,
    )
    .await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("filter/value"))
    );
    let (status, body) = error_of(
        admin
            .post(
                "/api/v1/reports/query",
                &json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "dept"}],
                        "measures": [{"agg": "count"}],
                        "filters": {"field": "name", "op": "contains", "value": "\u{0}"}}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("filters/value"))
    );

    // Labels and options of a definition, and the log-in user name: a 400 naming the place.
    let mut definition = patient_definition();
    definition["name"] = json!("visit");
    definition["label"]["zh"] = json!("就诊\u{0}");
    let (status, body) = error_of(admin.post("/api/v1/entities", &definition).await).await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("label/zh"))
    );
    let mut definition = patient_definition();
    definition["name"] = json!("visit");
    definition["fields"][4]["options"][1]["value"] = json!("ortho\u{0}");
    let (status, body) = error_of(admin.post("/api/v1/entities", &definition).await).await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("fields/4/options/1/value"))
    );
    let (status, body) = error_of(
        server
            .anonymous()
            .post(
                "/api/v1/auth/login",
                &json!({"username": "admin\u{0}", "password": "x"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, detail(&body, 0)["field"].as_str()),
        (400, Some("username"))
    );

    // Nothing of the above was stored, and the database still answers.
    assert_eq!(count_patients(&admin).await, 1);
    assert_eq!(
        json_of(admin.get(&format!("/api/v1/records/patient/{id}")).await).await["data"]["mrn"],
        "M1"
    );

    // An import that keeps its good rows: the NUL cell's line is reported, the others stored.
    let mut csv = String::from("name,id_number,phone,mrn\n");
    csv.push_str(&patient_row(10, "王五"));
    csv.push_str(&patient_row(11, "赵\u{0}六"));
    csv.push_str(&patient_row(12, "钱七"));
    let report = json_of(import(&admin, "atomic=false", csv.clone().into_bytes()).await).await;
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["field"], "name");
    assert_eq!(report["errors"][0]["code"], "nul_character");
    assert_eq!(count_patients(&admin).await, 3);
    // All-or-nothing (the default): a 422 naming the line, nothing written.
    let csv = csv.replace("M00010", "M00020").replace("M00012", "M00022");
    let csv = csv
        .replace(
            &id_number("110105", "19800101", 10),
            &id_number("110105", "19800101", 20),
        )
        .replace(
            &id_number("110105", "19800101", 12),
            &id_number("110105", "19800101", 22),
        );
    let (status, body) = error_of(import(&admin, "", csv.into_bytes()).await).await;
    assert_eq!(status, 422);
    assert_eq!(detail(&body, 0)["line"], 3);
    assert_eq!(detail(&body, 0)["code"], "nul_character");
    assert_eq!(count_patients(&admin).await, 3);

    // The same for an XLSX cell.
    let header: Vec<String> = ["name", "mrn"].iter().map(|s| s.to_string()).collect();
    let xlsx = kangdao_engine::io::write_xlsx(
        "patients",
        &header,
        vec![
            vec!["孙八".to_string(), "X1".to_string()],
            vec!["周\u{0}九".to_string(), "X2".to_string()],
        ],
    )
    .expect("xlsx");
    let report = json_of(import(&admin, "atomic=false", xlsx).await).await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["errors"][0]["line"], 3);
    assert_eq!(report["errors"][0]["code"], "nul_character");
    assert_eq!(count_patients(&admin).await, 4);
    server.stop().await;
}
on_both_backends!(nul_characters, nul_is_refused_the_same_on_both_backends);

async fn paging_beyond_its_bounds_is_a_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    for query in [
        "page=9223372036854775807",
        "page=18446744073709551616",
        "page=1000001",
        "page=-1",
        "per_page=1001",
        "per_page=9223372036854775807",
        "page=1e3",
    ] {
        let (status, body) =
            error_of(admin.get(&format!("/api/v1/records/patient?{query}")).await).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{query}");
        let name = query.split('=').next().unwrap_or_default();
        assert_eq!(detail(&body, 0)["field"], name, "{query}");
    }
    // The last allowed page answers, empty.
    let page = json_of(
        admin
            .get("/api/v1/records/patient?page=1000000&per_page=1000")
            .await,
    )
    .await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["page"], 1_000_000);
    server.stop().await;
}
on_both_backends!(paging_bounds, paging_beyond_its_bounds_is_a_400);

async fn every_answer_speaks_the_error_format(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;

    // A request line beyond the server's limit, and below hyper's.
    let long = format!("/api/v1/records/patient?q={}", "x".repeat(40_000));
    let (status, body) = error_of(admin.get(&long).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (414, Some("uri_too_long"))
    );

    // Too many or too large headers.
    let mut request = admin.request(Method::GET, "/api/v1/me");
    for i in 0..30 {
        request = request.header(&format!("x-padding-{i}"), "p".repeat(1000));
    }
    let (status, body) = error_of(request.send().await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (431, Some("headers_too_large"))
    );
    let mut request = admin.request(Method::GET, "/api/v1/me");
    for i in 0..80 {
        request = request.header(&format!("x-h{i}"), "1");
    }
    let (status, body) = error_of(request.send().await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (431, Some("headers_too_large"))
    );

    // A method the route does not have.
    for method in [Method::OPTIONS, Method::TRACE, Method::PATCH] {
        let response = admin
            .request(method.clone(), "/api/v1/records/patient")
            .send()
            .await
            .expect("send");
        let (status, body) = error_of(response).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (405, Some("method_not_allowed")),
            "{method}"
        );
    }
    // Still serving, with ordinary headers.
    assert_eq!(admin.get("/api/v1/me").await.status(), 200);
    server.stop().await;
}
on_both_backends!(error_format, every_answer_speaks_the_error_format);

async fn import_refuses_what_it_would_read_wrongly(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;

    // Bytes that are neither UTF-8 nor GB18030: never stored as replacement characters.
    let mut bytes = "name,mrn\n张三,M1\n".as_bytes().to_vec();
    bytes.extend_from_slice(b"\xff\xfe\xfd,M2\n");
    for query in ["", "atomic=false", "dry_run=true"] {
        let (status, body) = error_of(import(&admin, query, bytes.clone()).await).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(detail(&body, 0)["line"], 3, "{body}");
        assert_eq!(detail(&body, 0)["code"], "invalid_encoding");
    }

    // An unclosed quote would swallow the following rows into one name.
    let csv = "name,mrn\n李四,M3\n\"王五,M4\n赵六,M5\n";
    let (status, body) = error_of(import(&admin, "atomic=false", csv.into()).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(detail(&body, 0)["line"], 3);
    assert_eq!(detail(&body, 0)["code"], "unbalanced_quote");
    let csv = "name,mrn\n\"李四\"x,M3\n";
    let (_, body) = error_of(import(&admin, "", csv.into()).await).await;
    assert_eq!(detail(&body, 0)["code"], "unbalanced_quote");
    assert_eq!(detail(&body, 0)["line"], 2);

    // A header naming a column twice, in CSV and XLSX.
    let csv = "name,mrn,name\n李四,M3,王五\n";
    let (status, body) = error_of(import(&admin, "", csv.into()).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        (
            detail(&body, 0)["line"].as_u64(),
            detail(&body, 0)["field"].as_str()
        ),
        (Some(1), Some("name"))
    );
    assert_eq!(detail(&body, 0)["code"], "duplicate_column");
    let header: Vec<String> = ["mrn", "姓名", "姓名"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let xlsx = kangdao_engine::io::write_xlsx(
        "p",
        &header,
        vec![vec!["M3".into(), "李四".into(), "王五".into()]],
    )
    .expect("xlsx");
    let (status, body) = error_of(import(&admin, "", xlsx).await).await;
    assert_eq!(status, 400);
    assert_eq!(detail(&body, 0)["code"], "duplicate_column");

    // Two columns filling one field: by name and label, or through the mapping.
    let csv = "name,姓名,mrn\n李四,王五,M3\n";
    let (status, body) = error_of(import(&admin, "", csv.into()).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        (
            detail(&body, 0)["line"].as_u64(),
            detail(&body, 0)["field"].as_str()
        ),
        (Some(1), Some("name"))
    );
    assert_eq!(detail(&body, 0)["code"], "duplicate_mapping");
    let mapping = json!({"a": "name", "b": "name", "c": "mrn"}).to_string();
    let response = import(
        &admin,
        &format!("atomic=false&mapping={}", url_encoded(&mapping)),
        "a,b,c\n李四,王五,M3\n".into(),
    )
    .await;
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert_eq!(detail(&body, 0)["code"], "duplicate_mapping");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains('a')
            && body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains('b'),
        "{body}"
    );

    // Nothing of it was written; a good GB18030 file still imports.
    assert_eq!(count_patients(&admin).await, 0);
    let gb = gb18030("name,mrn\r\n李四,M3\r\n");
    let report = json_of(import(&admin, "", gb).await).await;
    assert_eq!(report["imported"], 1, "{report}");
    let list = json_of(admin.get("/api/v1/records/patient").await).await;
    assert_eq!(list["items"][0]["data"]["name"], "李四");
    server.stop().await;
}
on_both_backends!(import_damage, import_refuses_what_it_would_read_wrongly);

/// "李四" as GB18030 (C0 EE CB C4), the rest ASCII: what Chinese Excel saves.
fn gb18030(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in text.chars() {
        match c {
            '李' => out.extend_from_slice(&[0xC0, 0xEE]),
            '四' => out.extend_from_slice(&[0xCB, 0xC4]),
            c if c.is_ascii() => out.push(c as u8),
            other => panic!("no GB18030 bytes for {other}"),
        }
    }
    assert!(std::str::from_utf8(&out).is_err());
    out
}
