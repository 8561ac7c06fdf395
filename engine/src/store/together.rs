//! Several independent writes in one round trip to the database. A record write's history
//! row, change event and audit entry are three INSERTs; sent one by one they cost three
//! hand-offs to SQLite's connection thread or three network round trips to PostgreSQL, which
//! on a short transaction is most of its time.
//!
//! SQLite runs a text of several statements in one call, binding each `$n` to the n-th value
//! of the whole list; PostgreSQL runs data-modifying CTEs of one statement. Both need the
//! parameters numbered across the statements, which [`Together::push`] does.

use super::db::{Arg, Backend, Conn};
use crate::error::Result;

/// Statements to run as one, their parameters numbered across all of them.
#[derive(Default)]
pub struct Together {
    parts: Vec<String>,
    args: Vec<Arg>,
}

impl Together {
    /// Adds a statement whose parameters are numbered from `$1`, with its values.
    /// Statements must be INSERT, UPDATE or DELETE, and none may read what another of the
    /// same batch writes: PostgreSQL runs them on one snapshot, in no promised order.
    pub fn push(&mut self, sql: &str, args: Vec<Arg>) -> &mut Self {
        self.parts.push(renumber(sql, self.args.len()));
        self.args.extend(args);
        self
    }

    fn text(self, backend: Backend) -> (String, Vec<Arg>) {
        let Together { mut parts, args } = self;
        let sql = match backend {
            Backend::Sqlite => parts.join(";\n"),
            Backend::Postgres => {
                let last = parts.pop().unwrap_or_default();
                if parts.is_empty() {
                    last
                } else {
                    let ctes: Vec<String> = parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| format!("w{i} AS ({p})"))
                        .collect();
                    format!("WITH {} {last}", ctes.join(", "))
                }
            }
        };
        (sql, args)
    }
}

impl Conn<'_> {
    /// Runs the statements of `together` in one round trip, in the caller's transaction.
    pub async fn execute_together(&mut self, together: Together) -> Result<()> {
        if together.parts.is_empty() {
            return Ok(());
        }
        let (sql, args) = together.text(self.backend());
        self.execute(&sql, args).await?;
        Ok(())
    }
}

/// `sql` with each `$n` made `$(n + offset)`. Our statements hold no `$` in literals.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_across_statements() {
        assert_eq!(renumber("VALUES ($1, $2, $12)", 0), "VALUES ($1, $2, $12)");
        assert_eq!(
            renumber("VALUES ($1, $2, $12)", 9),
            "VALUES ($10, $11, $21)"
        );
        assert_eq!(renumber("x = $1 AND y = $1", 3), "x = $4 AND y = $4");
        let mut t = Together::default();
        t.push("INSERT INTO a (x) VALUES ($1)", vec![Arg::from(1_i64)])
            .push(
                "INSERT INTO b (x, y) VALUES ($1, $2)",
                vec![Arg::from(2_i64), Arg::from(3_i64)],
            )
            .push("INSERT INTO c (x) VALUES ($1)", vec![Arg::from(4_i64)]);
        let (sqlite, args) = t.text(Backend::Sqlite);
        assert_eq!(
            sqlite,
            "INSERT INTO a (x) VALUES ($1);\nINSERT INTO b (x, y) VALUES ($2, $3);\nINSERT INTO c (x) VALUES ($4)"
        );
        assert_eq!(args.len(), 4);
        let mut t = Together::default();
        t.push("INSERT INTO a (x) VALUES ($1)", vec![Arg::from(1_i64)])
            .push("INSERT INTO c (x) VALUES ($1)", vec![Arg::from(4_i64)]);
        assert_eq!(
            t.text(Backend::Postgres).0,
            "WITH w0 AS (INSERT INTO a (x) VALUES ($1)) INSERT INTO c (x) VALUES ($2)"
        );
    }
}
