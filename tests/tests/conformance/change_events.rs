//! Change events: every record write appends one event in its transaction, a follower reads
//! them in commit order without missing one, and hooks write rows that commit or roll back with
//! the record.

use crate::support::*;
use kangdao_engine::records::{
    ChangeEvent, ChangeHook, ChangeOp, HookFuture, ImportOptions, UniqueKey,
};
use kangdao_engine::store::Conn;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

on_both_backends!(
    every_write_raises_one_event,
    a_hook_commits_and_rolls_back_with_the_record,
    a_follower_never_misses_a_commit,
    a_follower_gets_events_only_once_they_are_on_disk
);

async fn all_events(ctx: &Ctx) -> Vec<kangdao_engine::records::CommittedChange> {
    ctx.engine.change_events_after(0, 10_000).await.unwrap()
}

async fn every_write_raises_one_event(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let r = create(&ctx, "patient", json!({"name": "张三", "mrn": "M1"})).await;
    let e = ctx.engine.clone();
    let updated = e
        .update_record(
            &ctx.admin,
            "patient",
            r.id,
            obj(json!({"tier": "VIP"})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    // A write that changes nothing: same version, no event.
    let same = e
        .update_record(
            &ctx.admin,
            "patient",
            r.id,
            obj(json!({"tier": "VIP", "name": "张三"})),
            2,
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(same.version, 2);
    e.delete_record(&ctx.admin, "patient", r.id, 2)
        .await
        .unwrap();
    e.restore_record(&ctx.admin, "patient", r.id, Lang::En)
        .await
        .unwrap();
    let key = UniqueKey {
        field: "mrn",
        value: "M2",
    };
    let up = e
        .upsert_record_by(
            &ctx.admin,
            "patient",
            key,
            obj(json!({"name": "李四"})),
            None,
            Lang::En,
        )
        .await
        .unwrap();
    assert!(up.created);
    let again = e
        .upsert_record_by(
            &ctx.admin,
            "patient",
            key,
            obj(json!({"name": "李四"})),
            None,
            Lang::En,
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.record.version, 1, "an identical push changes nothing");
    let bulk = e
        .create_records_bulk(
            &ctx.admin,
            "patient",
            vec![obj(json!({"name": "甲"})), obj(json!({"name": "乙"}))],
            Lang::En,
        )
        .await
        .unwrap();

    let imported = e
        .import_records(
            &ctx.admin,
            "patient",
            "name,mrn\n丙,M3\n".as_bytes(),
            &ImportOptions {
                atomic: true,
                ..Default::default()
            },
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(imported.imported, 1, "{imported:?}");
    let by_mrn = e
        .upsert_record_by(
            &ctx.admin,
            "patient",
            UniqueKey {
                field: "mrn",
                value: "M3",
            },
            obj(json!({"name": "丙"})),
            None,
            Lang::En,
        )
        .await
        .unwrap();

    let events = all_events(&ctx).await;
    let seen: Vec<(Uuid, ChangeOp, i64)> = events
        .iter()
        .map(|c| (c.event.record_id, c.event.op, c.event.version))
        .collect();
    assert_eq!(
        seen,
        vec![
            (r.id, ChangeOp::Create, 1),
            (r.id, ChangeOp::Update, 2),
            (r.id, ChangeOp::Delete, 3),
            (r.id, ChangeOp::Restore, 4),
            (up.record.id, ChangeOp::Create, 1),
            (bulk[0], ChangeOp::Create, 1),
            (bulk[1], ChangeOp::Create, 1),
            (by_mrn.record.id, ChangeOp::Create, 1),
        ]
    );
    let positions: Vec<i64> = events.iter().map(|c| c.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(events[1].event.changed_fields, vec!["tier".to_string()]);
    assert!(events[0].event.changed_fields.contains(&"name".to_string()));
    assert!(events.iter().all(|c| c.event.entity == "patient"));
    assert!(events.iter().all(|c| c.event.actor == ctx.admin.actor));
    // Following from a position gives only what came after it.
    let tail = ctx
        .engine
        .change_events_after(positions[4], 10)
        .await
        .unwrap();
    assert_eq!(tail.len(), 3);
    let limited = ctx.engine.change_events_after(0, 3).await.unwrap();
    assert_eq!(limited, events[..3].to_vec());
}

/// Writes a row per event into `hook_rows`; refuses deletes after writing its row.
struct RowWritingHook {
    refuse_deletes: AtomicBool,
}

impl ChangeHook for RowWritingHook {
    fn on_change<'a>(&'a self, conn: &'a mut Conn<'_>, event: &'a ChangeEvent) -> HookFuture<'a> {
        Box::pin(async move {
            conn.execute(
                "INSERT INTO hook_rows (record_id, op) VALUES ($1, $2)",
                vec![event.record_id.to_string().into(), event.op.as_str().into()],
            )
            .await?;
            if event.op == ChangeOp::Delete && self.refuse_deletes.load(Ordering::SeqCst) {
                return Err(EngineError::Conflict("the hook refuses deletes".into()));
            }
            Ok(())
        })
    }
}

async fn a_hook_commits_and_rolls_back_with_the_record(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    ctx.db()
        .execute(
            "CREATE TABLE hook_rows (record_id TEXT NOT NULL, op TEXT NOT NULL)",
            vec![],
        )
        .await
        .unwrap();
    let hook = Arc::new(RowWritingHook {
        refuse_deletes: AtomicBool::new(true),
    });
    ctx.engine.add_change_hook(hook.clone());
    let rows = |ctx: &Ctx| {
        let db = ctx.db().clone();
        async move {
            db.fetch_all("SELECT record_id, op FROM hook_rows ORDER BY op", vec![])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.req_text("record_id").unwrap(), r.req_text("op").unwrap()))
                .collect::<Vec<_>>()
        }
    };

    // Committed with the record.
    let r = create(&ctx, "patient", json!({"name": "张三", "mrn": "M1"})).await;
    assert_eq!(rows(&ctx).await, vec![(r.id.to_string(), "create".into())]);

    // The hook fails: the delete, its event and the hook's own row roll back together.
    let err = ctx
        .engine
        .delete_record(&ctx.admin, "patient", r.id, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    assert_eq!(rows(&ctx).await.len(), 1);
    let live = ctx
        .engine
        .get_record(&ctx.admin, "patient", r.id, &[], Lang::En)
        .await
        .unwrap();
    assert_eq!(live.version, 1, "the record is untouched");
    assert_eq!(all_events(&ctx).await.len(), 1);

    // A write that fails after the hook ran (a bad document in a later batch of a bulk
    // create) leaves none of the hook's rows.
    let mut docs: Vec<_> = (0..600)
        .map(|n| obj(json!({"name": format!("批量{n}")})))
        .collect();
    docs[550] = obj(json!({"name": ""}));
    let err = ctx
        .engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Validation { .. }), "{err:?}");
    assert_eq!(rows(&ctx).await.len(), 1);

    hook.refuse_deletes.store(false, Ordering::SeqCst);
    ctx.engine
        .delete_record(&ctx.admin, "patient", r.id, 1)
        .await
        .unwrap();
    assert_eq!(
        rows(&ctx).await,
        vec![
            (r.id.to_string(), "create".into()),
            (r.id.to_string(), "delete".into())
        ]
    );
}

async fn a_follower_never_misses_a_commit(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    const WRITERS: usize = 8;
    const WRITES: usize = 50;
    let done = Arc::new(AtomicBool::new(false));

    let follower = {
        let engine = ctx.engine.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut position = 0;
            let mut seen: BTreeMap<(Uuid, i64), i64> = BTreeMap::new();
            let mut last_version: BTreeMap<Uuid, i64> = BTreeMap::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = engine.change_events_after(position, 37).await.unwrap();
                for c in &batch {
                    assert!(c.position > position, "positions only grow");
                    position = c.position;
                    let key = (c.event.record_id, c.event.version);
                    assert!(
                        seen.insert(key, c.position).is_none(),
                        "an event is seen once: {key:?}"
                    );
                    let last = last_version.insert(c.event.record_id, c.event.version);
                    assert_eq!(
                        last.unwrap_or(0) + 1,
                        c.event.version,
                        "a record's versions come in order"
                    );
                }
                if finished && batch.is_empty() {
                    return seen;
                }
                if batch.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let engine = ctx.engine.clone();
        let admin = ctx.admin.clone();
        writers.push(tokio::spawn(async move {
            let mut written = BTreeSet::new();
            let mut current = None;
            for n in 0..WRITES {
                // A new record every fifth write, updates of it in between.
                match current {
                    Some((id, version)) if n % 5 != 0 => {
                        let r = engine
                            .update_record(
                                &admin,
                                "patient",
                                id,
                                obj(json!({"visit_count": n})),
                                version,
                                Lang::En,
                            )
                            .await
                            .unwrap();
                        written.insert((id, r.version));
                        current = Some((id, r.version));
                    }
                    _ => {
                        let r = engine
                            .create_record(
                                &admin,
                                "patient",
                                obj(json!({"name": format!("写{w}-{n}")})),
                                Lang::En,
                            )
                            .await
                            .unwrap();
                        written.insert((r.id, 1));
                        current = Some((r.id, 1));
                    }
                }
            }
            written
        }));
    }
    let mut expected = BTreeSet::new();
    for w in writers {
        expected.extend(w.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let seen = follower.await.unwrap();
    assert_eq!(expected.len(), WRITERS * WRITES);
    let seen_keys: BTreeSet<(Uuid, i64)> = seen.keys().copied().collect();
    assert_eq!(
        seen_keys, expected,
        "the follower saw every commit exactly once"
    );
}

/// On SQLite a commit is visible a sync before it is durable; the feed waits for that sync, so a
/// power cut cannot take back an event a follower acted on. PostgreSQL shows only durable
/// commits, and has no WAL syncer.
async fn a_follower_gets_events_only_once_they_are_on_disk(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    create(&ctx, "patient", json!({"name": "张三", "mrn": "M1"})).await;
    let before = ctx.db().wal_sync_stats();
    let events = all_events(&ctx).await;
    assert_eq!(events.len(), 1);
    let after = ctx.db().wal_sync_stats();
    match backend {
        Backend::Sqlite => {
            assert_eq!(after.syncs, before.syncs + 1, "the feed waited for a sync");
            assert_eq!(
                after.commits_synced, before.commits_synced,
                "a reader's wait is not a commit"
            );
        }
        Backend::Postgres => assert_eq!(after, Default::default()),
    }
    // Nothing new: nothing to wait for.
    let none = ctx
        .engine
        .change_events_after(events[0].position, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(ctx.db().wal_sync_stats(), after);
}
