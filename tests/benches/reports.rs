//! Benchmark 6: a six-chart dashboard over 1,000,000 patients and 3,000,000 visits, each chart
//! beside the same question in hand-written SQL over plain typed tables (the floor).
//!
//! `cargo run --release -p kangdao-tests --bin bench-reports [-- --patients N --visits N
//! --backend sqlite|postgres|both --only chart,chart --seed N --explain]`
//!
//! With `KANGDAO_BENCH_KEEP` set, each database is left in place (its URL printed) for
//! `EXPLAIN` by hand.

/// The allocator the `kangdao` binary ships with, so the engine is measured as it runs (the
/// floor, in the same process, uses it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common.rs"]
mod common;
#[path = "reports/data.rs"]
mod data;
#[path = "reports/engine_side.rs"]
mod engine_side;
#[path = "reports/floor.rs"]
mod floor;
#[path = "reports/load.rs"]
mod load;

use common::{backend_name, grouped, keyring, median, ms};
use floor::{Chart, CHARTS};
use kangdao_engine::access::Principal;
use kangdao_engine::clock::TestClock;
use kangdao_engine::store::{Db, DbOptions};
use kangdao_engine::{Engine, Lang, Settings};
use kangdao_tests::{Backend, FreshDatabase};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WARM_UP: usize = 1;
const RUNS: usize = 5;
const DEFAULT_SEED: u64 = 0x5245_504F_5254_5321;

struct Args {
    patients: usize,
    visits: Option<usize>,
    backends: Vec<Backend>,
    charts: Vec<Chart>,
    seed: u64,
    /// Print the engine's statements for each chart.
    explain: bool,
}

fn count(v: Option<String>, flag: &str) -> usize {
    v.and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or_else(|| panic!("{flag} N"))
}

fn parse_args() -> Args {
    let mut args = Args {
        patients: 1_000_000,
        visits: None,
        backends: Backend::ALL.to_vec(),
        charts: CHARTS.to_vec(),
        seed: DEFAULT_SEED,
        explain: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--patients" => args.patients = count(it.next(), "--patients"),
            "--visits" => args.visits = Some(count(it.next(), "--visits")),
            "--explain" => args.explain = true,
            "--seed" => args.seed = count(it.next(), "--seed") as u64,
            "--backend" => {
                args.backends = match it.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => Backend::ALL.to_vec(),
                    other => panic!("--backend sqlite|postgres|both, not {other:?}"),
                }
            }
            "--only" => {
                let names = it.next().expect("--only chart,chart");
                args.charts = names
                    .split(',')
                    .map(|n| {
                        Chart::parse(n.trim()).unwrap_or_else(|| {
                            panic!(
                                "unknown chart {n:?}; the charts: {}",
                                CHARTS.map(Chart::name).join(", ")
                            )
                        })
                    })
                    .collect();
            }
            other => panic!(
                "unknown argument {other} (use --patients N --visits N \
                 --backend sqlite|postgres|both --only chart,chart --seed N --explain)"
            ),
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let visits = args.visits.unwrap_or(args.patients * 3);
    let now = time::OffsetDateTime::now_utc();
    let t = Instant::now();
    let clinic = data::generate(args.patients, visits, args.seed, now);
    println!(
        "bench-reports: {} patients, {} visits (seed {:#x}, now {}), generated in {:.1} s; \
         each time the median of {RUNS} runs after {WARM_UP} warm-up",
        grouped(clinic.patients.len() as f64),
        grouped(clinic.visits.len() as f64),
        args.seed,
        data::local_text(clinic.now),
        t.elapsed().as_secs_f64()
    );
    let mut lines = Vec::new();
    for &backend in &args.backends {
        lines.extend(run(backend, &clinic, &args.charts, args.explain).await);
    }
    println!();
    for line in lines {
        println!("{line}");
    }
}

async fn run(
    backend: Backend,
    clinic: &data::Clinic,
    charts: &[Chart],
    explain: bool,
) -> Vec<String> {
    let name = backend_name(backend);
    println!("{name}: loading");
    let db = FreshDatabase::new(backend).await;
    let engine = clinic_engine(&db, clinic.now).await;
    load::load_engine(&engine, clinic).await;
    load::load_floor(&engine.db, clinic).await;
    let t = Instant::now();
    engine_side::save_dashboard(&engine, charts).await;
    println!(
        "  {} charts and their dashboard saved (the charts' indexes built) in {:.1} s",
        charts.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    load::analyze(&engine.db).await;
    println!("  analyzed in {:.1} s", t.elapsed().as_secs_f64());
    verify_records(&engine, clinic).await;

    let mut out = Vec::new();
    let (mut engine_total, mut floor_total) = (Duration::ZERO, Duration::ZERO);
    let mut chart_rows = Vec::new();
    for &chart in charts {
        let query = floor::floor_query(chart, clinic.now, backend);
        let floor_answer = floor::run_floor(&engine.db, &query).await;
        if let Err(e) =
            floor::same_rows(chart.name(), &floor_answer, &floor::expected(chart, clinic))
        {
            panic!("{name}: the floor's SQL does not answer the question: {e}");
        }
        let spec = engine_side::spec_of(chart);
        let answer = engine_side::run_chart(&engine, &spec, explain).await;
        let answer = serde_json::to_value(&answer).expect("answer as JSON");
        if explain {
            for statement in answer["explain"]["statements"]
                .as_array()
                .into_iter()
                .flatten()
            {
                println!(
                    "  {} SQL: {}",
                    chart.name(),
                    statement["sql"].as_str().unwrap_or("")
                );
                println!("  {} params: {}", chart.name(), statement["params"]);
            }
        }
        check_engine(name, chart, &answer, &floor_answer);
        chart_rows.push((chart, engine_side::rows_of(chart, &answer)));
        let e = time(|| async {
            engine_side::run_chart(&engine, &spec, false)
                .await
                .rows
                .len()
        })
        .await;
        let f = time(|| async { floor::run_floor(&engine.db, &query).await.len() }).await;
        engine_total += e;
        floor_total += f;
        out.push(ratio_line(name, chart.name(), e, f));
    }
    out.push(ratio_line(
        name,
        "six charts in a row",
        engine_total,
        floor_total,
    ));

    // The dashboard uncached: each run on a fresh engine, whose cache is empty.
    let mut samples = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP + RUNS {
        let fresh = engine_side::fresh_engine(&engine).await;
        let t = Instant::now();
        let answer = engine_side::dashboard(&fresh).await;
        let elapsed = t.elapsed();
        if run == 0 {
            check_dashboard(name, &answer, &chart_rows);
        }
        if run >= WARM_UP {
            samples.push(elapsed);
        }
    }
    let uncached = median(samples);
    // From the exact cache: the first call fills it.
    engine_side::dashboard(&engine).await;
    let before = engine.dashboard_cache_stats();
    let cached = time(|| async {
        engine_side::dashboard(&engine).await["charts"]
            .as_array()
            .map_or(0, Vec::len)
    })
    .await;
    let hits = engine.dashboard_cache_stats().hits - before.hits;
    assert_eq!(
        hits,
        (WARM_UP + RUNS) as u64,
        "{name}: every timed dashboard call answered from the cache"
    );
    let target = match backend {
        Backend::Postgres => 1_000,
        Backend::Sqlite => 5_000,
    };
    out.push(format!(
        "{name:<8} dashboard uncached {:>9.1} ms (target <= {} ms)   from the cache {:>7.3} ms (target <= 50 ms)",
        ms(uncached),
        grouped(target as f64),
        ms(cached)
    ));
    for l in &out {
        println!("{l}");
    }
    if std::env::var_os("KANGDAO_BENCH_KEEP").is_some() {
        // Kept for EXPLAIN by hand; the caller drops it.
        println!("  kept: {}", db.url);
        std::mem::forget(db);
    }
    out
}

/// An engine over `db` whose clock stands at the clinic's "now", with both entities defined.
async fn clinic_engine(db: &FreshDatabase, now: time::OffsetDateTime) -> Engine {
    let pool = Db::connect(&DbOptions {
        url: db.url.clone(),
        max_connections: 8,
    })
    .await
    .expect("connect");
    let engine = Engine::open(
        pool,
        keyring(),
        Arc::new(TestClock::new(now)),
        Settings::default(),
    )
    .await
    .expect("open engine");
    for definition in [data::patient_definition(), data::visit_definition()] {
        engine
            .create_entity(&Principal::system(), definition, Lang::En)
            .await
            .expect("create the entity");
    }
    engine
}

/// Records read back through the engine are the generated ones: documents, times, and the
/// projection columns (a grouped count through the engine's own aggregate).
async fn verify_records(engine: &Engine, clinic: &data::Clinic) {
    let principal = Principal::system();
    let n = clinic.patients.len();
    for i in [0, 1, n / 3, n / 2, n - 1] {
        let p = &clinic.patients[i];
        let record = engine
            .get_record(&principal, data::PATIENT, p.id, &[], Lang::En)
            .await
            .expect("read a patient");
        assert_eq!(record.data, p.document(), "patient {i} read back");
        assert_eq!(
            record.created_at,
            kangdao_engine::records::wire_time(p.created_at),
            "patient {i}'s created_at"
        );
    }
    let n = clinic.visits.len();
    for i in [0, 1, n / 3, n / 2, n - 1] {
        let v = &clinic.visits[i];
        let record = engine
            .get_record(&principal, data::VISIT, v.id, &[], Lang::En)
            .await
            .expect("read a visit");
        assert_eq!(
            record.data,
            v.document(&clinic.patients),
            "visit {i} read back"
        );
    }
    // Projection columns: the engine's grouped counts and sums against the generated rows.
    let spec: kangdao_engine::reports::ChartSpec = serde_json::from_value(serde_json::json!({
        "entity": data::VISIT, "chart": "bar",
        "dimensions": [{"field": "dept"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}]
    }))
    .expect("spec");
    let by_dept = engine_side::run_chart(engine, &spec, false).await;
    let mut want: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
    for v in &clinic.visits {
        let e = want.entry(v.dept).or_default();
        e.0 += 1;
        e.1 += v.amount_fen;
    }
    let got: std::collections::BTreeMap<&str, (i64, i64)> = by_dept
        .rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("dept"),
                (
                    r[1].as_i64().expect("count"),
                    (r[2].as_f64().expect("sum") * 100.0).round() as i64,
                ),
            )
        })
        .collect();
    assert_eq!(got, want, "visits: count and sum of amount by dept");
    println!(
        "  10 records read back through the engine match the generated ones; \
         so do the visits' count and sum of amount by dept"
    );
}

fn ratio_line(backend: &str, what: &str, engine: Duration, floor: Duration) -> String {
    format!(
        "{backend:<8} {what:<24} engine {:>9.1} ms   floor {:>9.1} ms   ratio {:.2} (target <= 1.5)",
        ms(engine),
        ms(floor),
        engine.as_secs_f64() / floor.as_secs_f64()
    )
}

/// The engine answers what the floor answers: the same rows in the same order (rows in
/// another order are reported, then compared sorted).
fn check_engine(backend: &str, chart: Chart, answer: &serde_json::Value, floor_rows: &floor::Rows) {
    let rows = engine_side::rows_of(chart, answer);
    if floor::same_rows(chart.name(), &rows, floor_rows).is_ok() {
        return;
    }
    let sorted = |rows: &floor::Rows| {
        let mut rows = rows.clone();
        rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        rows
    };
    match floor::same_rows(chart.name(), &sorted(&rows), &sorted(floor_rows)) {
        Ok(()) => println!(
            "  {backend} {}: the engine's rows come in another order",
            chart.name()
        ),
        Err(e) => panic!("{backend}: the engine's answer differs from the floor's: {e}"),
    }
}

/// Every chart of the dashboard answered, each as `run_chart` answered it alone.
fn check_dashboard(backend: &str, answer: &serde_json::Value, charts: &[(Chart, floor::Rows)]) {
    let answered = answer["charts"].as_array().expect("the dashboard's charts");
    assert_eq!(
        answered.len(),
        charts.len(),
        "{backend}: every chart answered"
    );
    for (entry, (chart, rows)) in answered.iter().zip(charts) {
        assert_eq!(
            entry["name"],
            chart.name(),
            "{backend}: the dashboard's order"
        );
        assert!(
            entry.get("error").is_none(),
            "{backend}: {} answered an error: {}",
            chart.name(),
            entry["error"]
        );
        let got = engine_side::rows_of(*chart, &entry["data"]);
        if let Err(e) = floor::same_rows(chart.name(), &got, rows) {
            panic!("{backend}: the dashboard's chart differs from run_chart's: {e}");
        }
    }
}

/// The median of [`RUNS`] runs after [`WARM_UP`] runs.
async fn time<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    for _ in 0..WARM_UP {
        std::hint::black_box(f().await);
    }
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(f().await);
        samples.push(t.elapsed());
    }
    median(samples)
}
