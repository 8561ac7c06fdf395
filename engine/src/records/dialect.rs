//! What differs between SQLite and PostgreSQL in the statements queries compile to, in one
//! place: the query builder, month-day extraction, JSON text extraction, the casts that keep
//! sums and averages in their types, the snapshot a long read runs in, and the planner's row
//! estimate. Callers say what they need; only this module matches on the backend.

use crate::entities::storage::q;
use crate::error::{EngineError, Result};
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

    /// `SELECT COUNT(*)` of the rows `matching` selects, counting at most `bound + 1` of them.
    /// The cap is a literal: it is a constant, and a bound parameter would let PostgreSQL fall
    /// back to a generic plan that guesses the limit.
    pub fn bounded_count(
        self,
        matching: &SelectStatement,
        bound: u64,
    ) -> (String, sea_query::Values) {
        let (inner, values) = self.build(matching);
        let cap = bound.saturating_add(1);
        (
            format!("SELECT COUNT(*) AS n FROM ({inner} LIMIT {cap}) AS bounded"),
            values,
        )
    }

    /// The planner's estimate of how many rows `matching` selects, with its values bound as
    /// they will be; `None` where the backend keeps no such estimate (SQLite).
    pub async fn planner_rows(
        self,
        conn: &mut Conn<'_>,
        matching: &SelectStatement,
    ) -> Result<Option<u64>> {
        if self.0 == Backend::Sqlite {
            return Ok(None);
        }
        let (sql, values) = self.build(matching);
        let rows = conn
            .fetch_built(&format!("EXPLAIN (FORMAT JSON) {sql}"), values)
            .await?;
        let plan = rows
            .first()
            .map(|r| r.req_json("QUERY PLAN"))
            .transpose()?
            .unwrap_or_default();
        plan[0]["Plan"]["Plan Rows"]
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| Some(n.round() as u64))
            .ok_or_else(|| EngineError::internal(format!("no row estimate in the plan {plan}")))
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

    /// Makes the transaction just begun on `conn` read one snapshot to its end. A SQLite
    /// transaction already does so (WAL: the snapshot is taken at the first read and kept; an
    /// export's is a write transaction, `BEGIN IMMEDIATE` holding the write turn, because its
    /// masked-lookup audit writes); PostgreSQL's default READ COMMITTED takes a new one per
    /// statement.
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
