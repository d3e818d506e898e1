//! The watches open now: their limit (429 beyond `max_watches`), the shutdown signal and the
//! registry the reaper walks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::WatchConfig;
use super::reaper::Registry;
use crate::store::ChangeLog;

/// Shared watch state: the limit's counter and the shutdown signal every stream listens to.
#[derive(Debug)]
pub struct Watchers {
    /// Limits and timing.
    pub cfg: WatchConfig,
    active: Arc<AtomicUsize>,
    /// Every stream ends when it turns true.
    pub(super) shutdown: tokio::sync::watch::Receiver<bool>,
    /// What the reaper walks.
    pub(super) registry: Arc<Registry>,
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

    /// A place under the limit, or None when `max_watches` are open (the caller answers 429).
    pub(super) fn acquire(&self) -> Option<Slot> {
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
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
