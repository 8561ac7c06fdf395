//! Dashboards (`{"name", "label", "filters", "items"}`): a grid of saved charts with shared
//! filters. Saving needs `design` on the entity of every chart held, and every chart must
//! exist; the charts held are recorded in `dashboard_charts`, so a chart held cannot be
//! deleted. Their data is answered by `dashboard_data`.

use super::saved::{self, SavedKind, SavedRow};
use super::saved_charts::{chart_of, unknown_chart};
use super::segments::name_changed;
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::FieldType;
use crate::i18n::Label;
use crate::store::{Arg, Conn};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Charts one dashboard holds at most.
pub const MAX_ITEMS: usize = 50;
/// Shared filters one dashboard has at most.
pub const MAX_FILTERS: usize = 20;
/// The shared filter answering `?from=&to=`.
pub const PERIOD_PARAM: &str = "period";

/// A dashboard as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<DashboardFilter>,
    pub items: Vec<DashboardItem>,
}

/// A shared filter: the query parameter `param` filters each named chart's field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardFilter {
    pub param: String,
    /// Chart name → the field of that chart's entity the parameter filters.
    pub fields: BTreeMap<String, String>,
}

/// A chart's place on the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardItem {
    pub chart: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
}

/// A saved dashboard as `GET` answers it.
#[derive(Debug, Clone)]
pub struct SavedDashboard {
    pub body: Value,
    pub version: i64,
}

fn problem(field: &str, code: &str, message: String) -> EngineError {
    EngineError::BadRequest {
        details: vec![FieldError::new(field, code, &message)],
        message,
    }
}

pub(crate) fn dashboard_of(row: &SavedRow) -> Result<DashboardDefinition> {
    serde_json::from_value(row.definition.clone())
        .map_err(|e| EngineError::internal(format!("stored dashboard unreadable: {e}")))
}

impl Engine {
    /// Every dashboard: each chart in it answers under the viewer's rights.
    pub async fn list_dashboards(&self, _principal: &Principal) -> Result<Vec<Value>> {
        Ok(self
            .saved_rows(SavedKind::Dashboard)
            .await?
            .iter()
            .map(SavedRow::answer)
            .collect())
    }

    pub async fn get_dashboard(
        &self,
        _principal: &Principal,
        name: &str,
    ) -> Result<SavedDashboard> {
        let row = self.require_saved(SavedKind::Dashboard, name).await?;
        Ok(SavedDashboard {
            body: row.answer(),
            version: row.version,
        })
    }

    /// Every check of saving a dashboard: its shape and name, every chart existing (once), the
    /// saver's `design` on each chart's entity, and each shared filter naming charts it holds
    /// and fields of their entities (a date or datetime for `period`).
    async fn check_dashboard(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<DashboardDefinition> {
        let def: DashboardDefinition = serde_json::from_value(body)
            .map_err(|e| saved::shape_error(SavedKind::Dashboard, e))?;
        saved::check_name(SavedKind::Dashboard, &def.name)?;
        if def.items.len() > MAX_ITEMS || def.filters.len() > MAX_FILTERS {
            return Err(problem(
                "items",
                "too_many",
                format!(
                    "仪表板最多 {MAX_ITEMS} 个图表、{MAX_FILTERS} 个共享筛选（a dashboard holds at most {MAX_ITEMS} charts and {MAX_FILTERS} shared filters）"
                ),
            ));
        }
        let mut entities: BTreeMap<&str, String> = BTreeMap::new();
        for item in &def.items {
            let row = self
                .saved_row(SavedKind::Chart, &item.chart)
                .await?
                .ok_or_else(|| unknown_chart(&item.chart))?;
            let entity = chart_of(&row)?.spec.entity;
            principal.require(&entity, Action::Design)?;
            if entities.insert(&item.chart, entity).is_some() {
                return Err(problem(
                    "items",
                    "duplicate_chart",
                    format!("图表 {0} 出现了两次（chart {0} is held twice）", item.chart),
                ));
            }
        }
        let mut params = BTreeSet::new();
        for filter in &def.filters {
            let param = filter.param.as_str();
            if crate::names::check_slug(param).is_err() || param == "from" || param == "to" {
                return Err(problem(
                    "filters",
                    "bad_param",
                    format!("共享筛选参数名无效：{param}（not a parameter name: {param}）"),
                ));
            }
            if !params.insert(param) {
                return Err(problem(
                    "filters",
                    "duplicate_param",
                    format!("共享筛选参数 {param} 重复（the parameter {param} is given twice）"),
                ));
            }
            for (chart, field) in &filter.fields {
                let entity = entities.get(chart.as_str()).ok_or_else(|| {
                    problem(
                        "filters",
                        "unknown_chart",
                        format!(
                            "共享筛选 {param} 指向不在仪表板中的图表 {chart}（the filter {param} names chart {chart}, which the dashboard does not hold）"
                        ),
                    )
                })?;
                let rt = self.entity(entity).await?;
                let storage = crate::records::filter::resolve_field(&rt, field).map_err(|_| {
                    problem(
                        "filters",
                        "unknown_field",
                        format!("{entity} 没有字段 {field}（unknown field {field} of {entity}）"),
                    )
                })?;
                if param == PERIOD_PARAM
                    && !matches!(storage.value_type, FieldType::Date | FieldType::Datetime)
                {
                    return Err(problem(
                        "filters",
                        "not_a_date",
                        format!(
                            "period 须对应日期字段，{field} 不是（period maps to a date or datetime field; {field} is not one）"
                        ),
                    ));
                }
            }
        }
        Ok(def)
    }

    /// Records the charts `def` holds, touching each chart's row first: a chart deleted
    /// meanwhile is not found, and a deletion waiting on the row sees the link (PostgreSQL
    /// locks the row; SQLite's writers take turns).
    async fn hold_charts(&self, conn: &mut Conn<'_>, def: &DashboardDefinition) -> Result<()> {
        conn.execute(
            "DELETE FROM dashboard_charts WHERE dashboard = $1",
            vec![Arg::from(def.name.as_str())],
        )
        .await?;
        for item in &def.items {
            let touched = conn
                .execute(
                    "UPDATE report_definitions SET version = version \
                     WHERE kind = 'chart' AND name = $1 AND deleted_at IS NULL",
                    vec![Arg::from(item.chart.as_str())],
                )
                .await?;
            if touched == 0 {
                return Err(unknown_chart(&item.chart));
            }
            conn.execute(
                "INSERT INTO dashboard_charts (dashboard, chart) VALUES ($1, $2)",
                vec![Arg::from(def.name.as_str()), Arg::from(item.chart.as_str())],
            )
            .await?;
        }
        Ok(())
    }

    pub async fn create_dashboard(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<SavedDashboard> {
        let (body, _) = saved::body_parts(body)?;
        let def = self.check_dashboard(principal, body).await?;
        let stored = serde_json::to_value(&def).map_err(EngineError::internal)?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        self.insert_saved(
            &mut conn,
            principal,
            SavedKind::Dashboard,
            &def.name,
            None,
            &stored,
        )
        .await?;
        self.hold_charts(&mut conn, &def).await?;
        tx.commit().await?;
        self.get_dashboard(principal, &def.name).await
    }

    pub async fn update_dashboard(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        if_match: Option<i64>,
    ) -> Result<SavedDashboard> {
        let row = self.require_saved(SavedKind::Dashboard, name).await?;
        let (body, body_version) = saved::body_parts(body)?;
        saved::precondition(if_match, body_version, row.version)?;
        let def = self.check_dashboard(principal, body).await?;
        if def.name != name {
            return Err(name_changed(SavedKind::Dashboard));
        }
        // Letting a chart go is a change to it too: its designers decide.
        self.require_design_of_charts(principal, &dashboard_of(&row)?)
            .await?;
        let stored = serde_json::to_value(&def).map_err(EngineError::internal)?;
        if stored != row.definition {
            let mut tx = self.db.begin().await?;
            let mut conn = tx.conn();
            self.update_saved(
                &mut conn,
                principal,
                SavedKind::Dashboard,
                name,
                row.version,
                None,
                &stored,
            )
            .await?;
            self.hold_charts(&mut conn, &def).await?;
            tx.commit().await?;
        }
        self.get_dashboard(principal, name).await
    }

    pub async fn delete_dashboard(
        &self,
        principal: &Principal,
        name: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let row = self.require_saved(SavedKind::Dashboard, name).await?;
        saved::precondition(if_match, None, row.version)?;
        self.require_design_of_charts(principal, &dashboard_of(&row)?)
            .await?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        self.delete_saved(
            &mut conn,
            principal,
            SavedKind::Dashboard,
            name,
            row.version,
            None,
        )
        .await?;
        conn.execute(
            "DELETE FROM dashboard_charts WHERE dashboard = $1",
            vec![Arg::from(name)],
        )
        .await?;
        tx.commit().await
    }

    async fn require_design_of_charts(
        &self,
        principal: &Principal,
        def: &DashboardDefinition,
    ) -> Result<()> {
        for item in &def.items {
            if let Some(row) = self.saved_row(SavedKind::Chart, &item.chart).await? {
                principal.require(&chart_of(&row)?.spec.entity, Action::Design)?;
            }
        }
        Ok(())
    }
}
