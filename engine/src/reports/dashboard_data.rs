//! `GET /dashboards/{name}/data`: every chart of a dashboard in one answer, computed
//! concurrently under the viewer's rights, with the shared filters (docs/reports.md section
//! 11, "Dashboard parameters") mapped onto each chart, and kept in the exact cache.

use super::dashboard_cache::rights_key;
use super::dashboards::{dashboard_of, DashboardDefinition, PERIOD_PARAM};
use super::saved::SavedKind;
use super::saved_charts::LoadedChart;
use super::{ChartRun, PeriodOverride};
use crate::access::Principal;
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::FieldType;
use crate::i18n::Lang;
use crate::query::{FilterExpr, Op};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use time::Date;

/// Values one comma-separated parameter may hold.
pub const MAX_PARAM_VALUES: usize = 100;

fn bad_param(param: &str, code: &str, message: String) -> EngineError {
    EngineError::BadRequest {
        details: vec![FieldError::new(param, code, &message)],
        message,
    }
}

fn parse_day(param: &str, text: &str) -> Result<Date> {
    crate::store::db::parse_date(text.trim()).map_err(|_| {
        bad_param(
            param,
            "bad_date",
            format!("{param} 须为日期 YYYY-MM-DD（{param} must be a date, YYYY-MM-DD）"),
        )
    })
}

/// The shared filters of one request, checked against the dashboard.
#[derive(Debug, Default)]
struct Parameters {
    from: Option<Date>,
    to: Option<Date>,
    /// Every other parameter with its values (one, or a comma-separated list).
    values: BTreeMap<String, Vec<String>>,
}

impl Parameters {
    /// `from`/`to` need a `period` entry; any other parameter must be one of the dashboard's.
    fn parse(def: &DashboardDefinition, query: &BTreeMap<String, String>) -> Result<Parameters> {
        let known: BTreeSet<&str> = def.filters.iter().map(|f| f.param.as_str()).collect();
        let mut out = Parameters::default();
        for (key, text) in query {
            match key.as_str() {
                "from" | "to" if known.contains(PERIOD_PARAM) => {
                    let day = parse_day(key, text)?;
                    if key == "from" {
                        out.from = Some(day);
                    } else {
                        out.to = Some(day);
                    }
                }
                other if other != PERIOD_PARAM && known.contains(other) => {
                    let values: Vec<String> = text
                        .split(',')
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                        .collect();
                    if values.len() > MAX_PARAM_VALUES {
                        return Err(bad_param(
                            other,
                            "too_many_values",
                            format!(
                                "{other} 最多 {MAX_PARAM_VALUES} 个值（{other} takes at most {MAX_PARAM_VALUES} values）"
                            ),
                        ));
                    }
                    if !values.is_empty() {
                        out.values.insert(other.to_string(), values);
                    }
                }
                other => {
                    return Err(bad_param(
                        other,
                        "unknown_parameter",
                        format!("仪表板没有参数 {other}（the dashboard has no parameter {other}）"),
                    ))
                }
            }
        }
        if let (Some(from), Some(to)) = (out.from, out.to) {
            if from > to {
                return Err(bad_param(
                    "from",
                    "bad_period",
                    "from 晚于 to（from is after to）".to_string(),
                ));
            }
        }
        Ok(out)
    }

    /// The key of these parameters in the cache.
    fn key(&self) -> Value {
        json!({"from": self.from.map(|d| d.to_string()), "to": self.to.map(|d| d.to_string()),
               "values": self.values})
    }
}

/// One chart of the answer, before it runs.
struct Planned {
    name: String,
    chart: LoadedChart,
    run: ChartRun,
}

impl Engine {
    /// A value of a dashboard parameter, typed as `field` binds: numbers for numeric
    /// fields, booleans for boolean ones, text otherwise.
    async fn param_value(&self, entity: &str, field: &str, text: &str) -> Result<Value> {
        let rt = self.entity(entity).await?;
        let storage = crate::records::filter::resolve_field(&rt, field)?;
        Ok(match storage.value_type {
            FieldType::Integer | FieldType::Number | FieldType::Money => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(text.to_string())),
            FieldType::Boolean => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(text.to_string()),
            },
            _ => Value::String(text.to_string()),
        })
    }

    /// The run of one chart: the period and the other parameters mapped onto its fields.
    async fn chart_run(
        &self,
        def: &DashboardDefinition,
        params: &Parameters,
        chart: &LoadedChart,
        name: &str,
        lang: Lang,
    ) -> Result<ChartRun> {
        let entity = &chart.definition.spec.entity;
        let mut period = None;
        let mut conditions = Vec::new();
        for filter in &def.filters {
            let Some(field) = filter.fields.get(name) else {
                continue;
            };
            if filter.param == PERIOD_PARAM {
                if params.from.is_some() || params.to.is_some() {
                    period = Some(PeriodOverride {
                        field: field.clone(),
                        from: params.from,
                        to: params.to,
                    });
                }
                continue;
            }
            let Some(values) = params.values.get(&filter.param) else {
                continue;
            };
            let mut typed = Vec::with_capacity(values.len());
            for v in values {
                typed.push(self.param_value(entity, field, v).await?);
            }
            conditions.push(if typed.len() == 1 {
                FilterExpr::Condition {
                    field: field.clone(),
                    op: Op::Eq,
                    value: typed.remove(0),
                }
            } else {
                FilterExpr::Condition {
                    field: field.clone(),
                    op: Op::In,
                    value: Value::Array(typed),
                }
            });
        }
        let extra_filter = match conditions.len() {
            0 => None,
            1 => conditions.pop(),
            _ => Some(FilterExpr::And { and: conditions }),
        };
        Ok(ChartRun {
            extra_filter,
            period,
            explain: false,
            lang,
        })
    }

    /// Every chart of the dashboard under the viewer's rights, each with its data or its own
    /// error, from the exact cache when nothing it depends on changed.
    pub async fn dashboard_data(
        &self,
        principal: &Principal,
        name: &str,
        query: &BTreeMap<String, String>,
        lang: Lang,
    ) -> Result<Arc<Value>> {
        let row = self.require_saved(SavedKind::Dashboard, name).await?;
        let def = dashboard_of(&row)?;
        let params = Parameters::parse(&def, query)?;
        let mut planned = Vec::with_capacity(def.items.len());
        for item in &def.items {
            let chart = self.load_chart(&item.chart).await?;
            let run = self
                .chart_run(&def, &params, &chart, &item.chart, lang)
                .await?;
            planned.push(Planned {
                name: item.chart.clone(),
                chart,
                run,
            });
        }
        let key = self
            .dashboard_key(principal, &def, row.version, &planned, &params, lang)
            .await?;
        if let Some(key) = &key {
            if let Some(hit) = self.dashboard_cache.get(key) {
                return Ok(hit);
            }
        }
        let charts = self.run_planned(principal, planned, lang).await?;
        let mut answer = json!({"name": def.name, "version": row.version, "charts": charts});
        if let Some(label) = &def.label {
            answer["label"] = json!(label);
        }
        let answer = Arc::new(answer);
        if let Some(key) = key {
            self.dashboard_cache.put(key, answer.clone());
        }
        Ok(answer)
    }

    /// The cache key of one request, or `None` when it may not be cached (a change not yet
    /// positioned). Charts whose rights cannot be told from their footprint key on every
    /// grant the viewer holds.
    async fn dashboard_key(
        &self,
        principal: &Principal,
        def: &DashboardDefinition,
        version: i64,
        planned: &[Planned],
        params: &Parameters,
        lang: Lang,
    ) -> Result<Option<String>> {
        let mut read: BTreeSet<String> = BTreeSet::new();
        let mut every_grant = false;
        let mut charts = Vec::with_capacity(planned.len());
        for p in planned {
            read.insert(p.chart.definition.spec.entity.clone());
            let segments = match &p.chart.expanded {
                Ok((spec, segments)) => {
                    match self.check_chart(principal, spec).await {
                        Ok(footprint) => read.extend(footprint.entities),
                        Err(_) => every_grant = true,
                    }
                    json!(segments)
                }
                Err(_) => {
                    every_grant = true;
                    Value::Null
                }
            };
            charts.push(json!([p.name, p.chart.version, segments]));
        }
        if every_grant {
            read.extend(
                principal
                    .permissions
                    .iter()
                    .map(|p| p.entity.as_str().to_string()),
            );
        }
        let Some(changes) = self.last_changes(&read).await? else {
            return Ok(None);
        };
        Ok(Some(
            json!({
                "dashboard": [def.name, version],
                "charts": charts,
                "params": params.key(),
                "lang": lang,
                "rights": rights_key(principal, &read),
                "changes": changes,
                "today": self.today().to_string(),
            })
            .to_string(),
        ))
    }

    /// Runs the planned charts at once; each answers its data or its own error. A failure of
    /// the server itself (storage, internal) fails the whole answer.
    async fn run_planned(
        &self,
        principal: &Principal,
        planned: Vec<Planned>,
        lang: Lang,
    ) -> Result<Vec<Value>> {
        let mut tasks = tokio::task::JoinSet::new();
        let count = planned.len();
        for (i, p) in planned.into_iter().enumerate() {
            let engine = self.clone();
            let principal = principal.clone();
            tasks.spawn(async move {
                let result = match &p.chart.expanded {
                    Ok((spec, _)) => engine.run_chart(&principal, spec, &p.run).await,
                    Err(message) => Err(EngineError::bad_request(message.clone())),
                };
                (i, p, result)
            });
        }
        let mut out: Vec<Value> = vec![Value::Null; count];
        while let Some(joined) = tasks.join_next().await {
            let (i, p, result) = joined.map_err(EngineError::internal)?;
            let definition = &p.chart.definition;
            let mut chart = match result {
                Ok(answer) => json!({
                    "name": p.name,
                    "spec": definition.spec,
                    "data": answer,
                }),
                Err(
                    e @ (EngineError::Storage(_)
                    | EngineError::Internal(_)
                    | EngineError::Migration(_)
                    | EngineError::Configuration(_)),
                ) => return Err(e),
                // The spec is left out: its filter values are not the viewer's to see.
                Err(e) => json!({
                    "name": p.name,
                    "error": chart_error(&e, lang),
                }),
            };
            if let Some(label) = &definition.label {
                chart["label"] = json!(label);
            }
            out[i] = chart;
        }
        Ok(out)
    }
}

/// A chart's own error, in the one error format's shape.
fn chart_error(e: &EngineError, lang: Lang) -> Value {
    let details = match e {
        EngineError::BadRequest { details, .. } | EngineError::Validation { details } => {
            json!(details)
        }
        _ => json!([]),
    };
    json!({"code": e.code(), "message": e.message(lang), "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::dashboards::{DashboardFilter, DashboardItem};

    fn board() -> DashboardDefinition {
        DashboardDefinition {
            name: "ops".into(),
            label: None,
            filters: vec![
                DashboardFilter {
                    param: "period".into(),
                    fields: [("visits".to_string(), "visit_time".to_string())].into(),
                },
                DashboardFilter {
                    param: "dept".into(),
                    fields: [("visits".to_string(), "dept".to_string())].into(),
                },
            ],
            items: vec![DashboardItem {
                chart: "visits".into(),
                x: None,
                y: None,
                w: None,
                h: None,
            }],
        }
    }

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_against_the_dashboard() {
        let p = Parameters::parse(
            &board(),
            &query(&[("from", "2026-10-01"), ("dept", "a, b")]),
        )
        .unwrap();
        assert_eq!(p.from.map(|d| d.to_string()).as_deref(), Some("2026-10-01"));
        assert_eq!(p.values["dept"], ["a", "b"]);
        assert!(Parameters::parse(&board(), &query(&[("ward", "x")])).is_err());
        assert!(Parameters::parse(&board(), &query(&[("from", "10/01/2026")])).is_err());
        assert!(Parameters::parse(
            &board(),
            &query(&[("from", "2026-10-02"), ("to", "2026-10-01")])
        )
        .is_err());
        let many = vec!["v"; MAX_PARAM_VALUES + 1].join(",");
        assert!(Parameters::parse(&board(), &query(&[("dept", &many)])).is_err());
        let mut without_period = board();
        without_period.filters.remove(0);
        assert!(Parameters::parse(&without_period, &query(&[("from", "2026-10-01")])).is_err());
    }
}
