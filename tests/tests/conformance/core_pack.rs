//! The built-in core pack (task, message, consent) and the `subject` field type that links its
//! records to a record of any entity.

use crate::support::*;
use kangdao_engine::io::TabularFormat;
use kangdao_engine::records::{FilterExpr, ImportOptions, ListQuery, SortKey};
use kangdao_engine::{Engine, EngineError, Lang};
use serde_json::{json, Value};

on_both_backends!(core_entities_exist_from_the_first_start);
on_both_backends!(two_servers_starting_together_install_core_once);
on_both_backends!(subjects_link_to_live_records_of_any_entity);
on_both_backends!(subjects_filter_and_show_in_the_360_view);
on_both_backends!(core_entities_keep_their_fields_and_stay);
on_both_backends!(a_message_recipient_is_stored_sealed);

fn subject(entity: &str, id: impl ToString) -> Value {
    json!({"entity": entity, "id": id.to_string()})
}

async fn titles_matching(ctx: &Ctx, filter: Value) -> Result<Vec<String>, EngineError> {
    let query = ListQuery {
        filter: Some(FilterExpr::parse(filter)?),
        sort: SortKey::parse_list("title"),
        ..ListQuery::default()
    };
    let page = ctx.engine.list_records(&ctx.admin, "task", &query).await?;
    Ok(page
        .items
        .iter()
        .map(|r| r.data["title"].as_str().unwrap_or_default().to_string())
        .collect())
}

async fn patient_names(ctx: &Ctx, filter: Value) -> Vec<String> {
    let page = ctx
        .engine
        .list_records(
            &ctx.admin,
            "patient",
            &ListQuery {
                filter: Some(FilterExpr::parse(filter).unwrap()),
                sort: SortKey::parse_list("name"),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    page.items
        .iter()
        .map(|r| r.data["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn core_entities_exist_from_the_first_start(backend: Backend) {
    let ctx = open(backend).await;
    let names: Vec<String> = ctx
        .engine
        .list_entities(&ctx.admin)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.definition.name.to_string())
        .collect();
    assert_eq!(names, ["consent", "message", "task"]);
    let task = ctx.engine.get_entity(&ctx.admin, "task").await.unwrap();
    assert_eq!(task.version, 1);
    assert_eq!(
        task.definition.owner_field.as_ref().map(|f| f.as_str()),
        Some("assignee_user")
    );
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) FROM packs WHERE name = 'core' AND version = '1.0.0'"
        )
        .await,
        1
    );
    // Installed as `system`, with its audit entries.
    assert_eq!(
        scalar_i64(
            &ctx,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'entity.create' AND actor = 'system'"
        )
        .await,
        3
    );
    // A second start installs nothing again.
    let again = Engine::open(
        connect(&ctx.fresh.url).await,
        kangdao_engine::crypto::Keyring::from_master(&MASTER),
        ctx.clock.clone(),
        kangdao_engine::Settings::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        again.get_entity(&ctx.admin, "task").await.unwrap().version,
        1
    );
    assert_eq!(
        scalar_i64(&ctx, "SELECT COUNT(*) FROM entity_versions").await,
        3
    );
}

async fn two_servers_starting_together_install_core_once(backend: Backend) {
    let fresh = FreshDatabase::new(backend).await;
    // Migrated first: what is raced here is the pack install (sqlx's SQLite migrator takes
    // no lock, so two processes migrating one new file at once is a different matter).
    kangdao_engine::store::migrate(&connect(&fresh.url).await)
        .await
        .unwrap();
    let start = |url: String| async move {
        Engine::open(
            connect(&url).await,
            kangdao_engine::crypto::Keyring::from_master(&MASTER),
            std::sync::Arc::new(kangdao_engine::clock::TestClock::new(
                time::macros::datetime!(2026-11-24 09:00:00 +08:00),
            )),
            kangdao_engine::Settings::default(),
        )
        .await
    };
    let (a, b) = tokio::join!(start(fresh.url.clone()), start(fresh.url.clone()));
    let (a, b) = (a.expect("first start"), b.expect("second start"));
    let admin = kangdao_engine::access::Principal::system();
    for engine in [&a, &b] {
        let listed = engine.list_entities(&admin).await.unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().all(|e| e.version == 1));
    }
    let versions =
        a.db.fetch_one("SELECT COUNT(*) AS n FROM entity_versions", vec![])
            .await
            .unwrap()
            .req_int("n")
            .unwrap();
    assert_eq!(versions, 3, "each core entity created once");
}

async fn subjects_link_to_live_records_of_any_entity(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let zhang = create(&ctx, "patient", json!({"name": "张三"})).await;
    let visit = create(
        &ctx,
        "visit",
        json!({"patient": zhang.id.to_string(), "amount": 10}),
    )
    .await;
    // A task about a patient, and one about a visit: any entity.
    let task = create(
        &ctx,
        "task",
        json!({"title": "电话随访", "assignee_role": "nurse",
               "subject": {"entity": "patient", "id": zhang.id.to_string().to_uppercase()}}),
    )
    .await;
    assert_eq!(
        task.data["subject"],
        subject("patient", zhang.id),
        "stored with its id in the one form"
    );
    assert_eq!(task.data["status"], "open", "defaults apply");
    create(
        &ctx,
        "task",
        json!({"title": "复核就诊", "assignee_role": "nurse", "subject": subject("visit", visit.id)}),
    )
    .await;

    // Missing, deleted, of an unknown entity, or not a link: 422 naming the field.
    let missing = try_create(
        &ctx,
        "task",
        json!({"title": "x", "assignee_role": "nurse", "subject": subject("patient", uuid::Uuid::now_v7())}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(missing, EngineError::Validation { .. }),
        "{missing:?}"
    );
    assert_eq!(
        detail_codes(&missing),
        [("subject".to_string(), "reference_not_found".to_string())]
    );
    let gone = create(&ctx, "patient", json!({"name": "李四"})).await;
    ctx.engine
        .delete_record(&ctx.admin, "patient", gone.id, 1)
        .await
        .unwrap();
    let deleted = try_create(
        &ctx,
        "task",
        json!({"title": "x", "assignee_role": "nurse", "subject": subject("patient", gone.id)}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        detail_codes(&deleted),
        [("subject".to_string(), "reference_not_found".to_string())]
    );
    let unknown = try_create(
        &ctx,
        "task",
        json!({"title": "x", "assignee_role": "nurse", "subject": subject("nowhere", zhang.id)}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        detail_codes(&unknown),
        [("subject".to_string(), "unknown_entity".to_string())]
    );
    for bad in [
        json!("patient"),
        json!({"entity": "patient"}),
        json!({"entity": "patient", "id": "not-a-uuid"}),
        json!({"entity": "Patient", "id": zhang.id.to_string()}),
        json!({"entity": "patient", "id": zhang.id.to_string(), "extra": 1}),
    ] {
        let err = try_create(
            &ctx,
            "task",
            json!({"title": "x", "assignee_role": "nurse", "subject": bad}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            detail_codes(&err),
            [("subject".to_string(), "invalid_subject".to_string())],
            "{bad}"
        );
    }
    // A subject restricted to some entities refuses others.
    ctx.engine
        .create_entity(
            &ctx.admin,
            json!({"name": "note", "fields": [
                {"name": "about", "type": "subject", "entities": ["patient"], "required": true},
                {"name": "kind", "type": "formula", "result": "text", "expr": "record.about.entity"}
            ]}),
            Lang::En,
        )
        .await
        .unwrap();
    let note = create(&ctx, "note", json!({"about": subject("patient", zhang.id)})).await;
    assert_eq!(
        note.data["kind"], "patient",
        "formulas read a subject as a map"
    );
    let wrong = try_create(&ctx, "note", json!({"about": subject("visit", visit.id)}))
        .await
        .unwrap_err();
    assert_eq!(
        detail_codes(&wrong),
        [("about".to_string(), "entity_not_allowed".to_string())]
    );
    // `entities` must name entities that exist, and only a subject takes it.
    let err = ctx
        .engine
        .create_entity(
            &ctx.admin,
            json!({"name": "memo", "fields": [
                {"name": "about", "type": "subject", "entities": ["nowhere"]},
                {"name": "other", "type": "text", "entities": ["patient"]},
                {"name": "pinned", "type": "subject", "unique": true}
            ]}),
            Lang::En,
        )
        .await
        .unwrap_err();
    let mut codes = detail_codes(&err);
    codes.sort();
    assert_eq!(
        codes,
        [
            (
                "fields.0.entities".to_string(),
                "unknown_entity".to_string()
            ),
            ("fields.1.entities".to_string(), "not_allowed".to_string()),
            ("fields.2.unique".to_string(), "not_allowed".to_string()),
        ]
    );

    // Export writes `entity:id`; import reads it back and checks the link.
    let csv = ctx
        .engine
        .export_records(
            &ctx.admin,
            "task",
            TabularFormat::Csv,
            None,
            SortKey::parse_list("title"),
            Some(vec![
                "title".into(),
                "assignee_role".into(),
                "subject".into(),
            ]),
        )
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&csv).into_owned();
    assert!(text.contains(&format!("patient:{}", zhang.id)), "{text}");
    let back = format!(
        "title,assignee_role,subject\n导入任务,nurse,patient:{}\n坏链接,nurse,patient:{}\n",
        zhang.id, gone.id
    );
    let report = ctx
        .engine
        .import_records(
            &ctx.admin,
            "task",
            back.as_bytes(),
            &ImportOptions {
                dry_run: false,
                atomic: false,
                mapping: None,
            },
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(
        (report.errors[0].line, report.errors[0].code.as_str()),
        (3, "reference_not_found")
    );
}

async fn subjects_filter_and_show_in_the_360_view(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let a = create(&ctx, "patient", json!({"name": "A"})).await;
    let b = create(&ctx, "patient", json!({"name": "B"})).await;
    let c = create(&ctx, "patient", json!({"name": "C"})).await;
    let visit = create(&ctx, "visit", json!({"patient": a.id.to_string()})).await;
    for (title, link, status) in [
        ("t1 about A", Some(subject("patient", a.id)), "open"),
        ("t2 about A", Some(subject("patient", a.id)), "done"),
        ("t3 about B", Some(subject("patient", b.id)), "open"),
        (
            "t4 about the visit",
            Some(subject("visit", visit.id)),
            "open",
        ),
        ("t5 about nothing", None, "open"),
    ] {
        let mut data = json!({"title": title, "assignee_role": "nurse", "status": status});
        if let Some(link) = link {
            data["subject"] = link;
        }
        create(&ctx, "task", data).await;
    }
    // The same id under another entity is another subject.
    let about_a = titles_matching(
        &ctx,
        json!({"field": "subject", "op": "eq", "value": subject("patient", a.id)}),
    )
    .await
    .unwrap();
    assert_eq!(about_a, ["t1 about A", "t2 about A"]);
    assert!(titles_matching(
        &ctx,
        json!({"field": "subject", "op": "eq", "value": subject("visit", a.id)})
    )
    .await
    .unwrap()
    .is_empty());
    assert_eq!(
        titles_matching(
            &ctx,
            json!({"field": "subject", "op": "in",
                   "value": [subject("patient", b.id), subject("visit", visit.id)]})
        )
        .await
        .unwrap(),
        ["t3 about B", "t4 about the visit"]
    );
    assert_eq!(
        titles_matching(
            &ctx,
            json!({"field": "subject", "op": "ne", "value": subject("patient", a.id)})
        )
        .await
        .unwrap(),
        ["t3 about B", "t4 about the visit", "t5 about nothing"]
    );
    assert_eq!(
        titles_matching(
            &ctx,
            json!({"field": "subject", "op": "not_in", "value": [subject("patient", a.id), subject("patient", b.id)]})
        )
        .await
        .unwrap(),
        ["t4 about the visit", "t5 about nothing"]
    );
    assert_eq!(
        titles_matching(&ctx, json!({"field": "subject", "op": "is_empty"}))
            .await
            .unwrap(),
        ["t5 about nothing"]
    );
    assert_eq!(
        titles_matching(&ctx, json!({"field": "subject", "op": "not_empty"}))
            .await
            .unwrap()
            .len(),
        4
    );
    for (op, value) in [
        ("gt", subject("patient", a.id)),
        ("contains", json!("patient")),
        ("eq", json!(a.id.to_string())),
    ] {
        let err = titles_matching(&ctx, json!({"field": "subject", "op": op, "value": value}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, EngineError::BadRequest { .. }),
            "{op}: {err:?}"
        );
    }
    // Sorting by a link to any entity means nothing: refused.
    let err = ctx
        .engine
        .list_records(
            &ctx.admin,
            "task",
            &ListQuery {
                sort: SortKey::parse_list("subject"),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::BadRequest { .. }), "{err:?}");

    // Patients with a task about them: `exists` through the subject.
    assert_eq!(
        patient_names(
            &ctx,
            json!({"exists": {"entity": "task", "ref": "subject"}})
        )
        .await,
        ["A", "B"]
    );
    assert_eq!(
        patient_names(
            &ctx,
            json!({"exists": {"entity": "task", "ref": "subject",
            "filters": {"field": "status", "op": "eq", "value": "done"}}})
        )
        .await,
        ["A"]
    );
    assert_eq!(
        patient_names(
            &ctx,
            json!({"not": {"exists": {"entity": "task", "ref": "subject"}}})
        )
        .await,
        ["C"]
    );
    assert!(
        patient_names(&ctx, json!({"field": "name", "op": "eq", "value": "C"}))
            .await
            .contains(&"C".to_string())
    );
    let view = ctx
        .engine
        .view360(&ctx.admin, "patient", c.id, Lang::En)
        .await
        .unwrap();
    assert_eq!(view.related.len(), 1, "only visits, none of them");
    assert_eq!(view.related[0].total, 0);

    // The 360° view of A lists its visit and its two tasks, grouped by entity and field (the
    // subjects of messages and consents, none about A, give no group).
    let view = ctx
        .engine
        .view360(&ctx.admin, "patient", a.id, Lang::En)
        .await
        .unwrap();
    let groups: Vec<(String, String, u64)> = view
        .related
        .iter()
        .map(|g| (g.entity.clone(), g.field.clone(), g.total))
        .collect();
    assert_eq!(
        groups,
        [
            ("task".to_string(), "subject".to_string(), 2),
            ("visit".to_string(), "patient".to_string(), 1),
        ]
    );
    let task_group = &view.related[0];
    assert!(task_group
        .items
        .iter()
        .all(|t| t.data["subject"] == subject("patient", a.id)));
    // The timeline holds the tasks' creations too.
    assert!(view.timeline.iter().any(|e| e.entity == "task"));
    // The visit's 360° view lists the task about it, not A's.
    let view = ctx
        .engine
        .view360(&ctx.admin, "visit", visit.id, Lang::En)
        .await
        .unwrap();
    assert_eq!(view.related.len(), 1);
    assert_eq!(view.related[0].total, 1);
    assert_eq!(view.related[0].items[0].data["title"], "t4 about the visit");
}

async fn core_entities_keep_their_fields_and_stay(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    // No core entity can be deleted, even empty.
    let err = ctx
        .engine
        .delete_entity(&ctx.admin, "consent", Lang::En)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    let consent = ctx.engine.get_entity(&ctx.admin, "consent").await.unwrap();
    let definition = serde_json::to_value(&consent.definition).unwrap();

    // A core field changed, or removed: 400 `core_field`.
    let mut changed = definition.clone();
    changed["fields"][3]["required"] = json!(false);
    let err = ctx
        .engine
        .update_entity(&ctx.admin, "consent", changed, Lang::En)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::BadRequest { .. }), "{err:?}");
    assert_eq!(
        detail_codes(&err),
        [("fields.3".to_string(), "core_field".to_string())]
    );
    let mut removed = definition.clone();
    removed["fields"].as_array_mut().unwrap().remove(6);
    let err = ctx
        .engine
        .update_entity(&ctx.admin, "consent", removed, Lang::Zh)
        .await
        .unwrap_err();
    assert_eq!(
        detail_codes(&err),
        [("fields".to_string(), "core_field".to_string())]
    );
    assert!(err.details()[0].message.contains("note"), "{err:?}");

    // Relabelling and adding a field are fine: the medical pack adds `patient`.
    let mut grown = definition.clone();
    grown["fields"][0]["label"] = json!({"zh": "患者", "en": "Patient"});
    grown["fields"].as_array_mut().unwrap().push(
        json!({"name": "patient", "type": "reference", "entity": "patient", "label": {"zh": "患者"}}),
    );
    let grown = ctx
        .engine
        .update_entity(&ctx.admin, "consent", grown, Lang::En)
        .await
        .unwrap();
    assert_eq!(grown.version, 2);
    let p = create(&ctx, "patient", json!({"name": "王五"})).await;
    let record = create(
        &ctx,
        "consent",
        json!({"subject": subject("patient", p.id), "patient": p.id.to_string(),
               "purpose": "marketing", "granted": false, "at": "2026-11-24T09:00:00+08:00"}),
    )
    .await;
    assert_eq!(record.data["granted"], false);
    // Still a core entity after the change.
    assert!(matches!(
        ctx.engine
            .delete_entity(&ctx.admin, "consent", Lang::En)
            .await,
        Err(EngineError::Conflict(_))
    ));
}

async fn a_message_recipient_is_stored_sealed(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let p = create(&ctx, "patient", json!({"name": "赵六"})).await;
    let recipient = phone(4242);
    let message = create(
        &ctx,
        "message",
        json!({"channel": "sms", "recipient": recipient, "subject": subject("patient", p.id),
               "purpose": "service_notice", "body": "您好", "idempotency_key": "run-1:notify"}),
    )
    .await;
    assert_eq!(message.data["status"], "pending");
    assert_ne!(
        message.data["recipient"],
        json!(recipient),
        "shown masked by default"
    );
    // Found by an exact match, as sensitive fields are.
    let page = list(
        &ctx,
        "message",
        ListQuery {
            filter: Some(
                FilterExpr::parse(json!({"field": "recipient", "op": "eq", "value": recipient}))
                    .unwrap(),
            ),
            ..ListQuery::default()
        },
    )
    .await;
    assert_eq!(page.items.len(), 1);
    // The idempotency key is unique.
    let again = try_create(
        &ctx,
        "message",
        json!({"channel": "sms", "recipient": recipient, "purpose": "service_notice",
               "body": "again", "idempotency_key": "run-1:notify"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(again, EngineError::UniqueViolation { ref field } if field == "idempotency_key"),
        "{again:?}"
    );
    let rows = dump_all_tables(&ctx).await;
    assert!(rows.iter().any(|(t, _)| t.ends_with("e_message")));
    for (table, row) in &rows {
        assert!(
            !row.contains(&recipient),
            "the recipient is in plaintext in {table}"
        );
    }
}
