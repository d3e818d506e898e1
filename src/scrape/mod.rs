//! Scraping: a per-node schedule with a concurrency bound, the kubelet client and the decoders.
//!
//! At start every node is scraped at once (spread over about a second, within the concurrency
//! bound), then again as soon as its kubelet gives a newer sample, so rates exist within seconds
//! of a restart instead of after a full resolution. After that each node keeps a stable phase
//! inside the period, so load is spread and samples stay about one resolution apart. A failed
//! request is retried with backoff inside the period; a node that keeps failing is scraped less
//! often. Failures cost only that node.

pub mod batch;
pub mod client;
pub mod decode;
pub mod flags;
pub mod lanes;
pub mod status;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::{ClusterIndex, NodeInfo};
use crate::store::{CommitStats, Store};
use client::{KubeletClient, ScrapeError};
use flags::RetryPolicy;
use lanes::{Lane, Lanes};
pub use status::{NodeStatus, ScrapeStats};

/// Path of the Prometheus resource endpoint.
pub const RESOURCE_PATH: &str = "/metrics/resource";
/// Path of the Summary API, the fallback for kubelets without the resource endpoint.
pub const SUMMARY_PATH: &str = "/stats/summary";

/// The first scrapes after start are spread over this long, so a restart does not open every
/// kubelet connection in the same millisecond.
pub const STARTUP_SPREAD: Duration = Duration::from_secs(1);

/// First delay before a start-up resample: a kubelet with CRI stats has a newer sample at once.
/// Each further try (a kubelet whose samples come from a cache refreshed every few seconds)
/// waits twice as long, up to [`RESAMPLE_MAX_DELAY`].
pub const RESAMPLE_DELAY: Duration = Duration::from_millis(250);

/// Longest delay between start-up resamples.
pub const RESAMPLE_MAX_DELAY: Duration = Duration::from_secs(1);

/// Successful scrapes after which a node whose pods are still not served counts as complete: its
/// unserved pods have a reason of their own (not Running, unknown to the cluster), and readiness
/// must not wait for them forever.
const PODS_AWAITED_SCRAPES: u32 = 3;

/// Most periods a failing node's scrapes are spaced apart.
const MAX_FAILING_SPACING: u32 = 8;

/// Runs the scrape schedule.
pub struct Scraper {
    index: Arc<ClusterIndex>,
    store: Arc<Store>,
    client: Arc<KubeletClient>,
    resolution: Duration,
    lanes: Lanes,
    stats: Arc<ScrapeStats>,
    retry: RetryPolicy,
    metrics: Option<Arc<crate::telemetry::SelfMetrics>>,
    /// Whether a 404 on the resource endpoint sends the node to the Summary API.
    summary_fallback: bool,
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

/// Delay of a node's first scrape after start: spread over [`STARTUP_SPREAD`].
pub fn startup_delay(node: &str) -> Duration {
    Duration::from_millis(stable_hash(node) % STARTUP_SPREAD.as_millis() as u64)
}

/// Periods a node waits between scrapes after `failures` failed periods in a row: 1 while it is
/// healthy, then 2, 4, … up to 8 once it counts as failing.
pub fn spacing(failures: u32, failing_after: u32) -> u32 {
    if failures < failing_after {
        return 1;
    }
    let doublings = (failures - failing_after + 1).min(3);
    (1u32 << doublings).min(MAX_FAILING_SPACING)
}

/// What one successful scrape gave.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// Newest sample timestamp in the kubelet's answer (node sample, else any container).
    newest_ms: Option<i64>,
    /// Whether the answer had a node sample.
    node_sample: bool,
    commit: CommitStats,
}

/// A node's scrape history, owned by its task.
struct NodeRun {
    use_summary: AtomicBool,
    failures: u32,
    successes: u32,
}

impl Scraper {
    /// A scraper over the given stages; `concurrency` bounds healthy nodes' kubelet requests in
    /// flight, and failing nodes get a small bound of their own (see [`lanes`]).
    pub fn new(
        index: Arc<ClusterIndex>,
        store: Arc<Store>,
        client: Arc<KubeletClient>,
        resolution: Duration,
        concurrency: usize,
    ) -> Self {
        let lanes = Lanes::new(concurrency, client.timeout());
        Scraper {
            index,
            store,
            client,
            resolution,
            lanes,
            stats: Arc::new(ScrapeStats::default()),
            retry: RetryPolicy::default(),
            metrics: None,
            summary_fallback: true,
        }
    }

    /// The same scraper recording each kubelet request in the self-metrics.
    pub fn with_metrics(mut self, metrics: Arc<crate::telemetry::SelfMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The same scraper, falling back to `/stats/summary` on a 404 only if `on`
    /// (`--kubelet-summary-fallback`).
    pub fn with_summary_fallback(mut self, on: bool) -> Self {
        self.summary_fallback = on;
        self
    }

    /// The same scraper with the retry and backoff policy of the flags.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
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
                        self.stats.status.remove(name.as_str());
                    }
                    keep
                });
                for node in nodes {
                    if !tasks.contains_key(node.name.as_ref()) {
                        let me = self.clone();
                        let name = node.name.to_string();
                        self.stats
                            .status
                            .entry(node.name.clone())
                            .or_insert(NodeStatus::Pending);
                        tasks.insert(name.clone(), tokio::spawn(me.node_loop(name, count)));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn node_loop(self: Arc<Self>, name: String, count: usize) {
        tokio::time::sleep(startup_delay(&name)).await;
        let started = Instant::now();
        let mut run = NodeRun {
            use_summary: AtomicBool::new(false),
            failures: 0,
            successes: 0,
        };
        // Start-up: sample again as soon as the kubelet has a newer sample, within one period.
        let mut first: Option<i64> = None;
        let mut delay = RESAMPLE_DELAY;
        loop {
            let Some(node) = self.index.node(&name) else {
                return;
            };
            let outcome = self.scrape_period(&node, &mut run).await;
            let newest = outcome.and_then(|o| o.newest_ms);
            match (first, newest) {
                (None, Some(t)) => first = Some(t),
                (Some(t0), Some(t)) if t > t0 => break,
                (_, None) => break,
                _ => {}
            }
            if started.elapsed() + delay >= self.resolution {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RESAMPLE_MAX_DELAY);
        }
        // Steady state: every period at the node's phase; failing nodes less often.
        let offset = phase(&name, count, self.resolution);
        let mut ticker =
            tokio::time::interval_at(started + self.resolution + offset, self.resolution);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut skip = 0u32;
        loop {
            ticker.tick().await;
            self.stats
                .last_tick_ms
                .store(now_ms() as u64, Ordering::Relaxed);
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let Some(node) = self.index.node(&name) else {
                return;
            };
            self.scrape_period(&node, &mut run).await;
            skip = spacing(run.failures, self.retry.failing_after) - 1;
        }
    }

    /// One period's scrape of a node: retried with doubling backoff while half the period
    /// remains. Updates the node's status, its failure count and the self-metrics.
    async fn scrape_period(&self, node: &NodeInfo, run: &mut NodeRun) -> Option<Outcome> {
        let deadline = Instant::now() + self.resolution / 2;
        let mut delay = self.retry.backoff;
        let mut attempt = 0;
        let result = loop {
            // A node in backoff, or retrying, never takes a slot a healthy node waits for.
            let lane = if run.failures > 0 || attempt > 0 {
                Lane::Failing
            } else {
                Lane::Healthy
            };
            let result = self
                .scrape_node(node, &run.use_summary, lane, deadline)
                .await;
            let retriable = matches!(
                &result,
                Err(ScrapeError::Timeout
                    | ScrapeError::Request(_)
                    | ScrapeError::Slow(lanes::Refused::Abandoned(_))
                    | ScrapeError::Status(429 | 500..))
            );
            if !retriable || attempt >= self.retry.retries || Instant::now() + delay > deadline {
                break result;
            }
            attempt += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay *= 2;
        };
        let name = node.name.as_ref();
        match result {
            Ok(outcome) => {
                if run.failures >= self.retry.failing_after {
                    self.stats.recovered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        node = name,
                        failed_periods = run.failures,
                        "node answers again; back to the normal schedule"
                    );
                }
                run.failures = 0;
                run.successes = run.successes.saturating_add(1);
                let c = outcome.commit;
                let status = if !outcome.node_sample {
                    NodeStatus::NoNodeSample
                } else if !c.node_served {
                    NodeStatus::AwaitingRate
                } else if c.pods_held > 0
                    && c.pods_served == 0
                    && run.successes < PODS_AWAITED_SCRAPES
                {
                    NodeStatus::AwaitingPods
                } else {
                    NodeStatus::Complete
                };
                self.stats.set(name, status);
                Some(outcome)
            }
            Err(e) => {
                run.failures = run.failures.saturating_add(1);
                let failing = run.failures >= self.retry.failing_after;
                if run.failures == self.retry.failing_after {
                    self.stats.became_failing.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(node = name, error = %e, failed_periods = run.failures, "node keeps failing; scraping it less often");
                } else if failing {
                    tracing::debug!(node = name, error = %e, "failing node failed again");
                } else if node.ready {
                    tracing::warn!(node = name, error = %e, "failed to scrape node");
                } else {
                    tracing::debug!(node = name, error = %e, "failed to scrape node that is not ready");
                }
                self.stats.set(
                    name,
                    if failing {
                        NodeStatus::Failing
                    } else {
                        NodeStatus::Failed
                    },
                );
                None
            }
        }
    }

    /// Scrapes one node once in `lane` and commits what it got.
    async fn scrape_node(
        &self,
        node: &NodeInfo,
        use_summary: &AtomicBool,
        lane: Lane,
        deadline: Instant,
    ) -> Result<Outcome, ScrapeError> {
        // Lazy: the clock starts once the request has a slot.
        let request = async {
            let started = std::time::Instant::now();
            let result = self.fetch_and_commit(node, use_summary, now_ms()).await;
            (result, started)
        };
        let (result, started) = match self.lanes.run(lane, deadline, request).await {
            Ok(done) => done,
            Err(refused) => (Err(ScrapeError::Slow(refused)), std::time::Instant::now()),
        };
        if let Some(m) = &self.metrics {
            let took = started.elapsed();
            m.kubelet_request(
                &node.name,
                took,
                result.is_ok(),
                result.as_ref().err().map(ScrapeError::reason),
            );
            // There is no global tick: each node's scrape and commit is one.
            m.manager_tick_duration.observe(took.as_secs_f64());
        }
        match &result {
            Ok(_) => {
                self.stats.success.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %node.name, elapsed_ms = started.elapsed().as_millis() as u64, "scraped");
            }
            Err(_) => {
                self.stats.failure.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    async fn fetch_and_commit(
        &self,
        node: &NodeInfo,
        use_summary: &AtomicBool,
        request_ms: i64,
    ) -> Result<Outcome, ScrapeError> {
        let summary = use_summary.load(Ordering::Relaxed);
        let body = if summary {
            self.client.get(node, SUMMARY_PATH).await?
        } else {
            let path = node.metrics_path.as_deref().unwrap_or(RESOURCE_PATH);
            match self.client.get(node, path).await {
                Err(ScrapeError::Status(404)) if self.summary_fallback => {
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
        let newest_ms = batch.node_sample.map(|s| s.timestamp_ms).or_else(|| {
            batch
                .pods
                .iter()
                .flat_map(|p| p.containers.iter())
                .map(|c| c.sample.timestamp_ms)
                .max()
        });
        let commit = self.store.commit(&batch, now_ms());
        Ok(Outcome {
            newest_ms,
            node_sample: batch.node_sample.is_some(),
            commit,
        })
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

    #[test]
    fn startup_is_spread_over_about_a_second() {
        let delays: std::collections::HashSet<_> = (0..200)
            .map(|i| startup_delay(&format!("node-{i}")))
            .collect();
        assert!(delays.iter().all(|d| *d < STARTUP_SPREAD));
        assert!(delays.len() > 150, "spread, not all at once");
    }

    #[test]
    fn failing_nodes_are_scraped_less_often_up_to_a_bound() {
        let got: Vec<u32> = (0..8).map(|f| spacing(f, 3)).collect();
        assert_eq!(got, vec![1, 1, 1, 2, 4, 8, 8, 8]);
        assert_eq!(spacing(0, 1), 1);
        assert_eq!(spacing(1, 1), 2);
    }
}
