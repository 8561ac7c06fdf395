//! Sensitive fields: never stored in plaintext anywhere, masked on every read, shown plain only
//! to a principal allowed to unmask them.

use crate::support::*;
use kangdao_engine::access::users::{create_user, load_principal, NewUser};
use kangdao_engine::records::{ListQuery, UniqueKey};
use kangdao_engine::Lang;
use serde_json::json;

on_both_backends!(sensitive_values_encrypted_at_rest_and_masked);

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn sensitive_values_encrypted_at_rest_and_masked(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let mut secrets: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=3 {
        let r = create(
            &ctx,
            "patient",
            json!({"name": format!("患者{n}"), "id_number": id_number(n), "phone": phone(n), "mrn": format!("MRN{n}")}),
        )
        .await;
        secrets.push(id_number(n));
        secrets.push(phone(n));
        ids.push(r.id);
    }
    // Updates write history with the new and old values: both must stay sealed.
    let updated = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            ids[0],
            obj(json!({"id_number": id_number(101), "phone": phone(101)})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    secrets.push(id_number(101));
    secrets.push(phone(101));
    let diagnosis = "DIAGNOSIS-hypertension-stage-2";
    create(
        &ctx,
        "visit",
        json!({"patient": ids[1].to_string(), "amount": 12.5, "diagnosis": diagnosis}),
    )
    .await;
    secrets.push(diagnosis.to_string());
    // Bulk creation and an upsert take other write paths.
    ctx.engine
        .create_records_bulk(
            &ctx.admin,
            "patient",
            vec![obj(
                json!({"name": "批量", "id_number": id_number(201), "phone": phone(201)}),
            )],
            Lang::En,
        )
        .await
        .unwrap();
    ctx.engine
        .upsert_record_by(
            &ctx.admin,
            "patient",
            UniqueKey {
                field: "mrn",
                value: "MRN2",
            },
            obj(json!({"phone": phone(202)})),
            None,
            Lang::En,
        )
        .await
        .unwrap();
    secrets.push(id_number(201));
    secrets.push(phone(201));
    secrets.push(phone(202));

    // Reads mask by default…
    let shown = ctx
        .engine
        .get_record(&ctx.admin, "patient", ids[0], &[], Lang::En)
        .await
        .unwrap();
    let plain_id = id_number(101);
    let masked_id = format!("{}********{}", &plain_id[..6], &plain_id[14..]);
    assert_eq!(shown.data["id_number"], json!(masked_id));
    let plain_phone = phone(101);
    let masked_phone = format!("{}****{}", &plain_phone[..3], &plain_phone[7..]);
    assert_eq!(shown.data["phone"], json!(masked_phone));
    assert_eq!(updated.data["id_number"], json!(masked_id));
    let listed = list(&ctx, "patient", ListQuery::default()).await;
    for r in &listed.items {
        for field in ["id_number", "phone"] {
            let v = r.data[field].as_str().unwrap_or_default();
            assert!(
                v.is_empty() || v.contains("****"),
                "list shows {field} unmasked: {v}"
            );
        }
    }

    // …and an administrator asking to unmask sees the plain values (and the unmask is audited).
    create_user(
        ctx.db(),
        ctx.clock.as_ref(),
        NewUser {
            username: "admin_wang".into(),
            password: "Correct-Horse-Battery-9".into(),
            display_name: None,
            is_admin: true,
            roles: vec![],
            departments: vec![],
        },
    )
    .await
    .unwrap();
    let user = kangdao_engine::access::users::find_by_username(ctx.db(), "admin_wang")
        .await
        .unwrap()
        .unwrap();
    let admin = load_principal(ctx.db(), user.id).await.unwrap();
    let unmasked = ctx
        .engine
        .get_record(
            &admin,
            "patient",
            ids[0],
            &["id_number".to_string(), "phone".to_string()],
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(unmasked.data["id_number"], json!(plain_id));
    assert_eq!(unmasked.data["phone"], json!(plain_phone));
    // Only what was asked for is unmasked.
    let half = ctx
        .engine
        .get_record(&admin, "patient", ids[0], &["phone".to_string()], Lang::En)
        .await
        .unwrap();
    assert_eq!(half.data["id_number"], json!(masked_id));
    assert_eq!(half.data["phone"], json!(plain_phone));

    // Lists unmask too, for what was asked, each record's unmask audited.
    let audited_before = scalar_i64(
        &ctx,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'record.unmask'",
    )
    .await;
    let page = ctx
        .engine
        .list_records(
            &admin,
            "patient",
            &ListQuery {
                filter: Some(
                    kangdao_engine::records::FilterExpr::parse(
                        json!({"field": "phone", "op": "in", "value": [phone(101), phone(3)]}),
                    )
                    .unwrap(),
                ),
                unmask: vec!["phone".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut phones: Vec<&str> = page
        .items
        .iter()
        .map(|r| r.data["phone"].as_str().unwrap())
        .collect();
    phones.sort();
    assert_eq!(phones, vec![phone(3).as_str(), phone(101).as_str()]);
    assert!(page
        .items
        .iter()
        .all(|r| r.data["id_number"].as_str().unwrap().contains("****")));
    let audited_after = scalar_i64(
        &ctx,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'record.unmask'",
    )
    .await;
    assert_eq!(audited_after, audited_before + 2);

    // No plaintext in any table: records, history, audit log, sequences, everything.
    let rows = dump_all_tables(&ctx).await;
    let tables: std::collections::BTreeSet<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    for expected in ["e_patient", "record_changes", "audit_log"] {
        assert!(
            tables.iter().any(|t| t.ends_with(expected)),
            "no rows read from {expected}: {tables:?}"
        );
    }
    for (table, row) in &rows {
        for secret in &secrets {
            assert!(
                !row.contains(secret.as_str()),
                "plaintext {secret} found in {table}: {row}"
            );
        }
    }

    // SQLite: the raw file bytes too, the WAL before and after a checkpoint.
    if backend == Backend::Sqlite {
        let db_path = ctx.fresh.data_dir.join("kangdao.db");
        let wal_path = ctx.fresh.data_dir.join("kangdao.db-wal");
        let scan = |stage: &str| {
            for path in [&db_path, &wal_path] {
                let Ok(bytes) = std::fs::read(path) else {
                    continue;
                };
                for secret in &secrets {
                    assert!(
                        !contains_bytes(&bytes, secret.as_bytes()),
                        "plaintext {secret} in {} ({stage})",
                        path.display()
                    );
                }
            }
        };
        assert!(wal_path.exists(), "SQLite runs in WAL mode");
        scan("before checkpoint");
        ctx.db()
            .execute("PRAGMA wal_checkpoint(TRUNCATE)", vec![])
            .await
            .unwrap();
        let size = std::fs::metadata(&db_path).unwrap().len();
        assert!(size > 0);
        scan("after checkpoint");
    }
}
