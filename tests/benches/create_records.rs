//! Benchmark 1: creating validated patient records through `Engine::create_records_bulk`,
//! beside the raw-SQL floor (the same rows, plain multi-row INSERTs, values computed before the
//! clock starts).
//!
//! `cargo run --release -p kangdao-tests --bin bench-create [-- --records N --backend sqlite|postgres|both]`

/// The allocator the `kangdao` binary ships with, so the engine is measured as it runs (the
/// floor, in the same process, uses it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common.rs"]
mod common;

use common::*;
use kangdao_engine::access::Principal;
use kangdao_engine::entities::storage::q;
use kangdao_engine::entities::EntityRuntime;
use kangdao_engine::forms::PrepareContext;
use kangdao_engine::records::projection;
use kangdao_engine::store::{Arg, Db};
use kangdao_engine::{Engine, Lang};
use kangdao_tests::{Backend, FreshDatabase};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The rows of one record as the engine stores them, ready to bind.
struct FloorRecord {
    row: Vec<Bind>,
    change: Vec<Bind>,
    side: Vec<(usize, Vec<Bind>)>,
}

struct Phases {
    prepare: Duration,
    seal: Duration,
    project: Duration,
}

#[tokio::main]
async fn main() {
    let args = parse_args(100_000);
    println!(
        "bench-create: {} patients, {} per create_records_bulk call, {} rows per floor INSERT",
        grouped(args.records as f64),
        grouped(BATCH as f64),
        FLOOR_ROWS_PER_STATEMENT
    );
    let t = Instant::now();
    let patients = patients(args.records);
    println!(
        "generated {} patients in {:.1} s",
        grouped(patients.len() as f64),
        t.elapsed().as_secs_f64()
    );
    let mut lines = Vec::new();
    for &backend in &args.backends {
        lines.push(run(backend, &patients).await);
    }
    println!();
    for line in lines {
        println!("{line}");
    }
}

async fn run(backend: Backend, patients: &[Patient]) -> String {
    let name = backend_name(backend);
    let n = patients.len();

    // The engine path.
    let db = FreshDatabase::new(backend).await;
    let engine = engine_with_patients(&db).await;
    let batches: Vec<Vec<Map<String, Value>>> = patients
        .chunks(BATCH)
        .map(|c| c.iter().map(Patient::document).collect())
        .collect();
    let principal = Principal::system();
    let t = Instant::now();
    for batch in batches {
        engine
            .create_records_bulk(&principal, ENTITY, batch, Lang::En)
            .await
            .expect("bulk create");
    }
    let engine_time = t.elapsed();
    assert_eq!(count(&engine.db).await, n as i64);
    let engine_rate = n as f64 / engine_time.as_secs_f64();
    println!(
        "{name:<8} engine  {:>8.2} s  {:>9} rec/s",
        engine_time.as_secs_f64(),
        grouped(engine_rate)
    );

    // Where the engine's CPU time goes, phase by phase, on one thread (no SQL).
    let rt = engine.entity(ENTITY).await.expect("entity");
    let (floor_records, phases) = floor_records(&engine, &rt, patients, backend);
    println!(
        "{name:<8} phases  prepare {:.2} s   seal {:.2} s   projections {:.2} s   (CPU, outside the engine)",
        phases.prepare.as_secs_f64(),
        phases.seal.as_secs_f64(),
        phases.project.as_secs_f64()
    );
    drop(engine);
    drop(db);

    // The floor: a second fresh database with the same entity, plain INSERTs.
    let db = FreshDatabase::new(backend).await;
    let engine = engine_with_patients(&db).await;
    let rt = engine.entity(ENTITY).await.expect("entity");
    let floor_time = insert_floor(&engine.db, &rt, floor_records).await;
    assert_eq!(count(&engine.db).await, n as i64);
    let floor_rate = n as f64 / floor_time.as_secs_f64();
    println!(
        "{name:<8} floor   {:>8.2} s  {:>9} rec/s",
        floor_time.as_secs_f64(),
        grouped(floor_rate)
    );
    let ratio = engine_rate / floor_rate;
    format!(
        "{name:<8} engine {} rec/s   floor {} rec/s   ratio {ratio:.2} (target >= 0.50)",
        grouped(engine_rate),
        grouped(floor_rate)
    )
}

async fn count(db: &Db) -> i64 {
    db.fetch_one("SELECT COUNT(*) AS n FROM \"e_patient\"", vec![])
        .await
        .expect("count")
        .req_int("n")
        .expect("n")
}

/// Computes every bound value of the floor with the engine's own functions (so the rows are
/// the same), timing each phase.
fn floor_records(
    engine: &Engine,
    rt: &EntityRuntime,
    patients: &[Patient],
    backend: Backend,
) -> (Vec<FloorRecord>, Phases) {
    let docs: Vec<Map<String, Value>> = patients.iter().map(Patient::document).collect();
    let ctx = PrepareContext {
        lang: Lang::En,
        today: engine.today(),
        now: engine.now(),
        offset: engine.utc_offset_at(engine.now()),
    };
    let t = Instant::now();
    let plains: Vec<Map<String, Value>> = docs
        .iter()
        .map(|d| rt.compiled.prepare(d, None, &ctx).expect("valid patient"))
        .collect();
    let prepare = t.elapsed();
    let t = Instant::now();
    let sealed: Vec<Map<String, Value>> = plains
        .iter()
        .map(|p| projection::seal(rt, p, None, None, &engine.keys))
        .collect();
    let seal = t.elapsed();
    let t = Instant::now();
    let columns: Vec<_> = rt.columns().collect();
    let sides: Vec<_> = rt.side_tables().collect();
    let now = engine.now();
    let mut out = Vec::with_capacity(plains.len());
    for (plain, sealed) in plains.iter().zip(sealed) {
        let id = Uuid::now_v7();
        let data = Value::Object(sealed);
        let mut row = vec![
            Arg::Uuid(Some(id)),
            Arg::Json(Some(data.clone())),
            Arg::Int(Some(1)),
            Arg::Time(Some(now)),
            "system".into(),
            Arg::Time(Some(now)),
            "system".into(),
            Arg::Time(None),
        ];
        for fs in &columns {
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
            "system".into(),
            Arg::Time(Some(now)),
        ];
        let mut side = Vec::new();
        for (i, fs) in sides.iter().enumerate() {
            for value in projection::side_values(fs, plain.get(&fs.field)) {
                side.push((
                    i,
                    vec![
                        bind_of(Arg::Uuid(Some(id)), backend),
                        bind_of(value, backend),
                    ],
                ));
            }
        }
        out.push(FloorRecord {
            row: row.into_iter().map(|a| bind_of(a, backend)).collect(),
            change: change.into_iter().map(|a| bind_of(a, backend)).collect(),
            side,
        });
    }
    let project = t.elapsed();
    (
        out,
        Phases {
            prepare,
            seal,
            project,
        },
    )
}

/// Plain multi-row INSERTs of the entity rows, their history rows and side-table rows, one
/// transaction per batch of [`BATCH`] records (as the engine path), nothing else.
async fn insert_floor(db: &Db, rt: &EntityRuntime, records: Vec<FloorRecord>) -> Duration {
    let pg = db.backend() == kangdao_engine::store::Backend::Postgres;
    let json = if pg { "::jsonb" } else { "" };
    let backend = if pg {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let mut columns = String::from(
        "\"id\", \"data\", \"version\", \"created_at\", \"created_by\", \"updated_at\", \"updated_by\", \"deleted_at\"",
    );
    for fs in rt.columns() {
        if let Some(c) = fs.column() {
            columns.push_str(", ");
            columns.push_str(&q(c));
        }
    }
    let per_row = 8 + rt.columns().count();
    let row_casts = ["", json];
    let change_casts = ["", "", "", "", "", json, json];
    let side_tables: Vec<String> = rt
        .side_tables()
        .filter_map(|fs| fs.sql_name().map(q))
        .collect();
    // Every statement and its values are built before the clock starts.
    let mut plan: Vec<Vec<(String, Vec<Bind>)>> = Vec::new();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let batch: Vec<FloorRecord> = records.by_ref().take(BATCH).collect();
        let mut statements = Vec::new();
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let chunk: Vec<FloorRecord> = batch.by_ref().take(FLOOR_ROWS_PER_STATEMENT).collect();
            let mut rows = Vec::with_capacity(chunk.len() * per_row);
            let mut changes = Vec::with_capacity(chunk.len() * 9);
            let mut sides: Vec<Vec<Bind>> = vec![Vec::new(); side_tables.len()];
            for r in chunk.iter() {
                rows.extend(r.row.iter().cloned());
                changes.extend(r.change.iter().cloned());
                for (i, b) in &r.side {
                    sides[*i].extend(b.iter().cloned());
                }
            }
            statements.push((
                format!(
                    "INSERT INTO {} ({columns}) VALUES {}",
                    q(&rt.table),
                    values_sql(chunk.len(), per_row, &row_casts, backend)
                ),
                rows,
            ));
            statements.push((
                format!(
                    "INSERT INTO record_changes (id, entity, record_id, version, op, data, changed_fields, actor, at) VALUES {}",
                    values_sql(chunk.len(), 9, &change_casts, backend)
                ),
                changes,
            ));
            for (side, binds) in side_tables.iter().zip(sides) {
                if !binds.is_empty() {
                    statements.push((
                        format!(
                            "INSERT INTO {side} (record_id, value) VALUES {}",
                            values_sql(binds.len() / 2, 2, &[], backend)
                        ),
                        binds,
                    ));
                }
            }
        }
        plan.push(statements);
    }
    let t = Instant::now();
    for statements in plan {
        let mut tx = match db {
            Db::Sqlite(p) => FloorTx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await.expect("begin")),
            Db::Postgres(p) => FloorTx::Postgres(p.begin().await.expect("begin")),
        };
        for (sql, binds) in statements {
            execute(&mut tx.conn(), &sql, binds).await;
        }
        tx.commit().await;
    }
    t.elapsed()
}

enum FloorTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl FloorTx {
    fn conn(&mut self) -> FloorConn<'_> {
        match self {
            FloorTx::Sqlite(t) => FloorConn::Sqlite(t),
            FloorTx::Postgres(t) => FloorConn::Postgres(t),
        }
    }

    async fn commit(self) {
        match self {
            FloorTx::Sqlite(t) => t.commit().await.expect("commit"),
            FloorTx::Postgres(t) => t.commit().await.expect("commit"),
        }
    }
}
