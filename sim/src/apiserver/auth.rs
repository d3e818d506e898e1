//! Delegated authentication and authorization as kube-apiserver offers it to extension servers:
//! TokenReviews and SubjectAccessReviews answered from an [`AuthPolicy`], and the
//! `kube-system/extension-apiserver-authentication` ConfigMap that publishes the CAs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::ApiServer;
use super::responses::{json_response, status};
use crate::serve::{Body, stopped};

/// A user known to the fake apiserver's TokenReview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimIdentity {
    /// User name.
    pub name: String,
    /// Groups (`system:authenticated` is added by the reviewing server).
    pub groups: Vec<String>,
}

/// Non-resource paths every user, anonymous included, may get (RBAC's
/// `system:public-info-viewer`).
const PUBLIC_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", "/version/"];

/// Non-resource paths every authenticated user may get (RBAC's `system:discovery`).
const DISCOVERY_PATHS: &[&str] = &[
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/openapi",
    "/openapi/*",
];

fn path_matches(patterns: &[&str], path: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p,
    })
}

/// The fake apiserver's authentication and authorization policy, and counters of the reviews it
/// answered (so tests can check that our server's caches hold for their TTL).
#[derive(Debug, Default)]
pub struct AuthPolicy {
    tokens: Mutex<HashMap<String, SimIdentity>>,
    /// Users allowed everything.
    admins: Mutex<Vec<String>>,
    /// `(user, verb, resource)` grants in any namespace; `*` matches anything.
    grants: Mutex<Vec<(String, String, String)>>,
    /// Users explicitly denied, with the reason the SAR returns.
    denied: Mutex<HashMap<String, String>>,
    hang: AtomicBool,
    /// `data` of the extension-apiserver-authentication ConfigMap.
    configmap: Mutex<BTreeMap<String, String>>,
    configmap_version: AtomicU64,
    /// While set, GETs of the ConfigMap wait (a slow or overloaded apiserver).
    configmap_held: AtomicBool,
    token_reviews: AtomicU64,
    access_reviews: AtomicU64,
}

impl AuthPolicy {
    /// Makes `token` authenticate as `identity`.
    pub fn add_token(&self, token: &str, identity: SimIdentity) {
        lock(&self.tokens).insert(token.to_string(), identity);
    }

    /// Allows `user` everything.
    pub fn allow_all(&self, user: &str) {
        lock(&self.admins).push(user.to_string());
    }

    /// Allows `user` to `verb` (or `*`) the `resource` (or `*`) in any namespace.
    pub fn allow(&self, user: &str, verb: &str, resource: &str) {
        lock(&self.grants).push((user.into(), verb.into(), resource.into()));
    }

    /// Denies `user` everything, explicitly, with `reason`.
    pub fn deny(&self, user: &str, reason: &str) {
        lock(&self.denied).insert(user.to_string(), reason.to_string());
    }

    /// When true, reviews are received but never answered (a kube-apiserver that hangs).
    pub fn set_hang(&self, hang: bool) {
        self.hang.store(hang, Ordering::Relaxed);
    }

    /// Sets one key of the extension-apiserver-authentication ConfigMap (as kube-apiserver does
    /// when its front-proxy CA rotates).
    pub fn set_configmap(&self, key: &str, value: &str) {
        lock(&self.configmap).insert(key.to_string(), value.to_string());
        self.configmap_version.fetch_add(1, Ordering::Relaxed);
    }

    /// While `held`, GETs of the extension-apiserver-authentication ConfigMap get no answer;
    /// releasing it answers the waiting ones with the current data.
    pub fn hold_configmap(&self, held: bool) {
        self.configmap_held.store(held, Ordering::Relaxed);
    }

    fn configmap(&self) -> Value {
        json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {
                "name": "extension-apiserver-authentication",
                "namespace": "kube-system",
                "resourceVersion": (1 + self.configmap_version.load(Ordering::Relaxed)).to_string(),
            },
            "data": *lock(&self.configmap),
        })
    }

    /// TokenReviews answered so far.
    pub fn token_reviews(&self) -> u64 {
        self.token_reviews.load(Ordering::Relaxed)
    }

    /// SubjectAccessReviews answered so far.
    pub fn access_reviews(&self) -> u64 {
        self.access_reviews.load(Ordering::Relaxed)
    }

    fn review_token(&self, token: &str) -> Value {
        let status = match lock(&self.tokens).get(token) {
            Some(id) => {
                json!({"authenticated": true, "user": {"username": id.name, "groups": id.groups}})
            }
            None => json!({"user": {}}),
        };
        self.token_reviews.fetch_add(1, Ordering::Relaxed);
        json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "status": status})
    }

    fn review_access(&self, spec: &Value) -> Value {
        let user = spec["user"].as_str().unwrap_or("");
        let authenticated = spec["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "system:authenticated"));
        let path_allowed = spec["nonResourceAttributes"]["path"]
            .as_str()
            .is_some_and(|p| {
                path_matches(PUBLIC_PATHS, p) || (authenticated && path_matches(DISCOVERY_PATHS, p))
            });
        let ra = &spec["resourceAttributes"];
        let (verb, resource) = (
            ra["verb"].as_str().unwrap_or(""),
            ra["resource"].as_str().unwrap_or(""),
        );
        let granted = lock(&self.grants).iter().any(|(u, v, r)| {
            u == user
                && (v == "*" || v == verb)
                && (r == "*" || r == resource)
                && !resource.is_empty()
        });
        let status = if let Some(reason) = lock(&self.denied).get(user) {
            json!({"allowed": false, "denied": true, "reason": reason})
        } else if lock(&self.admins).iter().any(|a| a == user) || granted || path_allowed {
            json!({"allowed": true, "reason": "allowed by the simulator's policy"})
        } else {
            json!({"allowed": false})
        };
        self.access_reviews.fetch_add(1, Ordering::Relaxed);
        json!({"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": spec, "status": status})
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where TokenReviews are posted.
pub const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
/// Where SubjectAccessReviews are posted.
pub const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
/// The authentication ConfigMap's path.
pub const AUTH_CONFIGMAP: &str =
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication";

/// `data` of the extension-apiserver-authentication ConfigMap kube-apiserver would publish.
pub fn auth_configmap_data(
    client_ca_pem: &str,
    requestheader_ca_pem: &str,
) -> BTreeMap<String, String> {
    [
        ("client-ca-file", client_ca_pem.to_string()),
        (
            "requestheader-client-ca-file",
            requestheader_ca_pem.to_string(),
        ),
        (
            "requestheader-allowed-names",
            r#"["front-proxy-client"]"#.to_string(),
        ),
        (
            "requestheader-username-headers",
            r#"["X-Remote-User"]"#.to_string(),
        ),
        (
            "requestheader-group-headers",
            r#"["X-Remote-Group"]"#.to_string(),
        ),
        (
            "requestheader-extra-headers-prefix",
            r#"["X-Remote-Extra-"]"#.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl ApiServer {
    /// Answers a TokenReview or SubjectAccessReview from the policy (or never, in hang mode).
    pub(super) async fn review(&self, req: Request<Incoming>, token: bool) -> Response<Body> {
        let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let msg = format!("reading request body: {e}");
                return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None);
            }
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "malformed review",
                None,
            );
        };
        if self.auth.hang.load(Ordering::Relaxed) {
            let mut shutdown = self.shutdown.clone();
            stopped(&mut shutdown).await;
            return status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "shutting down",
                None,
            );
        }
        let answer = if token {
            self.auth
                .review_token(doc["spec"]["token"].as_str().unwrap_or(""))
        } else {
            self.auth.review_access(&doc["spec"])
        };
        json_response(StatusCode::CREATED, &answer)
    }

    /// Serves the authentication ConfigMap, waiting while the policy holds it (or until
    /// shutdown).
    pub(super) async fn auth_configmap(&self) -> Response<Body> {
        let mut shutdown = self.shutdown.clone();
        while self.auth.configmap_held.load(Ordering::Relaxed) {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = stopped(&mut shutdown) => break,
            }
        }
        json_response(StatusCode::OK, &self.auth.configmap())
    }
}
