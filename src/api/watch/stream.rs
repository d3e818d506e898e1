//! One watch's state: where its events come from (initial state, replay, the live channel), the
//! frames queued for its connection, bookmarks and the deadline.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;

use super::EventForm;
use super::filter::{Filter, convert};
use super::watchers::Slot;
use crate::api::frames::{bookmark_frame, error_frame, frame};
use crate::api::kind::Kind;
use crate::api::status::ApiError;
use crate::api::types::GroupVersion;
use crate::store::{Batch, ChangeLog, Event, Snapshot};

/// Where the events before the live channel come from.
pub(super) enum Source<T: Kind> {
    None,
    State {
        snap: Snapshot<T>,
        after: Option<T::Key>,
        namespace: Option<String>,
    },
    Replay(VecDeque<Arc<Event<T>>>),
}

/// The state of a watch in progress that a stuck watcher must not keep: its initial snapshot or
/// replay, its place in the channel and its queued frames. The reaper drops it.
pub(super) struct Heavy<T: Kind> {
    pub(super) gv: GroupVersion,
    pub(super) form: EventForm,
    pub(super) filter: Filter,
    pub(super) log: Arc<ChangeLog>,
    pub(super) source: Source<T>,
    pub(super) initial_end_bookmark: Option<u64>,
    pub(super) rx: Option<tokio::sync::broadcast::Receiver<Batch<T>>>,
    pub(super) pending: VecDeque<Bytes>,
    pub(super) last_rv: u64,
    pub(super) bookmarks: bool,
    pub(super) bookmark_interval: Duration,
    pub(super) next_bookmark: Instant,
    pub(super) deadline: Instant,
    pub(super) ending: bool,
    /// Capacity of the channel `rx` reads; a receiver further behind has lagged.
    pub(super) capacity: usize,
    /// The watch's place under the limit: a reaped watch no longer counts.
    pub(super) _slot: Slot,
}

/// Frames are coalesced into chunks of about this size when several are ready.
const CHUNK: usize = 64 * 1024;

impl<T: Kind> Heavy<T> {
    fn take_batch(&mut self, batch: &Batch<T>) {
        for e in batch.iter() {
            if e.rv <= self.last_rv {
                continue;
            }
            self.last_rv = e.rv;
            if let Some(f) = convert(e, &self.filter, self.gv, self.form) {
                self.pending.push_back(f);
            }
        }
    }

    fn lagged(&mut self) {
        let e = ApiError::expired(format!(
            "too old resource version: {} ({})",
            self.last_rv,
            self.log.current()
        ));
        self.pending.push_back(error_frame(self.form, &e));
        self.rx = None;
        self.ending = true;
    }

    /// Moves everything already committed into `pending`, then a bookmark that covers it.
    fn bookmark(&mut self) {
        let current = self.log.current();
        while let Some(rx) = self.rx.as_mut() {
            match rx.try_recv() {
                Ok(b) => self.take_batch(&b),
                Err(TryRecvError::Lagged(_)) => {
                    self.lagged();
                    return;
                }
                Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => break,
            }
        }
        let rv = current.max(self.last_rv);
        self.last_rv = rv;
        self.pending
            .push_back(bookmark_frame::<T>(rv, self.gv, self.form, false));
    }

    /// Fills `pending` from the initial state or replay, a few hundred objects at a time, so a
    /// watch of 150,000 pods never holds all their frames at once.
    fn fill_initial(&mut self) -> bool {
        match &mut self.source {
            Source::None => false,
            Source::Replay(events) => {
                for _ in 0..256 {
                    let Some(e) = events.pop_front() else { break };
                    self.last_rv = self.last_rv.max(e.rv);
                    if let Some(f) = convert(&e, &self.filter, self.gv, self.form) {
                        self.pending.push_back(f);
                    }
                }
                if events.is_empty() {
                    self.source = Source::None;
                }
                true
            }
            Source::State {
                snap,
                after,
                namespace,
            } => {
                let Some((lo, hi)) = T::bounds(namespace.as_deref()) else {
                    self.source = Source::None;
                    return self.finish_initial();
                };
                let lo = match after.take() {
                    Some(k) => Bound::Excluded(k),
                    None => lo,
                };
                let mut last = None;
                let mut count = 0;
                for v in snap.range(lo, hi) {
                    count += 1;
                    last = Some(v.value.key());
                    if self.filter.matches(&*v.value) {
                        self.pending
                            .push_back(frame("ADDED", &v.value, v.rv, self.gv, self.form));
                    }
                    if count == 256 {
                        break;
                    }
                }
                if count == 256 {
                    *after = last;
                    true
                } else {
                    self.source = Source::None;
                    self.finish_initial()
                }
            }
        }
    }

    fn finish_initial(&mut self) -> bool {
        if let Some(rv) = self.initial_end_bookmark.take()
            && self.bookmarks
        {
            self.pending
                .push_back(bookmark_frame::<T>(rv, self.gv, self.form, true));
        }
        true
    }

    fn chunk(&mut self) -> Bytes {
        if self.pending.len() == 1 {
            return self.pending.pop_front().unwrap_or_default();
        }
        let mut buf = BytesMut::new();
        while let Some(f) = self.pending.front() {
            if !buf.is_empty() && buf.len() + f.len() > CHUNK {
                break;
            }
            buf.put_slice(f);
            self.pending.pop_front();
        }
        buf.freeze()
    }

    /// Everything that can be done without waiting: the next chunk, the end, or "wait".
    pub(super) fn step(&mut self) -> Step {
        loop {
            if !self.pending.is_empty() {
                return Step::Chunk(self.chunk());
            }
            if self.ending {
                return Step::End;
            }
            if self.fill_initial() {
                continue;
            }
            let Some(rx) = self.rx.as_mut() else {
                return Step::End;
            };
            match rx.try_recv() {
                Ok(b) => self.take_batch(&b),
                Err(TryRecvError::Lagged(_)) => self.lagged(),
                Err(TryRecvError::Closed) => return Step::End,
                Err(TryRecvError::Empty) => return Step::Wait,
            }
        }
    }

    /// Applies what the wait brought.
    pub(super) fn woke(&mut self, woke: Woke<T>) {
        match woke {
            Woke::Batch(b) => self.take_batch(&b),
            Woke::Lagged => self.lagged(),
            Woke::Closed | Woke::Deadline | Woke::Shutdown => self.ending = true,
            Woke::Bookmark => {
                self.bookmark();
                self.next_bookmark = Instant::now() + self.bookmark_interval;
                if self.next_bookmark + Duration::from_secs(2) > self.deadline {
                    self.next_bookmark = self
                        .deadline
                        .checked_sub(Duration::from_secs(2))
                        .unwrap_or(self.deadline);
                }
                if Instant::now() >= self.deadline {
                    self.ending = true;
                }
            }
        }
    }
}

/// What the stream can do without waiting.
pub(super) enum Step {
    Chunk(Bytes),
    End,
    Wait,
}

/// What ended a wait.
pub(super) enum Woke<T: Kind> {
    Batch(Batch<T>),
    Lagged,
    Closed,
    Bookmark,
    Deadline,
    Shutdown,
}
