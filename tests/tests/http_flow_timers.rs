//! The post-op flow against the real server, on SQLite and PostgreSQL, its clock moved by the
//! `test-clock` feature: a step due at `surgery_date` + 3 days, 09:00 Beijing time, fires once
//! by the server's own worker loop, moves when `surgery_date` changes through the API and is
//! cancelled when the surgery is deleted.

use kangdao_engine::clock::TestClock;
use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use time::macros::datetime;

fn surgery_definition() -> Value {
    json!({"name": "surgery", "label": {"zh": "手术", "en": "Surgery"}, "fields": [
        {"name": "procedure", "type": "text", "required": true, "label": {"zh": "术式", "en": "Procedure"}},
        {"name": "surgery_date", "type": "datetime", "required": true, "label": {"zh": "手术时间", "en": "Surgery date"}},
        {"name": "stage", "type": "select", "label": {"zh": "阶段", "en": "Stage"},
         "options": [{"value": "done"}, {"value": "rehab_day_3"}]}]})
}

fn post_op_flow() -> Value {
    json!({"name": "post_op_day_3", "label": {"zh": "术后第3天康复提醒"}, "enabled": true,
        "trigger": {"type": "date_relative", "entity": "surgery", "field": "surgery_date",
                    "offset": {"days": 3}, "at": "09:00"},
        "nodes": [{"id": "mark", "type": "update_record", "set": {"stage": "rehab_day_3"}}],
        "edges": [{"from": "trigger", "to": "mark"}]})
}

async fn surgery(admin: &Session, name: &str, at: &str) -> (String, i64) {
    let answer = admin
        .post(
            "/api/v1/records/surgery",
            &json!({"data": {"procedure": name, "surgery_date": at, "stage": "done"}}),
        )
        .await;
    assert_eq!(answer.status(), 201);
    let body = json_of(answer).await;
    (
        body["id"].as_str().unwrap().to_string(),
        body["version"].as_i64().unwrap(),
    )
}

async fn stage(admin: &Session, id: &str) -> Value {
    let body = json_of(admin.get(&format!("/api/v1/records/surgery/{id}")).await).await;
    body["data"]["stage"].clone()
}

async fn runs_of(admin: &Session, id: &str) -> usize {
    let body = json_of(
        admin
            .get(&format!("/api/v1/flows/post_op_day_3/runs?record_id={id}"))
            .await,
    )
    .await;
    body["items"].as_array().unwrap().len()
}

/// Waits (wall time, the server's worker polling on its own) until `id` reaches `want`.
async fn until_stage(admin: &Session, id: &str, want: &str) {
    for _ in 0..200 {
        if stage(admin, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("surgery {id} never reached {want}");
}

/// Gives the worker loop (250 ms poll) time for a few rounds at the clock's new time.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

async fn post_op_step_fires_moves_and_is_cancelled(backend: Backend) {
    let clock = Arc::new(TestClock::new(datetime!(2026-11-24 09:30 +08:00)));
    let server = TestServer::start_with_clock(backend, clock.clone()).await;
    let admin = server.admin().await;
    let answer = admin.post("/api/v1/entities", &surgery_definition()).await;
    assert_eq!(answer.status(), 201);
    let answer = admin.post("/api/v1/flows", &post_op_flow()).await;
    assert_eq!(answer.status(), 201);

    // 23:30 Beijing time on the 24th: day 3 is the 27th, 09:00.
    let (fires, _) = surgery(&admin, "膝关节置换", "2026-11-24T23:30:00+08:00").await;
    let (moved, moved_version) = surgery(&admin, "胆囊切除", "2026-11-24T14:00:00+08:00").await;
    let (deleted, deleted_version) = surgery(&admin, "疝修补", "2026-11-24T15:00:00+08:00").await;

    // Minutes before: the sweep holds the timers as jobs; one surgery moves a day, one goes.
    clock.set(datetime!(2026-11-27 08:55 +08:00));
    settle().await;
    let answer = admin
        .patch(
            &format!("/api/v1/records/surgery/{moved}"),
            Some(moved_version),
            &json!({"data": {"surgery_date": "2026-11-25T14:00:00+08:00"}}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let answer = admin
        .delete(
            &format!("/api/v1/records/surgery/{deleted}"),
            Some(deleted_version),
        )
        .await;
    assert_eq!(answer.status(), 204);

    clock.set(datetime!(2026-11-27 08:59 +08:00));
    settle().await;
    assert_eq!(stage(&admin, &fires).await, "done", "not before 09:00");

    clock.set(datetime!(2026-11-27 09:00:30 +08:00));
    until_stage(&admin, &fires, "rehab_day_3").await;
    settle().await;
    assert_eq!(runs_of(&admin, &fires).await, 1);
    assert_eq!(
        stage(&admin, &moved).await,
        "done",
        "its day 3 moved to the 28th"
    );
    assert_eq!(runs_of(&admin, &moved).await, 0);
    assert_eq!(
        runs_of(&admin, &deleted).await,
        0,
        "a deleted surgery's step is cancelled"
    );

    clock.set(datetime!(2026-11-28 09:00:30 +08:00));
    until_stage(&admin, &moved, "rehab_day_3").await;

    // Days later nothing has fired twice.
    clock.set(datetime!(2026-12-05 09:00 +08:00));
    settle().await;
    assert_eq!(runs_of(&admin, &fires).await, 1);
    assert_eq!(runs_of(&admin, &moved).await, 1);
    assert_eq!(runs_of(&admin, &deleted).await, 0);
    server.stop().await;
}
on_both_backends!(
    post_op_step_fires_moves_and_is_cancelled_over_http,
    post_op_step_fires_moves_and_is_cancelled
);
