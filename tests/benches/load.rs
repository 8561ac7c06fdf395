//! Benchmark 3: the HTTP API under concurrent load. The real `kangdao` binary serves a fresh
//! database on each backend; `oha` (an HTTP load generator, `cargo install oha --locked`) drives
//! it with an API token over HTTP/1.1 keep-alive. Each workload is printed beside its floor: the
//! statements the request needs (the token lookup included), run straight through sqlx at the
//! same concurrency in this process, on the same database, after the server has stopped.
//!
//! ```text
//! cargo build --release -p kangdao
//! cargo run --release -p kangdao-tests --bin bench-load [-- --patients N --seconds S --backend sqlite|postgres|both]
//! ```

/// The allocator the `kangdao` binary ships with, so the engine is measured as it runs (the
/// floor, in the same process, uses it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common.rs"]
mod common;

use common::{backend_name, bind_of, execute, grouped, ms, values_sql, Bind, FloorConn, Rng};
use kangdao_engine::entities::storage::q;
use kangdao_engine::entities::EntityRuntime;
use kangdao_engine::forms::PrepareContext;
use kangdao_engine::records::{projection, EXACT_TOTAL_BOUND};
use kangdao_engine::store::{Arg, Db};
use kangdao_engine::{Engine, Lang};
use kangdao_server::config::{Config, FileConfig};
use kangdao_tests::{Backend, FreshDatabase};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

const ENTITY: &str = "patient";
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "bench-load-password-1";
/// Rows per import request (one all-or-nothing import each).
const IMPORT_ROWS: usize = 20_000;
/// Rows per multi-row INSERT of the import floor.
const FLOOR_ROWS_PER_STATEMENT: usize = 400;
/// Ids the read-by-id workload picks from.
const READ_IDS: usize = 1_000;
const DEPTS: [&str; 8] = [
    "cardiology",
    "oncology",
    "neurology",
    "pediatrics",
    "orthopedics",
    "dermatology",
    "gynecology",
    "general",
];
/// W3: `tier = VIP and total_spent > 5000` (yuan), newest first, 50 per page, with its total.
const W3_MIN_YUAN: i64 = 5_000;

struct Args {
    patients: usize,
    seconds: u64,
    backends: Vec<Backend>,
}

fn parse_args() -> Args {
    let mut args = Args {
        patients: 100_000,
        seconds: 20,
        backends: Backend::ALL.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--patients" => {
                args.patients = it
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .expect("--patients N");
            }
            "--seconds" => {
                args.seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|s| *s > 0)
                    .expect("--seconds S (at least 1)");
            }
            "--backend" => {
                args.backends = match it.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => Backend::ALL.to_vec(),
                    other => panic!("--backend sqlite|postgres|both, not {other:?}"),
                };
            }
            other => panic!(
                "unknown argument {other} (use --patients N --seconds S --backend sqlite|postgres|both)"
            ),
        }
    }
    args
}

/// The entity of the issue: no unique or sensitive field, four indexed fields.
fn patient_definition() -> Value {
    json!({
        "name": ENTITY,
        "label": {"zh": "患者", "en": "Patient"},
        "fields": [
            {"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}, "required": true, "max_length": 50},
            {"name": "gender", "type": "select", "options": [{"value": "male"}, {"value": "female"}]},
            {"name": "birth_date", "type": "date"},
            {"name": "phone", "type": "text", "indexed": true, "max_length": 20},
            {"name": "dept", "type": "select", "indexed": true,
             "options": DEPTS.iter().map(|d| json!({"value": d})).collect::<Vec<_>>()},
            {"name": "tier", "type": "select", "indexed": true,
             "options": [{"value": "normal"}, {"value": "VIP"}]},
            {"name": "total_spent", "type": "money", "min": 0, "indexed": true}
        ]
    })
}

const CSV_HEADER: &str = "name,gender,birth_date,phone,dept,tier,total_spent";

/// One patient as a CSV line and as a JSON document (the same values).
struct Patient {
    name: String,
    gender: &'static str,
    birth_date: String,
    phone: String,
    dept: &'static str,
    tier: &'static str,
    total_spent_fen: u64,
}

impl Patient {
    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{}.{:02}",
            self.name,
            self.gender,
            self.birth_date,
            self.phone,
            self.dept,
            self.tier,
            self.total_spent_fen / 100,
            self.total_spent_fen % 100
        )
    }

    fn document(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("gender".into(), json!(self.gender));
        m.insert("birth_date".into(), json!(self.birth_date));
        m.insert("phone".into(), json!(self.phone));
        m.insert("dept".into(), json!(self.dept));
        m.insert("tier".into(), json!(self.tier));
        m.insert(
            "total_spent".into(),
            json!(self.total_spent_fen as f64 / 100.0),
        );
        m
    }
}

/// `n` patients from a fixed seed: 8 departments, 10 % VIP, spending uniform 0–20,000 yuan.
fn patients(n: usize) -> Vec<Patient> {
    const SURNAMES: [&str; 12] = [
        "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
    ];
    const GIVEN: [&str; 12] = [
        "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "秀英", "建华",
    ];
    let mut rng = Rng::new(0x4C4F_4144_4245_4E43);
    (0..n)
        .map(|_| Patient {
            name: format!("{}{}", rng.pick(&SURNAMES), rng.pick(&GIVEN)),
            gender: if rng.below(2) == 0 { "male" } else { "female" },
            birth_date: format!(
                "{:04}-{:02}-{:02}",
                1930 + rng.below(90),
                1 + rng.below(12),
                1 + rng.below(28)
            ),
            phone: format!("13{:09}", rng.below(1_000_000_000)),
            dept: DEPTS[rng.below(DEPTS.len() as u64) as usize],
            tier: if rng.below(10) == 0 { "VIP" } else { "normal" },
            total_spent_fen: rng.below(2_000_001),
        })
        .collect()
}

/// What oha or the floor measured for one workload.
#[derive(Clone, Copy)]
struct Measured {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

struct Workload {
    name: &'static str,
    /// For file names (profiles).
    short: &'static str,
    concurrency: usize,
}

const W1: Workload = Workload {
    name: "W1 create one",
    short: "w1",
    concurrency: 16,
};
const W2: Workload = Workload {
    name: "W2 read by id",
    short: "w2",
    concurrency: 32,
};
const W3: Workload = Workload {
    name: "W3 VIP>5000 -created",
    short: "w3",
    concurrency: 16,
};
const W4A: Workload = Workload {
    name: "W4 count by dept",
    short: "w4-count",
    concurrency: 8,
};
const W4B: Workload = Workload {
    name: "W4 sum by dept",
    short: "w4-sum",
    concurrency: 8,
};

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = parse_args();
    let oha = find_oha();
    let kangdao = find_kangdao();
    println!(
        "bench-load: {} patients, {} s per workload, server {}, load tool {}",
        grouped(args.patients as f64),
        args.seconds,
        kangdao.display(),
        oha_version(&oha)
    );
    if cfg!(debug_assertions) {
        println!("note: a debug build; figures are only meaningful with --release");
    }
    let patients = patients(args.patients);
    let mut lines = Vec::new();
    for &backend in &args.backends {
        lines.extend(run(backend, &args, &patients, &oha, &kangdao).await);
    }
    println!();
    for line in lines {
        println!("{line}");
    }
}

/// `oha` on PATH, or a clear way to get it.
fn find_oha() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("oha"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => {
            eprintln!(
                "bench-load needs the HTTP load generator oha on PATH: cargo install oha --locked"
            );
            std::process::exit(2);
        }
    }
}

fn oha_version(oha: &Path) -> String {
    Command::new(oha)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "oha".into())
}

/// The `kangdao` binary of the same build profile (`target/release/kangdao` beside this
/// benchmark), or `KANGDAO_BIN`.
fn find_kangdao() -> PathBuf {
    if let Some(p) = std::env::var_os("KANGDAO_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let candidate = exe
        .parent()
        .map(|d| d.join("kangdao"))
        .unwrap_or_else(|| PathBuf::from("kangdao"));
    if !candidate.is_file() {
        let profile = if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        };
        eprintln!(
            "bench-load starts the kangdao server binary, not found at {}: cargo build{profile} -p kangdao (or set KANGDAO_BIN)",
            candidate.display()
        );
        std::process::exit(2);
    }
    candidate
}

/// The server process and the options it was started with.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(kangdao: &Path, db: &FreshDatabase) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let options = vec![
            "--data-dir".to_string(),
            db.data_dir.display().to_string(),
            "--database-url".to_string(),
            db.url.clone(),
            "--bind".to_string(),
            format!("127.0.0.1:{port}"),
        ];
        let mut add = Command::new(kangdao)
            .args(&options)
            .args(["user", "add", "--username", ADMIN, "--admin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kangdao user add");
        {
            use std::io::Write;
            let mut stdin = add.stdin.take().expect("stdin");
            writeln!(stdin, "{ADMIN_PASSWORD}").expect("password");
        }
        assert!(add.wait().expect("user add").success(), "kangdao user add");
        // The server's own output goes to a file, as it would under a service manager.
        let log = std::fs::File::create(db.data_dir.join("server.log")).expect("log file");
        let child = Command::new(kangdao)
            .args(&options)
            .arg("serve")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("kangdao serve");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kangdao serve exited: {status}");
            }
            assert!(Instant::now() < deadline, "kangdao did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident memory of the server process, from /proc (Linux).
    fn rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// SIGTERM (a graceful stop), then wait.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// With `KANGDAO_BENCH_PROFILE=<dir>`, a `perf record` of one process for the length of one
/// workload, written to `<dir>/<name>.data` for `perf report -i` (call graphs need a release
/// build with line tables: `CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`). Without it, nothing.
struct Profile(Option<Child>);

impl Profile {
    fn start(pid: u32, name: &str) -> Profile {
        let Some(dir) = std::env::var_os("KANGDAO_BENCH_PROFILE") else {
            return Profile(None);
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("profile directory");
        let child = Command::new("perf")
            .args(["record", "-F", "199", "--call-graph", "dwarf,16384", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(dir.join(format!("{name}.data")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf record");
        // perf needs a moment to attach before the workload starts.
        std::thread::sleep(Duration::from_millis(500));
        Profile(Some(child))
    }

    fn finish(self) {
        if let Some(mut child) = self.0 {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

async fn run(
    backend: Backend,
    args: &Args,
    patients: &[Patient],
    oha: &Path,
    kangdao: &Path,
) -> Vec<String> {
    let name = backend_name(backend);
    let db = FreshDatabase::new(backend).await;
    let mut server = Server::start(kangdao, &db);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    server.wait_ready(&client).await;
    let base = server.base.clone();

    // An administrator's session defines the entity and makes the API token.
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    let csrf = login["csrf_token"]
        .as_str()
        .expect("csrf token")
        .to_string();
    let created = client
        .post(format!("{base}/api/v1/entities"))
        .header("X-CSRF-Token", &csrf)
        .json(&patient_definition())
        .send()
        .await
        .expect("create entity");
    assert!(created.status().is_success(), "create the patient entity");
    let token: Value = client
        .post(format!("{base}/api/v1/tokens"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "bench-load"}))
        .send()
        .await
        .expect("create token")
        .json()
        .await
        .expect("token answer");
    let token = token["token"].as_str().expect("token").to_string();
    let bearer = format!("Bearer {token}");

    // The bulk import, through the API, in all-or-nothing requests of IMPORT_ROWS rows.
    let server_pid = server.child.id();
    let profile = Profile::start(server_pid, &format!("{name}-http-import"));
    let t = Instant::now();
    for chunk in patients.chunks(IMPORT_ROWS) {
        let mut body = String::with_capacity(chunk.len() * 64);
        body.push_str(CSV_HEADER);
        body.push('\n');
        for p in chunk {
            body.push_str(&p.csv());
            body.push('\n');
        }
        let answer = client
            .post(format!("{base}/api/v1/records/{ENTITY}/import"))
            .header("Authorization", &bearer)
            .header("Content-Type", "text/csv")
            .body(body)
            .send()
            .await
            .expect("import");
        let status = answer.status();
        let report: Value = answer.json().await.expect("import answer");
        assert!(status.is_success(), "import answered {status}: {report}");
        assert_eq!(report["imported"], json!(chunk.len()), "{report}");
    }
    let import_rate = patients.len() as f64 / t.elapsed().as_secs_f64();
    profile.finish();
    println!(
        "{name:<8} imported {} patients through the API: {} rows/s",
        grouped(patients.len() as f64),
        grouped(import_rate)
    );

    // Ids to read, taken from the list API (newest first), written one URL a line for oha.
    let listed: Value = client
        .get(format!(
            "{base}/api/v1/records/{ENTITY}?per_page={READ_IDS}&count=false"
        ))
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("list ids")
        .json()
        .await
        .expect("list answer");
    let ids: Vec<String> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert!(!ids.is_empty(), "records to read");
    let urls = db.data_dir.join("read-urls.txt");
    std::fs::write(
        &urls,
        ids.iter()
            .map(|id| format!("{base}/api/v1/records/{ENTITY}/{id}\n"))
            .collect::<String>(),
    )
    .expect("write urls");

    let w1_body = json!({"data": patients[0].document()}).to_string();
    let w3_filter = json!({"and": [
        {"field": "tier", "op": "eq", "value": "VIP"},
        {"field": "total_spent", "op": "gt", "value": W3_MIN_YUAN}
    ]})
    .to_string();
    let w3_url = format!(
        "{base}/api/v1/records/{ENTITY}?filter={}&sort=-created_at&per_page=50",
        url_encode(&w3_filter)
    );
    let report = |agg: &str| {
        let mut measure = json!({"agg": agg});
        if agg == "sum" {
            measure["field"] = json!("total_spent");
        }
        json!({"entity": ENTITY, "chart": "bar", "dimensions": [{"field": "dept"}], "measures": [measure]})
            .to_string()
    };
    let reports_url = format!("{base}/api/v1/reports/query");
    let seconds = args.seconds;
    let load = |w: &Workload, extra: Vec<String>, ok: u16| {
        let mut a = vec![
            "-c".to_string(),
            w.concurrency.to_string(),
            "-H".to_string(),
            format!("Authorization: {bearer}"),
        ];
        a.extend(extra);
        let profile = Profile::start(server_pid, &format!("{name}-http-{}", w.short));
        let measured = oha_run(oha, w, seconds, a, ok);
        profile.finish();
        measured
    };
    let http = [
        load(
            &W1,
            vec![
                "-m".into(),
                "POST".into(),
                "-T".into(),
                "application/json".into(),
                "-d".into(),
                w1_body,
                format!("{base}/api/v1/records/{ENTITY}"),
            ],
            201,
        ),
        load(
            &W2,
            vec![
                "--urls-from-file".into(),
                // With this flag, oha's URL argument is the file of URLs.
                urls.display().to_string(),
            ],
            200,
        ),
        load(&W3, vec![w3_url], 200),
        load(
            &W4A,
            vec![
                "-m".into(),
                "POST".into(),
                "-T".into(),
                "application/json".into(),
                "-d".into(),
                report("count"),
                reports_url.clone(),
            ],
            200,
        ),
        load(
            &W4B,
            vec![
                "-m".into(),
                "POST".into(),
                "-T".into(),
                "application/json".into(),
                "-d".into(),
                report("sum"),
                reports_url,
            ],
            200,
        ),
    ];
    let rss = server.rss_mb();
    server.stop();

    // The floors, on the same database, through the engine's own pool settings.
    let config = Config::resolve(
        FileConfig::default(),
        FileConfig {
            data_dir: Some(db.data_dir.clone()),
            database_url: Some(db.url.clone()),
            ..FileConfig::default()
        },
    );
    let state = kangdao_server::build_state(config)
        .await
        .expect("open the database again");
    let engine = state.engine;
    let floor = Floor::new(&engine, backend, &token_hash_of(&engine.db).await).await;
    // W1's floor last, so W2–W4 read the table the server's W2–W4 read (the patients and
    // W1's records), not more.
    let w2 = floor.run_read(&W2, seconds, &ids).await;
    let w3 = floor.run_page(&W3, seconds).await;
    let w4a = floor.run_group(&W4A, seconds, "COUNT(*)").await;
    let w4b = floor.run_group(&W4B, seconds, "SUM(f_total_spent)").await;
    let w1 = floor.run_create(&W1, seconds).await;
    let floors = [w1, w2, w3, w4a, w4b];
    let import_floor = floor.run_import(patients).await;
    floor.print_plans().await;

    let mut out = Vec::new();
    for ((w, h), f) in [&W1, &W2, &W3, &W4A, &W4B].iter().zip(http).zip(floors) {
        out.push(format!(
            "{name:<8} {:<20} c={:<2}  http {:>7}/s p50 {:>7.2} ms p99 {:>7.2} ms   floor {:>7}/s p50 {:>7.2} ms p99 {:>7.2} ms   ratio {:.2}",
            w.name,
            w.concurrency,
            grouped(h.rate),
            ms(h.p50),
            ms(h.p99),
            grouped(f.rate),
            ms(f.p50),
            ms(f.p99),
            h.rate / f.rate
        ));
    }
    out.push(format!(
        "{name:<8} {:<20} c=1   http {:>7} rows/s                            floor {:>7} rows/s                            ratio {:.2}",
        "bulk CSV import",
        grouped(import_rate),
        grouped(import_floor),
        import_rate / import_floor
    ));
    out.push(format!(
        "{name:<8} server RSS after the run: {}",
        rss.map_or("unknown".into(), |mb| format!("{mb:.0} MB"))
    ));
    for l in &out {
        println!("{l}");
    }
    out
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs oha for `seconds` (HTTP/1.1, keep-alive, requests in flight at the deadline waited
/// for) and reads its JSON summary; every answer must have the status `ok`.
fn oha_run(oha: &Path, w: &Workload, seconds: u64, args: Vec<String>, ok: u16) -> Measured {
    let output = Command::new(oha)
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--wait-ongoing-requests-after-deadline",
            "-z",
            &format!("{seconds}s"),
        ])
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run oha");
    assert!(output.status.success(), "oha failed for {}", w.name);
    let summary: Value = serde_json::from_slice(&output.stdout).expect("oha JSON");
    let statuses = summary["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let errors = summary["errorDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        statuses.keys().all(|s| s == &ok.to_string()) && errors.is_empty(),
        "{}: answers {statuses:?}, errors {errors:?}",
        w.name
    );
    let secs = |v: &Value| Duration::from_secs_f64(v.as_f64().unwrap_or(f64::NAN).max(0.0));
    let m = Measured {
        rate: summary["summary"]["requestsPerSec"]
            .as_f64()
            .expect("requestsPerSec"),
        p50: secs(&summary["latencyPercentiles"]["p50"]),
        p99: secs(&summary["latencyPercentiles"]["p99"]),
    };
    println!(
        "  http  {:<20} c={:<2} {:>7}/s p50 {:>7.2} ms p99 {:>7.2} ms",
        w.name,
        w.concurrency,
        grouped(m.rate),
        ms(m.p50),
        ms(m.p99)
    );
    m
}

async fn token_hash_of(db: &Db) -> String {
    db.fetch_one("SELECT token_hash FROM api_tokens", vec![])
        .await
        .expect("the token")
        .req_text("token_hash")
        .expect("token_hash")
}

/// The statements each request needs, straight through sqlx on the engine's pool.
struct Floor {
    db: Db,
    backend: Backend,
    table: String,
    columns: String,
    per_row: usize,
    token_hash: String,
    /// The entity row and history row of one patient, as the engine stores them.
    template: (Vec<Arg>, Vec<Arg>),
    engine: Engine,
    rt: std::sync::Arc<EntityRuntime>,
}

/// The token lookup, the user and the user's roles: what every Bearer request reads first.
const AUTH_TOKEN: &str = "SELECT id, user_id, name, created_at, last_used_at, expires_at, \
     revoked_at FROM api_tokens WHERE token_hash = $1";
const AUTH_USER: &str = "SELECT * FROM users WHERE id = $1";
const AUTH_ROLES: &str = "SELECT r.name, r.permissions, r.rights FROM roles r \
     JOIN user_roles ur ON ur.role = r.name WHERE ur.user_id = $1 ORDER BY r.name";
const RECORD_COLUMNS: &str =
    "id, data, version, created_at, created_by, updated_at, updated_by, deleted_at";

impl Floor {
    async fn new(engine: &Engine, backend: Backend, token_hash: &str) -> Floor {
        let rt = engine.entity(ENTITY).await.expect("entity");
        let mut columns = String::from(RECORD_COLUMNS);
        for fs in rt.columns() {
            if let Some(c) = fs.column() {
                columns.push_str(", ");
                columns.push_str(&q(c));
            }
        }
        let per_row = 8 + rt.columns().count();
        let mut floor = Floor {
            db: engine.db.clone(),
            backend,
            table: q(&rt.table),
            columns,
            per_row,
            token_hash: token_hash.to_string(),
            template: (Vec::new(), Vec::new()),
            engine: engine.clone(),
            rt,
        };
        let user = floor.user_id().await;
        floor.template = floor.rows_of(&[], user)[0].clone();
        floor
    }

    async fn user_id(&self) -> String {
        let row = self
            .db
            .fetch_one(
                "SELECT user_id FROM api_tokens WHERE token_hash = $1",
                vec![self.token_hash.clone().into()],
            )
            .await
            .expect("token user");
        row.req_uuid("user_id").expect("user_id").to_string()
    }

    /// The entity and history rows of `docs` (or of one sample patient when empty), computed
    /// with the engine's own functions so they are the rows the engine writes.
    fn rows_of(&self, docs: &[Map<String, Value>], actor: String) -> Vec<(Vec<Arg>, Vec<Arg>)> {
        let sample;
        let docs = if docs.is_empty() {
            sample = vec![patients(1)[0].document()];
            &sample
        } else {
            docs
        };
        let engine = &self.engine;
        let ctx = PrepareContext {
            lang: Lang::En,
            today: engine.today(),
            now: engine.now(),
            offset: engine.utc_offset_at(engine.now()),
        };
        let now = engine.now();
        docs.iter()
            .map(|doc| {
                let plain = self
                    .rt
                    .compiled
                    .prepare(doc, None, &ctx)
                    .expect("valid patient");
                let sealed = projection::seal(&self.rt, &plain, None, None, &engine.keys);
                let id = Uuid::now_v7();
                let data = Value::Object(sealed);
                let mut row = vec![
                    Arg::Uuid(Some(id)),
                    Arg::Json(Some(data.clone())),
                    Arg::Int(Some(1)),
                    Arg::Time(Some(now)),
                    actor.clone().into(),
                    Arg::Time(Some(now)),
                    actor.clone().into(),
                    Arg::Time(None),
                ];
                for fs in self.rt.columns() {
                    row.push(projection::scalar_arg(
                        fs,
                        plain.get(&fs.field),
                        &engine.keys,
                    ));
                }
                let change = vec![
                    Arg::Uuid(Some(Uuid::now_v7())),
                    ENTITY.into(),
                    Arg::Uuid(Some(id)),
                    Arg::Int(Some(1)),
                    "create".into(),
                    Arg::Json(Some(data)),
                    Arg::Json(Some(Value::from(plain.keys().cloned().collect::<Vec<_>>()))),
                    actor.clone().into(),
                    Arg::Time(Some(now)),
                ];
                (row, change)
            })
            .collect()
    }

    fn binds(&self, args: Vec<Arg>) -> Vec<Bind> {
        args.into_iter().map(|a| bind_of(a, self.backend)).collect()
    }

    fn casts(&self) -> (&'static str, &'static str) {
        if self.backend == Backend::Postgres {
            ("::jsonb", "::jsonb")
        } else {
            ("", "")
        }
    }

    /// `concurrency` tasks for `seconds`, each running `request` in a loop.
    async fn drive<F, Fut>(&self, w: &Workload, seconds: u64, request: F) -> Measured
    where
        F: Fn(Floor2) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let user = self.user_id().await;
        let profile = Profile::start(
            std::process::id(),
            &format!("{}-floor-{}", backend_name(self.backend), w.short),
        );
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..w.concurrency {
            let shared = Floor2 {
                floor: self.handle(),
                user: user.clone(),
            };
            let request = request.clone();
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    request(shared.clone()).await;
                    samples.push(t.elapsed());
                }
                samples
            }));
        }
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await.expect("floor task"));
        }
        let elapsed = start.elapsed();
        profile.finish();
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        let m = Measured {
            rate: samples.len() as f64 / elapsed.as_secs_f64(),
            p50: pct(0.50),
            p99: pct(0.99),
        };
        println!(
            "  floor {:<20} c={:<2} {:>7}/s p50 {:>7.2} ms p99 {:>7.2} ms",
            w.name,
            w.concurrency,
            grouped(m.rate),
            ms(m.p50),
            ms(m.p99)
        );
        m
    }

    fn handle(&self) -> std::sync::Arc<FloorShared> {
        let (json, _) = self.casts();
        let backend = self.backend;
        let row_sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table,
            self.columns,
            values_sql(1, self.per_row, &["", json], backend)
        );
        let change_sql = format!(
            "INSERT INTO record_changes (id, entity, record_id, version, op, data, changed_fields, actor, at) VALUES {}",
            values_sql(1, 9, &["", "", "", "", "", json, json], backend)
        );
        std::sync::Arc::new(FloorShared {
            db: self.db.clone(),
            backend,
            token_hash: self.token_hash.clone(),
            table: self.table.clone(),
            row_sql,
            change_sql,
            template: (
                self.binds(self.template.0.clone()),
                self.binds(self.template.1.clone()),
            ),
        })
    }

    /// W1: authenticate, then one transaction with the record and its history row.
    async fn run_create(&self, w: &Workload, seconds: u64) -> Measured {
        self.drive(w, seconds, |s: Floor2| async move {
            let f = &s.floor;
            let now = time::OffsetDateTime::now_utc();
            let id = Uuid::now_v7();
            let mut row = f.template.0.clone();
            let mut change = f.template.1.clone();
            row[0] = bind_of(Arg::Uuid(Some(id)), f.backend);
            row[3] = bind_of(Arg::Time(Some(now)), f.backend);
            row[5] = bind_of(Arg::Time(Some(now)), f.backend);
            change[0] = bind_of(Arg::Uuid(Some(Uuid::now_v7())), f.backend);
            change[2] = bind_of(Arg::Uuid(Some(id)), f.backend);
            change[8] = bind_of(Arg::Time(Some(now)), f.backend);
            match &f.db {
                Db::Sqlite(p) => {
                    // The token lookup, its connection back to the pool before the write.
                    {
                        let mut c = p.acquire().await.expect("connection");
                        f.authenticate(&mut FloorConn::Sqlite(&mut c), &s.user)
                            .await;
                    }
                    // A 201 must survive a power cut, so the floor syncs each commit
                    // (`synchronous=FULL`), the plain way to that promise.
                    let mut c = p.acquire().await.expect("connection");
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *c)
                        .await
                        .expect("synchronous");
                    let mut tx = sqlx::Connection::begin_with(&mut *c, "BEGIN IMMEDIATE")
                        .await
                        .expect("begin");
                    execute(&mut FloorConn::Sqlite(&mut tx), &f.row_sql, row).await;
                    execute(&mut FloorConn::Sqlite(&mut tx), &f.change_sql, change).await;
                    tx.commit().await.expect("commit");
                }
                Db::Postgres(p) => {
                    // The token lookup, its connection back to the pool before the write.
                    {
                        let mut c = p.acquire().await.expect("connection");
                        f.authenticate(&mut FloorConn::Postgres(&mut c), &s.user)
                            .await;
                    }
                    let mut tx = p.begin().await.expect("begin");
                    execute(&mut FloorConn::Postgres(&mut tx), &f.row_sql, row).await;
                    execute(&mut FloorConn::Postgres(&mut tx), &f.change_sql, change).await;
                    tx.commit().await.expect("commit");
                }
            }
        })
        .await
    }

    /// W2: authenticate, then the record by id (a random one of `ids`).
    async fn run_read(&self, w: &Workload, seconds: u64, ids: &[String]) -> Measured {
        let ids = std::sync::Arc::new(ids.to_vec());
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        self.drive(w, seconds, move |s: Floor2| {
            let ids = ids.clone();
            let counter = counter.clone();
            async move {
                let f = &s.floor;
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let id = &ids[Rng::new(n).below(ids.len() as u64) as usize];
                let id = bind_of(Arg::Uuid(Some(id.parse().expect("uuid"))), f.backend);
                let sql = format!(
                    "SELECT {RECORD_COLUMNS} FROM {} WHERE id = $1 AND deleted_at IS NULL",
                    f.table
                );
                f.with_conn(&s.user, |mut c| async move {
                    assert_eq!(fetch(&mut c.conn(), &sql, vec![id]).await, 1);
                })
                .await;
            }
        })
        .await
    }

    /// W3: authenticate, then the page and its total.
    async fn run_page(&self, w: &Workload, seconds: u64) -> Measured {
        self.drive(w, seconds, |s: Floor2| async move {
            let f = &s.floor;
            let filter = "deleted_at IS NULL AND f_tier = $1 AND f_total_spent > $2";
            let page = format!(
                "SELECT {RECORD_COLUMNS} FROM {} WHERE {filter} \
                 ORDER BY created_at DESC, id DESC LIMIT 50",
                f.table
            );
            // The count the server makes: exact up to the bound, then (the filter matches
            // more) an estimate, which PostgreSQL's planner gives and SQLite's server keeps.
            let count = format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {} WHERE {filter} LIMIT {}) AS bounded",
                f.table,
                EXACT_TOTAL_BOUND + 1
            );
            let estimate = format!(
                "EXPLAIN (FORMAT JSON) SELECT 1 FROM {} WHERE {filter}",
                f.table
            );
            let binds = vec![
                Bind::Text(Some("VIP".into())),
                Bind::Int(Some(W3_MIN_YUAN * 100)),
            ];
            let postgres = f.backend == Backend::Postgres;
            f.with_conn(&s.user, |mut c| async move {
                assert_eq!(fetch(&mut c.conn(), &page, binds.clone()).await, 50);
                assert_eq!(fetch(&mut c.conn(), &count, binds.clone()).await, 1);
                if postgres {
                    assert_eq!(fetch(&mut c.conn(), &estimate, binds).await, 1);
                }
            })
            .await;
        })
        .await
    }

    /// Where W3's and W4's time goes, statement by statement, on the loaded table: each one's
    /// plan (PostgreSQL: `EXPLAIN (ANALYZE, BUFFERS)`; SQLite: `EXPLAIN QUERY PLAN`) and its
    /// median time run alone on one connection.
    async fn print_plans(&self) {
        let filter = format!(
            "deleted_at IS NULL AND f_tier = 'VIP' AND f_total_spent > {}",
            W3_MIN_YUAN * 100
        );
        let statements = [
            (
                "W3 page",
                format!(
                    "SELECT {RECORD_COLUMNS} FROM {} WHERE {filter} \
                     ORDER BY created_at DESC, id DESC LIMIT 50",
                    self.table
                ),
            ),
            (
                "W3 bounded count",
                format!(
                    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {} WHERE {filter} LIMIT {}) AS bounded",
                    self.table,
                    EXACT_TOTAL_BOUND + 1
                ),
            ),
            (
                "W4 count by dept",
                format!(
                    "SELECT f_dept, COUNT(*) AS m FROM {} WHERE deleted_at IS NULL \
                     GROUP BY f_dept ORDER BY f_dept",
                    self.table
                ),
            ),
            (
                "W4 sum by dept",
                format!(
                    "SELECT f_dept, SUM(f_total_spent) AS m FROM {} WHERE deleted_at IS NULL \
                     GROUP BY f_dept ORDER BY f_dept",
                    self.table
                ),
            ),
        ];
        let name = backend_name(self.backend);
        for (what, sql) in statements {
            let mut samples = Vec::new();
            for _ in 0..7 {
                let t = Instant::now();
                self.db.fetch_all(&sql, vec![]).await.expect("statement");
                samples.push(t.elapsed());
            }
            samples.sort();
            println!(
                "{name:<8} {what}: {:.2} ms alone (median of 7)",
                ms(samples[samples.len() / 2])
            );
            let (explain, column) = match self.backend {
                Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {sql}"), "detail"),
                Backend::Postgres => (format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), "QUERY PLAN"),
            };
            for row in self.db.fetch_all(&explain, vec![]).await.expect("plan") {
                println!("    {}", row.req_text(column).expect("plan line"));
            }
        }
    }

    /// W4: authenticate, then one measure grouped by department.
    async fn run_group(&self, w: &Workload, seconds: u64, measure: &'static str) -> Measured {
        self.drive(w, seconds, move |s: Floor2| async move {
            let f = &s.floor;
            let sql = format!(
                "SELECT f_dept, {measure} AS m FROM {} WHERE deleted_at IS NULL \
                 GROUP BY f_dept ORDER BY f_dept",
                f.table
            );
            f.with_conn(&s.user, |mut c| async move {
                assert_eq!(fetch(&mut c.conn(), &sql, vec![]).await, DEPTS.len());
            })
            .await;
        })
        .await
    }

    /// The import's floor: the same rows and history rows in multi-row INSERTs, one
    /// transaction per [`IMPORT_ROWS`] (one import request), values computed before the clock.
    async fn run_import(&self, patients: &[Patient]) -> f64 {
        let user = self.user_id().await;
        let (json, _) = self.casts();
        let mut plan: Vec<Vec<(String, Vec<Bind>)>> = Vec::new();
        for chunk in patients.chunks(IMPORT_ROWS) {
            let docs: Vec<Map<String, Value>> = chunk.iter().map(Patient::document).collect();
            let rows = self.rows_of(&docs, user.clone());
            let mut statements = Vec::new();
            for part in rows.chunks(FLOOR_ROWS_PER_STATEMENT) {
                let mut row_binds = Vec::new();
                let mut change_binds = Vec::new();
                for (row, change) in part {
                    row_binds.extend(self.binds(row.clone()));
                    change_binds.extend(self.binds(change.clone()));
                }
                statements.push((
                    format!(
                        "INSERT INTO {} ({}) VALUES {}",
                        self.table,
                        self.columns,
                        values_sql(part.len(), self.per_row, &["", json], self.backend)
                    ),
                    row_binds,
                ));
                statements.push((
                    format!(
                        "INSERT INTO record_changes (id, entity, record_id, version, op, data, changed_fields, actor, at) VALUES {}",
                        values_sql(part.len(), 9, &["", "", "", "", "", json, json], self.backend)
                    ),
                    change_binds,
                ));
            }
            plan.push(statements);
        }
        let t = Instant::now();
        for statements in plan {
            match &self.db {
                Db::Sqlite(p) => {
                    let mut tx = p.begin_with("BEGIN IMMEDIATE").await.expect("begin");
                    for (sql, binds) in statements {
                        execute(&mut FloorConn::Sqlite(&mut tx), &sql, binds).await;
                    }
                    tx.commit().await.expect("commit");
                }
                Db::Postgres(p) => {
                    let mut tx = p.begin().await.expect("begin");
                    for (sql, binds) in statements {
                        execute(&mut FloorConn::Postgres(&mut tx), &sql, binds).await;
                    }
                    tx.commit().await.expect("commit");
                }
            }
        }
        let rate = patients.len() as f64 / t.elapsed().as_secs_f64();
        println!(
            "  floor {:<20} c=1  {:>7} rows/s",
            "bulk import",
            grouped(rate)
        );
        rate
    }
}

/// What one floor task holds: the shared statements and the token's user.
#[derive(Clone)]
struct Floor2 {
    floor: std::sync::Arc<FloorShared>,
    user: String,
}

struct FloorShared {
    db: Db,
    backend: Backend,
    token_hash: String,
    table: String,
    row_sql: String,
    change_sql: String,
    template: (Vec<Bind>, Vec<Bind>),
}

/// A pooled connection of either backend.
enum Pooled {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Pooled {
    fn conn(&mut self) -> FloorConn<'_> {
        match self {
            Pooled::Sqlite(c) => FloorConn::Sqlite(c),
            Pooled::Postgres(c) => FloorConn::Postgres(c),
        }
    }
}

impl FloorShared {
    async fn authenticate(&self, conn: &mut FloorConn<'_>, user: &str) {
        let user = match self.backend {
            Backend::Sqlite => Bind::Text(Some(user.to_string())),
            Backend::Postgres => Bind::Uuid(Some(user.parse().expect("uuid"))),
        };
        assert_eq!(
            fetch(
                conn,
                AUTH_TOKEN,
                vec![Bind::Text(Some(self.token_hash.clone()))]
            )
            .await,
            1
        );
        assert_eq!(fetch(conn, AUTH_USER, vec![user.clone()]).await, 1);
        fetch(conn, AUTH_ROLES, vec![user]).await;
    }

    /// One connection for the request: the token lookup, then `body`.
    async fn with_conn<F, Fut>(&self, user: &str, body: F)
    where
        F: FnOnce(Pooled) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut c = match &self.db {
            Db::Sqlite(p) => Pooled::Sqlite(p.acquire().await.expect("connection")),
            Db::Postgres(p) => Pooled::Postgres(p.acquire().await.expect("connection")),
        };
        self.authenticate(&mut c.conn(), user).await;
        body(c).await;
    }
}

/// Runs a query and reads every row it answers (raw values, as the engine's row reader
/// receives them); answers how many.
async fn fetch(conn: &mut FloorConn<'_>, sql: &str, binds: Vec<Bind>) -> usize {
    macro_rules! bound {
        ($query:expr, $binds:expr, $uuid:expr, $time:expr, $date:expr) => {{
            let mut query = $query;
            for b in $binds {
                query = match b {
                    Bind::Text(v) => query.bind(v),
                    Bind::Int(v) => query.bind(v),
                    Bind::Real(v) => query.bind(v),
                    Bind::Bool(v) => query.bind(v),
                    Bind::Uuid(v) => query.bind(v.map($uuid)),
                    Bind::Time(v) => query.bind(v.map($time)),
                    Bind::Date(v) => query.bind(v.map($date)),
                };
            }
            query
        }};
    }
    match conn {
        FloorConn::Sqlite(c) => bound!(
            sqlx::query(sql),
            binds,
            |u: Uuid| u.hyphenated().to_string(),
            kangdao_engine::records::wire_time,
            kangdao_engine::store::db::format_date
        )
        .fetch_all(&mut **c)
        .await
        .expect("floor query")
        .len(),
        FloorConn::Postgres(c) => bound!(
            sqlx::query(sql),
            binds,
            |u: Uuid| u,
            |t: time::OffsetDateTime| t,
            |d: time::Date| d
        )
        .fetch_all(&mut **c)
        .await
        .expect("floor query")
        .len(),
    }
}
