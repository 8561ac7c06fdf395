//! Benchmark 2: a filtered, sorted page through `Engine::list_records` and a grouped count and
//! sum through `Engine::run_chart`, beside the same queries in plain SQL on a plain typed table
//! holding the same rows with the equivalent indexes.
//!
//! `cargo run --release -p kangdao-tests --bin bench-query [-- --records N --backend sqlite|postgres|both]`

/// The allocator the `kangdao` binary ships with, so the engine is measured as it runs (the
/// floor, in the same process, uses it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common.rs"]
mod common;

use common::*;
use kangdao_engine::access::Principal;
use kangdao_engine::records::{FilterExpr, ListQuery, SortKey};
use kangdao_engine::reports::{ChartRun, ChartSpec};
use kangdao_engine::store::Db;
use kangdao_engine::Lang;
use kangdao_tests::{Backend, FreshDatabase};
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::future::Future;
use std::time::{Duration, Instant};

const WARM_UP: usize = 3;
const RUNS: usize = 20;

/// Timed runs per figure: [`RUNS`], or `KANGDAO_BENCH_RUNS` (say 5000, to give `perf record` a
/// few seconds of each query).
fn runs() -> usize {
    std::env::var("KANGDAO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
}
/// tier = VIP and total_spent > 5000 yuan, in fen for the plain table.
const MIN_SPENT_YUAN: i64 = 5_000;

/// A row of the plain table, read into Rust values.
#[allow(dead_code)]
#[derive(Debug)]
/// A record as the floor returns it: its fixed columns and its whole document, parsed.
struct PlainRecord {
    id: String,
    data: Value,
    version: i64,
    created_at: String,
    updated_at: String,
}

#[tokio::main]
async fn main() {
    let args = parse_args(100_000);
    println!(
        "bench-query: {} patients; median of {} runs after {WARM_UP} warm-up runs",
        grouped(args.records as f64),
        runs()
    );
    let patients = patients(args.records);
    let mut lines = Vec::new();
    for &backend in &args.backends {
        lines.extend(run(backend, &patients).await);
    }
    println!();
    for line in lines {
        println!("{line}");
    }
}

async fn run(backend: Backend, patients: &[Patient]) -> Vec<String> {
    let name = backend_name(backend);
    let db = FreshDatabase::new(backend).await;
    let engine = engine_with_patients(&db).await;
    let t = Instant::now();
    let principal = Principal::system();
    for chunk in patients.chunks(BATCH) {
        let docs: Vec<Map<String, Value>> = chunk.iter().map(Patient::document).collect();
        engine
            .create_records_bulk(&principal, ENTITY, docs, Lang::En)
            .await
            .expect("bulk create");
    }
    println!(
        "{name:<8} loaded {} patients through the engine in {:.1} s",
        grouped(patients.len() as f64),
        t.elapsed().as_secs_f64()
    );
    load_plain(&engine.db, patients).await;
    // The same statistics for both tables, as autovacuum (PostgreSQL) or `PRAGMA optimize`
    // (SQLite) would gather.
    engine.db.execute("ANALYZE", vec![]).await.expect("analyze");

    let mut out = Vec::new();

    // (a) VIP patients who spent more than 5000 yuan, biggest spenders first, 50 per page.
    let query = ListQuery {
        page: 1,
        per_page: 50,
        sort: SortKey::parse_list("-total_spent"),
        filter: Some(
            FilterExpr::parse(json!({"and": [
                {"field": "tier", "op": "eq", "value": "VIP"},
                {"field": "total_spent", "op": "gt", "value": MIN_SPENT_YUAN}
            ]}))
            .expect("filter"),
        ),
        count: false,
        ..ListQuery::default()
    };
    let engine_page = engine
        .list_records(&principal, ENTITY, &query)
        .await
        .expect("list");
    let floor_page = plain_page(&engine.db).await;
    let engine_spent: Vec<i64> = engine_page
        .items
        .iter()
        .map(|r| (r.data["total_spent"].as_f64().expect("money") * 100.0).round() as i64)
        .collect();
    let floor_spent: Vec<i64> = floor_page
        .iter()
        .map(|r| (r.data["total_spent"].as_f64().expect("money") * 100.0).round() as i64)
        .collect();
    assert!(floor_page
        .iter()
        .all(|r| r.version == 1 && !r.id.is_empty() && r.created_at <= r.updated_at));
    assert_eq!(engine_page.items.len(), 50, "a full page");
    assert_eq!(engine_spent, floor_spent, "the same page");
    let e = time(|| async {
        engine
            .list_records(&principal, ENTITY, &query)
            .await
            .expect("list")
            .items
            .len()
    })
    .await;
    let f = time(|| async { plain_page(&engine.db).await.len() }).await;
    out.push(line(name, "list VIP>5000 -spent p50", e, f));
    let g = time(|| async { same_table_page(&engine.db).await.len() }).await;
    println!(
        "{}",
        same_table_line(name, "list VIP>5000 -spent p50", e, g)
    );

    // (b) count and sum of total_spent by department.
    let spec: ChartSpec = serde_json::from_value(serde_json::json!({
        "entity": ENTITY, "chart": "bar", "dimensions": [{"field": "dept"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "total_spent"}]
    }))
    .expect("spec");
    let engine_agg = engine
        .run_chart(&principal, &spec, &ChartRun::default())
        .await
        .expect("chart");
    let floor_agg = plain_aggregate(&engine.db).await;
    let engine_rows: Vec<(String, i64, i64)> = engine_agg
        .rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_string(),
                r[1].as_i64().expect("count"),
                (r[2].as_f64().expect("sum") * 100.0).round() as i64,
            )
        })
        .collect();
    assert_eq!(engine_rows, floor_agg, "the same groups");
    let e = time(|| async {
        engine
            .run_chart(&principal, &spec, &ChartRun::default())
            .await
            .expect("chart")
            .rows
            .len()
    })
    .await;
    let f = time(|| async { plain_aggregate(&engine.db).await.len() }).await;
    out.push(line(name, "count+sum by dept", e, f));
    let g = time(|| async { same_table_aggregate(&engine.db).await.len() }).await;
    println!("{}", same_table_line(name, "count+sum by dept", e, g));

    for l in &out {
        println!("{l}");
    }
    out
}

fn line(backend: &str, what: &str, engine: Duration, floor: Duration) -> String {
    let ratio = engine.as_secs_f64() / floor.as_secs_f64();
    format!(
        "{backend:<8} {what:<26} engine {:>8.3} ms   floor {:>8.3} ms   ratio {ratio:.2} (target <= 1.5)",
        ms(engine),
        ms(floor)
    )
}

/// Beside the floor, the engine's own statement on its own table in plain SQL, rows read
/// into Rust values (the JSON document parsed, no decryption or masking): what is left is the
/// engine's code, not the table's width.
fn same_table_line(backend: &str, what: &str, engine: Duration, same: Duration) -> String {
    format!(
        "{backend:<8} {what:<26} engine {:>8.3} ms   same-table SQL {:>8.3} ms   ratio {:.2}",
        ms(engine),
        ms(same),
        engine.as_secs_f64() / same.as_secs_f64()
    )
}

/// The median of [`runs`] runs after [`WARM_UP`] runs.
async fn time<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    for _ in 0..WARM_UP {
        std::hint::black_box(f().await);
    }
    let runs = runs();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f().await);
        samples.push(t.elapsed());
    }
    median(samples)
}

/// `plain_patient`: typed columns, the same rows, and the indexes the engine has on its
/// projection columns (unique mrn and ID number; plain indexes on dept, tier, total_spent).
async fn load_plain(db: &Db, patients: &[Patient]) {
    let pg = db.backend() == kangdao_engine::store::Backend::Postgres;
    let (uuid, date, ts, int, text) = if pg {
        (
            "UUID",
            "DATE",
            "TIMESTAMPTZ",
            "BIGINT",
            "TEXT COLLATE \"C\"",
        )
    } else {
        ("TEXT", "TEXT", "TEXT", "INTEGER", "TEXT")
    };
    let json = if pg { "JSONB" } else { "TEXT" };
    for sql in [
        format!(
            "CREATE TABLE plain_patient (id {uuid} PRIMARY KEY, data {json} NOT NULL, \
             version {int} NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL, \
             name {text} NOT NULL, \
             id_number {text} NOT NULL, phone {text}, gender {text}, birth_date {date}, \
             dept {text}, total_spent {int}, tier {text}, mrn {text} NOT NULL, \
             visit_count {int}, first_visit {ts})"
        ),
        "CREATE UNIQUE INDEX plain_patient_mrn ON plain_patient (mrn)".into(),
        "CREATE UNIQUE INDEX plain_patient_id_number ON plain_patient (id_number)".into(),
        "CREATE INDEX plain_patient_dept ON plain_patient (dept)".into(),
        "CREATE INDEX plain_patient_tier ON plain_patient (tier)".into(),
        "CREATE INDEX plain_patient_total_spent ON plain_patient (total_spent)".into(),
        // The engine's composite (select, measure, id) indexes: group-bys read only them, and a
        // list filtered on the select and sorted by the measure walks them.
        "CREATE INDEX plain_patient_dept_spent ON plain_patient (dept, total_spent, id)".into(),
        "CREATE INDEX plain_patient_tier_spent ON plain_patient (tier, total_spent, id)".into(),
    ] {
        db.execute(&sql, vec![]).await.expect("plain table");
    }
    let backend = if pg {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let casts: &[&str] = if pg {
        &[
            "",
            "::jsonb",
            "",
            "::timestamptz",
            "::timestamptz",
            "",
            "",
            "",
            "",
            "::date",
            "",
            "",
            "",
            "",
            "",
            "::timestamptz",
        ]
    } else {
        &[]
    };
    let now = kangdao_engine::records::wire_time(time::OffsetDateTime::now_utc());
    let mut pooled = db.acquire().await.expect("acquire");
    for chunk in patients.chunks(FLOOR_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO plain_patient (id, data, version, created_at, updated_at, name, \
             id_number, phone, gender, birth_date, dept, total_spent, tier, mrn, visit_count, \
             first_visit) VALUES {}",
            values_sql(chunk.len(), 16, casts, backend)
        );
        let mut binds = Vec::with_capacity(chunk.len() * 16);
        for p in chunk {
            let id = uuid::Uuid::now_v7();
            binds.push(if pg {
                Bind::Uuid(Some(id))
            } else {
                Bind::Text(Some(id.hyphenated().to_string()))
            });
            binds.push(Bind::Text(Some(Value::Object(p.document()).to_string())));
            binds.push(Bind::Int(Some(1)));
            binds.push(Bind::Text(Some(now.clone())));
            binds.push(Bind::Text(Some(now.clone())));
            let first_visit = if pg {
                p.first_visit.clone()
            } else {
                // SQLite keeps fixed-width UTC text, as the engine does.
                kangdao_engine::records::wire_time(
                    time::OffsetDateTime::parse(
                        &p.first_visit,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .expect("datetime"),
                )
            };
            for v in [
                p.name.clone(),
                p.id_number.clone(),
                p.phone.clone(),
                p.gender.to_string(),
                p.birth_date.clone(),
                p.dept.to_string(),
            ] {
                binds.push(Bind::Text(Some(v)));
            }
            binds.push(Bind::Int(Some(p.total_spent_fen)));
            binds.push(Bind::Text(Some(p.tier.to_string())));
            binds.push(Bind::Text(Some(p.mrn.clone())));
            binds.push(Bind::Int(Some(p.visit_count)));
            binds.push(Bind::Text(Some(first_visit)));
        }
        execute(&mut floor_conn(&mut pooled), &sql, binds).await;
    }
}

fn floor_conn(pooled: &mut kangdao_engine::store::db::PooledConn) -> FloorConn<'_> {
    match pooled {
        kangdao_engine::store::db::PooledConn::Sqlite(c) => FloorConn::Sqlite(c),
        kangdao_engine::store::db::PooledConn::Postgres(c) => FloorConn::Postgres(c),
    }
}

const PLAIN_PAGE: &str = "SELECT id, data, version, created_at, updated_at FROM plain_patient \
     WHERE tier = $1 AND total_spent > $2 ORDER BY total_spent DESC, id DESC LIMIT 50";

/// The page as records: fixed columns and the parsed document, as the engine returns them.
async fn plain_page(db: &Db) -> Vec<PlainRecord> {
    let min = MIN_SPENT_YUAN * 100;
    match db {
        Db::Sqlite(pool) => sqlx::query(PLAIN_PAGE)
            .bind("VIP")
            .bind(min)
            .fetch_all(pool)
            .await
            .expect("plain page")
            .iter()
            .map(|r| PlainRecord {
                id: r.get("id"),
                data: serde_json::from_str(r.get::<&str, _>("data")).expect("json"),
                version: r.get("version"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
            })
            .collect(),
        Db::Postgres(pool) => sqlx::query(PLAIN_PAGE)
            .bind("VIP")
            .bind(min)
            .fetch_all(pool)
            .await
            .expect("plain page")
            .iter()
            .map(|r| PlainRecord {
                id: r.get::<uuid::Uuid, _>("id").to_string(),
                data: r.get::<Value, _>("data"),
                version: r.get("version"),
                created_at: kangdao_engine::records::wire_time(
                    r.get::<time::OffsetDateTime, _>("created_at"),
                ),
                updated_at: kangdao_engine::records::wire_time(
                    r.get::<time::OffsetDateTime, _>("updated_at"),
                ),
            })
            .collect(),
    }
}

async fn plain_aggregate(db: &Db) -> Vec<(String, i64, i64)> {
    fn read<R: Row>(r: &R) -> (String, i64, i64)
    where
        for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> &'a str: sqlx::ColumnIndex<R>,
    {
        (r.get("dept"), r.get("n"), r.get("spent"))
    }
    match db {
        Db::Sqlite(pool) => sqlx::query(
            "SELECT dept, COUNT(*) AS n, SUM(total_spent) AS spent FROM plain_patient \
             GROUP BY dept ORDER BY dept",
        )
        .fetch_all(pool)
        .await
        .expect("plain aggregate")
        .iter()
        .map(read)
        .collect(),
        Db::Postgres(pool) => sqlx::query(
            "SELECT dept, COUNT(*) AS n, SUM(total_spent)::bigint AS spent FROM plain_patient \
             GROUP BY dept ORDER BY dept",
        )
        .fetch_all(pool)
        .await
        .expect("plain aggregate")
        .iter()
        .map(read)
        .collect(),
    }
}

const SAME_TABLE_PAGE: &str = "SELECT id, data, version, created_at, created_by, updated_at, \
     updated_by, deleted_at FROM e_patient WHERE deleted_at IS NULL AND f_tier = $1 \
     AND f_total_spent > $2 ORDER BY f_total_spent DESC, id DESC LIMIT 50";

async fn same_table_page(db: &Db) -> Vec<(String, Value, i64, String)> {
    let min = MIN_SPENT_YUAN * 100;
    match db {
        Db::Sqlite(pool) => sqlx::query(SAME_TABLE_PAGE)
            .bind("VIP")
            .bind(min)
            .fetch_all(pool)
            .await
            .expect("same-table page")
            .iter()
            .map(|r| {
                (
                    r.get("id"),
                    serde_json::from_str(r.get::<&str, _>("data")).expect("json"),
                    r.get("version"),
                    r.get("created_at"),
                )
            })
            .collect(),
        Db::Postgres(pool) => sqlx::query(SAME_TABLE_PAGE)
            .bind("VIP")
            .bind(min)
            .fetch_all(pool)
            .await
            .expect("same-table page")
            .iter()
            .map(|r| {
                (
                    r.get::<uuid::Uuid, _>("id").to_string(),
                    r.get::<Value, _>("data"),
                    r.get("version"),
                    kangdao_engine::records::wire_time(
                        r.get::<time::OffsetDateTime, _>("created_at"),
                    ),
                )
            })
            .collect(),
    }
}

async fn same_table_aggregate(db: &Db) -> Vec<(String, i64, i64)> {
    fn read<R: Row>(r: &R) -> (String, i64, i64)
    where
        for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> &'a str: sqlx::ColumnIndex<R>,
    {
        (r.get("dept"), r.get("n"), r.get("spent"))
    }
    match db {
        Db::Sqlite(pool) => sqlx::query(
            "SELECT f_dept AS dept, COUNT(*) AS n, SUM(f_total_spent) AS spent FROM e_patient \
             WHERE deleted_at IS NULL GROUP BY f_dept ORDER BY f_dept",
        )
        .fetch_all(pool)
        .await
        .expect("same-table aggregate")
        .iter()
        .map(read)
        .collect(),
        Db::Postgres(pool) => sqlx::query(
            "SELECT f_dept AS dept, COUNT(*) AS n, SUM(f_total_spent)::bigint AS spent \
             FROM e_patient WHERE deleted_at IS NULL GROUP BY f_dept ORDER BY f_dept",
        )
        .fetch_all(pool)
        .await
        .expect("same-table aggregate")
        .iter()
        .map(read)
        .collect(),
    }
}
