//! The worker runs a take of step jobs in shared transactions, each job in its own savepoint:
//! a step that fails is rolled back and recorded alone, and the steps beside it in the same
//! take keep their effects. A step's nodes see the run's record as the nodes before them left
//! it, and every write a run makes names the run in its change event.

use crate::support::*;
use kangdao_engine::Lang;
use serde_json::json;

on_both_backends!(
    a_failing_step_leaves_the_rest_of_its_take_committed,
    a_steps_nodes_see_the_record_as_the_nodes_before_left_it,
);

async fn a_failing_step_leaves_the_rest_of_its_take_committed(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    // `count` divides by zero for the oncology patients (named 坏…): their jobs fail in the same take as
    // the others' succeed.
    let flow = json!({"name": "mixed_take", "enabled": true,
        "trigger": {"type": "record_created", "entity": "patient"},
        "nodes": [
            {"id": "count", "type": "update_record",
             "set": {"tier": "VIP", "visit_count": {"expr": "if record.dept == \"oncology\" { 1 / 0 } else { 7 }"}}}],
        "edges": [{"from": "trigger", "to": "count"}]});
    ctx.engine
        .create_flow(&ctx.admin, flow)
        .await
        .expect("flow saved");
    let names: Vec<String> = (0..12)
        .map(|i| {
            if i % 4 == 1 {
                format!("坏{i}")
            } else {
                format!("好{i}")
            }
        })
        .collect();
    for name in &names {
        ctx.engine
            .create_record(
                &ctx.admin,
                "patient",
                json!({ "name": name, "dept": if name.starts_with('坏') { "oncology" } else { "cardiology" } })
                    .as_object()
                    .cloned()
                    .unwrap(),
                Lang::En,
            )
            .await
            .unwrap();
    }
    ctx.engine.drain_flows().await.unwrap();

    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) AS n FROM flow_runs WHERE status = 'succeeded'"
        )
        .await,
        9
    );
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) AS n FROM flow_runs WHERE status = 'failed'"
        )
        .await,
        3
    );
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) AS n FROM flow_steps WHERE status = 'succeeded'"
        )
        .await,
        9
    );
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) AS n FROM flow_steps WHERE status = 'failed'"
        )
        .await,
        3
    );
    // Each job ran once: no step was run again after its take committed.
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) AS n FROM flow_jobs WHERE attempts > 1"
        )
        .await,
        0
    );
    let page = ctx
        .engine
        .list_records(&ctx.admin, "patient", &Default::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 12);
    for record in page.items {
        let name = record.data["name"].as_str().unwrap().to_string();
        if name.starts_with('坏') {
            assert_eq!(record.data["tier"], json!("normal"), "{name}");
            assert!(
                record.data.get("visit_count").is_none_or(|v| v.is_null()),
                "{name}"
            );
            assert_eq!(record.version, 1, "{name}: never written");
        } else {
            assert_eq!(record.data["tier"], json!("VIP"), "{name}");
            assert_eq!(record.data["visit_count"], json!(7), "{name}");
            assert_eq!(record.version, 2, "{name}");
        }
    }
}

async fn a_steps_nodes_see_the_record_as_the_nodes_before_left_it(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    // Three writes to the run's record in one step, a condition between them: each starts
    // from the version and values the one before it wrote, or it would meet a version
    // conflict (and the run fail) or count from a stale value.
    let flow = json!({"name": "chain", "enabled": true,
        "trigger": {"type": "record_updated", "entity": "patient", "fields": ["total_spent"]},
        "nodes": [
            {"id": "upgrade", "type": "update_record", "set": {"tier": "VIP", "visit_count": {"expr": "record.visit_count + 1"}}},
            {"id": "is_vip", "type": "condition", "expr": "record.tier == \"VIP\" && record.visit_count == 2"},
            {"id": "again", "type": "update_record", "set": {"visit_count": {"expr": "record.visit_count + 1"}}},
            {"id": "tag", "type": "add_tag", "tags": ["vip"]},
            {"id": "after", "type": "update_record", "set": {"note": {"expr": "if record.visit_count == 3 && record.tags.len() == 2 { \"fresh\" } else { \"stale\" }"}}}],
        "edges": [{"from": "trigger", "to": "upgrade"}, {"from": "upgrade", "to": "is_vip"},
                  {"from": "is_vip", "to": "again", "when": "true"}, {"from": "again", "to": "tag"},
                  {"from": "tag", "to": "after"}]});
    ctx.engine
        .create_flow(&ctx.admin, flow)
        .await
        .expect("flow saved");
    let patient = create(
        &ctx,
        "patient",
        json!({"name": "钱七", "visit_count": 1, "tags": ["diabetes"]}),
    )
    .await;
    ctx.engine
        .update_record(
            &ctx.admin,
            "patient",
            patient.id,
            obj(json!({"total_spent": 5200})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine.drain_flows().await.unwrap();

    let run = ctx
        .db()
        .fetch_one("SELECT id, status, error FROM flow_runs", vec![])
        .await
        .unwrap();
    assert_eq!(
        run.req_text("status").unwrap(),
        "succeeded",
        "{:?}",
        run.json("error").unwrap()
    );
    let run_id = run.req_uuid("id").unwrap();
    let record = ctx
        .engine
        .get_record(&ctx.admin, "patient", patient.id, &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(record.version, 6, "created, updated, then four flow writes");
    assert_eq!(record.data["tier"], json!("VIP"));
    assert_eq!(record.data["visit_count"], json!(3));
    assert_eq!(record.data["tags"], json!(["diabetes", "vip"]));
    assert_eq!(record.data["note"], json!("fresh"));
    let history = ctx
        .engine
        .record_history(&ctx.admin, "patient", patient.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 6);

    // The user's write names no run; each of the flow's names this one, from its INSERT.
    let events = ctx
        .db()
        .fetch_all(
            "SELECT version, actor, run_id FROM change_events WHERE record_id = $1 ORDER BY version",
            vec![patient.id.into()],
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 6);
    for e in &events {
        let by_flow = e.req_text("actor").unwrap() == "flow:chain";
        assert_eq!(by_flow, e.req_int("version").unwrap() > 2);
        assert_eq!(
            e.uuid("run_id").unwrap(),
            by_flow.then_some(run_id),
            "version {}",
            e.req_int("version").unwrap()
        );
    }
}
