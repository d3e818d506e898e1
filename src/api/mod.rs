//! The metrics.k8s.io API (`v1beta1` and `v1`): discovery, list, get and watch, selectors, paging,
//! content negotiation (JSON, YAML, Table, PartialObjectMetadata), Status errors.
//!
//! The API knows nothing of kubelets: it reads store snapshots and events, and the cluster index
//! only to tell a missing node or pod from one without metrics.

pub mod discovery;
pub mod flags;
pub mod frames;
pub mod kind;
pub mod list;
pub mod negotiate;
pub mod openapi;
pub mod proto;
pub mod quantity;
pub mod query;
pub mod resources;
pub mod selector;
pub mod status;
pub mod table;
pub mod types;
pub mod watch;
pub mod yaml;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::cluster::ClusterIndex;
use crate::store::Store;

/// What the handlers read.
pub struct ApiState {
    /// Metrics.
    pub store: Arc<Store>,
    /// Which nodes and pods exist, for the wording of a 404.
    pub index: Arc<ClusterIndex>,
    /// Watch limits and the shutdown signal.
    pub watchers: watch::Watchers,
    /// The API's flags (the preferred version).
    pub options: flags::ApiArgs,
    /// Self-metrics: the freshness of what lists serve.
    pub metrics: Option<Arc<crate::telemetry::SelfMetrics>>,
}

/// A route for GET and HEAD alike: Go serves HEAD on every GET path, and actix sends no body for it.
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Anything unmatched: a Status 404 under the API prefix, 405 for other verbs, Go's path index elsewhere.
async fn fallback(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    if req.method() != actix_web::http::Method::GET && req.method() != actix_web::http::Method::HEAD
    {
        return status::ApiError::method_not_allowed().error_response();
    }
    if req.path().starts_with("/apis") {
        return status::ApiError::no_route().error_response();
    }
    let paths = [
        "/apis",
        "/apis/metrics.k8s.io",
        "/apis/metrics.k8s.io/v1",
        "/apis/metrics.k8s.io/v1beta1",
        "/healthz",
        "/livez",
        "/metrics",
        "/openapi/v2",
        "/openapi/v3",
        "/readyz",
        "/version",
    ];
    HttpResponse::NotFound()
        .content_type("application/json")
        .body(
            serde_json::to_string_pretty(&serde_json::json!({ "paths": paths }))
                .unwrap_or_default(),
        )
}

/// Registers every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    discovery::configure(cfg);
    openapi::configure(cfg);
    for gv in types::VERSIONS {
        resources::configure_version(cfg, gv);
    }
    cfg.default_service(web::to(fallback));
}
