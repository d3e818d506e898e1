//! The metrics.k8s.io API: discovery, list and get, selectors, Status errors.
//!
//! The API knows nothing of kubelets: it reads store snapshots and the cluster index.

pub mod discovery;
pub mod quantity;
pub mod query;
pub mod resources;
pub mod selector;
pub mod status;
pub mod types;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::cluster::ClusterIndex;
use crate::store::Store;

/// What the handlers read.
pub struct ApiState {
    /// Metrics.
    pub store: Arc<Store>,
    /// Labels, creation times and pod phases.
    pub index: Arc<ClusterIndex>,
}

const PREFIX: &str = "/apis/metrics.k8s.io/v1beta1";

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
        PREFIX,
        "/healthz",
        "/livez",
        "/metrics",
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
    cfg.route(
        &format!("{PREFIX}/nodes"),
        web::get().to(resources::list_nodes),
    )
    .route(
        &format!("{PREFIX}/nodes/{{name}}"),
        web::get().to(resources::get_node),
    )
    .route(
        &format!("{PREFIX}/pods"),
        web::get().to(resources::list_all_pods),
    )
    .route(
        &format!("{PREFIX}/namespaces/{{ns}}/pods"),
        web::get().to(resources::list_namespace_pods),
    )
    .route(
        &format!("{PREFIX}/namespaces/{{ns}}/pods/{{name}}"),
        web::get().to(resources::get_pod),
    )
    .default_service(web::to(fallback));
}
