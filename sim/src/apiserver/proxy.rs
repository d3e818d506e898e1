//! The aggregation layer: which paths kube-apiserver hands to the metrics server's APIServices
//! (their API and the OpenAPI it would merge), and the front-proxy-authenticated proxy itself.

use std::time::Duration;

use http_body_util::{BodyExt as _, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Request, Response, StatusCode, header};

use super::ApiServer;
use super::responses::status;
use crate::serve::{Body, BoxError};

/// API group/version the aggregation layer proxies to our server (the `v1beta1` APIService).
pub const METRICS_PREFIX: &str = "/apis/metrics.k8s.io/v1beta1";

/// Every APIService of the group registered with the fake aggregator: kube-apiserver proxies
/// `/apis/<group>/<version>` and everything under it for each.
pub const METRICS_PREFIXES: &[&str] = &[METRICS_PREFIX, "/apis/metrics.k8s.io/v1"];

/// Whether the aggregator proxies `path` to the metrics server.
pub(super) fn proxied(path: &str) -> bool {
    METRICS_PREFIXES.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Whether `path` is OpenAPI the aggregator serves from the metrics server's documents.
///
/// kube-apiserver merges each APIService's `/openapi/v2` into its own and copies the keys of its
/// `/openapi/v3` root verbatim, then proxies `/openapi/v3/<key>` to the APIService that listed the
/// key. The fake apiserver has no OpenAPI of its own, so each merge is exactly the backend's
/// document, and serving it through the proxy is what the aggregator's merge would produce.
pub(super) fn openapi_from_backend(path: &str) -> bool {
    path == "/openapi/v2"
        || path == "/openapi/v3"
        || METRICS_PREFIXES
            .iter()
            .any(|p| path == format!("/openapi/v3{p}"))
}

/// The proxy client: trusts only the sim CA, presents the front-proxy client certificate
/// (`identity_pem`: certificate then key), never follows redirects, no overall timeout
/// (watches are long-running).
pub(crate) fn proxy_client(ca_pem: &str, identity_pem: &str) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())?;
    Ok(reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(reqwest::Identity::from_pem(identity_pem.as_bytes())?)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?)
}

impl ApiServer {
    /// Aggregation-layer proxy to our server; streams the response back unchanged.
    pub(super) async fn proxy(&self, req: Request<Incoming>) -> Response<Body> {
        let path_query = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string());
        let url = format!("{}{}", self.server_url, path_query);
        let method = req.method().clone();
        let mut headers = HeaderMap::new();
        for name in [
            header::ACCEPT,
            header::ACCEPT_ENCODING,
            header::CONTENT_TYPE,
            header::USER_AGENT,
            // kube-apiserver's proxy passes conditional requests through (OpenAPI, discovery).
            header::IF_NONE_MATCH,
        ] {
            if let Some(v) = req.headers().get(&name) {
                headers.insert(name, v.clone());
            }
        }
        if let Ok(v) = header::HeaderValue::from_str(&self.user) {
            headers.insert("x-remote-user", v);
        }
        headers.insert(
            "x-remote-group",
            header::HeaderValue::from_static("system:authenticated"),
        );
        let body = match Limited::new(req.into_body(), 16 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!("reading request body: {e}"),
                    None,
                );
            }
        };
        let mut builder = self.proxy.request(method, &url).headers(headers);
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let upstream = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%url, error = %e, "aggregation proxy: backend unavailable");
                return status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "service unavailable",
                    None,
                );
            }
        };
        let code = upstream.status();
        let mut headers = HeaderMap::new();
        for (name, value) in upstream.headers() {
            if !is_hop_header(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        // `Response::chunk` rather than `bytes_stream` (which needs reqwest's `stream` feature):
        // each upstream chunk is forwarded as soon as it arrives.
        let stream = futures::stream::unfold(Some(upstream), |state| async move {
            let mut upstream = state?;
            match upstream.chunk().await {
                Ok(Some(b)) => Some((Ok(Frame::data(b)), Some(upstream))),
                Ok(None) => None,
                Err(e) => Some((Err(Box::new(e) as BoxError), None)),
            }
        });
        let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
        *resp.status_mut() = code;
        *resp.headers_mut() = headers;
        resp
    }
}

/// Hop-by-hop headers (and the length, which the re-chunked stream no longer has) that a proxy
/// must not forward.
fn is_hop_header(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}
