//! The exact cache of dashboard answers (docs/reports.md section 11): kept in memory, keyed
//! by everything an answer depends on — the definitions' versions, the parameters and
//! language, the viewer's effective rights on the entities read, the newest change of each of
//! those entities, and the local day — so a write or a change of rights is seen by the next
//! request and no viewer is given another's answer. Entries live at most [`TTL`]; at most
//! [`CAPACITY`] are kept, the least recently used leaving first.

use crate::access::{Principal, RowScope};
use crate::engine::Engine;
use crate::error::Result;
use crate::store::{Arg, Backend};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an entry is served at most.
pub const TTL: Duration = Duration::from_secs(600);
/// Entries kept at most.
pub const CAPACITY: usize = 256;

struct Entry {
    answer: Arc<Value>,
    stored: Instant,
    used: u64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    tick: u64,
}

/// The cache, one per engine (every clone shares it).
#[derive(Default)]
pub struct DashboardCache {
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How often the cache answered, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    /// Requests computed afresh, whether or not their answer could be kept.
    pub misses: u64,
}

impl DashboardCache {
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.tick += 1;
        let tick = entries.tick;
        let found = match entries.map.get_mut(key) {
            Some(entry) if entry.stored.elapsed() < TTL => {
                entry.used = tick;
                Some(entry.answer.clone())
            }
            Some(_) => {
                entries.map.remove(key);
                None
            }
            None => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, key: String, answer: Arc<Value>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.tick += 1;
        let used = entries.tick;
        if !entries.map.contains_key(&key) && entries.map.len() >= CAPACITY {
            entries.map.retain(|_, e| e.stored.elapsed() < TTL);
            if entries.map.len() >= CAPACITY {
                let oldest = entries
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.map.remove(&oldest);
                }
            }
        }
        entries.map.insert(
            key,
            Entry {
                answer,
                stored: Instant::now(),
                used,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// The viewer's effective rights on `entities`, as they bear on an answer: their grants (with
/// field rules and row scopes), their departments, and their own id only where a row scope is
/// `own`. Two viewers with equal rights get equal values, so they share entries.
pub fn rights_key(principal: &Principal, entities: &BTreeSet<String>) -> Value {
    if principal.is_admin {
        return json!({"admin": true});
    }
    let mut grants: Vec<Value> = principal
        .permissions
        .iter()
        .filter(|p| entities.contains(p.entity.as_str()))
        .map(|p| {
            let mut actions: Vec<&str> = p.actions.iter().map(|a| a.as_str()).collect();
            actions.sort_unstable();
            actions.dedup();
            json!({"entity": p.entity.as_str(), "actions": actions, "rows": p.rows, "fields": p.fields})
        })
        .collect();
    grants.sort_by_key(|g| g.to_string());
    grants.dedup();
    let own = principal
        .permissions
        .iter()
        .any(|p| entities.contains(p.entity.as_str()) && p.rows == RowScope::Own);
    let mut departments = principal.departments.clone();
    departments.sort();
    departments.dedup();
    json!({
        "grants": grants,
        "departments": departments,
        "user": if own { json!(principal.user_id) } else { Value::Null },
    })
}

impl Engine {
    /// The dashboard cache's counters.
    pub fn dashboard_cache_stats(&self) -> CacheStats {
        self.dashboard_cache.stats()
    }

    /// For each entity, its definition's version and the position of its newest change event;
    /// `None` when a change of one of them is committed but not yet positioned (PostgreSQL),
    /// so nothing about them may be served from or kept in the cache.
    pub async fn last_changes(
        &self,
        entities: &BTreeSet<String>,
    ) -> Result<Option<BTreeMap<String, (i64, i64)>>> {
        if self.db.backend() == Backend::Postgres {
            // Positions the commits so far, so a quiet system is cached at once.
            self.position_committed_events().await?;
        }
        let mut out = BTreeMap::new();
        let mut conn = self.db.acquire().await?;
        for entity in entities {
            let definition = match self.entity(entity).await {
                Ok(rt) => rt.version,
                Err(_) => -1,
            };
            let newest = conn
                .conn()
                .fetch_one(
                    "SELECT MAX(position) AS newest FROM change_events WHERE entity = $1",
                    vec![Arg::from(entity.as_str())],
                )
                .await?
                .int("newest")?
                .unwrap_or(0);
            if self.db.backend() == Backend::Postgres {
                let unpositioned = conn
                    .conn()
                    .fetch_optional(
                        "SELECT 1 AS one FROM change_events WHERE entity = $1 AND position IS NULL LIMIT 1",
                        vec![Arg::from(entity.as_str())],
                    )
                    .await?;
                if unpositioned.is_some() {
                    return Ok(None);
                }
            }
            out.insert(entity.clone(), (definition, newest));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Action, EntityPermission};
    use crate::names::EntityName;

    #[test]
    fn the_least_recently_used_entry_leaves_first() {
        let cache = DashboardCache::default();
        for i in 0..CAPACITY {
            cache.put(format!("k{i}"), Arc::new(json!(i)));
        }
        assert!(cache.get("k0").is_some());
        cache.put("new".into(), Arc::new(json!("new")));
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get("k0").is_some(), "k0 was used last");
        assert!(cache.get("k1").is_none(), "k1 was the least recently used");
        assert_eq!(cache.stats(), CacheStats { hits: 2, misses: 1 });
    }

    fn viewer(rows: RowScope, user: u128) -> Principal {
        Principal {
            user_id: Some(uuid::Uuid::from_u128(user)),
            is_admin: false,
            permissions: vec![EntityPermission {
                entity: EntityName::new("visit").unwrap(),
                actions: vec![Action::Read],
                rows,
                fields: Default::default(),
            }],
            ..Principal::system()
        }
    }

    #[test]
    fn equal_rights_share_a_key_and_own_rows_do_not() {
        let read: BTreeSet<String> = ["visit".to_string()].into();
        assert_eq!(
            rights_key(&viewer(RowScope::All, 1), &read),
            rights_key(&viewer(RowScope::All, 2), &read)
        );
        assert_ne!(
            rights_key(&viewer(RowScope::Own, 1), &read),
            rights_key(&viewer(RowScope::Own, 2), &read)
        );
        assert_ne!(
            rights_key(&viewer(RowScope::All, 1), &read),
            rights_key(&viewer(RowScope::Department, 1), &read)
        );
    }
}
