//! Logging and self-metrics.
//!
//! `/metrics` carries metrics-server's six `metrics_server_*` series with the same names, types,
//! labels and buckets, so existing dashboards and alerts keep working, plus our own
//! `metrics_apiserver_*` series. Everything is encoded by `prometheus-client`; per-node series are
//! removed when the node leaves the cluster (metrics-server leaks them).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cluster::ClusterIndex;
use crate::scrape::ScrapeStats;
use crate::store::Store;

/// Logging flags, as Kubernetes components spell them.
#[derive(Debug, Clone, clap::Args)]
pub struct LoggingArgs {
    /// Log verbosity as klog's: 0–1 info, 2–4 debug, 5 and above trace. `RUST_LOG` overrides it.
    #[arg(short = 'v', long = "v", default_value_t = 0)]
    pub verbosity: u8,
    /// `text` (default) or `json`: one JSON object per line, for log pipelines.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub logging_format: String,
}

impl Default for LoggingArgs {
    fn default() -> Self {
        LoggingArgs {
            verbosity: 0,
            logging_format: "text".into(),
        }
    }
}

/// Starts logging to stderr, as `--v` and `--logging-format` say, unless `RUST_LOG` is set.
pub fn init_logging(args: &LoggingArgs) {
    let level = match args.verbosity {
        0..=1 => "info",
        2..=4 => "info,metrics_apiserver=debug",
        _ => "info,metrics_apiserver=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = if args.logging_format == "json" {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// `node` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    /// Node name.
    pub node: String,
}

/// `success` label: `"true"` or `"false"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SuccessLabel {
    /// Whether the kubelet request succeeded.
    pub success: String,
}

/// `reason` label of a scrape failure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// What failed: `timeout`, `connect`, `status`, `decode`, `body_too_large`, ...
    pub reason: String,
}

type HistogramFamily = Family<NodeLabel, Histogram, fn() -> Histogram>;

/// Prometheus' default buckets (`prometheus.DefBuckets`).
const DEF_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn kubelet_duration_histogram() -> Histogram {
    Histogram::new(DEF_BUCKETS)
}

/// metrics-server's `BucketsForScrapeDuration`: the default buckets with the resolution worked in.
pub fn buckets_for_scrape_duration(resolution: Duration) -> Vec<f64> {
    let mut buckets = DEF_BUCKETS.to_vec();
    let max = DEF_BUCKETS[DEF_BUCKETS.len() - 1];
    let t = resolution.as_secs_f64();
    if t > max {
        buckets.extend([max + (t - max) / 2.0, t, t * 1.5, t * 2.0]);
    } else if t < max {
        let i = buckets
            .iter()
            .position(|b| *b > t)
            .unwrap_or(buckets.len() - 1);
        let bucket = buckets[i];
        let close = bucket - t < buckets[0] || (i > 0 && t - buckets[i - 1] < buckets[0]);
        if !close {
            buckets.insert(i, t);
        }
    }
    buckets
}

/// `ExponentialBuckets(1, 1.364, 20)`, the freshness histogram's buckets.
fn freshness_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(1.0, 1.364, 20)
}

/// The metrics the server's stages record into; encoded on every `/metrics` request.
#[derive(Debug)]
pub struct SelfMetrics {
    /// `metrics_server_api_metric_freshness_seconds`: age of each served item at each read.
    pub freshness: Histogram,
    /// `metrics_server_kubelet_request_duration_seconds{node}`.
    pub kubelet_request_duration: HistogramFamily,
    /// `metrics_server_kubelet_request_total{success}`.
    pub kubelet_request_total: Family<SuccessLabel, Counter>,
    /// `metrics_server_kubelet_last_request_time_seconds{node}`.
    pub kubelet_last_request_time: Family<NodeLabel, Gauge<f64, AtomicU64>>,
    /// `metrics_server_manager_tick_duration_seconds`: one scrape round.
    pub manager_tick_duration: Histogram,
    /// `metrics_apiserver_scrape_failures_total{reason}`.
    pub scrape_failures: Family<ReasonLabel, Counter>,
}

impl SelfMetrics {
    /// Metrics with the buckets metrics-server uses at this resolution.
    pub fn new(resolution: Duration) -> Self {
        SelfMetrics {
            freshness: Histogram::new(freshness_buckets()),
            kubelet_request_duration: Family::new_with_constructor(kubelet_duration_histogram),
            kubelet_request_total: Family::default(),
            kubelet_last_request_time: Family::default(),
            manager_tick_duration: Histogram::new(buckets_for_scrape_duration(resolution)),
            scrape_failures: Family::default(),
        }
    }

    /// Records one kubelet request.
    pub fn kubelet_request(&self, node: &str, took: Duration, ok: bool, failure: Option<&str>) {
        let label = NodeLabel {
            node: node.to_string(),
        };
        self.kubelet_request_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        self.kubelet_request_total
            .get_or_create(&SuccessLabel {
                success: ok.to_string(),
            })
            .inc();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.kubelet_last_request_time
            .get_or_create(&label)
            .set(now);
        if let Some(reason) = failure {
            self.scrape_failures
                .get_or_create(&ReasonLabel {
                    reason: reason.to_string(),
                })
                .inc();
        }
    }

    /// Drops the series of a node that left the cluster.
    pub fn forget_node(&self, node: &str) {
        let label = NodeLabel {
            node: node.to_string(),
        };
        self.kubelet_request_duration.remove(&label);
        self.kubelet_last_request_time.remove(&label);
    }

    /// Records how old each served item is, once per item per read, as metrics-server does.
    pub fn observe_freshness(&self, now_ms: i64, timestamps_ms: impl IntoIterator<Item = i64>) {
        for t in timestamps_ms {
            self.freshness
                .observe(((now_ms - t).max(0) as f64) / 1000.0);
        }
    }
}

/// What `/metrics` reports: the recorded metrics and the state read at each request.
pub struct Telemetry {
    /// Scrape counters.
    pub scrape: Arc<ScrapeStats>,
    /// Store sizes.
    pub store: Arc<Store>,
    /// Cluster sizes.
    pub index: Arc<ClusterIndex>,
    /// Open watches.
    pub watches: Arc<AtomicUsize>,
    /// Recorded metrics.
    pub metrics: Arc<SelfMetrics>,
}

const NO_LABELS: [(&str, &str); 0] = [];

/// Values read at each `/metrics` request from the stages' own state.
#[derive(Debug)]
struct StateCollector {
    values: Vec<StateFamily>,
}

/// One family read from state: name, help, `(label, value, sample)`s, and whether it is a counter.
type StateFamily = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str, f64)>,
    bool,
);

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, samples, counter) in &self.values {
            if *counter {
                let kind = ConstCounter::new(0u64).metric_type();
                let family = encoder.encode_descriptor(name, help, None, kind)?;
                encode_samples(family, samples, |v| ConstCounter::new(v as u64))?;
            } else {
                let kind = ConstGauge::new(0i64).metric_type();
                let family = encoder.encode_descriptor(name, help, None, kind)?;
                encode_samples(family, samples, ConstGauge::new)?;
            }
        }
        Ok(())
    }
}

/// Encodes one family's samples, each with its one label or none.
fn encode_samples<M: EncodeMetric>(
    mut family: prometheus_client::encoding::MetricEncoder<'_>,
    samples: &[(&'static str, &'static str, f64)],
    metric: impl Fn(f64) -> M,
) -> Result<(), std::fmt::Error> {
    for (k, v, value) in samples {
        let m = metric(*value);
        if k.is_empty() {
            m.encode(family.encode_family(&NO_LABELS)?)?;
        } else {
            m.encode(family.encode_family(&[(*k, *v)])?)?;
        }
    }
    Ok(())
}

impl Telemetry {
    fn state(&self) -> StateCollector {
        let s = &self.scrape;
        let (series_nodes, series_containers) = self.store.series_counts();
        let (served_nodes, served_pods) = self.store.served_counts();
        let (history_nodes, history_pods) = self.store.log().history_len();
        let (held, commits) = self.store.log().lock_stats();
        let f = |v: u64| v as f64;
        StateCollector {
            values: vec![
                (
                    "metrics_server_storage_points",
                    "Number of metrics points stored.",
                    vec![
                        ("type", "node", served_nodes as f64),
                        ("type", "container", f(self.served_containers())),
                    ],
                    false,
                ),
                (
                    "metrics_apiserver_kubelet_request",
                    "Kubelet scrapes by result.",
                    vec![
                        ("success", "true", f(s.success.load(Ordering::Relaxed))),
                        ("success", "false", f(s.failure.load(Ordering::Relaxed))),
                    ],
                    true,
                ),
                (
                    "metrics_apiserver_skipped_series",
                    "Malformed kubelet series skipped by the decoder.",
                    vec![("", "", f(s.skipped_series.load(Ordering::Relaxed)))],
                    true,
                ),
                (
                    "metrics_apiserver_kubelet_retries",
                    "Kubelet requests retried inside a period.",
                    vec![("", "", f(s.retries.load(Ordering::Relaxed)))],
                    true,
                ),
                (
                    "metrics_apiserver_failing_nodes",
                    "Nodes whose kubelet keeps failing, scraped less often.",
                    vec![("", "", s.failing_count() as f64)],
                    false,
                ),
                (
                    "metrics_apiserver_node_state_changes",
                    "Nodes that became failing or recovered.",
                    vec![
                        ("to", "failing", f(s.became_failing.load(Ordering::Relaxed))),
                        ("to", "healthy", f(s.recovered.load(Ordering::Relaxed))),
                    ],
                    true,
                ),
                (
                    "metrics_apiserver_storage_series",
                    "Series held in memory.",
                    vec![
                        ("type", "node", series_nodes as f64),
                        ("type", "container", series_containers as f64),
                    ],
                    false,
                ),
                (
                    "metrics_apiserver_served_objects",
                    "Objects served now.",
                    vec![
                        ("type", "node", served_nodes as f64),
                        ("type", "pod", served_pods as f64),
                    ],
                    false,
                ),
                (
                    "metrics_apiserver_cluster_objects",
                    "Nodes and pods in the cluster index.",
                    vec![
                        ("type", "node", self.index.node_count() as f64),
                        ("type", "pod", self.index.pod_count() as f64),
                    ],
                    false,
                ),
                (
                    "metrics_apiserver_resource_version",
                    "Newest resourceVersion committed.",
                    vec![("", "", self.store.resource_version() as f64)],
                    false,
                ),
                (
                    "metrics_apiserver_watch_history_events",
                    "Events kept for watch resume and paging.",
                    vec![
                        ("type", "node", history_nodes as f64),
                        ("type", "pod", history_pods as f64),
                    ],
                    false,
                ),
                (
                    "metrics_apiserver_changelog_commits",
                    "Commits of the change log.",
                    vec![("", "", f(commits))],
                    true,
                ),
                (
                    "metrics_apiserver_changelog_lock_seconds",
                    "Seconds commits held the sequencer lock, summed.",
                    vec![("", "", held.as_secs_f64())],
                    false,
                ),
                (
                    "metrics_apiserver_watches",
                    "Watch streams open now.",
                    vec![("", "", self.watches.load(Ordering::Relaxed) as f64)],
                    false,
                ),
            ],
        }
    }

    fn served_containers(&self) -> u64 {
        self.store
            .log()
            .snapshot::<crate::store::PodObject>()
            .iter()
            .map(|p| p.value.containers.len() as u64)
            .sum()
    }

    /// The `/metrics` body: every series in the Prometheus text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        let m = &self.metrics;
        registry.register(
            "metrics_server_api_metric_freshness_seconds",
            "Freshness of metrics exported",
            m.freshness.clone(),
        );
        registry.register(
            "metrics_server_kubelet_request_duration_seconds",
            "Duration of requests to kubelet API in seconds",
            m.kubelet_request_duration.clone(),
        );
        registry.register(
            "metrics_server_kubelet_request",
            "Number of requests sent to kubelet API",
            m.kubelet_request_total.clone(),
        );
        registry.register(
            "metrics_server_kubelet_last_request_time_seconds",
            "Time of last request performed to kubelet API since unix epoch in seconds",
            m.kubelet_last_request_time.clone(),
        );
        registry.register(
            "metrics_server_manager_tick_duration_seconds",
            "The total time spent collecting and storing metrics in seconds",
            m.manager_tick_duration.clone(),
        );
        registry.register(
            "metrics_apiserver_scrape_failures",
            "Failed kubelet scrapes by reason.",
            m.scrape_failures.clone(),
        );
        registry.register_collector(Box::new(self.state()));
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, &registry)?;
        Ok(body)
    }
}

async fn metrics(t: web::Data<Telemetry>) -> HttpResponse {
    match t.render() {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(body),
        Err(_) => actix_web::ResponseError::error_response(
            &crate::api::status::ApiError::internal("encoding the self-metrics failed"),
        ),
    }
}

/// Registers `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_buckets_follow_metrics_server() {
        let at15 = buckets_for_scrape_duration(Duration::from_secs(15));
        assert_eq!(&at15[11..], &[12.5, 15.0, 22.5, 30.0]);
        let at60 = buckets_for_scrape_duration(Duration::from_secs(60));
        assert_eq!(&at60[11..], &[35.0, 60.0, 90.0, 120.0]);
        // Close to an existing bucket: nothing is added; otherwise the resolution is inserted.
        assert_eq!(
            buckets_for_scrape_duration(Duration::from_secs(10)).len(),
            11
        );
        let at3 = buckets_for_scrape_duration(Duration::from_secs(3));
        assert_eq!(at3.len(), 12);
        assert!(at3.contains(&3.0));
    }

    #[test]
    fn node_series_are_recorded_and_forgotten() {
        let m = SelfMetrics::new(Duration::from_secs(15));
        m.kubelet_request("n1", Duration::from_millis(20), true, None);
        m.kubelet_request("n2", Duration::from_millis(20), false, Some("timeout"));
        let mut r = Registry::default();
        r.register("d", "", m.kubelet_request_duration.clone());
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(
            out.contains("node=\"n1\"") && out.contains("node=\"n2\""),
            "{out}"
        );
        m.forget_node("n1");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(
            !out.contains("node=\"n1\"") && out.contains("node=\"n2\""),
            "{out}"
        );
    }
}
