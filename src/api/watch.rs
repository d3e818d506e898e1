//! Watch: newline-delimited JSON events from the change log, as kube-apiserver's watch cache
//! serves them (initial events, resume, selector transitions, bookmarks, timeouts, 410s).
//!
//! Each event's frame is encoded once and shared by every watcher (the event's frame cache). A
//! watcher that falls further behind than its channel holds gets a 410 `ERROR` and is ended; it
//! never slows the scraper or other watchers, because the broadcast channel overwrites, never waits.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

pub use super::frames::EventForm;
use super::frames::{bookmark_frame, error_frame, frame};
use super::kind::Kind;
use super::list::RV_WAIT;
use super::query::{ListQuery, WatchFrom};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::types::GroupVersion;
use crate::store::{
    Batch, ChangeLog, Event, EventType, HistoryError, Initial, Snapshot, Subscription, WatchStart,
};

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

/// Shared watch state: the limit's counter and the shutdown signal every stream listens to.
#[derive(Debug)]
pub struct Watchers {
    /// Limits and timing.
    pub cfg: WatchConfig,
    active: Arc<AtomicUsize>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    registry: Arc<Registry>,
}

impl Watchers {
    /// Watch state that ends every stream when `shutdown` turns true.
    pub fn new(cfg: WatchConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        Watchers {
            cfg,
            active: Arc::new(AtomicUsize::new(0)),
            shutdown,
            registry: Arc::default(),
        }
    }

    /// Runs for the process: once a second, ends the watches whose clients stopped reading or
    /// that their channel has overrun, freeing what they held, and drops the channels of
    /// namespaces nobody watches any more.
    pub fn reaper(
        &self,
        log: Arc<ChangeLog>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let registry = self.registry.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                log.prune_channels();
                let n = registry.reap();
                if n > 0 {
                    tracing::info!(watches = n, "ended watches whose clients stopped reading");
                }
            }
        }
    }

    /// Watches open now (not counting those ended for not reading), for self-metrics.
    pub fn active_counter(&self) -> Arc<AtomicUsize> {
        self.active.clone()
    }

    fn acquire(&self) -> Option<Slot> {
        let mut n = self.active.load(Ordering::Relaxed);
        loop {
            if n >= self.cfg.max_watches {
                return None;
            }
            match self
                .active
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(Slot(self.active.clone())),
                Err(now) => n = now,
            }
        }
    }
}

/// One counted watch; released when its stream is dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a watcher selects.
#[derive(Debug, Clone)]
pub struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches<T: Kind>(&self, v: &T) -> bool {
        self.labels
            .matches(v.labels().iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            && v.fields_match(&self.fields)
    }
}

/// The event as this watcher sees it, after selector transitions (`cache_watcher.go
/// convertToWatchEvent`): an object that starts matching is ADDED, one that stops is DELETED.
fn convert<T: Kind>(
    e: &Event<T>,
    filter: &Filter,
    gv: GroupVersion,
    form: EventForm,
) -> Option<Bytes> {
    let cur = e.kind != EventType::Deleted && filter.matches(&*e.object.value);
    let old = e.prev.as_ref().is_some_and(|p| filter.matches(&*p.value));
    let cached = || {
        let encode = || frame(e.kind.as_str(), &e.object.value, e.object.rv, gv, form);
        match form.slot(gv) {
            Some(slot) => e.frames.get_or_init(slot, encode),
            None => encode(),
        }
    };
    match (cur, old) {
        (true, true) => Some(cached()),
        (true, false) if e.kind == EventType::Added => Some(cached()),
        (true, false) => Some(frame("ADDED", &e.object.value, e.rv, gv, form)),
        (false, true) if e.kind == EventType::Deleted => Some(cached()),
        (false, true) => {
            let prev = e.prev.as_ref()?;
            Some(frame("DELETED", &prev.value, e.rv, gv, form))
        }
        (false, false) => None,
    }
}

enum Source<T: Kind> {
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
struct Heavy<T: Kind> {
    gv: GroupVersion,
    form: EventForm,
    filter: Filter,
    log: Arc<ChangeLog>,
    source: Source<T>,
    initial_end_bookmark: Option<u64>,
    rx: Option<tokio::sync::broadcast::Receiver<Batch<T>>>,
    pending: VecDeque<Bytes>,
    last_rv: u64,
    bookmarks: bool,
    bookmark_interval: Duration,
    next_bookmark: Instant,
    deadline: Instant,
    ending: bool,
    /// Capacity of the channel `rx` reads; a receiver further behind has lagged.
    capacity: usize,
    /// The watch's place under the limit: a reaped watch no longer counts.
    _slot: Slot,
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
    fn step(&mut self) -> Step {
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
    fn woke(&mut self, woke: Woke<T>) {
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

enum Step {
    Chunk(Bytes),
    End,
    Wait,
}

enum Woke<T: Kind> {
    Batch(Batch<T>),
    Lagged,
    Closed,
    Bookmark,
    Deadline,
    Shutdown,
}

/// The part of a watch the reaper can reach. The lock is never held across an await, so a stream
/// suspended by a client that does not read leaves its heavy state reachable.
struct Shared<T: Kind> {
    heavy: std::sync::Mutex<Option<Heavy<T>>>,
    /// resourceVersion of the newest batch the watcher's channel has sent.
    sent_rv: Arc<AtomicU64>,
    /// resourceVersion up to which the watcher has taken batches.
    taken_rv: AtomicU64,
    /// Bumped whenever the watcher takes a batch or hands a chunk to its connection.
    progress: AtomicU64,
    /// When it last made progress, ms since `started`.
    progress_ms: AtomicU64,
    /// The progress count the reaper saw stalled at its last look (`u64::MAX`: none).
    suspect: AtomicU64,
    started: Instant,
}

impl<T: Kind> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Heavy<T>>> {
        self.heavy.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn progressed(&self, taken_rv: u64) {
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
trait Reapable: Send + Sync {
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
struct Registry {
    watches: std::sync::Mutex<Vec<std::sync::Weak<dyn Reapable>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    fn add(&self, w: std::sync::Weak<dyn Reapable>) {
        self.watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    fn reap(&self) -> usize {
        let live: Vec<Arc<dyn Reapable>> = {
            let mut g = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            g.retain(|w| w.strong_count() > 0);
            g.iter().filter_map(|w| w.upgrade()).collect()
        };
        live.iter().filter(|w| w.reap_if_stuck()).count()
    }
}

/// A watch stream: the shutdown signal and the reapable state.
struct Watch<T: Kind> {
    shared: Arc<Shared<T>>,
    form: EventForm,
    shutdown: tokio::sync::watch::Receiver<bool>,
    finished: bool,
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

    async fn next_chunk(&mut self) -> Option<Bytes> {
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
