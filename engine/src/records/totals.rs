//! A list's `total` without counting costing more than its page (DESIGN.md, "Precise rules",
//! Wire): counting stops past [`EXACT_TOTAL_BOUND`] matching rows; beyond it the list answers
//! `total_estimate` instead — the planner's row estimate on PostgreSQL, a recent exact count on
//! SQLite (which has no planner estimates) — unless the caller asked for the exact figure.

use super::dialect::Dialect;
use super::read::ListPlan;
use crate::engine::Engine;
use crate::error::Result;
use crate::store::Conn;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// Lists count their matching rows exactly up to this many; past it the count stops and
/// `total_estimate` is answered. One thousand rows is a page at the largest `per_page`, so an
/// exact total never costs more than reading the largest page.
pub const EXACT_TOTAL_BOUND: u64 = 1_000;

/// How long SQLite serves a full count as the estimate before counting again.
pub const RECENT_COUNT_TTL: Duration = Duration::seconds(60);

/// The most full counts SQLite keeps at once; the oldest goes first.
pub const RECENT_COUNT_CAPACITY: usize = 1_024;

/// What a list's caller asked to be told of its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Neither a total nor an estimate (`?count=false`).
    Skip,
    /// The exact total up to the bound, an estimate past it (`?count=true`, the default).
    Bounded,
    /// The exact total however large (`?count=exact`), for a report that needs the figure.
    Exact,
}

/// The length a list answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListTotal {
    Omitted,
    Exact(u64),
    /// Past [`EXACT_TOTAL_BOUND`]; always greater than it.
    Estimate(u64),
}

impl ListTotal {
    pub fn exact(self) -> Option<u64> {
        match self {
            ListTotal::Exact(n) => Some(n),
            _ => None,
        }
    }

    pub fn estimate(self) -> Option<u64> {
        match self {
            ListTotal::Estimate(n) => Some(n),
            _ => None,
        }
    }
}

/// A count statement and every value bound to it, digested: two statements share a key only
/// when their SQL and arguments are the same, so callers whose filters or row scopes differ never
/// share a count, and the cache holds no filter value (a looked-up phone number, say) in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountKey([u8; 32]);

impl CountKey {
    pub fn of(sql: &str, values: &sea_query::Values) -> CountKey {
        let mut hasher = Sha256::new();
        // Length prefixes keep the parts apart: no SQL and arguments run into another pair.
        hasher.update((sql.len() as u64).to_le_bytes());
        hasher.update(sql.as_bytes());
        for value in values.iter() {
            // The debug form names the value's type as well as its value, so `1` and `'1'`
            // differ.
            let text = format!("{value:?}");
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        CountKey(hasher.finalize().into())
    }
}

#[derive(Debug, Clone, Copy)]
struct RecentCount {
    rows: u64,
    taken_at: OffsetDateTime,
}

/// The last exact full count of each recently listed count statement, and when it was taken:
/// SQLite's estimate past the bound. Holds numbers only, never record data.
#[derive(Debug)]
pub struct RecentCounts {
    entries: Mutex<HashMap<CountKey, RecentCount>>,
    capacity: usize,
    ttl: Duration,
}

impl Default for RecentCounts {
    fn default() -> Self {
        RecentCounts::new(RECENT_COUNT_CAPACITY, RECENT_COUNT_TTL)
    }
}

impl RecentCounts {
    pub fn new(capacity: usize, ttl: Duration) -> RecentCounts {
        RecentCounts {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<CountKey, RecentCount>> {
        // A panic elsewhere cannot leave a count half-written: the map stays usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The count taken for `key` less than the time to live before `now`. A count stamped
    /// after `now` (the clock was set back) is not trusted.
    pub fn fresh(&self, key: &CountKey, now: OffsetDateTime) -> Option<u64> {
        let entries = self.entries();
        let entry = entries.get(key)?;
        let age = now - entry.taken_at;
        (age >= Duration::ZERO && age < self.ttl).then_some(entry.rows)
    }

    /// Keeps `rows` as the count of `key` taken at `now`, making room by dropping the oldest.
    pub fn remember(&self, key: CountKey, rows: u64, now: OffsetDateTime) {
        let mut entries = self.entries();
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            // At most a thousand entries: a scan is cheaper than keeping them ordered.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.taken_at)
                .map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            RecentCount {
                rows,
                taken_at: now,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Engine {
    /// The total a planned list answers with, read on `conn`.
    pub(crate) async fn list_total(
        &self,
        conn: &mut Conn<'_>,
        plan: &ListPlan,
        counting: Counting,
    ) -> Result<ListTotal> {
        let dialect = Dialect(self.db.backend());
        match counting {
            Counting::Skip => Ok(ListTotal::Omitted),
            Counting::Exact => Ok(ListTotal::Exact(self.full_count(conn, plan).await?)),
            Counting::Bounded => {
                let (sql, values) = dialect.bounded_count(&plan.matching, EXACT_TOTAL_BOUND);
                let seen = count_of(conn.fetch_built(&sql, values).await?)?;
                if seen <= EXACT_TOTAL_BOUND {
                    return Ok(ListTotal::Exact(seen));
                }
                let estimate = match dialect.planner_rows(conn, &plan.matching).await? {
                    Some(rows) => rows,
                    None => self.recent_count(conn, plan).await?,
                };
                // The bounded count proved more rows than the bound, whatever a stale count or
                // the planner says.
                Ok(ListTotal::Estimate(estimate.max(EXACT_TOTAL_BOUND + 1)))
            }
        }
    }

    async fn full_count(&self, conn: &mut Conn<'_>, plan: &ListPlan) -> Result<u64> {
        let (sql, values) = Dialect(self.db.backend()).build(&plan.count);
        count_of(conn.fetch_built(&sql, values).await?)
    }

    /// The full count of the plan's statement taken within the time to live, or a new one.
    async fn recent_count(&self, conn: &mut Conn<'_>, plan: &ListPlan) -> Result<u64> {
        let (sql, values) = Dialect(self.db.backend()).build(&plan.count);
        let key = CountKey::of(&sql, &values);
        if let Some(rows) = self.recent_counts.fresh(&key, self.now()) {
            return Ok(rows);
        }
        let rows = count_of(conn.fetch_built(&sql, values).await?)?;
        self.recent_counts.remember(key, rows, self.now());
        Ok(rows)
    }
}

fn count_of(rows: Vec<crate::store::DbRow>) -> Result<u64> {
    Ok(rows
        .first()
        .map(|r| r.req_int("n"))
        .transpose()?
        .unwrap_or(0)
        .max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::Value;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + seconds)
    }

    fn key(sql: &str, args: Vec<Value>) -> CountKey {
        CountKey::of(sql, &sea_query::Values(args))
    }

    #[test]
    fn a_count_is_served_until_it_is_a_minute_old() {
        let counts = RecentCounts::default();
        let k = key("SELECT COUNT(*) AS n FROM t WHERE a = ?", vec![1i64.into()]);
        assert_eq!(counts.fresh(&k, at(0)), None);
        counts.remember(k, 4_321, at(0));
        assert_eq!(counts.fresh(&k, at(0)), Some(4_321));
        assert_eq!(counts.fresh(&k, at(59)), Some(4_321));
        assert_eq!(counts.fresh(&k, at(60)), None, "expired at 60 s");
        assert_eq!(
            counts.fresh(&k, at(-1)),
            None,
            "a count from the future is not trusted"
        );
        counts.remember(k, 5_000, at(60));
        assert_eq!(
            counts.fresh(&k, at(61)),
            Some(5_000),
            "a new count replaces it"
        );
        assert_eq!(counts.len(), 1);
    }

    #[test]
    fn the_key_is_the_whole_statement_and_every_argument() {
        let sql = "SELECT COUNT(*) AS n FROM t WHERE a = ? AND b = ?";
        let base = key(sql, vec![1i64.into(), "x".into()]);
        assert_eq!(base, key(sql, vec![1i64.into(), "x".into()]));
        assert_ne!(
            base,
            key(sql, vec![1i64.into(), "y".into()]),
            "another value"
        );
        assert_ne!(
            base,
            key(sql, vec![2i64.into(), "x".into()]),
            "another value"
        );
        assert_ne!(base, key(sql, vec![1i64.into()]), "fewer arguments");
        assert_ne!(
            base,
            key(sql, vec!["1".into(), "x".into()]),
            "the same digits as text"
        );
        assert_ne!(
            base,
            key(
                "SELECT COUNT(*) AS n FROM t WHERE a = ? AND b = ? AND c IS NULL",
                vec![1i64.into(), "x".into()]
            ),
            "another statement (say, another row scope)"
        );
        // Parts cannot slide into one another.
        assert_ne!(key("a", vec!["bc".into()]), key("ab", vec!["c".into()]));

        let counts = RecentCounts::default();
        counts.remember(base, 2_000, at(0));
        let other = key(sql, vec![1i64.into(), "y".into()]);
        assert_eq!(counts.fresh(&other, at(1)), None, "no entry is shared");
        assert_eq!(counts.fresh(&base, at(1)), Some(2_000));
    }

    #[test]
    fn the_oldest_count_makes_room() {
        let counts = RecentCounts::new(3, RECENT_COUNT_TTL);
        let keys: Vec<CountKey> = (0..4i64)
            .map(|i| key("SELECT COUNT(*) AS n FROM t WHERE a = ?", vec![i.into()]))
            .collect();
        counts.remember(keys[1], 11, at(1));
        counts.remember(keys[0], 10, at(0));
        counts.remember(keys[2], 12, at(2));
        // Refreshing a kept count needs no room.
        counts.remember(keys[2], 13, at(3));
        assert_eq!(counts.len(), 3);
        counts.remember(keys[3], 14, at(4));
        assert_eq!(counts.len(), 3, "bounded");
        assert_eq!(counts.fresh(&keys[0], at(5)), None, "the oldest went");
        assert_eq!(counts.fresh(&keys[1], at(5)), Some(11));
        assert_eq!(counts.fresh(&keys[2], at(5)), Some(13));
        assert_eq!(counts.fresh(&keys[3], at(5)), Some(14));
    }

    #[test]
    fn the_default_cache_holds_a_thousand_and_twenty_four_counts() {
        let counts = RecentCounts::default();
        for i in 0..(RECENT_COUNT_CAPACITY as i64 + 10) {
            counts.remember(
                key("SELECT COUNT(*) AS n FROM t WHERE a = ?", vec![i.into()]),
                i as u64,
                at(i),
            );
        }
        assert_eq!(counts.len(), RECENT_COUNT_CAPACITY);
    }
}
