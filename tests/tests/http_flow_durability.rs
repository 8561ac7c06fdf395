//! The flow runtime's durability against real servers (docs/flows.md section 5): a run cut by
//! `kill -9` resumes after a restart with no node's effect doubled, on SQLite and PostgreSQL;
//! two servers on one PostgreSQL database never apply one job twice under load.
//!
//! Effects are counted in the database itself, not through the API: every message of a run
//! (keyed `<run>:<node>`), every step row, every job and every record version.

use kangdao_engine::clock::{Clock, SharedClock};
use kangdao_engine::store::{Db, DbOptions};
use kangdao_tests::child::ChildServer;
use kangdao_tests::server::{
    json_of, patient_definition, Session, TestServer, ADMIN, ADMIN_PASSWORD,
};
use kangdao_tests::{on_both_backends, Backend, FreshDatabase};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// Not a test of its own: the server [`ChildServer::start`] runs in a separate process (this
/// test binary again). Without its variables it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_server_for_kill_tests() {
    kangdao_tests::child::serve_if_asked().await
}

/// The patient of the HTTP tests with the two fields the flows below write.
fn patients_with_flow_fields() -> Value {
    let mut def = patient_definition();
    let fields = def["fields"].as_array_mut().unwrap();
    fields.push(json!({"name": "vip_since", "type": "date", "label": {"zh": "VIP起始日", "en": "VIP since"}}));
    fields.push(json!({"name": "flow_visits", "type": "integer", "label": {"zh": "流程计数", "en": "Flow visits"}, "min": 0, "default": 0}));
    def
}

/// DESIGN.md's VIP flow, optionally followed by a one-minute pause, a counter incremented by
/// one (an effect that shows when applied twice, where setting `tier` again would not) and a
/// second message.
fn vip_flow(with_pause: bool) -> Value {
    let mut nodes = vec![
        json!({"id": "check", "type": "condition", "expr": "record.total_spent > 5000 && record.tier != \"VIP\""}),
        json!({"id": "upgrade", "type": "update_record", "set": {"tier": "VIP", "vip_since": {"expr": "today()"}}}),
        json!({"id": "notify", "type": "send_message", "channel": "sms", "to": {"expr": "record.phone"},
               "template": "尊敬的{{record.name}}，您已升级为VIP会员。"}),
    ];
    let mut edges = vec![
        json!({"from": "trigger", "to": "check"}),
        json!({"from": "check", "to": "upgrade", "when": "true"}),
        json!({"from": "upgrade", "to": "notify"}),
    ];
    if with_pause {
        nodes.extend([
            json!({"id": "pause", "type": "delay", "duration": {"minutes": 1}}),
            json!({"id": "bump", "type": "update_record", "set": {"flow_visits": {"expr": "record.flow_visits + 1"}}}),
            json!({"id": "remind", "type": "send_message", "channel": "sms", "to": {"expr": "record.phone"},
                   "template": "{{record.name}}您好，欢迎使用VIP服务。"}),
        ]);
        edges.extend([
            json!({"from": "notify", "to": "pause"}),
            json!({"from": "pause", "to": "bump"}),
            json!({"from": "bump", "to": "remind"}),
        ]);
    }
    json!({"name": "vip_upgrade", "label": {"zh": "累计消费超过5000元升级VIP"}, "enabled": true,
           "trigger": {"type": "record_updated", "entity": "patient", "fields": ["total_spent"]},
           "nodes": nodes, "edges": edges})
}

async fn define(admin: &Session, with_pause: bool) {
    let created = admin
        .post("/api/v1/entities", &patients_with_flow_fields())
        .await;
    assert_eq!(created.status(), 201, "{}", created.value());
    let saved = admin.post("/api/v1/flows", &vip_flow(with_pause)).await;
    assert_eq!(saved.status(), 201, "{}", saved.value());
}

/// Creates `n` patients under 5000, `clients[i % len]` creating the i-th, all at once.
async fn create_patients(clients: &[Session], n: usize) -> Vec<Uuid> {
    let creates: Vec<_> = (0..n)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            tokio::spawn(async move {
                let created = client
                    .post(
                        "/api/v1/records/patient",
                        &json!({"data": {"name": format!("患者{i}"), "phone": format!("138{i:08}"), "total_spent": 4800}}),
                    )
                    .await;
                assert_eq!(created.status(), 201, "{}", created.value());
                Uuid::parse_str(created.value()["id"].as_str().expect("id")).expect("uuid")
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for create in creates {
        ids.push(create.await.expect("create"));
    }
    ids
}

/// Moves every patient across 5000 at once (version 1 → 2), `clients[i % len]` updating the
/// i-th: each update is one triggering event.
async fn cross_5000(clients: &[Session], ids: &[Uuid]) {
    let updates: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let client = clients[i % clients.len()].clone();
            let id = *id;
            tokio::spawn(async move {
                let updated = client
                    .patch(
                        &format!("/api/v1/records/patient/{id}"),
                        Some(1),
                        &json!({"data": {"total_spent": 5200}}),
                    )
                    .await;
                assert_eq!(updated.status(), 200, "{}", updated.value());
            })
        })
        .collect();
    for update in updates {
        update.await.expect("update");
    }
}

async fn open(db: &FreshDatabase) -> Db {
    Db::connect(&DbOptions {
        url: db.url.clone(),
        max_connections: 2,
    })
    .await
    .expect("connect to the test database")
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.fetch_one(sql, vec![])
        .await
        .expect(sql)
        .req_int("n")
        .expect("n")
}

/// Waits until `runs` runs of the flow exist and every one has finished.
async fn all_runs_finished(db: &Db, runs: i64, within: Duration) {
    let started = Instant::now();
    loop {
        let total = count(db, "SELECT COUNT(*) AS n FROM flow_runs").await;
        let open = count(
            db,
            "SELECT COUNT(*) AS n FROM flow_runs WHERE finished_at IS NULL",
        )
        .await;
        if total >= runs && open == 0 {
            return;
        }
        assert!(
            started.elapsed() < within,
            "after {within:?}: {total} runs of {runs}, {open} unfinished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks, in the database, that every patient's update started exactly one run, that each run
/// succeeded through `nodes` with one step row per node, one job per node a job started, one message per
/// `send_message` node keyed `<run>:<node>`, and that every patient's record shows the flow's
/// writes once (`version` and, with the pause, `flow_visits`).
async fn each_effect_once(db: &Db, patients: &[Uuid], nodes: &[&str], messages: &[&str]) {
    let runs = db
        .fetch_all(
            "SELECT id, record_id, status, flow_version FROM flow_runs",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(runs.len(), patients.len(), "one run per triggering update");
    let mut run_of: HashMap<Uuid, Uuid> = HashMap::new();
    for r in &runs {
        let id = r.req_uuid("id").unwrap();
        assert_eq!(r.req_text("status").unwrap(), "succeeded", "run {id}");
        let record = r.req_uuid("record_id").unwrap();
        assert!(
            run_of.insert(record, id).is_none(),
            "a second run for patient {record}"
        );
    }
    let wanted: HashSet<Uuid> = patients.iter().copied().collect();
    assert_eq!(run_of.keys().copied().collect::<HashSet<_>>(), wanted);

    // Step rows: one per (run, node) is the table's key; none missing, none failed.
    let steps = db
        .fetch_all("SELECT run_id, node, status FROM flow_steps", vec![])
        .await
        .expect("steps");
    let mut nodes_of: HashMap<Uuid, Vec<String>> = HashMap::new();
    for s in &steps {
        assert_eq!(s.req_text("status").unwrap(), "succeeded");
        nodes_of
            .entry(s.req_uuid("run_id").unwrap())
            .or_default()
            .push(s.req_text("node").unwrap());
    }
    for run in run_of.values() {
        let mut got = nodes_of.remove(run).unwrap_or_default();
        got.sort();
        let mut want: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "steps of run {run}");
    }
    assert!(nodes_of.is_empty(), "steps of no run: {nodes_of:?}");

    // Jobs: one per (run, node), every one done; nothing left ready or running.
    let jobs = db
        .fetch_all("SELECT run_id, node, state FROM flow_jobs", vec![])
        .await
        .expect("jobs");
    let mut seen = HashSet::new();
    for j in &jobs {
        let key = (j.req_uuid("run_id").unwrap(), j.req_text("node").unwrap());
        assert_eq!(j.req_text("state").unwrap(), "done", "job {key:?}");
        assert!(seen.insert(key.clone()), "two jobs for {key:?}");
    }
    // A job starts a run's first node and the node after its pause; the nodes after each ran
    // in place, in that job's transaction.
    let job_nodes: Vec<&str> = ["check", "bump"]
        .into_iter()
        .filter(|n| nodes.contains(n))
        .collect();
    for (run, node) in &seen {
        assert!(job_nodes.contains(&node.as_str()), "job of {node} in {run}");
    }
    assert_eq!(jobs.len(), run_of.len() * job_nodes.len());

    // Messages: exactly one per run and sending node.
    let rows = db
        .fetch_all(
            "SELECT data FROM e_message WHERE deleted_at IS NULL",
            vec![],
        )
        .await
        .expect("messages");
    let mut keys: HashMap<String, usize> = HashMap::new();
    for m in &rows {
        let data = m.req_json("data").unwrap();
        let key = data["idempotency_key"].as_str().expect("key").to_string();
        let run = Uuid::parse_str(data["run_id"].as_str().expect("run")).expect("run id");
        assert!(key.starts_with(&format!("{run}:")), "{key}");
        *keys.entry(key).or_default() += 1;
    }
    assert_eq!(rows.len(), run_of.len() * messages.len(), "messages");
    for run in run_of.values() {
        for node in messages {
            assert_eq!(
                keys.get(&format!("{run}:{node}")),
                Some(&1),
                "message {node} of run {run}"
            );
        }
    }

    // The records: created (1), crossed 5000 (2), upgraded by the flow (3), bumped (4).
    let bumped = nodes.contains(&"bump");
    let records = db
        .fetch_all("SELECT id, version, data FROM e_patient", vec![])
        .await
        .expect("patients");
    assert_eq!(records.len(), patients.len());
    for r in &records {
        let id = r.req_uuid("id").unwrap();
        let data = r.req_json("data").unwrap();
        assert_eq!(data["tier"], "VIP", "patient {id}");
        assert_eq!(
            r.req_int("version").unwrap(),
            if bumped { 4 } else { 3 },
            "patient {id}: each flow write once"
        );
        assert_eq!(
            data["flow_visits"],
            json!(if bumped { 1 } else { 0 }),
            "patient {id}"
        );
    }
}

/// A clock restarted "later": it starts `ahead` of the machine's and runs `speed` times as
/// fast, so the killed server's leases have expired when it starts and one-minute delays pass
/// in seconds.
#[derive(Debug)]
struct Later {
    start: OffsetDateTime,
    real: Instant,
    speed: u32,
}

impl Clock for Later {
    fn now(&self) -> OffsetDateTime {
        let now = self.start + self.real.elapsed() * self.speed;
        // Stored timestamps keep microseconds, as the system clock's.
        now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap_or(now)
    }
}

async fn killed_runs_resume_without_doubling(backend: Backend) {
    const PATIENTS: usize = 120;
    const NODES: [&str; 6] = ["check", "upgrade", "notify", "pause", "bump", "remind"];
    let db = FreshDatabase::new(backend).await;
    let mut child = ChildServer::start(&db).await;
    let admin = Session::login_at(&child.base, ADMIN, ADMIN_PASSWORD).await;
    define(&admin, true).await;
    let patients = create_patients(std::slice::from_ref(&admin), PATIENTS).await;
    cross_5000(std::slice::from_ref(&admin), &patients).await;
    let store = open(&db).await;
    // Killed once a third of the steps before the pause are done: the worker is then in the
    // middle of a batch it leased, so steps are running under the dead server's leases, and
    // no run can have passed its one-minute pause.
    let started = Instant::now();
    while count(&store, "SELECT COUNT(*) AS n FROM flow_steps").await < PATIENTS as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the runs did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill();

    let runs = count(&store, "SELECT COUNT(*) AS n FROM flow_runs").await;
    let unfinished = count(
        &store,
        "SELECT COUNT(*) AS n FROM flow_runs WHERE finished_at IS NULL",
    )
    .await;
    let steps = count(&store, "SELECT COUNT(*) AS n FROM flow_steps").await;
    let running = count(
        &store,
        "SELECT COUNT(*) AS n FROM flow_jobs WHERE state = 'running'",
    )
    .await;
    println!(
        "{backend:?}: at the kill, {runs} runs of {PATIENTS} started, {steps} of {} steps done, {running} jobs leased by the dead server",
        PATIENTS * NODES.len()
    );
    assert_eq!(unfinished, runs, "the kill cut every run");
    assert!(
        steps < (PATIENTS * 3) as i64,
        "some steps before the pause were still to run"
    );

    // Restarted 31 s later (the dead server's 30 s leases have run out), with time running 20
    // times as fast so the pauses pass in three seconds.
    let clock: SharedClock = Arc::new(Later {
        start: OffsetDateTime::now_utc() + kangdao_engine::jobs::LEASE + time::Duration::seconds(1),
        real: Instant::now(),
        speed: 20,
    });
    let server = TestServer::reopen_with_clock(db, clock).await;
    all_runs_finished(&store, PATIENTS as i64, Duration::from_secs(180)).await;
    each_effect_once(&store, &patients, &NODES, &["notify", "remind"]).await;
    let retaken = count(
        &store,
        "SELECT COUNT(*) AS n FROM flow_jobs WHERE attempts > 1",
    )
    .await;
    assert!(
        retaken >= running,
        "the dead server's leased jobs ran again: {retaken} retaken, {running} leased"
    );
    store.close().await;
    server.stop().await;
}
on_both_backends!(
    a_killed_server_resumes_its_runs_without_doubling,
    killed_runs_resume_without_doubling
);

/// Two instances on one PostgreSQL database, hundreds of triggering updates spread across
/// both: each update starts one run, each job is taken once, each message is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_apply_each_job_once() {
    const PATIENTS: usize = 300;
    const NODES: [&str; 3] = ["check", "upgrade", "notify"];
    let server = TestServer::start(Backend::Postgres).await;
    let admin = server.admin().await;
    define(&admin, false).await;
    // Started after the flow is saved: the second instance learns of other instances' saves
    // only at its next reload of the enabled flows.
    let twin = server.twin().await;
    let other = twin.login(ADMIN, ADMIN_PASSWORD).await;
    let clients = [admin.clone(), other];
    let patients = create_patients(&clients, PATIENTS).await;
    cross_5000(&clients, &patients).await;

    let store = open(&server.db).await;
    all_runs_finished(&store, PATIENTS as i64, Duration::from_secs(180)).await;
    each_effect_once(&store, &patients, &NODES, &["notify"]).await;
    // No job was ever taken twice: nothing crashed, so a second attempt could only mean two
    // instances held one job.
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) AS n FROM flow_jobs WHERE attempts <> 1"
        )
        .await,
        0
    );
    // Both instances did work (their workers' owners differ by instance).
    let owners = count(
        &store,
        "SELECT COUNT(DISTINCT lease_owner) AS n FROM flow_jobs",
    )
    .await;
    println!("jobs were taken by {owners} worker(s)");
    let answered = json_of(admin.get("/api/v1/flows/vip_upgrade/runs?per_page=1").await).await;
    assert_eq!(answered["total"], PATIENTS);
    store.close().await;
    twin.stop().await;
    server.stop().await;
}
