//! List totals that never cost more than the page: the exact `total` up to the counting bound,
//! `total_estimate` past it, `?count=exact` and `?count=false` on request, and no new way
//! around field rules or read rights — on SQLite and PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};

/// The bound DESIGN.md's "past a bound, documented" refers to (docs/api.md).
const BOUND: u64 = 1000;
const PATIENTS: usize = 1100;
/// Patients 0‥1049 are VIP; patient `i` has spent `i` yuan; every eleventh is in orthopedics.
const VIPS: usize = 1050;

fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn list_path(filter: &Value, extra: &str) -> String {
    format!(
        "/api/v1/records/patient?filter={}{extra}",
        enc(&filter.to_string())
    )
}

/// The patient entity with `PATIENTS` patients, imported in one request.
async fn hospital(server: &TestServer) -> Session {
    let admin = server.admin().await;
    let response = admin.post("/api/v1/entities", &patient_definition()).await;
    assert_eq!(response.status(), 201);
    let mut csv = String::from("name,mrn,dept,tier,total_spent\n");
    for i in 0..PATIENTS {
        let dept = if i % 11 == 0 {
            "orthopedics"
        } else {
            "cardiology"
        };
        let tier = if i < VIPS { "VIP" } else { "normal" };
        csv.push_str(&format!("患者{i},M{i:05},{dept},{tier},{i}\n"));
    }
    let response = admin
        .request(
            reqwest::Method::POST,
            "/api/v1/records/patient/import?dry_run=false",
        )
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["imported"], PATIENTS);
    admin
}

/// `(total, total_estimate)` of a list answer, after checking it is a 200.
async fn totals(response: Answer) -> (Option<u64>, Option<u64>) {
    assert_eq!(response.status(), 200);
    let page = json_of(response).await;
    (page["total"].as_u64(), page["total_estimate"].as_u64())
}

fn vip_spending_over(yuan: u64) -> Value {
    json!({"and": [{"field": "tier", "op": "eq", "value": "VIP"},
                   {"field": "total_spent", "op": "gt", "value": yuan}]})
}

async fn totals_bounded_estimated_and_exact(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = hospital(&server).await;

    // Few matches: the exact total, no estimate.
    let orthopedics = json!({"field": "dept", "op": "eq", "value": "orthopedics"});
    assert_eq!(
        totals(admin.get(&list_path(&orthopedics, "")).await).await,
        (Some(100), None)
    );
    // Exactly the bound is still counted; one more is estimated.
    let first_thousand = json!({"field": "total_spent", "op": "lt", "value": 1000});
    assert_eq!(
        totals(admin.get(&list_path(&first_thousand, "")).await).await,
        (Some(BOUND), None)
    );
    let first_thousand_and_one = json!({"field": "total_spent", "op": "lte", "value": 1000});
    let (total, estimate) = totals(admin.get(&list_path(&first_thousand_and_one, "")).await).await;
    assert_eq!(total, None);
    assert!(estimate.is_some_and(|n| n > BOUND), "{estimate:?}");

    // The list: VIP, spent over 20 yuan, newest first.
    let vip = vip_spending_over(20);
    let truth = (21..VIPS).count() as u64;
    let answer = admin
        .get(&list_path(&vip, "&sort=-created_at&per_page=50"))
        .await;
    assert_eq!(answer.status(), 200);
    let page = json_of(answer).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(50));
    assert!(page.get("total").is_none(), "{}", page["total"]);
    let estimate = page["total_estimate"].as_u64().expect("total_estimate");
    assert!(estimate > BOUND, "{estimate}");
    match backend {
        // A full count on a fresh cache: the truth.
        Backend::Sqlite => assert_eq!(estimate, truth),
        // The planner's estimate after the import refreshed the statistics.
        Backend::Postgres => assert!(
            estimate >= truth / 2 && estimate <= truth * 2,
            "{estimate} vs {truth}"
        ),
    }
    assert_eq!(
        totals(admin.get(&list_path(&vip, "&count=true")).await).await,
        (None, Some(estimate))
    );
    // The exact figure on request, however large.
    assert_eq!(
        totals(admin.get(&list_path(&vip, "&count=exact")).await).await,
        (Some(truth), None)
    );
    assert_eq!(
        totals(admin.get("/api/v1/records/patient?count=exact").await).await,
        (Some(PATIENTS as u64), None)
    );
    // Neither, when the caller does not ask.
    for no in ["false", "0"] {
        assert_eq!(
            totals(admin.get(&list_path(&vip, &format!("&count={no}"))).await).await,
            (None, None)
        );
    }
    // Anything else is a 400 naming the parameter.
    for bogus in ["bogus", "EXACT", "", "2"] {
        let response = admin
            .get(&format!("/api/v1/records/patient?count={bogus}"))
            .await;
        assert_eq!(response.status(), 400, "count={bogus}");
        let body = json_of(response).await;
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(body["error"]["details"][0]["field"], "count", "{body}");
    }

    // The recycle bin lists through the same path.
    let first = json_of(admin.get(&list_path(&orthopedics, "&per_page=2")).await).await;
    for record in first["items"].as_array().unwrap() {
        let path = format!("/api/v1/records/patient/{}", record["id"].as_str().unwrap());
        assert_eq!(admin.delete(&path, Some(1)).await.status(), 204);
    }
    assert_eq!(
        totals(admin.get("/api/v1/records/patient?deleted=true").await).await,
        (Some(2), None)
    );
    assert_eq!(
        totals(
            admin
                .get("/api/v1/records/patient?deleted=true&count=false")
                .await
        )
        .await,
        (None, None)
    );
    assert_eq!(
        totals(admin.get(&list_path(&orthopedics, "")).await).await,
        (Some(98), None)
    );
    server.stop().await;
}
on_both_backends!(
    totals_are_exact_under_the_bound_and_estimated_past_it,
    totals_bounded_estimated_and_exact
);

async fn estimates_keep_the_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = hospital(&server).await;
    let visit = json!({"name": "visit", "fields": [
        {"name": "patient", "type": "reference", "entity": "patient"}]});
    assert_eq!(admin.post("/api/v1/entities", &visit).await.status(), 201);
    let roles = [
        json!({"name": "front_desk", "permissions": [
            {"entity": "patient", "actions": ["read"], "fields": {"total_spent": "hidden"}}]}),
        json!({"name": "visit_clerk", "permissions": [
            {"entity": "visit", "actions": ["read"]}]}),
    ];
    for role in &roles {
        assert_eq!(admin.post("/api/v1/roles", role).await.status(), 201);
    }
    for (user, role) in [("desk_li", "front_desk"), ("clerk_wang", "visit_clerk")] {
        let body = json!({"username": user, "password": "a-password-123", "roles": [role]});
        assert_eq!(admin.post("/api/v1/users", &body).await.status(), 201);
    }
    let desk = server.login("desk_li", "a-password-123").await;
    let clerk = server.login("clerk_wang", "a-password-123").await;

    // A filter naming a hidden field is refused before anything is counted, however the
    // caller asks for the total: the estimate is no probe of the hidden field.
    let vip = vip_spending_over(20);
    for count in ["", "&count=true", "&count=exact", "&count=false"] {
        let response = desk.get(&list_path(&vip, count)).await;
        assert_eq!(response.status(), 400, "count {count:?}");
        let body = json_of(response).await;
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(
            body["error"]["details"][0]["field"], "total_spent",
            "{body}"
        );
    }
    let response = desk
        .get("/api/v1/records/patient?sort=-total_spent&count=exact")
        .await;
    assert_eq!(response.status(), 400);
    // The fields the front desk sees are counted and estimated as for anyone.
    let vips = json!({"field": "tier", "op": "eq", "value": "VIP"});
    let (total, estimate) = totals(desk.get(&list_path(&vips, "")).await).await;
    assert_eq!(total, None);
    assert!(estimate.is_some_and(|n| n > BOUND), "{estimate:?}");
    assert_eq!(
        totals(desk.get(&list_path(&vips, "&count=exact")).await).await,
        (Some(VIPS as u64), None)
    );

    // Out of scope as before: no read right is a 403, no delete right no recycle bin, an
    // unknown entity a 404 — whatever `count` asks.
    for count in ["", "&count=exact", "&count=false"] {
        let response = clerk
            .get(&format!("/api/v1/records/patient?per_page=1{count}"))
            .await;
        assert_eq!(response.status(), 403, "count {count:?}");
        assert_eq!(json_of(response).await["error"]["code"], "forbidden");
        let response = desk
            .get(&format!("/api/v1/records/patient?deleted=true{count}"))
            .await;
        assert_eq!(response.status(), 403, "count {count:?}");
        let response = admin
            .get(&format!("/api/v1/records/no_such_entity?per_page=1{count}"))
            .await;
        assert_eq!(response.status(), 404, "count {count:?}");
    }
    server.stop().await;
}
on_both_backends!(
    hidden_fields_and_read_rights_hold_past_the_bound,
    estimates_keep_the_rules
);
