//! The reaper's side of a watch: progress counters a stuck or overrun watcher is recognised by,
//! and the registry of every open watch, held weakly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::stream::{Heavy, Source};
use crate::api::kind::Kind;

/// The part of a watch the reaper can reach. The lock is never held across an await, so a stream
/// suspended by a client that does not read leaves its heavy state reachable.
pub(super) struct Shared<T: Kind> {
    pub(super) heavy: std::sync::Mutex<Option<Heavy<T>>>,
    /// resourceVersion of the newest batch the watcher's channel has sent.
    pub(super) sent_rv: Arc<AtomicU64>,
    /// resourceVersion up to which the watcher has taken batches.
    pub(super) taken_rv: AtomicU64,
    /// Bumped whenever the watcher takes a batch or hands a chunk to its connection.
    pub(super) progress: AtomicU64,
    /// When it last made progress, ms since `started`.
    pub(super) progress_ms: AtomicU64,
    /// The progress count the reaper saw stalled at its last look (`u64::MAX`: none).
    pub(super) suspect: AtomicU64,
    pub(super) started: Instant,
}

impl<T: Kind> Shared<T> {
    /// The heavy state; None once the stream ended or was reaped. A poisoned lock is still used:
    /// the state is only ever replaced whole.
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Option<Heavy<T>>> {
        self.heavy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the watcher took everything up to `taken_rv` or handed a chunk on.
    pub(super) fn progressed(&self, taken_rv: u64) {
        self.taken_rv.store(taken_rv, Ordering::Release);
        self.progress.fetch_add(1, Ordering::AcqRel);
        self.progress_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
    }
}

/// A watcher whose client has taken nothing for this long while data waits for it is stuck: its
/// socket and the kernel's buffers are full. (Go's watch cache ends such watchers too.)
const STALL: Duration = Duration::from_secs(5);

/// A watch the reaper checks.
pub(super) trait Reapable: Send + Sync {
    /// Drops the heavy state of a watcher its channel has overrun (it lost events), or of one stuck
    /// for [`STALL`] at two looks in a row (one look could catch a healthy idle watcher in the
    /// instant a batch arrives); true if it did.
    fn reap_if_stuck(&self) -> bool;
}

impl<T: Kind> Reapable for Shared<T> {
    fn reap_if_stuck(&self) -> bool {
        let idle_ms = (self.started.elapsed().as_millis() as u64)
            .saturating_sub(self.progress_ms.load(Ordering::Acquire));
        let mut guard = self.lock();
        let Some(h) = guard.as_ref() else {
            return false;
        };
        // Overrun by its channel: it has lost events and will only get a 410; free it now.
        if h.rx.as_ref().is_some_and(|rx| rx.len() > h.capacity) {
            *guard = None;
            return true;
        }
        let behind = self.sent_rv.load(Ordering::Acquire) > self.taken_rv.load(Ordering::Acquire)
            || !h.pending.is_empty()
            || !matches!(h.source, Source::None);
        if !behind || idle_ms < STALL.as_millis() as u64 {
            self.suspect.store(u64::MAX, Ordering::Release);
            return false;
        }
        let progress = self.progress.load(Ordering::Acquire);
        if self.suspect.swap(progress, Ordering::AcqRel) != progress {
            return false;
        }
        *guard = None;
        true
    }
}

/// Every open watch, weakly, for the reaper.
#[derive(Default)]
pub(super) struct Registry {
    watches: std::sync::Mutex<Vec<std::sync::Weak<dyn Reapable>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Registers a new watch.
    pub(super) fn add(&self, w: std::sync::Weak<dyn Reapable>) {
        self.watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    /// Forgets ended watches and reaps stuck ones; how many it reaped.
    pub(super) fn reap(&self) -> usize {
        let live: Vec<Arc<dyn Reapable>> = {
            let mut g = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            g.retain(|w| w.strong_count() > 0);
            g.iter().filter_map(|w| w.upgrade()).collect()
        };
        live.iter().filter(|w| w.reap_if_stuck()).count()
    }
}
