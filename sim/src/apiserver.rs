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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::objects::{self, IncludeObject, KUBE_VERSION};
use super::requests::{ApiRequest, BoundedLog};
use super::serve::{Body, BoxError, parse_query, response, spawn_https, stopped};
use super::store::{
    Event, EventType, FieldSelector, Filter, Kind, LabelSelector, Store, Stored, WatchStart,
};

/// API group/version the aggregation layer proxies to our server (the `v1beta1` APIService).
pub const METRICS_PREFIX: &str = "/apis/metrics.k8s.io/v1beta1";

/// Every APIService of the group registered with the fake aggregator: kube-apiserver proxies
/// `/apis/<group>/<version>` and everything under it for each.
pub const METRICS_PREFIXES: &[&str] = &[METRICS_PREFIX, "/apis/metrics.k8s.io/v1"];

/// Whether the aggregator proxies `path` to the metrics server.
fn proxied(path: &str) -> bool {
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
fn openapi_from_backend(path: &str) -> bool {
    path == "/openapi/v2"
        || path == "/openapi/v3"
        || METRICS_PREFIXES
            .iter()
            .any(|p| path == format!("/openapi/v3{p}"))
}

/// Interval between watch BOOKMARK events.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

/// Default watch lifetime when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Shared state of the fake apiserver.
pub(crate) struct ApiServer {
    pub store: Arc<Store>,
    pub auth_header: String,
    pub user: String,
    pub port: u16,
    pub server_url: String,
    pub proxy: reqwest::Client,
    pub shutdown: watch::Receiver<bool>,
    pub auth: Arc<AuthPolicy>,
    pub requests: Arc<BoundedLog<ApiRequest>>,
}

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

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = response(status, "application/json", body);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    resp
}

/// A `metav1.Status` error response.
fn status(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response<Body> {
    json_response(code, &status_value(code.as_u16(), reason, message, details))
}

fn status_value(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v["code"] = code.into();
    v
}

fn not_found_path() -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// Go's `metav1` bool query parsing: false iff "0" or "false" (any case).
fn go_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

/// Response representation negotiated from Accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Full,
    /// `PartialObjectMetadata` (`list: false`) or `PartialObjectMetadataList` (`list: true`), as
    /// the Accept clause named it.
    Meta {
        list: bool,
    },
    Table(IncludeObject),
}

impl Format {
    /// kube-apiserver's 406 when the metadata kind asked for does not fit the answer: a list (and
    /// only a list) is `PartialObjectMetadataList`; a get and each watch event are
    /// `PartialObjectMetadata` (`handlers/response.go`). A watch asking for the list kind gets the
    /// 406 up front here (Go writes 200 and ends the stream at the first event).
    fn mismatch(self, kind: Kind, answer_is_list: bool) -> Option<Response<Body>> {
        let Format::Meta { list } = self else {
            return None;
        };
        if list == answer_is_list {
            return None;
        }
        let go_type = format!("*v1.{}", kind.name());
        let message = if list {
            format!(
                "you requested PartialObjectMetadataList, but the requested object is not a list ({go_type})"
            )
        } else {
            format!(
                "you requested PartialObjectMetadata, but the requested object is a list ({go_type}List)"
            )
        };
        Some(status(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            &message,
            None,
        ))
    }
}

fn negotiate(headers: &HeaderMap, include: Option<&str>) -> Result<Format, String> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Clauses in order; the first one we can serve wins (Table and PartialObjectMetadata are
    // only served for `g=meta.k8s.io`, anything else falls back to plain JSON).
    for clause in accept.split(',') {
        let params: Vec<&str> = clause.split(';').map(str::trim).collect();
        let has = |p: &str| params.iter().any(|x| x.eq_ignore_ascii_case(p));
        if !has("g=meta.k8s.io") {
            continue;
        }
        if has("as=Table") && (has("v=v1") || has("v=v1beta1")) {
            let inc = match include.unwrap_or("") {
                "" | "Metadata" => IncludeObject::Metadata,
                "Object" => IncludeObject::Object,
                "None" => IncludeObject::None,
                other => {
                    return Err(format!(
                        "Unable to convert to Table as requested: includeObject: Invalid value: \"{other}\": must be 'Metadata', 'Object', 'None', or empty"
                    ));
                }
            };
            return Ok(Format::Table(inc));
        }
        if (has("as=PartialObjectMetadata") || has("as=PartialObjectMetadataList")) && has("v=v1") {
            return Ok(Format::Meta {
                list: has("as=PartialObjectMetadataList"),
            });
        }
    }
    Ok(Format::Full)
}

/// Target of a `/api/v1/...` request.
enum Target {
    Collection {
        kind: Kind,
        namespace: Option<String>,
    },
    Item {
        kind: Kind,
        namespace: String,
        name: String,
    },
}

fn parse_core_path(segs: &[&str]) -> Option<(bool, Target)> {
    let (forced_watch, segs) = match segs {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, segs),
    };
    let coll = |kind, namespace: Option<&str>| Target::Collection {
        kind,
        namespace: namespace.map(str::to_string),
    };
    let item = |kind, namespace: &str, name: &str| Target::Item {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let t = match segs {
        ["nodes"] => coll(Kind::Node, None),
        ["nodes", name] => item(Kind::Node, "", name),
        ["pods"] => coll(Kind::Pod, None),
        ["namespaces"] => coll(Kind::Namespace, None),
        ["namespaces", ns] => item(Kind::Namespace, "", ns),
        ["namespaces", ns, "pods"] => coll(Kind::Pod, Some(ns)),
        ["namespaces", ns, "pods", name] => item(Kind::Pod, ns, name),
        _ => return None,
    };
    Some((forced_watch, t))
}

impl ApiServer {
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

    async fn route(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        match path.as_str() {
            "/version" | "/version/" => return json_response(StatusCode::OK, &version()),
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
            let mut shutdown = self.shutdown.clone();
            while self.auth.configmap_held.load(Ordering::Relaxed) {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    () = stopped(&mut shutdown) => break,
                }
            }
            return json_response(StatusCode::OK, &self.auth.configmap());
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
            ["api"] => json_response(
                StatusCode::OK,
                &json!({
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", self.port)}]
                }),
            ),
            ["api", "v1"] => json_response(StatusCode::OK, &core_resources()),
            ["apis"] => json_response(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [metrics_group()]}),
            ),
            ["apis", "metrics.k8s.io"] => {
                let mut g = metrics_group();
                g["kind"] = "APIGroup".into();
                g["apiVersion"] = "v1".into();
                json_response(StatusCode::OK, &g)
            }
            ["api", "v1", rest @ ..] => match parse_core_path(rest) {
                Some((forced_watch, target)) => self.resource(&req, forced_watch, target),
                None => not_found_path(),
            },
            _ => not_found_path(),
        }
    }

    fn resource(
        &self,
        req: &Request<Incoming>,
        forced_watch: bool,
        target: Target,
    ) -> Response<Body> {
        let q = parse_query(req.uri().query());
        let param = |k: &str| query_param(&q, k);
        let format = match negotiate(req.headers(), param("includeObject")) {
            Ok(f) => f,
            Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None),
        };
        let watching = forced_watch || param("watch").is_some_and(go_bool);
        let (target_kind, is_collection) = match &target {
            Target::Item { kind, .. } => (*kind, false),
            Target::Collection { kind, .. } => (*kind, true),
        };
        if let Some(refused) = format.mismatch(target_kind, is_collection && !watching) {
            return refused;
        }
        let (kind, mut filter, name) = match target {
            Target::Item {
                kind,
                namespace,
                name,
            } if !watching => {
                return self.get_item(kind, &namespace, &name, format);
            }
            Target::Item {
                kind,
                namespace,
                name,
            } => (
                kind,
                Filter {
                    namespace: (!namespace.is_empty()).then_some(namespace),
                    ..Filter::default()
                },
                Some(name),
            ),
            Target::Collection { kind, namespace } => (
                kind,
                Filter {
                    namespace,
                    ..Filter::default()
                },
                None,
            ),
        };
        match LabelSelector::parse(param("labelSelector").unwrap_or("")) {
            Ok(sel) => filter.labels = sel,
            Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None),
        }
        let mut fields = param("fieldSelector").unwrap_or("").to_string();
        if let Some(name) = name {
            if !fields.is_empty() {
                fields.push(',');
            }
            fields.push_str(&format!("metadata.name={name}"));
        }
        match FieldSelector::parse(&fields, kind) {
            Ok(sel) => filter.fields = sel,
            Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None),
        }
        if watching {
            self.watch(kind, filter, format, &q)
        } else {
            self.list(kind, &filter, format, &q)
        }
    }

    fn get_item(&self, kind: Kind, namespace: &str, name: &str, format: Format) -> Response<Body> {
        let Some(s) = self.store.get(kind, namespace, name) else {
            let resource = kind.resource();
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{resource} \"{name}\" not found"),
                Some(json!({"name": name, "kind": resource})),
            );
        };
        let v = match format {
            Format::Full => objects::full(&s),
            Format::Meta { .. } => objects::partial(&s),
            Format::Table(inc) => {
                objects::table(kind, Some(s.rv), vec![objects::row(&s, inc, now_s())])
            }
        };
        json_response(StatusCode::OK, &v)
    }

    /// Lists with `limit`/`continue` paging. Items are serialised one at a time into the
    /// output buffer, so a 100k-pod list never holds 100k JSON trees.
    fn list(
        &self,
        kind: Kind,
        filter: &Filter,
        format: Format,
        q: &[(String, String)],
    ) -> Response<Body> {
        let limit = match query_param(q, "limit").filter(|l| !l.is_empty()) {
            None => None,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(n as usize),
                Ok(_) => None,
                Err(_) => {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!("invalid limit: {l}"),
                        None,
                    );
                }
            },
        };
        let (token_rv, after) = match query_param(q, "continue").filter(|c| !c.is_empty()) {
            None => (None, None),
            Some(c) => match decode_continue(c) {
                Some((rv, ns, name)) => (Some(rv), Some((ns, name))),
                None => {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "invalid continue token: continue key is not valid",
                        None,
                    );
                }
            },
        };
        let (store_rv, page, next) = self.store.list_page(kind, filter, after, limit);
        // Continued pages report the RV of the first page, like an etcd-backed list.
        let rv = token_rv.unwrap_or(store_rv);
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if let Some((ns, name)) = next {
            meta["continue"] = encode_continue(rv, &ns, &name).into();
        }
        let mut out = Vec::with_capacity(page.len() * 2048 + 512);
        let (kind_name, api_version) = match format {
            Format::Full => (format!("{}List", kind.name()), "v1"),
            Format::Meta { .. } => ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1"),
            Format::Table(_) => ("Table".to_string(), "meta.k8s.io/v1"),
        };
        let _ = write!(
            out,
            "{{\"kind\":\"{kind_name}\",\"apiVersion\":\"{api_version}\",\"metadata\":"
        );
        let _ = serde_json::to_writer(&mut out, &meta);
        let now = now_s();
        let item = |s: &Stored| match format {
            Format::Full => objects::list_item(s),
            Format::Meta { .. } => objects::partial(s),
            Format::Table(inc) => objects::row(s, inc, now),
        };
        if let Format::Table(_) = format {
            out.extend_from_slice(b",\"columnDefinitions\":");
            let _ = serde_json::to_writer(&mut out, &objects::columns(kind));
            out.extend_from_slice(b",\"rows\":[");
        } else {
            out.extend_from_slice(b",\"items\":[");
        }
        for (i, s) in page.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, &item(s));
        }
        out.extend_from_slice(b"]}");
        let mut resp = response(StatusCode::OK, "application/json", out);
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache, private"),
        );
        resp
    }

    fn watch(
        &self,
        kind: Kind,
        filter: Filter,
        format: Format,
        q: &[(String, String)],
    ) -> Response<Body> {
        let param = |k: &str| query_param(q, k);
        let rv_param = param("resourceVersion").unwrap_or("");
        let from = match rv_param {
            "" | "0" => None,
            s => match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        &format!("invalid resource version: {s}"),
                        None,
                    );
                }
            },
        };
        let send_initial = param("sendInitialEvents").map(go_bool);
        let bookmarks = param("allowWatchBookmarks").is_some_and(go_bool);
        let timeout = match param("timeoutSeconds").map(str::parse::<u64>) {
            None => DEFAULT_WATCH_TIMEOUT,
            Some(Ok(n)) => Duration::from_secs(n),
            Some(Err(_)) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "invalid timeoutSeconds",
                    None,
                );
            }
        };

        let mut st = WatchState {
            queue: VecDeque::new(),
            rx: None,
            kind,
            filter,
            format,
            min_rv: from.unwrap_or(0),
            last_rv: 0,
            bookmarks,
            deadline: Instant::now() + timeout,
            next_bookmark: Instant::now() + BOOKMARK_EVERY,
            shutdown: self.shutdown.clone(),
            done: false,
        };
        match self.store.watch(
            kind,
            st.filter.namespace.as_deref(),
            from,
            send_initial == Some(true),
        ) {
            WatchStart::TooOld(oldest) => {
                let status = status_value(
                    410,
                    "Expired",
                    &format!("too old resource version: {} ({oldest})", from.unwrap_or(0)),
                    None,
                );
                st.queue.push_back(event_line("ERROR", &status));
                st.done = true;
            }
            WatchStart::Ok {
                replay,
                snapshot,
                rx,
                rv,
            } => {
                st.rx = Some(rx);
                st.last_rv = rv;
                if let Some(snapshot) = snapshot {
                    if send_initial != Some(false) {
                        for s in snapshot.iter().filter(|s| st.filter.matches(&s.data)) {
                            st.queue.push_back(st.encode("ADDED", s));
                        }
                    }
                    if send_initial == Some(true) && bookmarks {
                        st.queue.push_back(st.bookmark(rv, true));
                    }
                }
                for ev in &replay {
                    if let Some(line) = st.convert(ev) {
                        st.queue.push_back(line);
                    }
                }
            }
        }
        let stream = futures::stream::unfold(st, |mut st| async move {
            let line = st.next_line().await?;
            Some((Ok::<_, BoxError>(Frame::data(line)), st))
        });
        let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache, private"),
        );
        resp
    }

    /// Answers a TokenReview or SubjectAccessReview from the policy (or never, in hang mode).
    async fn review(&self, req: Request<Incoming>, token: bool) -> Response<Body> {
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

    /// Aggregation-layer proxy to our server; streams the response back unchanged.
    async fn proxy(&self, req: Request<Incoming>) -> Response<Body> {
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

/// An opaque continue token: hex of `rv NUL namespace NUL name`.
fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    format!("{rv}\0{ns}\0{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, String, String)> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\0');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, parts.next()?.to_string(), parts.next()?.to_string()))
}

/// Last value of a query parameter.
fn query_param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

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

fn now_s() -> i64 {
    super::serve::now_ms().div_euclid(1000)
}

/// One watch event line, `type` first like Go's encoder writes it.
fn event_line(etype: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    if serde_json::to_writer(&mut out, object).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

struct WatchState {
    queue: VecDeque<Bytes>,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    kind: Kind,
    filter: Filter,
    format: Format,
    /// Events at or below this RV were requested to be skipped.
    min_rv: u64,
    /// Highest RV known to be fully delivered (for bookmarks).
    last_rv: u64,
    bookmarks: bool,
    deadline: Instant,
    next_bookmark: Instant,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

impl WatchState {
    fn encode(&self, etype: &str, s: &Stored) -> Bytes {
        let obj = match self.format {
            Format::Full => objects::full(s),
            Format::Meta { .. } => objects::partial(s),
            Format::Table(inc) => {
                objects::table(self.kind, Some(s.rv), vec![objects::row(s, inc, now_s())])
            }
        };
        event_line(etype, &obj)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = match self.format {
            Format::Meta { .. } => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
            }
            _ => json!({"kind": self.kind.name(), "apiVersion": "v1", "metadata": meta}),
        };
        event_line("BOOKMARK", &obj)
    }

    /// Applies the selector-transition rules of the watch cache to one event.
    fn convert(&self, ev: &Event) -> Option<Bytes> {
        if ev.obj.data.kind() != self.kind || ev.obj.rv <= self.min_rv {
            return None;
        }
        let now = self.filter.matches(&ev.obj.data);
        match ev.etype {
            EventType::Added | EventType::Deleted => {
                now.then(|| self.encode(ev.etype.as_str(), &ev.obj))
            }
            EventType::Modified => {
                let before = ev
                    .prev
                    .as_ref()
                    .is_some_and(|p| self.filter.matches(&p.data));
                match (before, now) {
                    (true, true) => Some(self.encode("MODIFIED", &ev.obj)),
                    (false, true) => Some(self.encode("ADDED", &ev.obj)),
                    (true, false) => {
                        let prev = ev.prev.as_ref()?;
                        let gone = Stored {
                            rv: ev.obj.rv,
                            data: prev.data.clone(),
                        };
                        Some(self.encode("DELETED", &gone))
                    }
                    (false, false) => None,
                }
            }
        }
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            let rx = self.rx.as_mut()?;
            tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => self.done = true,
                _ = stopped(&mut self.shutdown) => self.done = true,
                _ = tokio::time::sleep_until(self.next_bookmark) => {
                    self.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                    if self.bookmarks {
                        return Some(self.bookmark(self.last_rv, false));
                    }
                }
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        self.last_rv = self.last_rv.max(ev.obj.rv);
                        if let Some(line) = self.convert(&ev) {
                            return Some(line);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = status_value(410, "Expired", "watch channel overflowed; relist", None);
                        self.queue.push_back(event_line("ERROR", &status));
                        self.done = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => self.done = true,
                },
            }
        }
    }
}

fn version() -> Value {
    let minor = KUBE_VERSION.split('.').nth(1).unwrap_or("32");
    json!({
        "major": "1",
        "minor": minor,
        "gitVersion": KUBE_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn core_resources() -> Value {
    let verbs = json!(["get", "list", "watch"]);
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": verbs, "shortNames": ["ns"]},
            {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node", "verbs": verbs, "shortNames": ["no"]},
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": verbs, "shortNames": ["po"], "categories": ["all"]}
        ]
    })
}

/// The group as the aggregator lists it from the two APIServices: v1beta1 keeps the higher
/// version priority (preferred), as the manifests register it.
fn metrics_group() -> Value {
    let gv = json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"});
    let v1 = json!({"groupVersion": "metrics.k8s.io/v1", "version": "v1"});
    json!({"name": "metrics.k8s.io", "versions": [gv.clone(), v1], "preferredVersion": gv})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h, None), Ok(Format::Full));
        h.insert(header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
        assert_eq!(
            negotiate(&h, None),
            Ok(Format::Table(IncludeObject::Metadata))
        );
        assert_eq!(
            negotiate(&h, Some("Object")),
            Ok(Format::Table(IncludeObject::Object))
        );
        assert!(negotiate(&h, Some("x")).is_err());
        h.insert(
            header::ACCEPT,
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h, None), Ok(Format::Meta { list: true }));
        h.insert(
            header::ACCEPT,
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h, None), Ok(Format::Meta { list: false }));
        h.insert(
            header::ACCEPT,
            "application/vnd.kubernetes.protobuf, */*".parse().unwrap(),
        );
        assert_eq!(negotiate(&h, None), Ok(Format::Full));
    }

    #[test]
    fn core_paths() {
        assert!(matches!(
            parse_core_path(&["nodes"]),
            Some((
                false,
                Target::Collection {
                    kind: Kind::Node,
                    namespace: None
                }
            ))
        ));
        assert!(matches!(
            parse_core_path(&["watch", "namespaces", "a", "pods"]),
            Some((
                true,
                Target::Collection {
                    kind: Kind::Pod,
                    namespace: Some(_)
                }
            ))
        ));
        assert!(matches!(
            parse_core_path(&["namespaces", "a", "pods", "p"]),
            Some((
                false,
                Target::Item {
                    kind: Kind::Pod,
                    ..
                }
            ))
        ));
        assert!(parse_core_path(&["services"]).is_none());
    }

    #[test]
    fn continue_tokens() {
        let t = encode_continue(42, "kube-system", "coredns-x");
        assert_eq!(
            decode_continue(&t),
            Some((42, "kube-system".into(), "coredns-x".into()))
        );
        assert_eq!(decode_continue("zz"), None);
        assert_eq!(decode_continue("abc"), None);
        assert_eq!(decode_continue("é1"), None);
    }

    #[test]
    fn go_bools() {
        assert!(go_bool("true") && go_bool("1") && go_bool("") && go_bool("True"));
        assert!(!go_bool("false") && !go_bool("0") && !go_bool("FALSE"));
    }
}
