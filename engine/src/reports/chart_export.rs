//! A chart's rows as CSV or XLSX (docs/reports.md section 11, "Export"): needs `export` on
//! the chart's entity; a header row of column names, one row per answered row, the "others"
//! row last; select and user values by their labels; text cells a spreadsheet would run as a
//! formula neutralised as the record export does; audited as `chart.export` naming the
//! entity and chart, never values.

use super::saved::SavedKind;
use super::saved_charts::chart_of;
use super::{ChartAnswer, ChartRun, ChartSpec, ChartType};
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::i18n::Lang;
use crate::io::tabular::{write_csv, write_xlsx, TabularFormat};
use crate::records::transfer::neutralise_formula;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The text of one answered value: a label where the answer gives one, numbers as numbers,
/// text neutralised.
fn cell_text(value: &Value, labels: Option<&BTreeMap<String, String>>) -> String {
    let key = match value {
        Value::Null => return String::new(),
        Value::Number(n) => return n.to_string(),
        Value::Bool(b) => return b.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = labels.and_then(|l| l.get(&key)).cloned().unwrap_or(key);
    neutralise_formula(text)
}

/// The header and rows of an answer, the "others" row last.
pub(crate) fn answer_table(answer: &ChartAnswer, lang: Lang) -> (Vec<String>, Vec<Vec<String>>) {
    let header: Vec<String> = answer.columns.iter().map(|c| c.name.clone()).collect();
    let labels: Vec<Option<&BTreeMap<String, String>>> = answer
        .columns
        .iter()
        .map(|c| answer.labels.get(&c.name))
        .collect();
    let mut rows: Vec<Vec<String>> = answer
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, v)| cell_text(v, labels.get(i).copied().flatten()))
                .collect()
        })
        .collect();
    if let Some(others) = &answer.others {
        // `values` lines up with the columns (null for the dimensions): the first dimension's
        // cell names the row.
        let mut row: Vec<String> = others.values.iter().map(|v| cell_text(v, None)).collect();
        if let Some(first) = row.first_mut().filter(|_| others.values[0].is_null()) {
            *first = lang.pick("其他", "Others").to_string();
        }
        rows.push(row);
    }
    (header, rows)
}

impl Engine {
    /// A saved chart's rows as a file, under the caller's rights.
    pub async fn export_saved_chart(
        &self,
        principal: &Principal,
        name: &str,
        format: TabularFormat,
        lang: Lang,
    ) -> Result<Vec<u8>> {
        let row = self.require_saved(SavedKind::Chart, name).await?;
        if !row
            .entity
            .as_deref()
            .is_some_and(|e| principal.can(e, Action::Read))
        {
            return Err(EngineError::not_found(format!("chart {name}")));
        }
        let def = chart_of(&row)?;
        self.export_chart(principal, &def.spec, Some(name), format, lang)
            .await
    }

    /// A chart's rows as a file: `chart` names the saved chart for the audit entry. A table
    /// exports its first page at the largest page size.
    pub async fn export_chart(
        &self,
        principal: &Principal,
        spec: &ChartSpec,
        chart: Option<&str>,
        format: TabularFormat,
        lang: Lang,
    ) -> Result<Vec<u8>> {
        principal.require(&spec.entity, Action::Export)?;
        let (mut expanded, _) = self.expand_chart_segments(spec).await?;
        if expanded.chart == ChartType::Table {
            expanded.page = Some(1);
            expanded.per_page = Some(super::MAX_PER_PAGE);
        }
        let run = ChartRun {
            lang,
            ..ChartRun::default()
        };
        let answer = self.run_chart(principal, &expanded, &run).await?;
        let (header, rows) = answer_table(&answer, lang);
        let count = rows.len();
        let bytes = match format {
            TabularFormat::Csv => write_csv(&header, rows),
            TabularFormat::Xlsx => write_xlsx(chart.unwrap_or(&spec.entity), &header, rows)
                .map_err(|e| EngineError::internal(e.message(Lang::En)))?,
        };
        audit::append(
            &mut self.db.acquire().await?.conn(),
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "chart.export")
                .entity(&spec.entity)
                .detail(json!({"chart": chart, "rows": count, "format": format.extension()})),
        )
        .await?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::{Column, Others};

    #[test]
    fn labels_replace_values_formulas_are_neutralised_and_others_come_last() {
        let mut answer = ChartAnswer::new(
            vec![
                Column {
                    name: "dept".into(),
                    column_type: "select".into(),
                },
                Column {
                    name: "count".into(),
                    column_type: "integer".into(),
                },
            ],
            vec![
                vec![json!("cardiology"), json!(12)],
                vec![json!("=cmd|' /C calc'!A0"), json!(-3)],
                vec![Value::Null, json!(1)],
            ],
        );
        answer.labels.insert(
            "dept".into(),
            [("cardiology".to_string(), "心内科".to_string())].into(),
        );
        answer.others = Some(Others {
            groups: 4,
            values: vec![Value::Null, json!(9)],
        });
        let (header, rows) = answer_table(&answer, Lang::Zh);
        assert_eq!(header, ["dept", "count"]);
        assert_eq!(
            rows,
            [
                ["心内科", "12"],
                ["'=cmd|' /C calc'!A0", "-3"],
                ["", "1"],
                ["其他", "9"]
            ]
        );
    }
}
