//! Discovery documents and `/version`, byte-for-byte in the shape a Go metrics server writes.

use actix_web::{HttpResponse, web};

use super::types::{API_VERSION, GROUP, VERSION};

/// Verbs advertised per resource. Never `delete`: the namespace controller would call it.
pub const VERBS: &[&str] = &["get", "list", "watch"];

fn json(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-cache, private"))
        .body(body.to_string())
}

fn group_version() -> serde_json::Value {
    serde_json::json!({"groupVersion": API_VERSION, "version": VERSION})
}

/// `GET /apis`: the legacy APIGroupList.
pub async fn apis() -> HttpResponse {
    json(serde_json::json!({
        "kind": "APIGroupList",
        "groups": [{"name": GROUP, "versions": [group_version()], "preferredVersion": group_version()}]
    }))
}

/// `GET /apis/metrics.k8s.io`.
pub async fn group() -> HttpResponse {
    json(serde_json::json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
        "versions": [group_version()], "preferredVersion": group_version()
    }))
}

/// `GET /apis/metrics.k8s.io/v1beta1`: `singularName` stays empty so `kubectl get podmetrics` resolves.
pub async fn resources() -> HttpResponse {
    json(serde_json::json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": VERBS},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": VERBS}
        ]
    }))
}

/// `GET /version`.
pub async fn version() -> HttpResponse {
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.');
    json(serde_json::json!({
        "major": parts.next().unwrap_or("0"), "minor": parts.next().unwrap_or("0"),
        "gitVersion": format!("v{v}"), "gitCommit": "", "gitTreeState": "", "buildDate": "",
        "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)
    }))
}

/// Registers the discovery routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(apis))
        .route("/apis/", web::get().to(apis))
        .route("/apis/metrics.k8s.io", web::get().to(group))
        .route("/apis/metrics.k8s.io/", web::get().to(group))
        .route("/apis/metrics.k8s.io/v1beta1", web::get().to(resources))
        .route("/apis/metrics.k8s.io/v1beta1/", web::get().to(resources))
        .route("/version", web::get().to(version));
}
