//! Tasks, approvals and manual runs against the real server, on SQLite and on PostgreSQL:
//! the task views and their rights, completing a task, the rules of a task on every write; an
//! approval waits for its task and takes the chosen edge (or `timeout` when its time passes, on
//! a test clock); a manual flow starts on a record its caller may update.

use kangdao_engine::clock::TestClock;
use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

async fn status_and_body(response: Answer) -> (u16, Value) {
    let status = response.status().as_u16();
    if status == 204 {
        return (status, Value::Null);
    }
    (status, json_of(response).await)
}

async fn get(session: &Session, path: &str) -> Value {
    let (status, body) = status_and_body(session.get(path).await).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn post(session: &Session, path: &str, body: &Value, want: u16) -> Value {
    let (status, answer) = status_and_body(session.post(path, body).await).await;
    assert_eq!(status, want, "{path}: {answer}");
    answer
}

/// A patient entity with a tags field, a role `nurse` that reads patients (no grant on
/// `task`), and the users the scenarios act as.
async fn setup(server: &TestServer) -> (Session, Value) {
    let admin = server.admin().await;
    let mut def = patient_definition();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "labels", "type": "tags", "label": {"zh": "标签", "en": "Labels"}}));
    post(&admin, "/api/v1/entities", &def, 201).await;
    let note = json!({"name": "secret_note", "label": {"zh": "机密备注", "en": "Secret note"},
        "fields": [{"name": "text", "type": "text", "label": {"zh": "内容", "en": "Text"}}]});
    post(&admin, "/api/v1/entities", &note, 201).await;
    let roles = [
        json!({"name": "nurse", "permissions": [{"entity": "patient", "actions": ["read"]}]}),
        json!({"name": "doctor", "permissions": [{"entity": "patient", "actions": ["read"]}]}),
        json!({"name": "task_viewer", "permissions": [
            {"entity": "task", "actions": ["read"], "fields": {"description": "hidden"}}]}),
        json!({"name": "clerk", "permissions": [{"entity": "patient", "actions": ["read", "update"]}]}),
    ];
    for role in roles {
        post(&admin, "/api/v1/roles", &role, 201).await;
    }
    let mut ids = serde_json::Map::new();
    for (name, roles) in [
        ("nurse_wang", json!(["nurse"])),
        ("head_nurse", json!(["nurse", "task_viewer"])),
        ("clerk_sun", json!(["clerk"])),
    ] {
        let user = post(
            &admin,
            "/api/v1/users",
            &json!({"username": name, "password": "staff-password-1", "roles": roles}),
            201,
        )
        .await;
        ids.insert(name.into(), user["id"].clone());
    }
    (admin, Value::Object(ids))
}

async fn create(session: &Session, entity: &str, data: Value) -> Value {
    post(
        session,
        &format!("/api/v1/records/{entity}"),
        &json!({"data": data}),
        201,
    )
    .await
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["data"]["title"].as_str().unwrap().to_string())
        .collect()
}

async fn task_views_and_completion(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, users) = setup(&server).await;
    let wang = users["nurse_wang"].as_str().unwrap();
    let patient = create(&admin, "patient", json!({"name": "张三"})).await;
    let note = create(&admin, "secret_note", json!({"text": "x"})).await;
    let about_patient = json!({"entity": "patient", "id": patient["id"]});
    let about_note = json!({"entity": "secret_note", "id": note["id"]});

    create(
        &admin,
        "task",
        json!({"title": "mine late", "assignee_user": wang,
        "due_at": "2020-01-01T09:00:00+08:00", "description": "早已过期"}),
    )
    .await;
    create(
        &admin,
        "task",
        json!({"title": "mine later", "assignee_user": wang,
        "due_at": "2099-01-01T09:00:00+08:00"}),
    )
    .await;
    create(
        &admin,
        "task",
        json!({"title": "role patient", "assignee_role": "nurse",
        "subject": about_patient, "due_at": "2098-01-01T09:00:00+08:00"}),
    )
    .await;
    create(
        &admin,
        "task",
        json!({"title": "role late", "assignee_role": "nurse",
        "due_at": "2021-01-01T09:00:00+08:00"}),
    )
    .await;
    create(
        &admin,
        "task",
        json!({"title": "role secret", "assignee_role": "nurse", "subject": about_note}),
    )
    .await;
    create(
        &admin,
        "task",
        json!({"title": "doctors", "assignee_role": "doctor"}),
    )
    .await;
    let vote = create(
        &admin,
        "task",
        json!({"title": "vote", "assignee_user": wang,
        "outcomes": ["yes", "no"]}),
    )
    .await;

    // Exactly one assignee, on every path that writes a task.
    for data in [
        json!({"title": "nobody"}),
        json!({"title": "both", "assignee_user": wang, "assignee_role": "nurse"}),
    ] {
        let (status, body) = status_and_body(
            admin
                .post("/api/v1/records/task", &json!({"data": data}))
                .await,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            body["error"]["details"][0]["code"], "one_assignee",
            "{body}"
        );
    }

    let nurse = server.login("nurse_wang", "staff-password-1").await;
    let mine = get(&nurse, "/api/v1/tasks?view=mine").await;
    assert_eq!(
        titles(&mine),
        ["mine late", "mine later", "vote"],
        "due first, undated last"
    );
    assert_eq!(
        mine["items"][0]["data"]["description"], "早已过期",
        "no grant on task: plain read"
    );
    let role = get(&nurse, "/api/v1/tasks?view=role").await;
    assert_eq!(
        titles(&role),
        ["role late", "role patient"],
        "not another role's, nor one about a record the nurse may not read"
    );
    let overdue = get(&nurse, "/api/v1/tasks?view=overdue&status=open").await;
    assert_eq!(titles(&overdue), ["mine late", "role late"]);
    let (status, _) = status_and_body(nurse.get("/api/v1/tasks?view=all").await).await;
    assert_eq!(status, 403, "all needs read on task");
    let (status, _) = status_and_body(nurse.get("/api/v1/tasks?view=someone").await).await;
    assert_eq!(status, 400);

    // A grant on task shapes the views as it shapes record lists.
    let head = server.login("head_nurse", "staff-password-1").await;
    let all = get(&head, "/api/v1/tasks?view=all").await;
    assert_eq!(all["total"], 7, "{all}");
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["data"].get("description").is_none()));
    let role = get(&head, "/api/v1/tasks?view=role").await;
    assert_eq!(titles(&role), ["role late", "role patient"]);

    // Completing: an outcome from the list, once, by the assignee.
    let path = format!("/api/v1/tasks/{}/complete", vote["id"].as_str().unwrap());
    let clerk = server.login("clerk_sun", "staff-password-1").await;
    let (status, _) = status_and_body(clerk.post(&path, &json!({"outcome": "yes"})).await).await;
    assert_eq!(
        status, 404,
        "not the clerk's task, and the clerk may not read tasks"
    );
    let (status, body) =
        status_and_body(nurse.post(&path, &json!({"outcome": "maybe"})).await).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "outcome");
    let done = post(
        &nurse,
        &path,
        &json!({"outcome": "yes", "comment": "同意"}),
        200,
    )
    .await;
    assert_eq!(done["data"]["status"], "done");
    assert_eq!(done["data"]["outcome"], "yes");
    assert_eq!(done["data"]["comment"], "同意");
    assert_eq!(done["data"]["completed_by"], wang);
    assert!(done["data"]["completed_at"].is_string());
    assert_eq!(done["updated_by"], wang, "the completer acts as themselves");
    let (status, _) = status_and_body(nurse.post(&path, &json!({"outcome": "no"})).await).await;
    assert_eq!(status, 409, "not open any more");
    let audit = get(&admin, "/api/v1/audit?action=task.complete").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");

    // A member of the assigned role completes a role task; a PATCH to done is held to the
    // same rules and stamped the same way.
    let role_task = &get(&nurse, "/api/v1/tasks?view=role").await["items"][1];
    let path = format!(
        "/api/v1/tasks/{}/complete",
        role_task["id"].as_str().unwrap()
    );
    post(&nurse, &path, &json!({}), 200).await;
    let other = create(
        &admin,
        "task",
        json!({"title": "patched", "assignee_role": "doctor",
        "outcomes": ["ok"]}),
    )
    .await;
    let record = format!("/api/v1/records/task/{}", other["id"].as_str().unwrap());
    let (status, body) = status_and_body(
        admin
            .patch(
                &record,
                Some(1),
                &json!({"data": {"status": "done", "outcome": "nope"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "invalid_outcome");
    let (status, body) = status_and_body(
        admin
            .patch(
                &record,
                Some(1),
                &json!({"data": {"status": "done", "outcome": "ok"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["completed_at"].is_string(), "{body}");
    server.stop().await;
}
on_both_backends!(
    tasks_are_listed_by_view_and_completed_once,
    task_views_and_completion
);

fn approval_flow() -> Value {
    json!({"name": "vip_review", "enabled": true,
        "trigger": {"type": "record_created", "entity": "patient"},
        "nodes": [
            {"id": "review", "type": "approval", "title": "审核VIP：{{record.name}}",
             "assignee": {"role": "nurse"}, "outcomes": ["approve", "reject"], "timeout": {"minutes": 30}},
            {"id": "upgrade", "type": "update_record", "set": {"tier": "VIP"}},
            {"id": "mark_rejected", "type": "add_tag", "tags": ["rejected"]},
            {"id": "mark_silent", "type": "add_tag", "tags": ["no_answer"]}],
        "edges": [
            {"from": "trigger", "to": "review"},
            {"from": "review", "to": "upgrade", "when": "approve"},
            {"from": "review", "to": "mark_rejected", "when": "reject"},
            {"from": "review", "to": "mark_silent", "when": "timeout"}]})
}

/// The one run of the flow on `record`, once it is in `status`.
async fn run_of(admin: &Session, record: &str, status: &str) -> Value {
    for _ in 0..200 {
        let page = get(
            admin,
            &format!("/api/v1/flows/vip_review/runs?record_id={record}"),
        )
        .await;
        if let Some(run) = page["items"].as_array().unwrap().first() {
            if run["status"] == status {
                return get(
                    admin,
                    &format!("/api/v1/runs/{}", run["id"].as_str().unwrap()),
                )
                .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {status} run on {record}");
}

fn nodes(run: &Value) -> Vec<(String, String)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["node"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn approval_waits_for_its_task(backend: Backend) {
    let clock = Arc::new(TestClock::new(time::OffsetDateTime::now_utc()));
    let server = TestServer::start_with_clock(backend, clock.clone()).await;
    let (admin, _) = setup(&server).await;
    post(&admin, "/api/v1/flows", &approval_flow(), 201).await;
    let nurse = server.login("nurse_wang", "staff-password-1").await;

    // Approved: the approve branch runs, the reject branch does not.
    let zhang = create(&admin, "patient", json!({"name": "张三"})).await;
    let zhang_id = zhang["id"].as_str().unwrap();
    let waiting = run_of(&admin, zhang_id, "waiting").await;
    assert_eq!(nodes(&waiting), [("review".into(), "waiting".into())]);
    let tasks = get(&nurse, "/api/v1/tasks?view=role").await;
    assert_eq!(titles(&tasks), ["审核VIP：张三"]);
    let task = &tasks["items"][0];
    assert_eq!(task["data"]["outcomes"], json!(["approve", "reject"]));
    assert_eq!(
        task["data"]["subject"],
        json!({"entity": "patient", "id": zhang_id})
    );
    let path = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    post(&nurse, &path, &json!({"outcome": "approve"}), 200).await;
    let run = run_of(&admin, zhang_id, "succeeded").await;
    assert_eq!(
        nodes(&run),
        [
            ("review".into(), "succeeded".into()),
            ("upgrade".into(), "succeeded".into())
        ]
    );
    assert_eq!(run["steps"][0]["output"]["outcome"], "approve");
    let patient = get(&admin, &format!("/api/v1/records/patient/{zhang_id}")).await;
    assert_eq!(patient["data"]["tier"], "VIP");
    assert!(
        patient["data"]["labels"]
            .as_array()
            .is_none_or(|l| l.is_empty()),
        "{patient}"
    );

    // Nobody answers: when the timeout passes the task expires and the timeout edge runs.
    let li = create(&admin, "patient", json!({"name": "李四"})).await;
    let li_id = li["id"].as_str().unwrap();
    run_of(&admin, li_id, "waiting").await;
    clock.advance(time::Duration::minutes(31));
    let run = run_of(&admin, li_id, "succeeded").await;
    assert_eq!(
        nodes(&run),
        [
            ("review".into(), "succeeded".into()),
            ("mark_silent".into(), "succeeded".into())
        ]
    );
    let patient = get(&admin, &format!("/api/v1/records/patient/{li_id}")).await;
    assert_eq!(patient["data"]["labels"], json!(["no_answer"]));
    assert_eq!(patient["data"]["tier"], "normal");
    let expired = get(&admin, "/api/v1/tasks?view=all&status=expired").await;
    assert_eq!(titles(&expired), ["审核VIP：李四"]);
    let task = &expired["items"][0];
    let path = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    let (status, _) =
        status_and_body(nurse.post(&path, &json!({"outcome": "approve"})).await).await;
    assert_eq!(status, 409, "an expired task is not open");

    // Cancelling the run cancels its task.
    let wu = create(&admin, "patient", json!({"name": "王五"})).await;
    let wu_id = wu["id"].as_str().unwrap();
    let run = run_of(&admin, wu_id, "waiting").await;
    post(
        &admin,
        &format!("/api/v1/runs/{}/cancel", run["id"].as_str().unwrap()),
        &json!({}),
        200,
    )
    .await;
    let cancelled = get(&admin, "/api/v1/tasks?view=all&status=cancelled").await;
    assert_eq!(titles(&cancelled), ["审核VIP：王五"]);
    assert!(titles(&get(&nurse, "/api/v1/tasks?view=role&status=open").await).is_empty());

    // A task cancelled by hand got no answer: the branch goes on by its timeout edge at once
    // instead of waiting for ever.
    let zhao = create(&admin, "patient", json!({"name": "赵六"})).await;
    let zhao_id = zhao["id"].as_str().unwrap();
    run_of(&admin, zhao_id, "waiting").await;
    let open = get(&admin, "/api/v1/tasks?view=all&status=open").await;
    assert_eq!(titles(&open), ["审核VIP：赵六"]);
    let task = &open["items"][0];
    let (status, body) = status_and_body(
        admin
            .patch(
                &format!("/api/v1/records/task/{}", task["id"].as_str().unwrap()),
                task["version"].as_i64(),
                &json!({"data": {"status": "cancelled"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = run_of(&admin, zhao_id, "succeeded").await;
    assert_eq!(
        nodes(&run),
        [
            ("review".into(), "succeeded".into()),
            ("mark_silent".into(), "succeeded".into())
        ]
    );
    assert_eq!(run["steps"][0]["output"]["outcome"], Value::Null);
    server.stop().await;
}
on_both_backends!(
    an_approval_waits_for_its_task_and_takes_the_chosen_edge,
    approval_waits_for_its_task
);

/// A dry run stops at an approval unless `choose` names the edge its wait ends by; then it
/// goes on down that edge. Nothing is written either way, and a choice the flow has no edge
/// for is refused.
async fn dry_runs_choose_how_waits_end(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, _) = setup(&server).await;
    let mut flow = approval_flow();
    flow["enabled"] = json!(false);
    post(&admin, "/api/v1/flows", &flow, 201).await;
    let patient = create(&admin, "patient", json!({"name": "张三"})).await;
    let id = patient["id"].as_str().unwrap();
    let path_of = |dry: &Value| -> Vec<String> {
        dry["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_str().unwrap().to_string())
            .collect()
    };

    let dry = post(
        &admin,
        "/api/v1/flows/vip_review/dry-run",
        &json!({"record_id": id}),
        200,
    )
    .await;
    assert_eq!(path_of(&dry), ["review"], "{dry}");
    assert_eq!(dry["path"][0]["would_wait"], true);
    assert_eq!(dry["ended"], "waiting");

    let dry = post(
        &admin,
        "/api/v1/flows/vip_review/dry-run",
        &json!({"record_id": id, "choose": {"review": "approve"}}),
        200,
    )
    .await;
    assert_eq!(path_of(&dry), ["review", "upgrade"], "{dry}");
    assert_eq!(dry["path"][0]["chosen"], "approve");
    assert_eq!(dry["path"][1]["would"]["set"]["tier"], "VIP", "{dry}");
    assert_eq!(dry["ended"], "no_more_edges");
    let dry = post(
        &admin,
        "/api/v1/flows/vip_review/dry-run",
        &json!({"record_id": id, "choose": {"review": "timeout"}}),
        200,
    )
    .await;
    assert_eq!(path_of(&dry), ["review", "mark_silent"], "{dry}");

    for bad in [
        json!({"review": "maybe"}),
        json!({"upgrade": "approve"}),
        json!({"review": 1}),
    ] {
        post(
            &admin,
            "/api/v1/flows/vip_review/dry-run",
            &json!({"record_id": id, "choose": bad}),
            400,
        )
        .await;
    }
    // Nothing was written: no task, the patient as it was.
    let tasks = get(&admin, "/api/v1/records/task").await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 0, "{tasks}");
    let now = get(&admin, &format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(now["data"]["tier"], "normal");
    assert_eq!(now["version"], patient["version"]);
    server.stop().await;
}
on_both_backends!(dry_runs_choose_how_waits_end, dry_runs_choose_how_waits_end);

async fn manual_runs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, users) = setup(&server).await;
    let flow = json!({"name": "make_vip", "enabled": true,
        "trigger": {"type": "manual", "entity": "patient", "button": {"zh": "升级VIP"}},
        "nodes": [{"id": "upgrade", "type": "update_record", "set": {"tier": "VIP"}}],
        "edges": [{"from": "trigger", "to": "upgrade"}]});
    post(&admin, "/api/v1/flows", &flow, 201).await;
    let patient = create(&admin, "patient", json!({"name": "赵六"})).await;
    let id = patient["id"].as_str().unwrap();
    let start = json!({"record_id": id});

    let nurse = server.login("nurse_wang", "staff-password-1").await;
    let (status, _) =
        status_and_body(nurse.post("/api/v1/flows/make_vip/runs", &start).await).await;
    assert_eq!(status, 403, "reading the record is not enough");
    let clerk = server.login("clerk_sun", "staff-password-1").await;
    let run = post(&clerk, "/api/v1/flows/make_vip/runs", &start, 201).await;
    assert_eq!(run["started_by"], users["clerk_sun"]);
    assert_eq!(run["trigger"]["type"], "manual");
    let (status, _) = status_and_body(
        clerk
            .post(
                "/api/v1/flows/make_vip/runs",
                &json!({"record_id": "0193a6f2-7c1e-7b3a-9f0e-4d2c8a1b5e60"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let run_path = format!("/api/v1/runs/{}", run["id"].as_str().unwrap());
    for _ in 0..200 {
        if get(&admin, &run_path).await["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = get(&admin, &run_path).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["started_by"], users["clerk_sun"]);
    let patient = get(&admin, &format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(patient["data"]["tier"], "VIP");
    assert_eq!(
        patient["updated_by"], "flow:make_vip",
        "the run acts as the flow"
    );

    // Only a manual flow starts by hand.
    let mut created = flow.clone();
    created["name"] = json!("on_create");
    created["trigger"] = json!({"type": "record_created", "entity": "patient"});
    post(&admin, "/api/v1/flows", &created, 201).await;
    let (status, _) =
        status_and_body(admin.post("/api/v1/flows/on_create/runs", &start).await).await;
    assert_eq!(status, 409);
    server.stop().await;
}
on_both_backends!(
    a_manual_flow_starts_on_a_record_its_caller_may_update,
    manual_runs
);
