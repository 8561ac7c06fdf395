//! Benchmark 4: the flow engine. (a) The VIP condition evaluated on one core; (b) record
//! updates to finished runs of the VIP flow, end to end through `Engine::update_record` and
//! the worker loop; (c) 100,000 due step jobs drained. Each figure beside a floor: the same
//! test in plain Rust (a), the same writes in plain SQL over plain tables (b, c).
//!
//! `cargo run --release -p kangdao-tests --bin bench-flows [-- --patients N --jobs N --evals N --backend sqlite|postgres|both]`

/// The allocator the `kangdao` binary ships with (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common.rs"]
mod common;

use common::*;
use kangdao_engine::access::Principal;
use kangdao_engine::clock::SystemClock;
use kangdao_engine::expr::{compile, eval, json_to_dynamic, money_to_dynamic, TimeContext};
use kangdao_engine::store::{Arg, Backend as DbBackend, Db, DbOptions};
use kangdao_engine::{Engine, Lang, Settings};
use kangdao_tests::{Backend, FreshDatabase};
use serde_json::{json, Map, Value};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const VIP_CONDITION: &str = "record.total_spent > 5000 && record.tier != \"VIP\"";
/// Clients writing at once in (b), engine and floor alike.
const WRITERS: usize = 8;
/// Rows per multi-row INSERT when setting up (c).
const SETUP_ROWS: usize = 500;

struct Args {
    patients: usize,
    jobs: usize,
    evals: usize,
    backends: Vec<Backend>,
    /// Which of (a), (b), (c) to run (all by default).
    parts: String,
}

fn parse() -> Args {
    let mut args = Args {
        patients: 5_000,
        jobs: 100_000,
        evals: 1_000_000,
        backends: Backend::ALL.to_vec(),
        parts: "abc".into(),
    };
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>, what: &str| -> usize {
        v.and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{what} N"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--patients" => args.patients = number(it.next(), "--patients"),
            "--jobs" => args.jobs = number(it.next(), "--jobs"),
            "--evals" => args.evals = number(it.next(), "--evals"),
            "--only" => {
                args.parts = it.next().filter(|p| !p.is_empty() && p.chars().all(|c| "abc".contains(c)))
                    .unwrap_or_else(|| panic!("--only takes some of a, b, c (say --only b)"))
            }
            "--backend" => {
                args.backends = match it.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => Backend::ALL.to_vec(),
                    other => panic!("--backend sqlite|postgres|both, not {other:?}"),
                }
            }
            other => panic!(
                "unknown argument {other} (use --patients N --jobs N --evals N --backend sqlite|postgres|both --only abc)"
            ),
        }
    }
    args
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse();
    println!(
        "bench-flows: {} condition evaluations, {} patients through the VIP flow, {} step jobs drained",
        grouped(args.evals as f64),
        grouped(args.patients as f64),
        grouped(args.jobs as f64)
    );
    let mut lines = Vec::new();
    if args.parts.contains('a') {
        lines.push(conditions(args.evals));
    }
    for &backend in &args.backends {
        if args.parts.contains('b') {
            lines.push(vip_end_to_end(backend, args.patients).await);
        }
        if args.parts.contains('c') {
            lines.push(drain_jobs(backend, args.jobs).await);
        }
    }
    println!();
    for line in lines {
        println!("{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Condition evaluations on one core.

/// The VIP condition compiled once and evaluated over prebuilt records (as the worker sees a
/// patient: money as a float, every field present), one thread. Floor: the same test written
/// in Rust over the same records as JSON maps.
fn conditions(n: usize) -> String {
    let ast = compile(VIP_CONDITION).expect("the VIP condition compiles");
    let ctx = TimeContext {
        now: time::OffsetDateTime::now_utc(),
        timezone: Settings::default().timezone,
    };
    let docs: Vec<Map<String, Value>> = patients(64)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut d = p.document();
            // Half cross 5000, some of those already VIP.
            d.insert(
                "total_spent".into(),
                json!(if i % 2 == 0 { 5200.5 } else { 4800.25 }),
            );
            d.insert("id".into(), json!(Uuid::now_v7().to_string()));
            d
        })
        .collect();
    // Money reads as an exact decimal, as the worker's scope gives it.
    let records: Vec<_> = docs
        .iter()
        .map(|d| {
            let mut record = json_to_dynamic(&Value::Object(d.clone()))
                .try_cast::<rhai::Map>()
                .expect("a map");
            record.insert("total_spent".into(), money_to_dynamic(&d["total_spent"]));
            rhai::Dynamic::from_map(record)
        })
        .collect();

    let t = Instant::now();
    let mut held = 0usize;
    for i in 0..n {
        let record = records[i % records.len()].clone();
        let result = eval(&ast, vec![("record", record)], &ctx).expect("evaluates");
        if result.as_bool().expect("a boolean") {
            held += 1;
        }
    }
    let engine_time = t.elapsed();

    let t = Instant::now();
    let mut floor_held = 0usize;
    for i in 0..n {
        let d = black_box(&docs[i % docs.len()]);
        let spent = d.get("total_spent").and_then(Value::as_f64);
        if spent.is_some_and(|s| s > 5000.0) && d.get("tier").and_then(Value::as_str) != Some("VIP")
        {
            floor_held += 1;
        }
    }
    let floor_time = t.elapsed();
    assert_eq!(held, floor_held, "the condition and the floor agree");
    let rate = n as f64 / engine_time.as_secs_f64();
    let floor_rate = n as f64 / floor_time.as_secs_f64();
    format!(
        "any      (a) condition evals/s (1 core)   engine {:>12}/s   floor (Rust over the map) {:>13}/s   (target >= 200,000/s; held for {held} of {n})",
        grouped(rate),
        grouped(floor_rate)
    )
}

// ---------------------------------------------------------------------------------------------
// (b) Record updates to finished runs of the VIP flow.

fn vip_flow() -> Value {
    json!({ "name": "vip_upgrade", "label": {"zh": "累计消费超过5000元升级VIP"}, "enabled": true,
      "trigger": {"type": "record_updated", "entity": "patient", "fields": ["total_spent"]},
      "nodes": [
        {"id": "check",   "type": "condition", "expr": VIP_CONDITION},
        {"id": "upgrade", "type": "update_record", "set": {"tier": "VIP", "vip_since": {"expr": "today()"}}},
        {"id": "notify",  "type": "send_message", "channel": "sms", "to": {"expr": "record.phone"},
         "template": "尊敬的{{record.name}}，您已升级为VIP会员。"}],
      "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "to": "upgrade", "when": "true"},
                {"from": "upgrade", "to": "notify"}] })
}

/// An engine on a fresh database with the benchmark's patient entity plus `vip_since`.
async fn engine_on(db: &FreshDatabase) -> Engine {
    let pool = Db::connect(&DbOptions {
        url: db.url.clone(),
        max_connections: 10,
    })
    .await
    .expect("connect");
    let engine = Engine::open(pool, keyring(), Arc::new(SystemClock), Settings::default())
        .await
        .expect("open engine");
    let mut def = patient_definition();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "vip_since", "type": "date"}));
    engine
        .create_entity(&Principal::system(), def, Lang::En)
        .await
        .expect("create the patient entity");
    engine
}

/// Worker loops as the server runs them: one on SQLite (one loop per database), two on
/// PostgreSQL (two instances' worth, on this 2-core machine).
fn workers(
    engine: &Engine,
    backend: Backend,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    };
    let handles = (0..loops)
        .map(|_| {
            let engine = engine.clone();
            let stopped = stopped.clone();
            tokio::spawn(async move { engine.run_flow_worker(stopped).await })
        })
        .collect();
    (stop, handles)
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.fetch_one(sql, vec![])
        .await
        .expect(sql)
        .req_int("n")
        .expect("n")
}

/// PostgreSQL's committed transactions in this database so far (None on SQLite).
async fn commits(db: &Db) -> Option<i64> {
    if db.backend() != DbBackend::Postgres {
        return None;
    }
    // The statistics are flushed at transaction end and read from a snapshot: clear it.
    db.execute("SELECT pg_stat_clear_snapshot()", vec![])
        .await
        .ok()?;
    db.fetch_one(
        "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()",
        vec![],
    )
    .await
    .ok()?
    .req_int("n")
    .ok()
}

/// Splits `ids` among [`WRITERS`] tasks running `write` on each.
async fn by_writers<F, Fut>(ids: Arc<Vec<Uuid>>, write: F)
where
    F: Fn(Uuid) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (ids, next, write) = (ids.clone(), next.clone(), write.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = ids.get(i) else { break };
                    write(*id).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
}

async fn vip_end_to_end(backend: Backend, n: usize) -> String {
    let name = backend_name(backend);
    let db = FreshDatabase::new(backend).await;
    let engine = engine_on(&db).await;
    let system = Principal::system();
    engine
        .create_flow(&system, vip_flow())
        .await
        .expect("the VIP flow saves");
    let docs: Vec<Map<String, Value>> = patients(n)
        .iter()
        .map(|p| {
            let mut d = p.document();
            d.insert("total_spent".into(), json!(4800));
            d.insert("tier".into(), json!("normal"));
            d
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for chunk in docs.chunks(BATCH) {
        ids.extend(
            engine
                .create_records_bulk(&system, ENTITY, chunk.to_vec(), Lang::En)
                .await
                .expect("create patients"),
        );
    }
    let ids = Arc::new(ids);
    let (stop, loops) = workers(&engine, backend);
    // The creates start no run (an update flow): let the dispatcher pass them first.
    engine.drain_flows().await.expect("settle");
    let commits_before = commits(&engine.db).await;

    let t = Instant::now();
    let writer = engine.clone();
    by_writers(ids.clone(), move |id| {
        let engine = writer.clone();
        async move {
            let mut data = Map::new();
            data.insert("total_spent".into(), json!(5200));
            engine
                .update_record(&Principal::system(), ENTITY, id, data, 1, Lang::En)
                .await
                .expect("update");
        }
    })
    .await;
    let updates_done = t.elapsed();
    loop {
        let finished = count(
            &engine.db,
            "SELECT COUNT(*) AS n FROM flow_runs WHERE finished_at IS NOT NULL",
        )
        .await;
        if finished >= n as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let engine_time = t.elapsed();
    let commits_after = commits(&engine.db).await;
    let _ = stop.send(true);
    for l in loops {
        l.await.expect("worker");
    }
    assert_eq!(
        count(
            &engine.db,
            "SELECT COUNT(*) AS n FROM flow_runs WHERE status = 'succeeded'"
        )
        .await,
        n as i64
    );
    assert_eq!(
        count(&engine.db, "SELECT COUNT(*) AS n FROM e_message").await,
        n as i64
    );
    assert_eq!(
        count(
            &engine.db,
            "SELECT COUNT(*) AS n FROM e_patient WHERE version = 3"
        )
        .await,
        n as i64
    );
    let rate = n as f64 / engine_time.as_secs_f64();
    let per_run = match (commits_before, commits_after) {
        (Some(a), Some(b)) => format!(", {:.1} commits per run", (b - a) as f64 / n as f64),
        _ => String::new(),
    };
    println!(
        "{name:<8} (b) engine  {:>7.2} s ({:.2} s of updates){per_run}  {:>8} runs/s",
        engine_time.as_secs_f64(),
        updates_done.as_secs_f64(),
        grouped(rate)
    );
    drop(engine);
    drop(db);

    let floor_time = vip_floor(backend, n).await;
    let floor_rate = n as f64 / floor_time.as_secs_f64();
    println!(
        "{name:<8} (b) floor   {:>7.2} s  {:>8} runs/s",
        floor_time.as_secs_f64(),
        grouped(floor_rate)
    );
    format!(
        "{name:<8} (b) updates to finished VIP runs   engine {:>8} runs/s   floor {:>8} runs/s   ratio {:.2} (target >= 1,000/s)",
        grouped(rate),
        grouped(floor_rate),
        rate / floor_rate
    )
}

/// Plain tables for the floors: a patient row with typed columns, runs, steps, messages, jobs.
fn floor_schema(backend: Backend) -> Vec<&'static str> {
    match backend {
        Backend::Sqlite => vec![
            "CREATE TABLE fl_patient (id TEXT PRIMARY KEY, name TEXT, phone TEXT, total_spent REAL, tier TEXT, vip_since TEXT, version INTEGER NOT NULL)",
            "CREATE TABLE fl_run (id TEXT PRIMARY KEY, patient_id TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT)",
            "CREATE TABLE fl_step (run_id TEXT NOT NULL, node TEXT NOT NULL, status TEXT NOT NULL, output TEXT, PRIMARY KEY (run_id, node))",
            "CREATE TABLE fl_message (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, recipient TEXT, body TEXT, status TEXT, created_at TEXT NOT NULL)",
            "CREATE TABLE fl_job (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, state TEXT NOT NULL, due_at TEXT NOT NULL, lease_token TEXT, attempts INTEGER NOT NULL)",
            "CREATE INDEX fl_job_due ON fl_job (state, due_at)",
        ],
        Backend::Postgres => vec![
            "CREATE TABLE fl_patient (id UUID PRIMARY KEY, name TEXT, phone TEXT, total_spent NUMERIC, tier TEXT, vip_since DATE, version BIGINT NOT NULL)",
            "CREATE TABLE fl_run (id UUID PRIMARY KEY, patient_id UUID, status TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ)",
            "CREATE TABLE fl_step (run_id UUID NOT NULL, node TEXT NOT NULL, status TEXT NOT NULL, output JSONB, PRIMARY KEY (run_id, node))",
            "CREATE TABLE fl_message (id UUID PRIMARY KEY, run_id UUID NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, recipient TEXT, body TEXT, status TEXT, created_at TIMESTAMPTZ NOT NULL)",
            "CREATE TABLE fl_job (id UUID PRIMARY KEY, run_id UUID NOT NULL, state TEXT NOT NULL, due_at TIMESTAMPTZ NOT NULL, lease_token UUID, attempts BIGINT NOT NULL)",
            "CREATE INDEX fl_job_due ON fl_job (state, due_at)",
        ],
    }
}

async fn floor_db(backend: Backend) -> (FreshDatabase, Db) {
    let fresh = FreshDatabase::new(backend).await;
    let db = Db::connect(&DbOptions {
        url: fresh.url.clone(),
        max_connections: 10,
    })
    .await
    .expect("connect");
    for ddl in floor_schema(backend) {
        db.execute(ddl, vec![]).await.expect(ddl);
    }
    (fresh, db)
}

fn json_arg(backend: Backend, v: Value) -> Arg {
    match backend {
        Backend::Sqlite => Arg::Text(Some(v.to_string())),
        Backend::Postgres => Arg::Json(Some(v)),
    }
}

/// The floor of (b): per patient, the user's update in its own transaction, then one
/// transaction with the run row, the condition's read of the patient, its step row, the
/// upgrade and its step row, the message and its step row, and the run finished. No queue,
/// no history, no change events, no encryption, no validation.
async fn vip_floor(backend: Backend, n: usize) -> Duration {
    let (_fresh, db) = floor_db(backend).await;
    let people = patients(n);
    let mut ids = Vec::with_capacity(n);
    for p in &people {
        let id = Uuid::now_v7();
        db.execute(
            "INSERT INTO fl_patient (id, name, phone, total_spent, tier, version) VALUES ($1, $2, $3, 4800, 'normal', 1)",
            vec![Arg::from(id), Arg::from(p.name.as_str()), Arg::from(p.phone.as_str())],
        )
        .await
        .expect("floor patient");
        ids.push(id);
    }
    let ids = Arc::new(ids);
    let today = time::OffsetDateTime::now_utc().date();
    let t = Instant::now();
    let floor_db = db.clone();
    by_writers(ids, move |id| {
        let db = floor_db.clone();
        async move {
            let now = time::OffsetDateTime::now_utc();
            let mut tx = db.begin().await.expect("begin");
            tx.execute(
                "UPDATE fl_patient SET total_spent = 5200, version = version + 1 WHERE id = $1 AND version = 1",
                vec![Arg::from(id)],
            )
            .await
            .expect("update");
            tx.commit().await.expect("commit");

            let run = Uuid::now_v7();
            let mut tx = db.begin().await.expect("begin");
            tx.execute(
                "INSERT INTO fl_run (id, patient_id, status, created_at) VALUES ($1, $2, 'running', $3)",
                vec![Arg::from(run), Arg::from(id), Arg::from(now)],
            )
            .await
            .expect("run");
            let row = tx
                .fetch_one(
                    "SELECT name, phone, total_spent, tier, version FROM fl_patient WHERE id = $1",
                    vec![Arg::from(id)],
                )
                .await
                .expect("read");
            let name = row.req_text("name").expect("name");
            let phone = row.req_text("phone").expect("phone");
            let step = "INSERT INTO fl_step (run_id, node, status, output) VALUES ($1, $2, 'succeeded', $3)";
            tx.execute(
                step,
                vec![Arg::from(run), Arg::from("check"), json_arg(backend, json!({"result": true}))],
            )
            .await
            .expect("step");
            tx.execute(
                "UPDATE fl_patient SET tier = 'VIP', vip_since = $2, version = version + 1 WHERE id = $1",
                vec![Arg::from(id), Arg::Date(Some(today))],
            )
            .await
            .expect("upgrade");
            tx.execute(
                step,
                vec![Arg::from(run), Arg::from("upgrade"), json_arg(backend, json!({"version": 3}))],
            )
            .await
            .expect("step");
            let message = Uuid::now_v7();
            tx.execute(
                "INSERT INTO fl_message (id, run_id, idempotency_key, recipient, body, status, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
                vec![
                    Arg::from(message),
                    Arg::from(run),
                    Arg::from(format!("{run}:notify").as_str()),
                    Arg::from(phone.as_str()),
                    Arg::from(format!("尊敬的{name}，您已升级为VIP会员。").as_str()),
                    Arg::from(now),
                ],
            )
            .await
            .expect("message");
            tx.execute(
                step,
                vec![Arg::from(run), Arg::from("notify"), json_arg(backend, json!({"id": message}))],
            )
            .await
            .expect("step");
            tx.execute(
                "UPDATE fl_run SET status = 'succeeded', finished_at = $2 WHERE id = $1",
                vec![Arg::from(run), Arg::from(now)],
            )
            .await
            .expect("finish");
            tx.commit().await.expect("commit");
        }
    })
    .await;
    let elapsed = t.elapsed();
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM fl_message").await,
        n as i64
    );
    db.close().await;
    elapsed
}

// ---------------------------------------------------------------------------------------------
// (c) Due step jobs drained.

/// A flow whose only node is a condition over an empty record: the step loads its run and
/// flow, evaluates, writes its step row and finishes the run.
fn trivial_flow() -> Value {
    json!({"name": "tick", "label": {"zh": "计时"}, "enabled": false,
      "trigger": {"type": "record_created", "entity": "patient"},
      "nodes": [{"id": "check", "type": "condition", "expr": "record.total_spent > 5000"}],
      "edges": [{"from": "trigger", "to": "check"}]})
}

/// Inserts `rows` by multi-row INSERTs of [`SETUP_ROWS`], `$n` on PostgreSQL and `?` on SQLite
/// (`values_sql`).
async fn insert_rows(db: &Db, backend: Backend, head: &str, casts: &[&str], rows: Vec<Vec<Arg>>) {
    let per_row = rows.first().map_or(0, Vec::len);
    for chunk in rows.chunks(SETUP_ROWS) {
        let sql = format!(
            "{head} VALUES {}",
            values_sql(chunk.len(), per_row, casts, backend)
        );
        db.execute(&sql, chunk.iter().flatten().cloned().collect())
            .await
            .expect(head);
    }
}

async fn drain_jobs(backend: Backend, n: usize) -> String {
    let name = backend_name(backend);
    let db = FreshDatabase::new(backend).await;
    let engine = engine_on(&db).await;
    let saved = engine
        .create_flow(&Principal::system(), trivial_flow())
        .await
        .expect("the flow saves");
    let json_cast = if backend == Backend::Postgres {
        "::jsonb"
    } else {
        ""
    };
    // As the dispatcher writes them: a run and its first step's job, due now.
    let now = engine.now();
    let runs: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let t = Instant::now();
    insert_rows(
        &engine.db,
        backend,
        "INSERT INTO flow_runs (id, flow, flow_version, status, depth, trigger_info, event_position, created_at, updated_at)",
        &["", "", "", "", "", json_cast],
        runs.iter()
            .enumerate()
            .map(|(i, id)| {
                vec![
                    Arg::from(*id),
                    Arg::from("tick"),
                    Arg::from(saved.version),
                    Arg::from("running"),
                    Arg::from(0_i64),
                    Arg::Json(Some(json!({"type": "record_created"}))),
                    Arg::from(i as i64 + 1),
                    Arg::from(now),
                    Arg::from(now),
                ]
            })
            .collect(),
    )
    .await;
    insert_rows(
        &engine.db,
        backend,
        "INSERT INTO flow_jobs (id, run_id, node, kind, payload, due_at, state, attempts, max_attempts, dedupe_key, created_at, updated_at)",
        &["", "", "", "", json_cast],
        runs.iter()
            .map(|run| {
                vec![
                    Arg::from(Uuid::now_v7()),
                    Arg::from(*run),
                    Arg::from("check"),
                    Arg::from(kangdao_engine::flows::STEP),
                    Arg::Json(Some(json!({}))),
                    Arg::from(now),
                    Arg::from("ready"),
                    Arg::from(0_i64),
                    Arg::from(5_i64),
                    Arg::from(format!("{run}:check").as_str()),
                    Arg::from(now),
                    Arg::from(now),
                ]
            })
            .collect(),
    )
    .await;
    println!(
        "{name:<8} (c) {} runs and their due jobs written in {:.1} s",
        grouped(n as f64),
        t.elapsed().as_secs_f64()
    );
    if backend == Backend::Postgres {
        engine.db.execute("ANALYZE", vec![]).await.expect("analyze");
    }

    let commits_before = commits(&engine.db).await;
    let t = Instant::now();
    let (stop, loops) = workers(&engine, backend);
    loop {
        let left = count(
            &engine.db,
            "SELECT COUNT(*) AS n FROM flow_jobs WHERE state IN ('ready', 'running')",
        )
        .await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let engine_time = t.elapsed();
    let commits_after = commits(&engine.db).await;
    let _ = stop.send(true);
    for l in loops {
        l.await.expect("worker");
    }
    // None ran twice: one attempt each, one step row per run, every run finished once.
    assert_eq!(
        count(
            &engine.db,
            "SELECT COUNT(*) AS n FROM flow_jobs WHERE state = 'done' AND attempts = 1"
        )
        .await,
        n as i64
    );
    assert_eq!(
        count(&engine.db, "SELECT COUNT(*) AS n FROM flow_steps").await,
        n as i64
    );
    assert_eq!(
        count(
            &engine.db,
            "SELECT COUNT(*) AS n FROM flow_runs WHERE status = 'succeeded'"
        )
        .await,
        n as i64
    );
    let per_job = match (commits_before, commits_after) {
        (Some(a), Some(b)) => format!(", {:.1} commits per job", (b - a) as f64 / n as f64),
        _ => String::new(),
    };
    println!(
        "{name:<8} (c) engine  {:>7.2} s{per_job}  {:>8} jobs/s",
        engine_time.as_secs_f64(),
        grouped(n as f64 / engine_time.as_secs_f64())
    );
    drop(engine);
    drop(db);

    let floor_time = drain_floor(backend, n).await;
    println!(
        "{name:<8} (c) floor   {:>7.2} s  {:>8} jobs/s",
        floor_time.as_secs_f64(),
        grouped(n as f64 / floor_time.as_secs_f64())
    );
    format!(
        "{name:<8} (c) {} step jobs drained        engine {:>7.2} s   floor {:>7.2} s   ratio {:.2} (target <= 60 s)",
        grouped(n as f64),
        engine_time.as_secs_f64(),
        floor_time.as_secs_f64(),
        engine_time.as_secs_f64() / floor_time.as_secs_f64()
    )
}

/// The floor of (c): the same number of worker loops, each taking 64 due jobs under a fresh
/// token in one statement (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one transaction),
/// then per job one transaction: the fenced `done`, its step row, its run finished.
async fn drain_floor(backend: Backend, n: usize) -> Duration {
    let (_fresh, db) = floor_db(backend).await;
    let now = time::OffsetDateTime::now_utc();
    let runs: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    insert_rows(
        &db,
        backend,
        "INSERT INTO fl_run (id, status, created_at)",
        &[],
        runs.iter()
            .map(|r| vec![Arg::from(*r), Arg::from("running"), Arg::from(now)])
            .collect(),
    )
    .await;
    insert_rows(
        &db,
        backend,
        "INSERT INTO fl_job (id, run_id, state, due_at, attempts)",
        &[],
        runs.iter()
            .map(|r| {
                vec![
                    Arg::from(Uuid::now_v7()),
                    Arg::from(*r),
                    Arg::from("ready"),
                    Arg::from(now),
                    Arg::from(0_i64),
                ]
            })
            .collect(),
    )
    .await;
    if backend == Backend::Postgres {
        db.execute("ANALYZE", vec![]).await.expect("analyze");
    }
    let loops = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    };
    let t = Instant::now();
    let tasks: Vec<_> = (0..loops)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                loop {
                    let taken = take_floor(&db, backend).await;
                    if taken.is_empty() {
                        break;
                    }
                    for (job, run, token) in taken {
                        let now = time::OffsetDateTime::now_utc();
                        let mut tx = db.begin().await.expect("begin");
                        let done = tx
                            .execute(
                                "UPDATE fl_job SET state = 'done', lease_token = NULL WHERE id = $1 AND lease_token = $2 AND state = 'running'",
                                vec![Arg::from(job), Arg::from(token)],
                            )
                            .await
                            .expect("done");
                        assert_eq!(done, 1);
                        tx.execute(
                            "INSERT INTO fl_step (run_id, node, status, output) VALUES ($1, 'check', 'succeeded', $2)",
                            vec![Arg::from(run), json_arg(backend, json!({"result": false}))],
                        )
                        .await
                        .expect("step");
                        tx.execute(
                            "UPDATE fl_run SET status = 'succeeded', finished_at = $2 WHERE id = $1",
                            vec![Arg::from(run), Arg::from(now)],
                        )
                        .await
                        .expect("finish");
                        tx.commit().await.expect("commit");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("floor worker");
    }
    let elapsed = t.elapsed();
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM fl_step").await,
        n as i64
    );
    db.close().await;
    elapsed
}

/// Leases up to 64 due jobs: (job, run, token).
async fn take_floor(db: &Db, backend: Backend) -> Vec<(Uuid, Uuid, Uuid)> {
    let now = time::OffsetDateTime::now_utc();
    match backend {
        Backend::Postgres => {
            let token = Uuid::new_v4();
            db.fetch_all(
                "UPDATE fl_job SET state = 'running', lease_token = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM fl_job WHERE state = 'ready' AND due_at <= $1 \
                 ORDER BY due_at LIMIT 64 FOR UPDATE SKIP LOCKED) RETURNING id, run_id",
                vec![Arg::from(now), Arg::from(token)],
            )
            .await
            .expect("take")
            .iter()
            .map(|r| {
                (
                    r.req_uuid("id").unwrap(),
                    r.req_uuid("run_id").unwrap(),
                    token,
                )
            })
            .collect()
        }
        Backend::Sqlite => {
            let mut tx = db.begin().await.expect("begin");
            let due = tx
                .fetch_all(
                    "SELECT id, run_id FROM fl_job WHERE state = 'ready' AND due_at <= $1 ORDER BY due_at LIMIT 64",
                    vec![Arg::from(now)],
                )
                .await
                .expect("due");
            let mut taken = Vec::with_capacity(due.len());
            for r in due {
                let (id, run, token) = (
                    r.req_uuid("id").unwrap(),
                    r.req_uuid("run_id").unwrap(),
                    Uuid::new_v4(),
                );
                tx.execute(
                    "UPDATE fl_job SET state = 'running', lease_token = $2, attempts = attempts + 1 WHERE id = $1",
                    vec![Arg::from(id), Arg::from(token)],
                )
                .await
                .expect("lease");
                taken.push((id, run, token));
            }
            tx.commit().await.expect("commit");
            taken
        }
    }
}
