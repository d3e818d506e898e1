//! Wire types of metrics.k8s.io (`v1beta1` and `v1`, which have the same types), serialized in Go's
//! field order.
//!
//! k8s-openapi has no metrics types, and k8s-metrics writes neither `kind` on single objects nor Go's
//! window format, so the few types are written here against the exact shapes metrics-server serves.

use serde::Serialize;
use serde::ser::SerializeMap;

/// API group served.
pub const GROUP: &str = "metrics.k8s.io";
/// The version every server of the group has served since 2017.
pub const VERSION: &str = "v1beta1";
/// `apiVersion` of v1beta1 objects.
pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// One served version of the group: every path, encoding and watch is parameterised by it, so a
/// new version is a new constant, not a copy of the handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupVersion {
    /// `v1beta1`.
    pub version: &'static str,
    /// `metrics.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// First of this version's slots in an event's frame cache (see `frames::Encoding::slot`).
    pub slot: usize,
}

/// Frame-cache slots each version owns: one per cached encoding of a watch event.
pub const SLOTS_PER_VERSION: usize = 4;

/// The watch-event encodings an event's frame cache keeps, one slot each per version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Newline-delimited JSON.
    Json = 0,
    /// A one-row `meta.k8s.io/v1` Table with PartialObjectMetadata rows (what `kubectl get -w` asks).
    Table = 1,
    /// Length-prefixed protobuf.
    Protobuf = 2,
}

impl GroupVersion {
    /// The frame-cache slot of `enc` for this version.
    pub fn slot(self, enc: Encoding) -> usize {
        self.slot + enc as usize
    }
}

/// `metrics.k8s.io/v1beta1`.
pub const V1BETA1: GroupVersion = GroupVersion {
    version: VERSION,
    api_version: API_VERSION,
    slot: 0,
};

/// `metrics.k8s.io/v1` (GA in Kubernetes 1.37, KEP-5207): exactly the types of v1beta1.
pub const V1: GroupVersion = GroupVersion {
    version: "v1",
    api_version: "metrics.k8s.io/v1",
    slot: SLOTS_PER_VERSION,
};

/// Every served version, in the order discovery lists them (Go lists by priority: the preferred
/// one first is done by the discovery documents themselves).
pub const VERSIONS: [GroupVersion; 2] = [V1BETA1, V1];

/// Labels serialized as a JSON object from sorted pairs, with no map built.
#[derive(Debug, Clone, Copy)]
pub struct LabelsRef<'a>(pub &'a [(Box<str>, Box<str>)]);

impl Serialize for LabelsRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k.as_ref(), v.as_ref())?;
        }
        m.end()
    }
}

/// `metadata` of a metrics object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta<'a> {
    /// Node or pod name.
    pub name: &'a str,
    /// Pod namespace; absent for nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
    /// uid of the node or pod.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub uid: &'a str,
    /// resourceVersion of the object's last change.
    pub resource_version: String,
    /// RFC 3339, seconds; the node's or pod's own creation time, so it is stable across reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Labels copied from the node or pod (selectors match these).
    #[serde(skip_serializing_if = "labels_empty")]
    pub labels: LabelsRef<'a>,
}

fn labels_empty(l: &LabelsRef<'_>) -> bool {
    l.0.is_empty()
}

/// `usage`: CPU, memory and (where kubelets report it) swap as canonical quantities; a map in Go,
/// so the keys are written sorted, as Go's encoder writes map keys.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceList {
    /// e.g. `12345678n`, `250m`, `1`.
    pub cpu: String,
    /// e.g. `12240Ki`.
    pub memory: String,
    /// e.g. `0`, `512Mi`: the key `kubectl top --show-swap` reads; absent without swap data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<String>,
}

/// NodeMetrics; `kind`/`apiVersion` are written on single objects only, as Go does.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetrics<'a> {
    /// `NodeMetrics` on a GET, absent in list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `metrics.k8s.io/v1beta1` on a GET, absent in list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<&'static str>,
    /// Object metadata.
    pub metadata: ObjectMeta<'a>,
    /// End of the measurement window, RFC 3339.
    pub timestamp: String,
    /// Window length as a Go duration string.
    pub window: String,
    /// Usage over the window.
    pub usage: ResourceList,
}

/// One container of a PodMetrics.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerMetrics<'a> {
    /// Container name.
    pub name: &'a str,
    /// Usage over the pod's window.
    pub usage: ResourceList,
}

/// PodMetrics; `kind`/`apiVersion` are written on single objects only, as Go does.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics<'a> {
    /// `PodMetrics` on a GET, absent in list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `metrics.k8s.io/v1beta1` on a GET, absent in list items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<&'static str>,
    /// Object metadata.
    pub metadata: ObjectMeta<'a>,
    /// End of the measurement window, RFC 3339.
    pub timestamp: String,
    /// Window length as a Go duration string.
    pub window: String,
    /// Containers sorted by name.
    pub containers: Vec<ContainerMetrics<'a>>,
}

/// `metadata` of a list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The resourceVersion the list's snapshot reflects.
    pub resource_version: String,
    /// Token for the next page; absent on the last.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// Items after this page, when no selector was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<u64>,
}

/// NodeMetricsList or PodMetricsList.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// `NodeMetricsList` or `PodMetricsList`.
    pub kind: &'static str,
    /// `metrics.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// List metadata.
    pub metadata: ListMeta,
    /// Sorted items; `[]` when empty, never null.
    pub items: Vec<T>,
}

/// RFC 3339 UTC with second precision, as `metav1.Time` encodes.
pub fn rfc3339_seconds(unix_ms: i64) -> String {
    match jiff::Timestamp::from_second(unix_ms.div_euclid(1000)) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_metrics_serialize_in_go_order() {
        let labels: Vec<(Box<str>, Box<str>)> = vec![("a".into(), "1".into())];
        let n = NodeMetrics {
            kind: Some("NodeMetrics"),
            api_version: Some(API_VERSION),
            metadata: ObjectMeta {
                name: "node-1",
                namespace: None,
                uid: "",
                resource_version: "1231".into(),
                creation_timestamp: Some(rfc3339_seconds(1_735_689_610_000)),
                labels: LabelsRef(&labels),
            },
            timestamp: rfc3339_seconds(1_735_689_600_999),
            window: "15s".into(),
            usage: ResourceList {
                cpu: "250m".into(),
                memory: "1Gi".into(),
                swap: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"node-1","resourceVersion":"1231","creationTimestamp":"2025-01-01T00:00:10Z","labels":{"a":"1"}},"timestamp":"2025-01-01T00:00:00Z","window":"15s","usage":{"cpu":"250m","memory":"1Gi"}}"#
        );
    }

    #[test]
    fn list_items_have_no_type_meta_and_empty_lists_are_arrays() {
        let l: List<PodMetrics<'_>> = List {
            kind: "PodMetricsList",
            api_version: API_VERSION,
            metadata: ListMeta {
                resource_version: "7".into(),
                continue_token: None,
                remaining_item_count: None,
            },
            items: vec![],
        };
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"resourceVersion":"7"},"items":[]}"#
        );
        let p = PodMetrics {
            kind: None,
            api_version: None,
            metadata: ObjectMeta {
                name: "p",
                namespace: Some("ns"),
                uid: "",
                resource_version: "3".into(),
                creation_timestamp: None,
                labels: LabelsRef(&[]),
            },
            timestamp: rfc3339_seconds(0),
            window: "15.012s".into(),
            containers: vec![ContainerMetrics {
                name: "c",
                usage: ResourceList {
                    cpu: "7338891n".into(),
                    memory: "14520Ki".into(),
                    swap: None,
                },
            }],
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"metadata":{"name":"p","namespace":"ns","resourceVersion":"3"},"timestamp":"1970-01-01T00:00:00Z","window":"15.012s","containers":[{"name":"c","usage":{"cpu":"7338891n","memory":"14520Ki"}}]}"#
        );
    }

    #[test]
    fn swap_follows_memory_as_go_sorts_map_keys() {
        let u = ResourceList {
            cpu: "1".into(),
            memory: "1Gi".into(),
            swap: Some("512Mi".into()),
        };
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"cpu":"1","memory":"1Gi","swap":"512Mi"}"#
        );
    }
}
