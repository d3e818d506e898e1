//! One kind's served state, replay log, kept snapshots and broadcast channels: everything a commit
//! updates under the sequencer's lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use imbl::OrdMap;
use tokio::sync::broadcast;

use super::LogConfig;
use super::event::{Batch, Change, Event, EventType, FrameCache, HistoryError};
use super::snapshot::Snapshot;
use crate::store::objects::{Object, Versioned};

/// A broadcast channel and the resourceVersion of the newest batch sent on it, so a watcher's
/// progress can be compared with what it has been sent without touching its receiver.
#[derive(Debug)]
pub(super) struct Channel<T> {
    pub(super) tx: broadcast::Sender<Batch<T>>,
    pub(super) sent_rv: Arc<AtomicU64>,
}

impl<T> Channel<T> {
    pub(super) fn new(capacity: usize) -> Self {
        Channel {
            tx: broadcast::channel(capacity.max(1)).0,
            sent_rv: Arc::default(),
        }
    }

    /// Sends a batch; false when nobody listens.
    fn send(&self, batch: Batch<T>) -> bool {
        let rv = batch.last().map_or(0, |e| e.rv);
        let ok = self.tx.send(batch).is_ok();
        self.sent_rv.store(rv, Ordering::Release);
        ok
    }
}

/// The served state, log and fan-out of one kind.
#[derive(Debug)]
pub struct Collection<T: Object> {
    pub(super) map: OrdMap<T::Key, Arc<Versioned<T>>>,
    pub(super) log: VecDeque<Arc<Event<T>>>,
    /// Every event with rv > horizon is still in the log.
    pub(super) horizon: u64,
    pub(super) all: Channel<T>,
    pub(super) by_namespace: HashMap<Arc<str>, Channel<T>>,
    snapshots: VecDeque<Snapshot<T>>,
}

impl<T: Object> Collection<T> {
    pub(super) fn new(cfg: &LogConfig) -> Self {
        Collection {
            map: OrdMap::new(),
            log: VecDeque::new(),
            horizon: cfg.base_rv,
            all: Channel::new(cfg.channel_capacity),
            by_namespace: HashMap::new(),
            snapshots: VecDeque::new(),
        }
    }

    pub(super) fn apply(
        &mut self,
        rv: &mut u64,
        changes: Vec<Change<T>>,
        cfg: &LogConfig,
    ) -> usize {
        let mut events: Vec<Arc<Event<T>>> = Vec::new();
        for change in changes {
            let (kind, key, value, prev) = match change {
                Change::Upsert(value) => {
                    let key = value.key();
                    let prev = self.map.get(&key).cloned();
                    if prev.as_ref().is_some_and(|p| *p.value == value) {
                        continue;
                    }
                    let kind = if prev.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (kind, key, Arc::new(value), prev)
                }
                Change::Delete { key, owner } => {
                    let Some(prev) = self.map.get(&key).cloned() else {
                        continue;
                    };
                    if owner.is_some_and(|o| !owns(&*prev.value, &o)) {
                        continue;
                    }
                    (EventType::Deleted, key, prev.value.clone(), Some(prev))
                }
            };
            *rv += 1;
            let object = Arc::new(Versioned { rv: *rv, value });
            if kind == EventType::Deleted {
                self.map.remove(&key);
            } else {
                self.map.insert(key, object.clone());
            }
            events.push(Arc::new(Event {
                rv: *rv,
                kind,
                object,
                prev,
                frames: FrameCache::default(),
            }));
        }
        let count = events.len();
        if count == 0 {
            return 0;
        }
        for e in &events {
            if self.log.len() >= cfg.history.max(1)
                && let Some(old) = self.log.pop_front()
            {
                self.horizon = old.rv;
            }
            self.log.push_back(e.clone());
        }
        if !self.by_namespace.is_empty() {
            self.fan_out_by_namespace(&events);
        }
        if self.all.tx.receiver_count() > 0 {
            self.all.send(events.into());
        }
        count
    }

    fn fan_out_by_namespace(&mut self, events: &[Arc<Event<T>>]) {
        let mut groups: HashMap<&Arc<str>, Vec<Arc<Event<T>>>> = HashMap::new();
        for e in events {
            if let Some(ns) = e.object.value.namespace()
                && self.by_namespace.contains_key(ns)
            {
                groups.entry(ns).or_default().push(e.clone());
            }
        }
        let mut idle = Vec::new();
        for (ns, group) in groups {
            if let Some(ch) = self.by_namespace.get(ns)
                && !ch.send(group.into())
            {
                idle.push(ns.clone());
            }
        }
        for ns in idle {
            self.by_namespace.remove(&ns);
        }
    }

    pub(super) fn snapshot(&self, rv: u64) -> Snapshot<T> {
        Snapshot {
            rv,
            map: self.map.clone(),
        }
    }

    /// The state at `rv`: a kept snapshot, or the current state with later events undone.
    pub(super) fn snapshot_at(
        &mut self,
        rv: u64,
        current: u64,
        keep: usize,
    ) -> Result<Snapshot<T>, HistoryError> {
        if rv > current {
            return Err(HistoryError::TooLarge {
                requested: rv,
                current,
            });
        }
        if let Some(s) = self.snapshots.iter().find(|s| s.rv == rv) {
            return Ok(s.clone());
        }
        if rv < self.horizon {
            return Err(HistoryError::TooOld {
                requested: rv,
                horizon: self.horizon,
            });
        }
        let mut map = self.map.clone();
        for e in self.log.iter().rev().take_while(|e| e.rv > rv) {
            let key = e.object.value.key();
            match (&e.kind, &e.prev) {
                (EventType::Added, _) | (_, None) => {
                    map.remove(&key);
                }
                (_, Some(prev)) => {
                    map.insert(key, prev.clone());
                }
            }
        }
        let snap = Snapshot { rv, map };
        self.keep_snapshot(snap.clone(), keep);
        Ok(snap)
    }

    pub(super) fn keep_snapshot(&mut self, snap: Snapshot<T>, keep: usize) {
        if keep == 0 || self.snapshots.iter().any(|s| s.rv == snap.rv) {
            return;
        }
        if self.snapshots.len() >= keep {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(snap);
    }
}

fn owns<T: Object>(value: &T, node: &Arc<str>) -> bool {
    value.owner().is_none_or(|o| o == node)
}
