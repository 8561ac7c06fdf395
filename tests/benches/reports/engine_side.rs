//! The engine's side of the reports benchmark: the six charts saved (which builds their
//! composite indexes) and gathered on one dashboard, each chart run through
//! `Engine::run_chart`, the dashboard through `Engine::dashboard_data` uncached (a fresh
//! engine each time, so an empty cache) and from the exact cache.

use super::common::keyring;
use super::floor::{Cell, Chart, Rows};
use kangdao_engine::access::Principal;
use kangdao_engine::reports::{ChartAnswer, ChartRun, ChartSpec};
use kangdao_engine::{Engine, Lang, Settings};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const DASHBOARD: &str = "operations";

pub fn spec_of(chart: Chart) -> ChartSpec {
    serde_json::from_value(chart.spec()).unwrap_or_else(|e| panic!("{}: {e}", chart.name()))
}

/// Saves the charts and a dashboard holding them, in a two-column grid.
pub async fn save_dashboard(engine: &Engine, charts: &[Chart]) {
    let principal = Principal::system();
    for &chart in charts {
        engine
            .create_chart(
                &principal,
                json!({"name": chart.name(), "label": chart.label(), "spec": chart.spec()}),
            )
            .await
            .unwrap_or_else(|e| panic!("saving {}: {e}", chart.name()));
    }
    let items: Vec<Value> = charts
        .iter()
        .enumerate()
        .map(
            |(i, c)| json!({"chart": c.name(), "x": (i % 2) * 6, "y": (i / 2) * 4, "w": 6, "h": 4}),
        )
        .collect();
    engine
        .create_dashboard(
            &principal,
            json!({"name": DASHBOARD, "label": {"zh": "运营看板", "en": "Operations"},
                   "filters": [], "items": items}),
        )
        .await
        .expect("saving the dashboard");
}

pub async fn run_chart(engine: &Engine, spec: &ChartSpec, explain: bool) -> ChartAnswer {
    let run = ChartRun {
        explain,
        lang: Lang::Zh,
        ..ChartRun::default()
    };
    engine
        .run_chart(&Principal::system(), spec, &run)
        .await
        .expect("run_chart")
}

/// The dashboard's data, as `GET /dashboards/{name}/data` answers it.
pub async fn dashboard(engine: &Engine) -> Arc<Value> {
    engine
        .dashboard_data(&Principal::system(), DASHBOARD, &BTreeMap::new(), Lang::Zh)
        .await
        .expect("dashboard data")
}

/// A second engine on the same database and clock: its dashboard cache is empty, its
/// definitions loaded before it is timed.
pub async fn fresh_engine(engine: &Engine) -> Engine {
    let fresh = Engine::open(
        engine.db.clone(),
        keyring(),
        engine.clock.clone(),
        Settings::default(),
    )
    .await
    .expect("open a second engine");
    for entity in [super::data::PATIENT, super::data::VISIT] {
        fresh.entity(entity).await.expect("definitions");
    }
    fresh
}

fn cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::String(s) => Cell::Text(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => Cell::Num(n.as_f64().unwrap_or(f64::NAN)),
        },
        other => Cell::Text(other.to_string()),
    }
}

/// The answer in the floor's form: a KPI as its current and compared values, empty time
/// buckets the engine filled (count 0) left out, as the floor has no row for them.
pub fn rows_of(chart: Chart, answer: &Value) -> Rows {
    let rows = answer["rows"].as_array().cloned().unwrap_or_default();
    if chart == Chart::RevisitRate {
        let current = rows
            .first()
            .and_then(|r| r.get(0))
            .map(cell)
            .unwrap_or(Cell::Null);
        let previous = answer["comparisons"][0]["values"][0].clone();
        return vec![
            vec![Cell::Text("current".into()), current],
            vec![Cell::Text("previous".into()), cell(&previous)],
        ];
    }
    let dimensions = answer["columns"]
        .as_array()
        .map(|c| c.len())
        .unwrap_or(0)
        .saturating_sub(1);
    rows.iter()
        .map(|r| {
            r.as_array()
                .map(|cells| cells.iter().map(cell).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .filter(|cells| {
            let measures = &cells[dimensions.min(cells.len())..];
            !measures.iter().all(|c| *c == Cell::Int(0))
        })
        .collect()
}
