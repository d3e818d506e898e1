//! A small TTL cache for review answers, shared by all worker threads.
//!
//! Go caches TokenReview and SubjectAccessReview answers for a fixed TTL so that a busy client
//! costs the kube-apiserver one review per TTL, not one per request. Entries are bounded; when
//! full, expired entries are dropped first and then everything (a burst of distinct keys must
//! not grow memory without bound).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most per cache.
pub const MAX_ENTRIES: usize = 8192;

/// Key-value pairs that expire a fixed time after insertion.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// The value, if present and not expired.
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(exp, _)| *exp > Instant::now())
            .map(|(_, v)| v.clone())
    }

    /// Stores `value` for `ttl`; a zero TTL stores nothing.
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (now + ttl, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_zero_ttl_is_not_stored() {
        let c = TtlCache::default();
        c.insert(1, "a", Duration::from_millis(30));
        c.insert(2, "b", Duration::ZERO);
        assert_eq!(c.get(&1), Some("a"));
        assert_eq!(c.get(&2), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&1), None);
        for i in 0..(MAX_ENTRIES + 10) {
            c.insert(i, "x", Duration::from_secs(60));
        }
        assert!(c.map.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
