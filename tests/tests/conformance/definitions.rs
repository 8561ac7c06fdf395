//! Definition changes: versions as preconditions, concurrent changes, unchanged definitions,
//! backfills that resume and never overwrite a concurrent write, unique indexes built after the
//! commit (CONCURRENTLY on PostgreSQL), lock timeouts, and definitions applied as one batch.

use crate::support::*;
use kangdao_engine::crypto::Keyring;
use kangdao_engine::entities::ChangeKind;
use kangdao_engine::{Engine, EngineError, Lang, Settings};
use serde_json::{json, Value};
use std::sync::Arc;

on_both_backends!(
    a_read_definition_is_accepted_back_and_unchanged_keeps_its_version,
    a_stale_version_is_a_conflict,
    concurrent_changes_each_land_or_conflict,
    concurrent_changes_without_a_precondition_never_lose_a_version,
    an_interrupted_backfill_resumes_at_start_up,
    a_backfill_never_overwrites_a_concurrent_write,
    insert_update_and_backfill_project_alike,
    unique_on_a_table_with_rows_is_built_after_the_commit,
    an_interrupted_unique_build_resumes_at_start_up,
    a_unique_build_that_meets_shared_values_is_abandoned,
    a_table_held_by_another_transaction_is_a_conflict,
    a_batch_installs_entities_referencing_each_other,
    a_batch_dry_run_answers_the_plan_and_writes_nothing,
    a_failing_batch_leaves_nothing_applied,
);

fn with_fields(definition: Value, extra: &[Value]) -> Value {
    let mut definition = definition;
    let fields = definition["fields"].as_array_mut().expect("fields");
    fields.extend(extra.iter().cloned());
    definition
}

async fn definition_versions(ctx: &Ctx, entity: &str) -> i64 {
    scalar_i64(
        ctx,
        &format!("SELECT COUNT(*) FROM entity_versions WHERE entity = '{entity}'"),
    )
    .await
}

async fn reopen(ctx: &Ctx) -> Engine {
    Engine::open(
        connect(&ctx.fresh.url).await,
        Keyring::from_master(&MASTER),
        ctx.clock.clone(),
        Settings::default(),
    )
    .await
    .expect("reopen the engine")
}

async fn seed_patients(ctx: &Ctx, n: usize) -> Vec<uuid::Uuid> {
    let docs = (0..n)
        .map(|i| obj(json!({"name": format!("患者{i}"), "mrn": format!("M{i:04}"), "tags": ["a", format!("t{}", i % 3)]})))
        .collect();
    ctx.engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .expect("seed patients")
}

async fn a_read_definition_is_accepted_back_and_unchanged_keeps_its_version(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let read = ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap();
    let as_read = serde_json::to_value(&read).unwrap();
    assert_eq!(as_read["version"], 1);
    // The document a GET answered, version included, goes straight back.
    let same = ctx
        .engine
        .update_entity(&ctx.admin, "patient", as_read.clone(), Lang::En)
        .await
        .expect("a read definition is accepted back");
    assert_eq!(same.version, 1, "an unchanged definition keeps its version");
    assert_eq!(definition_versions(&ctx, "patient").await, 1);
    // Edited, it lands as version 2.
    let edited = with_fields(as_read, &[json!({"name": "nickname", "type": "text"})]);
    let changed = ctx
        .engine
        .update_entity(&ctx.admin, "patient", edited, Lang::En)
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    assert_eq!(definition_versions(&ctx, "patient").await, 2);
}

async fn a_stale_version_is_a_conflict(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let v1 =
        serde_json::to_value(ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap()).unwrap();
    let add = |name: &str| with_fields(v1.clone(), &[json!({"name": name, "type": "text"})]);
    ctx.engine
        .update_entity_if(&ctx.admin, "patient", add("a1"), Some(1), Lang::En)
        .await
        .expect("current If-Match");
    // Both preconditions, stale: the body's version and If-Match.
    let stale_body = ctx
        .engine
        .update_entity(&ctx.admin, "patient", add("a2"), Lang::En)
        .await;
    assert!(
        matches!(stale_body, Err(EngineError::VersionConflict { current: 2 })),
        "{stale_body:?}"
    );
    let mut no_version = add("a3");
    no_version.as_object_mut().unwrap().remove("version");
    let stale_header = ctx
        .engine
        .update_entity_if(&ctx.admin, "patient", no_version.clone(), Some(1), Lang::En)
        .await;
    assert!(
        matches!(
            stale_header,
            Err(EngineError::VersionConflict { current: 2 })
        ),
        "{stale_header:?}"
    );
    let def = ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap();
    assert!(def.definition.field("a1").is_some());
    assert!(def.definition.field("a2").is_none() && def.definition.field("a3").is_none());
    // Neither: applied as it stands.
    let applied = ctx
        .engine
        .update_entity(&ctx.admin, "patient", no_version, Lang::En)
        .await
        .expect("no precondition");
    assert_eq!(applied.version, 3);
}

async fn concurrent_changes_each_land_or_conflict(backend: Backend) {
    let ctx = Arc::new(open_with_entities(backend).await);
    let read =
        serde_json::to_value(ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let ctx = ctx.clone();
        let body = with_fields(
            read.clone(),
            &[json!({"name": format!("extra_{i}"), "type": "text"})],
        );
        tasks.push(tokio::spawn(async move {
            let outcome = ctx
                .engine
                .update_entity(&ctx.admin, "patient", body, Lang::En)
                .await;
            (i, outcome)
        }));
    }
    let mut landed = Vec::new();
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        match outcome {
            Ok(_) => landed.push(i),
            Err(EngineError::VersionConflict { .. }) => {}
            Err(other) => panic!("extra_{i}: {other:?}"),
        }
    }
    assert_eq!(landed.len(), 1, "every change read version 1: one lands");
    let def = ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap();
    for i in 0..20 {
        assert_eq!(
            def.definition.field(&format!("extra_{i}")).is_some(),
            landed.contains(&i),
            "extra_{i}"
        );
    }
    assert_eq!(def.version, 2);
}

async fn concurrent_changes_without_a_precondition_never_lose_a_version(backend: Backend) {
    let ctx = Arc::new(open_with_entities(backend).await);
    let mut read =
        serde_json::to_value(ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap()).unwrap();
    read.as_object_mut().unwrap().remove("version");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let ctx = ctx.clone();
        let body = with_fields(
            read.clone(),
            &[json!({"name": format!("extra_{i}"), "type": "text"})],
        );
        tasks.push(tokio::spawn(async move {
            ctx.engine
                .update_entity(&ctx.admin, "patient", body, Lang::En)
                .await
        }));
    }
    let mut landed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => landed += 1,
            Err(EngineError::VersionConflict { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(landed >= 1);
    let def = ctx.engine.get_entity(&ctx.admin, "patient").await.unwrap();
    assert_eq!(
        def.version,
        1 + landed as i64,
        "each landed change is one version"
    );
    assert_eq!(
        definition_versions(&ctx, "patient").await,
        1 + landed as i64
    );
}

async fn an_interrupted_backfill_resumes_at_start_up(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let ids = seed_patients(&ctx, 40).await;
    let def = with_fields(
        patient_definition(),
        &[json!({"name": "nickname", "type": "text", "indexed": true})],
    );
    ctx.engine
        .update_entity(&ctx.admin, "patient", def, Lang::En)
        .await
        .unwrap();
    for id in &ids[..10] {
        let current = ctx
            .engine
            .get_record(&ctx.admin, "patient", *id, &[], Lang::En)
            .await
            .unwrap();
        ctx.engine
            .update_record(
                &ctx.admin,
                "patient",
                *id,
                obj(json!({"nickname": "小张"})),
                current.version,
                Lang::En,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) FROM e_patient WHERE f_nickname = '小张'"
        )
        .await,
        10
    );
    // An interruption: the field was marked for a backfill that never ran.
    ctx.db()
        .execute("UPDATE e_patient SET f_nickname = NULL", vec![])
        .await
        .unwrap();
    ctx.db()
        .execute(
            "UPDATE entity_fields SET backfilled = $1 WHERE entity = 'patient' AND field = 'nickname'",
            vec![false.into()],
        )
        .await
        .unwrap();
    let _restarted = reopen(&ctx).await;
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) FROM e_patient WHERE f_nickname = '小张'"
        )
        .await,
        10,
        "the backfill resumed at start-up"
    );
    let pending = scalar_i64(
        &ctx,
        "SELECT COUNT(*) FROM entity_fields WHERE entity = 'patient' AND field = 'nickname' AND backfilled = TRUE",
    )
    .await;
    assert_eq!(pending, 1, "the marker is cleared once done");
}

/// A projection column that disagrees with the document's value.
async fn stale_projections(ctx: &Ctx, field: &str) -> i64 {
    let sql = match ctx.backend() {
        Backend::Sqlite => format!(
            "SELECT COUNT(*) FROM e_patient WHERE f_{field} IS NOT json_extract(data, '$.{field}')"
        ),
        Backend::Postgres => format!(
            "SELECT COUNT(*) FROM e_patient WHERE f_{field} IS DISTINCT FROM (data->>'{field}')"
        ),
    };
    scalar_i64(ctx, &sql).await
}

async fn a_backfill_never_overwrites_a_concurrent_write(backend: Backend) {
    let ctx = Arc::new(open_with_entities(backend).await);
    let ids = seed_patients(&ctx, 600).await;
    let def = with_fields(
        patient_definition(),
        &[json!({"name": "level", "type": "text"})],
    );
    ctx.engine
        .update_entity(&ctx.admin, "patient", def, Lang::En)
        .await
        .unwrap();
    // The backfill runs again while records are written.
    ctx.db()
        .execute(
            "UPDATE entity_fields SET backfilled = $1 WHERE entity = 'patient' AND field = 'level'",
            vec![false.into()],
        )
        .await
        .unwrap();
    // Records are written all the while the backfill runs, and a little after.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let ctx = ctx.clone();
        let ids = ids.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let id = ids[(n * 37) % ids.len()];
                let current = ctx
                    .engine
                    .get_record(&ctx.admin, "patient", id, &[], Lang::En)
                    .await
                    .unwrap();
                ctx.engine
                    .update_record(
                        &ctx.admin,
                        "patient",
                        id,
                        obj(json!({"level": format!("L{n}")})),
                        current.version,
                        Lang::En,
                    )
                    .await
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    for _ in 0..4 {
        ctx.db()
            .execute(
                "UPDATE entity_fields SET backfilled = $1 WHERE entity = 'patient' AND field = 'level'",
                vec![false.into()],
            )
            .await
            .unwrap();
        ctx.engine.resume_definition_work().await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let writes = writer.await.unwrap();
    assert!(writes > 0);
    assert_eq!(stale_projections(&ctx, "level").await, 0);
}

async fn insert_update_and_backfill_project_alike(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let doc = json!({"name": "投影", "mrn": "P1", "total_spent": 12.5, "tags": ["x", "y"], "visit_count": 3, "birth_date": "1980-02-03"});
    let inserted = create(&ctx, "patient", doc.clone()).await;
    let updated = create(&ctx, "patient", json!({"name": "投影", "mrn": "P2"})).await;
    let mut change = doc.clone();
    change["mrn"] = json!("P2");
    ctx.engine
        .update_record(
            &ctx.admin,
            "patient",
            updated.id,
            obj(change),
            updated.version,
            Lang::En,
        )
        .await
        .unwrap();
    let mut third = doc.clone();
    third["mrn"] = json!("P3");
    let backfilled = create(&ctx, "patient", third).await;
    // Wipe the third record's projection and let the backfill write it again.
    ctx.db()
        .execute(
            "UPDATE e_patient SET f_total_spent = NULL, f_visit_count = NULL, f_birth_date = NULL, f_name = NULL WHERE id = $1",
            vec![backfilled.id.into()],
        )
        .await
        .unwrap();
    ctx.db()
        .execute(
            "DELETE FROM e_patient__tags WHERE record_id = $1",
            vec![backfilled.id.into()],
        )
        .await
        .unwrap();
    ctx.db()
        .execute(
            "UPDATE entity_fields SET backfilled = $1 WHERE entity = 'patient'",
            vec![false.into()],
        )
        .await
        .unwrap();
    ctx.engine.resume_definition_work().await.unwrap();
    let mut projections = Vec::new();
    for id in [inserted.id, updated.id, backfilled.id] {
        let row = ctx
            .db()
            .fetch_one(
                "SELECT f_name, f_total_spent, f_visit_count, f_birth_date FROM e_patient WHERE id = $1",
                vec![id.into()],
            )
            .await
            .unwrap();
        let tags = ctx
            .db()
            .fetch_all(
                "SELECT value FROM e_patient__tags WHERE record_id = $1 ORDER BY value",
                vec![id.into()],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.req_text("value").unwrap())
            .collect::<Vec<_>>();
        projections.push((
            row.text("f_name").unwrap(),
            row.int("f_total_spent").unwrap(),
            row.int("f_visit_count").unwrap(),
            row.date("f_birth_date").unwrap(),
            tags,
        ));
    }
    assert_eq!(projections[0].1, Some(1250));
    assert_eq!(projections[0].4, vec!["x".to_string(), "y".to_string()]);
    assert_eq!(projections[0], projections[1], "insert and update");
    assert_eq!(projections[0], projections[2], "insert and backfill");
}

async fn unique_index_state(ctx: &Ctx, field: &str) -> (Option<String>, bool) {
    let row = ctx
        .db()
        .fetch_one(
            "SELECT unique_index, unique_pending FROM entity_fields WHERE entity = 'patient' AND field = $1",
            vec![field.into()],
        )
        .await
        .unwrap();
    (
        row.text("unique_index").unwrap(),
        row.bool("unique_pending").unwrap().unwrap(),
    )
}

/// Whether an index exists (and, on PostgreSQL, is valid).
async fn index_is_valid(ctx: &Ctx, index: &str) -> bool {
    match ctx.backend() {
        Backend::Sqlite => {
            scalar_i64(
                ctx,
                &format!(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = '{index}'"
                ),
            )
            .await
                == 1
        }
        Backend::Postgres => {
            scalar_i64(
                ctx,
                &format!(
                    "SELECT COUNT(*) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
                     WHERE c.relname = '{index}' AND i.indisvalid"
                ),
            )
            .await
                == 1
        }
    }
}

async fn with_card_numbers(ctx: &Ctx, ids: &[uuid::Uuid], shared: bool) {
    let def = with_fields(
        patient_definition(),
        &[json!({"name": "card_no", "type": "text"})],
    );
    ctx.engine
        .update_entity(&ctx.admin, "patient", def, Lang::En)
        .await
        .unwrap();
    for (i, id) in ids.iter().enumerate() {
        let value = if shared && i < 2 {
            "C-same".to_string()
        } else {
            format!("C{i}")
        };
        let current = ctx
            .engine
            .get_record(&ctx.admin, "patient", *id, &[], Lang::En)
            .await
            .unwrap();
        ctx.engine
            .update_record(
                &ctx.admin,
                "patient",
                *id,
                obj(json!({"card_no": value})),
                current.version,
                Lang::En,
            )
            .await
            .unwrap();
    }
}

fn card_no_unique() -> Value {
    with_fields(
        patient_definition(),
        &[json!({"name": "card_no", "type": "text", "unique": true})],
    )
}

async fn unique_on_a_table_with_rows_is_built_after_the_commit(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let ids = seed_patients(&ctx, 20).await;
    with_card_numbers(&ctx, &ids, true).await;
    // Shared values: refused, nothing changes.
    let refused = ctx
        .engine
        .update_entity(&ctx.admin, "patient", card_no_unique(), Lang::En)
        .await;
    assert!(
        matches!(&refused, Err(EngineError::UniqueViolation { field }) if field == "card_no"),
        "{refused:?}"
    );
    assert_eq!(
        ctx.engine
            .get_entity(&ctx.admin, "patient")
            .await
            .unwrap()
            .version,
        2
    );
    assert_eq!(unique_index_state(&ctx, "card_no").await, (None, false));
    // Distinct values: the index is built and valid, the field no longer pending.
    let current = ctx
        .engine
        .get_record(&ctx.admin, "patient", ids[0], &[], Lang::En)
        .await
        .unwrap();
    ctx.engine
        .update_record(
            &ctx.admin,
            "patient",
            ids[0],
            obj(json!({"card_no": "C0"})),
            current.version,
            Lang::En,
        )
        .await
        .unwrap();
    let changes = ctx
        .engine
        .apply_definitions(&ctx.admin, vec![card_no_unique()], false, Lang::En)
        .await
        .unwrap();
    assert_eq!(
        changes.entities[0].unique_added,
        vec!["card_no".to_string()]
    );
    assert_eq!(
        changes.entities[0].unique_pending,
        vec!["card_no".to_string()]
    );
    let (index, pending) = unique_index_state(&ctx, "card_no").await;
    let index = index.expect("a unique index name");
    assert!(!pending);
    assert!(index_is_valid(&ctx, &index).await);
    let clash = try_create(&ctx, "patient", json!({"name": "重复", "card_no": "C5"})).await;
    assert!(
        matches!(clash, Err(EngineError::UniqueViolation { .. })),
        "{clash:?}"
    );
}

async fn an_interrupted_unique_build_resumes_at_start_up(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let ids = seed_patients(&ctx, 20).await;
    with_card_numbers(&ctx, &ids, false).await;
    ctx.engine
        .update_entity(&ctx.admin, "patient", card_no_unique(), Lang::En)
        .await
        .unwrap();
    let (index, _) = unique_index_state(&ctx, "card_no").await;
    let index = index.unwrap();
    // An interruption: the index is gone (on PostgreSQL an invalid leftover of a failed
    // concurrent build stands in its place) and the field is still pending.
    ctx.db()
        .execute(&format!("DROP INDEX \"{index}\""), vec![])
        .await
        .unwrap();
    if backend == Backend::Postgres {
        let first = ids[0];
        ctx.db()
            .execute(
                "UPDATE e_patient SET f_card_no = 'C1' WHERE id = $1",
                vec![first.into()],
            )
            .await
            .unwrap();
        let failed = ctx
            .db()
            .execute(
                &format!("CREATE UNIQUE INDEX CONCURRENTLY \"{index}\" ON e_patient (f_card_no) WHERE deleted_at IS NULL"),
                vec![],
            )
            .await;
        assert!(failed.is_err());
        assert!(!index_is_valid(&ctx, &index).await);
        ctx.db()
            .execute(
                "UPDATE e_patient SET f_card_no = 'C0' WHERE id = $1",
                vec![first.into()],
            )
            .await
            .unwrap();
    }
    ctx.db()
        .execute(
            "UPDATE entity_fields SET unique_pending = $1 WHERE entity = 'patient' AND field = 'card_no'",
            vec![true.into()],
        )
        .await
        .unwrap();
    let _restarted = reopen(&ctx).await;
    assert!(index_is_valid(&ctx, &index).await, "rebuilt at start-up");
    assert_eq!(
        unique_index_state(&ctx, "card_no").await,
        (Some(index), false)
    );
}

async fn a_unique_build_that_meets_shared_values_is_abandoned(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let ids = seed_patients(&ctx, 10).await;
    with_card_numbers(&ctx, &ids, false).await;
    ctx.engine
        .update_entity(&ctx.admin, "patient", card_no_unique(), Lang::En)
        .await
        .unwrap();
    let (index, _) = unique_index_state(&ctx, "card_no").await;
    let index = index.unwrap();
    // Interrupted before the build, and meanwhile two records came to share a value.
    ctx.db()
        .execute(&format!("DROP INDEX \"{index}\""), vec![])
        .await
        .unwrap();
    ctx.db()
        .execute(
            "UPDATE e_patient SET f_card_no = 'C1' WHERE id = $1",
            vec![ids[0].into()],
        )
        .await
        .unwrap();
    ctx.db()
        .execute(
            "UPDATE entity_fields SET unique_pending = $1 WHERE entity = 'patient' AND field = 'card_no'",
            vec![true.into()],
        )
        .await
        .unwrap();
    let restarted = reopen(&ctx).await;
    assert!(!index_is_valid(&ctx, &index).await);
    assert_eq!(unique_index_state(&ctx, "card_no").await, (None, false));
    let def = restarted.get_entity(&ctx.admin, "patient").await.unwrap();
    assert_eq!(
        def.version, 4,
        "the field stops being unique in a new version"
    );
    assert!(!def.definition.field("card_no").unwrap().unique);
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'entity.unique_abandoned'"
        )
        .await,
        1
    );
}

async fn a_table_held_by_another_transaction_is_a_conflict(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    seed_patients(&ctx, 5).await;
    let other = connect(&ctx.fresh.url).await;
    let mut holder = other.begin().await.unwrap();
    if backend == Backend::Postgres {
        holder
            .execute("LOCK TABLE e_patient IN ACCESS SHARE MODE", vec![])
            .await
            .unwrap();
    }
    let def = with_fields(
        patient_definition(),
        &[json!({"name": "blocked", "type": "text"})],
    );
    let outcome = ctx
        .engine
        .update_entity(&ctx.admin, "patient", def.clone(), Lang::En)
        .await;
    assert!(
        matches!(outcome, Err(EngineError::Conflict(_))),
        "{outcome:?}"
    );
    drop(holder);
    let after = ctx
        .engine
        .update_entity(&ctx.admin, "patient", def, Lang::En)
        .await
        .expect("once the table is free");
    assert_eq!(after.version, 2);
}

fn clinic_definitions() -> (Value, Value) {
    let member = json!({"name": "member", "fields": [
        {"name": "name", "type": "text", "required": true},
        {"name": "last_checkup", "type": "reference", "entity": "checkup"},
    ]});
    let checkup = json!({"name": "checkup", "fields": [
        {"name": "member", "type": "reference", "entity": "member", "required": true},
        {"name": "code", "type": "text", "unique": true},
    ]});
    (member, checkup)
}

async fn a_batch_installs_entities_referencing_each_other(backend: Backend) {
    let ctx = open(backend).await;
    let (member, checkup) = clinic_definitions();
    let changes = ctx
        .engine
        .apply_definitions(&ctx.admin, vec![member, checkup], false, Lang::En)
        .await
        .expect("references in either order");
    assert!(changes
        .entities
        .iter()
        .all(|c| c.change == ChangeKind::Created));
    let person = create(&ctx, "member", json!({"name": "王五"})).await;
    let visit = create(
        &ctx,
        "checkup",
        json!({"member": person.id.to_string(), "code": "K1"}),
    )
    .await;
    ctx.engine
        .update_record(
            &ctx.admin,
            "member",
            person.id,
            obj(json!({"last_checkup": visit.id.to_string()})),
            person.version,
            Lang::En,
        )
        .await
        .unwrap();
    // Again, unchanged: no new versions.
    let (member, checkup) = clinic_definitions();
    let again = ctx
        .engine
        .apply_definitions(&ctx.admin, vec![checkup, member], false, Lang::En)
        .await
        .unwrap();
    assert!(again
        .entities
        .iter()
        .all(|c| c.change == ChangeKind::Unchanged && c.version == 1));
}

async fn a_batch_dry_run_answers_the_plan_and_writes_nothing(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    seed_patients(&ctx, 12).await;
    let (member, _) = clinic_definitions();
    let member = with_fields(
        member,
        &[json!({"name": "patient", "type": "reference", "entity": "patient"})],
    );
    let patient = with_fields(
        patient_definition(),
        &[
            json!({"name": "insurer", "type": "text", "required": true, "indexed": true}),
            json!({"name": "card_no", "type": "text", "unique": true}),
        ],
    );
    let (_, checkup) = clinic_definitions();
    let before = dump_all_tables(&ctx).await;
    let plan = ctx
        .engine
        .apply_definitions(&ctx.admin, vec![patient, member, checkup], true, Lang::En)
        .await
        .unwrap();
    assert!(plan.dry_run);
    let patient = &plan.entities[0];
    assert_eq!(patient.change, ChangeKind::Changed);
    assert_eq!(patient.version, 2);
    assert_eq!(
        patient.fields_added,
        vec!["insurer".to_string(), "card_no".to_string()]
    );
    assert_eq!(patient.indexes_added, vec!["insurer".to_string()]);
    assert_eq!(patient.unique_added, vec!["card_no".to_string()]);
    assert_eq!(patient.unique_pending, vec!["card_no".to_string()]);
    assert_eq!(
        patient.impact.invalid_records, 12,
        "insurer is required and empty"
    );
    assert!(!patient.impact.examples.is_empty());
    assert_eq!(plan.entities[1].change, ChangeKind::Created);
    assert_eq!(plan.entities[2].change, ChangeKind::Created);
    assert_eq!(
        dump_all_tables(&ctx).await,
        before,
        "a dry run writes nothing"
    );
}

async fn a_failing_batch_leaves_nothing_applied(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let ids = seed_patients(&ctx, 6).await;
    with_card_numbers(&ctx, &ids, true).await;
    let (member, checkup) = clinic_definitions();
    let before = dump_all_tables(&ctx).await;
    // The second definition is invalid.
    let invalid = json!({"name": "checkup", "fields": [{"name": "member", "type": "reference"}]});
    let refused = ctx
        .engine
        .apply_definitions(&ctx.admin, vec![member.clone(), invalid], false, Lang::En)
        .await;
    assert!(
        matches!(refused, Err(EngineError::BadRequest { .. })),
        "{refused:?}"
    );
    // The third breaks only inside the transaction: card_no holds shared values.
    let refused = ctx
        .engine
        .apply_definitions(
            &ctx.admin,
            vec![member, checkup, card_no_unique()],
            false,
            Lang::En,
        )
        .await;
    assert!(
        matches!(refused, Err(EngineError::UniqueViolation { .. })),
        "{refused:?}"
    );
    assert_eq!(dump_all_tables(&ctx).await, before, "nothing half-applied");
    assert!(matches!(
        ctx.engine.get_entity(&ctx.admin, "member").await,
        Err(EngineError::NotFound { .. })
    ));
}
