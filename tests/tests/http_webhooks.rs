//! Webhooks both ways against the real server, on SQLite and on PostgreSQL: a signed inbound
//! webhook starts a run with its body in scope, and bad signatures, stale times and replays
//! start nothing; a `webhook_call` posts signed, with its Idempotency-Key, to a real local
//! receiver, retries a 500 on the job queue, takes its `error` edge when the retries are spent,
//! and keeps a sensitive value it sends only as ciphertext.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use kangdao_engine::clock::{SystemClock, TestClock};
use kangdao_tests::on_both_backends;
use kangdao_tests::server::{id_number, json_of, patient_definition, Answer, Session, TestServer};
use kangdao_tests::Backend;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "his-shared-secret-of-at-least-32-chars";
const CALL_SECRET: &str = "outbound-secret-of-at-least-32-characters";

async fn status_and_body(response: Answer) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

async fn get(session: &Session, path: &str) -> Value {
    let (status, body) = status_and_body(session.get(path).await).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn post(session: &Session, path: &str, body: &Value, expected: u16) -> Value {
    let (status, answer) = status_and_body(session.post(path, body).await).await;
    assert_eq!(status, expected, "{path}: {answer}");
    answer
}

/// The signature as docs/flows.md defines it, computed here without the engine's code.
fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Posts to the inbound webhook of `flow` as a sender would: no session, no CSRF token.
async fn post_hook(
    server: &TestServer,
    flow: &str,
    body: &[u8],
    signature: Option<&str>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut call = server
        .anonymous()
        .request(Method::POST, &format!("/api/v1/hooks/{flow}"))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        call = call.header("X-Kangdao-Signature", signature);
    }
    if let Some(key) = key {
        call = call.header("Idempotency-Key", key);
    }
    status_and_body(call.send().await.expect("POST hook")).await
}

async fn runs_of(session: &Session, flow: &str) -> Vec<Value> {
    get(session, &format!("/api/v1/flows/{flow}/runs")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `check` holds for the run `id`, and answers it.
async fn run_until(session: &Session, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = get(session, &format!("/api/v1/runs/{id}")).await;
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not reach the expected state: {last}");
}

fn finished(run: &Value) -> bool {
    !run["finished_at"].is_null()
}

fn step<'a>(run: &'a Value, node: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"] == node)
        .unwrap_or(&Value::Null)
}

async fn server_with_patients(
    backend: Backend,
    clock: kangdao_engine::clock::SharedClock,
    allow: Vec<String>,
) -> (TestServer, Session) {
    let server = TestServer::start_configured(backend, clock, |config| {
        config.flow_webhook_allow = allow;
    })
    .await;
    let admin = server.admin().await;
    post(&admin, "/api/v1/entities", &patient_definition(), 201).await;
    (server, admin)
}

fn admission_flow() -> Value {
    json!({"name": "his_admission", "enabled": true,
        "trigger": {"type": "webhook", "secret": SECRET},
        "nodes": [{"id": "admit", "type": "create_record", "entity": "patient",
                   "set": {"name": {"expr": "body.name"}, "mrn": {"expr": "body.mrn"}}}],
        "edges": [{"from": "trigger", "to": "admit"}]})
}

/// The one text column `text` of the one row `sql` reads, straight from the database.
async fn stored_text(server: &TestServer, sql: &str) -> String {
    use sqlx::Row;
    match server.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&server.db.url).await.unwrap();
            sqlx::query(sql).fetch_one(&pool).await.unwrap().get("text")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&server.db.url).await.unwrap();
            sqlx::query(sql).fetch_one(&pool).await.unwrap().get("text")
        }
    }
}

async fn patients(session: &Session) -> Vec<Value> {
    get(session, "/api/v1/records/patient").await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn inbound_webhook_starts_a_run_with_its_body(backend: Backend) {
    let (server, admin) = server_with_patients(backend, Arc::new(SystemClock), vec![]).await;
    let saved = post(&admin, "/api/v1/flows", &admission_flow(), 201).await;
    assert_eq!(saved["trigger"]["secret_set"], true);
    assert!(saved["trigger"].get("secret").is_none(), "{saved}");

    // Signed with the flow's secret over time and body: a run starts, `body` in its scope.
    let body = r#"{"name":"张三","mrn":"M0001"}"#.as_bytes();
    let signature = sign(SECRET, unix_now(), body);
    let (status, accepted) = post_hook(
        &server,
        "his_admission",
        body,
        Some(&signature),
        Some("his-1"),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_string();
    let run = run_until(&admin, &run_id, finished).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"]["type"], "webhook");
    assert_eq!(
        run["trigger"],
        json!({"type": "webhook", "signed_at": run["trigger"]["signed_at"]}),
        "the inbound body is not shown with the run: {run}"
    );
    let stored = stored_text(
        &server,
        &format!("SELECT webhook_body AS text FROM flow_runs WHERE CAST(id AS TEXT) = '{run_id}'"),
    )
    .await;
    assert!(
        stored.starts_with("enc:v1:") && !stored.contains("M0001"),
        "the body is kept as ciphertext: {stored}"
    );
    let made = patients(&admin).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["data"]["name"], "张三");
    assert_eq!(made[0]["data"]["mrn"], "M0001");
    assert_eq!(made[0]["created_by"], "flow:his_admission");

    // The sender's retry with the same Idempotency-Key answers the first run, starts nothing.
    let (status, again) = post_hook(
        &server,
        "his_admission",
        body,
        Some(&signature),
        Some("his-1"),
    )
    .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["run_id"], run_id.as_str());

    // Without a key, the same signed request again is a replay: refused, nothing started.
    let second = r#"{"name":"李四","mrn":"M0002"}"#.as_bytes();
    let signature = sign(SECRET, unix_now(), second);
    let (status, _) = post_hook(&server, "his_admission", second, Some(&signature), None).await;
    assert_eq!(status, 202);
    let (status, replay) =
        post_hook(&server, "his_admission", second, Some(&signature), None).await;
    assert_eq!(status, 409, "{replay}");
    assert_eq!(replay["error"]["code"], "conflict");

    // A wrong secret, a changed body, a stale time, no signature, an unknown flow: one 401.
    let third = r#"{"name":"王五","mrn":"M0003"}"#.as_bytes();
    let refusals = [
        (
            "his_admission",
            sign("not-the-secret-but-also-32-characters", unix_now(), third),
        ),
        (
            "his_admission",
            sign(SECRET, unix_now(), b"{\"name\":\"other\"}"),
        ),
        // A minute past the 300 s window either way, so a second ticking over between
        // signing here and checking on the server cannot bring the time back inside it.
        ("his_admission", sign(SECRET, unix_now() - 360, third)),
        ("his_admission", sign(SECRET, unix_now() + 360, third)),
        ("his_admission", "t=1,v1=zz".to_string()),
        ("no_such_flow", sign(SECRET, unix_now(), third)),
    ];
    for (flow, signature) in &refusals {
        let (status, refused) = post_hook(&server, flow, third, Some(signature), None).await;
        assert_eq!(status, 401, "{flow} {signature}: {refused}");
        assert_eq!(refused["error"]["code"], "unauthenticated");
    }
    let (status, _) = post_hook(&server, "his_admission", third, None, None).await;
    assert_eq!(status, 401);

    // Signed, but not a JSON object: 400; past 256 KiB: 413.
    let list = b"[1,2,3]";
    let (status, bad) = post_hook(
        &server,
        "his_admission",
        list,
        Some(&sign(SECRET, unix_now(), list)),
        None,
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(300 * 1024));
    let (status, large) = post_hook(
        &server,
        "his_admission",
        big.as_bytes(),
        Some(&sign(SECRET, unix_now(), big.as_bytes())),
        None,
    )
    .await;
    assert_eq!(status, 413, "{large}");
    assert_eq!(large["error"]["code"], "payload_too_large");

    // Each accepted call is in the audit log with the run it started, none of its body;
    // the retry, the replay and the refusals add none.
    let audit = get(&admin, "/api/v1/audit?action=flow.webhook").await;
    assert_eq!(audit["total"], 2, "{audit}");
    let entries = audit["items"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["detail"]["run_id"] == run_id.as_str()
                && e["actor"] == "webhook:his_admission"),
        "{audit}"
    );
    assert!(
        !audit.to_string().contains("M000") && !audit.to_string().contains("张三"),
        "{audit}"
    );

    // A disabled flow answers as an unknown one.
    let mut disabled = get(&admin, "/api/v1/flows/his_admission").await;
    disabled["enabled"] = json!(false);
    let (status, body) =
        status_and_body(admin.put("/api/v1/flows/his_admission", &disabled).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["trigger"]["secret_set"], true,
        "a PUT keeps the secret"
    );
    let (status, _) = post_hook(
        &server,
        "his_admission",
        third,
        Some(&sign(SECRET, unix_now(), third)),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Only the two accepted requests started runs.
    for _ in 0..100 {
        if runs_of(&admin, "his_admission").await.iter().all(finished) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs_of(&admin, "his_admission").await.len(), 2);
    let names: Vec<Value> = patients(&admin)
        .await
        .iter()
        .map(|p| p["data"]["name"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // A dry run takes the body from the request and writes nothing.
    let dry = post(
        &admin,
        "/api/v1/flows/his_admission/dry-run",
        &json!({"body": {"name": "赵六", "mrn": "M0009"}}),
        200,
    )
    .await;
    assert_eq!(dry["path"][0]["would"]["data"]["name"], "赵六", "{dry}");
    assert_eq!(patients(&admin).await.len(), 2);
    server.stop().await;
}
on_both_backends!(
    an_inbound_webhook_starts_a_run_and_refuses_forgeries,
    inbound_webhook_starts_a_run_with_its_body
);

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A real HTTP receiver on a loopback port. `/hooks/<name>` answers the statuses scripted for
/// `<name>` in turn, then 200.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
}

impl Receiver {
    async fn start() -> (String, Receiver) {
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .route("/hooks/{name}", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (base, receiver)
    }

    fn answer(&self, name: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(name.into(), statuses.iter().copied().collect());
    }

    fn seen(&self, name: &str) -> Vec<Seen> {
        let path = format!("/hooks/{name}");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    async fn wait_for(&self, name: &str, count: usize) -> Vec<Seen> {
        for _ in 0..300 {
            let seen = self.seen(name);
            if seen.len() >= count {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver did not see {count} requests on {name}");
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    receiver.seen.lock().unwrap().push(Seen {
        path: format!("/hooks/{name}"),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    });
    let status = receiver
        .script
        .lock()
        .unwrap()
        .get_mut(&name)
        .and_then(VecDeque::pop_front)
        .unwrap_or(200);
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"accepted": status < 300, "ticket": "HIS-7781"})),
    )
}

/// The signature header `seen` carries verifies over its raw body.
fn verifies(seen: &Seen, secret: &str) -> bool {
    let header = &seen.headers["x-kangdao-signature"];
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("a time in the signature");
    sign(secret, t, &seen.body) == *header
}

fn notify_flow(base: &str) -> Value {
    json!({"name": "notify_his", "enabled": true,
        "trigger": {"type": "record_created", "entity": "patient"},
        "nodes": [
            {"id": "his", "type": "webhook_call", "url": format!("{base}/hooks/admit"),
             "secret": CALL_SECRET, "sends_sensitive": true,
             "body": {"patient": {"expr": "record.id"}, "name": {"expr": "record.name"},
                      "id_number": {"expr": "record.id_number"}, "source": "kangdao"}},
            {"id": "check", "type": "condition", "expr": "steps.his.status == 200 && steps.his.body.accepted"},
            {"id": "upgrade", "type": "update_record", "set": {"tier": "VIP"}}],
        "edges": [{"from": "trigger", "to": "his"}, {"from": "his", "to": "check"},
                  {"from": "check", "to": "upgrade", "when": "true"}]})
}

async fn stored_step_input(server: &TestServer, run: &str, node: &str) -> String {
    stored_text(
        server,
        &format!(
            "SELECT CAST(input AS TEXT) AS text FROM flow_steps WHERE CAST(run_id AS TEXT) = '{run}' AND node = '{node}'"
        ),
    )
    .await
}

async fn webhook_call_posts_signed_and_seals_what_it_sends(backend: Backend) {
    let (base, receiver) = Receiver::start().await;
    let (server, admin) = server_with_patients(
        backend,
        Arc::new(SystemClock),
        vec![format!("{base}/hooks/")],
    )
    .await;

    // A URL outside the allow list is refused on save, naming the node.
    let mut outside = notify_flow(&base);
    outside["nodes"][0]["url"] = json!("http://127.0.0.1:9/elsewhere");
    let refused = post(&admin, "/api/v1/flows", &outside, 400).await;
    let details = refused["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["node"] == "his" && d["code"] == "url_not_allowed"),
        "{details:?}"
    );
    // A sensitive field in the body needs `sends_sensitive`.
    let mut unmarked = notify_flow(&base);
    unmarked["nodes"][0]
        .as_object_mut()
        .unwrap()
        .remove("sends_sensitive");
    let refused = post(&admin, "/api/v1/flow-checks", &unmarked, 400).await;
    assert_eq!(refused["error"]["details"][0]["code"], "sensitive_to_plain");

    let saved = post(&admin, "/api/v1/flows", &notify_flow(&base), 201).await;
    assert_eq!(saved["nodes"][0]["secret_set"], true);
    assert!(saved["nodes"][0].get("secret").is_none());

    let id_no = id_number("110105", "19900307", 123);
    let patient = post(
        &admin,
        "/api/v1/records/patient",
        &json!({"data": {"name": "张三", "id_number": id_no}}),
        201,
    )
    .await;
    let patient_id = patient["id"].as_str().unwrap();
    let seen = receiver.wait_for("admit", 1).await;
    let runs = runs_of(&admin, "notify_his").await;
    let run_id = runs[0]["id"].as_str().unwrap().to_string();
    let run = run_until(&admin, &run_id, finished).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // What arrived: JSON, signed over time and body, keyed by run and node.
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["idempotency-key"], format!("{run_id}:his"));
    assert!(verifies(request, CALL_SECRET), "{:?}", request.headers);
    assert!(!verifies(request, SECRET));
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        sent,
        json!({"patient": patient_id, "name": "张三", "id_number": id_no, "source": "kangdao"})
    );

    // Later nodes read the answer: the condition saw status 200 and `accepted`.
    let call = step(&run, "his");
    assert_eq!(call["status"], "succeeded");
    assert_eq!(call["output"]["status"], 200);
    assert_eq!(step(&run, "check")["output"]["result"], true, "{run}");
    let after = get(&admin, &format!("/api/v1/records/patient/{patient_id}")).await;
    assert_eq!(after["data"]["tier"], "VIP");

    // The sensitive value sent is ciphertext in storage and shown to nobody.
    assert_eq!(call["input"]["body"]["id_number"], "***", "{call}");
    assert_eq!(call["input"]["body"]["name"], "张三");
    assert_eq!(
        call["output"]["body"], "***",
        "an answer may carry patient data"
    );
    let stored = stored_step_input(&server, &run_id, "his").await;
    assert!(!stored.contains(&id_no), "{stored}");
    assert!(stored.contains("enc:v1:"), "{stored}");
    let role = json!({"name": "designer", "permissions": [
        {"entity": "patient", "actions": ["read", "design"], "fields": {"id_number": "hidden"}}]});
    post(&admin, "/api/v1/roles", &role, 201).await;
    post(
        &admin,
        "/api/v1/users",
        &json!({"username": "designer_zhao", "password": "staff-password-1", "roles": ["designer"]}),
        201,
    )
    .await;
    let designer = server.login("designer_zhao", "staff-password-1").await;
    let shown = get(&designer, &format!("/api/v1/runs/{run_id}")).await;
    let text = shown.to_string();
    assert!(
        !text.contains(&id_no) && !text.contains("HIS-7781"),
        "{text}"
    );
    assert_eq!(step(&shown, "his")["input"]["body"]["id_number"], "***");

    // A dry run reports the request and sends nothing.
    let dry = post(
        &designer,
        "/api/v1/flows/notify_his/dry-run",
        &json!({"record_id": patient_id}),
        200,
    )
    .await;
    let would = &dry["path"][0]["would"];
    assert_eq!(would["method"], "POST", "{dry}");
    assert_eq!(would["url"], format!("{base}/hooks/admit"));
    assert_eq!(would["body"]["id_number"], "***");
    assert!(would["headers"]["X-Kangdao-Signature"].is_string());
    assert!(!dry.to_string().contains(&id_no));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen("admit").len(), 1, "the dry run sent nothing");
    server.stop().await;
}
on_both_backends!(
    a_webhook_call_posts_signed_and_seals_what_it_sends,
    webhook_call_posts_signed_and_seals_what_it_sends
);

fn manual_call_flow(base: &str, name: &str, hook: &str, retries: i64) -> Value {
    json!({"name": name, "enabled": true,
        "trigger": {"type": "manual", "entity": "patient"},
        "nodes": [
            {"id": "call", "type": "webhook_call", "url": format!("{base}/hooks/{hook}"),
             "retries": retries, "timeout_seconds": 5, "body": {"mrn": {"expr": "record.mrn"}}},
            {"id": "fallback", "type": "update_record", "set": {"tier": "VIP"}}],
        "edges": [{"from": "trigger", "to": "call"}, {"from": "call", "to": "fallback", "when": "error"}]})
}

async fn webhook_call_retries_then_takes_its_error_edge(backend: Backend) {
    let (base, receiver) = Receiver::start().await;
    let clock = Arc::new(TestClock::new(time::OffsetDateTime::now_utc()));
    let (server, admin) =
        server_with_patients(backend, clock.clone(), vec![format!("{base}/hooks/")]).await;
    post(
        &admin,
        "/api/v1/flows",
        &manual_call_flow(&base, "flaky_call", "flaky", 3),
        201,
    )
    .await;
    post(
        &admin,
        "/api/v1/flows",
        &manual_call_flow(&base, "down_call", "down", 1),
        201,
    )
    .await;
    let patient = post(
        &admin,
        "/api/v1/records/patient",
        &json!({"data": {"name": "李四", "mrn": "M0042"}}),
        201,
    )
    .await;
    let patient_id = patient["id"].as_str().unwrap();

    // 500 twice, then 200: the same job is retried after 10 s and 20 s (±20 %), and succeeds.
    receiver.answer("flaky", &[500, 500]);
    let run = post(
        &admin,
        "/api/v1/flows/flaky_call/runs",
        &json!({"record_id": patient_id}),
        201,
    )
    .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    receiver.wait_for("flaky", 1).await;
    let waiting = run_until(&admin, &run_id, |r| step(r, "call")["status"] == "ready").await;
    assert_eq!(step(&waiting, "call")["error"]["code"], "webhook_status");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen("flaky").len(), 1, "no retry before its time");
    clock.advance(time::Duration::seconds(13));
    receiver.wait_for("flaky", 2).await;
    // The clock moves only once the second failure is recorded: its retry is due from then.
    run_until(&admin, &run_id, |r| {
        step(r, "call")["status"] == "ready" && step(r, "call")["attempts"] == 2
    })
    .await;
    clock.advance(time::Duration::seconds(25));
    let seen = receiver.wait_for("flaky", 3).await;
    let done = run_until(&admin, &run_id, finished).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let call = step(&done, "call");
    assert_eq!(call["status"], "succeeded");
    assert_eq!(call["attempts"], 3);
    assert_eq!(call["output"]["status"], 200);
    assert!(step(&done, "fallback").is_null(), "{done}");
    let keys: Vec<&str> = seen
        .iter()
        .map(|s| s.headers["idempotency-key"].as_str())
        .collect();
    let key = format!("{run_id}:call");
    assert_eq!(keys, [key.as_str(); 3], "one key on every attempt");
    assert!(
        seen.iter()
            .all(|s| !s.headers.contains_key("x-kangdao-signature")),
        "no secret, no signature"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[0].body).unwrap(),
        json!({"mrn": "M0042"})
    );

    // Always 500 with one retry: two attempts, then the error edge.
    receiver.answer("down", &[500, 500, 500, 500]);
    let run = post(
        &admin,
        "/api/v1/flows/down_call/runs",
        &json!({"record_id": patient_id}),
        201,
    )
    .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    receiver.wait_for("down", 1).await;
    run_until(&admin, &run_id, |r| step(r, "call")["status"] == "ready").await;
    clock.advance(time::Duration::seconds(13));
    let done = run_until(&admin, &run_id, finished).await;
    assert_eq!(
        done["status"], "succeeded",
        "the error edge was taken: {done}"
    );
    let call = step(&done, "call");
    assert_eq!(call["status"], "failed");
    assert_eq!(call["attempts"], 2);
    assert_eq!(call["error"]["code"], "webhook_status");
    assert_eq!(step(&done, "fallback")["status"], "succeeded");
    clock.advance(time::Duration::seconds(120));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.seen("down").len(),
        2,
        "no attempt past the retries"
    );
    let after = get(&admin, &format!("/api/v1/records/patient/{patient_id}")).await;
    assert_eq!(after["data"]["tier"], "VIP");
    server.stop().await;
}
on_both_backends!(
    a_webhook_call_retries_then_takes_its_error_edge,
    webhook_call_retries_then_takes_its_error_edge
);
