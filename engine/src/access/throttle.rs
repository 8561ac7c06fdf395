//! Log-in throttling, counted in the `login_attempts` table so it holds across instances and
//! restarts. Five failures for one user name within 15 minutes lock that name for 15 minutes;
//! twenty from one client address lock the address. A success clears the user name's count.

use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::store::Db;
use time::Duration;

pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCK: Duration = Duration::minutes(15);
pub const USER_LIMIT: i64 = 5;
pub const IP_LIMIT: i64 = 20;
/// Longer inputs are cut, so junk cannot grow the table's keys without bound.
const MAX_KEY_PART: usize = 128;

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    /// A user name, compared case-insensitively.
    User(String),
    /// A client address.
    Ip(String),
}

impl ThrottleKey {
    pub fn user(username: &str) -> ThrottleKey {
        ThrottleKey::User(username.to_lowercase())
    }

    pub fn ip(addr: &str) -> ThrottleKey {
        ThrottleKey::Ip(addr.to_string())
    }

    /// The stored key: `user:<name in lower case>` or `ip:<addr>`.
    pub fn key(&self) -> String {
        let (prefix, part) = match self {
            ThrottleKey::User(u) => ("user:", u.to_lowercase()),
            ThrottleKey::Ip(a) => ("ip:", a.clone()),
        };
        let part: String = part.chars().take(MAX_KEY_PART).collect();
        format!("{prefix}{part}")
    }

    pub fn limit(&self) -> i64 {
        match self {
            ThrottleKey::User(_) => USER_LIMIT,
            ThrottleKey::Ip(_) => IP_LIMIT,
        }
    }
}

/// `RateLimited` while any of `keys` is locked, with the longest wait.
pub async fn check(db: &Db, clock: &dyn Clock, keys: &[ThrottleKey]) -> Result<()> {
    let now = clock.now();
    let mut wait = Duration::ZERO;
    for key in keys {
        let row = db
            .fetch_optional(
                "SELECT locked_until FROM login_attempts WHERE key = $1",
                vec![key.key().into()],
            )
            .await?;
        if let Some(until) = row.map(|r| r.time("locked_until")).transpose()?.flatten() {
            if until > now {
                wait = wait.max(until - now);
            }
        }
    }
    if wait > Duration::ZERO {
        // Round up: a client told "0 s" would retry while still locked.
        let secs = wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0);
        return Err(EngineError::RateLimited {
            retry_after_secs: u64::try_from(secs).unwrap_or(1).max(1),
        });
    }
    Ok(())
}

/// Counts a failed log-in against each key, locking a key that reaches its limit within the
/// window. A count older than the window starts over.
pub async fn record_failure(db: &Db, clock: &dyn Clock, keys: &[ThrottleKey]) -> Result<()> {
    let now = clock.now();
    for key in keys {
        let k = key.key();
        let failures = db
            .fetch_one(
                "INSERT INTO login_attempts (key, failures, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN login_attempts.window_start <= $3 THEN 1 \
                                   ELSE login_attempts.failures + 1 END, \
                   window_start = CASE WHEN login_attempts.window_start <= $3 THEN $2 \
                                       ELSE login_attempts.window_start END \
                 RETURNING failures",
                vec![k.clone().into(), now.into(), (now - WINDOW).into()],
            )
            .await?
            .req_int("failures")?;
        if failures >= key.limit() {
            // The lock replaces the count: after it ends the name starts afresh.
            db.execute(
                "UPDATE login_attempts SET locked_until = $1, failures = 0, window_start = $2 WHERE key = $3",
                vec![(now + LOCK).into(), now.into(), k.into()],
            )
            .await?;
            tracing::warn!(
                key_kind = key_kind(key),
                "log-in locked after repeated failures"
            );
        }
    }
    Ok(())
}

/// Clears the count for the given keys (the user name's, after a successful log-in).
pub async fn record_success(db: &Db, keys: &[ThrottleKey]) -> Result<()> {
    for key in keys {
        db.execute(
            "DELETE FROM login_attempts WHERE key = $1",
            vec![key.key().into()],
        )
        .await?;
    }
    Ok(())
}

fn key_kind(key: &ThrottleKey) -> &'static str {
    match key {
        ThrottleKey::User(_) => "user",
        ThrottleKey::Ip(_) => "ip",
    }
}
