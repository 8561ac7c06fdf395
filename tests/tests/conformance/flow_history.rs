//! Flow history is kept for `retention_days` (90 by default): older finished runs go with
//! their steps and jobs, and so do the change events the dispatcher has passed; newer runs and
//! the records flows made stay.

use crate::support::*;
use kangdao_engine::flows::runs::RunQuery;
use kangdao_engine::Lang;
use serde_json::json;
use time::Duration;

on_both_backends!(finished_runs_are_pruned_after_retention);

async fn count(ctx: &Ctx, sql: &str) -> i64 {
    ctx.db()
        .fetch_one(sql, vec![])
        .await
        .unwrap()
        .req_int("n")
        .unwrap()
}

async fn finished_runs_are_pruned_after_retention(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let flow = json!({"name": "tag_new", "enabled": true,
        "trigger": {"type": "record_created", "entity": "patient"},
        "nodes": [{"id": "check", "type": "condition", "expr": "record.name != \"\""},
                  {"id": "mark", "type": "update_record", "set": {"tier": "VIP"}}],
        "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "to": "mark", "when": "true"}]});
    ctx.engine
        .create_flow(&ctx.admin, flow)
        .await
        .expect("flow saved");
    let old = ctx
        .engine
        .create_record(
            &ctx.admin,
            "patient",
            json!({"name": "老患者"}).as_object().cloned().unwrap(),
            Lang::En,
        )
        .await
        .unwrap()
        .id;
    ctx.engine.drain_flows().await.unwrap();
    ctx.clock.advance(Duration::days(91));
    let recent = ctx
        .engine
        .create_record(
            &ctx.admin,
            "patient",
            json!({"name": "新患者"}).as_object().cloned().unwrap(),
            Lang::En,
        )
        .await
        .unwrap()
        .id;
    ctx.engine.drain_flows().await.unwrap();
    let runs = |record| RunQuery {
        status: None,
        record_id: Some(record),
        page: 1,
        per_page: 10,
    };
    assert_eq!(
        ctx.engine
            .list_runs(&ctx.admin, "tag_new", &runs(old))
            .await
            .unwrap()
            .1,
        1
    );

    let pruned = ctx.engine.prune_flow_history().await.unwrap();
    assert!(pruned > 0);
    assert_eq!(
        ctx.engine
            .list_runs(&ctx.admin, "tag_new", &runs(old))
            .await
            .unwrap()
            .1,
        0,
        "the old run is gone"
    );
    assert_eq!(
        ctx.engine
            .list_runs(&ctx.admin, "tag_new", &runs(recent))
            .await
            .unwrap()
            .1,
        1,
        "the recent one stays"
    );
    assert_eq!(
        count(&ctx, "SELECT COUNT(*) AS n FROM flow_steps").await,
        2,
        "only the recent run's steps"
    );
    assert_eq!(
        count(&ctx, "SELECT COUNT(*) AS n FROM flow_jobs").await,
        1,
        "only the recent run's job (its second step ran in the first's transaction)"
    );
    let old_events = ctx
        .db()
        .fetch_one(
            "SELECT COUNT(*) AS n FROM change_events WHERE record_id = $1",
            vec![old.into()],
        )
        .await
        .unwrap()
        .req_int("n")
        .unwrap();
    assert_eq!(old_events, 0, "the passed events of 91 days ago are gone");
    let record = ctx
        .engine
        .get_record(&ctx.admin, "patient", old, &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(record.data["tier"], "VIP", "what the flow did stays");
    let history = ctx
        .engine
        .record_history(&ctx.admin, "patient", old)
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        2,
        "the record's own history stays: created, then the flow's update"
    );
}
