//! Watch: newline-delimited JSON events from the change log, as kube-apiserver's watch cache
//! serves them (initial events, resume, selector transitions, bookmarks, timeouts, 410s).
//!
//! Each event's frame is encoded once and shared by every watcher (the event's frame cache). A
//! watcher that falls further behind than its channel holds gets a 410 `ERROR` and is ended; it
//! never slows the scraper or other watchers, because the broadcast channel overwrites, never waits.
//!
//! - `watchers`: the limit on concurrent watches and the shutdown signal streams share;
//! - `filter`: what a watcher selects, and the event each change becomes for it;
//! - `stream`: one watch's state (initial events or replay, live batches, bookmarks, chunks);
//! - `reaper`: ending watchers that stopped reading or were overrun, so they hold nothing;
//! - `body`: the response body the connection polls, which waits without holding the state.

mod body;
mod filter;
mod reaper;
mod stream;
mod watchers;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix_web::HttpResponse;
use tokio::time::Instant;

pub use super::frames::EventForm;
use super::frames::error_frame;
use super::kind::Kind;
use super::list::RV_WAIT;
use super::query::{ListQuery, WatchFrom};
use super::status::ApiError;
use super::types::GroupVersion;
use crate::store::{ChangeLog, HistoryError, Initial, Subscription, WatchStart};
use body::Watch;
pub use filter::Filter;
use reaper::{Reapable, Shared};
use stream::{Heavy, Source};
pub use watchers::Watchers;

/// Watch limits and timing, from flags.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// Concurrent watches allowed; more get 429.
    pub max_watches: usize,
    /// Without `timeoutSeconds`, a watch lasts this long times a random factor in [1, 2), as
    /// kube-apiserver does with its minimum request timeout, so watchers do not reconnect in lockstep.
    pub min_request_timeout: Duration,
    /// Period of BOOKMARK events when the client allows them.
    pub bookmark_interval: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            max_watches: 10_000,
            min_request_timeout: Duration::from_secs(1800),
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// `timeoutSeconds` when positive, else the jittered minimum request timeout.
fn timeout(q: &ListQuery, cfg: &WatchConfig) -> Duration {
    match q.timeout_seconds {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        _ => cfg.min_request_timeout.mul_f64(1.0 + rand::random::<f64>()),
    }
}

/// Starts a watch of kind `T` (one namespace or all) and answers with its stream. Errors found
/// before streaming (selectors, options, the watch limit) are plain error responses; a
/// resourceVersion that is too old or not yet reached is an `ERROR` event inside a 200 stream, as
/// kube-apiserver's watch cache sends it.
pub async fn serve<T: Kind>(
    log: &Arc<ChangeLog>,
    watchers: &Watchers,
    q: &ListQuery,
    gv: GroupVersion,
    namespace: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    serve_as::<T>(log, watchers, q, gv, EventForm::OBJECT, namespace).await
}

/// [`serve`] with each event's object in `form` (a one-row Table, PartialObjectMetadata).
pub async fn serve_as<T: Kind>(
    log: &Arc<ChangeLog>,
    watchers: &Watchers,
    q: &ListQuery,
    gv: GroupVersion,
    form: EventForm,
    namespace: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let from = q.watch_from()?;
    let slot = watchers.acquire().ok_or_else(|| {
        ApiError::too_many_requests("Too many requests, please try again later.", 1)
    })?;
    let start = match from {
        WatchFrom::InitialEvents(n) => (WatchStart::WithState, n),
        WatchFrom::Now => (WatchStart::Now, 0),
        WatchFrom::After(n) => (WatchStart::After(n), n),
    };
    let subscription: Result<Subscription<T>, HistoryError> =
        match log.wait_for(start.1, RV_WAIT).await {
            Ok(()) => log.subscribe::<T>(namespace, start.0),
            Err(e) => Err(e),
        };
    let now = Instant::now();
    let deadline = now + timeout(q, &watchers.cfg);
    let mut stream = Heavy::<T> {
        gv,
        form,
        filter: Filter {
            labels: q.labels.clone(),
            fields: q.fields.clone(),
        },
        log: log.clone(),
        source: Source::None,
        initial_end_bookmark: None,
        rx: None,
        pending: VecDeque::new(),
        last_rv: 0,
        bookmarks: q.bookmarks,
        bookmark_interval: watchers.cfg.bookmark_interval,
        next_bookmark: (now + watchers.cfg.bookmark_interval).min(
            deadline
                .checked_sub(Duration::from_secs(2))
                .unwrap_or(deadline),
        ),
        deadline,
        ending: false,
        capacity: 0,
        _slot: slot,
    };
    let mut sent_rv = Arc::new(AtomicU64::new(0));
    match subscription {
        Ok(sub) => {
            stream.last_rv = sub.rv;
            stream.capacity = sub.capacity;
            sent_rv = sub.sent_rv.clone();
            stream.rx = Some(sub.events);
            match sub.initial {
                Initial::Nothing => {}
                Initial::State(snap) => {
                    stream.initial_end_bookmark = Some(snap.rv);
                    stream.source = Source::State {
                        snap,
                        after: None,
                        namespace: namespace.map(str::to_string),
                    };
                }
                Initial::Replay(events) => {
                    // Replayed events run from the requested rv to the subscription's; live
                    // ones follow it, so nothing is sent twice.
                    stream.last_rv = start.1;
                    stream.source = Source::Replay(events.into());
                }
            }
        }
        Err(HistoryError::TooOld { requested, horizon }) => {
            stream.pending.push_back(error_frame(
                form,
                &ApiError::expired(format!("too old resource version: {requested} ({horizon})")),
            ));
            stream.ending = true;
        }
        Err(HistoryError::TooLarge { requested, current }) => {
            stream.pending.push_back(error_frame(
                form,
                &ApiError::too_large_resource_version(requested, current),
            ));
            stream.ending = true;
        }
    }
    let shared = Arc::new(Shared {
        sent_rv,
        taken_rv: AtomicU64::new(stream.last_rv),
        heavy: std::sync::Mutex::new(Some(stream)),
        progress: AtomicU64::new(0),
        progress_ms: AtomicU64::new(0),
        suspect: AtomicU64::new(u64::MAX),
        started: Instant::now(),
    });
    let weak: std::sync::Weak<dyn Reapable> =
        Arc::downgrade(&shared) as std::sync::Weak<dyn Reapable>;
    watchers.registry.add(weak);
    let watch = Watch {
        shared,
        form,
        shutdown: watchers.shutdown.clone(),
        finished: false,
    };
    let body = futures::stream::unfold(watch, |mut s| async move {
        s.next_chunk()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), s))
    });
    Ok(HttpResponse::Ok()
        .content_type(form.content_type())
        .insert_header(("Cache-Control", "no-cache, private"))
        .streaming(body))
}
