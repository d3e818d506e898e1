//! The sequencer: the served state changes only through a commit, and every commit takes the next
//! resourceVersion.
//!
//! One mutex guards the counter, the served state of both kinds (persistent ordered maps, so a
//! snapshot is an O(1) clone that no later commit disturbs), the bounded replay log and the
//! broadcast senders. A commit holds it only to compare, insert and publish: rates and objects are
//! computed before, encodings after. Lists read snapshots; watches subscribe under the same lock,
//! so a watcher's initial state or replay and its live events meet with no gap and no duplicate.
//!
//! `event` is what a commit is offered and produces, `snapshot` what a list reads, `collection`
//! one kind's state, log and fan-out, `subscription` where a watch starts.

mod collection;
mod event;
mod snapshot;
mod subscription;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use collection::Collection;
pub use event::{Batch, Change, Event, EventType, FRAME_SLOTS, FrameCache, HistoryError};
pub use snapshot::Snapshot;
pub use subscription::{Initial, Subscription, WatchStart};

use super::objects::{NodeObject, Object, PodObject, Versioned};

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
