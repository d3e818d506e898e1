//! Discovery documents and `/version`, in the shape a Go metrics server writes them: the legacy
//! documents for older clients, and aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1) on
//! `/apis`, which kube-apiserver's aggregator asks for first, with an ETag so it can get a 304.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::negotiate::{Endpoint, negotiate, parse_accept};
use super::resources::respond;
use super::status::ApiError;
use super::types::{GROUP, GroupVersion, VERSIONS};
use super::{ApiState, get_or_head};

/// Verbs advertised per resource. Never `delete`: the namespace controller would call it.
pub const VERBS: &[&str] = &["get", "list", "watch"];

fn document(req: &HttpRequest, body: &Value) -> Result<HttpResponse, ApiError> {
    let out = negotiate(req, Endpoint::Document)?;
    let mut r = respond(body, out.media, out.pretty)?;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    Ok(r)
}

fn group_version(gv: GroupVersion) -> Value {
    json!({"groupVersion": gv.api_version, "version": gv.version})
}

/// Served versions, the preferred one first (Go lists versions by priority).
fn ordered(preferred: GroupVersion) -> Vec<GroupVersion> {
    let mut v = vec![preferred];
    v.extend(VERSIONS.iter().copied().filter(|g| *g != preferred));
    v
}

/// The APIGroup entry of `metrics.k8s.io`.
pub fn api_group(preferred: GroupVersion) -> Value {
    json!({
        "name": GROUP,
        "versions": ordered(preferred).into_iter().map(group_version).collect::<Vec<_>>(),
        "preferredVersion": group_version(preferred)
    })
}

/// The APIResourceList of one version; `singularName` stays empty so `kubectl get podmetrics`
/// resolves (client-go then guesses the lower-cased kind).
pub fn resource_list(gv: GroupVersion) -> Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv.api_version,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": VERBS},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": VERBS}
        ]
    })
}

/// The aggregated discovery document (`APIGroupDiscoveryList`) of `apidiscovery.k8s.io/<version>`.
pub fn aggregated(version: &str, preferred: GroupVersion) -> Value {
    let resource = |name: &str, kind: &str, scope: &str| {
        json!({"resource": name, "responseKind": {"group": "", "version": "", "kind": kind},
               "scope": scope, "singularResource": "", "verbs": VERBS})
    };
    let versions: Vec<Value> = ordered(preferred)
        .into_iter()
        .map(|gv| {
            json!({"version": gv.version, "resources": [
                resource("nodes", "NodeMetrics", "Cluster"),
                resource("pods", "PodMetrics", "Namespaced")
            ], "freshness": "Current"})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": [{"metadata": {"name": GROUP, "creationTimestamp": null}, "versions": versions}]
    })
}

/// Which aggregated discovery version an Accept header asks for before any plain form, as
/// apiserver's `discovery/aggregated/wrapper.go` decides; `None`: the legacy document.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for c in parse_accept(accept) {
        let json = matches!(
            (c.typ.as_str(), c.subtype.as_str()),
            ("application", "json") | ("*", "*")
        );
        if json
            && c.param("g") == Some("apidiscovery.k8s.io")
            && c.param("as") == Some("APIGroupDiscoveryList")
        {
            match c.param("v") {
                Some("v2") => return Some("v2"),
                Some("v2beta1") => return Some("v2beta1"),
                _ => continue,
            }
        }
        // A plain clause before any aggregated one: the legacy document.
        if c.param("as").is_none() {
            break;
        }
    }
    None
}

/// Go's discovery ETag: the quoted, upper-case hex SHA-512 of the JSON document.
pub fn etag(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, body);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    format!("\"{hex}\"")
}

/// `GET /apis`: aggregated discovery when asked for (with ETag and 304), else the APIGroupList.
pub async fn apis(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let preferred = state.options.preferred();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(version) = wants_aggregated(accept) else {
        return document(
            &req,
            &json!({"kind": "APIGroupList", "groups": [api_group(preferred)]}),
        );
    };
    let body = aggregated(version, preferred).to_string();
    let tag = etag(body.as_bytes());
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut r = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    r.insert_header((header::ETAG, tag))
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::CACHE_CONTROL, "public"));
    if not_modified {
        return Ok(r.finish());
    }
    Ok(r.content_type(content_type).body(body))
}

/// `GET /apis/metrics.k8s.io`.
pub async fn group(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let mut g = api_group(state.options.preferred());
    if let Some(m) = g.as_object_mut() {
        let mut doc = serde_json::Map::new();
        doc.insert("kind".into(), "APIGroup".into());
        doc.insert("apiVersion".into(), "v1".into());
        doc.append(m);
        return document(&req, &Value::Object(doc));
    }
    document(&req, &g)
}

/// `GET /version`.
pub async fn version(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.');
    document(
        &req,
        &json!({
            "major": parts.next().unwrap_or("0"), "minor": parts.next().unwrap_or("0"),
            "gitVersion": format!("v{v}"), "gitCommit": "", "gitTreeState": "", "buildDate": "",
            "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH)
        }),
    )
}

/// Registers the discovery routes, for every served version.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", get_or_head().to(apis))
        .route("/apis/", get_or_head().to(apis))
        .route("/apis/metrics.k8s.io", get_or_head().to(group))
        .route("/apis/metrics.k8s.io/", get_or_head().to(group))
        .route("/version", get_or_head().to(version));
    for gv in VERSIONS {
        let list = move |req: HttpRequest| async move { document(&req, &resource_list(gv)) };
        cfg.route(
            &format!("/apis/{GROUP}/{}", gv.version),
            get_or_head().to(list),
        )
        .route(
            &format!("/apis/{GROUP}/{}/", gv.version),
            get_or_head().to(list),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{V1, V1BETA1};

    #[test]
    fn aggregated_document_is_go_shaped_and_lists_the_preferred_version_first() {
        let doc = aggregated("v2", V1BETA1).to_string();
        assert_eq!(
            doc,
            r#"{"apiVersion":"apidiscovery.k8s.io/v2","items":[{"metadata":{"creationTimestamp":null,"name":"metrics.k8s.io"},"versions":[{"freshness":"Current","resources":[{"resource":"nodes","responseKind":{"group":"","kind":"NodeMetrics","version":""},"scope":"Cluster","singularResource":"","verbs":["get","list","watch"]},{"resource":"pods","responseKind":{"group":"","kind":"PodMetrics","version":""},"scope":"Namespaced","singularResource":"","verbs":["get","list","watch"]}],"version":"v1beta1"},{"freshness":"Current","resources":[{"resource":"nodes","responseKind":{"group":"","kind":"NodeMetrics","version":""},"scope":"Cluster","singularResource":"","verbs":["get","list","watch"]},{"resource":"pods","responseKind":{"group":"","kind":"PodMetrics","version":""},"scope":"Namespaced","singularResource":"","verbs":["get","list","watch"]}],"version":"v1"}]}],"kind":"APIGroupDiscoveryList","metadata":{}}"#
        );
        let g = api_group(V1);
        assert_eq!(g["versions"][0]["version"], "v1");
        assert_eq!(g["preferredVersion"]["groupVersion"], "metrics.k8s.io/v1");
    }

    #[test]
    fn aggregated_accept_forms_choose_their_version() {
        let both = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(both), Some("v2"));
        assert_eq!(
            wants_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some("v2beta1")
        );
        assert_eq!(wants_aggregated("application/json"), None);
        assert_eq!(wants_aggregated(""), None);
        assert_eq!(
            wants_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"
            ),
            None
        );
        assert_eq!(etag(b"x").len(), 130);
    }
}
