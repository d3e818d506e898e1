//! Discovery documents and `/version`: what kubectl and kube-rs read to find the core kinds and
//! the aggregated `metrics.k8s.io` group.

use serde_json::{Value, json};

use crate::objects::KUBE_VERSION;

/// `/version`, as the kube-apiserver release the sim stands in for reports it.
pub(super) fn version() -> Value {
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

/// `/api/v1`: the core kinds the fake serves, read-only.
pub(super) fn core_resources() -> Value {
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
pub(super) fn metrics_group() -> Value {
    let gv = json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"});
    let v1 = json!({"groupVersion": "metrics.k8s.io/v1", "version": "v1"});
    json!({"name": "metrics.k8s.io", "versions": [gv.clone(), v1], "preferredVersion": gv})
}

/// `/api`: the legacy core group, reachable at the fake's own address.
pub(super) fn api_versions(port: u16) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{port}")}]
    })
}

/// `/apis`: only the aggregated metrics group.
pub(super) fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [metrics_group()]})
}

/// `/apis/metrics.k8s.io`: the group on its own.
pub(super) fn metrics_api_group() -> Value {
    let mut g = metrics_group();
    g["kind"] = "APIGroup".into();
    g["apiVersion"] = "v1".into();
    g
}
