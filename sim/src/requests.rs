//! Bounded logs of what the fakes received and served, so tests can check what the server asks
//! for (metadata-only pod lists with a field selector) and when it scrapes (one sample per
//! period), not only what it serves.

use std::collections::VecDeque;
use std::sync::Mutex;

/// One request the fake kube-apiserver received, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (empty when there is none).
    pub query: String,
    /// The `Accept` header (empty when absent).
    pub accept: String,
}

impl ApiRequest {
    /// The last value of query parameter `key`, percent-decoded.
    pub fn param(&self, key: &str) -> Option<String> {
        super::serve::parse_query(Some(&self.query))
            .into_iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether this is a watch (`?watch=true` or a `/watch/` path), as kube-apiserver reads it.
    pub fn is_watch(&self) -> bool {
        self.path.starts_with("/api/v1/watch/")
            || self
                .param("watch")
                .is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")))
    }
}

/// A ring of the newest entries: old ones are dropped first, so a long run never grows it.
#[derive(Debug)]
pub struct BoundedLog<T> {
    entries: Mutex<VecDeque<T>>,
    capacity: usize,
}

impl<T: Clone> BoundedLog<T> {
    /// An empty log keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        BoundedLog {
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn push(&self, entry: T) {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if e.len() == self.capacity {
            e.pop_front();
        }
        e.push_back(entry);
    }

    /// The entries held, oldest first.
    pub fn snapshot(&self) -> Vec<T> {
        let e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.iter().cloned().collect()
    }

    /// Forgets every entry (a test starting a phase of its own).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// How many requests the fake kube-apiserver remembers.
pub const API_REQUESTS_KEPT: usize = 4096;

/// How many served samples each fake kubelet remembers.
pub const SAMPLES_KEPT: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries() {
        let log = BoundedLog::new(3);
        for i in 0..5 {
            log.push(i);
        }
        assert_eq!(log.snapshot(), vec![2, 3, 4]);
        log.clear();
        assert!(log.snapshot().is_empty());
    }

    #[test]
    fn reads_query_parameters_as_kube_apiserver_does() {
        let r = ApiRequest {
            method: "GET".into(),
            path: "/api/v1/pods".into(),
            query: "fieldSelector=status.phase%3DRunning&watch=true".into(),
            accept: String::new(),
        };
        assert_eq!(
            r.param("fieldSelector").as_deref(),
            Some("status.phase=Running")
        );
        assert!(r.is_watch());
        let list = ApiRequest {
            query: "watch=false".into(),
            ..r.clone()
        };
        assert!(!list.is_watch());
    }
}
