//! Segments against the real server, on SQLite and on PostgreSQL: "patients not seen for 6
//! months" and "diabetic patients who have not come back in 3 months" list exactly their
//! members; a segment filtering on a field hidden from the viewer never reveals its members;
//! saving needs design; versions follow the definition precondition rule.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

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

fn days_ago(days: i64) -> String {
    let at = OffsetDateTime::now_utc() - Duration::days(days);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Patients with conditions and visits, a viewer role that cannot see the conditions, and a
/// designer role that may read but not design patients.
pub async fn clinic(server: &TestServer) -> (Session, Session) {
    let admin = server.admin().await;
    let mut patient = patient_definition();
    patient["fields"].as_array_mut().unwrap().push(json!({
        "name": "chronic_conditions", "type": "multiselect",
        "options": [{"value": "diabetes"}, {"value": "hypertension"}]}));
    created(&admin, "/api/v1/entities", patient).await;
    created(
        &admin,
        "/api/v1/entities",
        json!({"name": "visit", "fields": [
            {"name": "patient", "type": "reference", "entity": "patient"},
            {"name": "visit_time", "type": "datetime"}]}),
    )
    .await;
    // name, conditions, visits (days ago)
    let people: [(&str, Vec<&str>, Vec<i64>); 5] = [
        ("甲", vec!["diabetes"], vec![10, 400]),
        ("乙", vec!["diabetes"], vec![120]),
        ("丙", vec!["diabetes", "hypertension"], vec![]),
        ("丁", vec!["hypertension"], vec![300]),
        ("戊", vec![], vec![30]),
    ];
    for (name, conditions, visits) in people {
        let p = created(
            &admin,
            "/api/v1/records/patient",
            json!({"data": {"name": name, "chronic_conditions": conditions}}),
        )
        .await;
        for days in visits {
            created(
                &admin,
                "/api/v1/records/visit",
                json!({"data": {"patient": p["id"], "visit_time": days_ago(days)}}),
            )
            .await;
        }
    }
    created(
        &admin,
        "/api/v1/roles",
        json!({"name": "front_desk", "permissions": [
            {"entity": "patient", "actions": ["read"], "fields": {"chronic_conditions": "hidden"}},
            {"entity": "visit", "actions": ["read"]}]}),
    )
    .await;
    created(
        &admin,
        "/api/v1/users",
        json!({"username": "desk_li", "password": "desk-password-1", "roles": ["front_desk"]}),
    )
    .await;
    let desk = server.login("desk_li", "desk-password-1").await;
    (admin, desk)
}

pub fn lapsed_6m() -> Value {
    json!({"name": "lapsed_6m", "label": {"zh": "半年未就诊", "en": "Not seen for 6 months"},
        "entity": "patient",
        "filters": {"not": {"exists": {"entity": "visit", "ref": "patient",
            "filters": {"field": "visit_time", "op": "last_n_days", "value": 182}}}}})
}

pub fn diabetic_lapsed() -> Value {
    json!({"name": "diabetic_lapsed", "entity": "patient",
        "filters": {"and": [
            {"field": "chronic_conditions", "op": "contains", "value": "diabetes"},
            {"not": {"exists": {"entity": "visit", "ref": "patient",
                "filters": {"field": "visit_time", "op": "last_n_days", "value": 91}}}}]}})
}

async fn member_names(session: &Session, segment: &str) -> (u16, Value, Vec<String>) {
    let (status, body) = status_and_body(
        session
            .get(&format!("/api/v1/segments/{segment}/members?sort=name"))
            .await,
    )
    .await;
    let mut names: Vec<String> = body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|r| r["data"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    (status, body, names)
}

async fn segments_list_their_exact_members(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, desk) = clinic(&server).await;
    let saved = created(&admin, "/api/v1/segments", lapsed_6m()).await;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["member_count"], 2, "{saved}");
    created(&admin, "/api/v1/segments", diabetic_lapsed()).await;

    let (status, page, names) = member_names(&admin, "lapsed_6m").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(names, ["丁", "丙"], "no visit in the last 182 days");
    assert_eq!(page["total"], 2);
    assert_eq!(page["page"], 1);
    let (_, _, names) = member_names(&admin, "diabetic_lapsed").await;
    assert_eq!(
        names,
        ["丙", "乙"],
        "diabetic, no visit in the last 91 days"
    );
    let got = json_of(admin.get("/api/v1/segments/diabetic_lapsed").await).await;
    assert_eq!(got["member_count"], 2);

    // The front desk sees the first segment's members, never the second's: its filter names
    // a field hidden from them.
    let (status, _, names) = member_names(&desk, "lapsed_6m").await;
    assert_eq!((status, names.len()), (200, 2));
    let (status, body, _) = member_names(&desk, "diabetic_lapsed").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["field"] == "chronic_conditions" && d["code"] == "field_hidden"),
        "{body}"
    );
    let got = json_of(desk.get("/api/v1/segments/diabetic_lapsed").await).await;
    assert_eq!(got["member_count"], Value::Null, "not counted for them");

    // The list holds both, by name; an unknown segment is a 404.
    let list = json_of(admin.get("/api/v1/segments").await).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["diabetic_lapsed", "lapsed_6m"]);
    assert_eq!(
        admin.get("/api/v1/segments/nope/members").await.status(),
        404
    );
}

async fn saving_segments_needs_design_and_follows_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, desk) = clinic(&server).await;
    let (status, _) = status_and_body(desk.post("/api/v1/segments", &lapsed_6m()).await).await;
    assert_eq!(status, 403, "saving needs design on the entity");

    let mut bad = lapsed_6m();
    bad["filters"] = json!({"field": "no_such_field", "op": "eq", "value": 1});
    let (status, body) = status_and_body(admin.post("/api/v1/segments", &bad).await).await;
    assert_eq!(status, 400, "{body}");
    let mut nested = lapsed_6m();
    nested["name"] = json!("nested");
    nested["filters"] = json!({"segment": "lapsed_6m"});
    let (status, body) = status_and_body(admin.post("/api/v1/segments", &nested).await).await;
    assert_eq!(status, 400, "a segment's filter names no segment: {body}");
    // A value of a sensitive field would be stored as plain text in the definition, readable
    // by every viewer of the entity: refused in a segment, in an `exists` sub-filter and in a
    // saved chart's ratio; an emptiness test holds no value and is kept.
    let mut by_id = lapsed_6m();
    by_id["name"] = json!("by_id");
    by_id["filters"] = json!({"field": "id_number", "op": "eq", "value": "11010519491231002X"});
    let (status, body) = status_and_body(admin.post("/api/v1/segments", &by_id).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "sensitive_value_saved");
    assert_eq!(body["error"]["details"][0]["field"], "id_number");
    assert!(!body.to_string().contains("11010519491231002X"));
    by_id["filters"] = json!({"field": "id_number", "op": "not_empty"});
    created(&admin, "/api/v1/segments", by_id).await;
    let ratio_by_id = json!({"name": "share_of_one", "spec": {"entity": "patient", "chart": "kpi",
        "measures": [{"agg": "ratio", "name": "one",
                      "filter": {"field": "id_number", "op": "in", "value": ["11010519491231002X"]}}]}});
    let (status, body) = status_and_body(admin.post("/api/v1/charts", &ratio_by_id).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "sensitive_value_saved");

    // A definition naming an unknown entity is a bad request, not a missing resource.
    let mut unknown_exists = lapsed_6m();
    unknown_exists["name"] = json!("unknown_exists");
    unknown_exists["filters"] = json!({"exists": {"entity": "no_such", "ref": "patient"}});
    let (status, body) =
        status_and_body(admin.post("/api/v1/segments", &unknown_exists).await).await;
    assert_eq!(status, 400, "{body}");
    let unknown_chart = json!({"name": "unknown_entity", "spec": {"entity": "no_such", "chart": "bar",
        "measures": [{"agg": "count"}]}});
    let (status, body) = status_and_body(admin.post("/api/v1/charts", &unknown_chart).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "unknown_entity");
    let (status, body) = status_and_body(
        admin
            .post("/api/v1/reports/query", &unknown_chart["spec"])
            .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let mut wrong_name = lapsed_6m();
    wrong_name["name"] = json!("Bad-Name");
    let (status, _) = status_and_body(admin.post("/api/v1/segments", &wrong_name).await).await;
    assert_eq!(status, 400);

    let first = created(&admin, "/api/v1/segments", lapsed_6m()).await;
    let (status, _) = status_and_body(admin.post("/api/v1/segments", &lapsed_6m()).await).await;
    assert_eq!(status, 409, "the name is taken");

    // A PUT of what GET answered changes nothing and answers the same version.
    let (status, same) =
        status_and_body(admin.put("/api/v1/segments/lapsed_6m", &first).await).await;
    assert_eq!((status, &same["version"]), (200, &json!(1)), "{same}");
    let mut changed = first.clone();
    changed["filters"]["not"]["exists"]["filters"]["value"] = json!(365);
    let (status, second) =
        status_and_body(admin.put("/api/v1/segments/lapsed_6m", &changed).await).await;
    assert_eq!((status, &second["version"]), (200, &json!(2)), "{second}");
    assert_eq!(second["member_count"], 1, "only 丙 has no visit in a year");
    // The body's stale version, then a stale If-Match, are refused.
    let (status, body) =
        status_and_body(admin.put("/api/v1/segments/lapsed_6m", &changed).await).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "version_conflict");
    let stale = admin
        .request(reqwest::Method::PUT, "/api/v1/segments/lapsed_6m")
        .header("If-Match", "\"1\"")
        .json(&lapsed_6m())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 409);
    // Deleted, then saved again: the name continues its version numbers.
    assert_eq!(
        admin
            .delete("/api/v1/segments/lapsed_6m", Some(1))
            .await
            .status(),
        409
    );
    assert_eq!(
        admin
            .delete("/api/v1/segments/lapsed_6m", Some(2))
            .await
            .status(),
        204
    );
    assert_eq!(admin.get("/api/v1/segments/lapsed_6m").await.status(), 404);
    let again = created(&admin, "/api/v1/segments", lapsed_6m()).await;
    assert_eq!(again["version"], 3);
}

async fn charts_filter_by_segments_under_the_viewers_rights(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, desk) = clinic(&server).await;
    created(&admin, "/api/v1/segments", lapsed_6m()).await;
    created(&admin, "/api/v1/segments", diabetic_lapsed()).await;
    let chart = json!({"name": "lapsed", "spec": {"entity": "patient", "chart": "kpi",
        "filters": {"segment": "diabetic_lapsed"},
        "measures": [{"agg": "count"},
                     {"agg": "ratio", "name": "lapsed_share", "filter": {"segment": "lapsed_6m"}}]}});
    created(&admin, "/api/v1/charts", chart).await;
    let data = json_of(admin.get("/api/v1/charts/lapsed/data").await).await;
    // 乙 and 丙 are diabetic and lapsed for 3 months; of them only 丙 for 6.
    assert_eq!(data["rows"][0][0], 2, "{data}");
    assert_eq!(data["rows"][0][1].as_f64(), Some(0.5), "{data}");

    // The front desk cannot see the conditions the segment filters on: the chart answers a
    // 400 naming the field, alone or in a dashboard.
    let (status, body) = status_and_body(desk.get("/api/v1/charts/lapsed/data").await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "chronic_conditions");
    created(
        &admin,
        "/api/v1/dashboards",
        json!({"name": "follow_up", "items": [{"chart": "lapsed"}]}),
    )
    .await;
    let board = json_of(desk.get("/api/v1/dashboards/follow_up/data").await).await;
    assert_eq!(
        board["charts"][0]["error"]["code"], "bad_request",
        "{board}"
    );
    assert!(board["charts"][0].get("data").is_none());

    // A segment on another entity than the chart's is refused on save.
    let wrong = json!({"name": "wrong", "spec": {"entity": "visit", "chart": "kpi",
        "filters": {"segment": "lapsed_6m"}, "measures": [{"agg": "count"}]}});
    let (status, body) = status_and_body(admin.post("/api/v1/charts", &wrong).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "segment_entity");
}

on_both_backends!(segments_list, segments_list_their_exact_members);
on_both_backends!(
    segments_in_charts,
    charts_filter_by_segments_under_the_viewers_rights
);
on_both_backends!(
    segment_saving,
    saving_segments_needs_design_and_follows_versions
);
