//! The reports benchmark's data: a seeded clinic of patients and visits, the two entities
//! that hold them, and what each generated record looks like as a document.
//!
//! Every figure comes from splitmix64 with the run's seed and from offsets before the run's
//! "now" (the engine's clock is set to it), so a run answers the same charts every time.

use super::common::Rng;
use serde_json::{json, Map, Value};
use time::{Date, Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

pub const PATIENT: &str = "patient";
pub const VISIT: &str = "visit";

/// Asia/Shanghai, the engine's default zone: UTC+8 all year (no daylight saving since 1991).
pub const SHANGHAI: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("UTC+8"),
};

/// Departments with a hospital's skew (weights out of 100): internal medicine sees most.
pub const DEPARTMENTS: [(&str, &str, u64); 12] = [
    ("internal", "内科", 18),
    ("surgery", "外科", 14),
    ("pediatrics", "儿科", 12),
    ("gynecology", "妇产科", 10),
    ("cardiology", "心内科", 9),
    ("orthopedics", "骨科", 8),
    ("ophthalmology", "眼科", 7),
    ("dermatology", "皮肤科", 6),
    ("ent", "耳鼻喉科", 5),
    ("stomatology", "口腔科", 5),
    ("oncology", "肿瘤科", 4),
    ("tcm", "中医科", 2),
];

/// Where patients come from.
pub const SOURCES: [(&str, &str, u64); 7] = [
    ("walk_in", "自行就诊", 30),
    ("wechat", "微信", 22),
    ("referral", "转诊", 15),
    ("online", "线上预约", 12),
    ("insurance", "医保合作", 9),
    ("campaign", "市场活动", 7),
    ("community", "社区义诊", 5),
];

pub const TIERS: [(&str, &str); 2] = [("normal", "普通"), ("VIP", "VIP")];
pub const STATUSES: [(&str, &str, u64); 3] = [
    ("completed", "已完成", 85),
    ("cancelled", "已取消", 8),
    ("no_show", "未到诊", 7),
];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "罗",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文",
];

/// Patients are registered over the last three years, visits happen over the last two.
const PATIENT_SPAN_DAYS: i64 = 3 * 365;
const VISIT_SPAN_DAYS: i64 = 2 * 365;

fn options(values: &[(&str, &str)]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|(v, zh)| json!({"value": v, "label": {"zh": zh, "en": v}}))
            .collect(),
    )
}

fn weighted_options(values: &[(&str, &str, u64)]) -> Value {
    options(
        &values
            .iter()
            .map(|(v, zh, _)| (*v, *zh))
            .collect::<Vec<_>>(),
    )
}

/// The patient entity: what the six charts group, sum and bucket, plus a name (a text field
/// projects three columns) and two plain fields, so rows are as wide as a clinic's.
pub fn patient_definition() -> Value {
    json!({
        "name": PATIENT,
        "label": {"zh": "患者", "en": "Patient"},
        "fields": [
            {"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}, "required": true, "max_length": 50},
            {"name": "gender", "type": "select", "options": options(&[("male", "男"), ("female", "女")])},
            {"name": "birth_date", "type": "date"},
            {"name": "primary_dept", "type": "select", "indexed": true, "options": weighted_options(&DEPARTMENTS)},
            {"name": "source", "type": "select", "indexed": true, "options": weighted_options(&SOURCES)},
            {"name": "tier", "type": "select", "indexed": true, "options": options(&TIERS)},
            {"name": "total_spent", "type": "money", "min": 0, "indexed": true}
        ]
    })
}

/// The visit entity: each visit references its patient.
pub fn visit_definition() -> Value {
    json!({
        "name": VISIT,
        "label": {"zh": "就诊", "en": "Visit"},
        "fields": [
            {"name": "patient", "type": "reference", "entity": PATIENT, "required": true},
            {"name": "dept", "type": "select", "indexed": true, "options": weighted_options(&DEPARTMENTS)},
            {"name": "visit_time", "type": "datetime", "indexed": true, "required": true},
            {"name": "amount", "type": "money", "min": 0, "indexed": true},
            {"name": "return_visit", "type": "boolean"},
            {"name": "status", "type": "select", "indexed": true, "options": weighted_options(&STATUSES)}
        ]
    })
}

pub struct Patient {
    pub id: Uuid,
    pub name: String,
    pub gender: &'static str,
    pub birth_date: Date,
    pub primary_dept: &'static str,
    pub source: &'static str,
    pub tier: &'static str,
    /// In fen; one patient in fifty has no figure yet.
    pub total_spent_fen: Option<i64>,
    pub created_at: OffsetDateTime,
}

pub struct Visit {
    pub id: Uuid,
    /// Index into the patients.
    pub patient: usize,
    pub dept: &'static str,
    pub visit_time: OffsetDateTime,
    pub amount_fen: i64,
    pub return_visit: bool,
    pub status: &'static str,
}

pub struct Clinic {
    pub now: OffsetDateTime,
    /// Ordered by `created_at` (and so by id, which is time-ordered).
    pub patients: Vec<Patient>,
    /// Ordered by `visit_time` (and so by id).
    pub visits: Vec<Visit>,
}

fn pick_weighted(rng: &mut Rng, values: &[(&'static str, &'static str, u64)]) -> &'static str {
    let total: u64 = values.iter().map(|v| v.2).sum();
    let mut x = rng.below(total);
    for (value, _, weight) in values {
        if x < *weight {
            return value;
        }
        x -= weight;
    }
    values[values.len() - 1].0
}

/// A UUIDv7 for an instant, its random bits from the seeded generator: time-ordered like the
/// engine's own ids, and the same on every run.
fn uuid_at(at: OffsetDateTime, rng: &mut Rng) -> Uuid {
    let millis = (at.unix_timestamp_nanos() / 1_000_000) as u64;
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    random[8..].copy_from_slice(&rng.next_u64().to_le_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// Whole seconds, so every backend stores and answers the same instant.
fn seconds_before(now: OffsetDateTime, seconds: i64) -> OffsetDateTime {
    now - Duration::seconds(seconds)
}

pub fn generate(patients: usize, visits: usize, seed: u64, now: OffsetDateTime) -> Clinic {
    let now = now.replace_nanosecond(0).expect("whole second");
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(patients);
    for _ in 0..patients {
        // More registrations lately: the density doubles over the three years.
        let age = (1.0 - rng.unit().sqrt()) * (PATIENT_SPAN_DAYS * 86_400) as f64;
        let created_at = seconds_before(now, age as i64);
        let given = if rng.below(3) == 0 {
            format!("{}{}", rng.pick(&GIVEN), rng.pick(&GIVEN))
        } else {
            rng.pick(&GIVEN).to_string()
        };
        let name = format!("{}{given}", rng.pick(&SURNAMES));
        let gender = if rng.below(2) == 0 { "male" } else { "female" };
        let birth_date = Date::from_julian_day(
            Date::from_calendar_date(1935, time::Month::January, 1)
                .expect("date")
                .to_julian_day()
                + rng.below(365 * 88) as i32,
        )
        .expect("birth date");
        let primary_dept = pick_weighted(&mut rng, &DEPARTMENTS);
        let source = pick_weighted(&mut rng, &SOURCES);
        let tier = if rng.below(10) == 0 { "VIP" } else { "normal" };
        // Skewed spending: most spend little, VIPs more.
        let u = rng.unit();
        let scale = if tier == "VIP" {
            8_000_000.0
        } else {
            1_200_000.0
        };
        let total_spent_fen = (rng.below(50) != 0).then_some((u * u * scale) as i64);
        out.push(Patient {
            id: Uuid::nil(),
            name,
            gender,
            birth_date,
            primary_dept,
            source,
            tier,
            total_spent_fen,
            created_at,
        });
    }
    out.sort_by_key(|p| p.created_at);
    for p in &mut out {
        p.id = uuid_at(p.created_at, &mut rng);
    }

    let mut times: Vec<OffsetDateTime> = (0..visits)
        .map(|_| seconds_before(now, rng.below((VISIT_SPAN_DAYS * 86_400) as u64) as i64))
        .collect();
    times.sort();
    let window_start = now - Duration::days(VISIT_SPAN_DAYS);
    let mut seen = vec![false; out.len()];
    let mut visit_rows = Vec::with_capacity(visits);
    for visit_time in times {
        // A visit is by a patient registered by then.
        let registered = out.partition_point(|p| p.created_at <= visit_time).max(1);
        let patient = rng.below(registered as u64) as usize;
        // A return visit: the patient came before, in the window or (for patients older than
        // the window) before it, which half of them did.
        let before_window = out[patient].created_at < window_start && patient.is_multiple_of(2);
        let return_visit = seen[patient] || before_window;
        seen[patient] = true;
        let dept = if rng.below(10) < 7 {
            out[patient].primary_dept
        } else {
            pick_weighted(&mut rng, &DEPARTMENTS)
        };
        let u = rng.unit();
        visit_rows.push(Visit {
            id: uuid_at(visit_time, &mut rng),
            patient,
            dept,
            visit_time,
            amount_fen: 1_000 + (u * u * 300_000.0) as i64,
            return_visit,
            status: pick_weighted(&mut rng, &STATUSES),
        });
    }
    Clinic {
        now,
        patients: out,
        visits: visit_rows,
    }
}

/// Yuan from fen, as the engine's money values read in JSON.
pub fn yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// Money in a document as the engine normalises it: whole yuan as an integer.
fn money_json(fen: i64) -> Value {
    if fen % 100 == 0 {
        Value::from(fen / 100)
    } else {
        Value::from(yuan(fen))
    }
}

/// RFC 3339 in the configured zone, as a client sends it.
pub fn local_text(t: OffsetDateTime) -> String {
    t.to_offset(SHANGHAI)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
}

impl Patient {
    pub fn document(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.clone()));
        m.insert("gender".into(), Value::from(self.gender));
        m.insert(
            "birth_date".into(),
            Value::from(kangdao_engine::store::db::format_date(self.birth_date)),
        );
        m.insert("primary_dept".into(), Value::from(self.primary_dept));
        m.insert("source".into(), Value::from(self.source));
        m.insert("tier".into(), Value::from(self.tier));
        if let Some(fen) = self.total_spent_fen {
            m.insert("total_spent".into(), money_json(fen));
        }
        m
    }
}

impl Visit {
    pub fn document(&self, patients: &[Patient]) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "patient".into(),
            Value::from(patients[self.patient].id.hyphenated().to_string()),
        );
        m.insert("dept".into(), Value::from(self.dept));
        // As the engine stores a datetime: fixed-width UTC.
        m.insert(
            "visit_time".into(),
            Value::from(kangdao_engine::records::wire_time(self.visit_time)),
        );
        m.insert("amount".into(), money_json(self.amount_fen));
        m.insert("return_visit".into(), Value::from(self.return_visit));
        m.insert("status".into(), Value::from(self.status));
        m
    }
}
