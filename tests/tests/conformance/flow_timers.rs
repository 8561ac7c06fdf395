//! Date-relative flows with the clock moved by hand: a post-op step due at surgery date + 3
//! days, 09:00 Beijing time, fires once; it moves when the surgery's date changes, is
//! cancelled when the surgery is deleted, and enabling the flow never replays the past.

use crate::support::*;
use kangdao_engine::flows::runs::RunQuery;
use kangdao_engine::Lang;
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

on_both_backends!(post_op_timer_fires_once_moves_and_is_cancelled);

fn surgery_definition() -> Value {
    json!({"name": "surgery", "label": {"zh": "手术", "en": "Surgery"}, "fields": [
        {"name": "procedure", "type": "text", "required": true},
        {"name": "surgery_date", "type": "datetime", "required": true},
        {"name": "stage", "type": "select", "options": [{"value": "done"}, {"value": "rehab_day_3"}]}]})
}

fn post_op_flow() -> Value {
    json!({"name": "post_op_day_3", "enabled": true,
        "trigger": {"type": "date_relative", "entity": "surgery", "field": "surgery_date", "offset": {"days": 3}, "at": "09:00"},
        "nodes": [{"id": "mark", "type": "update_record", "set": {"stage": "rehab_day_3"}}],
        "edges": [{"from": "trigger", "to": "mark"}]})
}

fn data(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn surgery(ctx: &Ctx, name: &str, at: &str) -> Uuid {
    ctx.engine
        .create_record(
            &ctx.admin,
            "surgery",
            data(json!({"procedure": name, "surgery_date": at, "stage": "done"})),
            Lang::En,
        )
        .await
        .expect("surgery")
        .id
}

async fn stage(ctx: &Ctx, id: Uuid) -> Value {
    ctx.engine
        .get_record(&ctx.admin, "surgery", id, &[], Lang::En)
        .await
        .unwrap()
        .data["stage"]
        .clone()
}

async fn runs_of(ctx: &Ctx, record: Uuid) -> usize {
    let query = RunQuery {
        status: None,
        record_id: Some(record),
        page: 1,
        per_page: 100,
    };
    ctx.engine
        .list_runs(&ctx.admin, "post_op_day_3", &query)
        .await
        .unwrap()
        .1 as usize
}

async fn at(ctx: &Ctx, when: OffsetDateTime) {
    ctx.clock.set(when);
    ctx.engine.drain_flows().await.expect("flows settle");
}

async fn post_op_timer_fires_once_moves_and_is_cancelled(backend: Backend) {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(&ctx.admin, surgery_definition(), Lang::En)
        .await
        .unwrap();
    // Before the flow exists: a surgery whose day 3 has passed, and the ones to come.
    let past = surgery(&ctx, "阑尾切除", "2026-11-19T10:00:00+08:00").await;
    ctx.engine
        .create_flow(&ctx.admin, post_op_flow())
        .await
        .expect("flow saved");
    // 23:30 Beijing time on the 24th: day 3 is the 27th.
    let fires = surgery(&ctx, "膝关节置换", "2026-11-24T23:30:00+08:00").await;
    let moved = surgery(&ctx, "胆囊切除", "2026-11-24T14:00:00+08:00").await;
    let deleted = surgery(&ctx, "疝修补", "2026-11-24T15:00:00+08:00").await;
    at(&ctx, datetime!(2026-11-24 09:30 +08:00)).await;

    // Five minutes before: the sweep has the timers as jobs; now one moves and one goes.
    at(&ctx, datetime!(2026-11-27 08:55 +08:00)).await;
    let version = ctx
        .engine
        .get_record(&ctx.admin, "surgery", moved, &[], Lang::En)
        .await
        .unwrap()
        .version;
    ctx.engine
        .update_record(
            &ctx.admin,
            "surgery",
            moved,
            data(json!({"surgery_date": "2026-11-25T14:00:00+08:00"})),
            version,
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine
        .delete_record(&ctx.admin, "surgery", deleted, 1)
        .await
        .unwrap();
    let pending = |id: Uuid| {
        let db = ctx.db().clone();
        async move {
            db.fetch_one(
                "SELECT COUNT(*) AS n FROM flow_jobs WHERE kind = 'timer' AND state = 'ready' AND dedupe_key LIKE $1",
                vec![format!("timer:post_op_day_3:{id}:%").into()],
            )
            .await
            .unwrap()
            .req_int("n")
            .unwrap()
        }
    };
    assert_eq!(pending(fires).await, 1, "the sweep wrote the coming timer");
    assert_eq!(
        pending(deleted).await,
        0,
        "the delete cancelled its timer at once"
    );
    assert_eq!(
        pending(moved).await,
        0,
        "the move cancelled the old time; the new one is the sweep's"
    );
    // Recorded late, after the sweep passed its fire time: the write schedules it itself.
    let late = surgery(&ctx, "白内障", "2026-11-24T11:00:00+08:00").await;
    assert_eq!(pending(late).await, 1);
    at(&ctx, datetime!(2026-11-27 08:59 +08:00)).await;
    assert_eq!(stage(&ctx, fires).await, "done", "not before 09:00");

    at(&ctx, datetime!(2026-11-27 09:00:30 +08:00)).await;
    assert_eq!(stage(&ctx, fires).await, "rehab_day_3");
    assert_eq!(runs_of(&ctx, fires).await, 1);
    assert_eq!(stage(&ctx, late).await, "rehab_day_3");
    assert_eq!(
        stage(&ctx, moved).await,
        "done",
        "its day 3 moved to the 28th"
    );
    assert_eq!(runs_of(&ctx, moved).await, 0);
    assert_eq!(
        runs_of(&ctx, deleted).await,
        0,
        "a deleted surgery's timer is cancelled"
    );

    at(&ctx, datetime!(2026-11-28 09:00:30 +08:00)).await;
    assert_eq!(stage(&ctx, moved).await, "rehab_day_3");
    assert_eq!(runs_of(&ctx, moved).await, 1);

    // Days later: nothing fires twice, and the past never fired.
    at(&ctx, datetime!(2026-12-05 09:00 +08:00)).await;
    assert_eq!(runs_of(&ctx, fires).await, 1);
    assert_eq!(runs_of(&ctx, moved).await, 1);
    assert_eq!(
        runs_of(&ctx, past).await,
        0,
        "enabling never replays the past"
    );
    assert_eq!(stage(&ctx, past).await, "done");
}
