//! Logging setup and the server's own `/metrics` (Prometheus text).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use crate::cluster::ClusterIndex;
use crate::scrape::ScrapeStats;
use crate::store::Store;

/// Installs the tracing subscriber; `RUST_LOG` overrides the default level.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// What `/metrics` reports.
pub struct Telemetry {
    /// Scrape counters.
    pub scrape: Arc<ScrapeStats>,
    /// Store sizes.
    pub store: Arc<Store>,
    /// Cluster sizes.
    pub index: Arc<ClusterIndex>,
    /// Open watches.
    pub watches: Arc<std::sync::atomic::AtomicUsize>,
}

async fn metrics(t: web::Data<Telemetry>) -> HttpResponse {
    let s = &t.scrape;
    let (nodes, containers) = t.store.series_counts();
    let (served_nodes, served_pods) = t.store.served_counts();
    let (history_nodes, history_pods) = t.store.log().history_len();
    let (held, commits) = t.store.log().lock_stats();
    let body = format!(
        "# HELP metrics_apiserver_kubelet_request_total Kubelet scrapes by result.\n\
         # TYPE metrics_apiserver_kubelet_request_total counter\n\
         metrics_apiserver_kubelet_request_total{{success=\"true\"}} {}\n\
         metrics_apiserver_kubelet_request_total{{success=\"false\"}} {}\n\
         # HELP metrics_apiserver_skipped_series_total Malformed kubelet series skipped by the decoder.\n\
         # TYPE metrics_apiserver_skipped_series_total counter\n\
         metrics_apiserver_skipped_series_total {}\n\
         # HELP metrics_apiserver_storage_series Series held in memory.\n\
         # TYPE metrics_apiserver_storage_series gauge\n\
         metrics_apiserver_storage_series{{type=\"node\"}} {}\n\
         metrics_apiserver_storage_series{{type=\"container\"}} {}\n\
         # HELP metrics_apiserver_cluster_objects Nodes and pods in the cluster index.\n\
         # TYPE metrics_apiserver_cluster_objects gauge\n\
         metrics_apiserver_cluster_objects{{type=\"node\"}} {}\n\
         metrics_apiserver_cluster_objects{{type=\"pod\"}} {}\n\
         # HELP metrics_apiserver_resource_version Newest resourceVersion handed out.\n\
         # TYPE metrics_apiserver_resource_version gauge\n\
         metrics_apiserver_resource_version {}\n\
         # HELP metrics_apiserver_served_objects Objects served now.\n\
         # TYPE metrics_apiserver_served_objects gauge\n\
         metrics_apiserver_served_objects{{type=\"node\"}} {}\n\
         metrics_apiserver_served_objects{{type=\"pod\"}} {}\n\
         # HELP metrics_apiserver_watch_history_events Events kept for watch resume and paging.\n\
         # TYPE metrics_apiserver_watch_history_events gauge\n\
         metrics_apiserver_watch_history_events{{type=\"node\"}} {}\n\
         metrics_apiserver_watch_history_events{{type=\"pod\"}} {}\n\
         # HELP metrics_apiserver_changelog_commits_total Commits of the change log.\n\
         # TYPE metrics_apiserver_changelog_commits_total counter\n\
         metrics_apiserver_changelog_commits_total {}\n\
         # HELP metrics_apiserver_changelog_lock_seconds_total Time commits held the sequencer lock.\n\
         # TYPE metrics_apiserver_changelog_lock_seconds_total counter\n\
         metrics_apiserver_changelog_lock_seconds_total {}\n\
         # HELP metrics_apiserver_watches Watch streams open now.\n\
         # TYPE metrics_apiserver_watches gauge\n\
         metrics_apiserver_watches {}\n",
        s.success.load(Ordering::Relaxed),
        s.failure.load(Ordering::Relaxed),
        s.skipped_series.load(Ordering::Relaxed),
        nodes,
        containers,
        t.index.node_count(),
        t.index.pod_count(),
        t.store.resource_version(),
        served_nodes,
        served_pods,
        history_nodes,
        history_pods,
        commits,
        held.as_secs_f64(),
        t.watches.load(Ordering::Relaxed),
    );
    let body = body + &s.exposition();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// Registers `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}
