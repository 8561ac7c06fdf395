//! Set-up every scenario shares: an engine on a fresh database with a fixed key and a test
//! clock, the `patient` and `visit` definitions, valid ID numbers and raw SQL helpers.

use kangdao_engine::access::Principal;
use kangdao_engine::clock::TestClock;
use kangdao_engine::crypto::Keyring;
use kangdao_engine::forms::checks::id_card_check_char;
use kangdao_engine::records::{ListQuery, Page, Record};
use kangdao_engine::store::{Db, DbOptions};
use kangdao_engine::{Engine, EngineError, Lang, Settings};
pub use kangdao_tests::{Backend, FreshDatabase};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use time::macros::datetime;

/// The master key every scenario's engine uses.
pub const MASTER: [u8; 32] = [7u8; 32];

pub struct Ctx {
    pub engine: Engine,
    pub clock: Arc<TestClock>,
    pub fresh: FreshDatabase,
    pub admin: Principal,
}

impl Ctx {
    pub fn backend(&self) -> Backend {
        self.fresh.backend
    }
    pub fn db(&self) -> &Db {
        &self.engine.db
    }
}

pub async fn connect(url: &str) -> Db {
    Db::connect(&DbOptions {
        url: url.to_string(),
        max_connections: 4,
    })
    .await
    .expect("connect to the test database")
}

/// An engine on a fresh database of `backend`, with the clock at 2026-11-24T09:00:00+08:00.
pub async fn open(backend: Backend) -> Ctx {
    let fresh = FreshDatabase::new(backend).await;
    let db = connect(&fresh.url).await;
    let clock = Arc::new(TestClock::new(datetime!(2026-11-24 09:00:00 +08:00)));
    let engine = Engine::open(
        db,
        Keyring::from_master(&MASTER),
        clock.clone(),
        Settings::default(),
    )
    .await
    .expect("open the engine");
    Ctx {
        engine,
        clock,
        fresh,
        admin: Principal::system(),
    }
}

/// An engine with `patient` and `visit` defined.
pub async fn open_with_entities(backend: Backend) -> Ctx {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(&ctx.admin, patient_definition(), Lang::En)
        .await
        .expect("create patient");
    ctx.engine
        .create_entity(&ctx.admin, visit_definition(), Lang::En)
        .await
        .expect("create visit");
    ctx
}

pub fn patient_fields() -> Vec<Value> {
    vec![
        json!({"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}, "required": true, "max_length": 50}),
        json!({"name": "id_number", "type": "id_card", "label": {"zh": "身份证号", "en": "ID number"}, "unique": true, "sensitive": true}),
        json!({"name": "phone", "type": "phone", "label": {"zh": "手机号", "en": "Mobile"}, "indexed": true, "sensitive": true}),
        json!({"name": "dept", "type": "select", "label": {"zh": "科室", "en": "Department"},
               "options": [{"value": "cardiology"}, {"value": "oncology"}, {"value": "pediatrics"}]}),
        json!({"name": "total_spent", "type": "money", "label": {"zh": "累计消费", "en": "Total spent"}, "min": 0, "default": 0}),
        json!({"name": "tier", "type": "select", "options": [{"value": "normal"}, {"value": "VIP"}], "default": "normal"}),
        json!({"name": "mrn", "type": "text", "unique": true}),
        json!({"name": "tags", "type": "tags"}),
        json!({"name": "birth_date", "type": "date"}),
        json!({"name": "last_visit", "type": "datetime"}),
        json!({"name": "patient_no", "type": "autonumber", "prefix": "P"}),
        json!({"name": "visit_count", "type": "integer"}),
        json!({"name": "note", "type": "textarea"}),
    ]
}

pub fn patient_definition() -> Value {
    json!({"name": "patient", "label": {"zh": "患者", "en": "Patient"}, "fields": patient_fields()})
}

pub fn visit_definition() -> Value {
    json!({"name": "visit", "label": {"zh": "就诊", "en": "Visit"}, "fields": [
        {"name": "patient", "type": "reference", "entity": "patient", "required": true},
        {"name": "amount", "type": "money"},
        {"name": "diagnosis", "type": "text", "sensitive": true},
    ]})
}

/// A valid 18-digit resident ID number (GB 11643), different for each `n` below 100 000.
pub fn id_number(n: u32) -> String {
    // Region 110105, born on 10..19 October of 1950..1999, sequence n % 1000.
    let first17 = format!(
        "110105{}10{}{:03}",
        1950 + n / 1000 % 50,
        10 + n / 100 % 10,
        n % 1000
    );
    assert_eq!(first17.len(), 17, "{first17}");
    let check = id_card_check_char(first17.as_bytes()).expect("17 digits");
    format!("{first17}{check}")
}

/// A valid mainland mobile number, different for each `n`.
pub fn phone(n: u32) -> String {
    format!("139{:08}", 10_000_000 + n)
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub async fn create(ctx: &Ctx, entity: &str, data: Value) -> Record {
    ctx.engine
        .create_record(&ctx.admin, entity, obj(data), Lang::En)
        .await
        .unwrap_or_else(|e| panic!("create {entity}: {e:?}"))
}

pub async fn try_create(ctx: &Ctx, entity: &str, data: Value) -> Result<Record, EngineError> {
    ctx.engine
        .create_record(&ctx.admin, entity, obj(data), Lang::En)
        .await
}

pub async fn list(ctx: &Ctx, entity: &str, query: ListQuery) -> Page<Record> {
    ctx.engine
        .list_records(&ctx.admin, entity, &query)
        .await
        .unwrap_or_else(|e| panic!("list {entity}: {e:?}"))
}

/// The fields named in a validation error's details, sorted.
pub fn detail_fields(e: &EngineError) -> Vec<String> {
    let mut fields: Vec<String> = e.details().iter().map(|d| d.field.clone()).collect();
    fields.sort();
    fields
}

pub fn detail_codes(e: &EngineError) -> Vec<(String, String)> {
    e.details()
        .iter()
        .map(|d| (d.field.clone(), d.code.clone()))
        .collect()
}

/// One value of the first row of `sql` as i64, read with plain sqlx.
pub async fn scalar_i64(ctx: &Ctx, sql: &str) -> i64 {
    match ctx.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&ctx.fresh.url).await.unwrap();
            let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&ctx.fresh.url).await.unwrap();
            let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
    }
}

/// Every table of the database as text, row by row: `(table, row text)`.
pub async fn dump_all_tables(ctx: &Ctx) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match ctx.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&ctx.fresh.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                        .bind(&table)
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                if columns.is_empty() {
                    continue;
                }
                let expr = columns
                    .iter()
                    .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                // As bytes: a blob column need not be UTF-8.
                let rows: Vec<Vec<u8>> =
                    sqlx::query_scalar(&format!("SELECT CAST({expr} AS BLOB) FROM \"{table}\""))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                out.extend(
                    rows.into_iter()
                        .map(|r| (table.clone(), String::from_utf8_lossy(&r).into_owned())),
                );
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&ctx.fresh.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                 AND table_type = 'BASE TABLE' ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for table in tables {
                let (schema, name) = table.split_once('.').unwrap();
                let rows: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT row_to_json(t)::text FROM \"{schema}\".\"{name}\" t"
                ))
                .fetch_all(&pool)
                .await
                .unwrap();
                out.extend(rows.into_iter().map(|r| (table.clone(), r)));
            }
            pool.close().await;
        }
    }
    out
}
