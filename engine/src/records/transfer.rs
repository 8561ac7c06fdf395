//! Bulk import (CSV/XLSX, column mapping, dry run, all-or-nothing) and export.

use super::filter::FilterExpr;
use super::projection;
use super::read::{ListQuery, SortKey};
use super::rows::{self, NewRow};
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, Principal};
use crate::crypto::Keyring;
use crate::engine::Engine;
use crate::entities::storage::q;
use crate::entities::EntityRuntime;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::{FieldDef, FieldType};
use crate::i18n::Lang;
use crate::io::{
    coerce_cell, read_table, write_csv, write_xlsx, CoerceContext, TableRow, TabularFormat,
};
use crate::store::db::PooledConn;
use crate::store::{Arg, Conn, Tx};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// Rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Documents inserted per statement batch.
const INSERT_BATCH: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    /// All-or-nothing (the default): one bad row and nothing is written.
    pub atomic: bool,
    /// Column header → field name; an empty field name skips the column.
    pub mapping: Option<BTreeMap<String, String>>,
}

/// A validated document and the line it came from.
type LinedDocument = (usize, Map<String, Value>);

/// Per unique field, the line where each value first appeared in the file.
type UniqueSeen = HashMap<String, HashMap<String, usize>>;

/// One problem in one row; line 1 is the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRowError {
    pub line: usize,
    pub field: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub total_rows: usize,
    pub valid_rows: usize,
    pub imported: usize,
    pub errors: Vec<ImportRowError>,
    /// The file's header in order, with the field each column filled (None: skipped).
    pub columns: Vec<ImportColumn>,
}

/// One column of an imported file and the field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportColumn {
    pub column: String,
    pub field: Option<String>,
}

/// What an import wizard shows before the user maps columns: the file's header with the field
/// each column would fill by default (only fields the caller may import), its row count, and
/// its first rows as text.
#[derive(Debug, Clone, Serialize)]
pub struct ImportPreview {
    pub columns: Vec<ImportColumn>,
    pub total_rows: usize,
    pub sample: Vec<Vec<String>>,
}

/// Rows an import preview shows.
const PREVIEW_ROWS: usize = 5;

fn label_matches(field: &FieldDef, header: &str) -> bool {
    let header = header.trim();
    field.name.as_str() == header
        || field.label.as_ref().is_some_and(|l| {
            l.zh.as_deref() == Some(header)
                || l.en
                    .as_deref()
                    .is_some_and(|en| en.eq_ignore_ascii_case(header))
        })
}

/// Which field each column fills (None: skipped).
fn map_columns(
    rt: &EntityRuntime,
    header: &[String],
    options: &ImportOptions,
    lang: Lang,
) -> Result<Vec<Option<FieldDef>>> {
    let mut unknown = Vec::new();
    let mut out = Vec::with_capacity(header.len());
    for column in header {
        let target = match &options.mapping {
            Some(mapping) => match mapping.get(column) {
                Some(field) if field.is_empty() => None,
                Some(field) => match rt.definition().field(field) {
                    Some(def) => Some(def.clone()),
                    None => {
                        unknown.push(format!("{column} → {field}"));
                        None
                    }
                },
                None => rt
                    .definition()
                    .fields
                    .iter()
                    .find(|f| label_matches(f, column))
                    .cloned(),
            },
            None => rt
                .definition()
                .fields
                .iter()
                .find(|f| label_matches(f, column))
                .cloned(),
        };
        if target.is_none()
            && options
                .mapping
                .as_ref()
                .is_none_or(|m| !m.contains_key(column))
        {
            unknown.push(column.clone());
        }
        out.push(target);
    }
    if !unknown.is_empty() {
        let message = match lang {
            Lang::Zh => format!(
                "以下列无法对应到字段，请提供列映射（mapping）：{}",
                unknown.join("、")
            ),
            Lang::En => format!(
                "These columns match no field; send a column mapping: {}",
                unknown.join(", ")
            ),
        };
        let details = unknown
            .iter()
            .map(|column| FieldError::at_line(1, column.as_str(), "unknown_column", &message))
            .collect();
        return Err(EngineError::BadRequest { message, details });
    }
    // Two columns filling one field: one of them would silently win.
    let mut filled_by: HashMap<&str, &str> = HashMap::new();
    let mut details = Vec::new();
    for (column, target) in header.iter().zip(&out) {
        let Some(field) = target else { continue };
        if let Some(first) = filled_by.insert(field.name.as_str(), column.as_str()) {
            let message = match lang {
                Lang::Zh => format!("列 {first} 和列 {column} 都对应到字段 {}", field.name),
                Lang::En => format!(
                    "Columns {first} and {column} both fill the field {}",
                    field.name
                ),
            };
            details.push(FieldError::at_line(
                1,
                field.name.as_str(),
                "duplicate_mapping",
                message,
            ));
        }
    }
    if let Some(first) = details.first() {
        return Err(EngineError::BadRequest {
            message: first.message.clone(),
            details,
        });
    }
    Ok(out)
}

/// A file that cannot be read as a table: a 400 whose one detail, in the import error shape,
/// names the line (and the column, where there is one).
fn unreadable_file(e: &crate::io::TabularError, lang: Lang) -> EngineError {
    let message = e.message(lang);
    EngineError::BadRequest {
        details: vec![FieldError::at_line(
            e.line().unwrap_or(1),
            e.column().unwrap_or_default(),
            e.code(),
            &message,
        )],
        message,
    }
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        // A subject as `patient:<id>`, which import reads back.
        Value::Object(_) => match crate::forms::compiled::subject_parts(value) {
            Some((entity, id)) => format!("{entity}:{id}"),
            None => value.to_string(),
        },
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Cell text to validated documents, one batch of table rows at a time, on a blocking thread
/// while the store writes the batch before.
struct RowPreparer {
    rt: Arc<EntityRuntime>,
    targets: Vec<Option<FieldDef>>,
    coerce: CoerceContext,
    prepare: crate::forms::PrepareContext,
    lang: Lang,
    /// Set when the rows will be written and the entity numbers none of its fields: the
    /// batch's INSERTs are then built here too, for the case where every row passes the store
    /// checks.
    build: Option<StatementBuilder>,
}

struct StatementBuilder {
    keys: Arc<Keyring>,
    actor: String,
    now: time::OffsetDateTime,
    backend: crate::store::Backend,
}

/// One batch of table rows after its CPU work.
struct PreparedBatch {
    valid: Vec<LinedDocument>,
    errors: Vec<ImportRowError>,
    /// The INSERTs of every valid row, with the ids they give.
    statements: Option<(Vec<Uuid>, Vec<rows::Statement>)>,
}

impl RowPreparer {
    /// The valid documents of `rows` with their line numbers, and every problem of the others.
    fn prepare(&self, rows: &[TableRow]) -> (Vec<LinedDocument>, Vec<ImportRowError>) {
        let mut valid = Vec::with_capacity(rows.len());
        let mut errors = Vec::new();
        for row in rows {
            let mut input = Map::new();
            let mut row_errors = Vec::new();
            for (cell, target) in row.cells.iter().zip(&self.targets) {
                // Numbers and formulas are the engine's to set: an exported file's columns for
                // them are passed over, so exports import again.
                let Some(field) = target.as_ref().filter(|f| !f.field_type.is_computed()) else {
                    continue;
                };
                match coerce_cell(field, cell, &self.coerce) {
                    Ok(Some(value)) => {
                        input.insert(field.name.to_string(), value);
                    }
                    Ok(None) => {}
                    Err(e) => row_errors.push(ImportRowError {
                        line: row.line,
                        field: field.name.to_string(),
                        code: e.code.to_string(),
                        message: e.message_for(field, self.lang),
                    }),
                }
            }
            if row_errors.is_empty() {
                match self.rt.compiled.prepare(&input, None, &self.prepare) {
                    Ok(doc) => valid.push((row.line, doc)),
                    Err(field_errors) => {
                        row_errors.extend(field_errors.into_iter().map(|e| ImportRowError {
                            line: row.line,
                            field: e.field,
                            code: e.code,
                            message: e.message,
                        }))
                    }
                }
            }
            errors.extend(row_errors);
        }
        (valid, errors)
    }

    fn prepare_batch(&self, rows: &[TableRow]) -> PreparedBatch {
        let (valid, errors) = self.prepare(rows);
        let Some(b) = self.build.as_ref().filter(|_| !valid.is_empty()) else {
            return PreparedBatch {
                valid,
                errors,
                statements: None,
            };
        };
        let (lines, docs): (Vec<usize>, Vec<Map<String, Value>>) = valid.into_iter().unzip();
        let new_rows: Vec<NewRow> = docs
            .into_iter()
            .map(|plain| NewRow {
                id: Uuid::now_v7(),
                sealed: projection::seal(&self.rt, &plain, None, None, &b.keys),
                plain,
            })
            .collect();
        let statements =
            rows::insert_statements(&self.rt, &new_rows, &b.actor, b.now, &b.keys, b.backend);
        let ids = new_rows.iter().map(|r| r.id).collect();
        PreparedBatch {
            valid: lines
                .into_iter()
                .zip(new_rows.into_iter().map(|r| r.plain))
                .collect(),
            errors,
            statements: Some((ids, statements)),
        }
    }
}

/// Where an import's batches go: a write transaction, or a plain connection for a dry run.
enum ImportTarget {
    Write(Tx),
    DryRun(PooledConn),
}

impl ImportTarget {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            ImportTarget::Write(tx) => tx.conn(),
            ImportTarget::DryRun(c) => c.conn(),
        }
    }
}

impl Engine {
    /// Reads a CSV or XLSX file's header and first rows without checking them, and proposes
    /// for each column the field whose name or label it carries, among the fields the caller
    /// may import (a hidden field is never named). Needs the same right as importing.
    pub async fn preview_import(
        &self,
        principal: &Principal,
        entity: &str,
        bytes: &[u8],
        lang: Lang,
    ) -> Result<ImportPreview> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Create)?;
        let table = read_table(bytes, TabularFormat::detect(bytes), MAX_IMPORT_ROWS)
            .map_err(|e| unreadable_file(&e, lang))?;
        let mut taken = std::collections::HashSet::new();
        let columns = table
            .header
            .iter()
            .map(|column| {
                let field = rt
                    .definition()
                    .fields
                    .iter()
                    .filter(|f| !f.field_type.is_computed())
                    .filter(|f| super::field_access::importable(&rt, principal, f.name.as_str()))
                    .find(|f| label_matches(f, column))
                    // Two columns never propose one field: the import would refuse that.
                    .filter(|f| taken.insert(f.name.to_string()))
                    .map(|f| f.name.to_string());
                ImportColumn {
                    column: column.clone(),
                    field,
                }
            })
            .collect();
        Ok(ImportPreview {
            columns,
            total_rows: table.rows.len(),
            sample: table
                .rows
                .into_iter()
                .take(PREVIEW_ROWS)
                .map(|row| row.cells)
                .collect(),
        })
    }

    /// Imports a CSV or XLSX table in one pass: each batch of rows is converted and validated
    /// on a blocking thread while the batch before is checked against the store (references,
    /// uniqueness, also within the file) and written, all in one transaction. Every bad row is
    /// reported with its reasons. An all-or-nothing import stops writing at its first bad row,
    /// goes on checking the rest, and rolls back; a dry run writes nothing. Memory stays near
    /// the file's size plus two batches of documents.
    pub async fn import_records(
        &self,
        principal: &Principal,
        entity: &str,
        bytes: &[u8],
        options: &ImportOptions,
        lang: Lang,
    ) -> Result<ImportReport> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Create)?;
        let table = read_table(bytes, TabularFormat::detect(bytes), MAX_IMPORT_ROWS)
            .map_err(|e| unreadable_file(&e, lang))?;
        let targets = map_columns(&rt, &table.header, options, lang)?;
        super::field_access::require_importable(&rt, principal, &targets, lang)?;
        let columns = table
            .header
            .iter()
            .zip(&targets)
            .map(|(column, target)| ImportColumn {
                column: column.clone(),
                field: target.as_ref().map(|f| f.name.to_string()),
            })
            .collect();
        let numbered = rt
            .definition()
            .fields
            .iter()
            .any(|f| f.field_type == FieldType::Autonumber);
        let now = self.now();
        let preparer = Arc::new(RowPreparer {
            rt: rt.clone(),
            targets,
            coerce: CoerceContext {
                utc_offset: self.utc_offset_at(now),
            },
            prepare: self.prepare_context(lang),
            lang,
            build: (!options.dry_run && !numbered).then(|| StatementBuilder {
                keys: self.keys.clone(),
                actor: principal.actor.clone(),
                now,
                backend: self.db.backend(),
            }),
        });
        let total_rows = table.rows.len();
        // The rows move into their batches as these are taken, so the table is held once.
        let mut rows = table.rows.into_iter();
        let mut batches = std::iter::from_fn(move || {
            let batch: Vec<TableRow> = rows.by_ref().take(INSERT_BATCH).collect();
            (!batch.is_empty()).then_some(batch)
        });
        let spawn = |rows: Vec<TableRow>| {
            let preparer = preparer.clone();
            tokio::task::spawn_blocking(move || preparer.prepare_batch(&rows))
        };
        let mut target = if options.dry_run {
            ImportTarget::DryRun(self.db.acquire().await?)
        } else {
            ImportTarget::Write(self.db.begin().await?)
        };
        let mut errors: Vec<ImportRowError> = Vec::new();
        let mut unique_seen = UniqueSeen::new();
        let mut valid_rows = 0;
        let mut imported = 0;
        let mut pending = batches.next().map(spawn);
        while let Some(handle) = pending.take() {
            let batch = handle.await.map_err(EngineError::internal)?;
            pending = batches.next().map(spawn);
            let PreparedBatch {
                mut valid,
                errors: row_errors,
                statements,
            } = batch;
            errors.extend(row_errors);
            let before_checks = valid.len();
            self.import_store_checks(
                &mut target.conn(),
                &rt,
                &mut valid,
                &mut errors,
                &mut unique_seen,
                lang,
            )
            .await?;
            valid_rows += valid.len();
            let ImportTarget::Write(tx) = &mut target else {
                continue;
            };
            if valid.is_empty() || (options.atomic && !errors.is_empty()) {
                continue;
            }
            imported += valid.len();
            match statements {
                Some((ids, statements)) if valid.len() == before_checks => {
                    let plain: Vec<Map<String, Value>> =
                        valid.into_iter().map(|(_, doc)| doc).collect();
                    self.store_built(
                        &mut tx.conn(),
                        &rt,
                        &principal.actor,
                        now,
                        (&ids, &plain, statements),
                    )
                    .await?;
                }
                // Rows left out by the store checks, or numbers to give: built here instead.
                _ => {
                    let docs = valid.into_iter().map(|(_, doc)| doc).collect();
                    self.insert_documents(&mut tx.conn(), &rt, principal, docs)
                        .await
                        .map_err(|e| super::write::map_write_error(&rt, e))?;
                }
            }
        }
        errors.sort_by_key(|e| e.line);
        let failed = options.atomic && !errors.is_empty();
        let report = ImportReport {
            dry_run: options.dry_run,
            total_rows,
            valid_rows,
            imported: if failed { 0 } else { imported },
            errors,
            columns,
        };
        let ImportTarget::Write(mut tx) = target else {
            return Ok(report);
        };
        if failed || report.imported == 0 {
            // Dropping the transaction rolls back what the batches before the first bad row wrote.
            return Ok(report);
        }
        audit::append(
            &mut tx.conn(),
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "record.create_many")
                .entity(rt.name())
                .detail(serde_json::json!({ "count": report.imported })),
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| super::write::map_write_error(&rt, e))?;
        self.events_committed();
        self.refresh_statistics(&rt, report.imported).await;
        Ok(report)
    }

    /// References and uniqueness for a batch of rows: against the store, and within the file
    /// through `seen`. Rows failing them move from `valid` to `errors`.
    async fn import_store_checks(
        &self,
        conn: &mut crate::store::Conn<'_>,
        rt: &EntityRuntime,
        valid: &mut Vec<LinedDocument>,
        errors: &mut Vec<ImportRowError>,
        seen: &mut UniqueSeen,
        lang: Lang,
    ) -> Result<()> {
        let mut bad: HashMap<usize, Vec<ImportRowError>> = HashMap::new();
        for chunk_start in (0..valid.len()).step_by(INSERT_BATCH) {
            let chunk = &valid[chunk_start..(chunk_start + INSERT_BATCH).min(valid.len())];
            let docs: Vec<&Map<String, Value>> = chunk.iter().map(|(_, d)| d).collect();
            let ref_errors = self.check_references(conn, rt, &docs, lang).await?;
            for ((line, _), errs) in chunk.iter().zip(ref_errors) {
                for e in errs {
                    bad.entry(*line).or_default().push(ImportRowError {
                        line: *line,
                        field: e.field,
                        code: e.code,
                        message: e.message,
                    });
                }
            }
        }
        for fs in rt.columns().filter(|fs| fs.unique_index.is_some()) {
            let label = super::write::label_of(rt, &fs.field, lang);
            let first_line = seen.entry(fs.field.clone()).or_default();
            let mut keyed: Vec<(usize, Arg, String)> = Vec::new();
            for (line, doc) in valid.iter() {
                let arg = projection::scalar_arg(fs, doc.get(&fs.field), &self.keys);
                if arg.is_null() {
                    continue;
                }
                let key = format!("{arg:?}");
                if let Some(first) = first_line.get(&key) {
                    bad.entry(*line).or_default().push(ImportRowError {
                        line: *line,
                        field: fs.field.clone(),
                        code: "unique_violation".into(),
                        message: match lang {
                            Lang::Zh => format!("{label} 与第 {first} 行重复"),
                            Lang::En => format!("{label} repeats line {first}"),
                        },
                    });
                } else {
                    first_line.insert(key.clone(), *line);
                    keyed.push((*line, arg, key));
                }
            }
            let column = fs.column().unwrap_or_default();
            for chunk in keyed.chunks(INSERT_BATCH) {
                let placeholders: Vec<String> =
                    (1..=chunk.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "SELECT {c} AS v FROM {t} WHERE deleted_at IS NULL AND {c} IN ({p})",
                    c = q(column),
                    t = q(&rt.table),
                    p = placeholders.join(", ")
                );
                let rows = conn
                    .fetch_all(&sql, chunk.iter().map(|(_, a, _)| a.clone()).collect())
                    .await?;
                let mut taken = std::collections::HashSet::new();
                for row in rows {
                    // Read back through the same Arg shape to compare keys.
                    let arg = match fs.value_type {
                        FieldType::Integer | FieldType::Money => Arg::Int(row.int("v")?),
                        FieldType::Reference => Arg::Uuid(row.uuid("v")?),
                        FieldType::Number => Arg::Real(row.real("v")?),
                        FieldType::Date => Arg::Date(row.date("v")?),
                        FieldType::Datetime => Arg::Time(row.time("v")?),
                        FieldType::Boolean => Arg::Bool(row.bool("v")?),
                        _ => Arg::Text(row.text("v")?),
                    };
                    taken.insert(format!("{arg:?}"));
                }
                for (line, _, key) in chunk {
                    if taken.contains(key) {
                        bad.entry(*line).or_default().push(ImportRowError {
                            line: *line,
                            field: fs.field.clone(),
                            code: "unique_violation".into(),
                            message: match lang {
                                Lang::Zh => format!("{label} 的值已存在"),
                                Lang::En => format!("The value of {label} is already taken"),
                            },
                        });
                    }
                }
            }
        }
        if !bad.is_empty() {
            valid.retain(|(line, _)| !bad.contains_key(line));
            errors.extend(bad.into_values().flatten());
        }
        Ok(())
    }

    /// Every matching record as a CSV or XLSX file, masked as the reader would see it. The
    /// filter and sort go through the same compiler as lists (hidden fields refused), and the
    /// pages are read in one transaction over one snapshot, so rows written meanwhile neither
    /// shift pages (doubling or skipping rows) nor appear half-way.
    pub async fn export_records(
        &self,
        principal: &Principal,
        entity: &str,
        format: TabularFormat,
        filter: Option<FilterExpr>,
        sort: Vec<SortKey>,
        columns: Option<Vec<String>>,
    ) -> Result<Vec<u8>> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Export)?;
        let header: Vec<String> = match columns {
            // Asked-for columns: each a field of the entity the caller may see.
            Some(columns) => {
                for column in &columns {
                    let field = rt.definition().field(column).ok_or_else(|| {
                        EngineError::bad_request(format!("unknown field {column} of {entity}"))
                    })?;
                    super::field_access::sight(
                        &rt,
                        principal,
                        column,
                        field.is_sensitive(),
                        super::field_access::FieldUse::Export,
                    )?;
                }
                columns
            }
            None => rt
                .definition()
                .fields
                .iter()
                .filter(|f| {
                    principal.field_rule(entity, f.name.as_str())
                        != crate::access::FieldRule::Hidden
                })
                .map(|f| f.name.to_string())
                .collect(),
        };
        let query = ListQuery {
            sort,
            filter,
            ..ListQuery::default()
        };
        let plan = self.list_plan(principal, &rt, &query).await?;
        let mut rows = Vec::new();
        let mut tx = self.db.begin().await?;
        super::dialect::Dialect(tx.backend())
            .read_one_snapshot(&mut tx.conn())
            .await?;
        super::lookups::admit(
            &mut tx.conn(),
            self.clock.as_ref(),
            principal,
            &plan.masked_lookups,
        )
        .await?;
        let mut page = 1;
        loop {
            let batch = self
                .fetch_page(&mut tx.conn(), &plan, page, EXPORT_PAGE)
                .await?;
            for row in &batch {
                let record =
                    super::rows::stored_from_row(row)?.present(&rt, principal, &self.keys, &[])?;
                rows.push(
                    header
                        .iter()
                        .map(|h| {
                            let cell = record.data.get(h);
                            let text = cell.map(cell_text).unwrap_or_default();
                            match (format, cell) {
                                (TabularFormat::Csv, Some(Value::String(_) | Value::Array(_))) => {
                                    neutralise_formula(text)
                                }
                                _ => text,
                            }
                        })
                        .collect::<Vec<_>>(),
                );
            }
            if (batch.len() as u64) < EXPORT_PAGE {
                break;
            }
            page += 1;
        }
        tx.commit().await?;
        crate::access::audit::append(
            &mut self.db.acquire().await?.conn(),
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new(&principal.actor, "record.export")
                .entity(entity)
                .detail(serde_json::json!({ "rows": rows.len() })),
        )
        .await?;
        match format {
            TabularFormat::Csv => Ok(write_csv(&header, rows)),
            TabularFormat::Xlsx => write_xlsx(entity, &header, rows)
                .map_err(|e| EngineError::internal(e.message(Lang::En))),
        }
    }
}

/// Rows an export reads per statement, inside its one snapshot.
const EXPORT_PAGE: u64 = 1000;

/// A text cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) gets a leading `'`, as OWASP advises for CSV. Numbers the export
/// writes itself (money, integers, reals, negative ones too) are not text and stay numbers.
pub(crate) fn neutralise_formula(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::neutralise_formula;

    #[test]
    fn formula_cells_get_a_leading_quote() {
        for cell in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "=HYPERLINK(\"x\")",
        ] {
            assert_eq!(neutralise_formula(cell.to_string()), format!("'{cell}"));
        }
        for cell in ["plain", "张三", "", "1-2", "a=b"] {
            assert_eq!(neutralise_formula(cell.to_string()), cell);
        }
    }
}
