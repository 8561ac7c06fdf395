//! The fixed dataset of the chart scenarios, small enough to compute every answer by hand.
//!
//! Patients (owner `doctor`, department `dept`):
//!
//! | name | dept | source | total_spent | doctor |
//! |---|---|---|---|---|
//! | 张三 | cardiology | wechat | 100.00 | 王医生 |
//! | 李四 | cardiology | referral | 50.50 | 李医生 |
//! | 王五 | oncology | wechat | 200.00 | 王医生 |
//! | 赵六 | oncology | — | 0 | — |
//!
//! Visits (Beijing time):
//!
//! | # | patient | visit_time | amount | cost | status | return_visit |
//! |---|---|---|---|---|---|---|
//! | V1 | 张三 | 2026-10-31 23:30 | 100 | 40 | completed | false |
//! | V2 | 张三 | 2026-11-01 00:30 | 200 | 100 | completed | true |
//! | V3 | 李四 | 2026-11-15 10:00 | 50 | 0 | completed | true |
//! | V4 | 王五 | 2026-12-31 23:30 | 300 | 100 | cancelled | false |
//! | V5 | 王五 | 2027-01-01 00:30 | — | — | completed | false |
//! | V6 | 赵六 | 2026-09-30 23:59 | 10 | 5 | completed | true |

use crate::support::*;
use kangdao_engine::access::users::{create_user, NewUser};
use kangdao_engine::reports::{ChartAnswer, ChartRun, ChartSpec};
use kangdao_engine::{EngineError, Lang};
use serde_json::{json, Value};
use uuid::Uuid;

pub struct Clinic {
    pub ctx: Ctx,
    pub doctor_wang: Uuid,
    pub doctor_li: Uuid,
}

pub async fn clinic(backend: Backend) -> Clinic {
    let ctx = open(backend).await;
    let patient = json!({"name": "patient", "owner_field": "doctor", "department_field": "dept", "fields": [
        {"name": "name", "type": "text", "required": true},
        {"name": "dept", "type": "select", "options": [
            {"value": "cardiology", "label": {"zh": "心内科", "en": "Cardiology"}},
            {"value": "oncology", "label": {"zh": "肿瘤科"}}]},
        {"name": "source", "type": "select", "options": [
            {"value": "wechat", "label": {"zh": "微信", "en": "WeChat"}},
            {"value": "referral", "label": {"zh": "转介绍", "en": "Referral"}}]},
        {"name": "total_spent", "type": "money"},
        {"name": "doctor", "type": "user"},
        {"name": "id_number", "type": "id_card", "sensitive": true},
    ]});
    let visit = json!({"name": "visit", "fields": [
        {"name": "patient", "type": "reference", "entity": "patient", "required": true},
        {"name": "visit_time", "type": "datetime"},
        {"name": "amount", "type": "money"},
        {"name": "cost", "type": "money"},
        {"name": "status", "type": "select", "options": [{"value": "completed"}, {"value": "cancelled"}]},
        {"name": "return_visit", "type": "boolean"},
        {"name": "diagnosis", "type": "text", "sensitive": true},
    ]});
    for definition in [patient, visit] {
        ctx.engine
            .create_entity(&ctx.admin, definition, Lang::En)
            .await
            .expect("define");
    }
    let user = |username: &str, display: &str| NewUser {
        username: username.into(),
        password: "a-long-enough-password-1".into(),
        display_name: Some(display.into()),
        is_admin: false,
        roles: vec![],
        departments: vec![],
    };
    let doctor_wang = create_user(ctx.db(), ctx.clock.as_ref(), user("dr_wang", "王医生"))
        .await
        .expect("user")
        .id;
    let doctor_li = create_user(ctx.db(), ctx.clock.as_ref(), user("dr_li", "李医生"))
        .await
        .expect("user")
        .id;
    let p1 = create(
        &ctx,
        "patient",
        json!({"name": "张三", "dept": "cardiology", "source": "wechat",
        "total_spent": 100, "doctor": doctor_wang.to_string()}),
    )
    .await
    .id;
    let p2 = create(
        &ctx,
        "patient",
        json!({"name": "李四", "dept": "cardiology", "source": "referral",
        "total_spent": 50.5, "doctor": doctor_li.to_string()}),
    )
    .await
    .id;
    let p3 = create(
        &ctx,
        "patient",
        json!({"name": "王五", "dept": "oncology", "source": "wechat",
        "total_spent": 200, "doctor": doctor_wang.to_string()}),
    )
    .await
    .id;
    let p4 = create(
        &ctx,
        "patient",
        json!({"name": "赵六", "dept": "oncology", "total_spent": 0}),
    )
    .await
    .id;
    let visits = [
        (
            p1,
            "2026-10-31T23:30:00+08:00",
            json!(100),
            json!(40),
            "completed",
            false,
        ),
        (
            p1,
            "2026-11-01T00:30:00+08:00",
            json!(200),
            json!(100),
            "completed",
            true,
        ),
        (
            p2,
            "2026-11-15T10:00:00+08:00",
            json!(50),
            json!(0),
            "completed",
            true,
        ),
        (
            p3,
            "2026-12-31T23:30:00+08:00",
            json!(300),
            json!(100),
            "cancelled",
            false,
        ),
        (
            p3,
            "2027-01-01T00:30:00+08:00",
            Value::Null,
            Value::Null,
            "completed",
            false,
        ),
        (
            p4,
            "2026-09-30T23:59:00+08:00",
            json!(10),
            json!(5),
            "completed",
            true,
        ),
    ];
    for (patient, at, amount, cost, status, back) in visits {
        create(
            &ctx,
            "visit",
            json!({"patient": patient.to_string(), "visit_time": at,
            "amount": amount, "cost": cost, "status": status, "return_visit": back,
            "diagnosis": "flu"}),
        )
        .await;
    }
    Clinic {
        ctx,
        doctor_wang,
        doctor_li,
    }
}

pub fn spec(v: Value) -> ChartSpec {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("spec {v}: {e}"))
}

pub async fn chart(ctx: &Ctx, v: Value) -> ChartAnswer {
    ctx.engine
        .run_chart(&ctx.admin, &spec(v.clone()), &ChartRun::default())
        .await
        .unwrap_or_else(|e| panic!("{v}: {e:?}"))
}

pub async fn chart_as(
    ctx: &Ctx,
    who: &kangdao_engine::access::Principal,
    v: Value,
) -> Result<ChartAnswer, EngineError> {
    ctx.engine
        .run_chart(who, &spec(v), &ChartRun::default())
        .await
}

pub fn rows(answer: &ChartAnswer) -> Value {
    json!(answer.rows)
}
