//! Watches: resumption from a resourceVersion, streaming lists (`sendInitialEvents`), bookmarks
//! and the watch cache's selector-transition rules, one JSON event per line.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::ApiServer;
use super::format::Format;
use super::resources::{go_bool, now_s, query_param};
use super::responses::{status, status_value};
use crate::objects;
use crate::serve::{Body, BoxError, stopped};
use crate::store::{Event, EventType, Filter, Kind, Stored, WatchStart};

/// Interval between watch BOOKMARK events.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

/// Default watch lifetime when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

impl ApiServer {
    /// Streams the events of `kind` matching `filter`, from the `resourceVersion` (and with the
    /// initial events and bookmarks) the query asks for.
    pub(super) fn watch(
        &self,
        kind: Kind,
        filter: Filter,
        format: Format,
        q: &[(String, String)],
    ) -> Response<Body> {
        let param = |k: &str| query_param(q, k);
        let rv_param = param("resourceVersion").unwrap_or("");
        let from = match rv_param {
            "" | "0" => None,
            s => match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        &format!("invalid resource version: {s}"),
                        None,
                    );
                }
            },
        };
        let send_initial = param("sendInitialEvents").map(go_bool);
        let bookmarks = param("allowWatchBookmarks").is_some_and(go_bool);
        let timeout = match param("timeoutSeconds").map(str::parse::<u64>) {
            None => DEFAULT_WATCH_TIMEOUT,
            Some(Ok(n)) => Duration::from_secs(n),
            Some(Err(_)) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "invalid timeoutSeconds",
                    None,
                );
            }
        };

        let mut st = WatchState {
            queue: VecDeque::new(),
            rx: None,
            kind,
            filter,
            format,
            min_rv: from.unwrap_or(0),
            last_rv: 0,
            bookmarks,
            deadline: Instant::now() + timeout,
            next_bookmark: Instant::now() + BOOKMARK_EVERY,
            shutdown: self.shutdown.clone(),
            done: false,
        };
        match self.store.watch(
            kind,
            st.filter.namespace.as_deref(),
            from,
            send_initial == Some(true),
        ) {
            WatchStart::TooOld(oldest) => {
                let status = status_value(
                    410,
                    "Expired",
                    &format!("too old resource version: {} ({oldest})", from.unwrap_or(0)),
                    None,
                );
                st.queue.push_back(event_line("ERROR", &status));
                st.done = true;
            }
            WatchStart::Ok {
                replay,
                snapshot,
                rx,
                rv,
            } => {
                st.rx = Some(rx);
                st.last_rv = rv;
                if let Some(snapshot) = snapshot {
                    if send_initial != Some(false) {
                        for s in snapshot.iter().filter(|s| st.filter.matches(&s.data)) {
                            st.queue.push_back(st.encode("ADDED", s));
                        }
                    }
                    if send_initial == Some(true) && bookmarks {
                        st.queue.push_back(st.bookmark(rv, true));
                    }
                }
                for ev in &replay {
                    if let Some(line) = st.convert(ev) {
                        st.queue.push_back(line);
                    }
                }
            }
        }
        let stream = futures::stream::unfold(st, |mut st| async move {
            let line = st.next_line().await?;
            Some((Ok::<_, BoxError>(Frame::data(line)), st))
        });
        let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache, private"),
        );
        resp
    }
}

/// One watch event line, `type` first like Go's encoder writes it.
fn event_line(etype: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    if serde_json::to_writer(&mut out, object).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// One watch stream: queued lines (initial events, replay, errors), then live events until the
/// deadline, shutdown or the end of the store's channel.
struct WatchState {
    queue: VecDeque<Bytes>,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    kind: Kind,
    filter: Filter,
    format: Format,
    /// Events at or below this RV were requested to be skipped.
    min_rv: u64,
    /// Highest RV known to be fully delivered (for bookmarks).
    last_rv: u64,
    bookmarks: bool,
    deadline: Instant,
    next_bookmark: Instant,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

impl WatchState {
    fn encode(&self, etype: &str, s: &Stored) -> Bytes {
        let obj = match self.format {
            Format::Full => objects::full(s),
            Format::Meta { .. } => objects::partial(s),
            Format::Table(inc) => {
                objects::table(self.kind, Some(s.rv), vec![objects::row(s, inc, now_s())])
            }
        };
        event_line(etype, &obj)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = match self.format {
            Format::Meta { .. } => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
            }
            _ => json!({"kind": self.kind.name(), "apiVersion": "v1", "metadata": meta}),
        };
        event_line("BOOKMARK", &obj)
    }

    /// Applies the selector-transition rules of the watch cache to one event.
    fn convert(&self, ev: &Event) -> Option<Bytes> {
        if ev.obj.data.kind() != self.kind || ev.obj.rv <= self.min_rv {
            return None;
        }
        let now = self.filter.matches(&ev.obj.data);
        match ev.etype {
            EventType::Added | EventType::Deleted => {
                now.then(|| self.encode(ev.etype.as_str(), &ev.obj))
            }
            EventType::Modified => {
                let before = ev
                    .prev
                    .as_ref()
                    .is_some_and(|p| self.filter.matches(&p.data));
                match (before, now) {
                    (true, true) => Some(self.encode("MODIFIED", &ev.obj)),
                    (false, true) => Some(self.encode("ADDED", &ev.obj)),
                    (true, false) => {
                        let prev = ev.prev.as_ref()?;
                        let gone = Stored {
                            rv: ev.obj.rv,
                            data: prev.data.clone(),
                        };
                        Some(self.encode("DELETED", &gone))
                    }
                    (false, false) => None,
                }
            }
        }
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            let rx = self.rx.as_mut()?;
            tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => self.done = true,
                _ = stopped(&mut self.shutdown) => self.done = true,
                _ = tokio::time::sleep_until(self.next_bookmark) => {
                    self.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                    if self.bookmarks {
                        return Some(self.bookmark(self.last_rv, false));
                    }
                }
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        self.last_rv = self.last_rv.max(ev.obj.rv);
                        if let Some(line) = self.convert(&ev) {
                            return Some(line);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = status_value(410, "Expired", "watch channel overflowed; relist", None);
                        self.queue.push_back(event_line("ERROR", &status));
                        self.done = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => self.done = true,
                },
            }
        }
    }
}
