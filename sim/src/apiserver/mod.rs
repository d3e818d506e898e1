//! The fake kube-apiserver: discovery, list/get/watch of Nodes, Pods and Namespaces, and the
//! aggregation proxy for `metrics.k8s.io/v1beta1` to our real server.
//!
//! It implements just enough of the wire protocol for kube-rs watchers (plain and metadata-only,
//! list+watch and streaming lists) and kubectl 1.32 (`get` with server-side Tables, `top`,
//! `get --raw`).
//!
//! Security is that of a real cluster: the proxy presents a front-proxy client certificate signed
//! by its own request-header CA, the `kube-system/extension-apiserver-authentication` ConfigMap
//! publishes both CAs, and TokenReviews and SubjectAccessReviews are answered from an
//! [`AuthPolicy`] that tests can change and whose counters show how many reviews were answered.
//!
//! Layout: this module accepts, logs, authenticates and routes requests; `resources` and
//! `watch` serve the core kinds in the representation `format` negotiates; `proxy` is the
//! aggregation layer; `auth` answers reviews and serves the authentication ConfigMap;
//! `discovery` and `responses` hold the fixed documents and the Status errors.

mod auth;
mod discovery;
mod format;
mod proxy;
mod resources;
mod responses;
mod watch;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use self::auth::{
    ACCESS_REVIEWS, AUTH_CONFIGMAP, AuthPolicy, SimIdentity, TOKEN_REVIEWS, auth_configmap_data,
};
pub(crate) use self::proxy::proxy_client;
pub use self::proxy::{METRICS_PREFIX, METRICS_PREFIXES};
use self::proxy::{openapi_from_backend, proxied};
use self::resources::parse_core_path;
use self::responses::{json_response, not_found_path, status};
use super::requests::{ApiRequest, BoundedLog};
use super::serve::{Body, response, spawn_https};
use super::store::Store;

/// Shared state of the fake apiserver.
pub(crate) struct ApiServer {
    pub store: Arc<Store>,
    pub auth_header: String,
    pub user: String,
    pub port: u16,
    pub server_url: String,
    pub proxy: reqwest::Client,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub auth: Arc<AuthPolicy>,
    pub requests: Arc<BoundedLog<ApiRequest>>,
}

/// Starts serving `api` on `listener`.
pub(crate) fn spawn(
    api: Arc<ApiServer>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> JoinHandle<()> {
    let shutdown = api.shutdown.clone();
    spawn_https(
        "apiserver".into(),
        listener,
        tls,
        shutdown,
        || true,
        None,
        move |req| {
            let api = api.clone();
            async move { api.handle(req).await }
        },
    )
}

impl ApiServer {
    /// Logs the request (the sim's request log that tests inspect), then routes it.
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        self.requests.push(ApiRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            accept: req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        });
        let resp = self.route(req).await;
        tracing::debug!(%method, %uri, status = resp.status().as_u16(), "apiserver request");
        resp
    }

    /// Health and version for anyone; everything else needs the kubeconfig token.
    async fn route(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        match path.as_str() {
            "/version" | "/version/" => {
                return json_response(StatusCode::OK, &discovery::version());
            }
            "/healthz" | "/livez" | "/readyz" => {
                return response(StatusCode::OK, "text/plain; charset=utf-8", "ok");
            }
            _ => {}
        }
        let authorized = req
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == self.auth_header.as_bytes());
        if !authorized {
            return status(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized",
                None,
            );
        }
        if proxied(&path) || openapi_from_backend(&path) {
            return self.proxy(req).await;
        }
        if req.method() == Method::POST && (path == TOKEN_REVIEWS || path == ACCESS_REVIEWS) {
            return self.review(req, path == TOKEN_REVIEWS).await;
        }
        if req.method() == Method::GET && path == AUTH_CONFIGMAP {
            return self.auth_configmap().await;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Some(json!({})),
            );
        }
        let trimmed = path.trim_end_matches('/');
        let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
        match segs.as_slice() {
            ["api"] => json_response(StatusCode::OK, &discovery::api_versions(self.port)),
            ["api", "v1"] => json_response(StatusCode::OK, &discovery::core_resources()),
            ["apis"] => json_response(StatusCode::OK, &discovery::api_group_list()),
            ["apis", "metrics.k8s.io"] => {
                json_response(StatusCode::OK, &discovery::metrics_api_group())
            }
            ["api", "v1", rest @ ..] => match parse_core_path(rest) {
                Some((forced_watch, target)) => self.resource(&req, forced_watch, target),
                None => not_found_path(),
            },
            _ => not_found_path(),
        }
    }
}
