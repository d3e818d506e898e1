//! The fake apiserver's object store: objects with per-object resourceVersions, one global
//! monotonic resourceVersion counter, a bounded event log for watch resumption and a broadcast
//! channel for live events.
//!
//! Objects are kept as compact model data (`object`) and rendered to JSON on request, so a
//! cluster of thousands of nodes costs little memory. The label and field selectors list and watch
//! filter with are in `selector`.

mod object;
mod selector;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

pub(crate) use object::{Kind, NodeObj, NsObj, ObjData, PodObj, Stored};
pub(crate) use selector::{FieldSelector, Filter, LabelSelector};

use object::Key;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change. `obj.rv` is the event's resourceVersion; for DELETED, `obj` is the last
/// state stamped with the deletion's RV. `prev` is the state before a MODIFIED (for selector
/// transitions).
#[derive(Debug)]
pub(crate) struct Event {
    pub etype: EventType,
    pub obj: Stored,
    pub prev: Option<Stored>,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Stored>,
    log: VecDeque<Arc<Event>>,
    /// Every event with RV > floor is still in `log`.
    floor: u64,
    log_cap: usize,
}

/// Where a watch starts.
pub(crate) enum WatchStart {
    /// Events to replay (already filtered by kind, not by selectors), the live receiver and the
    /// store RV at subscription time.
    Ok {
        replay: Vec<Arc<Event>>,
        snapshot: Option<Vec<Stored>>,
        rx: broadcast::Receiver<Arc<Event>>,
        rv: u64,
    },
    /// The requested RV is older than the log; carries the oldest resumable RV.
    TooOld(u64),
}

/// The object store; all mutations take one lock, which also orders the broadcast.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Store {
    /// An empty store whose log keeps `log_cap` events.
    pub(crate) fn new(log_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(log_cap.max(16));
        Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: BTreeMap::new(),
                log: VecDeque::with_capacity(log_cap.min(4096)),
                floor: 0,
                log_cap,
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the initial objects without logging events (like objects that existed before the
    /// apiserver's watch cache started): watches from older RVs get 410.
    pub(crate) fn seed(&self, objects: impl IntoIterator<Item = ObjData>) {
        let mut inner = self.lock();
        for data in objects {
            inner.rv += 1;
            let rv = inner.rv;
            inner.objects.insert(data.key(), Stored { rv, data });
        }
        inner.floor = inner.rv;
    }

    /// The current global resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    fn commit(&self, inner: &mut Inner, ev: Event) {
        let ev = Arc::new(ev);
        inner.log.push_back(ev.clone());
        while inner.log.len() > inner.log_cap {
            if let Some(old) = inner.log.pop_front() {
                inner.floor = old.obj.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Creates or replaces an object (ADDED or MODIFIED). Returns its new RV.
    pub(crate) fn upsert(&self, data: ObjData) -> u64 {
        let mut inner = self.lock();
        inner.rv += 1;
        let rv = inner.rv;
        let stored = Stored { rv, data };
        let prev = inner.objects.insert(stored.data.key(), stored.clone());
        let etype = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.commit(
            &mut inner,
            Event {
                etype,
                obj: stored,
                prev,
            },
        );
        rv
    }

    /// Deletes an object; returns its last state if it existed.
    pub(crate) fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Option<Stored> {
        let mut inner = self.lock();
        let old = inner
            .objects
            .remove(&(kind, namespace.to_string(), name.to_string()))?;
        inner.rv += 1;
        let obj = Stored {
            rv: inner.rv,
            data: old.data.clone(),
        };
        self.commit(
            &mut inner,
            Event {
                etype: EventType::Deleted,
                obj,
                prev: None,
            },
        );
        Some(old)
    }

    /// One object.
    pub(crate) fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Stored> {
        self.lock()
            .objects
            .get(&(kind, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// A page of objects of `kind` matching `filter`, in (namespace, name) order, starting after
    /// the key `after` and holding at most `limit` objects (None = all). Returns the store RV,
    /// the page, and the key to continue after when more objects match.
    pub(crate) fn list_page(
        &self,
        kind: Kind,
        filter: &Filter,
        after: Option<(String, String)>,
        limit: Option<usize>,
    ) -> (u64, Vec<Stored>, Option<(String, String)>) {
        let inner = self.lock();
        let ns = filter.namespace.as_deref();
        let start = match after {
            Some((a_ns, a_name)) => Bound::Excluded((kind, a_ns, a_name)),
            None => Bound::Included((kind, ns.unwrap_or("").to_string(), String::new())),
        };
        let mut page: Vec<Stored> = Vec::new();
        let mut next = None;
        for ((k, ons, _), s) in inner.objects.range((start, Bound::Unbounded)) {
            if *k != kind || ns.is_some_and(|want| want != ons) {
                break;
            }
            if !filter.matches(&s.data) {
                continue;
            }
            if limit.is_some_and(|l| page.len() >= l) {
                next = page
                    .last()
                    .map(|l| (l.data.namespace().to_string(), l.data.name().to_string()));
                break;
            }
            page.push(s.clone());
        }
        (inner.rv, page, next)
    }

    /// Starts a watch. `from` = None means "now, with the current state as a snapshot" (RV
    /// unset or "0"); `initial` forces a snapshot (sendInitialEvents=true).
    pub(crate) fn watch(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        from: Option<u64>,
        initial: bool,
    ) -> WatchStart {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        match from {
            Some(n) if !initial => {
                if n < inner.floor {
                    return WatchStart::TooOld(inner.floor);
                }
                let replay = inner
                    .log
                    .iter()
                    .filter(|e| e.obj.rv > n && e.obj.data.kind() == kind)
                    .cloned()
                    .collect();
                WatchStart::Ok {
                    replay,
                    snapshot: None,
                    rx,
                    rv: inner.rv.max(n),
                }
            }
            _ => WatchStart::Ok {
                replay: Vec::new(),
                snapshot: Some(list_locked(&inner, kind, namespace)),
                rx,
                rv: inner.rv,
            },
        }
    }
}

fn list_locked(inner: &Inner, kind: Kind, namespace: Option<&str>) -> Vec<Stored> {
    let lo = (kind, namespace.unwrap_or("").to_string(), String::new());
    inner
        .objects
        .range(lo..)
        .take_while(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|want| want == ns))
        .map(|(_, v)| v.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> ObjData {
        ObjData::Namespace(Arc::new(NsObj {
            name: name.into(),
            uid: "u".into(),
            created_s: 0,
        }))
    }

    #[test]
    fn store_events_and_log() {
        let store = Store::new(3);
        store.seed([ns("a"), ns("b")]);
        assert_eq!(store.current_rv(), 2);
        let all = Filter::default();
        let (rv, items, next) = store.list_page(Kind::Namespace, &all, None, None);
        assert_eq!((rv, items.len(), next), (2, 2, None));
        let (_, page, next) = store.list_page(Kind::Namespace, &all, None, Some(1));
        assert_eq!(page[0].data.name(), "a");
        assert_eq!(next, Some((String::new(), "a".to_string())));
        let (_, page, next) = store.list_page(Kind::Namespace, &all, next, Some(1));
        assert_eq!((page[0].data.name(), next), ("b", None));
        assert_eq!(store.upsert(ns("c")), 3);
        assert_eq!(store.upsert(ns("c")), 4);
        assert!(store.delete(Kind::Namespace, "", "a").is_some());
        assert!(store.delete(Kind::Namespace, "", "a").is_none());
        match store.watch(Kind::Namespace, None, Some(2), false) {
            WatchStart::Ok { replay, .. } => {
                let types: Vec<_> = replay.iter().map(|e| (e.etype, e.obj.rv)).collect();
                assert_eq!(
                    types,
                    vec![
                        (EventType::Added, 3),
                        (EventType::Modified, 4),
                        (EventType::Deleted, 5)
                    ]
                );
            }
            WatchStart::TooOld(_) => panic!("should resume"),
        }
        store.upsert(ns("d"));
        // Log holds 3 events now (4, 5, 6): resuming from 2 is too old, from 3 is fine.
        assert!(matches!(
            store.watch(Kind::Namespace, None, Some(2), false),
            WatchStart::TooOld(3)
        ));
        assert!(matches!(
            store.watch(Kind::Namespace, None, Some(3), false),
            WatchStart::Ok { .. }
        ));
        assert!(matches!(
            store.watch(Kind::Node, None, Some(1), false),
            WatchStart::TooOld(_)
        ));
    }
}
