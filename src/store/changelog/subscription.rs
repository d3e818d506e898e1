//! Where a watch starts and what it is handed: taken under the same lock as commits, so the
//! initial state or replay and the live channel meet with no gap and no duplicate.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::broadcast;

use super::collection::{Channel, Collection};
use super::event::{Batch, Event, HistoryError};
use super::snapshot::Snapshot;
use crate::store::objects::Object;

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
    pub(super) fn subscribe(
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
