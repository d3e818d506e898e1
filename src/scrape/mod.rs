//! Scraping: a per-node schedule with a concurrency bound, the kubelet client and the decoders.
//!
//! Each node gets its own task with a stable phase inside the period, so load is spread and each
//! node's samples stay about one resolution apart. Failures cost only that node's scrape.

pub mod batch;
pub mod client;
pub mod decode;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::cluster::{ClusterIndex, NodeInfo};
use crate::store::Store;
use client::{KubeletClient, ScrapeError};

/// Path of the Prometheus resource endpoint.
pub const RESOURCE_PATH: &str = "/metrics/resource";
/// Path of the Summary API, the fallback for kubelets without the resource endpoint.
pub const SUMMARY_PATH: &str = "/stats/summary";

/// Counters read by health checks and self-metrics.
#[derive(Debug, Default)]
pub struct ScrapeStats {
    /// Successful kubelet scrapes.
    pub success: AtomicU64,
    /// Failed kubelet scrapes.
    pub failure: AtomicU64,
    /// Series skipped by the decoder (malformed lines).
    pub skipped_series: AtomicU64,
    /// Unix ms of the last scheduled scrape start (liveness: collection is timely).
    pub last_tick_ms: AtomicU64,
    /// Whether each node's latest scrape succeeded: the nodes we can reach (readiness).
    pub last_ok: dashmap::DashMap<Box<str>, bool>,
}

/// Runs the scrape schedule.
pub struct Scraper {
    index: Arc<ClusterIndex>,
    store: Arc<Store>,
    client: Arc<KubeletClient>,
    resolution: Duration,
    permits: Arc<Semaphore>,
    stats: Arc<ScrapeStats>,
}

/// Current wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn stable_hash(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// The phase of a node's scrape inside the period: spread over min(period, 8ms per node), like
/// metrics-server's jitter, but stable per node so windows stay one period long.
pub fn phase(node: &str, nodes: usize, resolution: Duration) -> Duration {
    let spread_ms = (nodes as u64 * 8).min(resolution.as_millis() as u64).max(1);
    Duration::from_millis(stable_hash(node) % spread_ms)
}

impl Scraper {
    /// A scraper over the given stages; `concurrency` bounds kubelet requests in flight.
    pub fn new(
        index: Arc<ClusterIndex>,
        store: Arc<Store>,
        client: Arc<KubeletClient>,
        resolution: Duration,
        concurrency: usize,
    ) -> Self {
        Scraper {
            index,
            store,
            client,
            resolution,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            stats: Arc::new(ScrapeStats::default()),
        }
    }

    /// Shared counters.
    pub fn stats(&self) -> Arc<ScrapeStats> {
        self.stats.clone()
    }

    /// Keeps one task per known node until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut tasks: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut seen_generation = u64::MAX;
        loop {
            let generation = self.index.node_generation();
            if generation != seen_generation {
                seen_generation = generation;
                let nodes = self.index.nodes();
                let count = nodes.len();
                tasks.retain(|name, handle| {
                    let keep = nodes.iter().any(|n| n.name.as_ref() == name);
                    if !keep {
                        handle.abort();
                        self.stats.last_ok.remove(name.as_str());
                    }
                    keep
                });
                for node in nodes {
                    if !tasks.contains_key(node.name.as_ref()) {
                        let me = self.clone();
                        let name = node.name.to_string();
                        let delay = phase(&name, count, self.resolution);
                        tasks.insert(name.clone(), tokio::spawn(me.node_loop(name, delay)));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn node_loop(self: Arc<Self>, name: String, delay: Duration) {
        tokio::time::sleep(delay).await;
        let mut ticker = tokio::time::interval(self.resolution);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let use_summary = AtomicBool::new(false);
        loop {
            ticker.tick().await;
            self.stats
                .last_tick_ms
                .store(now_ms() as u64, Ordering::Relaxed);
            let Some(node) = self.index.node(&name) else {
                return;
            };
            self.scrape_node(&node, &use_summary).await;
        }
    }

    /// Scrapes one node once and commits what it got.
    pub async fn scrape_node(&self, node: &NodeInfo, use_summary: &AtomicBool) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let started = std::time::Instant::now();
        let request_ms = now_ms();
        let result = self.fetch_and_commit(node, use_summary, request_ms).await;
        self.stats.last_ok.insert(node.name.clone(), result.is_ok());
        match result {
            Ok(()) => {
                self.stats.success.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %node.name, elapsed_ms = started.elapsed().as_millis() as u64, "scraped");
            }
            Err(e) => {
                self.stats.failure.fetch_add(1, Ordering::Relaxed);
                if node.ready {
                    tracing::warn!(node = %node.name, error = %e, "failed to scrape node");
                } else {
                    tracing::debug!(node = %node.name, error = %e, "failed to scrape node that is not ready");
                }
            }
        }
    }

    async fn fetch_and_commit(
        &self,
        node: &NodeInfo,
        use_summary: &AtomicBool,
        request_ms: i64,
    ) -> Result<(), ScrapeError> {
        let summary = use_summary.load(Ordering::Relaxed);
        let body = if summary {
            self.client.get(node, SUMMARY_PATH).await?
        } else {
            let path = node.metrics_path.as_deref().unwrap_or(RESOURCE_PATH);
            match self.client.get(node, path).await {
                Err(ScrapeError::Status(404)) => {
                    tracing::info!(node = %node.name, "kubelet has no {path}; using {SUMMARY_PATH}");
                    use_summary.store(true, Ordering::Relaxed);
                    return Box::pin(self.fetch_and_commit(node, use_summary, request_ms)).await;
                }
                other => other?,
            }
        };
        let decoded = if summary {
            decode::decode_summary(&body)?
        } else {
            decode::decode_resource(&body)?
        };
        if !decoded.skipped.is_empty() {
            self.stats
                .skipped_series
                .fetch_add(decoded.skipped.len() as u64, Ordering::Relaxed);
            tracing::warn!(node = %node.name, skipped = decoded.skipped.len(), first = %decoded.skipped[0], "skipped malformed series");
        }
        let batch = batch::build(&node.name, &decoded, request_ms);
        self.store.commit(&batch, now_ms());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_is_stable_and_within_the_spread() {
        let r = Duration::from_secs(15);
        assert_eq!(phase("n1", 3, r), phase("n1", 3, r));
        assert!(phase("n1", 3, r) < Duration::from_millis(24));
        for i in 0..100 {
            assert!(phase(&format!("node-{i}"), 5000, r) < r);
        }
        let distinct: std::collections::HashSet<_> = (0..100)
            .map(|i| phase(&format!("node-{i}"), 5000, r))
            .collect();
        assert!(distinct.len() > 90, "phases spread out");
    }
}
