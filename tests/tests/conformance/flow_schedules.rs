//! Time-driven flows with the clock moved by hand: a cron flow fires at its slot in Beijing
//! time and not before, enabling never replays a past slot, slots missed while no server ran
//! fire once at start-up and two instances never fire one slot twice; a segment batch starts
//! one run per matching record, 1,000 per transaction, keyed so a batch written again doubles
//! nothing.

use crate::support::*;
use kangdao_engine::access::{Action, EntityPermission, FieldRule, Principal, RowScope};
use kangdao_engine::crypto::Keyring;
use kangdao_engine::flows::runs::RunQuery;
use kangdao_engine::flows::Precondition;
use kangdao_engine::names::{EntityName, FieldName};
use kangdao_engine::{Engine, EngineError, Lang, Settings};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use uuid::Uuid;

on_both_backends!(
    a_cron_flow_fires_at_its_slot_once_and_catches_up_once,
    a_segment_batch_runs_once_per_matching_record,
    a_segment_batch_names_a_saved_segment_read_as_it_stands_at_each_fire,
    a_large_segment_is_written_in_batches_and_resumes_without_doubles
);

async fn at(ctx: &Ctx, when: OffsetDateTime) {
    ctx.clock.set(when);
    ctx.engine.drain_flows().await.expect("flows settle");
}

async fn runs(engine: &Engine, admin: &Principal, flow: &str) -> Vec<Value> {
    let query = RunQuery {
        status: None,
        record_id: None,
        page: 1,
        per_page: 100,
    };
    let (items, _) = engine.list_runs(admin, flow, &query).await.unwrap();
    items
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

async fn second_instance(ctx: &Ctx) -> Engine {
    Engine::open(
        connect(&ctx.fresh.url).await,
        Keyring::from_master(&MASTER),
        ctx.clock.clone(),
        Settings::default(),
    )
    .await
    .expect("another instance")
}

fn morning_report(enabled: bool) -> Value {
    json!({"name": "morning_report", "enabled": enabled,
        "trigger": {"type": "cron", "cron": "0 9 * * *"},
        "nodes": [{"id": "note", "type": "create_record", "entity": "daily_note", "set": {"title": "晨间汇总"}}],
        "edges": [{"from": "trigger", "to": "note"}]})
}

async fn a_cron_flow_fires_at_its_slot_once_and_catches_up_once(backend: Backend) {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "daily_note", "fields": [{"name": "title", "type": "text"}]}),
            Lang::En,
        )
        .await
        .unwrap();
    // Saved disabled on the 24th; enabled at 10:00 on the 26th, after three 09:00 slots.
    ctx.clock.set(datetime!(2026-11-24 08:00 +08:00));
    let saved = ctx
        .engine
        .create_flow(&ctx.admin, morning_report(false))
        .await
        .expect("a cron flow is saved");
    assert_eq!(saved.version, 1);
    at(&ctx, datetime!(2026-11-26 10:00 +08:00)).await;
    ctx.engine
        .update_flow(
            &ctx.admin,
            "morning_report",
            morning_report(true),
            Precondition::default(),
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-11-26 10:00:05 +08:00)).await;
    assert!(
        runs(&ctx.engine, &ctx.admin, "morning_report")
            .await
            .is_empty(),
        "enabling replays no past slot"
    );

    at(&ctx, datetime!(2026-11-27 08:59:30 +08:00)).await;
    assert!(
        runs(&ctx.engine, &ctx.admin, "morning_report")
            .await
            .is_empty(),
        "not before 09:00 Beijing time"
    );
    at(&ctx, datetime!(2026-11-27 09:00:10 +08:00)).await;
    let fired = runs(&ctx.engine, &ctx.admin, "morning_report").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["status"], "succeeded", "{fired:?}");
    assert_eq!(fired[0]["trigger"]["type"], "cron");
    assert_eq!(
        fired[0]["trigger"]["fire_at"],
        "2026-11-27T01:00:00.000000Z"
    );
    assert!(
        fired[0]["trigger"].get("record_id").is_none(),
        "a cron run has no record"
    );
    at(&ctx, datetime!(2026-11-27 18:00 +08:00)).await;
    assert_eq!(
        runs(&ctx.engine, &ctx.admin, "morning_report").await.len(),
        1
    );

    // No server runs from the 27th to the 30th at noon: three slots pass unseen. A server
    // started then fires once, for the first slot it missed, and next at the coming 09:00.
    ctx.clock.set(datetime!(2026-11-30 12:00 +08:00));
    let restarted = second_instance(&ctx).await;
    restarted.drain_flows().await.unwrap();
    // Later rounds (the schedule is looked at every second) fire nothing more.
    for second in [5, 10, 15] {
        ctx.clock
            .set(datetime!(2026-11-30 12:00 +08:00) + time::Duration::seconds(second));
        restarted.drain_flows().await.unwrap();
    }
    let after_restart = runs(&restarted, &ctx.admin, "morning_report").await;
    assert_eq!(after_restart.len(), 2, "one fire for the missed slots");
    assert_eq!(
        after_restart[0]["trigger"]["fire_at"], "2026-11-28T01:00:00.000000Z",
        "{after_restart:?}"
    );

    // Two instances at one slot: it fires once.
    ctx.clock.set(datetime!(2026-12-01 09:00:01 +08:00));
    let (a, b) = tokio::join!(ctx.engine.drain_flows(), restarted.drain_flows());
    a.unwrap();
    b.unwrap();
    let both = runs(&ctx.engine, &ctx.admin, "morning_report").await;
    assert_eq!(both.len(), 3, "{both:?}");
    let notes = ctx
        .db()
        .fetch_one("SELECT COUNT(*) AS n FROM e_daily_note", vec![])
        .await
        .unwrap()
        .req_int("n")
        .unwrap();
    assert_eq!(notes, 3, "one note per fire");

    // Disabled: no fire at all.
    ctx.engine
        .update_flow(
            &ctx.admin,
            "morning_report",
            morning_report(false),
            Precondition::default(),
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-12-03 09:00:10 +08:00)).await;
    assert_eq!(
        runs(&ctx.engine, &ctx.admin, "morning_report").await.len(),
        3
    );
}

fn vip_review(filter: Value) -> Value {
    json!({"name": "vip_review", "enabled": true,
        "trigger": {"type": "segment_batch", "entity": "patient", "cron": "0 8 * * MON", "filter": filter},
        "nodes": [{"id": "tag", "type": "add_tag", "tags": ["季度回访"]}],
        "edges": [{"from": "trigger", "to": "tag"}]})
}

async fn patient(ctx: &Ctx, name: &str, tier: &str) -> Uuid {
    ctx.engine
        .create_record(
            &ctx.admin,
            "patient",
            obj(json!({"name": name, "tier": tier})),
            Lang::En,
        )
        .await
        .unwrap()
        .id
}

async fn tags(ctx: &Ctx, id: Uuid) -> Value {
    ctx.engine
        .get_record(&ctx.admin, "patient", id, &[], Lang::En)
        .await
        .unwrap()
        .data
        .get("tags")
        .cloned()
        .unwrap_or(Value::Null)
}

async fn a_segment_batch_runs_once_per_matching_record(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let vip_filter = json!({"field": "tier", "op": "eq", "value": "VIP"});

    // A designer who may design patients but not see their tier cannot select by it.
    let designer = Principal {
        user_id: None,
        actor: "designer".into(),
        username: "designer".into(),
        is_admin: false,
        departments: Vec::new(),
        permissions: vec![EntityPermission {
            entity: EntityName::new("patient").unwrap(),
            actions: vec![Action::Read, Action::Design],
            rows: RowScope::All,
            fields: [(FieldName::new("tier").unwrap(), FieldRule::Hidden)]
                .into_iter()
                .collect(),
        }],
        rights: Vec::new(),
        by_token: false,
        credentials_epoch: 0,
        run: None,
    };
    match ctx
        .engine
        .create_flow(&designer, vip_review(vip_filter.clone()))
        .await
    {
        Err(EngineError::BadRequest { details, .. }) => {
            assert!(
                details
                    .iter()
                    .any(|d| d.code == "field_hidden" && d.node.as_deref() == Some("trigger")),
                "{details:?}"
            );
        }
        other => panic!("a hidden field in the segment is refused: {other:?}"),
    }

    let vips = [
        patient(&ctx, "张三", "VIP").await,
        patient(&ctx, "李四", "VIP").await,
        patient(&ctx, "王五", "VIP").await,
    ];
    let normal = patient(&ctx, "赵六", "normal").await;
    let gone = patient(&ctx, "钱七", "VIP").await;
    ctx.engine
        .delete_record(&ctx.admin, "patient", gone, 1)
        .await
        .unwrap();
    ctx.engine
        .create_flow(&ctx.admin, vip_review(vip_filter))
        .await
        .expect("the segment flow is saved");

    // The 24th is a Tuesday: the first fire is Monday the 30th at 08:00 Beijing time.
    at(&ctx, datetime!(2026-11-30 07:59 +08:00)).await;
    assert!(runs(&ctx.engine, &ctx.admin, "vip_review").await.is_empty());
    at(&ctx, datetime!(2026-11-30 08:00:10 +08:00)).await;
    let fired = runs(&ctx.engine, &ctx.admin, "vip_review").await;
    assert_eq!(fired.len(), 3, "{fired:?}");
    let mut started: Vec<String> = fired
        .iter()
        .map(|r| r["trigger"]["record_id"].as_str().unwrap().to_string())
        .collect();
    started.sort();
    let mut expected: Vec<String> = vips.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(started, expected, "one run per matching record");
    for id in vips {
        assert_eq!(tags(&ctx, id).await, json!(["季度回访"]));
    }
    assert_ne!(tags(&ctx, normal).await, json!(["季度回访"]));

    // The batch written again from its start (as after a crash before its position was
    // stored) doubles nothing: each run is keyed by (flow, fire time, record).
    ctx.db()
        .execute(
            "UPDATE flow_schedules SET batch_fire = $1, batch_after = NULL WHERE flow = 'vip_review'",
            vec![datetime!(2026-11-30 08:00 +08:00).into()],
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-11-30 08:00:20 +08:00)).await;
    assert_eq!(runs(&ctx.engine, &ctx.admin, "vip_review").await.len(), 3);
    let left = ctx
        .db()
        .fetch_one(
            "SELECT COUNT(*) AS n FROM flow_schedules WHERE flow = 'vip_review' AND batch_fire IS NULL",
            vec![],
        )
        .await
        .unwrap()
        .req_int("n")
        .unwrap();
    assert_eq!(left, 1, "the batch is finished");

    // A week on, the segment as it stands then: one more VIP.
    let later = patient(&ctx, "孙八", "VIP").await;
    at(&ctx, datetime!(2026-12-07 08:00:10 +08:00)).await;
    let fired = runs(&ctx.engine, &ctx.admin, "vip_review").await;
    assert_eq!(fired.len(), 7, "{fired:?}");
    assert_eq!(tags(&ctx, later).await, json!(["季度回访"]));
}

fn segment_review(segment: &str) -> Value {
    json!({"name": "segment_review", "enabled": true,
        "trigger": {"type": "segment_batch", "entity": "patient", "cron": "0 8 * * MON", "segment": segment},
        "nodes": [{"id": "tag", "type": "add_tag", "tags": ["季度回访"]}],
        "edges": [{"from": "trigger", "to": "tag"}]})
}

async fn a_segment_batch_names_a_saved_segment_read_as_it_stands_at_each_fire(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let refused_with = |result: Result<kangdao_engine::flows::SavedFlow, EngineError>| match result
    {
        Err(EngineError::BadRequest { details, .. }) => {
            details.into_iter().map(|d| d.code).collect::<Vec<_>>()
        }
        other => panic!("refused on save: {other:?}"),
    };
    let unknown = ctx
        .engine
        .create_flow(&ctx.admin, segment_review("vips"))
        .await;
    assert_eq!(refused_with(unknown), ["unknown_segment"]);
    ctx.engine
        .create_segment(
            &ctx.admin,
            json!({"name": "recent_visits", "entity": "visit",
                   "filters": {"field": "amount", "op": "gt", "value": 0}}),
        )
        .await
        .unwrap();
    let elsewhere = ctx
        .engine
        .create_flow(&ctx.admin, segment_review("recent_visits"))
        .await;
    assert_eq!(refused_with(elsewhere), ["segment_entity"]);
    // A segment leaf inside a flow's own filter is refused (the flow format has no such
    // filter): the trigger names a segment.
    let mut leaf = vip_review(json!({"segment": "recent_visits"}));
    leaf["name"] = json!("leaf_review");
    let leaf = ctx.engine.create_flow(&ctx.admin, leaf).await;
    assert!(!refused_with(leaf).is_empty());

    ctx.engine
        .create_segment(
            &ctx.admin,
            json!({"name": "vips", "entity": "patient",
                   "filters": {"field": "tier", "op": "eq", "value": "VIP"}}),
        )
        .await
        .unwrap();
    let vip = patient(&ctx, "张三", "VIP").await;
    let normal = patient(&ctx, "赵六", "normal").await;
    ctx.engine
        .create_flow(&ctx.admin, segment_review("vips"))
        .await
        .expect("a flow naming a saved segment is saved");
    at(&ctx, datetime!(2026-11-30 08:00:10 +08:00)).await;
    let fired = runs(&ctx.engine, &ctx.admin, "segment_review").await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["trigger"]["record_id"], json!(vip.to_string()));
    assert_eq!(tags(&ctx, vip).await, json!(["季度回访"]));

    // The segment changed after the flow was saved: the next fire selects by its new filter.
    ctx.engine
        .update_segment(
            &ctx.admin,
            "vips",
            json!({"name": "vips", "entity": "patient",
                   "filters": {"field": "tier", "op": "eq", "value": "normal"}}),
            None,
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-12-07 08:00:10 +08:00)).await;
    let fired = runs(&ctx.engine, &ctx.admin, "segment_review").await;
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert_eq!(tags(&ctx, normal).await, json!(["季度回访"]));
}

async fn run_counts(ctx: &Ctx) -> (i64, i64) {
    let row = ctx
        .db()
        .fetch_one(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT record_id) AS d FROM flow_runs WHERE flow = 'member_sweep'",
            vec![],
        )
        .await
        .unwrap();
    (row.req_int("n").unwrap(), row.req_int("d").unwrap())
}

async fn a_large_segment_is_written_in_batches_and_resumes_without_doubles(backend: Backend) {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "member", "fields": [{"name": "active", "type": "boolean"}]}),
            Lang::En,
        )
        .await
        .unwrap();
    // More than two batches of 1,000 match; a few do not.
    let docs = (0..2_060)
        .map(|i| obj(json!({"active": i % 40 != 0})))
        .collect();
    let ids = ctx
        .engine
        .create_records_bulk(&ctx.admin, "member", docs, Lang::En)
        .await
        .unwrap();
    let matching = ids.iter().enumerate().filter(|(i, _)| i % 40 != 0).count() as i64;
    assert!(matching > 2_000);
    ctx.engine
        .create_flow(
            &ctx.admin,
            json!({"name": "member_sweep", "enabled": true,
                "trigger": {"type": "segment_batch", "entity": "member", "cron": "30 6 * * *",
                            "filter": {"field": "active", "op": "eq", "value": true}},
                "nodes": [{"id": "done", "type": "end"}],
                "edges": [{"from": "trigger", "to": "done"}]}),
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-11-25 06:30:05 +08:00)).await;
    assert_eq!(run_counts(&ctx).await, (matching, matching));

    // A crash after the first batch lost its position: the batch goes on from an earlier id
    // and starts nobody twice.
    let mut sorted = ids.clone();
    sorted.sort();
    ctx.db()
        .execute(
            "UPDATE flow_schedules SET batch_fire = $1, batch_after = $2 WHERE flow = 'member_sweep'",
            vec![
                datetime!(2026-11-25 06:30 +08:00).into(),
                sorted[500].into(),
            ],
        )
        .await
        .unwrap();
    at(&ctx, datetime!(2026-11-25 06:30:10 +08:00)).await;
    assert_eq!(run_counts(&ctx).await, (matching, matching));
}
