//! Shared pieces of the benchmarks: arguments, a seeded generator of realistic patients, the
//! patient entity, engine set-up on a fresh database, and plain-SQL binding for the floors.
//!
//! Not a test: the benchmark binaries are run by hand in release (`docs/benchmarks.md`).

#![allow(dead_code)]

use kangdao_engine::access::Principal;
use kangdao_engine::clock::SystemClock;
use kangdao_engine::crypto::Keyring;
use kangdao_engine::forms::checks::id_card_check_char;
use kangdao_engine::store::{Arg, Db, DbOptions};
use kangdao_engine::{Engine, Lang, Settings};
use kangdao_tests::{Backend, FreshDatabase};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub const ENTITY: &str = "patient";
pub const BATCH: usize = 5_000;
/// Rows per plain multi-row INSERT: the engine's own figure, well under both backends' limits.
pub const FLOOR_ROWS_PER_STATEMENT: usize = 400;

pub struct Args {
    pub records: usize,
    pub backends: Vec<Backend>,
}

pub fn parse_args(default_records: usize) -> Args {
    let mut records = default_records;
    let mut backends = Backend::ALL.to_vec();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--records" => {
                records = it
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .expect("--records N");
            }
            "--backend" => {
                backends = match it.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => Backend::ALL.to_vec(),
                    other => panic!("--backend sqlite|postgres|both, not {other:?}"),
                };
            }
            other => {
                panic!("unknown argument {other} (use --records N --backend sqlite|postgres|both)")
            }
        }
    }
    Args { records, backends }
}

pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// splitmix64: small, seeded, the same figures on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub const DEPTS: [&str; 10] = [
    "cardiology",
    "oncology",
    "neurology",
    "pediatrics",
    "orthopedics",
    "dermatology",
    "gynecology",
    "ophthalmology",
    "endocrinology",
    "general",
];
const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文",
];
const AREAS: [&str; 8] = [
    "110105", "310104", "440106", "320102", "330106", "510107", "420102", "370202",
];
const TAGS: [&str; 6] = [
    "diabetes",
    "hypertension",
    "follow_up",
    "allergy",
    "insured",
    "referral",
];
const MOBILE_PREFIXES: [&str; 10] = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "158",
];

/// The patient entity a hospital would define: sensitive identity fields, unique keys, and
/// indexes on the fields its lists and charts filter, sort and group by.
pub fn patient_definition() -> Value {
    json!({
        "name": ENTITY,
        "label": {"zh": "患者", "en": "Patient"},
        "fields": [
            {"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}, "required": true, "max_length": 50},
            {"name": "id_number", "type": "id_card", "label": {"zh": "身份证号", "en": "ID number"}, "sensitive": true, "unique": true},
            {"name": "phone", "type": "phone", "label": {"zh": "手机号", "en": "Phone"}, "sensitive": true},
            {"name": "gender", "type": "select", "options": [{"value": "male"}, {"value": "female"}]},
            {"name": "birth_date", "type": "date"},
            {"name": "dept", "type": "select", "indexed": true,
             "options": DEPTS.iter().map(|d| json!({"value": d})).collect::<Vec<_>>()},
            {"name": "total_spent", "type": "money", "min": 0, "indexed": true},
            {"name": "tier", "type": "select", "indexed": true,
             "options": [{"value": "normal"}, {"value": "silver"}, {"value": "gold"}, {"value": "VIP"}]},
            {"name": "tags", "type": "tags"},
            {"name": "mrn", "type": "text", "unique": true, "max_length": 20},
            {"name": "visit_count", "type": "integer", "min": 0, "max": 10000},
            {"name": "first_visit", "type": "datetime"}
        ],
        "department_field": "dept"
    })
}

/// One generated patient, as a client would send it.
pub struct Patient {
    pub name: String,
    pub id_number: String,
    pub phone: String,
    pub gender: &'static str,
    pub birth_date: String,
    pub dept: &'static str,
    pub total_spent_fen: i64,
    pub tier: &'static str,
    pub tags: Vec<&'static str>,
    pub mrn: String,
    pub visit_count: i64,
    pub first_visit: String,
}

impl Patient {
    pub fn document(&self) -> Map<String, Value> {
        let v = json!({
            "name": self.name,
            "id_number": self.id_number,
            "phone": self.phone,
            "gender": self.gender,
            "birth_date": self.birth_date,
            "dept": self.dept,
            "total_spent": self.total_spent_fen as f64 / 100.0,
            "tier": self.tier,
            "tags": self.tags,
            "mrn": self.mrn,
            "visit_count": self.visit_count,
            "first_visit": self.first_visit,
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }
}

/// `n` distinct, valid patients from a fixed seed: the same rows on every run and backend.
pub fn patients(n: usize) -> Vec<Patient> {
    let mut rng = Rng::new(0x4B41_4E47_4441_4F21);
    let mut ids = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    const DAYS_IN_MONTH: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for i in 0..n {
        let (id_number, birth_date, gender) = loop {
            let year = 1930 + rng.below(90);
            let month = 1 + rng.below(12);
            let day = 1 + rng.below(DAYS_IN_MONTH[(month - 1) as usize]);
            let seq = rng.below(1000);
            let first17 = format!("{}{year:04}{month:02}{day:02}{seq:03}", rng.pick(&AREAS));
            let check = id_card_check_char(first17.as_bytes()).expect("17 digits");
            let id = format!("{first17}{check}");
            if ids.insert(id.clone()) {
                let gender = if seq % 2 == 1 { "male" } else { "female" };
                break (id, format!("{year:04}-{month:02}-{day:02}"), gender);
            }
        };
        let given = if rng.below(3) == 0 {
            format!("{}{}", rng.pick(&GIVEN), rng.pick(&GIVEN))
        } else {
            rng.pick(&GIVEN).to_string()
        };
        let name = format!("{}{given}", rng.pick(&SURNAMES));
        let phone = format!(
            "{}{:08}",
            rng.pick(&MOBILE_PREFIXES),
            rng.below(100_000_000)
        );
        let tier = match rng.below(100) {
            0..=4 => "VIP",
            5..=19 => "gold",
            20..=49 => "silver",
            _ => "normal",
        };
        // Skewed spending: most patients spend little, VIPs more.
        let u = rng.unit();
        let scale = if tier == "VIP" {
            5_000_000.0
        } else {
            1_500_000.0
        };
        let total_spent_fen = (u * u * scale) as i64;
        let mut tags = Vec::new();
        for _ in 0..rng.below(4) {
            let t = *rng.pick(&TAGS);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let first_visit = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+08:00",
            2015 + rng.below(11),
            1 + rng.below(12),
            1 + rng.below(28),
            8 + rng.below(10),
            rng.below(60),
            rng.below(60)
        );
        out.push(Patient {
            name,
            id_number,
            phone,
            gender,
            birth_date,
            dept: DEPTS[rng.below(DEPTS.len() as u64) as usize],
            total_spent_fen,
            tier,
            tags,
            mrn: format!("M{:09}", i + 1),
            visit_count: rng.below(60) as i64,
            first_visit,
        });
    }
    out
}

/// One key for every benchmark database, so ciphertexts and hashes are comparable.
pub fn keyring() -> Keyring {
    Keyring::from_master(&[0x5A; 32])
}

/// An engine over `db`, with the patient entity created.
pub async fn engine_with_patients(db: &FreshDatabase) -> Engine {
    let pool = Db::connect(&DbOptions {
        url: db.url.clone(),
        max_connections: 4,
    })
    .await
    .expect("connect");
    let engine = Engine::open(pool, keyring(), Arc::new(SystemClock), Settings::default())
        .await
        .expect("open engine");
    engine
        .create_entity(&Principal::system(), patient_definition(), Lang::En)
        .await
        .expect("create the patient entity");
    engine
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Thousands separators: 61234.5 → "61,235".
pub fn grouped(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A value bound by the floors through plain sqlx, in the backend's native encoding and
/// computed before the clock starts.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Uuid(Option<uuid::Uuid>),
    Time(Option<time::OffsetDateTime>),
    Date(Option<time::Date>),
}

/// The engine's `Arg` in the backend's storage encoding (SQLite: text for UUIDs, times, dates
/// and JSON).
pub fn bind_of(arg: Arg, backend: Backend) -> Bind {
    let sqlite = backend == Backend::Sqlite;
    match arg {
        Arg::Text(v) => Bind::Text(v),
        Arg::Int(v) => Bind::Int(v),
        Arg::Real(v) => Bind::Real(v),
        Arg::Bool(v) => Bind::Bool(v),
        Arg::Json(v) => Bind::Text(v.map(|v| v.to_string())),
        Arg::Uuid(v) if sqlite => Bind::Text(v.map(|u| u.hyphenated().to_string())),
        Arg::Uuid(v) => Bind::Uuid(v),
        Arg::Time(v) if sqlite => Bind::Text(v.map(kangdao_engine::records::wire_time)),
        Arg::Time(v) => Bind::Time(v),
        Arg::Date(v) if sqlite => Bind::Text(v.map(kangdao_engine::store::db::format_date)),
        Arg::Date(v) => Bind::Date(v),
    }
}

/// Runs `sql` with `binds` on a connection of either backend.
pub async fn execute(conn: &mut FloorConn<'_>, sql: &str, binds: Vec<Bind>) {
    match conn {
        FloorConn::Sqlite(c) => {
            let mut query = sqlx::query(sql);
            for b in binds {
                query = match b {
                    Bind::Text(v) => query.bind(v),
                    Bind::Int(v) => query.bind(v),
                    Bind::Real(v) => query.bind(v),
                    Bind::Bool(v) => query.bind(v),
                    Bind::Uuid(v) => query.bind(v.map(|u| u.hyphenated().to_string())),
                    Bind::Time(v) => query.bind(v.map(kangdao_engine::records::wire_time)),
                    Bind::Date(v) => query.bind(v.map(kangdao_engine::store::db::format_date)),
                };
            }
            query.execute(&mut **c).await.expect("floor statement");
        }
        FloorConn::Postgres(c) => {
            let mut query = sqlx::query(sql);
            for b in binds {
                query = match b {
                    Bind::Text(v) => query.bind(v),
                    Bind::Int(v) => query.bind(v),
                    Bind::Real(v) => query.bind(v),
                    Bind::Bool(v) => query.bind(v),
                    Bind::Uuid(v) => query.bind(v),
                    Bind::Time(v) => query.bind(v),
                    Bind::Date(v) => query.bind(v),
                };
            }
            query.execute(&mut **c).await.expect("floor statement");
        }
    }
}

pub enum FloorConn<'c> {
    Sqlite(&'c mut sqlx::SqliteConnection),
    Postgres(&'c mut sqlx::PgConnection),
}

/// `($1, $2, …)` groups for `rows` rows of `per_row` values; `casts[i]` is appended to the
/// i-th placeholder of each row (`::jsonb` on PostgreSQL). SQLite gets plain `?`: with
/// numbered or named parameters, sqlx looks each one up by name (`sqlite3_bind_parameter_name`
/// is a linear scan), which is quadratic in the number of parameters.
pub fn values_sql(rows: usize, per_row: usize, casts: &[&str], backend: Backend) -> String {
    let mut sql = String::with_capacity(rows * per_row * 6);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for i in 0..per_row {
            if i > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if backend == Backend::Sqlite {
                sql.push('?');
            } else {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            if let Some(cast) = casts.get(i) {
                sql.push_str(cast);
            }
        }
        sql.push(')');
    }
    sql
}
