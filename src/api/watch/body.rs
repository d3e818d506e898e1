//! The response body of a watch: the next chunk for the connection, waiting for events, bookmarks,
//! the deadline or shutdown without holding the state the reaper may take.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;

use super::EventForm;
use super::reaper::Shared;
use super::stream::{Step, Woke};
use crate::api::frames::error_frame;
use crate::api::kind::Kind;
use crate::api::status::ApiError;

/// A watch stream: the shutdown signal and the reapable state.
pub(super) struct Watch<T: Kind> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) form: EventForm,
    pub(super) shutdown: tokio::sync::watch::Receiver<bool>,
    pub(super) finished: bool,
}

impl<T: Kind> Watch<T> {
    /// The stream was reaped: one 410 ERROR event, then the end.
    fn reaped(&mut self) -> Option<Bytes> {
        if std::mem::replace(&mut self.finished, true) {
            return None;
        }
        Some(error_frame(
            self.form,
            &ApiError::expired(
                "too old resource version: the watcher stopped reading and fell behind",
            ),
        ))
    }

    /// The next chunk of the body, or None at its end.
    pub(super) async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        loop {
            let (mut rx, bookmark_at, bookmarks, deadline) = {
                let mut g = self.shared.lock();
                let Some(h) = g.as_mut() else {
                    drop(g);
                    return self.reaped();
                };
                match h.step() {
                    Step::Chunk(b) => {
                        self.shared.progressed(h.last_rv);
                        return Some(b);
                    }
                    Step::End => {
                        *g = None;
                        self.finished = true;
                        return None;
                    }
                    Step::Wait => {
                        self.shared.progressed(h.last_rv);
                        let Some(rx) = h.rx.take() else {
                            *g = None;
                            self.finished = true;
                            return None;
                        };
                        (rx, h.next_bookmark.min(h.deadline), h.bookmarks, h.deadline)
                    }
                }
            };
            let woke = tokio::select! {
                r = rx.recv() => match r {
                    Ok(b) => Woke::Batch(b),
                    Err(RecvError::Lagged(_)) => Woke::Lagged,
                    Err(RecvError::Closed) => Woke::Closed,
                },
                () = tokio::time::sleep_until(bookmark_at), if bookmarks => Woke::Bookmark,
                () = tokio::time::sleep_until(deadline) => Woke::Deadline,
                _ = self.shutdown.changed() => Woke::Shutdown,
            };
            let mut g = self.shared.lock();
            let Some(h) = g.as_mut() else {
                drop(g);
                return self.reaped();
            };
            h.rx = Some(rx);
            h.woke(woke);
        }
    }
}
