//! Dedupe keys the runtime gives its jobs, laid out so a prefix selects a group of them.

use crate::store::db::sqlite_timestamp;
use time::OffsetDateTime;
use uuid::Uuid;

/// The prefix of every timer key of `flow` for `record`: cancelling by it cancels the record's
/// pending timers of that flow (its date field changed, it was deleted). A flow name is a slug
/// and holds no `:`, so one flow's prefix never covers another's.
pub fn timer_prefix(flow: &str, record: Uuid) -> String {
    format!("timer:{flow}:{}:", record.hyphenated())
}

/// The key of the date-relative timer of `flow` for `record` firing at `fire_at`: the sweep and
/// the change hook may both schedule it, and only one job results.
pub fn timer_key(flow: &str, record: Uuid, fire_at: OffsetDateTime) -> String {
    // The fixed-width UTC form: one instant, one key, whatever offset it came with.
    format!(
        "{}{}",
        timer_prefix(flow, record),
        sqlite_timestamp(fire_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn one_instant_is_one_key_and_a_records_keys_share_its_prefix() {
        let record = Uuid::nil();
        let a = timer_key("recheck", record, datetime!(2026-12-01 09:00 +08:00));
        let b = timer_key("recheck", record, datetime!(2026-12-01 01:00 UTC));
        assert_eq!(a, b);
        assert_eq!(
            a,
            "timer:recheck:00000000-0000-0000-0000-000000000000:2026-12-01T01:00:00.000000Z"
        );
        assert!(a.starts_with(&timer_prefix("recheck", record)));
        assert!(
            !timer_key("recheck_2", record, datetime!(2026-12-01 01:00 UTC))
                .starts_with(&timer_prefix("recheck", record))
        );
    }
}
