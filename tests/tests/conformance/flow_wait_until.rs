//! `wait_until` with the clock moved by hand: an `until` wait resumes at the time its
//! expression gives (a datetime, or a date meaning 00:00 Beijing time) and moves when the
//! record's date moves; a `change` wait resumes when the watched field changes as its filter
//! asks, ignores other writes, and takes its `timeout` edge when nothing comes.

use crate::support::*;
use kangdao_engine::flows::runs::RunQuery;
use kangdao_engine::Lang;
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

on_both_backends!(
    an_until_wait_resumes_at_its_time_and_moves_with_the_record,
    a_change_wait_resumes_on_the_change_or_times_out,
    a_reply_to_the_message_an_earlier_node_sent_resumes_its_wait
);

async fn at(ctx: &Ctx, when: OffsetDateTime) {
    ctx.clock.set(when);
    ctx.engine.drain_flows().await.expect("flows settle");
}

async fn field(ctx: &Ctx, entity: &str, id: Uuid, name: &str) -> Value {
    ctx.engine
        .get_record(&ctx.admin, entity, id, &[], Lang::En)
        .await
        .unwrap()
        .data
        .get(name)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn run_of(ctx: &Ctx, flow: &str, record: Uuid) -> Value {
    let query = RunQuery {
        status: None,
        record_id: Some(record),
        page: 1,
        per_page: 10,
    };
    let (items, total) = ctx
        .engine
        .list_runs(&ctx.admin, flow, &query)
        .await
        .unwrap();
    assert_eq!(total, 1, "one run of {flow}");
    let run = ctx.engine.get_run(&ctx.admin, items[0].id).await.unwrap();
    serde_json::to_value(run).unwrap()
}

async fn an_until_wait_resumes_at_its_time_and_moves_with_the_record(backend: Backend) {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "surgery", "fields": [
                {"name": "procedure", "type": "text", "required": true},
                {"name": "surgery_date", "type": "datetime", "required": true},
                {"name": "stage", "type": "select", "options": [{"value": "done"}, {"value": "rehab_day_7"}]},
                {"name": "reminded", "type": "boolean"}]}),
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine
        .create_flow(
            &ctx.admin,
            json!({"name": "day_7", "enabled": true,
                "trigger": {"type": "record_created", "entity": "surgery"},
                "nodes": [
                    {"id": "wait", "type": "wait_until", "until": {"expr": "at(record.surgery_date + days(7), \"09:00\")"}},
                    {"id": "mark", "type": "update_record", "set": {"stage": "rehab_day_7"}}],
                "edges": [{"from": "trigger", "to": "wait"}, {"from": "wait", "to": "mark"}]}),
        )
        .await
        .expect("wait_until is saved");
    ctx.engine
        .create_flow(
            &ctx.admin,
            json!({"name": "day_10", "enabled": true,
                "trigger": {"type": "record_created", "entity": "surgery"},
                "nodes": [
                    {"id": "wait", "type": "wait_until", "until": {"expr": "date_of(record.surgery_date) + days(10)"}},
                    {"id": "remind", "type": "update_record", "set": {"reminded": true}}],
                "edges": [{"from": "trigger", "to": "wait"}, {"from": "wait", "to": "remind"}]}),
        )
        .await
        .unwrap();
    let id = ctx
        .engine
        .create_record(
            &ctx.admin,
            "surgery",
            obj(json!({"procedure": "膝关节置换", "surgery_date": "2026-11-24T10:00:00+08:00", "stage": "done"})),
            Lang::En,
        )
        .await
        .unwrap()
        .id;
    at(&ctx, datetime!(2026-11-24 10:00:05 +08:00)).await;
    let waiting = run_of(&ctx, "day_7", id).await;
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    assert_eq!(waiting["steps"][0]["status"], "waiting");
    assert_eq!(
        waiting["steps"][0]["output"]["until"],
        "2026-12-01T01:00:00.000000Z"
    );

    at(&ctx, datetime!(2026-12-01 08:59 +08:00)).await;
    assert_eq!(field(&ctx, "surgery", id, "stage").await, "done");
    // The surgery moves a day later: so does the wait.
    ctx.engine
        .update_record(
            &ctx.admin,
            "surgery",
            id,
            obj(json!({"surgery_date": "2026-11-25T10:00:00+08:00"})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-12-01 09:00:30 +08:00)).await;
    assert_eq!(
        field(&ctx, "surgery", id, "stage").await,
        "done",
        "the wait moved to the 2nd"
    );
    at(&ctx, datetime!(2026-12-02 09:00:30 +08:00)).await;
    assert_eq!(field(&ctx, "surgery", id, "stage").await, "rehab_day_7");
    let run = run_of(&ctx, "day_7", id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"][0]["status"], "succeeded");

    // A date is 00:00 Beijing time: the 25th + 10 days is the 5th of December, 00:00.
    at(&ctx, datetime!(2026-12-04 23:59 +08:00)).await;
    assert_eq!(field(&ctx, "surgery", id, "reminded").await, Value::Null);
    at(&ctx, datetime!(2026-12-05 00:00:30 +08:00)).await;
    assert_eq!(field(&ctx, "surgery", id, "reminded").await, true);
    assert_eq!(run_of(&ctx, "day_10", id).await["status"], "succeeded");
}

async fn a_change_wait_resumes_on_the_change_or_times_out(backend: Backend) {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "stay", "fields": [
                {"name": "bed", "type": "text"},
                {"name": "status", "type": "select", "options": [{"value": "admitted"}, {"value": "discharged"}]},
                {"name": "outcome", "type": "select", "options": [{"value": "in_time"}, {"value": "overdue"}]}]}),
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine
        .create_flow(
            &ctx.admin,
            json!({"name": "discharge_watch", "enabled": true,
                "trigger": {"type": "record_created", "entity": "stay"},
                "nodes": [
                    {"id": "wait", "type": "wait_until", "timeout": {"days": 2},
                     "change": {"fields": ["status"], "filter": {"field": "status", "op": "eq", "value": "discharged"}}},
                    {"id": "in_time", "type": "update_record", "set": {"outcome": "in_time"}},
                    {"id": "overdue", "type": "update_record", "set": {"outcome": "overdue"}}],
                "edges": [{"from": "trigger", "to": "wait"}, {"from": "wait", "to": "in_time"},
                          {"from": "wait", "to": "overdue", "when": "timeout"}]}),
        )
        .await
        .expect("a change wait is saved");
    let stay = |bed: &'static str| {
        let engine = &ctx.engine;
        let admin = &ctx.admin;
        async move {
            engine
                .create_record(
                    admin,
                    "stay",
                    obj(json!({"bed": bed, "status": "admitted"})),
                    Lang::En,
                )
                .await
                .unwrap()
                .id
        }
    };
    let leaves = stay("3A-01").await;
    let stays = stay("3A-02").await;
    at(&ctx, datetime!(2026-11-24 09:00:05 +08:00)).await;
    assert_eq!(
        run_of(&ctx, "discharge_watch", leaves).await["status"],
        "waiting"
    );

    // A day on: a write to another field resumes nothing; the discharge does.
    ctx.clock.set(datetime!(2026-11-25 09:00 +08:00));
    ctx.engine
        .update_record(
            &ctx.admin,
            "stay",
            stays,
            obj(json!({"bed": "3A-09"})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine
        .update_record(
            &ctx.admin,
            "stay",
            leaves,
            obj(json!({"status": "discharged"})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-11-25 09:00:05 +08:00)).await;
    assert_eq!(field(&ctx, "stay", leaves, "outcome").await, "in_time");
    assert_eq!(field(&ctx, "stay", stays, "outcome").await, Value::Null);
    let run = run_of(&ctx, "discharge_watch", leaves).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"][0]["output"]["outcome"], "changed");

    // Two days after it began, the other stay's wait times out.
    at(&ctx, datetime!(2026-11-26 08:59 +08:00)).await;
    assert_eq!(field(&ctx, "stay", stays, "outcome").await, Value::Null);
    at(&ctx, datetime!(2026-11-26 09:00:30 +08:00)).await;
    assert_eq!(field(&ctx, "stay", stays, "outcome").await, "overdue");
    let run = run_of(&ctx, "discharge_watch", stays).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"][0]["output"]["outcome"], "timeout");
    // The discharged stay's timeout was cancelled: it stays in time.
    assert_eq!(field(&ctx, "stay", leaves, "outcome").await, "in_time");
}

async fn a_reply_to_the_message_an_earlier_node_sent_resumes_its_wait(backend: Backend) {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "stay", "fields": [
                {"name": "phone", "type": "phone", "sensitive": true},
                {"name": "outcome", "type": "select", "options": [{"value": "replied"}, {"value": "no_reply"}]}]}),
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine
        .create_flow(
            &ctx.admin,
            json!({"name": "rehab_reply", "enabled": true,
                "trigger": {"type": "record_created", "entity": "stay"},
                "nodes": [
                    {"id": "rehab", "type": "send_message", "channel": "sms", "purpose": "clinical_follow_up",
                     "to": {"expr": "record.phone"}, "template": "请按康复指导锻炼，如有不适请回复。"},
                    {"id": "await_reply", "type": "wait_until", "timeout": {"days": 2},
                     "change": {"node": "rehab", "fields": ["replied_at"]}},
                    {"id": "replied", "type": "update_record", "set": {"outcome": "replied"}},
                    {"id": "no_reply", "type": "update_record", "set": {"outcome": "no_reply"}}],
                "edges": [{"from": "trigger", "to": "rehab"}, {"from": "rehab", "to": "await_reply"},
                          {"from": "await_reply", "to": "replied"},
                          {"from": "await_reply", "to": "no_reply", "when": "timeout"}]}),
        )
        .await
        .expect("a wait on an earlier node's message is saved");
    let id = ctx
        .engine
        .create_record(
            &ctx.admin,
            "stay",
            obj(json!({"phone": "13800138000"})),
            Lang::En,
        )
        .await
        .unwrap()
        .id;
    at(&ctx, datetime!(2026-11-24 09:00:05 +08:00)).await;
    let run = run_of(&ctx, "rehab_reply", id).await;
    assert_eq!(run["status"], "waiting", "{run}");
    let message: Uuid = run["steps"][0]["output"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(run["steps"][1]["output"]["id"], message.to_string());

    ctx.clock.set(datetime!(2026-11-25 10:00 +08:00));
    let version = ctx
        .engine
        .get_record(&ctx.admin, "message", message, &[], Lang::En)
        .await
        .unwrap()
        .version;
    ctx.engine
        .update_record(
            &ctx.admin,
            "message",
            message,
            obj(json!({"replied_at": "2026-11-25T10:00:00+08:00"})),
            version,
            Lang::En,
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-11-25 10:00:05 +08:00)).await;
    assert_eq!(field(&ctx, "stay", id, "outcome").await, "replied");
    at(&ctx, datetime!(2026-11-27 10:00 +08:00)).await;
    assert_eq!(field(&ctx, "stay", id, "outcome").await, "replied");
    assert_eq!(run_of(&ctx, "rehab_reply", id).await["status"], "succeeded");
}
