//! What differs between SQLite and PostgreSQL in the statements queries compile to, in one
//! place: the query builder, month-day extraction, JSON text extraction, the casts that keep
//! sums and averages in their types, and the snapshot a long read runs in. Callers say what
//! they need; only this module matches on the backend.

use crate::entities::storage::q;
use crate::error::Result;
use crate::store::{Backend, Conn};
use sea_query::{PostgresQueryBuilder, SelectStatement, SqliteQueryBuilder};

/// The SQL dialect of the active store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect(pub Backend);

/// How an aggregate's result is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberKind {
    /// Integers and money in fen: exact.
    Whole,
    /// Reals.
    Real,
}

impl Dialect {
    pub fn build(self, select: &SelectStatement) -> (String, sea_query::Values) {
        match self.0 {
            Backend::Sqlite => select.build(SqliteQueryBuilder),
            Backend::Postgres => select.build(PostgresQueryBuilder),
        }
    }

    /// `MM-DD` of a date column (`table.column`, already quoted).
    pub fn month_day(self, qualified: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("substr({qualified}, 6, 5)"),
            Backend::Postgres => format!("to_char({qualified}, 'MM-DD')"),
        }
    }

    /// The text of a top-level key of a record's document. `field` is a validated slug.
    pub fn document_text(self, table: &str, field: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("json_extract({}.\"data\", '$.{field}')", q(table)),
            Backend::Postgres => format!("({}.\"data\" ->> '{field}')", q(table)),
        }
    }

    /// `SUM(column)` read back as a whole number (exact, in fen for money) or a real.
    pub fn sum(self, column: &str, kind: NumberKind) -> String {
        match (kind, self.0) {
            (NumberKind::Whole, Backend::Postgres) => format!("SUM({column})::bigint"),
            (NumberKind::Whole, Backend::Sqlite) => format!("SUM({column})"),
            (NumberKind::Real, Backend::Postgres) => format!("SUM({column})::double precision"),
            (NumberKind::Real, Backend::Sqlite) => format!("CAST(SUM({column}) AS REAL)"),
        }
    }

    /// `AVG(column)`, rounded to a whole number (money in fen) or as a real.
    pub fn avg(self, column: &str, kind: NumberKind) -> String {
        match (kind, self.0) {
            (NumberKind::Whole, Backend::Postgres) => format!("ROUND(AVG({column}))::bigint"),
            (NumberKind::Whole, Backend::Sqlite) => {
                format!("CAST(ROUND(AVG({column})) AS INTEGER)")
            }
            (NumberKind::Real, Backend::Postgres) => format!("AVG({column})::double precision"),
            (NumberKind::Real, Backend::Sqlite) => format!("CAST(AVG({column}) AS REAL)"),
        }
    }

    /// Makes the transaction just begun on `conn` read one snapshot to its end. SQLite's
    /// deferred transaction already does so (WAL: the snapshot is taken at the first read and
    /// kept); PostgreSQL's default READ COMMITTED takes a new one per statement.
    pub async fn read_one_snapshot(self, conn: &mut Conn<'_>) -> Result<()> {
        if self.0 == Backend::Postgres {
            conn.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                vec![],
            )
            .await?;
        }
        Ok(())
    }
}
