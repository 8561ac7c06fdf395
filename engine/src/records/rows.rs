//! The statements that read and write record rows, their side tables and their history.

use super::projection::ProjectionWriter;
use super::StoredRecord;
use crate::crypto::Keyring;
use crate::entities::storage::q;
use crate::entities::EntityRuntime;
use crate::error::{EngineError, Result};
use crate::store::{Arg, Backend, Conn, DbRow, Together};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) const RECORD_COLUMNS: &str =
    "\"id\", \"data\", \"version\", \"created_at\", \"created_by\", \"updated_at\", \"updated_by\", \"deleted_at\"";

/// Rows per multi-row INSERT, at most.
const ROWS_PER_STATEMENT: usize = 400;
/// Bound values per statement, at most: under SQLite's limit (32,766) and PostgreSQL's
/// (65,535), so a wide entity (up to 200 fields, a text field projecting three columns) writes
/// fewer rows per statement instead of failing.
const VALUES_PER_STATEMENT: usize = 32_000;

/// How many rows one multi-row INSERT of `values_per_row` values each holds.
fn rows_per_statement(values_per_row: usize) -> usize {
    (VALUES_PER_STATEMENT / values_per_row.max(1)).clamp(1, ROWS_PER_STATEMENT)
}

pub(crate) fn stored_from_row(row: &DbRow) -> Result<StoredRecord> {
    Ok(StoredRecord {
        id: row.req_uuid("id")?,
        version: row.req_int("version")?,
        sealed: match row.req_json("data")? {
            Value::Object(m) => m,
            _ => return Err(EngineError::internal("a stored record is not an object")),
        },
        created_at: row.req_time("created_at")?,
        created_by: row.req_text("created_by")?,
        updated_at: row.req_time("updated_at")?,
        updated_by: row.req_text("updated_by")?,
        deleted_at: row.time("deleted_at")?,
    })
}

pub(crate) async fn load(
    conn: &mut Conn<'_>,
    rt: &EntityRuntime,
    id: Uuid,
    for_update: bool,
) -> Result<Option<StoredRecord>> {
    let lock = if for_update && conn.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = conn
        .fetch_optional(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM {} WHERE id = $1{lock}",
                q(&rt.table)
            ),
            vec![id.into()],
        )
        .await?;
    row.as_ref().map(stored_from_row).transpose()
}

/// A record about to be inserted.
pub(crate) struct NewRow {
    pub id: Uuid,
    pub plain: Map<String, Value>,
    pub sealed: Map<String, Value>,
}

/// A statement with its values already in the backend's encoding.
pub(crate) struct Statement {
    pub sql: String,
    pub values: sea_query::Values,
    /// Worth keeping prepared: single-row and full-batch shapes recur, other sizes do not.
    pub persistent: bool,
}

/// Inserts records with their projections and side-table rows, and their first history entry,
/// in as few statements as the parameter limits allow.
pub(crate) async fn insert_rows(
    conn: &mut Conn<'_>,
    rt: &EntityRuntime,
    rows: &[NewRow],
    actor: &str,
    now: OffsetDateTime,
    keys: &Keyring,
) -> Result<()> {
    let statements = insert_statements(rt, rows, actor, now, keys, conn.backend());
    run(conn, statements).await
}

pub(crate) async fn run(conn: &mut Conn<'_>, statements: Vec<Statement>) -> Result<()> {
    for statement in statements {
        conn.execute_built(&statement.sql, statement.values, statement.persistent)
            .await?;
    }
    Ok(())
}

/// The INSERTs of `insert_rows`, built without touching the database, so bulk paths can build
/// the next batch on another thread while the store writes this one.
pub(crate) fn insert_statements(
    rt: &EntityRuntime,
    rows: &[NewRow],
    actor: &str,
    now: OffsetDateTime,
    keys: &Keyring,
    backend: Backend,
) -> Vec<Statement> {
    let writer = ProjectionWriter::new(rt, keys);
    let mut column_list = String::from(RECORD_COLUMNS);
    let mut projected = 0;
    for c in writer.columns() {
        column_list.push_str(", ");
        column_list.push_str(&q(&c));
        projected += 1;
    }
    let per_row = 8 + projected;
    let chunk_rows = rows_per_statement(per_row);
    let finish = |sql: String, args: Vec<Arg>, rows: usize| Statement {
        sql,
        values: sea_query::Values(args.into_iter().map(|a| a.into_sea(backend)).collect()),
        persistent: rows == 1 || rows == chunk_rows,
    };
    let mut statements = Vec::new();
    for chunk in rows.chunks(chunk_rows) {
        let mut sql = format!("INSERT INTO {} ({column_list}) VALUES ", q(&rt.table));
        let mut args = Vec::with_capacity(chunk.len() * per_row);
        let mut history_sql = String::from(
            "INSERT INTO record_changes (id, entity, record_id, version, op, data, changed_fields, actor, at) VALUES ",
        );
        let mut history_args = Vec::with_capacity(chunk.len() * 9);
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
                history_sql.push(',');
            }
            let document = Value::Object(row.sealed.clone());
            push_placeholders(&mut sql, backend, args.len(), per_row);
            args.push(Arg::Uuid(Some(row.id)));
            args.push(Arg::Json(Some(document.clone())));
            args.push(Arg::Int(Some(1)));
            args.push(Arg::Time(Some(now)));
            args.push(actor.into());
            args.push(Arg::Time(Some(now)));
            args.push(actor.into());
            args.push(Arg::Time(None));
            args.extend(writer.column_values(&row.plain));
            push_placeholders(&mut history_sql, backend, history_args.len(), 9);
            history_args.push(Arg::Uuid(Some(Uuid::now_v7())));
            history_args.push(rt.name().into());
            history_args.push(Arg::Uuid(Some(row.id)));
            history_args.push(Arg::Int(Some(1)));
            history_args.push("create".into());
            history_args.push(Arg::Json(Some(document)));
            history_args.push(Arg::Json(Some(Value::from(
                row.plain.keys().cloned().collect::<Vec<_>>(),
            ))));
            history_args.push(actor.into());
            history_args.push(Arg::Time(Some(now)));
        }
        statements.push(finish(sql, args, chunk.len()));
        statements.push(finish(history_sql, history_args, chunk.len()));

        let mut side_rows: Vec<(&str, Vec<(Uuid, Arg)>)> = Vec::new();
        for row in chunk {
            for (i, (side, values)) in writer.side_rows(&row.plain).into_iter().enumerate() {
                if side_rows.len() <= i {
                    side_rows.push((side, Vec::new()));
                }
                side_rows[i]
                    .1
                    .extend(values.into_iter().map(|value| (row.id, value)));
            }
        }
        for (side, values) in side_rows {
            if values.is_empty() {
                continue;
            }
            let mut sql = format!("INSERT INTO {} (record_id, value) VALUES ", q(side));
            let mut args = Vec::with_capacity(values.len() * 2);
            for (id, value) in values {
                if !args.is_empty() {
                    sql.push(',');
                }
                push_placeholders(&mut sql, backend, args.len(), 2);
                args.push(Arg::Uuid(Some(id)));
                args.push(value);
            }
            // Side-table row counts vary with the data: never worth caching.
            statements.push(finish(sql, args, 0));
        }
    }
    statements
}

pub(crate) fn push_placeholders(sql: &mut String, backend: Backend, start: usize, count: usize) {
    sql.push('(');
    for i in 0..count {
        if i > 0 {
            sql.push_str(", ");
        }
        match backend {
            Backend::Sqlite => sql.push('?'),
            Backend::Postgres => {
                sql.push('$');
                sql.push_str(&(start + i + 1).to_string());
            }
        }
    }
    sql.push(')');
}

/// Rewrites an existing row after an update, delete or restore, guarded by the version read;
/// `previous` is the document as read, so side tables of unchanged fields are left alone.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn update_row(
    conn: &mut Conn<'_>,
    rt: &EntityRuntime,
    id: Uuid,
    expected_version: i64,
    plain: &Map<String, Value>,
    previous: &Map<String, Value>,
    sealed: &Map<String, Value>,
    deleted_at: Option<OffsetDateTime>,
    actor: &str,
    now: OffsetDateTime,
    keys: &Keyring,
) -> Result<bool> {
    let mut sql = format!(
        "UPDATE {} SET \"data\" = $1, \"version\" = \"version\" + 1, \"updated_at\" = $2, \"updated_by\" = $3, \"deleted_at\" = $4",
        q(&rt.table)
    );
    let mut args = vec![
        Arg::Json(Some(Value::Object(sealed.clone()))),
        Arg::Time(Some(now)),
        actor.into(),
        Arg::Time(deleted_at),
    ];
    let writer = ProjectionWriter::new(rt, keys);
    for (c, value) in writer.columns().zip(writer.column_values(plain)) {
        args.push(value);
        sql.push_str(&format!(", {} = ${}", q(&c), args.len()));
    }
    args.push(id.into());
    args.push(expected_version.into());
    sql.push_str(&format!(
        " WHERE \"id\" = ${} AND \"version\" = ${}",
        args.len() - 1,
        args.len()
    ));
    let updated = conn.execute(&sql, args).await?;
    if updated == 0 {
        return Ok(false);
    }
    writer
        .replace_side_rows(conn, id, plain, Some(previous))
        .await?;
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn push_change(
    together: &mut Together,
    entity: &str,
    record_id: Uuid,
    version: i64,
    op: &str,
    sealed: &Map<String, Value>,
    changed_fields: Vec<String>,
    actor: &str,
    now: OffsetDateTime,
) {
    together.push(
        "INSERT INTO record_changes (id, entity, record_id, version, op, data, changed_fields, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            Uuid::now_v7().into(),
            entity.into(),
            record_id.into(),
            version.into(),
            op.into(),
            Arg::Json(Some(Value::Object(sealed.clone()))),
            Arg::Json(Some(Value::from(changed_fields))),
            actor.into(),
            now.into(),
        ],
    );
}
