//! Compact indexes of nodes and pods: only the fields the server uses.
//!
//! kube's reflector store keeps whole objects (about 3 KB per pod even metadata-only); these
//! records keep a few hundred bytes, which matters at 150,000 pods.

use k8s_openapi::api::core::v1::{Node, Pod};

use std::sync::Arc;

/// Labels as sorted (key, value) pairs: smaller than a map, already in Go's JSON order, and shared
/// with every metrics object that carries them.
pub use crate::store::Labels;

fn labels_of(map: Option<&std::collections::BTreeMap<String, String>>) -> Labels {
    map.map(|m| {
        m.iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect()
    })
    .unwrap_or_default()
}

/// What the server needs of a Node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: Box<str>,
    /// Node labels, copied onto NodeMetrics.
    pub labels: Labels,
    /// Node uid, copied onto NodeMetrics.
    pub uid: Arc<str>,
    /// `(type, address)` pairs from `status.addresses`, in the node's order.
    pub addresses: Box<[(Box<str>, Box<str>)]>,
    /// `status.daemonEndpoints.kubeletEndpoint.port`, when set.
    pub kubelet_port: Option<u16>,
    /// Whether the Ready condition is True (failures of unready nodes are logged quietly).
    pub ready: bool,
    /// `metadata.creationTimestamp`, Unix seconds.
    pub created_s: i64,
    /// The `metrics.k8s.io/resource-metrics-path` annotation, which overrides the scrape path.
    pub metrics_path: Option<Box<str>>,
}

/// Pod lifecycle phase; only Running pods are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Scheduled, not all containers started.
    Pending,
    /// Bound and at least one container running.
    Running,
    /// All containers terminated successfully.
    Succeeded,
    /// All containers terminated, at least one failed.
    Failed,
    /// Anything else.
    Unknown,
}

impl PodPhase {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Pending") => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }
}

/// What the server needs of a Pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    /// Pod namespace.
    pub namespace: Box<str>,
    /// Pod name.
    pub name: Box<str>,
    /// Pod uid.
    pub uid: Arc<str>,
    /// Pod labels, copied onto PodMetrics.
    pub labels: Labels,
    /// Lifecycle phase.
    pub phase: PodPhase,
    /// `spec.nodeName`, once scheduled.
    pub node: Option<Box<str>>,
    /// `metadata.creationTimestamp`, Unix seconds.
    pub created_s: i64,
}

impl NodeInfo {
    /// Extracts the compact record; `None` for an object without a name.
    pub fn from_node(node: &Node) -> Option<Self> {
        let name = node.metadata.name.as_deref()?;
        let status = node.status.as_ref();
        let addresses = status
            .and_then(|s| s.addresses.as_ref())
            .map(|a| {
                a.iter()
                    .map(|x| (x.type_.as_str().into(), x.address.as_str().into()))
                    .collect()
            })
            .unwrap_or_default();
        let kubelet_port = status
            .and_then(|s| s.daemon_endpoints.as_ref())
            .and_then(|d| d.kubelet_endpoint.as_ref())
            .and_then(|e| u16::try_from(e.port).ok())
            .filter(|p| *p != 0);
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        Some(NodeInfo {
            name: name.into(),
            labels: labels_of(node.metadata.labels.as_ref()),
            uid: node.metadata.uid.as_deref().unwrap_or_default().into(),
            addresses,
            kubelet_port,
            ready,
            created_s: node
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0),
            metrics_path: node
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("metrics.k8s.io/resource-metrics-path"))
                .map(|p| p.as_str().into()),
        })
    }
}

impl PodInfo {
    /// The record of a pod seen through the metadata-only watch with the `status.phase=Running`
    /// field selector: Running by construction; the node is not in the metadata (the kubelet
    /// that reports the pod says where it runs). `None` without a name or namespace.
    pub fn from_running_meta(
        m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Option<Self> {
        Some(PodInfo {
            namespace: m.namespace.as_deref()?.into(),
            name: m.name.as_deref()?.into(),
            uid: m.uid.as_deref().unwrap_or_default().into(),
            labels: labels_of(m.labels.as_ref()),
            phase: PodPhase::Running,
            node: None,
            created_s: m
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0),
        })
    }

    /// Extracts the compact record; `None` for an object without a name or namespace.
    pub fn from_pod(pod: &Pod) -> Option<Self> {
        let m = &pod.metadata;
        Some(PodInfo {
            namespace: m.namespace.as_deref()?.into(),
            name: m.name.as_deref()?.into(),
            uid: m.uid.as_deref().unwrap_or_default().into(),
            labels: labels_of(m.labels.as_ref()),
            phase: PodPhase::parse(pod.status.as_ref().and_then(|s| s.phase.as_deref())),
            node: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .map(Into::into),
            created_s: m
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_record_keeps_what_scraping_and_serving_need() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "creationTimestamp": "2025-01-01T00:00:10Z",
                          "labels": {"b": "2", "a": "1"},
                          "annotations": {"metrics.k8s.io/resource-metrics-path": "/custom"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                     {"type": "Hostname", "address": "n1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let info = NodeInfo::from_node(&node).unwrap();
        assert_eq!(info.name.as_ref(), "n1");
        assert_eq!(info.labels[0].0.as_ref(), "a", "labels sorted by key");
        assert_eq!(info.addresses.len(), 2);
        assert_eq!(info.kubelet_port, Some(10255));
        assert!(info.ready);
        assert_eq!(info.created_s, 1_735_689_610);
        assert_eq!(info.metrics_path.as_deref(), Some("/custom"));
    }

    #[test]
    fn pod_record_and_missing_fields() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        let info = PodInfo::from_pod(&pod).unwrap();
        assert_eq!(info.phase, PodPhase::Running);
        assert_eq!(info.node.as_deref(), Some("n1"));
        assert!(info.labels.is_empty());
        let nameless: Pod = serde_json::from_value(serde_json::json!({"metadata": {}})).unwrap();
        assert_eq!(PodInfo::from_pod(&nameless), None);
        let unready: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
        let n = NodeInfo::from_node(&unready).unwrap();
        assert!(!n.ready);
        assert_eq!(n.kubelet_port, None);
    }
}
