//! `/healthz`, `/livez`, `/readyz`, with named checks and Go's output format.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::cluster::ClusterIndex;
use crate::scrape::{ScrapeStats, now_ms};
use crate::store::{NodeObject, Store};

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
}

type Check = (&'static str, Result<(), String>);

impl Health {
    fn informer_sync(&self) -> Result<(), String> {
        if self.index.synced() {
            Ok(())
        } else {
            Err("node and pod lists not synced yet".into())
        }
    }

    /// Ready once every node we can reach has metrics stored (so clients never see a partial
    /// cluster after a restart); from then on, as long as any node can be served, so that a node
    /// joining does not take the API away for a resolution.
    fn storage_ready(&self) -> Result<(), String> {
        let served = self.store.log().snapshot::<NodeObject>();
        if served.is_empty() {
            return Err("no metrics to serve".into());
        }
        if self.was_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let missing = self
            .scrape
            .last_ok
            .iter()
            .filter(|e| *e.value() && served.get(&Arc::from(e.key().as_ref())).is_none())
            .count();
        if missing > 0 {
            return Err(format!("{missing} reachable nodes have no metrics yet"));
        }
        self.was_ready.store(true, Ordering::Relaxed);
        Ok(())
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
        let mut checks: Vec<Check> = vec![("ping", Ok(())), ("log", Ok(()))];
        match endpoint {
            "readyz" => {
                checks.push(("metric-storage-ready", self.storage_ready()));
                checks.push(("metric-informer-sync", self.informer_sync()));
            }
            "livez" => checks.push(("metric-collection-timely", self.collection_timely())),
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
    for (name, result) in checks {
        if excluded.contains(name) {
            out.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        match result {
            Ok(()) => out.push_str(&format!("[+]{name} ok\n")),
            Err(reason) => {
                failed = true;
                tracing::debug!(check = name, reason = %reason, "{endpoint} check failed");
                out.push_str(&format!("[-]{name} failed: reason withheld\n"));
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
        .find(|(n, _)| *n == name)
    {
        Some((_, Ok(()))) => text(actix_web::http::StatusCode::OK, "ok".into()),
        Some((_, Err(e))) => text(
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
    use crate::store::{LogConfig, NodeBatch, ObjectMeta, Sample, StaticMeta, StoreConfig};

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
            };
            h.store.commit(&batch, now);
        }
    }

    #[test]
    fn ready_when_every_reachable_node_has_metrics_then_latched() {
        let h = health();
        assert!(h.storage_ready().is_err(), "nothing stored");
        h.scrape.last_ok.insert("n1".into(), true);
        h.scrape.last_ok.insert("n2".into(), true);
        h.scrape.last_ok.insert("down".into(), false);
        two_samples(&h, "n1");
        assert!(
            h.storage_ready().is_err(),
            "n2 is reachable but has no metrics yet"
        );
        two_samples(&h, "n2");
        assert!(
            h.storage_ready().is_ok(),
            "the unreachable node does not hold readiness back"
        );
        h.scrape.last_ok.insert("joining".into(), true);
        assert!(
            h.storage_ready().is_ok(),
            "a joining node does not take readiness away"
        );
        assert_eq!(h.store.expire(now_ms() + 60_001), 2, "both nodes expire");
        assert!(h.storage_ready().is_err(), "nothing left to serve");
    }

    #[test]
    fn output_follows_go_format() {
        let ok: Vec<Check> = vec![("ping", Ok(())), ("metric-storage-ready", Ok(()))];
        let r = render("readyz", &ok, "");
        assert_eq!(r.status(), 200);
        let bad: Vec<Check> = vec![("ping", Ok(())), ("metric-storage-ready", Err("x".into()))];
        let r = render("readyz", &bad, "");
        assert_eq!(r.status(), 500);
        let r = render("readyz", &bad, "exclude=metric-storage-ready");
        assert_eq!(r.status(), 200);
    }
}
