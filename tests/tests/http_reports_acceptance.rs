//! The report engine tried as a new user would, with plain HTTP calls on a small hospital whose
//! every number is counted by hand below: patients by department, new patients per month,
//! spend share by tier, a campaign funnel, this month's revisit rate beside last month's,
//! follow-up on-time rate by ward, the segments "not seen for 6 months" and "diabetic, not back
//! in 3 months", and a dashboard of four charts answering in one call, filtered by department.
//!
//! The server's clock stands at 30 June 2026, 23:45 Beijing time. Some rows sit on both sides of
//! a month's edge in Beijing time but not in UTC (a visit at 00:10 on 1 June is 16:10 UTC on 31
//! May): bucketing in UTC would move them and change the answers.

use kangdao_engine::clock::TestClock;
use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::macros::datetime;
use time::OffsetDateTime;

fn options(values: &[(&str, &str)]) -> Value {
    values
        .iter()
        .map(|(value, zh)| json!({"value": value, "label": {"zh": zh, "en": value}}))
        .collect()
}

fn entities() -> Vec<Value> {
    let dept = options(&[
        ("cardiology", "心内科"),
        ("endocrinology", "内分泌科"),
        ("orthopedics", "骨科"),
    ]);
    vec![
        json!({"name": "patient", "label": {"zh": "患者", "en": "Patient"}, "fields": [
            {"name": "name", "type": "text", "required": true, "label": {"zh": "姓名"}},
            {"name": "primary_dept", "type": "select", "label": {"zh": "科室"}, "options": dept},
            {"name": "source", "type": "select", "label": {"zh": "来源"},
             "options": options(&[("walk_in", "自然到院"), ("wechat", "微信"), ("referral", "转介绍")])},
            {"name": "tier", "type": "select", "label": {"zh": "等级"},
             "options": options(&[("normal", "普通"), ("VIP", "VIP")])},
            {"name": "total_spent", "type": "money", "label": {"zh": "累计消费"}},
            {"name": "chronic_conditions", "type": "multiselect", "label": {"zh": "慢病"},
             "options": options(&[("diabetes", "糖尿病"), ("hypertension", "高血压")])}]}),
        json!({"name": "visit", "label": {"zh": "就诊", "en": "Visit"}, "fields": [
            {"name": "patient", "type": "reference", "entity": "patient", "required": true, "label": {"zh": "患者"}},
            {"name": "dept", "type": "select", "label": {"zh": "科室"}, "options": dept},
            {"name": "visit_time", "type": "datetime", "required": true, "label": {"zh": "就诊时间"}},
            {"name": "return_visit", "type": "boolean", "label": {"zh": "复诊"}}]}),
        json!({"name": "follow_up", "label": {"zh": "随访", "en": "Follow-up"}, "fields": [
            {"name": "patient", "type": "reference", "entity": "patient", "label": {"zh": "患者"}},
            {"name": "ward", "type": "select", "label": {"zh": "病区"},
             "options": options(&[("north", "北病区"), ("south", "南病区")])},
            {"name": "done_on_time", "type": "boolean", "label": {"zh": "按时完成"}}]}),
        json!({"name": "campaign_member", "label": {"zh": "活动成员", "en": "Campaign member"}, "fields": [
            {"name": "patient", "type": "reference", "entity": "patient", "label": {"zh": "患者"}},
            {"name": "sent_at", "type": "datetime", "label": {"zh": "发送时间"}},
            {"name": "opened_at", "type": "datetime", "label": {"zh": "打开时间"}},
            {"name": "registered_at", "type": "datetime", "label": {"zh": "报名时间"}},
            {"name": "visited_at", "type": "datetime", "label": {"zh": "到院时间"}}]}),
    ]
}

async fn create(admin: &Session, entity: &str, data: Value) -> String {
    let answer = admin
        .post(&format!("/api/v1/records/{entity}"), &json!({"data": data}))
        .await;
    assert_eq!(answer.status(), 201, "create {entity}");
    json_of(answer).await["id"].as_str().unwrap().to_string()
}

/// A patient created at `at` (their `created_at`, read from the server's clock).
struct Patient {
    key: &'static str,
    name: &'static str,
    dept: &'static str,
    source: &'static str,
    tier: &'static str,
    spent: f64,
    diabetic: bool,
    at: OffsetDateTime,
}

// One patient per line, as a table: the hand counts below are read off it.
#[rustfmt::skip]
fn patients() -> Vec<Patient> {
    let p = |key, name, dept, source, tier, spent, diabetic, at| Patient {
        key,
        name,
        dept,
        source,
        tier,
        spent,
        diabetic,
        at,
    };
    vec![
        p("p1", "张伟", "cardiology", "wechat", "VIP", 8000.0, false, datetime!(2026-01-10 10:00 +08:00)),
        // 23:30 on 31 March in Beijing: a March patient.
        p("p2", "王芳", "cardiology", "walk_in", "normal", 1200.0, true, datetime!(2026-03-31 23:30 +08:00)),
        // 00:30 on 1 April in Beijing is still 31 March in UTC: an April patient.
        p("p3", "李娜", "endocrinology", "referral", "normal", 300.0, true, datetime!(2026-04-01 00:30 +08:00)),
        p("p4", "刘洋", "orthopedics", "wechat", "VIP", 6000.0, false, datetime!(2026-05-20 09:00 +08:00)),
        p("p5", "陈静", "cardiology", "referral", "normal", 0.0, false, datetime!(2026-06-02 09:00 +08:00)),
        p("p6", "杨磊", "endocrinology", "wechat", "normal", 2500.0, true, datetime!(2026-06-10 09:00 +08:00)),
        p("p7", "赵敏", "orthopedics", "walk_in", "normal", 100.0, false, datetime!(2026-01-05 09:00 +08:00)),
        p("p8", "黄强", "endocrinology", "referral", "VIP", 3000.0, true, datetime!(2026-03-02 09:00 +08:00)),
    ]
}

/// (patient, department, visit time, a return visit)
const VISITS: [(&str, &str, &str, bool); 9] = [
    ("p1", "cardiology", "2026-06-03T10:00:00+08:00", true),
    ("p2", "cardiology", "2026-06-05T10:00:00+08:00", false),
    ("p5", "cardiology", "2026-06-30T23:30:00+08:00", true),
    // 16:10 UTC on 31 May, a June visit in Beijing.
    ("p3", "endocrinology", "2026-06-01T00:10:00+08:00", false),
    ("p4", "orthopedics", "2026-05-10T10:00:00+08:00", true),
    ("p1", "cardiology", "2026-05-31T23:50:00+08:00", false),
    ("p2", "cardiology", "2026-05-15T10:00:00+08:00", false),
    ("p6", "endocrinology", "2025-11-01T10:00:00+08:00", false),
    ("p8", "endocrinology", "2026-02-15T10:00:00+08:00", false),
];

struct Hospital {
    server: TestServer,
    admin: Session,
    /// Patient keys (`p1`…) by record id.
    keys: std::collections::BTreeMap<String, &'static str>,
}

async fn hospital(backend: Backend) -> Hospital {
    let clock = Arc::new(TestClock::new(datetime!(2026-01-01 08:00 +08:00)));
    let server = TestServer::start_with_clock(backend, clock.clone()).await;
    let admin = server.admin().await;
    for definition in entities() {
        let answer = admin.post("/api/v1/entities", &definition).await;
        assert_eq!(answer.status(), 201, "{}", definition["name"]);
    }
    let mut ids = std::collections::BTreeMap::new();
    let mut keys = std::collections::BTreeMap::new();
    for p in patients() {
        clock.set(p.at);
        let conditions: Vec<&str> = if p.diabetic { vec!["diabetes"] } else { vec![] };
        let id = create(
            &admin,
            "patient",
            json!({"name": p.name, "primary_dept": p.dept, "source": p.source, "tier": p.tier,
                   "total_spent": p.spent, "chronic_conditions": conditions}),
        )
        .await;
        keys.insert(id.clone(), p.key);
        ids.insert(p.key, id);
    }
    clock.set(datetime!(2026-06-30 23:45 +08:00));
    for (patient, dept, at, return_visit) in VISITS {
        create(
            &admin,
            "visit",
            json!({"patient": ids[patient], "dept": dept, "visit_time": at, "return_visit": return_visit}),
        )
        .await;
    }
    for (ward, on_time) in [
        ("north", true),
        ("north", true),
        ("north", false),
        ("south", true),
        ("south", false),
        ("south", false),
        ("south", false),
    ] {
        create(
            &admin,
            "follow_up",
            json!({"patient": ids["p1"], "ward": ward, "done_on_time": on_time}),
        )
        .await;
    }
    // Five members: four sent, three of them opened, two registered, one visited; the fifth
    // opened a forwarded message without being sent one, so the funnel does not count it.
    let t = "2026-06-20T10:00:00+08:00";
    for (patient, sent, opened, registered, visited) in [
        ("p1", true, true, true, true),
        ("p2", true, true, true, false),
        ("p3", true, true, false, false),
        ("p4", true, false, false, false),
        ("p5", false, true, false, false),
    ] {
        let at = |yes: bool| if yes { json!(t) } else { Value::Null };
        create(
            &admin,
            "campaign_member",
            json!({"patient": ids[patient], "sent_at": at(sent), "opened_at": at(opened),
                   "registered_at": at(registered), "visited_at": at(visited)}),
        )
        .await;
    }
    Hospital {
        server,
        admin,
        keys,
    }
}

async fn query(admin: &Session, spec: Value) -> Value {
    let answer = admin.post("/api/v1/reports/query", &spec).await;
    assert_eq!(answer.status(), 200, "{spec}");
    json_of(answer).await
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-4)
}

fn assert_close(actual: &Value, expected: f64, what: &str) {
    assert!(close(actual, expected), "{what}: {actual} ≠ {expected}");
}

fn names(answer: &Value) -> Vec<String> {
    answer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn patients_by_dept() -> Value {
    json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "primary_dept"}],
           "measures": [{"agg": "count"}], "sort": [{"by": "count", "dir": "desc"}]})
}

fn new_patients_per_month() -> Value {
    json!({"entity": "patient", "chart": "line",
           "dimensions": [{"field": "created_at", "bucket": "month"}], "measures": [{"agg": "count"}]})
}

fn spend_by_tier() -> Value {
    json!({"entity": "patient", "chart": "pie", "dimensions": [{"field": "tier"}],
           "measures": [{"agg": "sum", "field": "total_spent"}]})
}

fn revisit_rate() -> Value {
    json!({"entity": "visit", "chart": "kpi",
           "measures": [{"agg": "ratio", "name": "revisit_rate",
                         "filter": {"field": "return_visit", "op": "eq", "value": true}}],
           "period": {"field": "visit_time", "op": "this_month"},
           "compare": ["previous_period"]})
}

async fn the_hospitals_charts_give_the_counted_answers(backend: Backend) {
    let h = hospital(backend).await;
    let admin = &h.admin;

    let by_dept = query(admin, patients_by_dept()).await;
    assert_eq!(names(&by_dept), ["primary_dept", "count"]);
    assert_eq!(
        by_dept["rows"],
        json!([["cardiology", 3], ["endocrinology", 3], ["orthopedics", 2]])
    );
    assert_eq!(by_dept["labels"]["primary_dept"]["cardiology"], "心内科");

    // February has no new patient and is answered as 0; 31 March 23:30 counts in March and 1
    // April 00:30 in April.
    let per_month = query(admin, new_patients_per_month()).await;
    assert_eq!(
        per_month["rows"],
        json!([
            ["2026-01-01", 2],
            ["2026-02-01", 0],
            ["2026-03-01", 2],
            ["2026-04-01", 1],
            ["2026-05-01", 1],
            ["2026-06-01", 2]
        ])
    );
    assert_eq!(per_month["columns"][0]["type"], "date");

    let by_tier = query(admin, spend_by_tier()).await;
    let rows = by_tier["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_tier}");
    for row in rows {
        match row[0].as_str() {
            Some("VIP") => assert_close(&row[1], 17000.0, "VIP spend"),
            Some("normal") => assert_close(&row[1], 4100.0, "normal spend"),
            other => panic!("unexpected tier {other:?}"),
        }
    }

    // June (Beijing): 3 Jun ✓, 5 Jun ✗, 30 Jun 23:30 ✓, 1 Jun 00:10 ✗ → 2/4. May: 10 May ✓,
    // 31 May 23:50 ✗, 15 May ✗ → 1/3.
    let kpi = query(admin, revisit_rate()).await;
    assert_close(&kpi["rows"][0][0], 0.5, "June revisit rate");
    assert_eq!(
        kpi["period"],
        json!({"from": "2026-06-01", "to": "2026-06-30"})
    );
    let previous = &kpi["comparisons"][0];
    assert_eq!(previous["compare"], "previous_period");
    assert_eq!(previous["from"], "2026-05-01");
    assert_eq!(previous["to"], "2026-05-31");
    assert_close(&previous["values"][0], 1.0 / 3.0, "May revisit rate");
    assert_close(&previous["change"][0], 0.5 - 1.0 / 3.0, "change");
    assert_close(&previous["change_ratio"][0], 0.5, "change ratio");

    let on_time = query(
        admin,
        json!({"entity": "follow_up", "chart": "bar", "dimensions": [{"field": "ward"}],
               "measures": [{"agg": "ratio", "name": "on_time",
                             "filter": {"field": "done_on_time", "op": "eq", "value": true}}]}),
    )
    .await;
    assert_eq!(names(&on_time), ["ward", "on_time"]);
    assert_eq!(on_time["rows"][0][0], "north");
    assert_close(&on_time["rows"][0][1], 2.0 / 3.0, "north on time");
    assert_eq!(on_time["rows"][1][0], "south");
    assert_close(&on_time["rows"][1][1], 0.25, "south on time");

    let funnel = query(
        admin,
        json!({"entity": "campaign_member", "chart": "funnel", "measures": [{"agg": "count"}],
               "stages": [
                   {"name": "targeted", "label": {"zh": "目标", "en": "Targeted"}},
                   {"name": "sent", "filter": {"field": "sent_at", "op": "not_empty"}},
                   {"name": "opened", "filter": {"field": "opened_at", "op": "not_empty"}},
                   {"name": "registered", "filter": {"field": "registered_at", "op": "not_empty"}},
                   {"name": "visited", "filter": {"field": "visited_at", "op": "not_empty"}}]}),
    )
    .await;
    assert_eq!(names(&funnel), ["stage", "count", "conversion", "overall"]);
    let expected = [
        ("targeted", 5, None, 1.0),
        ("sent", 4, Some(0.8), 0.8),
        ("opened", 3, Some(0.75), 0.6),
        ("registered", 2, Some(2.0 / 3.0), 0.4),
        ("visited", 1, Some(0.5), 0.2),
    ];
    for (row, (stage, count, conversion, overall)) in
        funnel["rows"].as_array().unwrap().iter().zip(expected)
    {
        assert_eq!(row[0], stage);
        assert_eq!(row[1], count, "{stage}");
        match conversion {
            Some(c) => assert_close(&row[2], c, stage),
            None => assert!(row[2].is_null(), "{stage}: {row}"),
        }
        assert_close(&row[3], overall, stage);
    }
    assert_eq!(funnel["rows"].as_array().unwrap().len(), 5);
    assert_eq!(funnel["labels"]["stage"]["targeted"], "目标");
    h.server.stop().await;
}

async fn members(admin: &Session, h: &Hospital, segment: &str) -> BTreeSet<&'static str> {
    let answer = admin
        .get(&format!("/api/v1/segments/{segment}/members?per_page=100"))
        .await;
    assert_eq!(answer.status(), 200);
    let body = json_of(answer).await;
    assert_eq!(
        body["total"].as_u64().unwrap() as usize,
        body["items"].as_array().unwrap().len()
    );
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| h.keys[item["id"].as_str().unwrap()])
        .collect()
}

async fn segments_and_a_dashboard_filtered_by_department(backend: Backend) {
    let h = hospital(backend).await;
    let admin = &h.admin;

    let not_seen = json!({"name": "not_seen_6m", "label": {"zh": "半年未就诊"}, "entity": "patient",
        "filters": {"not": {"exists": {"entity": "visit", "ref": "patient",
            "filters": {"field": "visit_time", "op": "last_n_days", "value": 182}}}}});
    assert_eq!(
        admin.post("/api/v1/segments", &not_seen).await.status(),
        201
    );
    let lapsed_diabetic = json!({"name": "diabetic_lapsed_3m", "label": {"zh": "糖尿病三个月未复诊"},
        "entity": "patient", "filters": {"and": [
            {"field": "chronic_conditions", "op": "contains", "value": "diabetes"},
            {"not": {"exists": {"entity": "visit", "ref": "patient",
                "filters": {"field": "visit_time", "op": "last_n_days", "value": 91}}}}]}});
    assert_eq!(
        admin
            .post("/api/v1/segments", &lapsed_diabetic)
            .await
            .status(),
        201
    );
    // p6 was last seen in November 2025 and p7 never; p8 came in February, within six months.
    assert_eq!(
        members(admin, &h, "not_seen_6m").await,
        BTreeSet::from(["p6", "p7"])
    );
    // Diabetic: p2 and p3 came in June, p6 in November, p8 in February.
    assert_eq!(
        members(admin, &h, "diabetic_lapsed_3m").await,
        BTreeSet::from(["p6", "p8"])
    );
    let segment = json_of(admin.get("/api/v1/segments/not_seen_6m").await).await;
    assert_eq!(segment["member_count"], 2);
    // A segment as a chart's filter: its members by department.
    let lapsed_by_dept = query(
        admin,
        json!({"entity": "patient", "chart": "bar", "dimensions": [{"field": "primary_dept"}],
               "measures": [{"agg": "count"}], "filters": {"segment": "not_seen_6m"}}),
    )
    .await;
    assert_eq!(
        lapsed_by_dept["rows"],
        json!([["endocrinology", 1], ["orthopedics", 1]])
    );

    for (name, spec) in [
        ("patients_by_dept", patients_by_dept()),
        ("new_patients", new_patients_per_month()),
        ("spend_by_tier", spend_by_tier()),
        ("revisit_rate", revisit_rate()),
    ] {
        let answer = admin
            .post(
                "/api/v1/charts",
                &json!({"name": name, "label": {"zh": name}, "spec": spec}),
            )
            .await;
        assert_eq!(answer.status(), 201, "{name}");
    }
    let dashboard = json!({"name": "operations", "label": {"zh": "运营总览", "en": "Operations"},
        "filters": [{"param": "dept", "fields": {"patients_by_dept": "primary_dept",
            "new_patients": "primary_dept", "spend_by_tier": "primary_dept", "revisit_rate": "dept"}}],
        "items": [{"chart": "patients_by_dept", "x": 0, "y": 0, "w": 6, "h": 4},
                  {"chart": "new_patients", "x": 6, "y": 0, "w": 6, "h": 4},
                  {"chart": "spend_by_tier", "x": 0, "y": 4, "w": 6, "h": 4},
                  {"chart": "revisit_rate", "x": 6, "y": 4, "w": 6, "h": 4}]});
    assert_eq!(
        admin.post("/api/v1/dashboards", &dashboard).await.status(),
        201
    );
    let answer = admin
        .get("/api/v1/dashboards/operations/data?dept=cardiology")
        .await;
    assert_eq!(answer.status(), 200);
    let data = json_of(answer).await;
    let charts = data["charts"].as_array().unwrap();
    let chart_names: Vec<&str> = charts.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        chart_names,
        [
            "patients_by_dept",
            "new_patients",
            "spend_by_tier",
            "revisit_rate"
        ]
    );
    // Cardiology: p1 (January, VIP 8000), p2 (March, 1200), p5 (June, 0).
    assert_eq!(charts[0]["data"]["rows"], json!([["cardiology", 3]]));
    assert_eq!(
        charts[1]["data"]["rows"],
        json!([
            ["2026-01-01", 1],
            ["2026-02-01", 0],
            ["2026-03-01", 1],
            ["2026-04-01", 0],
            ["2026-05-01", 0],
            ["2026-06-01", 1]
        ])
    );
    for row in charts[2]["data"]["rows"].as_array().unwrap() {
        match row[0].as_str() {
            Some("VIP") => assert_close(&row[1], 8000.0, "cardiology VIP"),
            Some("normal") => assert_close(&row[1], 1200.0, "cardiology normal"),
            other => panic!("unexpected tier {other:?}"),
        }
    }
    // Cardiology visits: June 3 ✓, 5 ✗, 30 ✓ → 2/3; May 31 ✗, 15 ✗ → 0.
    let kpi = &charts[3]["data"];
    assert_close(&kpi["rows"][0][0], 2.0 / 3.0, "cardiology June");
    assert_close(&kpi["comparisons"][0]["values"][0], 0.0, "cardiology May");
    assert!(kpi["comparisons"][0]["change_ratio"][0].is_null());
    h.server.stop().await;
}

on_both_backends!(
    charts_answer_the_counted_numbers,
    the_hospitals_charts_give_the_counted_answers
);
on_both_backends!(
    segments_and_a_filtered_dashboard,
    segments_and_a_dashboard_filtered_by_department
);
