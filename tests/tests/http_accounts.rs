//! Accounts as an attacker meets them over HTTP: user managers and role managers who try to
//! raise themselves, credentials at rest, sessions and tokens after a password change, and
//! the version round trip of users and roles; on SQLite and on PostgreSQL.

use kangdao_tests::on_both_backends;
use kangdao_tests::server::{json_of, patient_definition, Session, TestServer, ADMIN_PASSWORD};
use kangdao_tests::Backend;
use serde_json::{json, Value};

async fn created(response: kangdao_tests::server::Answer) -> Value {
    let status = response.status();
    let body = json_of(response).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn status_and_code(response: kangdao_tests::server::Answer) -> (u16, String) {
    let status = response.status().as_u16();
    let body = json_of(response).await;
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn define_patient(admin: &Session) {
    created(admin.post("/api/v1/entities", &patient_definition()).await).await;
}

async fn user_id(admin: &Session, username: &str) -> String {
    let users = json_of(admin.get("/api/v1/users?per_page=1000").await).await;
    users["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["username"] == username)
        .expect("user listed")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn bearer(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> kangdao_tests::server::Call {
    server.with_token(token).request(method, path)
}

async fn a_user_manager_cannot_take_over_administrators(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let admin_id = user_id(&admin, "admin").await;
    created(
        admin
            .post(
                "/api/v1/roles",
                &json!({"name": "user_manager", "rights": ["users"]}),
            )
            .await,
    )
    .await;
    created(
        admin
            .post(
                "/api/v1/roles",
                &json!({"name": "reader", "permissions": [
        {"entity": "patient", "actions": ["read", "export"]}]}),
            )
            .await,
    )
    .await;
    created(
        admin
            .post(
                "/api/v1/roles",
                &json!({"name": "auditor", "rights": ["audit", "roles"]}),
            )
            .await,
    )
    .await;
    created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "um", "password": "manager-pass-1", "roles": ["user_manager"], "departments": ["orthopedics"]}),
            )
            .await,
    )
    .await;
    created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "reader_li", "password": "reader-pass-1", "roles": ["reader"]}),
            )
            .await,
    )
    .await;
    let um = server.login("um", "manager-pass-1").await;
    let um_id = user_id(&admin, "um").await;
    let reader_id = user_id(&admin, "reader_li").await;

    // An administrator's password, account and flag are an administrator's business.
    let admin_path = format!("/api/v1/users/{admin_id}");
    for body in [
        json!({"password": "taken-over-1"}),
        json!({"disabled": true}),
        json!({"display_name": "pwned"}),
        json!({"is_admin": false}),
    ] {
        assert_eq!(
            status_and_code(um.patch(&admin_path, None, &body).await).await,
            (403, "forbidden".into()),
            "{body}"
        );
    }
    assert_eq!(
        status_and_code(um.delete(&admin_path, None).await).await,
        (403, "forbidden".into())
    );
    server.login("admin", ADMIN_PASSWORD).await;

    // Nor may they give anyone (themselves included) roles or rights they lack.
    let own = format!("/api/v1/users/{um_id}");
    for body in [
        json!({"is_admin": true}),
        json!({"departments": ["cardiology"]}),
        json!({"roles": ["user_manager", "reader"]}),
        json!({"roles": ["user_manager", "auditor"]}),
    ] {
        assert_eq!(um.patch(&own, None, &body).await.status(), 403, "{body}");
    }
    for body in [
        json!({"username": "sock", "password": "sock-pass-12", "roles": ["reader"]}),
        json!({"username": "sock", "password": "sock-pass-12", "is_admin": true}),
        json!({"username": "sock", "password": "sock-pass-12", "departments": ["cardiology"]}),
    ] {
        assert_eq!(
            um.post("/api/v1/users", &body).await.status(),
            403,
            "{body}"
        );
    }
    // A user holding a role the manager lacks is out of reach too: no password reset.
    let reader_path = format!("/api/v1/users/{reader_id}");
    assert_eq!(
        um.patch(&reader_path, None, &json!({"password": "taken-over-2"}))
            .await
            .status(),
        403
    );
    assert_eq!(um.delete(&reader_path, None).await.status(), 403);
    server.login("reader_li", "reader-pass-1").await;
    let me = json_of(admin.get(&own).await).await;
    assert_eq!(me["roles"], json!(["user_manager"]));
    assert_eq!(me["is_admin"], false);

    // What they hold, they may give; plain users they may manage.
    let plain = created(
        um.post(
            "/api/v1/users",
            &json!({"username": "clerk_wu", "password": "clerk-pass-1", "roles": ["user_manager"], "departments": ["orthopedics"]}),
        )
        .await,
    )
    .await;
    let plain_path = format!("/api/v1/users/{}", plain["id"].as_str().unwrap());
    assert_eq!(
        um.patch(
            &plain_path,
            None,
            &json!({"password": "clerk-pass-2", "roles": []})
        )
        .await
        .status(),
        200
    );
    assert_eq!(um.delete(&plain_path, None).await.status(), 204);

    // The last active administrator stays one.
    let admin_self = format!("/api/v1/users/{admin_id}");
    for body in [json!({"is_admin": false}), json!({"disabled": true})] {
        assert_eq!(
            status_and_code(admin.patch(&admin_self, None, &body).await).await,
            (409, "conflict".into()),
            "{body}"
        );
    }
    created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "admin2", "password": "admin2-pass-1", "is_admin": true}),
            )
            .await,
    )
    .await;
    let admin2 = server.login("admin2", "admin2-pass-1").await;
    let admin2_id = user_id(&admin, "admin2").await;
    assert_eq!(
        admin2
            .patch(&admin_self, None, &json!({"is_admin": false}))
            .await
            .status(),
        200
    );
    assert_eq!(
        status_and_code(
            admin2
                .patch(
                    &format!("/api/v1/users/{admin2_id}"),
                    None,
                    &json!({"disabled": true})
                )
                .await
        )
        .await,
        (409, "conflict".into())
    );
    // Each refused change left no audit entry; each applied one left its own.
    let audit = json_of(admin2.get("/api/v1/audit?action=user.update").await).await;
    assert_eq!(audit["total"], 2, "{audit}");
    server.stop().await;
}
on_both_backends!(
    user_managers_cannot_take_over_administrators,
    a_user_manager_cannot_take_over_administrators
);

async fn nobody_widens_their_own_role_or_grants_what_they_lack(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    let manager_role = json!({"name": "role_manager", "rights": ["roles"], "permissions": [
        {"entity": "patient", "actions": ["read"], "fields": {"id_number": "masked"}}]});
    created(admin.post("/api/v1/roles", &manager_role).await).await;
    created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "rm", "password": "roles-pass-1", "roles": ["role_manager"]}),
            )
            .await,
    )
    .await;
    let rm = server.login("rm", "roles-pass-1").await;

    // Their own role is out of reach, even to narrow it.
    let widened = json!({"name": "role_manager", "rights": ["roles", "users", "audit", "packs", "settings", "new_entity"],
        "permissions": [{"entity": "patient", "actions": ["read", "design", "export"]}]});
    assert_eq!(
        status_and_code(rm.put("/api/v1/roles/role_manager", &widened).await).await,
        (403, "forbidden".into())
    );
    assert_eq!(
        rm.put(
            "/api/v1/roles/role_manager",
            &json!({"name": "role_manager", "rights": ["roles"]})
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        rm.delete("/api/v1/roles/role_manager", None).await.status(),
        403
    );
    let stored = json_of(admin.get("/api/v1/roles/role_manager").await).await;
    assert_eq!(stored["rights"], json!(["roles"]));

    // Nothing they lack goes into a role they create.
    for role in [
        json!({"name": "x1", "rights": ["users"]}),
        json!({"name": "x2", "permissions": [{"entity": "patient", "actions": ["read", "export"]}]}),
        json!({"name": "x3", "permissions": [{"entity": "patient", "actions": ["read"], "fields": {"id_number": "read"}}]}),
        json!({"name": "x4", "permissions": [{"entity": "patient", "actions": ["update"]}]}),
    ] {
        assert_eq!(
            rm.post("/api/v1/roles", &role).await.status(),
            403,
            "{role}"
        );
    }
    let narrow = json!({"name": "narrow", "permissions": [
        {"entity": "patient", "actions": ["read"], "fields": {"id_number": "hidden"}}]});
    created(rm.post("/api/v1/roles", &narrow).await).await;
    let wider = json!({"name": "narrow", "permissions": [
        {"entity": "patient", "actions": ["read", "export"]}]});
    assert_eq!(rm.put("/api/v1/roles/narrow", &wider).await.status(), 403);
    // Nor changed or removed when it grants what they lack.
    created(
        admin
            .post(
                "/api/v1/roles",
                &json!({"name": "exporter", "permissions": [
        {"entity": "patient", "actions": ["read", "export"]}]}),
            )
            .await,
    )
    .await;
    assert_eq!(
        rm.put("/api/v1/roles/exporter", &narrow_named("exporter"))
            .await
            .status(),
        403
    );
    assert_eq!(
        rm.delete("/api/v1/roles/exporter", None).await.status(),
        403
    );
    assert_eq!(rm.delete("/api/v1/roles/narrow", None).await.status(), 204);

    // An administrator holds everything and may edit any role.
    assert_eq!(
        admin
            .put("/api/v1/roles/role_manager", &widened)
            .await
            .status(),
        200
    );

    // A role's entities must exist.
    let ghost = json!({"name": "ghost", "permissions": [{"entity": "visit", "actions": ["read"]}]});
    let response = admin.post("/api/v1/roles", &ghost).await;
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("visit"),
        "{body}"
    );
    assert_eq!(
        admin
            .put(
                "/api/v1/roles/exporter",
                &json!({"name": "exporter", "permissions": [
            {"entity": "visit", "actions": ["read"]}]})
            )
            .await
            .status(),
        400
    );
    server.stop().await;
}
on_both_backends!(
    roles_cannot_be_used_to_escalate,
    nobody_widens_their_own_role_or_grants_what_they_lack
);

fn narrow_named(name: &str) -> Value {
    json!({"name": name, "permissions": [{"entity": "patient", "actions": ["read"], "fields": {"id_number": "hidden"}}]})
}

async fn users_and_roles_round_trip_with_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    define_patient(&admin).await;
    created(admin.post("/api/v1/roles", &narrow_named("desk")).await).await;

    // A role: GET answers a version; PUT of what GET answered is accepted and changes nothing.
    let role = json_of(admin.get("/api/v1/roles/desk").await).await;
    assert_eq!(role["version"], 1);
    let same = json_of(admin.put("/api/v1/roles/desk", &role).await).await;
    assert_eq!(same["version"], 1, "{same}");
    let mut edited = role.clone();
    edited["label"] = json!({"zh": "前台"});
    let response = admin.put("/api/v1/roles/desk", &edited).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["version"], 2);
    // The stale version, in the body or in If-Match, is a conflict.
    edited["label"] = json!({"zh": "导医"});
    assert_eq!(
        status_and_code(admin.put("/api/v1/roles/desk", &edited).await).await,
        (409, "version_conflict".into())
    );
    let mut unversioned = edited.clone();
    unversioned.as_object_mut().unwrap().remove("version");
    let stale = admin
        .request(reqwest::Method::PUT, "/api/v1/roles/desk")
        .header("If-Match", "\"1\"")
        .json(&unversioned)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(stale).await,
        (409, "version_conflict".into())
    );
    // Neither: applied as it stands.
    let response = admin.put("/api/v1/roles/desk", &unversioned).await;
    assert_eq!(json_of(response).await["version"], 3);
    assert_eq!(
        json_of(admin.get("/api/v1/audit?action=role.update").await).await["total"],
        2,
        "an unchanged role writes no audit entry"
    );
    assert_eq!(
        admin.delete("/api/v1/roles/desk", Some(2)).await.status(),
        409
    );
    assert_eq!(
        admin.delete("/api/v1/roles/desk", Some(3)).await.status(),
        204
    );

    // A user: the same round trip through PATCH.
    let user = created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "nurse_li", "password": "nurse-pass-1"}),
            )
            .await,
    )
    .await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    let got = json_of(admin.get(&path).await).await;
    assert_eq!(got["version"], 1);
    let same = json_of(admin.patch(&path, None, &got).await).await;
    assert_eq!(same["version"], 1, "{same}");
    let mut edited = got.clone();
    edited["display_name"] = json!("李护士");
    let changed = json_of(admin.patch(&path, None, &edited).await).await;
    assert_eq!(changed["version"], 2, "{changed}");
    assert_eq!(changed["display_name"], "李护士");
    edited["display_name"] = json!("王护士");
    assert_eq!(
        status_and_code(admin.patch(&path, None, &edited).await).await,
        (409, "version_conflict".into())
    );
    assert_eq!(
        status_and_code(
            admin
                .patch(&path, Some(1), &json!({"display_name": "赵护士"}))
                .await
        )
        .await,
        (409, "version_conflict".into())
    );
    let mut renamed = changed.clone();
    renamed["username"] = json!("nurse_wang");
    assert_eq!(admin.patch(&path, None, &renamed).await.status(), 400);
    assert_eq!(admin.delete(&path, Some(1)).await.status(), 409);
    assert_eq!(admin.delete(&path, Some(2)).await.status(), 204);
    server.stop().await;
}
on_both_backends!(
    users_and_roles_have_versions,
    users_and_roles_round_trip_with_versions
);

/// The cookie's session id, from a log-in answer.
fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("kangdao_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string()
}

async fn stored_sessions(server: &TestServer) -> Vec<(String, String)> {
    use sqlx::Row;
    let sql = "SELECT id_hash, CAST(data AS TEXT) AS data FROM sessions";
    match server.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&server.db.url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            rows.iter()
                .map(|r| (r.get("id_hash"), r.get("data")))
                .collect()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            rows.iter()
                .map(|r| (r.get("id_hash"), r.get("data")))
                .collect()
        }
    }
}

async fn sessions_are_stored_by_a_hash_of_their_id(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = session_cookie(&login);
    let me = |value: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/me", server.base);
        async move {
            client
                .get(url)
                .header("cookie", format!("kangdao_session={value}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(cookie.clone()).await, 200);

    let stored = stored_sessions(&server).await;
    assert_eq!(stored.len(), 1);
    for (key, data) in &stored {
        assert!(
            !key.contains(&cookie) && !data.contains(&cookie),
            "the id is stored: {key} {data}"
        );
        // A copy of the table gives no live session.
        assert_eq!(me(key.clone()).await, 401);
    }
    server.stop().await;
}
on_both_backends!(
    sessions_at_rest_are_hashed,
    sessions_are_stored_by_a_hash_of_their_id
);

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
async fn the_data_folder_is_private(backend: Backend) {
    use kangdao_server::config::{Config, FileConfig};
    let db = kangdao_tests::backends::FreshDatabase::new(backend).await;
    let data_dir = db.data_dir.join("new").join("data");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", data_dir.join("kangdao.db").display()),
        Backend::Postgres => db.url.clone(),
    };
    let config = Config::resolve(
        FileConfig::default(),
        FileConfig {
            data_dir: Some(data_dir.clone()),
            database_url: Some(url),
            ..FileConfig::default()
        },
    );
    let state = kangdao_server::build_state(config).await.expect("state");
    kangdao_engine::access::users::create_user(
        &state.engine.db,
        state.engine.clock.as_ref(),
        serde_json::from_value(json!({"username": "someone", "password": "some-password"}))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("secrets")), 0o700);
    assert_eq!(mode(&data_dir.join("secrets").join("master.key")), 0o600);
    if backend == Backend::Sqlite {
        for file in ["kangdao.db", "kangdao.db-wal", "kangdao.db-shm"] {
            assert_eq!(mode(&data_dir.join(file)), 0o600, "{file}");
        }
    }
    state.engine.db.close().await;
}
#[cfg(unix)]
on_both_backends!(
    data_folder_and_files_are_private,
    the_data_folder_is_private
);

/// An installation made before the server kept its files private (a 0755 folder, a 0644
/// database) is tightened when the server starts.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_open_data_folder_is_tightened_at_start() {
    use kangdao_server::config::{Config, FileConfig};
    use std::os::unix::fs::PermissionsExt;
    let db = kangdao_tests::backends::FreshDatabase::new(Backend::Sqlite).await;
    let data_dir = db.data_dir.join("older");
    let open = |path: &std::path::Path, m: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).unwrap()
    };
    let config = Config::resolve(
        FileConfig::default(),
        FileConfig {
            data_dir: Some(data_dir.clone()),
            database_url: Some(format!(
                "sqlite://{}",
                data_dir.join("kangdao.db").display()
            )),
            ..FileConfig::default()
        },
    );
    let state = kangdao_server::build_state(config.clone())
        .await
        .expect("state");
    state.engine.db.close().await;
    open(&data_dir, 0o755);
    open(&data_dir.join("secrets"), 0o755);
    open(&data_dir.join("secrets").join("master.key"), 0o644);
    open(&data_dir.join("kangdao.db"), 0o644);

    let state = kangdao_server::build_state(config).await.expect("state");
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("secrets")), 0o700);
    assert_eq!(mode(&data_dir.join("secrets").join("master.key")), 0o600);
    assert_eq!(mode(&data_dir.join("kangdao.db")), 0o600);
    state.engine.db.close().await;
}

async fn a_password_change_ends_other_sessions_and_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    created(
        admin
            .post(
                "/api/v1/roles",
                &json!({"name": "user_manager", "rights": ["users"]}),
            )
            .await,
    )
    .await;
    created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "um", "password": "manager-pass-1", "roles": ["user_manager"]}),
            )
            .await,
    )
    .await;
    let um_id = user_id(&admin, "um").await;
    let path = format!("/api/v1/users/{um_id}");
    let here = server.login("um", "manager-pass-1").await;
    let elsewhere = server.login("um", "manager-pass-1").await;
    let token = created(here.post("/api/v1/tokens", &json!({"name": "HIS"})).await).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let token_works = || async {
        bearer(&server, reqwest::Method::GET, "/api/v1/me", &token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(token_works().await, 200);

    // Their own change: this session goes on, the others and every token end.
    assert_eq!(
        here.patch(&path, None, &json!({"password": "manager-pass-2"}))
            .await
            .status(),
        200
    );
    assert_eq!(here.get("/api/v1/me").await.status(), 200);
    assert_eq!(elsewhere.get("/api/v1/me").await.status(), 401);
    assert_eq!(token_works().await, 401);
    let listed = json_of(here.get("/api/v1/tokens").await).await;
    assert!(listed["items"][0]["revoked_at"].is_string(), "{listed}");

    // A reset by an administrator ends them all.
    let token = created(here.post("/api/v1/tokens", &json!({"name": "HIS 2"})).await).await
        ["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        admin
            .patch(&path, None, &json!({"password": "manager-pass-3"}))
            .await
            .status(),
        200
    );
    assert_eq!(here.get("/api/v1/me").await.status(), 401);
    let status = bearer(&server, reqwest::Method::GET, "/api/v1/me", &token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    server.login("um", "manager-pass-3").await;
    // Other changes leave sessions alone.
    let admin_again = server.admin().await;
    assert_eq!(
        admin
            .patch(&path, None, &json!({"display_name": "王"}))
            .await
            .status(),
        200
    );
    assert_eq!(admin_again.get("/api/v1/me").await.status(), 200);
    server.stop().await;
}
on_both_backends!(
    password_changes_end_sessions_and_tokens,
    a_password_change_ends_other_sessions_and_tokens
);

async fn tokens_cannot_mint_tokens_and_have_a_maximum_life(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let now = time::OffsetDateTime::now_utc();
    let token = created(admin.post("/api/v1/tokens", &json!({"name": "HIS"})).await).await;
    let expires = time::OffsetDateTime::parse(
        token["expires_at"].as_str().expect("an expiry by default"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let by_default = expires - now;
    assert!(
        by_default > time::Duration::days(364) && by_default <= time::Duration::days(366),
        "{by_default}"
    );
    let forever = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "forever", "expires_at": "9999-12-31T00:00:00Z"}),
        )
        .await;
    assert_eq!(status_and_code(forever).await, (400, "bad_request".into()));
    let month = (now + time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    created(
        admin
            .post(
                "/api/v1/tokens",
                &json!({"name": "a month", "expires_at": month}),
            )
            .await,
    )
    .await;

    // A token cannot mint tokens: deleting it would otherwise end nothing.
    let plaintext = token["token"].as_str().unwrap();
    let response = bearer(&server, reqwest::Method::POST, "/api/v1/tokens", plaintext)
        .json(&json!({"name": "child"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(response).await, (403, "forbidden".into()));
    server.stop().await;
}
on_both_backends!(
    tokens_are_bounded,
    tokens_cannot_mint_tokens_and_have_a_maximum_life
);

/// Makes every audit insert fail (`on = true`) or lets them through again.
async fn break_audit(server: &TestServer, on: bool) {
    let statements: &[&str] = match (server.db.backend, on) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER audit_off BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit off'); END"],
        (Backend::Sqlite, false) => &["DROP TRIGGER audit_off"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION audit_off() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit off'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_off BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_off()",
        ],
        (Backend::Postgres, false) => &["DROP TRIGGER audit_off ON audit_log"],
    };
    for sql in statements {
        match server.db.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&server.db.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }
}

async fn an_admin_change_and_its_audit_entry_commit_together(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let user = created(
        admin
            .post(
                "/api/v1/users",
                &json!({"username": "nurse_li", "password": "nurse-pass-1"}),
            )
            .await,
    )
    .await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());

    // When the audit entry cannot be written, the change it describes is not made either.
    break_audit(&server, true).await;
    let response = admin
        .patch(
            &path,
            None,
            &json!({"display_name": "李护士", "disabled": true}),
        )
        .await;
    assert_eq!(response.status(), 500);
    let stored = json_of(admin.get(&path).await).await;
    assert_eq!(stored["username"], "nurse_li", "{stored}");
    assert_eq!(stored["display_name"], Value::Null, "{stored}");
    assert_eq!(stored["disabled"], false);
    let role = admin
        .post(
            "/api/v1/roles",
            &json!({"name": "desk", "rights": ["audit"]}),
        )
        .await;
    assert_eq!(role.status(), 500);
    assert_eq!(admin.get("/api/v1/roles/desk").await.status(), 404);
    assert_eq!(admin.delete(&path, None).await.status(), 500);
    assert_eq!(admin.get(&path).await.status(), 200);
    break_audit(&server, false).await;
    assert_eq!(json_of(admin.get(&path).await).await["version"], 1);
    server.stop().await;
}
on_both_backends!(
    admin_changes_and_their_audit_commit_together,
    an_admin_change_and_its_audit_entry_commit_together
);

/// A principal may be reused for up to a second (`principal_cache`): a revocation through the
/// instance that holds it is seen by the next request there, and one made through another
/// instance on the same database within that second.
async fn a_revocation_reaches_every_instance_within_a_second(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let twin = server.twin().await;
    let revoke_here = created(admin.post("/api/v1/tokens", &json!({"name": "HIS"})).await).await;
    let revoke_there = created(admin.post("/api/v1/tokens", &json!({"name": "LIS"})).await).await;
    let (here_id, here_token) = (
        revoke_here["id"].as_str().unwrap(),
        revoke_here["token"].as_str().unwrap(),
    );
    let (there_id, there_token) = (
        revoke_there["id"].as_str().unwrap(),
        revoke_there["token"].as_str().unwrap(),
    );
    // Both instances now hold both principals.
    for token in [here_token, there_token] {
        assert_eq!(
            server.with_token(token).get("/api/v1/me").await.status(),
            200
        );
        assert_eq!(twin.with_token(token).get("/api/v1/me").await.status(), 200);
    }

    // Revoked through this instance: refused here at once.
    let path = format!("/api/v1/tokens/{here_id}");
    assert_eq!(admin.delete(&path, None).await.status(), 204);
    assert_eq!(
        server
            .with_token(here_token)
            .get("/api/v1/me")
            .await
            .status(),
        401
    );

    // Revoked through the other instance: refused here within the second.
    let revoked_at = std::time::Instant::now();
    let twin_admin = twin.login("admin", ADMIN_PASSWORD).await;
    let path = format!("/api/v1/tokens/{there_id}");
    assert_eq!(twin_admin.delete(&path, None).await.status(), 204);
    loop {
        let status = server
            .with_token(there_token)
            .get("/api/v1/me")
            .await
            .status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_millis(1_500),
            "a revoked token still works on another instance after {:?}",
            revoked_at.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    twin.stop().await;
    server.stop().await;
}

on_both_backends!(
    revocations_reach_every_instance,
    a_revocation_reaches_every_instance_within_a_second
);
