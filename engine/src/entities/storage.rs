//! How an entity's fields live in SQL: one table per entity, a typed projection column per
//! scalar field, a side table per multi-valued field.

use crate::forms::{FieldDef, FieldType};
use crate::store::Backend;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageKind {
    Column(String),
    SideTable(String),
    /// Kept only in the JSON document (textarea, attachment).
    DocumentOnly,
}

/// The physical home of one field, as recorded in `entity_fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldStorage {
    pub field: String,
    /// The stored value's type (a formula's result type).
    pub value_type: FieldType,
    pub kind: StorageKind,
    pub sensitive: bool,
    pub unique_index: Option<String>,
    pub plain_index: Option<String>,
    /// A non-sensitive text field's pinyin projections, beside its column.
    pub pinyin: Option<PinyinColumns>,
}

/// The columns holding a text field's pinyin sort key and initials (`records::pinyin`): lists
/// sort by the key, `q` also searches the initials. Sensitive fields have none: their
/// plaintext is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinyinColumns {
    pub sort_key: String,
    pub initials: String,
}

impl PinyinColumns {
    /// The pinyin columns a field of this shape has, if any. (Field names hold no `__`, so
    /// these never clash with another field's column.)
    pub fn of(
        field: &str,
        value_type: FieldType,
        sensitive: bool,
        kind: &StorageKind,
    ) -> Option<Self> {
        let projected_text =
            value_type == FieldType::Text && !sensitive && matches!(kind, StorageKind::Column(_));
        projected_text.then(|| PinyinColumns {
            sort_key: format!("{}__pinyin", column_name(field)),
            initials: format!("{}__initials", column_name(field)),
        })
    }

    pub fn names(&self) -> [&str; 2] {
        [&self.sort_key, &self.initials]
    }
}

pub fn table_name(entity: &str) -> String {
    format!("e_{entity}")
}

pub fn column_name(field: &str) -> String {
    format!("f_{field}")
}

pub fn side_table_name(entity: &str, field: &str) -> String {
    format!("e_{entity}__{field}")
}

/// Index names are short hashes, so any entity and field name fits PostgreSQL's limit.
pub fn index_name(kind: &str, table: &str, column: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{table}:{column}").as_bytes());
    format!("{kind}_{}", &hex::encode(digest)[..16])
}

/// The name kind of an index partial over live rows (`WHERE deleted_at IS NULL`). Older
/// databases' plain indexes were named with `ix`; start-up rebuilds them (`live_indexes`).
pub const LIVE_INDEX: &str = "lx";
/// The name kind of a composite partial index (see [`composite_indexes`]).
pub const COMPOSITE_INDEX: &str = "lc";
/// The predicate every projection index carries: queries always test it, so an index without
/// it sends every entry to the wide row, and counts and group-bys stop being index-only.
pub const LIVE_ROWS: &str = "WHERE \"deleted_at\" IS NULL";
/// At most this many composite indexes of each shape per entity.
pub const MAX_COMPOSITE_INDEXES: usize = 4;

/// One projection index over live rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIndex {
    pub name: String,
    pub columns: Vec<String>,
}

impl LiveIndex {
    pub fn on(table: &str, columns: &[&str]) -> LiveIndex {
        let kind = if columns.len() > 1 {
            COMPOSITE_INDEX
        } else {
            LIVE_INDEX
        };
        LiveIndex {
            name: index_name(kind, table, &columns.join(",")),
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// `CREATE INDEX` for it, `CONCURRENTLY` (PostgreSQL, outside a transaction) if asked.
    pub fn create_sql(&self, table: &str, backend: Backend, concurrently: bool) -> String {
        let columns: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        live_index_sql(&self.name, table, &columns, backend, concurrently)
    }
}

/// `CREATE INDEX … WHERE deleted_at IS NULL`. SQLite also keys the index on `deleted_at` (always
/// NULL there, a byte per entry): its planner counts a column tested in the query as needed
/// even when the index's predicate implies it, so without it no scan is index-only ("USING
/// COVERING INDEX"). PostgreSQL reads the predicate and needs no such column.
pub fn live_index_sql(
    name: &str,
    table: &str,
    columns: &[&str],
    backend: Backend,
    concurrently: bool,
) -> String {
    let mut keyed: Vec<String> = columns.iter().map(|c| q(c)).collect();
    if backend == Backend::Sqlite {
        keyed.push(q("deleted_at"));
    }
    format!(
        "CREATE INDEX{} IF NOT EXISTS {} ON {} ({}) {LIVE_ROWS}",
        if concurrently { " CONCURRENTLY" } else { "" },
        q(name),
        q(table),
        keyed.join(", ")
    )
}

/// The system columns' indexes: `created_at` and `updated_at`, over live rows.
pub fn system_indexes(table: &str) -> Vec<LiveIndex> {
    vec![
        LiveIndex::on(table, &["created_at"]),
        LiveIndex::on(table, &["updated_at"]),
    ]
}

/// Composite partial indexes over live rows, for the two shapes hospital lists and charts take
/// most:
/// - `(dimension, measure, id)`: every pair of an indexed select field with an indexed number,
///   integer or money field, so a group-by (count and sum of spending by department) reads the
///   index only, and a list filtered on the dimension and sorted by the measure (ties broken
///   by id) walks it without sorting;
/// - `(select, created_at, id)`: every indexed select field with the creation time and the
///   tie-breaking id, so a list filtered on that field in the default newest-first order walks
///   the index and stops after one page instead of sorting every match.
///
/// In definition order, at most [`MAX_COMPOSITE_INDEXES`] of each shape. Sensitive fields
/// project only a hash and take no part.
pub fn composite_indexes<'a>(
    entity: &str,
    fields: impl IntoIterator<Item = &'a FieldStorage>,
) -> Vec<LiveIndex> {
    let table = table_name(entity);
    let indexed: Vec<&FieldStorage> = fields
        .into_iter()
        .filter(|fs| {
            fs.column().is_some()
                && !fs.sensitive
                && (fs.plain_index.is_some() || fs.unique_index.is_some())
        })
        .collect();
    let dimensions = indexed
        .iter()
        .filter(|fs| fs.value_type == FieldType::Select);
    let measures: Vec<&&FieldStorage> = indexed
        .iter()
        .filter(|fs| {
            matches!(
                fs.value_type,
                FieldType::Number | FieldType::Integer | FieldType::Money
            )
        })
        .collect();
    let mut grouped = Vec::new();
    let mut newest_first = Vec::new();
    for dimension in dimensions {
        let Some(d) = dimension.column() else {
            continue;
        };
        for measure in &measures {
            if let Some(m) = measure.column() {
                grouped.push(LiveIndex::on(&table, &[d, m, "id"]));
            }
        }
        newest_first.push(LiveIndex::on(&table, &[d, "created_at", "id"]));
    }
    grouped.truncate(MAX_COMPOSITE_INDEXES);
    newest_first.truncate(MAX_COMPOSITE_INDEXES);
    grouped.extend(newest_first);
    grouped
}

/// Quotes an identifier built from validated slugs.
pub fn q(ident: &str) -> String {
    debug_assert!(ident
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    format!("\"{ident}\"")
}

impl FieldStorage {
    pub fn for_field(entity: &str, field: &FieldDef) -> FieldStorage {
        let value_type = field.value_type();
        let name = field.name.as_str();
        let kind = if !field.is_projected() {
            StorageKind::DocumentOnly
        } else if value_type.is_multi_valued() {
            StorageKind::SideTable(side_table_name(entity, name))
        } else {
            StorageKind::Column(column_name(name))
        };
        let table = table_name(entity);
        let column = column_name(name);
        let is_column = matches!(kind, StorageKind::Column(_));
        let sensitive = field.is_sensitive();
        FieldStorage {
            field: name.to_string(),
            value_type,
            sensitive,
            pinyin: PinyinColumns::of(name, value_type, sensitive, &kind),
            unique_index: (field.unique && is_column).then(|| index_name("ux", &table, &column)),
            plain_index: (is_column
                && !field.unique
                && (field.indexed
                    || matches!(value_type, FieldType::Reference | FieldType::Subject)))
            .then(|| index_name(LIVE_INDEX, &table, &column)),
            kind,
        }
    }

    pub fn column(&self) -> Option<&str> {
        match &self.kind {
            StorageKind::Column(c) => Some(c),
            _ => None,
        }
    }

    /// A `subject` field's second column, holding the entity its id belongs to
    /// (`f_<field>__e`; field names hold no `__`, so it clashes with no other column).
    pub fn entity_column(&self) -> Option<String> {
        (self.value_type == FieldType::Subject)
            .then(|| self.column().map(|c| format!("{c}__e")))
            .flatten()
    }

    /// The columns the field's plain index keys: a subject's entity and id together, else its
    /// own column.
    pub fn index_columns(&self) -> Vec<String> {
        self.entity_column()
            .into_iter()
            .chain(self.column().map(str::to_string))
            .collect()
    }

    /// Every projection column of the field in the record table: its own, then a subject's
    /// entity column, then a text field's pinyin sort key and initials.
    pub fn projection_columns(&self) -> impl Iterator<Item = String> + '_ {
        self.column()
            .map(str::to_string)
            .into_iter()
            .chain(self.entity_column())
            .chain(
                self.pinyin
                    .iter()
                    .flat_map(|p| [p.sort_key.clone(), p.initials.clone()]),
            )
    }

    /// The column lists sort the field by: its pinyin key where it has one.
    pub fn order_column(&self) -> Option<&str> {
        match &self.pinyin {
            Some(p) => Some(&p.sort_key),
            None => self.column(),
        }
    }

    pub fn storage_label(&self) -> &'static str {
        match self.kind {
            StorageKind::Column(_) => "column",
            StorageKind::SideTable(_) => "side_table",
            StorageKind::DocumentOnly => "none",
        }
    }

    pub fn sql_name(&self) -> Option<&str> {
        match &self.kind {
            StorageKind::Column(c) | StorageKind::SideTable(c) => Some(c),
            StorageKind::DocumentOnly => None,
        }
    }
}

/// The SQL type of a projection column (or a side table's `value`).
pub fn sql_type(value_type: FieldType, sensitive: bool, backend: Backend) -> &'static str {
    use FieldType as T;
    let pg = backend == Backend::Postgres;
    if sensitive {
        // The keyed hash, never the value.
        return if pg { "TEXT COLLATE \"C\"" } else { "TEXT" };
    }
    match value_type {
        T::Reference | T::References | T::Subject => {
            if pg {
                "UUID"
            } else {
                "TEXT"
            }
        }
        T::Number => {
            if pg {
                "DOUBLE PRECISION"
            } else {
                "REAL"
            }
        }
        T::Integer | T::Money => {
            if pg {
                "BIGINT"
            } else {
                "INTEGER"
            }
        }
        T::Boolean => {
            if pg {
                "BOOLEAN"
            } else {
                "INTEGER"
            }
        }
        T::Date => {
            if pg {
                "DATE"
            } else {
                "TEXT"
            }
        }
        T::Datetime => {
            if pg {
                "TIMESTAMPTZ"
            } else {
                "TEXT"
            }
        }
        // Byte order on both backends, so sorts agree.
        _ => {
            if pg {
                "TEXT COLLATE \"C\""
            } else {
                "TEXT"
            }
        }
    }
}

/// The statements that create an entity's record table with its fixed columns.
pub fn create_table_sql(entity: &str, backend: Backend) -> Vec<String> {
    let table = table_name(entity);
    let (uuid, json, ts, int) = match backend {
        Backend::Postgres => ("UUID", "JSONB", "TIMESTAMPTZ", "BIGINT"),
        Backend::Sqlite => ("TEXT", "TEXT", "TEXT", "INTEGER"),
    };
    [
        format!(
            "CREATE TABLE {t} (\"id\" {uuid} PRIMARY KEY, \"data\" {json} NOT NULL, \"version\" {int} NOT NULL, \
             \"created_at\" {ts} NOT NULL, \"created_by\" TEXT NOT NULL, \"updated_at\" {ts} NOT NULL, \
             \"updated_by\" TEXT NOT NULL, \"deleted_at\" {ts}){storage}",
            t = q(&table),
            // PostgreSQL: move the document out of line (TOAST) once a row passes 128 bytes,
            // so scans of the projection columns — every chart and count — read narrow rows.
            storage = match backend {
                Backend::Postgres => " WITH (toast_tuple_target = 128)",
                Backend::Sqlite => "",
            }
        ),
    ]
    .into_iter()
    .chain(
        system_indexes(&table)
            .iter()
            .map(|ix| ix.create_sql(&table, backend, false)),
    )
    .collect()
}

/// The statements that give a table its home for one field: a column (added to an existing
/// table without a rewrite) or a side table, plus their indexes.
pub fn add_field_sql(entity: &str, fs: &FieldStorage, backend: Backend) -> Vec<String> {
    let table = table_name(entity);
    let mut out = Vec::new();
    match &fs.kind {
        StorageKind::Column(column) => {
            out.push(format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                q(&table),
                q(column),
                sql_type(fs.value_type, fs.sensitive, backend)
            ));
            if let Some(entity_column) = fs.entity_column() {
                out.push(format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    q(&table),
                    q(&entity_column),
                    sql_type(FieldType::Text, false, backend)
                ));
            }
            if let Some(pinyin) = &fs.pinyin {
                out.extend(
                    pinyin
                        .names()
                        .map(|c| pinyin_column_sql(&table, c, backend)),
                );
            }
            out.extend(index_sql(entity, fs, backend));
        }
        StorageKind::SideTable(side) => {
            let uuid = if backend == Backend::Postgres {
                "UUID"
            } else {
                "TEXT"
            };
            out.push(format!(
                "CREATE TABLE {} (\"record_id\" {uuid} NOT NULL REFERENCES {} (\"id\") ON DELETE CASCADE, \
                 \"value\" {} NOT NULL, PRIMARY KEY (\"record_id\", \"value\"))",
                q(side),
                q(&table),
                sql_type(fs.value_type, false, backend)
            ));
            out.push(format!(
                "CREATE INDEX {} ON {} (\"value\", \"record_id\")",
                q(&index_name("ix", side, "value")),
                q(side)
            ));
        }
        StorageKind::DocumentOnly => {}
    }
    out
}

/// `ALTER TABLE … ADD COLUMN` for one pinyin column (text in byte order, like text fields).
pub fn pinyin_column_sql(table: &str, column: &str, backend: Backend) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        q(table),
        q(column),
        sql_type(FieldType::Text, false, backend)
    )
}

/// The live-row index on a text field's pinyin sort key, for a field that is indexed (or
/// unique): lists sort by that key, so it serves the sort as the field's own index would.
pub fn sort_key_index_sql(entity: &str, fs: &FieldStorage, backend: Backend) -> Option<String> {
    let pinyin = fs.pinyin.as_ref()?;
    if fs.plain_index.is_none() && fs.unique_index.is_none() {
        return None;
    }
    let table = table_name(entity);
    let name = index_name(LIVE_INDEX, &table, &pinyin.sort_key);
    Some(live_index_sql(
        &name,
        &table,
        &[&pinyin.sort_key],
        backend,
        false,
    ))
}

/// Index statements for a column field: unique among live rows, or a plain index over live
/// rows, and the index of its pinyin sort key. (A side table's `(value, record_id)` index has no `deleted_at` to test: its rows are
/// joined to the record table, whose live-row indexes decide.)
pub fn index_sql(entity: &str, fs: &FieldStorage, backend: Backend) -> Vec<String> {
    let table = table_name(entity);
    let Some(column) = fs.column() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(ux) = &fs.unique_index {
        out.push(format!(
            "CREATE UNIQUE INDEX {} ON {} ({}) WHERE \"deleted_at\" IS NULL",
            q(ux),
            q(&table),
            q(column)
        ));
    }
    if let Some(ix) = &fs.plain_index {
        let keyed = fs.index_columns();
        let keyed: Vec<&str> = keyed.iter().map(String::as_str).collect();
        out.push(live_index_sql(ix, &table, &keyed, backend, false));
    }
    out.extend(sort_key_index_sql(entity, fs, backend));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::FieldName;

    #[test]
    fn names_fit_postgres_and_are_stable() {
        let ix = index_name(
            "ux",
            "e_abcdefghijklmnopqrstuvwxyz12",
            "f_abcdefghijklmnopqrstuvwxyz12",
        );
        assert!(ix.len() < 63);
        assert_eq!(
            ix,
            index_name(
                "ux",
                "e_abcdefghijklmnopqrstuvwxyz12",
                "f_abcdefghijklmnopqrstuvwxyz12"
            )
        );
        assert!(
            side_table_name(
                "abcdefghijklmnopqrstuvwxyz12",
                "abcdefghijklmnopqrstuvwxyz12"
            )
            .len()
                <= 63
        );
    }

    #[test]
    fn composite_indexes_pair_indexed_selects_with_measures_and_creation_time() {
        let field = |name: &str, ty: FieldType, indexed: bool, sensitive: bool| {
            let mut f = FieldDef::new(FieldName::new(name).unwrap(), ty);
            f.indexed = indexed;
            f.sensitive = Some(sensitive);
            FieldStorage::for_field("patient", &f)
        };
        let fields = [
            field("dept", FieldType::Select, true, false),
            field("tier", FieldType::Select, true, false),
            field("kind", FieldType::Select, false, false),
            field("secret", FieldType::Select, true, true),
            field("total", FieldType::Money, true, false),
            field("visits", FieldType::Integer, true, false),
            field("score", FieldType::Number, true, false),
            field("age", FieldType::Integer, false, false),
        ];
        let keys: Vec<Vec<String>> = composite_indexes("patient", &fields)
            .into_iter()
            .map(|ix| ix.columns)
            .collect();
        let expected: [&[&str]; 6] = [
            &["f_dept", "f_total", "id"],
            &["f_dept", "f_visits", "id"],
            &["f_dept", "f_score", "id"],
            &["f_tier", "f_total", "id"],
            &["f_dept", "created_at", "id"],
            &["f_tier", "created_at", "id"],
        ];
        assert_eq!(
            keys,
            expected.map(|k| k.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        );
        let ix = LiveIndex::on("e_patient", &["f_dept", "f_total"]);
        assert!(ix.name.starts_with("lc_"));
        assert!(ix
            .create_sql("e_patient", Backend::Sqlite, false)
            .ends_with("(\"f_dept\", \"f_total\", \"deleted_at\") WHERE \"deleted_at\" IS NULL"));
        assert!(ix
            .create_sql("e_patient", Backend::Postgres, true)
            .starts_with("CREATE INDEX CONCURRENTLY"));
    }

    #[test]
    fn fields_get_the_storage_their_type_needs() {
        let mut tags = FieldDef::new(FieldName::new("tags").unwrap(), FieldType::Tags);
        tags.indexed = true;
        assert!(matches!(
            FieldStorage::for_field("patient", &tags).kind,
            StorageKind::SideTable(_)
        ));
        let notes = FieldDef::new(FieldName::new("notes").unwrap(), FieldType::Textarea);
        assert_eq!(
            FieldStorage::for_field("patient", &notes).kind,
            StorageKind::DocumentOnly
        );
        let mut mrn = FieldDef::new(FieldName::new("mrn").unwrap(), FieldType::Text);
        mrn.unique = true;
        let fs = FieldStorage::for_field("patient", &mrn);
        assert_eq!(fs.column(), Some("f_mrn"));
        assert!(fs.unique_index.is_some() && fs.plain_index.is_none());
        let reference = FieldDef::new(FieldName::new("patient").unwrap(), FieldType::Reference);
        assert!(FieldStorage::for_field("visit", &reference)
            .plain_index
            .is_some());
        let subject = FieldDef::new(FieldName::new("subject").unwrap(), FieldType::Subject);
        let fs = FieldStorage::for_field("task", &subject);
        assert_eq!(fs.column(), Some("f_subject"));
        assert_eq!(fs.entity_column().as_deref(), Some("f_subject__e"));
        assert_eq!(
            fs.projection_columns().collect::<Vec<_>>(),
            ["f_subject", "f_subject__e"]
        );
        let sql = add_field_sql("task", &fs, Backend::Postgres);
        assert!(sql[0].ends_with("\"f_subject\" UUID"), "{sql:?}");
        assert!(sql[1].contains("\"f_subject__e\" TEXT"), "{sql:?}");
        assert!(
            sql[2].ends_with("(\"f_subject__e\", \"f_subject\") WHERE \"deleted_at\" IS NULL"),
            "always indexed, entity and id together: {sql:?}"
        );
        assert_eq!(
            sql_type(FieldType::Money, false, Backend::Postgres),
            "BIGINT"
        );
        assert_eq!(sql_type(FieldType::IdCard, true, Backend::Sqlite), "TEXT");
    }
}
