//! Storage scenarios of the access module, each run on SQLite and on PostgreSQL.

use super::test_support::{for_each_backend, ManualClock};
use super::*;
use crate::clock::Clock;
use crate::error::EngineError;
use crate::names::EntityName;
use crate::store::Db;
use serde_json::json;
use time::Duration;

fn new_user(username: &str, password: &str, roles: &[&str]) -> NewUser {
    serde_json::from_value(json!({
        "username": username,
        "password": password,
        "roles": roles,
        "departments": ["cardiology"],
    }))
    .unwrap()
}

fn role(value: serde_json::Value) -> Role {
    serde_json::from_value(value).unwrap()
}

fn nurse_role() -> Role {
    role(
        json!({"name": "nurse", "label": {"zh": "护士"}, "permissions": [
        {"entity": "patient", "actions": ["read", "update"], "rows": "department",
         "fields": {"id_number": "masked", "allergies": "hidden"}}]}),
    )
}

fn clerk_role() -> Role {
    role(json!({"name": "clerk", "permissions": [
        {"entity": "visit", "actions": ["read", "create"]},
        {"entity": "patient", "actions": ["read", "export"], "fields": {"id_number": "read"}}],
        "rights": ["audit", "audit"]}))
}

async fn log_in(
    db: &Db,
    clock: &ManualClock,
    username: &str,
    password: &str,
) -> crate::Result<Principal> {
    let provider = LocalPasswords::new(db.clone());
    login(db, clock, &provider, username, password, Some("10.0.0.7")).await
}

#[tokio::test]
async fn a_created_user_logs_in_and_is_audited() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        roles::create_role(&db, &clock, &nurse_role())
            .await
            .unwrap();
        let user = users::create_user(&db, &clock, new_user("nurse_li", "s3cret-pass", &["nurse"]))
            .await
            .unwrap();
        assert_eq!(user.roles, vec!["nurse".to_string()]);
        assert_eq!(user.departments, vec!["cardiology".to_string()]);
        assert!(!user.disabled && !user.is_admin);
        // The API form never carries the hash.
        let shown = serde_json::to_value(&user).unwrap();
        assert!(shown.get("password_hash").is_none() && shown.get("password").is_none());

        let p = log_in(&db, &clock, "nurse_li", "s3cret-pass")
            .await
            .unwrap();
        assert_eq!(p.user_id, Some(user.id));
        assert_eq!(p.actor, user.id.to_string());
        assert_eq!(p.username, "nurse_li");
        assert_eq!(p.departments, vec!["cardiology".to_string()]);
        assert!(p.can("patient", Action::Update));
        assert!(!p.can("patient", Action::Delete));

        assert!(matches!(
            log_in(&db, &clock, "nurse_li", "wrong-pass").await,
            Err(EngineError::Unauthenticated)
        ));
        assert!(matches!(
            log_in(&db, &clock, "nobody", "s3cret-pass").await,
            Err(EngineError::Unauthenticated)
        ));

        let (entries, total) = audit::list(&db, &AuditFilter::default(), 1, 50)
            .await
            .unwrap();
        assert_eq!(total, 3);
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["login_failed", "login_failed", "login"]);
        assert_eq!(entries[2].actor, user.id.to_string());
        assert_eq!(entries[1].detail["username"], "nurse_li");
        for e in &entries {
            let text = e.detail.to_string();
            assert!(
                !text.contains("s3cret-pass") && !text.contains("wrong-pass"),
                "{text}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_password_hash_is_argon2id() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        let user = users::create_user(&db, &clock, new_user("doc_wang", "another-pass", &[]))
            .await
            .unwrap();
        let row = db
            .fetch_one(
                "SELECT password_hash FROM users WHERE id = $1",
                vec![user.id.into()],
            )
            .await
            .unwrap();
        let hash = row.req_text("password_hash").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("another-pass"));
        assert!(passwords::verify_password("another-pass", &hash));
    })
    .await;
}

#[tokio::test]
async fn five_failures_lock_the_name_for_fifteen_minutes() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        users::create_user(&db, &clock, new_user("Nurse_Zhao", "right-password", &[]))
            .await
            .unwrap();
        for _ in 0..5 {
            assert!(matches!(
                log_in(&db, &clock, "Nurse_Zhao", "wrong-password").await,
                Err(EngineError::Unauthenticated)
            ));
            clock.advance(Duration::seconds(10));
        }
        // Locked, even with the right password, and under another spelling of the name.
        match log_in(&db, &clock, "Nurse_Zhao", "right-password").await {
            Err(EngineError::RateLimited { retry_after_secs }) => {
                assert!(
                    retry_after_secs > 14 * 60 && retry_after_secs <= 15 * 60,
                    "{retry_after_secs}"
                );
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        assert!(matches!(
            log_in(&db, &clock, "nurse_zhao", "right-password").await,
            Err(EngineError::RateLimited { .. })
        ));
        clock.advance(Duration::minutes(10));
        assert!(matches!(
            log_in(&db, &clock, "Nurse_Zhao", "right-password").await,
            Err(EngineError::RateLimited { .. })
        ));
        clock.advance(Duration::minutes(6));
        log_in(&db, &clock, "Nurse_Zhao", "right-password")
            .await
            .unwrap();

        // The success cleared the name's count: four more failures do not lock it.
        for _ in 0..4 {
            assert!(log_in(&db, &clock, "Nurse_Zhao", "wrong-password")
                .await
                .is_err());
        }
        log_in(&db, &clock, "Nurse_Zhao", "right-password")
            .await
            .unwrap();

        // Failures spread wider than the window never lock.
        for _ in 0..8 {
            assert!(matches!(
                log_in(&db, &clock, "Nurse_Zhao", "wrong-password").await,
                Err(EngineError::Unauthenticated)
            ));
            clock.advance(Duration::minutes(4));
        }
    })
    .await;
}

#[tokio::test]
async fn twenty_failures_from_one_address_lock_the_address() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        users::create_user(&db, &clock, new_user("someone", "right-password", &[]))
            .await
            .unwrap();
        let keys_for = |name: &str| vec![ThrottleKey::user(name), ThrottleKey::ip("192.0.2.1")];
        for i in 0..20 {
            let keys = keys_for(&format!("guess{i}"));
            throttle::check(&db, &clock, &keys).await.unwrap();
            throttle::record_failure(&db, &clock, &keys).await.unwrap();
        }
        assert!(matches!(
            throttle::check(&db, &clock, &keys_for("someone")).await,
            Err(EngineError::RateLimited { .. })
        ));
        // Another address is not affected.
        throttle::check(
            &db,
            &clock,
            &[ThrottleKey::user("someone"), ThrottleKey::ip("192.0.2.2")],
        )
        .await
        .unwrap();
        let provider = LocalPasswords::new(db.clone());
        assert!(matches!(
            login(
                &db,
                &clock,
                &provider,
                "someone",
                "right-password",
                Some("192.0.2.1")
            )
            .await,
            Err(EngineError::RateLimited { .. })
        ));
        login(
            &db,
            &clock,
            &provider,
            "someone",
            "right-password",
            Some("192.0.2.2"),
        )
        .await
        .unwrap();
        // Counts live in the database, not in memory.
        let row = db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM login_attempts WHERE key = 'ip:192.0.2.1'",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(row.req_int("n").unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        let user = users::create_user(&db, &clock, new_user("leaver", "right-password", &[]))
            .await
            .unwrap();
        log_in(&db, &clock, "leaver", "right-password")
            .await
            .unwrap();
        let updated = users::update_user(
            &db,
            &clock,
            user.id,
            UserUpdate {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(updated.disabled);
        assert!(matches!(
            log_in(&db, &clock, "leaver", "right-password").await,
            Err(EngineError::Unauthenticated)
        ));
        assert!(matches!(
            users::load_principal(&db, user.id).await,
            Err(EngineError::Unauthenticated)
        ));
        let (entries, _) = audit::list(
            &db,
            &AuditFilter {
                action: Some("login_failed".into()),
                ..Default::default()
            },
            1,
            10,
        )
        .await
        .unwrap();
        assert_eq!(entries.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn user_names_are_unique_and_checked() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        users::create_user(&db, &clock, new_user("nurse_li", "right-password", &[]))
            .await
            .unwrap();
        match users::create_user(&db, &clock, new_user("nurse_li", "other-password", &[])).await {
            Err(EngineError::Conflict(message)) => {
                assert!(message.contains("nurse_li"), "{message}")
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert!(matches!(
            users::create_user(
                &db,
                &clock,
                new_user("x", "right-password", &["no_such_role"])
            )
            .await,
            Err(EngineError::BadRequest { .. })
        ));
        for bad in ["", "has space", "李", &"a".repeat(65)] {
            assert!(matches!(
                users::create_user(&db, &clock, new_user(bad, "right-password", &[])).await,
                Err(EngineError::BadRequest { .. })
            ));
        }
        assert!(matches!(
            users::create_user(&db, &clock, new_user("short_pw", "1234567", &[])).await,
            Err(EngineError::BadRequest { .. })
        ));
        // The failures wrote nothing.
        assert_eq!(users::count_users(&db).await.unwrap(), 1);
        // The API body takes no unknown fields.
        assert!(serde_json::from_value::<NewUser>(
            json!({"username": "a", "password": "b", "admin": true})
        )
        .is_err());
    })
    .await;
}

#[tokio::test]
async fn users_are_listed_updated_and_deleted() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        roles::create_role(&db, &clock, &nurse_role()).await.unwrap();
        roles::create_role(&db, &clock, &clerk_role()).await.unwrap();
        for name in ["c_user", "a_user", "b_user"] {
            users::create_user(&db, &clock, new_user(name, "right-password", &["nurse"]))
                .await
                .unwrap();
        }
        let (page1, total) = users::list_users(&db, 1, 2).await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(page1.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["a_user", "b_user"]);
        assert_eq!(page1[0].roles, vec!["nurse".to_string()]);
        let (page2, _) = users::list_users(&db, 2, 2).await.unwrap();
        assert_eq!(page2.len(), 1);
        assert_eq!(page2[0].username, "c_user");
        assert_eq!(page2[0].roles, vec!["nurse".to_string()]);

        let a = users::find_by_username(&db, "a_user").await.unwrap().unwrap();
        clock.advance(Duration::minutes(1));
        let update: UserUpdate = serde_json::from_value(json!({
            "display_name": "李护士", "roles": ["clerk"], "departments": ["icu"], "password": "brand-new-pass"
        }))
        .unwrap();
        let a2 = users::update_user(&db, &clock, a.id, update).await.unwrap();
        assert_eq!(a2.display_name.as_deref(), Some("李护士"));
        assert_eq!(a2.roles, vec!["clerk".to_string()]);
        assert_eq!(a2.departments, vec!["icu".to_string()]);
        assert!(a2.updated_at > a.updated_at);
        assert_eq!(a2.created_at, a.created_at);
        assert!(log_in(&db, &clock, "a_user", "right-password").await.is_err());
        log_in(&db, &clock, "a_user", "brand-new-pass").await.unwrap();
        // null clears the display name; absent parts stay.
        let a3 = users::update_user(&db, &clock, a.id, serde_json::from_value(json!({"display_name": null})).unwrap())
            .await
            .unwrap();
        assert_eq!(a3.display_name, None);
        assert_eq!(a3.roles, vec!["clerk".to_string()]);

        users::delete_user(&db, a.id).await.unwrap();
        assert!(matches!(users::get_user(&db, a.id).await, Err(EngineError::NotFound { .. })));
        assert!(matches!(users::delete_user(&db, a.id).await, Err(EngineError::NotFound { .. })));
        assert_eq!(users::count_users(&db).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn roles_are_created_replaced_and_deleted() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        let created = roles::create_role(&db, &clock, &clerk_role())
            .await
            .unwrap();
        assert_eq!(created.rights, vec![SystemRight::Audit]);
        assert_eq!(roles::get_role(&db, "clerk").await.unwrap(), created);
        assert!(matches!(
            roles::create_role(&db, &clock, &clerk_role()).await,
            Err(EngineError::Conflict(_))
        ));
        // Names are slugs: a role naming a bad entity or field does not even parse.
        assert!(
            serde_json::from_value::<Role>(json!({"name": "x", "permissions": [
            {"entity": "Bad Entity", "actions": ["read"]}]}))
            .is_err()
        );
        assert!(
            serde_json::from_value::<Role>(json!({"name": "x", "permissions": [
            {"entity": "patient", "actions": ["read"], "fields": {"DROP TABLE": "read"}}]}))
            .is_err()
        );

        let mut replaced = nurse_role();
        replaced.name = EntityName::new("clerk").unwrap();
        let stored = roles::update_role(&db, &clock, "clerk", &replaced)
            .await
            .unwrap();
        assert_eq!(roles::get_role(&db, "clerk").await.unwrap(), stored);
        assert!(stored.rights.is_empty());
        assert!(matches!(
            roles::update_role(&db, &clock, "other", &replaced).await,
            Err(EngineError::BadRequest { .. })
        ));
        let mut ghost = nurse_role();
        ghost.name = EntityName::new("ghost").unwrap();
        assert!(matches!(
            roles::update_role(&db, &clock, "ghost", &ghost).await,
            Err(EngineError::NotFound { .. })
        ));

        roles::create_role(&db, &clock, &nurse_role())
            .await
            .unwrap();
        let names: Vec<String> = roles::list_roles(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name.to_string())
            .collect();
        assert_eq!(names, ["clerk", "nurse"]);
        let user = users::create_user(
            &db,
            &clock,
            new_user("holder", "right-password", &["nurse", "clerk"]),
        )
        .await
        .unwrap();
        roles::delete_role(&db, "nurse").await.unwrap();
        assert!(matches!(
            roles::get_role(&db, "nurse").await,
            Err(EngineError::NotFound { .. })
        ));
        assert_eq!(
            users::get_user(&db, user.id).await.unwrap().roles,
            vec!["clerk".to_string()]
        );
        assert!(matches!(
            roles::delete_role(&db, "nurse").await,
            Err(EngineError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn a_principal_unions_its_roles() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        roles::create_role(&db, &clock, &nurse_role())
            .await
            .unwrap();
        roles::create_role(&db, &clock, &clerk_role())
            .await
            .unwrap();
        let user = users::create_user(
            &db,
            &clock,
            new_user("both", "right-password", &["nurse", "clerk"]),
        )
        .await
        .unwrap();
        let p = users::load_principal(&db, user.id).await.unwrap();
        // From the nurse role.
        assert!(p.can("patient", Action::Update));
        // From the clerk role.
        assert!(p.can("patient", Action::Export));
        assert!(p.can("visit", Action::Create));
        assert!(p.has_right(SystemRight::Audit));
        assert!(!p.has_right(SystemRight::Users));
        assert!(!p.can("patient", Action::Delete));
        assert!(!p.is_admin);
        // The most generous field rule wins: masked (nurse) vs read (clerk).
        assert_eq!(p.field_rule("patient", "id_number"), FieldRule::Read);
        // Unlisted fields: write through the nurse role's update right.
        assert_eq!(p.field_rule("patient", "name"), FieldRule::Write);
        assert_eq!(p.permissions.len(), 3);

        let only_nurse =
            users::create_user(&db, &clock, new_user("one", "right-password", &["nurse"]))
                .await
                .unwrap();
        let p1 = users::load_principal(&db, only_nurse.id).await.unwrap();
        assert!(!p1.can("patient", Action::Export));
        assert_eq!(p1.field_rule("patient", "id_number"), FieldRule::Masked);
        assert_eq!(p1.field_rule("patient", "allergies"), FieldRule::Hidden);
    })
    .await;
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked_or_expired() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        roles::create_role(&db, &clock, &clerk_role())
            .await
            .unwrap();
        let user = users::create_user(
            &db,
            &clock,
            new_user("his_push", "right-password", &["clerk"]),
        )
        .await
        .unwrap();
        let (info, plaintext) = tokens::create_token(&db, &clock, user.id, "HIS", None)
            .await
            .unwrap();
        assert!(plaintext.starts_with("kd_"));
        assert_eq!(plaintext.len(), 3 + 43);
        assert_eq!(info.user_id, user.id);

        let (p, _) = tokens::authenticate_token(&db, &clock, &plaintext)
            .await
            .unwrap();
        assert_eq!(p.user_id, Some(user.id));
        assert!(p.can("visit", Action::Create));

        // Only the hash is stored: the plaintext (or its secret part) is nowhere in the table.
        let rows = db
            .fetch_all(
                "SELECT id, user_id, name, token_hash FROM api_tokens",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let secret = &plaintext[3..];
        let hash = rows[0].req_text("token_hash").unwrap();
        assert_eq!(hash.len(), 64);
        for col in ["name", "token_hash"] {
            let v = rows[0].req_text(col).unwrap();
            assert!(!v.contains(secret), "{col}");
        }

        // last_used_at is written, at most once a minute.
        let used = tokens::get_token(&db, info.id).await.unwrap().last_used_at;
        assert_eq!(used, Some(clock.now()));
        clock.advance(Duration::seconds(30));
        tokens::authenticate_token(&db, &clock, &plaintext)
            .await
            .unwrap();
        assert_eq!(
            tokens::get_token(&db, info.id).await.unwrap().last_used_at,
            used
        );
        clock.advance(Duration::seconds(31));
        tokens::authenticate_token(&db, &clock, &plaintext)
            .await
            .unwrap();
        assert_eq!(
            tokens::get_token(&db, info.id).await.unwrap().last_used_at,
            Some(clock.now())
        );

        // Unknown and malformed tokens.
        for bad in ["", "kd_", "kd_nope", "Bearer x", &format!("{plaintext}x")] {
            assert!(matches!(
                tokens::authenticate_token(&db, &clock, bad).await,
                Err(EngineError::Unauthenticated)
            ));
        }

        // Revoked.
        let revoked = tokens::revoke_token(&db, &clock, info.id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(matches!(
            tokens::authenticate_token(&db, &clock, &plaintext).await,
            Err(EngineError::Unauthenticated)
        ));

        // Expired.
        let (short, short_plain) = tokens::create_token(
            &db,
            &clock,
            user.id,
            "short",
            Some(clock.now() + Duration::hours(1)),
        )
        .await
        .unwrap();
        tokens::authenticate_token(&db, &clock, &short_plain)
            .await
            .unwrap();
        clock.advance(Duration::hours(1));
        assert!(matches!(
            tokens::authenticate_token(&db, &clock, &short_plain).await,
            Err(EngineError::Unauthenticated)
        ));

        // A disabled user's tokens stop working too.
        let (_, third) = tokens::create_token(&db, &clock, user.id, "third", None)
            .await
            .unwrap();
        tokens::authenticate_token(&db, &clock, &third)
            .await
            .unwrap();
        users::update_user(
            &db,
            &clock,
            user.id,
            UserUpdate {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(matches!(
            tokens::authenticate_token(&db, &clock, &third).await,
            Err(EngineError::Unauthenticated)
        ));

        let listed = tokens::list_tokens(&db, user.id).await.unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().any(|t| t.id == short.id));
        assert!(matches!(
            tokens::create_token(
                &db,
                &clock,
                user.id,
                "past",
                Some(clock.now() - Duration::seconds(1))
            )
            .await,
            Err(EngineError::BadRequest { .. })
        ));
        assert!(matches!(
            tokens::create_token(&db, &clock, uuid::Uuid::now_v7(), "nobody", None).await,
            Err(EngineError::NotFound { .. })
        ));
        assert!(matches!(
            tokens::revoke_token(&db, &clock, uuid::Uuid::now_v7()).await,
            Err(EngineError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn audit_entries_are_appended_and_listed_newest_first() {
    for_each_backend(|db| async move {
        let clock = ManualClock::new();
        let mut conn = db.acquire().await.unwrap();
        for i in 0..3 {
            clock.advance(Duration::seconds(1));
            audit::append(
                &mut conn.conn(),
                &clock,
                &AuditEntry::new("u1", "update")
                    .record("patient", format!("r{i}"))
                    .fields(vec!["phone".into(), "name".into()]),
            )
            .await
            .unwrap();
        }
        audit::append(
            &mut conn.conn(),
            &clock,
            &AuditEntry::new("u2", "unmask").record("patient", "r0"),
        )
        .await
        .unwrap();
        drop(conn);

        // Inside a transaction: rolled back with it, committed with it.
        let mut tx = db.begin().await.unwrap();
        audit::append(&mut tx.conn(), &clock, &AuditEntry::new("u3", "delete"))
            .await
            .unwrap();
        drop(tx);
        let mut tx = db.begin().await.unwrap();
        audit::append(
            &mut tx.conn(),
            &clock,
            &AuditEntry::new("u3", "export").detail(json!({"rows": 12})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let (all, total) = audit::list(&db, &AuditFilter::default(), 1, 50)
            .await
            .unwrap();
        assert_eq!(total, 5);
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["export", "unmask", "update", "update", "update"]);
        assert_eq!(all[0].detail, json!({"rows": 12}));
        assert_eq!(all[2].record_id.as_deref(), Some("r2"));
        assert_eq!(all[2].fields, vec!["phone".to_string(), "name".to_string()]);
        assert_eq!(all[4].at, all[2].at - Duration::seconds(2));

        let (page2, total) = audit::list(&db, &AuditFilter::default(), 2, 2)
            .await
            .unwrap();
        assert_eq!(total, 5);
        assert_eq!(
            page2
                .iter()
                .map(|e| e.record_id.as_deref())
                .collect::<Vec<_>>(),
            [Some("r2"), Some("r1")]
        );

        let filter = AuditFilter {
            actor: Some("u1".into()),
            record_id: Some("r0".into()),
            ..Default::default()
        };
        let (one, total) = audit::list(&db, &filter, 1, 50).await.unwrap();
        assert_eq!((one.len(), total), (1, 1));
        assert_eq!(one[0].action, "update");
        let filter = AuditFilter {
            entity: Some("patient".into()),
            ..Default::default()
        };
        assert_eq!(audit::list(&db, &filter, 1, 50).await.unwrap().1, 4);
        // The chain is laid on later.
        let row = db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM audit_log WHERE mac IS NOT NULL",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(row.req_int("n").unwrap(), 0);
    })
    .await;
}
