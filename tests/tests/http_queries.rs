//! Queries as the caller's rights allow: hidden fields refused everywhere a query names them,
//! masked fields matched only by an audited, rate-limited single-value `eq`, the recycle bin
//! kept for those who may delete, CSV exports safe to open and consistent, and every query
//! bounded — on SQLite and PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{id_number, json_of, patient_definition, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use std::collections::HashSet;

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn filter_path(filter: &Value) -> String {
    format!(
        "/api/v1/records/patient?filter={}",
        enc(&filter.to_string())
    )
}

async fn create(admin: &Session, entity: &str, data: Value) -> Value {
    let response = admin
        .post(
            &format!("/api/v1/records/{entity}"),
            &json!({ "data": data }),
        )
        .await;
    assert_eq!(response.status(), 201);
    json_of(response).await
}

/// Asserts a 400 whose message or details name `field`.
async fn refused_naming(response: kangdao_tests::server::Answer, field: &str, what: &str) {
    assert_eq!(response.status(), 400, "{what}");
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], "bad_request", "{what}: {body}");
    let named = body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(field))
        || body["error"]["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["field"] == field));
    assert!(named, "{what}: the answer names {field}: {body}");
}

/// The patient entity, a visit entity referencing it, two patients and a visit; a front-desk
/// user who may read both with `total_spent` and `mrn` hidden, ID number and mobile masked,
/// and the visit's `cost` hidden.
async fn clinic(server: &TestServer) -> (Session, Session, String) {
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    let visit = json!({"name": "visit", "fields": [
        {"name": "patient", "type": "reference", "entity": "patient"},
        {"name": "cost", "type": "money"},
        {"name": "reason", "type": "text"}]});
    assert_eq!(admin.post("/api/v1/entities", &visit).await.status(), 201);
    let rich = create(
        &admin,
        "patient",
        json!({"name": "张三", "id_number": id_number("110105", "19800101", 1),
               "phone": "13912345678", "mrn": "M777", "total_spent": 5000, "dept": "cardiology"}),
    )
    .await;
    create(
        &admin,
        "patient",
        json!({"name": "李四", "id_number": id_number("110105", "19800202", 2),
               "phone": "13800000000", "mrn": "M888", "total_spent": 10}),
    )
    .await;
    let id = rich["id"].as_str().unwrap().to_string();
    create(
        &admin,
        "visit",
        json!({"patient": id, "cost": 300, "reason": "复查"}),
    )
    .await;
    let role = json!({"name": "front_desk", "permissions": [
        {"entity": "patient", "actions": ["read"],
         "fields": {"total_spent": "hidden", "mrn": "hidden", "id_number": "masked", "phone": "masked", "dept": "masked"}},
        {"entity": "visit", "actions": ["read"], "fields": {"cost": "hidden", "reason": "masked"}}]});
    assert_eq!(admin.post("/api/v1/roles", &role).await.status(), 201);
    let user =
        json!({"username": "desk_li", "password": "desk-password-1", "roles": ["front_desk"]});
    assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    let desk = server.login("desk_li", "desk-password-1").await;
    (admin, desk, id)
}

async fn hidden_fields_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, desk, id) = clinic(&server).await;

    // The admin's filter works; the same filter from the front desk names the hidden field.
    let rich = json!({"field": "total_spent", "op": "gt", "value": 4000});
    let page = json_of(admin.get(&filter_path(&rich)).await).await;
    assert_eq!(page["total"], 1);
    refused_naming(desk.get(&filter_path(&rich)).await, "total_spent", "filter").await;
    let nested = json!({"or": [{"field": "name", "op": "eq", "value": "x"},
                               {"not": {"field": "total_spent", "op": "is_empty"}}]});
    refused_naming(
        desk.get(&filter_path(&nested)).await,
        "total_spent",
        "nested",
    )
    .await;
    refused_naming(
        desk.get("/api/v1/records/patient?sort=-total_spent").await,
        "total_spent",
        "sort",
    )
    .await;
    let costly = json!({"exists": {"entity": "visit", "ref": "patient",
        "filters": {"field": "cost", "op": "gt", "value": 100}}});
    refused_naming(desk.get(&filter_path(&costly)).await, "cost", "exists").await;
    let any_visit = json!({"exists": {"entity": "visit", "ref": "patient",
        "filters": {"field": "reason", "op": "eq", "value": "复查"}}});
    assert_eq!(
        json_of(desk.get(&filter_path(&any_visit)).await).await["total"],
        1
    );

    // Charts: a hidden dimension, measure or filter is refused.
    for spec in [
        json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "total_spent"}], "measures": [{"agg": "count"}]}),
        json!({"entity": "patient", "chart": "bar", "measures": [{"agg": "sum", "field": "total_spent"}]}),
        json!({"entity": "patient", "chart": "bar", "measures": [{"agg": "count"}], "filters": rich}),
    ] {
        refused_naming(
            desk.post("/api/v1/reports/query", &spec).await,
            "total_spent",
            &spec.to_string(),
        )
        .await;
    }
    let export = desk
        .get(&format!(
            "/api/v1/records/patient/export?filter={}",
            enc(&rich.to_string())
        ))
        .await;
    // The front desk may not export at all; a role that may is refused the hidden filter.
    assert_eq!(export.status(), 403);

    // `q` searches only fields the caller sees plainly: a hidden MRN is not searched.
    let by_mrn = json_of(admin.get("/api/v1/records/patient?q=M777").await).await;
    assert_eq!(by_mrn["total"], 1);
    let by_mrn = json_of(desk.get("/api/v1/records/patient?q=M777").await).await;
    assert_eq!(by_mrn["total"], 0, "a hidden field is not searched");
    let by_name = json_of(
        desk.get(&format!("/api/v1/records/patient?q={}", enc("张")))
            .await,
    )
    .await;
    assert_eq!(by_name["total"], 1);

    // History and the 360° view leave hidden fields out of changed_fields.
    let path = format!("/api/v1/records/patient/{id}");
    let response = admin
        .patch(&path, Some(1), &json!({"data": {"total_spent": 6000}}))
        .await;
    assert_eq!(response.status(), 200);
    let history = json_of(desk.get(&format!("{path}/history")).await).await;
    let items = history["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for change in items {
        let fields = change["changed_fields"].as_array().unwrap();
        assert!(
            !fields.iter().any(|f| f == "total_spent" || f == "mrn"),
            "{change}"
        );
        assert!(change["data"].get("total_spent").is_none());
    }
    let admin_history = json_of(admin.get(&format!("{path}/history")).await).await;
    assert_eq!(
        admin_history["items"][1]["changed_fields"],
        json!(["total_spent"])
    );
    let view = json_of(desk.get(&format!("{path}/view360")).await).await;
    for entry in view["timeline"].as_array().expect("timeline") {
        let fields = entry["changed_fields"].as_array().unwrap();
        assert!(
            !fields
                .iter()
                .any(|f| f == "total_spent" || f == "mrn" || f == "cost"),
            "{entry}"
        );
    }
    assert!(view["related"][0]["items"][0]["data"].get("cost").is_none());
    server.stop().await;
}
on_both_backends!(hidden_fields_cannot_be_queried, hidden_fields_are_refused);

async fn masked_fields_take_one_audited_eq(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, desk, _) = clinic(&server).await;
    let id_no = id_number("110105", "19800101", 1);

    // The front desk's lookup by ID number: one value, exact.
    let lookup = json!({"field": "id_number", "op": "eq", "value": id_no});
    let page = json_of(desk.get(&filter_path(&lookup)).await).await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["data"]["name"], "张三");
    let audit = json_of(admin.get("/api/v1/audit?action=record.lookup").await).await;
    let entries = audit["items"].as_array().expect("audit items");
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["entity"], "patient");
    assert_eq!(entries[0]["fields"], json!(["id_number"]));
    assert!(
        !audit.to_string().contains(&id_no),
        "the audit names the field, never the value"
    );

    // Every other way to guess is refused, naming the field.
    let guesses = [
        json!({"field": "id_number", "op": "in", "value": [id_no]}),
        json!({"field": "phone", "op": "ne", "value": "13912345678"}),
        json!({"field": "phone", "op": "starts_with", "value": "139"}),
        json!({"field": "phone", "op": "contains", "value": "1234"}),
        json!({"field": "phone", "op": "gt", "value": "13900000000"}),
        json!({"field": "phone", "op": "in", "value": ["13912345678", "13800000000"]}),
    ];
    for guess in &guesses {
        let field = guess["field"].as_str().unwrap();
        refused_naming(
            desk.get(&filter_path(guess)).await,
            field,
            &guess.to_string(),
        )
        .await;
    }
    // Inside `exists`, the other entity's rules hold: its masked reason takes no `contains`.
    let guess = json!({"exists": {"entity": "visit", "ref": "patient",
        "filters": {"field": "reason", "op": "contains", "value": "复"}}});
    refused_naming(
        desk.get(&filter_path(&guess)).await,
        "reason",
        "exists contains",
    )
    .await;
    refused_naming(
        desk.get("/api/v1/records/patient?sort=phone").await,
        "phone",
        "sort",
    )
    .await;
    refused_naming(
        desk.post(
            "/api/v1/reports/query",
            &json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "phone"}], "measures": [{"agg": "count"}]}),
        )
        .await,
        "phone",
        "dimension",
    )
    .await;
    // `q` leaves masked fields out: the mobile's digits find nothing.
    let found = json_of(desk.get("/api/v1/records/patient?q=1391234").await).await;
    assert_eq!(found["total"], 0);
    // A field a role masks (not sensitive in itself) is left out of `q` and ranges too.
    let found = json_of(desk.get("/api/v1/records/patient?q=cardio").await).await;
    assert_eq!(found["total"], 0);
    let found = json_of(admin.get("/api/v1/records/patient?q=cardio").await).await;
    assert_eq!(found["total"], 1);
    let range = json!({"field": "dept", "op": "starts_with", "value": "cardio"});
    assert_eq!(
        json_of(admin.get(&filter_path(&range)).await).await["total"],
        1
    );
    refused_naming(desk.get(&filter_path(&range)).await, "dept", "masked range").await;
    let one = json!({"field": "dept", "op": "eq", "value": "cardiology"});
    assert_eq!(
        json_of(desk.get(&filter_path(&one)).await).await["total"],
        1
    );

    // Lookups are rate-limited per user: 30 in ten minutes, then 429 with Retry-After.
    let other = json!({"field": "phone", "op": "eq", "value": "13800000000"});
    for i in 2..30 {
        let response = desk.get(&filter_path(&other)).await;
        assert_eq!(response.status(), 200, "lookup {}", i + 1);
    }
    let response = desk.get(&filter_path(&other)).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 600, "{retry}");
    assert_eq!(json_of(response).await["error"]["code"], "rate_limited");
    // Others are not held back by the front desk's count.
    assert_eq!(admin.get(&filter_path(&other)).await.status(), 200);
    server.stop().await;
}
on_both_backends!(
    masked_fields_allow_only_a_single_eq,
    masked_fields_take_one_audited_eq
);

async fn recycle_bin_needs_delete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, desk, id) = clinic(&server).await;
    let path = format!("/api/v1/records/patient/{id}");
    assert_eq!(admin.delete(&path, Some(1)).await.status(), 204);

    // A read-only role sees no recycle bin, no history and no 360° view of deleted records.
    let response = desk.get("/api/v1/records/patient?deleted=true").await;
    assert_eq!(response.status(), 403);
    assert_eq!(json_of(response).await["error"]["code"], "forbidden");
    assert_eq!(desk.get(&path).await.status(), 404);
    assert_eq!(
        desk.get(&format!("{path}?deleted=true")).await.status(),
        404
    );
    assert_eq!(desk.get(&format!("{path}/history")).await.status(), 404);
    assert_eq!(desk.get(&format!("{path}/view360")).await.status(), 404);
    assert_eq!(admin.get(&format!("{path}/view360")).await.status(), 200);

    // Holders of `delete` keep them.
    let bin = json_of(admin.get("/api/v1/records/patient?deleted=true").await).await;
    assert_eq!(bin["total"], 1);
    assert_eq!(admin.get(&format!("{path}/history")).await.status(), 200);
    assert_eq!(
        admin.get(&format!("{path}?deleted=true")).await.status(),
        200
    );
    let keeper = json!({"name": "records_keeper", "permissions": [
        {"entity": "patient", "actions": ["read", "delete"]}]});
    assert_eq!(admin.post("/api/v1/roles", &keeper).await.status(), 201);
    let user =
        json!({"username": "keeper", "password": "keeper-password-1", "roles": ["records_keeper"]});
    assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    let keeper = server.login("keeper", "keeper-password-1").await;
    let bin = json_of(keeper.get("/api/v1/records/patient?deleted=true").await).await;
    assert_eq!(bin["total"], 1);
    assert_eq!(keeper.get(&format!("{path}/history")).await.status(), 200);
    server.stop().await;
}
on_both_backends!(
    deleted_records_are_for_holders_of_delete,
    recycle_bin_needs_delete
);

/// RFC 4180 rows: quoted cells may hold commas, quotes (doubled) and line breaks.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

async fn csv_cells_are_not_formulas(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let ledger = json!({"name": "ledger", "fields": [
        {"name": "note", "type": "text"}, {"name": "amount", "type": "money"},
        {"name": "count", "type": "integer"}]});
    assert_eq!(admin.post("/api/v1/entities", &ledger).await.status(), 201);
    let notes = [
        "=cmd|' /C calc'!A0",
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "=HYPERLINK(\"http://x\",\"y\")",
        "\tlead",
        "plain",
    ];
    for (i, note) in notes.iter().enumerate() {
        create(
            &admin,
            "ledger",
            json!({"note": note, "amount": -12.5 - i as f64, "count": -(i as i64)}),
        )
        .await;
    }
    let response = admin
        .get("/api/v1/records/ledger/export?format=csv&sort=amount")
        .await;
    assert_eq!(response.status(), 200);
    let rows = csv_rows(&response.bytes().await.unwrap());
    assert_eq!(rows[0], ["note", "amount", "count"]);
    let mut seen_notes: Vec<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    seen_notes.sort();
    let mut expected: Vec<String> = notes
        .iter()
        .map(|n| {
            if n.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{n}")
            } else {
                n.to_string()
            }
        })
        .collect();
    expected.sort();
    assert_eq!(seen_notes, expected);
    // Numbers the export writes itself stay numbers.
    assert_eq!(rows[1][1], "-18.5");
    assert_eq!(rows[1][2], "-6");
    server.stop().await;
}
on_both_backends!(csv_export_neutralises_formulas, csv_cells_are_not_formulas);

async fn export_reads_one_snapshot(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let entity =
        json!({"name": "ticket", "fields": [{"name": "code", "type": "text", "unique": true}]});
    assert_eq!(admin.post("/api/v1/entities", &entity).await.status(), 201);
    let mut csv = String::from("code\n");
    let before = 2_600;
    for i in 0..before {
        csv.push_str(&format!("T{i:05}\n"));
    }
    let response = admin
        .request(reqwest::Method::POST, "/api/v1/records/ticket/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // New tickets arrive at the head of the default order (newest first) while exports run:
    // pages read by OFFSET over live data would repeat rows.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let writer = server.admin().await;
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = writer
                    .post(
                        "/api/v1/records/ticket",
                        &json!({"data": {"code": format!("N{n:05}")}}),
                    )
                    .await;
                assert_eq!(r.status(), 201);
                n += 1;
            }
            n
        })
    };
    for _ in 0..4 {
        let response = admin.get("/api/v1/records/ticket/export").await;
        assert_eq!(response.status(), 200);
        let rows = csv_rows(&response.bytes().await.unwrap());
        let codes: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
        let unique: HashSet<&String> = codes.iter().copied().collect();
        assert_eq!(unique.len(), codes.len(), "no row is exported twice");
        for i in 0..before {
            assert!(
                unique.contains(&format!("T{i:05}")),
                "T{i:05} is not skipped"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0);
    server.stop().await;
}
on_both_backends!(export_is_one_snapshot, export_reads_one_snapshot);

async fn queries_are_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, _desk, _) = clinic(&server).await;
    let many: Vec<String> = (0..40_000).map(|i| format!("M{i}")).collect();
    let spec = json!({"entity": "patient", "chart": "bar", "measures": [{"agg": "count"}],
        "filters": {"field": "mrn", "op": "in", "value": many}});
    refused_naming(
        admin.post("/api/v1/reports/query", &spec).await,
        "mrn",
        "40,000 values",
    )
    .await;
    let thousand_one: Vec<String> = (0..1_001).map(|i| format!("M{i}")).collect();
    let filter = json!({"field": "mrn", "op": "in", "value": thousand_one});
    refused_naming(
        admin.get(&filter_path(&filter)).await,
        "mrn",
        "1,001 values",
    )
    .await;
    let thousand: Vec<String> = (0..1_000).map(|i| format!("M{i}")).collect();
    let filter = json!({"field": "mrn", "op": "in", "value": thousand});
    assert_eq!(admin.get(&filter_path(&filter)).await.status(), 200);

    let conditions: Vec<Value> = (0..201)
        .map(|i| json!({"field": "name", "op": "eq", "value": format!("n{i}")}))
        .collect();
    let response = admin.get(&filter_path(&json!({ "or": conditions }))).await;
    assert_eq!(response.status(), 400);

    let sort = vec!["name"; 2_000].join(",");
    let response = admin
        .get(&format!("/api/v1/records/patient?sort={sort}"))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["code"], "bad_request");
    let sort = ["name"; 8].join(",");
    assert_eq!(
        admin
            .get(&format!("/api/v1/records/patient?sort={sort}"))
            .await
            .status(),
        200
    );

    let measures: Vec<Value> = (0..2_000).map(|_| json!({"agg": "count"})).collect();
    let response = admin
        .post(
            "/api/v1/reports/query",
            &json!({"entity": "patient", "chart": "bar", "measures": measures}),
        )
        .await;
    assert_eq!(response.status(), 400);

    // min/max apply to numbers, money and dates only.
    let flags = json!({"name": "flagged", "fields": [
        {"name": "active", "type": "boolean"},
        {"name": "patient", "type": "reference", "entity": "patient"},
        {"name": "seen_on", "type": "date"}]});
    assert_eq!(admin.post("/api/v1/entities", &flags).await.status(), 201);
    create(
        &admin,
        "flagged",
        json!({"active": true, "seen_on": "2026-01-02"}),
    )
    .await;
    for (agg, field) in [
        ("min", "active"),
        ("max", "active"),
        ("min", "patient"),
        ("max", "patient"),
    ] {
        let spec = json!({"entity": "flagged", "chart": "bar", "measures": [{"agg": agg, "field": field}]});
        refused_naming(
            admin.post("/api/v1/reports/query", &spec).await,
            field,
            &spec.to_string(),
        )
        .await;
    }
    let spec = json!({"entity": "flagged", "chart": "bar", "measures": [{"agg": "max", "field": "seen_on"}]});
    let answer = json_of(admin.post("/api/v1/reports/query", &spec).await).await;
    assert_eq!(answer["rows"], json!([["2026-01-02"]]));
    server.stop().await;
}
on_both_backends!(query_sizes_are_bounded, queries_are_bounded);

async fn import_into_fields_kept_from_the_caller(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, _desk, _) = clinic(&server).await;
    let role = json!({"name": "registrar", "permissions": [
        {"entity": "patient", "actions": ["read", "create", "update"],
         "fields": {"total_spent": "hidden", "mrn": "read"}}]});
    assert_eq!(admin.post("/api/v1/roles", &role).await.status(), 201);
    let user =
        json!({"username": "reg_zhao", "password": "reg-password-1", "roles": ["registrar"]});
    assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    let registrar = server.login("reg_zhao", "reg-password-1").await;
    let import = |query: &'static str, csv: &'static str| {
        let registrar = &registrar;
        async move {
            registrar
                .request(
                    reqwest::Method::POST,
                    &format!("/api/v1/records/patient/import?{query}"),
                )
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .expect("import")
        }
    };
    refused_naming(
        import("", "name,total_spent\n王五,100\n").await,
        "total_spent",
        "hidden by header",
    )
    .await;
    refused_naming(
        import(
            "mapping=%7B%22spent%22%3A%22total_spent%22%7D",
            "name,spent\n王五,100\n",
        )
        .await,
        "total_spent",
        "hidden by mapping",
    )
    .await;
    refused_naming(import("", "name,mrn\n王五,M1\n").await, "mrn", "read-only").await;
    let response = import("", "name\n王五\n").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["imported"], 1);
    server.stop().await;
}
on_both_backends!(
    import_refuses_hidden_and_read_only_fields,
    import_into_fields_kept_from_the_caller
);

async fn export_keeps_hidden_fields_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, _desk, _) = clinic(&server).await;
    let role = json!({"name": "analyst", "permissions": [
        {"entity": "patient", "actions": ["read", "export"], "fields": {"total_spent": "hidden"}}]});
    assert_eq!(admin.post("/api/v1/roles", &role).await.status(), 201);
    let user = json!({"username": "ana_qian", "password": "ana-password-1", "roles": ["analyst"]});
    assert_eq!(admin.post("/api/v1/users", &user).await.status(), 201);
    let analyst = server.login("ana_qian", "ana-password-1").await;
    let export = "/api/v1/records/patient/export";
    let rich = json!({"field": "total_spent", "op": "gt", "value": 4000});
    refused_naming(
        analyst
            .get(&format!("{export}?filter={}", enc(&rich.to_string())))
            .await,
        "total_spent",
        "export filter",
    )
    .await;
    refused_naming(
        analyst.get(&format!("{export}?sort=total_spent")).await,
        "total_spent",
        "export sort",
    )
    .await;
    refused_naming(
        analyst
            .get(&format!("{export}?columns=name,total_spent"))
            .await,
        "total_spent",
        "export columns",
    )
    .await;
    let response = analyst.get(&format!("{export}?columns=mrn,name")).await;
    assert_eq!(response.status(), 200);
    let rows = csv_rows(&response.bytes().await.unwrap());
    assert_eq!(rows[0], ["mrn", "name"]);
    assert_eq!(rows.len(), 3);
    let response = analyst.get(export).await;
    let rows = csv_rows(&response.bytes().await.unwrap());
    assert!(
        !rows[0].contains(&"total_spent".to_string()),
        "{:?}",
        rows[0]
    );
    server.stop().await;
}
on_both_backends!(export_refuses_hidden_fields, export_keeps_hidden_fields_out);
