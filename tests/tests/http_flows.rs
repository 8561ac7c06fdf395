//! Flows against the real server, on SQLite and on PostgreSQL: the VIP flow of DESIGN.md acts
//! once, on the update that crosses 5000; bad definitions are refused naming their nodes; an
//! endless loop fails its run; runs and dry runs show values through the reader's field rules.

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

fn vip_flow() -> Value {
    // DESIGN.md's example, verbatim.
    json!({ "name": "vip_upgrade", "label": {"zh": "累计消费超过5000元升级VIP"}, "enabled": true,
      "trigger": {"type": "record_updated", "entity": "patient", "fields": ["total_spent"]},
      "nodes": [
        {"id": "check",   "type": "condition", "expr": "record.total_spent > 5000 && record.tier != \"VIP\""},
        {"id": "upgrade", "type": "update_record", "set": {"tier": "VIP", "vip_since": {"expr": "today()"}}},
        {"id": "notify",  "type": "send_message", "channel": "sms", "to": {"expr": "record.phone"},
         "template": "尊敬的{{record.name}}，您已升级为VIP会员。"}],
      "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "to": "upgrade", "when": "true"},
                {"from": "upgrade", "to": "notify"}] })
}

async fn server_with_patients(backend: Backend) -> (TestServer, Session) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let mut def = patient_definition();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "vip_since", "type": "date", "label": {"zh": "VIP起始日", "en": "VIP since"}}));
    let (status, body) = status_and_body(admin.post("/api/v1/entities", &def).await).await;
    assert_eq!(status, 201, "{body}");
    (server, admin)
}

async fn create_patient(admin: &Session, name: &str, phone: &str, spent: f64) -> (String, i64) {
    let (status, body) = status_and_body(
        admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": name, "phone": phone, "total_spent": spent}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["version"].as_i64().unwrap(),
    )
}

async fn get(session: &Session, path: &str) -> Value {
    let (status, body) = status_and_body(session.get(path).await).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Waits until every run of `flow` has finished and there are `count` of them.
async fn settled_runs(session: &Session, flow: &str, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        let page = get(session, &format!("/api/v1/flows/{flow}/runs")).await;
        let runs = page["items"].as_array().unwrap().clone();
        if runs.len() >= count && runs.iter().all(|r| !r["finished_at"].is_null()) {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the runs of {flow} did not settle");
}

async fn messages_of(session: &Session) -> Vec<Value> {
    get(session, "/api/v1/records/message").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn vip_flow_acts_once(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    let (status, body) = status_and_body(admin.post("/api/v1/flows", &vip_flow()).await).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["enabled"], true);

    let (id, version) = create_patient(&admin, "张三", "13812345678", 4800.0).await;
    let (other, _) = create_patient(&admin, "李四", "13987654321", 6000.0).await;
    let (status, body) = status_and_body(
        admin
            .patch(
                &format!("/api/v1/records/patient/{id}"),
                Some(version),
                &json!({"data": {"total_spent": 5200}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let runs = settled_runs(&admin, "vip_upgrade", 1).await;
    assert_eq!(
        runs.len(),
        1,
        "creates do not start an update flow: {runs:?}"
    );
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    let patient = get(&admin, &format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(patient["data"]["tier"], "VIP");
    assert!(patient["data"]["vip_since"].is_string());
    assert_eq!(
        patient["updated_by"], "flow:vip_upgrade",
        "the flow acts under its own name"
    );

    let run = get(
        &admin,
        &format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()),
    )
    .await;
    let steps: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["check", "upgrade", "notify"]);
    assert_eq!(run["steps"][0]["output"]["result"], true);
    assert_eq!(run["steps"][0]["input"]["reads"]["total_spent"], 5200);
    assert_eq!(
        run["steps"][2]["input"]["to"], "138****5678",
        "a sensitive value is masked even for an administrator"
    );

    let messages = messages_of(&admin).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0]["data"];
    assert_eq!(message["status"], "pending");
    assert_eq!(message["purpose"], "service_notice");
    assert_eq!(message["body"], "尊敬的张三，您已升级为VIP会员。");
    assert_eq!(message["subject"], json!({"entity": "patient", "id": id}));
    assert_eq!(message["recipient"], "138****5678");

    // A later update finds the tier already VIP: the run ends at the condition.
    let version = patient["version"].as_i64().unwrap();
    let (status, body) = status_and_body(
        admin
            .patch(
                &format!("/api/v1/records/patient/{id}"),
                Some(version),
                &json!({"data": {"total_spent": 5300}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let runs = settled_runs(&admin, "vip_upgrade", 2).await;
    assert_eq!(runs.len(), 2);
    let newest = get(
        &admin,
        &format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(newest["steps"].as_array().unwrap().len(), 1, "{newest}");
    assert_eq!(newest["steps"][0]["output"]["result"], false);
    assert_eq!(messages_of(&admin).await.len(), 1, "no second message");
    let after = get(&admin, &format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(
        after["version"].as_i64().unwrap(),
        version + 1,
        "only the user's own write"
    );

    // A dry run on another patient reports the path and writes nothing.
    let (status, dry) = status_and_body(
        admin
            .post(
                "/api/v1/flows/vip_upgrade/dry-run",
                &json!({"record_id": other}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    let path: Vec<&str> = dry["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["check", "upgrade", "notify"], "{dry}");
    assert_eq!(dry["path"][1]["would"]["set"]["tier"], "VIP");
    assert_eq!(
        dry["path"][2]["would"]["data"]["recipient"], "139****4321",
        "{dry}"
    );
    assert_eq!(
        dry["path"][2]["would"]["data"]["body"],
        "尊敬的李四，您已升级为VIP会员。"
    );
    let untouched = get(&admin, &format!("/api/v1/records/patient/{other}")).await;
    assert_eq!(untouched["data"]["tier"], "normal");
    assert_eq!(untouched["version"], 1);
    assert_eq!(
        messages_of(&admin).await.len(),
        1,
        "a dry run sends nothing"
    );
    assert_eq!(
        settled_runs(&admin, "vip_upgrade", 2).await.len(),
        2,
        "a dry run starts no run"
    );
    server.stop().await;
}
on_both_backends!(
    vip_flow_acts_once_on_the_crossing_update,
    vip_flow_acts_once
);

async fn bad_definitions_name_their_nodes(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    let mut flow = vip_flow();
    flow["nodes"][0]["expr"] = json!("record.total_spent > (5000");
    flow["nodes"][1]["set"] = json!({"tierr": "VIP"});
    flow["nodes"][2]["template"] = json!("身份证 {{record.id_number}}");
    flow["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "notify", "to": "upgrade"}));
    let (status, body) = status_and_body(admin.post("/api/v1/flows", &flow).await).await;
    assert_eq!(status, 400, "{body}");
    let details = body["error"]["details"].as_array().unwrap();
    let has = |node: &str, code: &str| {
        details
            .iter()
            .any(|d| d["node"] == node && d["code"] == code)
    };
    assert!(has("check", "expr_compile"), "{details:?}");
    assert!(has("upgrade", "unknown_field"), "{details:?}");
    assert!(has("notify", "sensitive_to_plain"), "{details:?}");
    assert!(details.iter().any(|d| d["code"] == "cycle"), "{details:?}");
    let text = body.to_string();
    assert!(!text.contains("11010"), "no value in the errors");

    // The check route answers the same without saving.
    let (status, again) = status_and_body(admin.post("/api/v1/flow-checks", &flow).await).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"]["details"], body["error"]["details"]);
    let (status, ok) = status_and_body(admin.post("/api/v1/flow-checks", &vip_flow()).await).await;
    assert_eq!(status, 200, "{ok}");
    let (status, _) = status_and_body(admin.get("/api/v1/flows/vip_upgrade").await).await;
    assert_eq!(status, 404, "checks save nothing");

    // A sensitive value copied into a plain field is refused; into the recipient it is not.
    let mut copy = vip_flow();
    copy["nodes"][1]["set"] = json!({"name": {"expr": "record.phone"}});
    let (status, body) = status_and_body(admin.post("/api/v1/flow-checks", &copy).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "sensitive_to_plain");
    assert_eq!(body["error"]["details"][0]["node"], "upgrade");

    // A keyword node id is fine until an expression reads it as `steps.<id>`, which does
    // not parse: the refusal names the node and says how to read it.
    let mut keyword = vip_flow();
    keyword["nodes"][0]["id"] = json!("if");
    keyword["edges"][0]["to"] = json!("if");
    keyword["edges"][1]["from"] = json!("if");
    let (status, body) = status_and_body(admin.post("/api/v1/flow-checks", &keyword).await).await;
    assert_eq!(status, 200, "{body}");
    keyword["nodes"][1]["set"]["vip_since"] =
        json!({"expr": "if steps.if.result { today() } else { () }"});
    let (status, body) = status_and_body(admin.post("/api/v1/flow-checks", &keyword).await).await;
    assert_eq!(status, 400, "{body}");
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details.iter().any(|d| d["code"] == "reserved_id"
            && d["node"] == "if"
            && d["message"].as_str().unwrap().contains("steps[\"if\"]")),
        "{body}"
    );

    // Shape problems name their node too.
    let mut shape = vip_flow();
    shape["nodes"][1]["colour"] = json!("red");
    shape["nodes"][2]["type"] = json!("teleport");
    let (status, body) = status_and_body(admin.post("/api/v1/flow-checks", &shape).await).await;
    assert_eq!(status, 400, "{body}");
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["node"] == "upgrade" && d["code"] == "unknown_property"),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d["node"] == "notify" && d["code"] == "unknown_type"),
        "{details:?}"
    );
    server.stop().await;
}
on_both_backends!(
    bad_definitions_are_refused_naming_nodes,
    bad_definitions_name_their_nodes
);

async fn endless_loop_fails_the_run(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    let flow = json!({"name": "spin", "enabled": true,
        "trigger": {"type": "record_created", "entity": "patient"},
        "nodes": [{"id": "spin", "type": "condition", "expr": "loop { } ; true"},
                  {"id": "never", "type": "update_record", "set": {"tier": "VIP"}}],
        "edges": [{"from": "trigger", "to": "spin"}, {"from": "spin", "to": "never", "when": "true"}]});
    let (status, body) = status_and_body(admin.post("/api/v1/flows", &flow).await).await;
    assert_eq!(status, 201, "{body}");
    let (id, _) = create_patient(&admin, "王五", "13700001111", 0.0).await;
    let runs = settled_runs(&admin, "spin", 1).await;
    assert_eq!(runs[0]["status"], "failed", "{runs:?}");
    assert_eq!(runs[0]["error"]["code"], "too_many_operations");
    assert_eq!(runs[0]["error"]["node"], "spin");
    let patient = get(&admin, &format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(patient["data"]["tier"], "normal");
    // The server goes on serving.
    let (status, _) = status_and_body(admin.get("/api/v1/flows").await).await;
    assert_eq!(status, 200);
    server.stop().await;
}
on_both_backends!(an_endless_loop_fails_its_run, endless_loop_fails_the_run);

/// The steps a success makes due run in its transaction; one that fails there is rolled back
/// alone and goes the job way, its `error` edge included, while the steps before it stand.
/// On the way, an amount is computed exactly and rounded to the fen.
async fn failing_step_after_local_steps_fails_alone(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    let flow = json!({"name": "chain", "enabled": true,
        "trigger": {"type": "record_created", "entity": "patient"},
        "nodes": [{"id": "check", "type": "condition", "expr": "record.total_spent >= 0"},
                  {"id": "mark", "type": "update_record",
                   "set": {"tier": "VIP", "total_spent": {"expr": "record.total_spent * 1.5"}}},
                  {"id": "spin", "type": "condition", "expr": "loop { } ; true"},
                  {"id": "never", "type": "update_record", "set": {"tier": "normal"}},
                  {"id": "flag", "type": "update_record", "set": {"vip_since": "2026-01-01"}}],
        "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "to": "mark", "when": "true"},
                  {"from": "mark", "to": "spin"}, {"from": "spin", "to": "never", "when": "true"},
                  {"from": "spin", "to": "flag", "when": "error"}]});
    let (status, body) = status_and_body(admin.post("/api/v1/flows", &flow).await).await;
    assert_eq!(status, 201, "{body}");
    let (id, _) = create_patient(&admin, "赵六", "13600002222", 0.01).await;
    let runs = settled_runs(&admin, "chain", 1).await;
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    let run = get(
        &admin,
        &format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()),
    )
    .await;
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["node"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("check", "succeeded"),
            ("mark", "succeeded"),
            ("spin", "failed"),
            ("flag", "succeeded")
        ],
        "{run}"
    );
    assert_eq!(run["steps"][2]["error"]["code"], "too_many_operations");
    assert_eq!(
        run["steps"][2]["attempts"], 1,
        "a deterministic failure is not retried"
    );
    let patient = get(&admin, &format!("/api/v1/records/patient/{id}")).await;
    assert_eq!(
        patient["data"]["tier"], "VIP",
        "the step before the failure stands"
    );
    assert_eq!(
        patient["data"]["vip_since"], "2026-01-01",
        "the error edge was taken"
    );
    assert_eq!(
        patient["version"], 3,
        "mark and flag wrote once each: {patient}"
    );
    server.stop().await;
}
on_both_backends!(
    a_failing_step_after_local_steps_fails_alone,
    failing_step_after_local_steps_fails_alone
);

async fn readers_see_runs_through_their_field_rules(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    let (status, body) = status_and_body(admin.post("/api/v1/flows", &vip_flow()).await).await;
    assert_eq!(status, 201, "{body}");
    // A designer who may not see the spend nor the messages' recipients.
    let role = json!({"name": "designer", "permissions": [
        {"entity": "patient", "actions": ["read", "design"], "fields": {"total_spent": "hidden"}},
        {"entity": "message", "actions": ["read"], "fields": {"recipient": "hidden"}}]});
    let (status, body) = status_and_body(admin.post("/api/v1/roles", &role).await).await;
    assert_eq!(status, 201, "{body}");
    let user =
        json!({"username": "designer_zhao", "password": "staff-password-1", "roles": ["designer"]});
    let (status, body) = status_and_body(admin.post("/api/v1/users", &user).await).await;
    assert_eq!(status, 201, "{body}");
    let designer = server.login("designer_zhao", "staff-password-1").await;

    let (id, version) = create_patient(&admin, "赵六", "13811112222", 100.0).await;
    admin
        .patch(
            &format!("/api/v1/records/patient/{id}"),
            Some(version),
            &json!({"data": {"total_spent": 9000}}),
        )
        .await;
    let runs = settled_runs(&admin, "vip_upgrade", 1).await;
    let run = get(
        &designer,
        &format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        run["steps"][0]["input"]["reads"]
            .get("total_spent")
            .is_none(),
        "hidden: {run}"
    );
    assert!(
        run["steps"][2]["input"].get("to").is_none(),
        "hidden: {run}"
    );
    assert_eq!(run["steps"][0]["input"]["reads"]["tier"], "normal");
    let text = run.to_string();
    assert!(
        !text.contains("9000") && !text.contains("13811112222"),
        "{text}"
    );

    // Their dry run of another patient hides the same.
    let (other, _) = create_patient(&admin, "钱七", "13822223333", 7000.0).await;
    let (status, dry) = status_and_body(
        designer
            .post(
                "/api/v1/flows/vip_upgrade/dry-run",
                &json!({"record_id": other}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    assert!(
        dry["path"][0]["input"]["reads"]
            .get("total_spent")
            .is_none(),
        "{dry}"
    );
    assert!(
        dry["path"][2]["would"]["data"].get("recipient").is_none(),
        "{dry}"
    );
    assert!(!dry.to_string().contains("13822223333"));

    // Nor can they save a flow that reads what is hidden from them: its effects would tell.
    let spy = |condition: &str, filter: Value| {
        json!({"name": "spy", "enabled": true,
            "trigger": {"type": "record_created", "entity": "patient", "filter": filter},
            "nodes": [{"id": "check", "type": "condition", "expr": condition},
                      {"id": "mark", "type": "update_record", "set": {"vip_since": {"expr": "today()"}}}],
            "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "to": "mark", "when": "true"}]})
    };
    let everyone = json!({"field": "name", "op": "ne", "value": ""});
    for (flow, node) in [
        (spy("record.total_spent > 5000", everyone.clone()), "check"),
        (
            spy(
                "true",
                json!({"field": "total_spent", "op": "gt", "value": 5000}),
            ),
            "trigger",
        ),
    ] {
        let (status, body) = status_and_body(designer.post("/api/v1/flows", &flow).await).await;
        assert_eq!(status, 400, "{body}");
        let details = body["error"]["details"].as_array().unwrap();
        assert_eq!(details[0]["code"], "field_hidden", "{body}");
        assert_eq!(details[0]["node"], node, "{body}");
    }
    // Nor through the whole record, nor a wait on a hidden field's change.
    let watches = |change: Value| {
        json!({"name": "spy_wait", "enabled": true,
            "trigger": {"type": "record_created", "entity": "patient"},
            "nodes": [{"id": "watch", "type": "wait_until", "timeout": {"days": 2}, "change": change},
                      {"id": "mark", "type": "update_record", "set": {"vip_since": {"expr": "today()"}}}],
            "edges": [{"from": "trigger", "to": "watch"}, {"from": "watch", "to": "mark"},
                      {"from": "watch", "to": "mark", "when": "timeout"}]})
    };
    for (flow, node) in [
        (spy("type_of(record) != \"()\"", everyone.clone()), "check"),
        (
            spy(
                "let k = \"total_\" + \"spent\"; record[k] > 5000",
                everyone.clone(),
            ),
            "check",
        ),
        (watches(json!({"fields": ["total_spent"]})), "watch"),
        (
            watches(
                json!({"fields": ["tier"], "filter": {"field": "total_spent", "op": "gt", "value": 5000}}),
            ),
            "watch",
        ),
    ] {
        let (status, body) = status_and_body(designer.post("/api/v1/flows", &flow).await).await;
        assert_eq!(status, 400, "{body}");
        let details = body["error"]["details"].as_array().unwrap();
        assert!(
            details
                .iter()
                .any(|d| d["code"] == "field_hidden" && d["node"] == node),
            "{body}"
        );
    }
    let (status, body) = status_and_body(
        designer
            .post("/api/v1/flows", &watches(json!({"fields": ["tier"]})))
            .await,
    )
    .await;
    assert_eq!(
        status, 201,
        "a visible field's change may be waited on: {body}"
    );
    let (status, body) = status_and_body(
        designer
            .post("/api/v1/flows", &spy("record.tier != \"VIP\"", everyone))
            .await,
    )
    .await;
    assert_eq!(status, 201, "what they see they may read: {body}");

    // Someone who may not design patients sees no flow at all.
    let role = json!({"name": "clerk", "permissions": [{"entity": "patient", "actions": ["read", "update"]}]});
    admin.post("/api/v1/roles", &role).await;
    admin
        .post(
            "/api/v1/users",
            &json!({"username": "clerk_sun", "password": "staff-password-1", "roles": ["clerk"]}),
        )
        .await;
    let clerk = server.login("clerk_sun", "staff-password-1").await;
    let (status, _) = status_and_body(clerk.get("/api/v1/flows/vip_upgrade").await).await;
    assert_eq!(status, 404);
    let (status, _) = status_and_body(
        clerk
            .get(&format!("/api/v1/runs/{}", runs[0]["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) =
        status_and_body(clerk.post("/api/v1/flows", &json!({"name": "x"})).await).await;
    assert_eq!(status, 400, "shape first");
    let mut mine = vip_flow();
    mine["name"] = json!("clerks_flow");
    let (status, _) = status_and_body(clerk.post("/api/v1/flows", &mine).await).await;
    assert_eq!(status, 403);
    server.stop().await;
}
on_both_backends!(
    runs_show_values_through_field_rules,
    readers_see_runs_through_their_field_rules
);

async fn versions_and_preconditions(backend: Backend) {
    let (server, admin) = server_with_patients(backend).await;
    let (status, created) = status_and_body(admin.post("/api/v1/flows", &vip_flow()).await).await;
    assert_eq!(status, 201, "{created}");
    let (status, again) =
        status_and_body(admin.put("/api/v1/flows/vip_upgrade", &created).await).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["version"], 1,
        "a PUT of what GET answered changes nothing"
    );
    let mut changed = created.clone();
    changed["enabled"] = json!(false);
    let (status, v2) =
        status_and_body(admin.put("/api/v1/flows/vip_upgrade", &changed).await).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    let (status, stale) =
        status_and_body(admin.put("/api/v1/flows/vip_upgrade", &changed).await).await;
    assert_eq!(status, 409, "the body's version 1 is stale: {stale}");
    let versions = get(&admin, "/api/v1/flows/vip_upgrade/versions").await;
    assert_eq!(versions["total"], 2);
    let first = get(&admin, "/api/v1/flows/vip_upgrade/versions/1").await;
    assert_eq!(first["enabled"], true);
    let (status, _) = status_and_body(admin.post("/api/v1/flows", &vip_flow()).await).await;
    assert_eq!(status, 409, "the name is taken");
    let (status, _) =
        status_and_body(admin.delete("/api/v1/flows/vip_upgrade", Some(2)).await).await;
    assert_eq!(status, 204);
    let (status, reborn) = status_and_body(admin.post("/api/v1/flows", &vip_flow()).await).await;
    assert_eq!(status, 201, "{reborn}");
    assert_eq!(
        reborn["version"], 3,
        "a name used again continues its versions"
    );
    let list = get(&admin, "/api/v1/flows").await;
    assert_eq!(
        list["items"][0]["trigger"],
        json!({"type": "record_updated", "entity": "patient"})
    );
    server.stop().await;
}
on_both_backends!(
    flows_keep_versions_and_preconditions,
    versions_and_preconditions
);
