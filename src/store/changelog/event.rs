//! What a commit is offered ([`Change`]) and what it produces ([`Event`]), with the encodings
//! watchers share and the errors of asking for history the log no longer or not yet has.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::store::objects::{Object, Versioned};

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
