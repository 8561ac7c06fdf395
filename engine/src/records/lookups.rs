//! Exact lookups by a field the caller sees masked (the front desk's search by ID number):
//! each one is audited (actor, entity, field — never the value) and counted per user in the
//! `masked_lookups` table, like log-in throttling, so it holds across instances. Beyond
//! `LOOKUP_LIMIT` in `LOOKUP_WINDOW` the caller waits (429 with Retry-After).

use crate::access::audit::{self, AuditEntry};
use crate::access::Principal;
use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::store::Conn;
use time::Duration;

pub const LOOKUP_LIMIT: i64 = 30;
pub const LOOKUP_WINDOW: Duration = Duration::minutes(10);

/// One masked field a query matches exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MaskedLookup {
    pub entity: String,
    pub field: String,
}

/// Counts one query's masked lookups against the caller, refusing it past the limit, and
/// audits each field it looks up by.
pub(crate) async fn admit(
    conn: &mut Conn<'_>,
    clock: &dyn Clock,
    principal: &Principal,
    lookups: &[MaskedLookup],
) -> Result<()> {
    if lookups.is_empty() {
        return Ok(());
    }
    let now = clock.now();
    let key = format!("actor:{}", principal.actor);
    let row = conn
        .fetch_one(
            "INSERT INTO masked_lookups (key, lookups, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               lookups = CASE WHEN masked_lookups.window_start <= $3 THEN 1 \
                              ELSE masked_lookups.lookups + 1 END, \
               window_start = CASE WHEN masked_lookups.window_start <= $3 THEN $2 \
                                   ELSE masked_lookups.window_start END \
             RETURNING lookups, window_start",
            vec![key.into(), now.into(), (now - LOOKUP_WINDOW).into()],
        )
        .await?;
    if row.req_int("lookups")? > LOOKUP_LIMIT {
        let wait = row.req_time("window_start")? + LOOKUP_WINDOW - now;
        let secs = wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0);
        return Err(EngineError::RateLimited {
            retry_after_secs: u64::try_from(secs).unwrap_or(1).max(1),
        });
    }
    let mut lookups = lookups.to_vec();
    lookups.sort();
    lookups.dedup();
    for lookup in lookups {
        audit::append(
            conn,
            clock,
            &AuditEntry::new(&principal.actor, "record.lookup")
                .entity(lookup.entity)
                .fields(vec![lookup.field]),
        )
        .await?;
    }
    Ok(())
}
