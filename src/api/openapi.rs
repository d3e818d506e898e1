//! OpenAPI v2 (`/openapi/v2`) and v3 (`/openapi/v3`, `/openapi/v3/apis/metrics.k8s.io/<version>`)
//! describing NodeMetrics, PodMetrics, their lists and the meta types they use, with
//! `x-kubernetes-group-version-kind` and the field descriptions of `k8s.io/metrics`' types.go, so
//! `kubectl explain podmetrics` works once kube-apiserver's aggregator has merged them.
//!
//! Served as kube-openapi's handlers serve them: a deterministic document, `Etag` = quoted upper-case
//! hex SHA-512 of the JSON, 304 on `If-None-Match`, and for v3 a `?hash=` that makes the answer
//! immutable (or redirects to the current hash when it is stale).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::discovery::etag;
use super::get_or_head;
use super::types::{GROUP, GroupVersion, VERSIONS};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const OBJECT_META_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_META_DOC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const TIMESTAMP_DOC: &str = "The following fields define time interval from which metrics were collected from the interval [Timestamp-Window, Timestamp].";
const USAGE_DOC: &str = "The memory usage is the memory working set.";

/// Which OpenAPI dialect a document is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Swagger 2.0: `#/definitions/`, Quantity is a string.
    V2,
    /// OpenAPI 3.0: `#/components/schemas/`, Quantity is string or number, refs wrapped in allOf.
    V3,
}

fn prefix(gv: GroupVersion) -> String {
    format!("io.k8s.metrics.pkg.apis.metrics.{}", gv.version)
}

fn reference(d: Dialect, name: &str) -> Value {
    match d {
        Dialect::V2 => json!({"$ref": format!("#/definitions/{name}")}),
        Dialect::V3 => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

/// A property holding another schema, with a description and Go's `default: {}` for structs.
fn object_property(d: Dialect, name: &str, description: &str) -> Value {
    match d {
        Dialect::V2 => {
            let mut r = reference(d, name);
            r["description"] = description.into();
            r["default"] = json!({});
            r
        }
        Dialect::V3 => {
            json!({"allOf": [reference(d, name)], "description": description, "default": {}})
        }
    }
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn usage_property(d: Dialect) -> Value {
    json!({"type": "object", "description": USAGE_DOC,
           "additionalProperties": reference(d, QUANTITY)})
}

fn gvk(gv: GroupVersion, kind: &str) -> Value {
    json!([{"group": GROUP, "kind": kind, "version": gv.version}])
}

/// The schemas of one version, keyed by their Go names.
fn schemas(d: Dialect, gv: GroupVersion) -> Map<String, Value> {
    let p = prefix(gv);
    let mut s = Map::new();
    let typed = |kind_doc: &str| {
        let mut m = Map::new();
        m.insert("apiVersion".into(), string(API_VERSION_DOC));
        m.insert("kind".into(), string(kind_doc));
        m
    };
    let mut node = typed(KIND_DOC);
    node.insert(
        "metadata".into(),
        object_property(d, &format!("{META}.ObjectMeta"), OBJECT_META_DOC),
    );
    node.insert(
        "timestamp".into(),
        object_property(d, &format!("{META}.Time"), TIMESTAMP_DOC),
    );
    node.insert(
        "window".into(),
        object_property(d, &format!("{META}.Duration"), ""),
    );
    node.insert("usage".into(), usage_property(d));
    s.insert(
        format!("{p}.NodeMetrics"),
        json!({"description": "NodeMetrics sets resource usage metrics of a node.", "type": "object",
               "required": ["timestamp", "window", "usage"], "properties": node,
               "x-kubernetes-group-version-kind": gvk(gv, "NodeMetrics")}),
    );
    let mut pod = typed(KIND_DOC);
    pod.insert(
        "metadata".into(),
        object_property(d, &format!("{META}.ObjectMeta"), OBJECT_META_DOC),
    );
    pod.insert(
        "timestamp".into(),
        object_property(d, &format!("{META}.Time"), TIMESTAMP_DOC),
    );
    pod.insert(
        "window".into(),
        object_property(d, &format!("{META}.Duration"), ""),
    );
    let mut item = reference(d, &format!("{p}.ContainerMetrics"));
    item["default"] = json!({});
    pod.insert(
        "containers".into(),
        json!({"type": "array", "description": "Metrics for all containers are collected within the same time window.",
               "items": item, "x-kubernetes-list-type": "atomic"}),
    );
    s.insert(
        format!("{p}.PodMetrics"),
        json!({"description": "PodMetrics sets resource usage metrics of a pod.", "type": "object",
               "required": ["timestamp", "window", "containers"], "properties": pod,
               "x-kubernetes-group-version-kind": gvk(gv, "PodMetrics")}),
    );
    s.insert(
        format!("{p}.ContainerMetrics"),
        json!({"description": "ContainerMetrics sets resource usage metrics of a container.", "type": "object",
               "required": ["name", "usage"], "properties": {
                   "name": {"type": "string", "default": "", "description": "Container name corresponding to the one from pod.spec.containers."},
                   "usage": usage_property(d)}}),
    );
    for (kind, what) in [("NodeMetrics", "node"), ("PodMetrics", "pod")] {
        let mut list = typed(KIND_DOC);
        list.insert(
            "metadata".into(),
            object_property(d, &format!("{META}.ListMeta"), LIST_META_DOC),
        );
        let mut item = reference(d, &format!("{p}.{kind}"));
        item["default"] = json!({});
        list.insert(
            "items".into(),
            json!({"type": "array", "description": format!("List of {what} metrics."), "items": item}),
        );
        s.insert(
            format!("{p}.{kind}List"),
            json!({"description": format!("{kind}List is a list of {kind}."), "type": "object",
                   "required": ["items"], "properties": list,
                   "x-kubernetes-group-version-kind": gvk(gv, &format!("{kind}List"))}),
        );
    }
    meta_schemas(d, &mut s);
    s
}

/// The apimachinery types the metrics types refer to.
fn meta_schemas(d: Dialect, s: &mut Map<String, Value>) {
    s.insert(
        format!("{META}.ObjectMeta"),
        json!({"description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
               "type": "object", "properties": {
            "name": string("Name must be unique within a namespace. Here: the name of the node or pod the metrics are of."),
            "namespace": string("Namespace defines the space within which each name must be unique. Here: the pod's namespace; empty for nodes."),
            "uid": string("UID is the unique in time and space value for this object. Here: the node's or pod's uid."),
            "resourceVersion": string("An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. May be used for optimistic concurrency, change detection, and the watch operation on a resource or set of resources."),
            "creationTimestamp": object_property(d, &format!("{META}.Time"), "CreationTimestamp is a timestamp representing the server time when this object was created. Here: the node's or pod's own creation time."),
            "labels": {"type": "object", "description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects. Here: copied from the node or pod.",
                       "additionalProperties": {"type": "string", "default": ""}}}}),
    );
    s.insert(
        format!("{META}.ListMeta"),
        json!({"description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
               "type": "object", "properties": {
            "resourceVersion": string("String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed."),
            "continue": string("continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available."),
            "remainingItemCount": {"type": "integer", "format": "int64", "description": "remainingItemCount is the number of subsequent items in the list which are not included in this list response."}}}),
    );
    s.insert(
        format!("{META}.Time"),
        json!({"description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.", "type": "string", "format": "date-time"}),
    );
    s.insert(
        format!("{META}.Duration"),
        json!({"description": "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. In particular, it marshals into strings, which can be used as map keys in json.", "type": "string"}),
    );
    let quantity_doc = "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= <signedNumber><suffix>\n\n\t(Note that <suffix> may be empty, from the \"\" case in <decimalSI>.)\n\n<suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>\n\n<binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n<decimalSI>       ::= m | \"\" | k | M | G | T | P | E\n```";
    let quantity = match d {
        Dialect::V2 => json!({"description": quantity_doc, "type": "string"}),
        Dialect::V3 => {
            json!({"description": quantity_doc, "oneOf": [{"type": "string"}, {"type": "number"}]})
        }
    };
    s.insert(QUANTITY.into(), quantity);
}

/// The GET operations of one version, each with the action and GVK kube-openapi writes:
/// `kubectl explain` finds a resource's kind through them.
fn paths(d: Dialect, gv: GroupVersion) -> Map<String, Value> {
    let p = prefix(gv);
    let base = format!("/apis/{GROUP}/{}", gv.version);
    let camel = {
        let mut c = gv.version.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    let mut out = Map::new();
    let routes = [
        ("/nodes", "list", "NodeMetricsList", "NodeMetrics"),
        ("/nodes/{name}", "get", "NodeMetrics", "NodeMetrics"),
        ("/pods", "list", "PodMetricsList", "PodMetrics"),
        (
            "/namespaces/{namespace}/pods",
            "list",
            "PodMetricsList",
            "PodMetrics",
        ),
        (
            "/namespaces/{namespace}/pods/{name}",
            "get",
            "PodMetrics",
            "PodMetrics",
        ),
    ];
    for (path, action, schema, kind) in routes {
        let verb = if action == "list" { "list" } else { "read" };
        let scope = if path.starts_with("/namespaces") {
            "Namespaced"
        } else {
            ""
        };
        let ok = match d {
            Dialect::V2 => {
                json!({"description": "OK", "schema": reference(d, &format!("{p}.{schema}"))})
            }
            Dialect::V3 => json!({"description": "OK", "content": {
                "application/json": {"schema": reference(d, &format!("{p}.{schema}"))},
                "application/yaml": {"schema": reference(d, &format!("{p}.{schema}"))}}}),
        };
        let mut op = json!({
            "description": format!("{verb} {kind}"),
            "operationId": format!("{verb}Metrics{camel}{scope}{kind}"),
            "tags": [format!("metrics_{}", gv.version)],
            "responses": {"200": ok, "401": {"description": "Unauthorized"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": GROUP, "kind": kind, "version": gv.version}
        });
        if d == Dialect::V2 {
            op["produces"] = json!(["application/json", "application/yaml"]);
            op["schemes"] = json!(["https"]);
        }
        out.insert(format!("{base}{path}"), json!({"get": op}));
    }
    out
}

fn info() -> Value {
    json!({"title": "metrics-apiserver", "version": format!("v{}", env!("CARGO_PKG_VERSION"))})
}

/// The OpenAPI v3 document of one group version.
pub fn v3_document(gv: GroupVersion) -> Value {
    json!({"openapi": "3.0.0", "info": info(), "paths": paths(Dialect::V3, gv),
           "components": {"schemas": schemas(Dialect::V3, gv)}})
}

/// The Swagger 2.0 document of every served version.
pub fn v2_document() -> Value {
    let mut defs = Map::new();
    let mut all_paths = Map::new();
    for gv in VERSIONS {
        defs.extend(schemas(Dialect::V2, gv));
        all_paths.extend(paths(Dialect::V2, gv));
    }
    json!({"swagger": "2.0", "info": info(), "paths": all_paths, "definitions": defs})
}

/// The upper-case hex hash in a v3 `serverRelativeURL`: the ETag without quotes.
fn hash(body: &[u8]) -> String {
    etag(body).trim_matches('"').to_string()
}

/// The v3 root: only our group versions, so the aggregator's merge shadows nothing of its own.
pub fn v3_root() -> Value {
    let mut paths = Map::new();
    for gv in VERSIONS {
        let key = format!("apis/{GROUP}/{}", gv.version);
        let h = hash(v3_document(gv).to_string().as_bytes());
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={h}")}),
        );
    }
    json!({"paths": paths})
}

/// A document with `Etag`, `Vary` and 304, as `http.ServeContent` answers.
fn serve(req: &HttpRequest, body: String, immutable: bool) -> HttpResponse {
    let tag = etag(body.as_bytes());
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut r = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    r.insert_header((header::ETAG, tag))
        .insert_header((header::VARY, "Accept"));
    if immutable {
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24 * 365))
            .unwrap_or(jiff::Timestamp::now());
        r.insert_header((header::CACHE_CONTROL, "public, immutable"))
            .insert_header((
                header::EXPIRES,
                expires.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ));
    }
    if matches {
        return r.finish();
    }
    r.content_type("application/json").body(body)
}

async fn v2(req: HttpRequest) -> HttpResponse {
    serve(&req, v2_document().to_string(), false)
}

async fn v3(req: HttpRequest) -> HttpResponse {
    serve(&req, v3_root().to_string(), false)
}

/// One group version's v3 document; a stale `?hash=` redirects to the current one.
async fn v3_group_version(req: HttpRequest, gv: GroupVersion) -> HttpResponse {
    let body = v3_document(gv).to_string();
    let current = hash(body.as_bytes());
    let asked = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "hash")
        .map(|(_, v)| v.into_owned());
    match asked {
        Some(h) if h != current => HttpResponse::MovedPermanently()
            .insert_header((
                header::LOCATION,
                format!("/openapi/v3/apis/{GROUP}/{}?hash={current}", gv.version),
            ))
            .finish(),
        Some(_) => serve(&req, body, true),
        None => serve(&req, body, false),
    }
}

/// Registers the OpenAPI routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi/v2", get_or_head().to(v2))
        .route("/openapi/v3", get_or_head().to(v3));
    for gv in VERSIONS {
        cfg.route(
            &format!("/openapi/v3/apis/{GROUP}/{}", gv.version),
            get_or_head().to(move |req: HttpRequest| v3_group_version(req, gv)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{V1, V1BETA1};

    #[test]
    fn v3_documents_name_each_kind_with_its_group_version_kind() {
        for gv in [V1BETA1, V1] {
            let doc = v3_document(gv);
            let s = &doc["components"]["schemas"];
            let p = prefix(gv);
            for kind in [
                "NodeMetrics",
                "PodMetrics",
                "NodeMetricsList",
                "PodMetricsList",
            ] {
                assert_eq!(
                    s[format!("{p}.{kind}")]["x-kubernetes-group-version-kind"],
                    json!([{"group": "metrics.k8s.io", "kind": kind, "version": gv.version}])
                );
            }
            let usage = &s[format!("{p}.NodeMetrics")]["properties"]["usage"];
            assert_eq!(usage["description"], USAGE_DOC);
            assert_eq!(
                usage["additionalProperties"]["$ref"],
                format!("#/components/schemas/{QUANTITY}")
            );
            // Every reference resolves inside the document.
            let text = doc.to_string();
            for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
                let name = &r[..r.find('"').unwrap()];
                assert!(s.get(name).is_some(), "{name}");
            }
        }
        let v2 = v2_document();
        assert_eq!(v2["definitions"][QUANTITY]["type"], "string");
        let text = v2.to_string();
        for r in text.split("\"$ref\":\"#/definitions/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(v2["definitions"].get(name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_v3_root_lists_only_our_group_versions_with_stable_hashes() {
        let root = v3_root();
        let paths = root["paths"].as_object().unwrap();
        assert_eq!(
            paths.keys().collect::<Vec<_>>(),
            ["apis/metrics.k8s.io/v1", "apis/metrics.k8s.io/v1beta1"]
        );
        assert_eq!(root, v3_root());
        let url = paths["apis/metrics.k8s.io/v1beta1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/metrics.k8s.io/v1beta1?hash="));
        assert_eq!(
            url.len(),
            "/openapi/v3/apis/metrics.k8s.io/v1beta1?hash=".len() + 128
        );
    }
}
