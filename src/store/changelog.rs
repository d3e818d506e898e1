//! The sequencer: the served state changes only through a commit, and every commit takes the next
//! resourceVersion.
//!
//! One mutex guards the counter, the served state of both kinds (persistent ordered maps, so a
//! snapshot is an O(1) clone that no later commit disturbs), the bounded replay log and the
//! broadcast senders. A commit holds it only to compare, insert and publish: rates and objects are
//! computed before, encodings after. Lists read snapshots; watches subscribe under the same lock,
//! so a watcher's initial state or replay and its live events meet with no gap and no duplicate.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use imbl::OrdMap;
use tokio::sync::broadcast;

use super::objects::{NodeObject, Object, PodObject, Versioned};

/// Watch event types the store commits (BOOKMARK and ERROR are the API's, not the store's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object started to be served.
    Added,
    /// A served object changed.
    Modified,
    /// The object stopped being served.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// How many encodings of one event can be cached (API version × encoding × output form).
pub const FRAME_SLOTS: usize = 8;

/// Encoded forms of one event, filled once by whichever watcher needs each first, so the cost of
/// encoding does not grow with the number of watchers. The store never looks inside.
#[derive(Debug, Default)]
pub struct FrameCache([OnceLock<Bytes>; FRAME_SLOTS]);

impl FrameCache {
    /// The cached frame of `slot`, encoding it with `f` the first time.
    pub fn get_or_init(&self, slot: usize, f: impl FnOnce() -> Bytes) -> Bytes {
        match self.0.get(slot) {
            Some(cell) => cell.get_or_init(f).clone(),
            None => f(),
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event<T> {
    /// Its resourceVersion; strictly greater than every earlier event's.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The object as this event serves it; for DELETED, the last state stamped with this event's rv.
    pub object: Arc<Versioned<T>>,
    /// The version this event replaced (`None` for ADDED): selector transitions and undo need it.
    pub prev: Option<Arc<Versioned<T>>>,
    /// Encodings, shared by every watcher.
    pub frames: FrameCache,
}

/// The events of one commit for one channel, sent as one message so a receiver wakes once per
/// commit, not once per object.
pub type Batch<T> = Arc<[Arc<Event<T>>]>;

/// A change offered to the log; it becomes an event only if it changes what is served.
#[derive(Debug)]
pub enum Change<T: Object> {
    /// Serve this value (ADDED, or MODIFIED if it differs from what is served; nothing if equal).
    Upsert(T),
    /// Stop serving `key` (DELETED), but only if it is served and, when `owner` is given, owned by
    /// that node: a node's scrape never deletes a pod another node now reports.
    Delete {
        /// The object's key.
        key: T::Key,
        /// The node that must own the object for the delete to apply.
        owner: Option<Arc<str>>,
    },
}

impl<T: Object> Change<T> {
    /// The key of the object this change is about.
    pub fn key(&self) -> T::Key {
        match self {
            Change::Upsert(o) => o.key(),
            Change::Delete { key, .. } => key.clone(),
        }
    }
}

/// Why a snapshot or replay could not be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// Events after `requested` were evicted from the replay log; everything after `horizon` is kept.
    #[error("too old resource version: {requested} ({horizon})")]
    TooOld {
        /// The resourceVersion asked for.
        requested: u64,
        /// The oldest resourceVersion the log can still start from.
        horizon: u64,
    },
    /// The resourceVersion asked for has not been reached.
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLarge {
        /// The resourceVersion asked for.
        requested: u64,
        /// The newest committed resourceVersion.
        current: u64,
    },
}

/// A consistent view of one kind at one resourceVersion; nothing committed later shows in it.
#[derive(Debug)]
pub struct Snapshot<T: Object> {
    /// The resourceVersion this view reflects; no item in it is newer.
    pub rv: u64,
    map: OrdMap<T::Key, Arc<Versioned<T>>>,
}

impl<T: Object> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
            rv: self.rv,
            map: self.map.clone(),
        }
    }
}

impl<T: Object> Snapshot<T> {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is served.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// One object.
    pub fn get(&self, key: &T::Key) -> Option<&Arc<Versioned<T>>> {
        self.map.get(key)
    }

    /// Objects in key order, starting at `from` (inclusive) and stopping before `to` (exclusive).
    pub fn range(
        &self,
        from: std::ops::Bound<T::Key>,
        to: std::ops::Bound<T::Key>,
    ) -> impl Iterator<Item = &Arc<Versioned<T>>> + '_ {
        self.map.range::<_, T::Key>((from, to)).map(|(_, v)| v)
    }

    /// Every object in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Versioned<T>>> {
        self.map.values()
    }
}

/// Sizes of the change log, derived from flags.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// Events kept per kind for resume and for consistent continue tokens.
    pub history: usize,
    /// Batches a watcher may fall behind before it is ended with 410.
    pub channel_capacity: usize,
    /// Snapshots kept per kind for paged lists in progress.
    pub snapshots: usize,
    /// First resourceVersion minus one; seeded from the clock so that versions keep growing across
    /// restarts and a client resuming from the previous process gets 410 and relists.
    pub base_rv: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            history: 100_000,
            channel_capacity: 1024,
            snapshots: 16,
            base_rv: 0,
        }
    }
}

/// A broadcast channel and the resourceVersion of the newest batch sent on it, so a watcher's
/// progress can be compared with what it has been sent without touching its receiver.
#[derive(Debug)]
struct Channel<T> {
    tx: broadcast::Sender<Batch<T>>,
    sent_rv: Arc<AtomicU64>,
}

impl<T> Channel<T> {
    fn new(capacity: usize) -> Self {
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
    map: OrdMap<T::Key, Arc<Versioned<T>>>,
    log: VecDeque<Arc<Event<T>>>,
    /// Every event with rv > horizon is still in the log.
    horizon: u64,
    all: Channel<T>,
    by_namespace: HashMap<Arc<str>, Channel<T>>,
    snapshots: VecDeque<Snapshot<T>>,
}

/// What a watcher starts with.
#[derive(Debug)]
pub enum Initial<T: Object> {
    /// Nothing: only events after the subscription's rv.
    Nothing,
    /// The state at the subscription's rv, to be sent as synthetic ADDED events.
    State(Snapshot<T>),
    /// The logged events after the requested rv, up to the subscription's rv.
    Replay(Vec<Arc<Event<T>>>),
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// At the current state, without synthetic events.
    Now,
    /// With the current state as synthetic ADDED events.
    WithState,
    /// After this resourceVersion, replaying what was missed.
    After(u64),
}

/// A live subscription: its initial part, then every batch after `rv` from `events`.
#[derive(Debug)]
pub struct Subscription<T: Object> {
    /// Everything up to this resourceVersion is in `initial`; `events` brings what follows.
    pub rv: u64,
    /// Initial state or replay.
    pub initial: Initial<T>,
    /// Live batches.
    pub events: broadcast::Receiver<Batch<T>>,
    /// Capacity of that channel: a receiver further behind than this has lost events.
    pub capacity: usize,
    /// resourceVersion of the newest batch sent on that channel.
    pub sent_rv: Arc<AtomicU64>,
}

impl<T: Object> Collection<T> {
    fn new(cfg: &LogConfig) -> Self {
        Collection {
            map: OrdMap::new(),
            log: VecDeque::new(),
            horizon: cfg.base_rv,
            all: Channel::new(cfg.channel_capacity),
            by_namespace: HashMap::new(),
            snapshots: VecDeque::new(),
        }
    }

    fn apply(&mut self, rv: &mut u64, changes: Vec<Change<T>>, cfg: &LogConfig) -> usize {
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

    fn snapshot(&self, rv: u64) -> Snapshot<T> {
        Snapshot {
            rv,
            map: self.map.clone(),
        }
    }

    /// The state at `rv`: a kept snapshot, or the current state with later events undone.
    fn snapshot_at(
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

    fn keep_snapshot(&mut self, snap: Snapshot<T>, keep: usize) {
        if keep == 0 || self.snapshots.iter().any(|s| s.rv == snap.rv) {
            return;
        }
        if self.snapshots.len() >= keep {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(snap);
    }

    fn subscribe(
        &mut self,
        namespace: Option<&str>,
        start: WatchStart,
        current: u64,
        capacity: usize,
    ) -> Result<Subscription<T>, HistoryError> {
        let initial = match start {
            WatchStart::Now => Initial::Nothing,
            WatchStart::WithState => Initial::State(self.snapshot(current)),
            WatchStart::After(n) if n > current => {
                return Err(HistoryError::TooLarge {
                    requested: n,
                    current,
                });
            }
            WatchStart::After(n) if n < self.horizon => {
                return Err(HistoryError::TooOld {
                    requested: n,
                    horizon: self.horizon,
                });
            }
            WatchStart::After(n) => {
                let from = self.log.partition_point(|e| e.rv <= n);
                Initial::Replay(
                    self.log
                        .range(from..)
                        .filter(|e| {
                            namespace.is_none_or(|ns| {
                                e.object.value.namespace().is_some_and(|x| x.as_ref() == ns)
                            })
                        })
                        .cloned()
                        .collect(),
                )
            }
        };
        let ns_capacity = namespace_capacity(capacity);
        let (channel, capacity) = match namespace {
            None => (&self.all, capacity.max(1)),
            Some(ns) => {
                if !self.by_namespace.contains_key(ns) {
                    self.by_namespace
                        .insert(ns.into(), Channel::new(ns_capacity));
                }
                (&self.by_namespace[ns], ns_capacity)
            }
        };
        Ok(Subscription {
            rv: current,
            initial,
            events: channel.tx.subscribe(),
            sent_rv: channel.sent_rv.clone(),
            capacity,
        })
    }
}

/// A namespace's channel holds a quarter of the cluster-wide one (at least 64 commits): its ring is
/// allocated whole when the first watcher of the namespace arrives, and most namespaces see far
/// fewer commits than the cluster.
fn namespace_capacity(capacity: usize) -> usize {
    (capacity / 4).max(64)
}

fn owns<T: Object>(value: &T, node: &Arc<str>) -> bool {
    value.owner().is_none_or(|o| o == node)
}

/// The state behind the sequencer's lock.
#[derive(Debug)]
pub struct Inner {
    rv: u64,
    nodes: Collection<NodeObject>,
    pods: Collection<PodObject>,
}

/// Kinds the log stores: picks the kind's collection out of the shared state.
pub trait Stored: Object + Sized {
    /// This kind's collection.
    fn collection(inner: &mut Inner) -> &mut Collection<Self>;
}

impl Stored for NodeObject {
    fn collection(inner: &mut Inner) -> &mut Collection<Self> {
        &mut inner.nodes
    }
}

impl Stored for PodObject {
    fn collection(inner: &mut Inner) -> &mut Collection<Self> {
        &mut inner.pods
    }
}

/// The process-wide sequencer and served state.
#[derive(Debug)]
pub struct ChangeLog {
    cfg: LogConfig,
    inner: Mutex<Inner>,
    /// The newest committed resourceVersion, readable without the lock.
    current: AtomicU64,
    /// Nanoseconds the lock was held by commits, for the self-metric and the benchmark.
    held_ns: AtomicU64,
    commits: AtomicU64,
}

impl ChangeLog {
    /// An empty log.
    pub fn new(cfg: LogConfig) -> Self {
        ChangeLog {
            inner: Mutex::new(Inner {
                rv: cfg.base_rv,
                nodes: Collection::new(&cfg),
                pods: Collection::new(&cfg),
            }),
            current: AtomicU64::new(cfg.base_rv),
            held_ns: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            cfg,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way readers can
        // observe (each insert is whole), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest committed resourceVersion.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Acquire)
    }

    /// The first resourceVersion this process can be asked about (its seed).
    pub fn base(&self) -> u64 {
        self.cfg.base_rv
    }

    /// Commits node and pod changes atomically, in that order; returns how many events they made.
    pub fn commit(&self, nodes: Vec<Change<NodeObject>>, pods: Vec<Change<PodObject>>) -> usize {
        if nodes.is_empty() && pods.is_empty() {
            return 0;
        }
        let mut g = self.lock();
        let started = std::time::Instant::now();
        let inner = &mut *g;
        let mut rv = inner.rv;
        let n = inner.nodes.apply(&mut rv, nodes, &self.cfg)
            + inner.pods.apply(&mut rv, pods, &self.cfg);
        inner.rv = rv;
        self.current.store(rv, Ordering::Release);
        self.held_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        drop(g);
        self.commits.fetch_add(1, Ordering::Relaxed);
        n
    }

    /// Total time commits held the lock, and the number of commits.
    pub fn lock_stats(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.held_ns.load(Ordering::Relaxed)),
            self.commits.load(Ordering::Relaxed),
        )
    }

    /// The current state of kind `T`.
    pub fn snapshot<T: Stored>(&self) -> Snapshot<T> {
        let mut g = self.lock();
        let rv = g.rv;
        T::collection(&mut g).snapshot(rv)
    }

    /// The current state of kind `T`, kept for the continue tokens of a paged list.
    pub fn snapshot_for_paging<T: Stored>(&self) -> Snapshot<T> {
        let mut g = self.lock();
        let rv = g.rv;
        let c = T::collection(&mut g);
        let snap = c.snapshot(rv);
        c.keep_snapshot(snap.clone(), self.cfg.snapshots);
        snap
    }

    /// The state of kind `T` exactly at `rv`, if the log still reaches back that far.
    pub fn snapshot_at<T: Stored>(&self, rv: u64) -> Result<Snapshot<T>, HistoryError> {
        let mut g = self.lock();
        let current = g.rv;
        T::collection(&mut g).snapshot_at(rv, current, self.cfg.snapshots)
    }

    /// The served version of one object.
    pub fn get<T: Stored>(&self, key: &T::Key) -> Option<Arc<Versioned<T>>> {
        T::collection(&mut self.lock()).map.get(key).cloned()
    }

    /// The oldest resourceVersion from which kind `T` can still be resumed or listed exactly.
    pub fn horizon<T: Stored>(&self) -> u64 {
        T::collection(&mut self.lock()).horizon
    }

    /// Subscribes to kind `T` (one namespace, or all), starting as `start` says.
    pub fn subscribe<T: Stored>(
        &self,
        namespace: Option<&str>,
        start: WatchStart,
    ) -> Result<Subscription<T>, HistoryError> {
        let mut g = self.lock();
        let current = g.rv;
        T::collection(&mut g).subscribe(namespace, start, current, self.cfg.channel_capacity)
    }

    /// Waits until the log has reached `rv`, for at most `timeout` (kube-apiserver waits 3 s).
    pub async fn wait_for(&self, rv: u64, timeout: Duration) -> Result<(), HistoryError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = self.current();
            if current >= rv {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HistoryError::TooLarge {
                    requested: rv,
                    current,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Drops namespace channels nobody listens to any more; returns how many. A channel is created
    /// for the first watcher of a namespace, and without this one for a namespace that never sees
    /// an event would be kept forever.
    pub fn prune_channels(&self) -> usize {
        let mut g = self.lock();
        let before = g.pods.by_namespace.len();
        g.pods
            .by_namespace
            .retain(|_, ch| ch.tx.receiver_count() > 0);
        before - g.pods.by_namespace.len()
    }

    /// Namespace channels open now, for tests and self-metrics.
    pub fn namespace_channels(&self) -> usize {
        self.lock().pods.by_namespace.len()
    }

    /// Events kept per kind (nodes, pods), for self-metrics.
    pub fn history_len(&self) -> (usize, usize) {
        let g = self.lock();
        (g.nodes.log.len(), g.pods.log.len())
    }
}
