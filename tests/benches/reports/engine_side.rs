//! The engine's side of the reports benchmark: each chart run through `Engine::run_chart`,
//! its answer in the floor's form.

use super::floor::{Cell, Chart, Rows};
use kangdao_engine::access::Principal;
use kangdao_engine::reports::{ChartAnswer, ChartRun, ChartSpec};
use kangdao_engine::{Engine, Lang};
use serde_json::Value;

pub fn spec_of(chart: Chart) -> ChartSpec {
    serde_json::from_value(chart.spec()).unwrap_or_else(|e| panic!("{}: {e}", chart.name()))
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
