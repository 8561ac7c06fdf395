//! Cancelling jobs that have not finished: a run's, or a record's pending timers.
//!
//! A running job is cancelled too: its lease token is cleared, so its worker's `complete`
//! fails with `LeaseLost` and the step commits nothing. A cancelled job gives up its
//! `dedupe_key`, so the same job may be scheduled again (a timer moved back to its old time).

use crate::error::{EngineError, Result};
use crate::store::{Arg, Conn};
use time::OffsetDateTime;
use uuid::Uuid;

const CANCEL: &str = "UPDATE flow_jobs SET state = 'cancelled', dedupe_key = NULL, \
                      lease_token = NULL, lease_until = NULL, updated_at = $1 \
                      WHERE state IN ('ready', 'running') AND ";

/// Cancels every unfinished job of `run_id` in the caller's transaction; answers how many.
pub async fn cancel_for_run(conn: &mut Conn<'_>, run_id: Uuid, now: OffsetDateTime) -> Result<u64> {
    conn.execute(
        &format!("{CANCEL}run_id = $2"),
        vec![now.into(), run_id.into()],
    )
    .await
}

/// Cancels every unfinished job whose `dedupe_key` starts with `prefix` (a record's timers of
/// one flow: [`super::timer_prefix`]) in the caller's transaction; answers how many. The
/// prefix is one range of the key's unique index (keys compare bytewise on both backends).
pub async fn cancel_by_dedupe_prefix(
    conn: &mut Conn<'_>,
    prefix: &str,
    now: OffsetDateTime,
) -> Result<u64> {
    if prefix.is_empty() {
        return Err(EngineError::internal(
            "refusing to cancel jobs by an empty key prefix (it would match every keyed job)",
        ));
    }
    let mut args: Vec<Arg> = vec![now.into(), prefix.into()];
    let range = match prefix_end(prefix) {
        Some(end) => {
            args.push(end.into());
            "dedupe_key >= $2 AND dedupe_key < $3"
        }
        None => "dedupe_key >= $2",
    };
    conn.execute(&format!("{CANCEL}{range}"), args).await
}

/// The least string above every string that starts with `prefix`, in code point order (which
/// is byte order of UTF-8): the prefix with its last character incremented. None when no such
/// string exists (the prefix is all U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => 0xE000, // surrogates are not characters
            n => n,
        };
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_holds_exactly_the_keys_that_start_with_it() {
        let prefix = "timer:recheck_reminder:0190";
        let end = prefix_end(prefix).unwrap();
        assert_eq!(end, "timer:recheck_reminder:0191");
        for key in [
            "timer:recheck_reminder:0190",
            "timer:recheck_reminder:0190:2026-01-01",
            "timer:recheck_reminder:0190\u{10FFFF}",
        ] {
            assert!(key >= prefix && key < end.as_str(), "{key}");
        }
        for key in ["timer:recheck_reminder:0191", "timer:recheck_reminder:019"] {
            assert!(!(key >= prefix && key < end.as_str()), "{key}");
        }
    }

    #[test]
    fn a_prefix_end_skips_surrogates_and_carries_past_the_last_character() {
        assert_eq!(prefix_end("a\u{D7FF}").unwrap(), "a\u{E000}");
        assert_eq!(prefix_end("a\u{10FFFF}").unwrap(), "b");
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
