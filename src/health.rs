//! `/healthz`, `/livez`, `/readyz`, with named checks and Go's output format.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::reload::{CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, CaLoad, CaState};
use crate::cluster::ClusterIndex;
use crate::scrape::{NodeStatus, ScrapeStats, now_ms};
use crate::store::{NodeObject, PodObject, Store};

/// What the checks read.
pub struct Health {
    /// Metrics, for storage readiness.
    pub store: Arc<Store>,
    /// Informer sync state.
    pub index: Arc<ClusterIndex>,
    /// Scrape timeliness.
    pub scrape: Arc<ScrapeStats>,
    /// Scrape period.
    pub resolution: Duration,
    /// Latched once the first full set of node metrics was stored.
    pub was_ready: std::sync::atomic::AtomicBool,
    /// Whether the client and request-header CAs are loaded.
    pub cas: Arc<CaLoad>,
}

/// A named check: its result, and for `?verbose` a detail line (readiness says how many nodes
/// are missing and why; counts only, so anonymous probes learn no node names).
struct Check {
    name: &'static str,
    result: Result<(), String>,
    detail: Option<String>,
}

impl Check {
    fn new(name: &'static str, result: Result<(), String>) -> Self {
        Check {
            name,
            result,
            detail: None,
        }
    }
}

impl Health {
    fn informer_sync(&self) -> Result<(), String> {
        if self.index.synced() {
            Ok(())
        } else {
            Err("node and pod lists not synced yet".into())
        }
    }

    /// Ready once every node has its metrics served or a definite reason why not (its kubelet
    /// failed, or answers without a node sample), so clients never see a partial cluster after a
    /// restart and readiness never waits for a node that cannot give metrics; a node whose pods
    /// exist counts as served once pod metrics are served too. Once ready, it stays ready while
    /// anything is served (a joining node does not take the API away) or nothing is awaited.
    /// Returns the result and the detail for `?verbose`.
    fn storage_ready(&self) -> (Result<(), String>, String) {
        let served = self.store.log().snapshot::<NodeObject>();
        let nodes = self.index.nodes();
        let mut missing: std::collections::BTreeMap<NodeStatus, usize> = Default::default();
        let mut awaited = 0;
        // Nodes serving at least one pod now: pods can become served between two scrapes of
        // their node (the pod list synced after the scrape), which the scrape status cannot know.
        let mut serving_pods: Option<std::collections::HashSet<Arc<str>>> = None;
        for n in &nodes {
            let mut status = self.scrape.get(&n.name);
            let key: Arc<str> = Arc::from(n.name.as_ref());
            let is_served = served.get(&key).is_some();
            if is_served && status == NodeStatus::AwaitingPods {
                let with_pods = serving_pods.get_or_insert_with(|| {
                    let pods = self.store.log().snapshot::<PodObject>();
                    pods.iter().map(|p| p.value.node.clone()).collect()
                });
                if with_pods.contains(&key) {
                    status = NodeStatus::Complete;
                }
            }
            if is_served && status != NodeStatus::AwaitingPods {
                continue;
            }
            if !status.settled() || status == NodeStatus::Complete {
                awaited += 1;
            }
            *missing.entry(status).or_default() += 1;
        }
        let mut detail = format!(
            "{} of {} nodes served",
            nodes.len() - missing.values().sum::<usize>(),
            nodes.len()
        );
        if !missing.is_empty() {
            let parts: Vec<String> = missing
                .iter()
                .map(|(s, n)| {
                    let reason = if *s == NodeStatus::Complete {
                        "metrics expired"
                    } else {
                        s.reason()
                    };
                    format!("{n} {reason}")
                })
                .collect();
            detail.push_str(&format!("; missing: {}", parts.join(", ")));
        }
        if !self.index.synced() && nodes.is_empty() {
            return (Err("cluster view not synced yet".into()), detail);
        }
        let result = if awaited == 0 {
            self.was_ready.store(true, Ordering::Relaxed);
            Ok(())
        } else if self.was_ready.load(Ordering::Relaxed) && !served.is_empty() {
            Ok(())
        } else {
            Err(format!("{awaited} nodes awaited"))
        };
        (result, detail)
    }

    /// The CAs are loaded, or their lookup failed with a reason in the log and is tolerated: until
    /// then kube-apiserver's proxied requests cannot be authenticated, so traffic must wait.
    fn authentication_loaded(&self) -> (Result<(), String>, Option<String>) {
        match self.cas.state() {
            CaState::Loaded => (Ok(()), None),
            CaState::Tolerated(e) => (
                Ok(()),
                Some(format!(
                    "lookup failed, serving without the configmap's CAs: {e}"
                )),
            ),
            CaState::Pending(last) => {
                let waiting =
                    format!("waiting for configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE}");
                let detail =
                    last.map_or_else(|| "not read yet".into(), |e| format!("last error: {e}"));
                (Err(waiting), Some(detail))
            }
            CaState::Fatal(e) => (Err("lookup failed".into()), Some(e)),
        }
    }

    /// Scraping has not stalled: some node was scraped within 1.5 periods (vacuous with no nodes).
    fn collection_timely(&self) -> Result<(), String> {
        if self.index.node_count() == 0 {
            return Ok(());
        }
        let last = self.scrape.last_tick_ms.load(Ordering::Relaxed) as i64;
        let limit = self.resolution.as_millis() as i64 * 3 / 2 + 1000;
        if last == 0 || now_ms() - last <= limit {
            Ok(())
        } else {
            Err(format!("last scrape started {} ms ago", now_ms() - last))
        }
    }

    fn checks(&self, endpoint: &str) -> Vec<Check> {
        let mut checks: Vec<Check> = vec![Check::new("ping", Ok(())), Check::new("log", Ok(()))];
        match endpoint {
            "readyz" => {
                let (result, detail) = self.storage_ready();
                checks.push(Check {
                    name: "metric-storage-ready",
                    result,
                    detail: Some(detail),
                });
                checks.push(Check::new("metric-informer-sync", self.informer_sync()));
                let (result, detail) = self.authentication_loaded();
                checks.push(Check {
                    name: "delegated-authentication",
                    result,
                    detail,
                });
            }
            "livez" => checks.push(Check::new(
                "metric-collection-timely",
                self.collection_timely(),
            )),
            _ => {}
        }
        checks
    }
}

fn text(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

fn render(endpoint: &str, checks: &[Check], query: &str) -> HttpResponse {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let verbose = params.iter().any(|(k, _)| k == "verbose");
    let excluded: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "exclude")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut failed = false;
    let mut out = String::new();
    for Check {
        name,
        result,
        detail,
    } in checks
    {
        if excluded.contains(name) {
            out.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        let detail = detail.as_deref().filter(|_| verbose);
        match (result, detail) {
            (Ok(()), None) => out.push_str(&format!("[+]{name} ok\n")),
            (Ok(()), Some(d)) => out.push_str(&format!("[+]{name} ok: {d}\n")),
            (Err(reason), d) => {
                failed = true;
                tracing::debug!(check = name, reason = %reason, "{endpoint} check failed");
                match d {
                    Some(d) => out.push_str(&format!("[-]{name} failed: {reason}: {d}\n")),
                    None => out.push_str(&format!("[-]{name} failed: reason withheld\n")),
                }
            }
        }
    }
    if failed {
        out.push_str(&format!("{endpoint} check failed\n"));
        return text(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, out);
    }
    if verbose {
        out.push_str(&format!("{endpoint} check passed\n"));
        text(actix_web::http::StatusCode::OK, out)
    } else {
        text(actix_web::http::StatusCode::OK, "ok".into())
    }
}

async fn endpoint(req: HttpRequest, health: web::Data<Health>) -> HttpResponse {
    let endpoint = req
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("healthz")
        .to_string();
    let checks = health.checks(&endpoint);
    render(&endpoint, &checks, req.query_string())
}

async fn single(path: web::Path<(String, String)>, health: web::Data<Health>) -> HttpResponse {
    let (endpoint, name) = path.into_inner();
    match health
        .checks(&endpoint)
        .into_iter()
        .find(|c| c.name == name)
        .map(|c| c.result)
    {
        Some(Ok(())) => text(actix_web::http::StatusCode::OK, "ok".into()),
        Some(Err(e)) => text(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {e}\n"),
        ),
        None => text(
            actix_web::http::StatusCode::NOT_FOUND,
            "404 page not found\n".into(),
        ),
    }
}

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for e in ["healthz", "livez", "readyz"] {
        cfg.route(&format!("/{e}"), web::get().to(endpoint));
    }
    cfg.route(
        "/{endpoint:healthz|livez|readyz}/{name}",
        web::get().to(single),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        ContainerSample, LogConfig, NodeBatch, ObjectMeta, PodBatch, PodMeta, Sample, StaticMeta,
        StoreConfig,
    };

    fn health() -> Health {
        let meta = Arc::new(StaticMeta::default());
        for n in ["n1", "n2"] {
            meta.nodes.insert(n.into(), ObjectMeta::default());
        }
        Health {
            store: Arc::new(Store::new(
                StoreConfig {
                    depth: 4,
                    resolution_ms: 15_000,
                    max_age_ms: 60_000,
                },
                LogConfig::default(),
                meta,
            )),
            index: Arc::new(ClusterIndex::new()),
            scrape: Arc::new(ScrapeStats::default()),
            resolution: Duration::from_secs(15),
            was_ready: Default::default(),
            cas: Arc::new(CaLoad::new(CaState::Loaded)),
        }
    }

    fn two_samples(h: &Health, node: &str) {
        let now = now_ms();
        for (i, t) in [now - 15_000, now].into_iter().enumerate() {
            let batch = NodeBatch {
                node,
                node_sample: Some(Sample {
                    timestamp_ms: t,
                    cpu_ns: 1_000_000_000 * (i as u64 + 1),
                    memory_bytes: 1,
                }),
                pods: vec![],
                incomplete_pods: vec![],
                node_swap: None,
            };
            h.store.commit(&batch, now);
        }
    }

    fn node(name: &str) -> crate::cluster::NodeInfo {
        crate::cluster::NodeInfo {
            name: name.into(),
            labels: Default::default(),
            uid: "u".into(),
            addresses: Box::new([]),
            kubelet_port: None,
            ready: true,
            created_s: 0,
            metrics_path: None,
        }
    }

    #[test]
    fn ready_when_every_node_is_served_or_has_a_definite_reason_then_latched() {
        let h = health();
        for n in ["n1", "n2", "down", "virtual"] {
            h.index.upsert_node(node(n));
        }
        h.index.set_nodes_synced();
        h.index.set_pods_synced();
        assert!(h.storage_ready().0.is_err(), "nothing scraped yet");
        h.scrape.set("n1", NodeStatus::Complete);
        h.scrape.set("n2", NodeStatus::AwaitingRate);
        h.scrape.set("down", NodeStatus::Failed);
        h.scrape.set("virtual", NodeStatus::NoNodeSample);
        two_samples(&h, "n1");
        let (r, detail) = h.storage_ready();
        assert!(r.is_err(), "n2 answers but has no rate yet");
        assert_eq!(
            detail,
            "1 of 4 nodes served; missing: 1 waiting for a second sample, \
             1 kubelet gives no node sample, 1 scrape failed"
        );
        two_samples(&h, "n2");
        h.scrape.set("n2", NodeStatus::Complete);
        assert!(
            h.storage_ready().0.is_ok(),
            "neither the failed node nor the one without a node sample holds readiness back"
        );
        h.index.upsert_node(node("joining"));
        assert!(
            h.storage_ready().0.is_ok(),
            "a joining node does not take readiness away"
        );
        assert_eq!(h.store.expire(now_ms() + 60_001), 2, "both nodes expire");
        assert!(h.storage_ready().0.is_err(), "nothing left to serve");
    }

    #[test]
    fn ready_with_nothing_served_when_no_node_can_give_metrics() {
        let h = health();
        h.index.upsert_node(node("virtual"));
        h.index.set_nodes_synced();
        h.scrape.set("virtual", NodeStatus::NoNodeSample);
        assert!(h.storage_ready().0.is_ok(), "readiness never sticks");
    }

    #[test]
    fn pods_are_awaited_where_they_exist() {
        let h = health();
        h.index.upsert_node(node("n1"));
        h.index.set_nodes_synced();
        two_samples(&h, "n1");
        h.scrape.set("n1", NodeStatus::AwaitingPods);
        assert!(
            h.storage_ready().0.is_err(),
            "node served, its pods not yet"
        );
        h.scrape.set("n1", NodeStatus::Complete);
        assert!(h.storage_ready().0.is_ok());
    }

    #[test]
    fn pods_served_after_the_scrape_count_at_once() {
        let meta = Arc::new(StaticMeta::default());
        meta.nodes.insert("n1".into(), ObjectMeta::default());
        let mut h = health();
        h.store = Arc::new(Store::new(
            StoreConfig {
                depth: 4,
                resolution_ms: 15_000,
                max_age_ms: 60_000,
            },
            LogConfig::default(),
            meta.clone(),
        ));
        h.index.upsert_node(node("n1"));
        h.index.set_nodes_synced();
        let now = now_ms();
        for (i, t) in [now - 15_000, now].into_iter().enumerate() {
            let s = Sample {
                timestamp_ms: t,
                cpu_ns: 1_000_000_000 * (i as u64 + 1),
                memory_bytes: 1,
            };
            let batch = NodeBatch {
                node: "n1",
                node_sample: Some(s),
                pods: vec![PodBatch {
                    namespace: "ns",
                    name: "p",
                    containers: vec![ContainerSample {
                        name: "c",
                        start_ms: 0,
                        sample: s,
                        swap_bytes: None,
                    }],
                }],
                incomplete_pods: vec![],
                node_swap: None,
            };
            h.store.commit(&batch, now);
        }
        // The scrape saw the pod before the pod list synced: no pod served, so AwaitingPods.
        h.scrape.set("n1", NodeStatus::AwaitingPods);
        assert!(h.storage_ready().0.is_err());
        meta.pods.insert(
            ("ns".into(), "p".into()),
            PodMeta {
                meta: ObjectMeta::default(),
                running: true,
                node: None,
            },
        );
        h.store.pod_changed("ns", "p", None);
        assert!(
            h.storage_ready().0.is_ok(),
            "the pod found through its kubelet is served, and readiness sees it before the next scrape"
        );
    }

    #[test]
    fn readiness_waits_for_the_cas_unless_their_lookup_failure_is_tolerated() {
        let verdict = |state: CaState| {
            let mut h = health();
            h.cas = Arc::new(CaLoad::new(state));
            let checks = h.checks("readyz");
            let c = checks
                .into_iter()
                .find(|c| c.name == "delegated-authentication")
                .expect("a named readiness check");
            (c.result, c.detail)
        };
        let (r, d) = verdict(CaState::Pending(Some("connection refused".into())));
        assert_eq!(
            r,
            Err("waiting for configmap/extension-apiserver-authentication in kube-system".into())
        );
        assert_eq!(d.as_deref(), Some("last error: connection refused"));
        assert!(verdict(CaState::Fatal("forbidden".into())).0.is_err());
        assert!(verdict(CaState::Loaded).0.is_ok());
        let (r, d) = verdict(CaState::Tolerated("forbidden".into()));
        assert!(
            r.is_ok(),
            "a tolerated failure does not hold readiness back"
        );
        assert!(d.unwrap().contains("forbidden"), "but says why");
        let mut h = health();
        h.cas = Arc::new(CaLoad::new(CaState::Pending(None)));
        assert!(
            h.checks("livez").iter().all(|c| c.result.is_ok()),
            "liveness never waits for the CAs"
        );
    }

    #[test]
    fn output_follows_go_format() {
        let ok = vec![
            Check::new("ping", Ok(())),
            Check::new("metric-storage-ready", Ok(())),
        ];
        let r = render("readyz", &ok, "");
        assert_eq!(r.status(), 200);
        let bad = vec![
            Check::new("ping", Ok(())),
            Check {
                name: "metric-storage-ready",
                result: Err("x".into()),
                detail: Some("0 of 1 nodes served".into()),
            },
        ];
        let r = render("readyz", &bad, "");
        assert_eq!(r.status(), 500);
        let body = actix_web::body::to_bytes(r.into_body());
        let body = futures::executor::block_on(body).unwrap();
        assert!(
            String::from_utf8_lossy(&body)
                .contains("[-]metric-storage-ready failed: reason withheld")
        );
        let r = render("readyz", &bad, "verbose");
        let body = futures::executor::block_on(actix_web::body::to_bytes(r.into_body())).unwrap();
        assert!(
            String::from_utf8_lossy(&body)
                .contains("[-]metric-storage-ready failed: x: 0 of 1 nodes served\n"),
            "verbose says how many nodes are missing"
        );
        let r = render("readyz", &bad, "exclude=metric-storage-ready");
        assert_eq!(r.status(), 200);
    }
}
