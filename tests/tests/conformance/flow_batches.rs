//! The worker runs a take of step jobs in shared transactions, each job in its own savepoint:
//! a step that fails is rolled back and recorded alone, and the steps beside it in the same
//! take keep their effects.

use crate::support::*;
use kangdao_engine::Lang;
use serde_json::json;

on_both_backends!(a_failing_step_leaves_the_rest_of_its_take_committed);

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
