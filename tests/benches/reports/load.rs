//! Loading the generated clinic: into the engine's own tables, row for row as the engine
//! writes them (documents prepared and sealed by the engine's functions, every projection
//! column from its `ProjectionWriter`), and into the floor's plain typed tables.
//!
//! The engine's bulk create stamps every record with the moment of the call; a clinic's
//! patients were registered over three years, and the new-patients chart groups by
//! `created_at`, so the rows are written here with their own times. Nothing goes to the
//! history (`record_changes`): no chart reads it.

use super::common::{bind_of, execute, values_sql, Bind, FloorConn};
use super::data::{Clinic, PATIENT, SHANGHAI, VISIT};
use kangdao_engine::entities::storage::q;
use kangdao_engine::entities::EntityRuntime;
use kangdao_engine::forms::PrepareContext;
use kangdao_engine::records::projection::{self, ProjectionWriter};
use kangdao_engine::store::db::PooledConn;
use kangdao_engine::store::{Arg, Db};
use kangdao_engine::{Engine, Lang};
use kangdao_tests::Backend;
use serde_json::{Map, Value};
use std::time::Instant;
use time::OffsetDateTime;

/// Bound values per statement, at most (the engine's own bound, under SQLite's 32,766).
const VALUES_PER_STATEMENT: usize = 32_000;
const ROWS_PER_STATEMENT: usize = 400;
/// Statements per transaction while loading.
const STATEMENTS_PER_TRANSACTION: usize = 50;
/// Documents checked against the engine's own `prepare` before loading.
const PREPARED_SAMPLE: usize = 2_000;
const ACTOR: &str = "system";

pub fn backend_of(db: &Db) -> Backend {
    match db.backend() {
        kangdao_engine::store::Backend::Sqlite => Backend::Sqlite,
        kangdao_engine::store::Backend::Postgres => Backend::Postgres,
    }
}

pub fn floor_conn(pooled: &mut PooledConn) -> FloorConn<'_> {
    match pooled {
        PooledConn::Sqlite(c) => FloorConn::Sqlite(c),
        PooledConn::Postgres(c) => FloorConn::Postgres(c),
    }
}

/// One record as the engine's table holds it: the row's values in column order and its
/// side-table rows.
struct EngineRow {
    values: Vec<Arg>,
    side: Vec<(String, Vec<Arg>)>,
}

/// Loads patients and visits into `e_patient` and `e_visit` (indexes dropped for the load and
/// rebuilt from their own definitions after), then checks a sample through the engine.
pub async fn load_engine(engine: &Engine, clinic: &Clinic) {
    let patient_rt = engine.entity(PATIENT).await.expect("patient entity");
    let visit_rt = engine.entity(VISIT).await.expect("visit entity");
    let ctx = PrepareContext {
        lang: Lang::En,
        today: engine.today(),
        now: engine.now(),
        offset: SHANGHAI,
    };
    // The generated documents are exactly what the engine's validation makes of them, so the
    // rows written below are the rows a create would write.
    for (i, p) in clinic.patients.iter().take(PREPARED_SAMPLE).enumerate() {
        let doc = p.document();
        let prepared = patient_rt
            .compiled
            .prepare(&doc, None, &ctx)
            .unwrap_or_else(|e| panic!("patient {i} is invalid: {e:?}"));
        assert_eq!(prepared, doc, "patient {i} as the engine prepares it");
    }
    for (i, v) in clinic.visits.iter().take(PREPARED_SAMPLE).enumerate() {
        let doc = v.document(&clinic.patients);
        let prepared = visit_rt
            .compiled
            .prepare(&doc, None, &ctx)
            .unwrap_or_else(|e| panic!("visit {i} is invalid: {e:?}"));
        assert_eq!(prepared, doc, "visit {i} as the engine prepares it");
    }

    let t = Instant::now();
    let patients = clinic
        .patients
        .iter()
        .map(|p| (p.id, p.created_at, p.document()));
    write_entity(engine, &patient_rt, clinic.patients.len(), patients).await;
    println!(
        "  e_patient: {} rows in {:.1} s",
        clinic.patients.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let visits = clinic
        .visits
        .iter()
        .map(|v| (v.id, v.visit_time, v.document(&clinic.patients)));
    write_entity(engine, &visit_rt, clinic.visits.len(), visits).await;
    println!(
        "  e_visit: {} rows in {:.1} s",
        clinic.visits.len(),
        t.elapsed().as_secs_f64()
    );
}

async fn write_entity(
    engine: &Engine,
    rt: &EntityRuntime,
    count: usize,
    records: impl Iterator<Item = (uuid::Uuid, OffsetDateTime, Map<String, Value>)>,
) {
    let backend = backend_of(&engine.db);
    let writer = ProjectionWriter::new(rt, &engine.keys);
    let mut columns = String::from(
        "\"id\", \"data\", \"version\", \"created_at\", \"created_by\", \"updated_at\", \"updated_by\", \"deleted_at\"",
    );
    let mut per_row = 8;
    for c in writer.columns() {
        columns.push_str(", ");
        columns.push_str(&q(&c));
        per_row += 1;
    }
    let casts: &[&str] = match backend {
        Backend::Postgres => &["", "::jsonb"],
        Backend::Sqlite => &[],
    };
    let rows_per_statement = (VALUES_PER_STATEMENT / per_row).clamp(1, ROWS_PER_STATEMENT);
    let indexes = take_indexes(&engine.db, &rt.table).await;
    let mut pooled = engine.db.acquire().await.expect("acquire");
    let mut in_transaction = 0;
    let mut chunk: Vec<EngineRow> = Vec::with_capacity(rows_per_statement);
    let mut written = 0;
    let mut records = records.peekable();
    while records.peek().is_some() {
        chunk.clear();
        for (id, at, plain) in records.by_ref().take(rows_per_statement) {
            let sealed = projection::seal(rt, &plain, None, None, &engine.keys);
            let mut values = vec![
                Arg::Uuid(Some(id)),
                Arg::Json(Some(Value::Object(sealed))),
                Arg::Int(Some(1)),
                Arg::Time(Some(at)),
                ACTOR.into(),
                Arg::Time(Some(at)),
                ACTOR.into(),
                Arg::Time(None),
            ];
            values.extend(writer.column_values(&plain));
            let side = writer
                .side_rows(&plain)
                .into_iter()
                .map(|(table, values)| (table.to_string(), values))
                .collect();
            chunk.push(EngineRow { values, side });
        }
        if in_transaction == 0 {
            begin(&mut pooled, backend).await;
        }
        let sql = format!(
            "INSERT INTO {} ({columns}) VALUES {}",
            q(&rt.table),
            values_sql(chunk.len(), per_row, casts, backend)
        );
        let mut binds = Vec::with_capacity(chunk.len() * per_row);
        let mut side_rows: Vec<(String, Vec<Bind>)> = Vec::new();
        for row in chunk.drain(..) {
            let id = row.values[0].clone();
            binds.extend(row.values.into_iter().map(|a| bind_of(a, backend)));
            for (table, values) in row.side {
                let at = match side_rows.iter().position(|(t, _)| *t == table) {
                    Some(at) => at,
                    None => {
                        side_rows.push((table, Vec::new()));
                        side_rows.len() - 1
                    }
                };
                for value in values {
                    side_rows[at].1.push(bind_of(id.clone(), backend));
                    side_rows[at].1.push(bind_of(value, backend));
                }
            }
        }
        execute(&mut floor_conn(&mut pooled), &sql, binds).await;
        for (table, binds) in side_rows {
            for part in binds.chunks(2 * ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO {} (record_id, value) VALUES {}",
                    q(&table),
                    values_sql(part.len() / 2, 2, &[], backend)
                );
                execute(&mut floor_conn(&mut pooled), &sql, part.to_vec()).await;
            }
        }
        written += rows_per_statement;
        in_transaction += 1;
        if in_transaction == STATEMENTS_PER_TRANSACTION || records.peek().is_none() {
            plain(&mut pooled, "COMMIT").await;
            in_transaction = 0;
        }
        if written % 500_000 < rows_per_statement {
            println!("    {}: {written} of {count}", rt.table);
        }
    }
    drop(pooled);
    restore_indexes(&engine.db, indexes).await;
}

async fn begin(pooled: &mut PooledConn, backend: Backend) {
    let sql = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    plain(pooled, sql).await;
}

async fn plain(pooled: &mut PooledConn, sql: &str) {
    execute(&mut floor_conn(pooled), sql, Vec::new()).await;
}

/// The table's secondary indexes (name and definition), dropped: a load then appends rows
/// instead of updating a dozen b-trees per row. Constraint indexes (the primary key) stay.
async fn take_indexes(db: &Db, table: &str) -> Vec<(String, String)> {
    let indexes = list_indexes(db, table).await;
    for (name, _) in &indexes {
        db.execute(&format!("DROP INDEX {}", q(name)), vec![])
            .await
            .expect("drop index");
    }
    let left = list_indexes(db, table).await;
    assert!(
        left.is_empty(),
        "{table}: indexes left after dropping: {left:?}"
    );
    indexes
}

async fn list_indexes(db: &Db, table: &str) -> Vec<(String, String)> {
    let rows = match db.backend() {
        kangdao_engine::store::Backend::Postgres => db
            .fetch_all(
                "SELECT indexname AS name, indexdef AS sql FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename = $1 \
                 AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                vec![table.into()],
            )
            .await
            .expect("indexes"),
        kangdao_engine::store::Backend::Sqlite => db
            .fetch_all(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                 AND sql IS NOT NULL",
                vec![table.into()],
            )
            .await
            .expect("indexes"),
    };
    rows.iter()
        .map(|r| {
            (
                r.req_text("name").expect("name"),
                r.req_text("sql").expect("sql"),
            )
        })
        .collect()
}

async fn restore_indexes(db: &Db, indexes: Vec<(String, String)>) {
    for (name, sql) in indexes {
        // The stored definitions read `CREATE [UNIQUE] INDEX name ON …`.
        let sql = sql.replacen(" INDEX ", " INDEX IF NOT EXISTS ", 1);
        db.execute(&sql, vec![])
            .await
            .unwrap_or_else(|e| panic!("rebuilding {name}: {e}"));
    }
}

/// The statistics a production database has: PostgreSQL's VACUUM also sets the visibility
/// map, without which no scan is index-only.
pub async fn analyze(db: &Db) {
    let sql = match db.backend() {
        kangdao_engine::store::Backend::Postgres => "VACUUM ANALYZE",
        kangdao_engine::store::Backend::Sqlite => "ANALYZE",
    };
    db.execute(sql, vec![]).await.expect("analyze");
}

/// The floor's tables: the same facts in plain typed columns, money in fen, no document,
/// with the indexes a developer would add for these questions (the foreign key, the grouped
/// select fields, the time columns).
pub async fn load_floor(db: &Db, clinic: &Clinic) {
    let backend = backend_of(db);
    let pg = backend == Backend::Postgres;
    let (uuid, text, int, ts, boolean) = if pg {
        (
            "UUID",
            "TEXT COLLATE \"C\"",
            "BIGINT",
            "TIMESTAMPTZ",
            "BOOLEAN",
        )
    } else {
        ("TEXT", "TEXT", "INTEGER", "TEXT", "INTEGER")
    };
    for sql in [
        format!(
            "CREATE TABLE floor_patient (id {uuid} PRIMARY KEY, primary_dept {text} NOT NULL, \
             source {text} NOT NULL, tier {text} NOT NULL, total_spent {int}, \
             created_at {ts} NOT NULL)"
        ),
        format!(
            "CREATE TABLE floor_visit (id {uuid} PRIMARY KEY, patient_id {uuid} NOT NULL, \
             dept {text} NOT NULL, visit_time {ts} NOT NULL, amount {int} NOT NULL, \
             return_visit {boolean} NOT NULL, status {text} NOT NULL)"
        ),
    ] {
        db.execute(&sql, vec![]).await.expect("floor table");
    }
    let t = Instant::now();
    let mut pooled = db.acquire().await.expect("acquire");
    let patient_rows = clinic.patients.iter().map(|p| {
        vec![
            Arg::Uuid(Some(p.id)),
            Arg::from(p.primary_dept),
            Arg::from(p.source),
            Arg::from(p.tier),
            Arg::Int(p.total_spent_fen),
            Arg::Time(Some(p.created_at)),
        ]
    });
    insert_plain(
        &mut pooled,
        backend,
        "floor_patient (id, primary_dept, source, tier, total_spent, created_at)",
        6,
        patient_rows,
    )
    .await;
    let visit_rows = clinic.visits.iter().map(|v| {
        vec![
            Arg::Uuid(Some(clinic.patients[v.patient].id)),
            Arg::Uuid(Some(v.id)),
            Arg::from(v.dept),
            Arg::Time(Some(v.visit_time)),
            Arg::Int(Some(v.amount_fen)),
            Arg::Bool(Some(v.return_visit)),
            Arg::from(v.status),
        ]
    });
    insert_plain(
        &mut pooled,
        backend,
        "floor_visit (patient_id, id, dept, visit_time, amount, return_visit, status)",
        7,
        visit_rows,
    )
    .await;
    drop(pooled);
    for sql in [
        "CREATE INDEX floor_patient_dept ON floor_patient (primary_dept)",
        "CREATE INDEX floor_patient_source ON floor_patient (source)",
        "CREATE INDEX floor_patient_tier ON floor_patient (tier)",
        "CREATE INDEX floor_patient_created ON floor_patient (created_at)",
        "CREATE INDEX floor_visit_patient ON floor_visit (patient_id)",
        "CREATE INDEX floor_visit_dept ON floor_visit (dept)",
        "CREATE INDEX floor_visit_time ON floor_visit (visit_time)",
    ] {
        db.execute(sql, vec![]).await.expect("floor index");
    }
    println!(
        "  floor tables: {} + {} rows in {:.1} s",
        clinic.patients.len(),
        clinic.visits.len(),
        t.elapsed().as_secs_f64()
    );
}

async fn insert_plain(
    pooled: &mut PooledConn,
    backend: Backend,
    into: &str,
    per_row: usize,
    rows: impl Iterator<Item = Vec<Arg>>,
) {
    let mut rows = rows.peekable();
    let mut in_transaction = 0;
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        if in_transaction == 0 {
            begin(pooled, backend).await;
        }
        let sql = format!(
            "INSERT INTO {into} VALUES {}",
            values_sql(chunk.len(), per_row, &[], backend)
        );
        let binds = chunk
            .into_iter()
            .flatten()
            .map(|a| bind_of(a, backend))
            .collect();
        execute(&mut floor_conn(pooled), &sql, binds).await;
        in_transaction += 1;
        if in_transaction == STATEMENTS_PER_TRANSACTION || rows.peek().is_none() {
            plain(pooled, "COMMIT").await;
            in_transaction = 0;
        }
    }
}
