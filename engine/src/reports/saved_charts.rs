//! Saved charts (`{"name", "label", "spec"}`): saving needs `design` on every entity the chart
//! reads and compiles the spec under the saver's rights; the composite indexes its
//! dimension and measure pairs want are built on save. A saved chart is answered under the
//! viewer's rights, like a spec sent to `POST /reports/query`.

use super::saved::{self, SavedKind, SavedRow};
use super::segments::{name_changed, SegmentVersions};
use super::{ChartAnswer, ChartRun, ChartSpec};
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::i18n::Label;
use crate::store::Arg;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A chart as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    pub spec: ChartSpec,
}

/// A saved chart as `GET` answers it.
#[derive(Debug, Clone)]
pub struct SavedChart {
    pub body: Value,
    pub version: i64,
}

/// A saved chart read for answering: its definition, version, and the spec with its segments
/// inlined (and their versions, for cache keys).
#[derive(Debug, Clone)]
pub struct LoadedChart {
    pub definition: ChartDefinition,
    pub version: i64,
    pub expanded: Result<(ChartSpec, SegmentVersions), String>,
}

pub(crate) fn chart_of(row: &SavedRow) -> Result<ChartDefinition> {
    serde_json::from_value(row.definition.clone())
        .map_err(|e| EngineError::internal(format!("stored chart unreadable: {e}")))
}

impl Engine {
    /// The charts on entities the caller may read.
    pub async fn list_charts(&self, principal: &Principal) -> Result<Vec<Value>> {
        Ok(self
            .saved_rows(SavedKind::Chart)
            .await?
            .into_iter()
            .filter(|row| {
                row.entity
                    .as_deref()
                    .is_some_and(|e| principal.can(e, Action::Read))
            })
            .map(|row| row.answer())
            .collect())
    }

    async fn readable_chart(&self, principal: &Principal, name: &str) -> Result<SavedRow> {
        let row = self.require_saved(SavedKind::Chart, name).await?;
        if !row
            .entity
            .as_deref()
            .is_some_and(|e| principal.can(e, Action::Read))
        {
            return Err(EngineError::not_found(format!("chart {name}")));
        }
        Ok(row)
    }

    pub async fn get_chart(&self, principal: &Principal, name: &str) -> Result<SavedChart> {
        let row = self.readable_chart(principal, name).await?;
        Ok(SavedChart {
            body: row.answer(),
            version: row.version,
        })
    }

    /// Every check of saving a chart: shape and name, the spec's segments inlined and the
    /// spec compiled under the saver's rights, and `design` on every entity it reads.
    async fn check_saved_chart(
        &self,
        principal: &Principal,
        body: Value,
    ) -> Result<(ChartDefinition, super::ChartFootprint)> {
        let def: ChartDefinition =
            serde_json::from_value(body).map_err(|e| saved::shape_error(SavedKind::Chart, e))?;
        saved::check_name(SavedKind::Chart, &def.name)?;
        principal.require(&def.spec.entity, Action::Design)?;
        let spec = &def.spec;
        let saved_filters = spec
            .filters
            .iter()
            .chain(spec.measures.iter().filter_map(|m| m.filter.as_ref()))
            .chain(spec.stages.iter().filter_map(|s| s.filter.as_ref()));
        for filter in saved_filters {
            self.refuse_saved_sensitive_values(&spec.entity, filter)
                .await?;
        }
        let (expanded, _) = self.expand_chart_segments(&def.spec).await?;
        let footprint = self.check_chart(principal, &expanded).await?;
        for entity in &footprint.entities {
            principal.require(entity, Action::Design)?;
        }
        Ok((def, footprint))
    }

    pub async fn create_chart(&self, principal: &Principal, body: Value) -> Result<SavedChart> {
        let (body, _) = saved::body_parts(body)?;
        let (def, footprint) = self.check_saved_chart(principal, body).await?;
        let stored = serde_json::to_value(&def).map_err(EngineError::internal)?;
        let mut tx = self.db.begin().await?;
        self.insert_saved(
            &mut tx.conn(),
            principal,
            SavedKind::Chart,
            &def.name,
            Some(&def.spec.entity),
            &stored,
        )
        .await?;
        tx.commit().await?;
        self.build_chart_indexes(&footprint.index_wants).await?;
        self.get_chart(principal, &def.name).await
    }

    pub async fn update_chart(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        if_match: Option<i64>,
    ) -> Result<SavedChart> {
        let row = self.readable_chart(principal, name).await?;
        let (body, body_version) = saved::body_parts(body)?;
        saved::precondition(if_match, body_version, row.version)?;
        let (def, footprint) = self.check_saved_chart(principal, body).await?;
        if def.name != name {
            return Err(name_changed(SavedKind::Chart));
        }
        if let Some(old) = row.entity.as_deref() {
            principal.require(old, Action::Design)?;
        }
        let stored = serde_json::to_value(&def).map_err(EngineError::internal)?;
        if stored != row.definition {
            let mut tx = self.db.begin().await?;
            self.update_saved(
                &mut tx.conn(),
                principal,
                SavedKind::Chart,
                name,
                row.version,
                Some(&def.spec.entity),
                &stored,
            )
            .await?;
            tx.commit().await?;
            self.build_chart_indexes(&footprint.index_wants).await?;
        }
        self.get_chart(principal, name).await
    }

    /// Deletes a chart no dashboard holds (409 naming the dashboards otherwise). Its indexes
    /// are kept: other charts and lists may use them.
    pub async fn delete_chart(
        &self,
        principal: &Principal,
        name: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let row = self.readable_chart(principal, name).await?;
        saved::precondition(if_match, None, row.version)?;
        let entity = row.entity.clone().unwrap_or_default();
        principal.require(&entity, Action::Design)?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        // The row is written first: a dashboard saved meanwhile touches it too (see
        // `dashboards`), so one of the two waits and sees the other.
        self.delete_saved(
            &mut conn,
            principal,
            SavedKind::Chart,
            name,
            row.version,
            Some(&entity),
        )
        .await?;
        let holders = conn
            .fetch_all(
                "SELECT dashboard FROM dashboard_charts WHERE chart = $1 ORDER BY dashboard",
                vec![Arg::from(name)],
            )
            .await?;
        if !holders.is_empty() {
            let names = holders
                .iter()
                .map(|r| r.req_text("dashboard"))
                .collect::<Result<Vec<_>>>()?
                .join(", ");
            return Err(EngineError::Conflict(format!(
                "图表 {name} 正被仪表板 {names} 使用（chart {name} is held by the dashboards {names}）"
            )));
        }
        tx.commit().await
    }

    /// A saved chart, its segments inlined; an error inlining them is kept for its answer.
    pub(crate) async fn load_chart(&self, name: &str) -> Result<LoadedChart> {
        let row = self.require_saved(SavedKind::Chart, name).await?;
        let definition = chart_of(&row)?;
        let expanded = match self.expand_chart_segments_versioned(&definition.spec).await {
            Ok(done) => Ok(done),
            Err(EngineError::BadRequest { message, .. }) => Err(message),
            Err(e) => return Err(e),
        };
        Ok(LoadedChart {
            definition,
            version: row.version,
            expanded,
        })
    }

    /// A saved chart's answer under the caller's rights; `explain` (the compiled SQL) needs
    /// `design` on the chart's entity.
    pub async fn saved_chart_data(
        &self,
        principal: &Principal,
        name: &str,
        run: &ChartRun,
    ) -> Result<ChartAnswer> {
        let row = self.readable_chart(principal, name).await?;
        let def = chart_of(&row)?;
        if run.explain {
            principal.require(&def.spec.entity, Action::Design)?;
        }
        let (expanded, _) = self.expand_chart_segments(&def.spec).await?;
        self.run_chart(principal, &expanded, run).await
    }
}

/// A 400 naming an unknown saved chart in a dashboard.
pub(crate) fn unknown_chart(name: &str) -> EngineError {
    EngineError::BadRequest {
        message: format!("图表 {name} 不存在（unknown chart {name}）"),
        details: vec![FieldError::new("items", "unknown_chart", name)],
    }
}
