//! Principals already loaded, kept for at most [`PRINCIPAL_TTL`].
//!
//! Every request names its caller (a token or a session's user) and loading the principal
//! costs three statements: the token, the user, the user's roles. A read by id needs one. So
//! a loaded principal is reused for up to one second. Any account change made through this
//! process forgets every entry at once, so within one instance a revocation, a disabled user
//! or a changed role is seen by the next request; a change made by another instance sharing the
//! database (or by the CLI) is seen within [`PRINCIPAL_TTL`].

use crate::access::principal::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// How long another instance's account change may go unseen here.
pub const PRINCIPAL_TTL: Duration = Duration::from_secs(1);
/// Entries kept at most; past it the cache starts afresh (a burst of distinct callers only
/// costs the loads it would have cost without a cache).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CallerKey {
    /// The SHA-256 of a bearer token, never the token.
    Token(String),
    /// A browser session's user.
    User(Uuid),
}

#[derive(Debug, Clone)]
pub(crate) struct CachedPrincipal {
    pub principal: Principal,
    /// A token's expiry, checked on every use: it may fall inside the entry's life.
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
pub(crate) struct PrincipalCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Bumped by every forget, so a load that started before a change is not stored after it.
    generation: u64,
    entries: HashMap<CallerKey, (Instant, CachedPrincipal)>,
}

impl PrincipalCache {
    /// The entry for `key` if it is younger than [`PRINCIPAL_TTL`].
    pub fn get(&self, key: &CallerKey) -> Option<CachedPrincipal> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < PRINCIPAL_TTL)
            .map(|(_, cached)| cached.clone())
    }

    /// The generation to pass to [`PrincipalCache::put`] for a load starting now.
    pub fn generation(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Keeps what a load that began at `generation` found, unless an account change came since.
    pub fn put(&self, key: CallerKey, generation: u64, cached: CachedPrincipal) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(key, (Instant::now(), cached));
    }

    /// Forgets every principal: called after any change to users, roles or tokens.
    pub fn forget_all(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.generation += 1;
        state.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(name: &str) -> CachedPrincipal {
        let mut principal = Principal::system();
        principal.username = name.into();
        CachedPrincipal {
            principal,
            expires_at: None,
        }
    }

    #[test]
    fn an_entry_is_served_until_forgotten() {
        let cache = PrincipalCache::default();
        let key = CallerKey::Token("h".into());
        assert!(cache.get(&key).is_none());
        cache.put(key.clone(), cache.generation(), cached("a"));
        assert_eq!(cache.get(&key).unwrap().principal.username, "a");
        cache.forget_all();
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn a_load_that_began_before_a_change_is_not_kept() {
        let cache = PrincipalCache::default();
        let key = CallerKey::User(Uuid::now_v7());
        let before = cache.generation();
        cache.forget_all();
        cache.put(key.clone(), before, cached("stale"));
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn an_entry_expires() {
        let cache = PrincipalCache::default();
        let key = CallerKey::User(Uuid::now_v7());
        cache.put(key.clone(), cache.generation(), cached("a"));
        std::thread::sleep(PRINCIPAL_TTL + Duration::from_millis(50));
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = PrincipalCache::default();
        for i in 0..MAX_ENTRIES + 5 {
            cache.put(CallerKey::Token(i.to_string()), 0, cached("a"));
        }
        assert!(cache.state.lock().unwrap().entries.len() <= MAX_ENTRIES);
    }
}
