//! Saved charts and dashboards against the real server, on SQLite and on PostgreSQL: a
//! dashboard of four charts answers in one call, filtered by department and period; a chart
//! the viewer may not read answers its own error; the cache is exact (a write and a change of
//! rights are seen at once, equal rights share an entry, different ones never do); versions
//! follow the definition precondition rule; saving needs design and builds the chart's index;
//! export needs its right, neutralises formulas and is audited; explain is for designers.

use kangdao_engine::io::{read_table, TabularFormat};
use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use std::time::Duration;

async fn status_and_body(response: Answer) -> (u16, Value) {
    let status = response.status().as_u16();
    if status == 204 {
        return (status, Value::Null);
    }
    (status, json_of(response).await)
}

async fn created(session: &Session, path: &str, body: Value) -> Value {
    let (status, answer) = status_and_body(session.post(path, &body).await).await;
    assert_eq!(status, 201, "{path}: {answer}");
    answer
}

async fn ok(session: &Session, path: &str) -> Value {
    let (status, body) = status_and_body(session.get(path).await).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

const FORMULA: &str = "=cmd|' /C calc'!A0";

/// Patients and their visits in October to December 2026, and a clerk role that reads
/// visits (not patients), without design or export.
async fn clinic(server: &TestServer) -> Session {
    let admin = server.admin().await;
    created(&admin, "/api/v1/entities", patient_definition()).await;
    created(
        &admin,
        "/api/v1/entities",
        json!({"name": "visit", "fields": [
            {"name": "patient", "type": "reference", "entity": "patient"},
            {"name": "dept", "type": "select", "options": [
                {"value": "cardiology", "label": {"zh": "心内科", "en": "Cardiology"}},
                {"value": "orthopedics", "label": {"zh": "骨科", "en": "Orthopedics"}}]},
            {"name": "visit_time", "type": "datetime"},
            {"name": "amount", "type": "money"},
            {"name": "reason", "type": "text"}]}),
    )
    .await;
    let mut ids = Vec::new();
    for (name, dept, tier) in [
        ("甲", "cardiology", "VIP"),
        ("乙", "cardiology", "normal"),
        ("丙", "orthopedics", "normal"),
    ] {
        let p = created(
            &admin,
            "/api/v1/records/patient",
            json!({"data": {"name": name, "dept": dept, "tier": tier}}),
        )
        .await;
        ids.push(p["id"].clone());
    }
    for (patient, dept, at, amount, reason) in [
        (0, "cardiology", "2026-10-05T10:00:00+08:00", 100, "复查"),
        (1, "cardiology", "2026-11-10T10:00:00+08:00", 200, FORMULA),
        (2, "orthopedics", "2026-11-12T10:00:00+08:00", 300, "复查"),
        (0, "cardiology", "2026-12-20T10:00:00+08:00", 50, "初诊"),
    ] {
        created(
            &admin,
            "/api/v1/records/visit",
            json!({"data": {"patient": ids[patient], "dept": dept, "visit_time": at,
                            "amount": amount, "reason": reason}}),
        )
        .await;
    }
    created(
        &admin,
        "/api/v1/roles",
        json!({"name": "clerk", "permissions": [{"entity": "visit", "actions": ["read"]}]}),
    )
    .await;
    for user in ["clerk_li", "clerk_wang"] {
        created(
            &admin,
            "/api/v1/users",
            json!({"username": user, "password": "clerk-password-1", "roles": ["clerk"]}),
        )
        .await;
    }
    admin
}

fn charts() -> Vec<Value> {
    vec![
        json!({"name": "visits_by_dept", "label": {"zh": "各科就诊"}, "spec": {"entity": "visit", "chart": "bar",
            "dimensions": [{"field": "dept"}], "measures": [{"agg": "count"}],
            "sort": [{"by": "count", "dir": "desc"}]}}),
        json!({"name": "visits_by_month", "spec": {"entity": "visit", "chart": "line",
            "dimensions": [{"field": "visit_time", "bucket": "month"}], "measures": [{"agg": "count"}],
            "fill": false}}),
        json!({"name": "patients_by_tier", "spec": {"entity": "patient", "chart": "pie",
            "dimensions": [{"field": "tier"}], "measures": [{"agg": "count"}],
            "sort": [{"by": "tier", "dir": "asc"}]}}),
        json!({"name": "revenue", "spec": {"entity": "visit", "chart": "kpi",
            "measures": [{"agg": "sum", "field": "amount"}]}}),
    ]
}

fn operations() -> Value {
    json!({"name": "operations", "label": {"zh": "运营", "en": "Operations"},
        "filters": [
            {"param": "period", "fields": {"visits_by_dept": "visit_time", "visits_by_month": "visit_time", "revenue": "visit_time"}},
            {"param": "dept", "fields": {"visits_by_dept": "dept", "visits_by_month": "dept", "revenue": "dept", "patients_by_tier": "dept"}}],
        "items": [
            {"chart": "visits_by_dept", "x": 0, "y": 0, "w": 6, "h": 4},
            {"chart": "visits_by_month", "x": 6, "y": 0, "w": 6, "h": 4},
            {"chart": "patients_by_tier", "x": 0, "y": 4, "w": 6, "h": 4},
            {"chart": "revenue", "x": 6, "y": 4, "w": 6, "h": 4}]})
}

async fn with_dashboard(server: &TestServer) -> Session {
    let admin = clinic(server).await;
    for chart in charts() {
        created(&admin, "/api/v1/charts", chart).await;
    }
    created(&admin, "/api/v1/dashboards", operations()).await;
    admin
}

fn chart<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no chart {name} in {answer}"))
}

fn rows(answer: &Value, name: &str) -> Value {
    chart(answer, name)["data"]["rows"].clone()
}

async fn a_dashboard_of_four_charts_answers_in_one_call_by_department(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = with_dashboard(&server).await;

    let all = ok(&admin, "/api/v1/dashboards/operations/data").await;
    assert_eq!(all["version"], 1);
    let names: Vec<&str> = all["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "visits_by_dept",
            "visits_by_month",
            "patients_by_tier",
            "revenue"
        ],
        "the dashboard's order"
    );
    assert_eq!(
        rows(&all, "visits_by_dept"),
        json!([["cardiology", 3], ["orthopedics", 1]])
    );
    assert_eq!(
        chart(&all, "visits_by_dept")["data"]["labels"]["dept"]["cardiology"],
        "心内科"
    );
    assert_eq!(chart(&all, "visits_by_dept")["spec"]["chart"], "bar");
    assert_eq!(rows(&all, "revenue")[0][0].as_f64(), Some(650.0));

    let cardiology = ok(
        &admin,
        "/api/v1/dashboards/operations/data?from=2026-10-01&to=2026-11-30&dept=cardiology",
    )
    .await;
    assert_eq!(
        rows(&cardiology, "visits_by_dept"),
        json!([["cardiology", 2]])
    );
    assert_eq!(
        rows(&cardiology, "visits_by_month"),
        json!([["2026-10-01", 1], ["2026-11-01", 1]])
    );
    assert_eq!(
        rows(&cardiology, "patients_by_tier"),
        json!([["VIP", 1], ["normal", 1]]),
        "the patient chart is filtered by its own dept field, not by the period"
    );
    assert_eq!(rows(&cardiology, "revenue")[0][0].as_f64(), Some(300.0));
    let both = ok(
        &admin,
        "/api/v1/dashboards/operations/data?dept=cardiology,orthopedics&to=2026-11-30",
    )
    .await;
    assert_eq!(
        rows(&both, "visits_by_dept"),
        json!([["cardiology", 2], ["orthopedics", 1]])
    );

    let (status, body) =
        status_and_body(admin.get("/api/v1/dashboards/operations/data?ward=3").await).await;
    assert_eq!(status, 400, "an unknown parameter: {body}");
    let (status, _) = status_and_body(
        admin
            .get("/api/v1/dashboards/operations/data?from=yesterday")
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        admin.get("/api/v1/dashboards/nope/data").await.status(),
        404
    );

    // A viewer who may read visits but not patients: the patient chart answers its own
    // error, the others their data.
    let clerk = server.login("clerk_li", "clerk-password-1").await;
    let seen = ok(&clerk, "/api/v1/dashboards/operations/data?dept=cardiology").await;
    assert_eq!(
        chart(&seen, "patients_by_tier")["error"]["code"],
        "forbidden"
    );
    assert!(chart(&seen, "patients_by_tier").get("spec").is_none());
    assert_eq!(rows(&seen, "visits_by_dept"), json!([["cardiology", 3]]));
    assert_eq!(rows(&seen, "revenue")[0][0].as_f64(), Some(350.0));
}

/// The dashboard cache's hit counter on `/metrics`.
async fn cache_hits(server: &TestServer) -> u64 {
    let text = server
        .anonymous()
        .get("/metrics")
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("kangdao_dashboard_cache_hits_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no cache counter in {text}"))
}

async fn the_cache_is_exact(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = with_dashboard(&server).await;
    let path = "/api/v1/dashboards/operations/data?dept=cardiology";
    let first = ok(&admin, path).await;
    assert_eq!(cache_hits(&server).await, 0);
    let again = ok(&admin, path).await;
    assert_eq!(
        cache_hits(&server).await,
        1,
        "the same request is answered from the cache"
    );
    assert_eq!(first, again);

    // A write is seen by the next request.
    created(
        &admin,
        "/api/v1/records/visit",
        json!({"data": {"dept": "cardiology", "visit_time": "2026-11-20T09:00:00+08:00", "amount": 10}}),
    )
    .await;
    let after_write = ok(&admin, path).await;
    assert_eq!(cache_hits(&server).await, 1);
    assert_eq!(
        rows(&after_write, "visits_by_dept"),
        json!([["cardiology", 4]])
    );

    // Another viewer's rights differ: never the administrator's entry.
    let li = server.login("clerk_li", "clerk-password-1").await;
    let clerk_view = ok(&li, path).await;
    assert_eq!(cache_hits(&server).await, 1);
    assert_eq!(
        chart(&clerk_view, "patients_by_tier")["error"]["code"],
        "forbidden"
    );
    // A second clerk with the same rights shares the first clerk's entry.
    let wang = server.login("clerk_wang", "clerk-password-1").await;
    assert_eq!(ok(&wang, path).await, clerk_view);
    assert_eq!(cache_hits(&server).await, 2);

    // A change of rights is seen at once (once the signed-in principal is reloaded).
    let (status, body) = status_and_body(
        admin
            .put(
                "/api/v1/roles/clerk",
                &json!({"name": "clerk", "permissions": [
                    {"entity": "visit", "actions": ["read"]},
                    {"entity": "patient", "actions": ["read"]}]}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let widened = ok(&li, path).await;
    assert_eq!(cache_hits(&server).await, 2);
    assert_eq!(
        rows(&widened, "patients_by_tier"),
        json!([["VIP", 1], ["normal", 1]])
    );
}

async fn saved_charts_and_dashboards_follow_versions_and_rights(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = clinic(&server).await;
    let clerk = server.login("clerk_li", "clerk-password-1").await;
    let spec = json!({"name": "revenue_by_dept", "spec": {"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "dept"}], "measures": [{"agg": "sum", "field": "amount"}]}});
    let (status, _) = status_and_body(clerk.post("/api/v1/charts", &spec).await).await;
    assert_eq!(status, 403, "saving a chart needs design");
    let mut bad = spec.clone();
    bad["spec"]["dimensions"] = json!([{"field": "no_such_field"}]);
    let (status, _) = status_and_body(admin.post("/api/v1/charts", &bad).await).await;
    assert_eq!(status, 400);

    let first = created(&admin, "/api/v1/charts", spec.clone()).await;
    assert_eq!(first["version"], 1);
    assert!(
        index_exists(&server, &["f_dept", "f_amount"]).await,
        "saving builds the (dimension, measure) index"
    );
    let (status, same) =
        status_and_body(admin.put("/api/v1/charts/revenue_by_dept", &first).await).await;
    assert_eq!((status, &same["version"]), (200, &json!(1)), "{same}");
    let mut changed = first.clone();
    changed["spec"]["chart"] = json!("pie");
    let (status, second) =
        status_and_body(admin.put("/api/v1/charts/revenue_by_dept", &changed).await).await;
    assert_eq!((status, &second["version"]), (200, &json!(2)), "{second}");
    let (status, body) =
        status_and_body(admin.put("/api/v1/charts/revenue_by_dept", &changed).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("version_conflict"))
    );
    let stale = admin
        .request(reqwest::Method::PUT, "/api/v1/charts/revenue_by_dept")
        .header("If-Match", "\"1\"")
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 409);

    // The chart's data answers under the reader's rights; explain is for designers.
    let data = ok(&clerk, "/api/v1/charts/revenue_by_dept/data").await;
    assert_eq!(data["rows"][0][0], "cardiology");
    let explained = ok(&admin, "/api/v1/charts/revenue_by_dept/data?explain=true").await;
    assert!(!explained["explain"]["statements"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        clerk
            .get("/api/v1/charts/revenue_by_dept/data?explain=true")
            .await
            .status(),
        403
    );

    // Dashboards: every chart must exist; saving needs design; a held chart stays.
    let board = json!({"name": "money", "items": [{"chart": "revenue_by_dept"}]});
    let (status, _) = status_and_body(clerk.post("/api/v1/dashboards", &board).await).await;
    assert_eq!(status, 403);
    let unknown = json!({"name": "money", "items": [{"chart": "nope"}]});
    let (status, _) = status_and_body(admin.post("/api/v1/dashboards", &unknown).await).await;
    assert_eq!(status, 400);
    let saved = created(&admin, "/api/v1/dashboards", board).await;
    assert_eq!(saved["version"], 1);
    let (status, body) = status_and_body(
        admin
            .delete("/api/v1/charts/revenue_by_dept", Some(2))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, same) = status_and_body(admin.put("/api/v1/dashboards/money", &saved).await).await;
    assert_eq!((status, &same["version"]), (200, &json!(1)));
    assert_eq!(
        admin
            .delete("/api/v1/dashboards/money", Some(2))
            .await
            .status(),
        409
    );
    assert_eq!(
        admin
            .delete("/api/v1/dashboards/money", Some(1))
            .await
            .status(),
        204
    );
    assert_eq!(
        admin
            .delete("/api/v1/charts/revenue_by_dept", Some(2))
            .await
            .status(),
        204
    );
    let again = created(&admin, "/api/v1/charts", spec).await;
    assert_eq!(
        again["version"], 3,
        "a name used again continues its versions"
    );
}

async fn index_exists(server: &TestServer, columns: &[&str]) -> bool {
    use kangdao_engine::entities::storage::LiveIndex;
    use kangdao_engine::store::{Db, DbOptions};
    let name = LiveIndex::on("e_visit", columns).name;
    let db = Db::connect(&DbOptions {
        url: server.db.url.clone(),
        max_connections: 1,
    })
    .await
    .unwrap();
    let sql = match server.db.backend {
        Backend::Sqlite => "SELECT sql AS v FROM sqlite_master WHERE type = 'index' AND name = $1",
        Backend::Postgres => "SELECT indexdef AS v FROM pg_indexes WHERE indexname = $1",
    };
    let found = db
        .fetch_optional(sql, vec![name.as_str().into()])
        .await
        .unwrap()
        .map(|row| row.req_text("v").unwrap());
    db.close().await;
    found.is_some_and(|definition| {
        definition.contains("deleted_at") && definition.contains("IS NULL")
    })
}

async fn charts_export_with_the_right_and_an_audit_entry(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = clinic(&server).await;
    created(
        &admin,
        "/api/v1/charts",
        json!({"name": "reasons", "spec": {"entity": "visit", "chart": "bar",
            "dimensions": [{"field": "reason"}], "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}],
            "sort": [{"by": "reason", "dir": "asc"}]}}),
    )
    .await;
    let clerk = server.login("clerk_li", "clerk-password-1").await;
    assert_eq!(
        clerk
            .get("/api/v1/charts/reasons/export?format=csv")
            .await
            .status(),
        403,
        "export needs the export right"
    );
    let csv = admin.get("/api/v1/charts/reasons/export?format=csv").await;
    assert_eq!(csv.status(), 200);
    let csv = csv.bytes().await.unwrap();
    let xlsx = admin.get("/api/v1/charts/reasons/export?format=xlsx").await;
    assert_eq!(xlsx.status(), 200);
    let xlsx = xlsx.bytes().await.unwrap();
    for (bytes, format) in [(csv, TabularFormat::Csv), (xlsx, TabularFormat::Xlsx)] {
        let table = read_table(&bytes, format, 100).unwrap();
        assert_eq!(
            table.header,
            ["reason", "count", "sum_amount"],
            "{format:?}"
        );
        let cells: Vec<Vec<String>> = table.rows.into_iter().map(|r| r.cells).collect();
        assert_eq!(cells.len(), 3, "{format:?}: {cells:?}");
        assert!(
            cells.contains(&vec![format!("'{FORMULA}"), "1".into(), "200".into()]),
            "{format:?}: the formula is neutralised: {cells:?}"
        );
        assert!(
            cells.contains(&vec!["复查".into(), "2".into(), "400".into()]),
            "{cells:?}"
        );
    }
    let audit = ok(&admin, "/api/v1/audit?action=chart.export").await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["entity"], "visit");
    assert_eq!(entries[0]["detail"]["chart"], "reasons");
    assert_eq!(
        admin
            .get("/api/v1/charts/reasons/export?format=pdf")
            .await
            .status(),
        400
    );
}

on_both_backends!(
    four_charts_in_one_call,
    a_dashboard_of_four_charts_answers_in_one_call_by_department
);
on_both_backends!(exact_cache, the_cache_is_exact);
on_both_backends!(
    versions_and_rights,
    saved_charts_and_dashboards_follow_versions_and_rights
);
on_both_backends!(
    chart_export,
    charts_export_with_the_right_and_an_audit_entry
);
