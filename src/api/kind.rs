//! What list, get and watch need of NodeMetrics and PodMetrics, written once for both kinds.

use std::ops::Bound;
use std::sync::Arc;

use serde::Serialize;

use super::proto;
use super::quantity::{format_cpu_nanocores, format_go_duration_ms, format_memory_bytes};
use super::selector::FieldSelector;
use super::types::{
    ContainerMetrics, GroupVersion, LabelsRef, NodeMetrics, ObjectMeta, PodMetrics, ResourceList,
    rfc3339_seconds,
};
use crate::store::changelog::Stored;
use crate::store::{NodeObject, PodKey, PodObject, Usage};

fn usage(u: &Usage) -> ResourceList {
    ResourceList {
        cpu: format_cpu_nanocores(u.cpu_nanocores),
        memory: format_memory_bytes(u.memory_bytes),
        swap: u.swap_bytes.map(format_memory_bytes),
    }
}

/// Usage as Table cells, sorted by resource name; metrics-server's table has only cpu and memory.
fn usage_cells(u: &Usage) -> Vec<(&'static str, String)> {
    vec![
        ("cpu", format_cpu_nanocores(u.cpu_nanocores)),
        ("memory", format_memory_bytes(u.memory_bytes)),
    ]
}

fn created(s: i64) -> Option<String> {
    (s > 0).then(|| rfc3339_seconds(s * 1000))
}

/// A served kind, as the API encodes and filters it.
pub trait Kind: Stored {
    /// `NodeMetrics`.
    const KIND: &'static str;
    /// `NodeMetricsList`.
    const LIST_KIND: &'static str;
    /// `nodes`: the resource in paths and errors.
    const RESOURCE: &'static str;
    /// Whether objects live in namespaces.
    const NAMESPACED: bool;
    /// The wire form, borrowing the object.
    type Wire<'a>: Serialize
    where
        Self: 'a;

    /// The wire form at resourceVersion `rv`; `typed` writes `kind` and `apiVersion` (single objects
    /// and watch events do, list items do not, as Go).
    fn wire(&self, rv: u64, gv: GroupVersion, typed: bool) -> Self::Wire<'_>;

    /// The object's metadata at resourceVersion `rv` (PartialObjectMetadata and Table rows).
    fn metadata(&self, rv: u64) -> ObjectMeta<'_>;

    /// The Table cells after the name: usage by resource name, sorted (a pod's summed over its
    /// containers, as metrics-server's convertor sums them), and the window as a Go duration.
    fn table_usage(&self) -> (Vec<(&'static str, String)>, String);

    /// Creation time of the node or pod, Unix seconds (0 when unknown).
    fn created_s(&self) -> i64;

    /// The object's message of `k8s.io/metrics`' generated.proto at resourceVersion `rv`.
    fn proto(&self, rv: u64) -> Vec<u8>;

    /// End of the object's measurement window, Unix ms: how fresh it is.
    fn timestamp_ms(&self) -> i64;

    /// Whether the field selector selects this object (nodes expose only `metadata.name`).
    fn fields_match(&self, f: &FieldSelector) -> bool;

    /// Key bounds of a namespace, or of everything; `None` when nothing can match.
    #[allow(clippy::type_complexity)]
    fn bounds(namespace: Option<&str>) -> Option<(Bound<Self::Key>, Bound<Self::Key>)>;

    /// The key as a continue token stores it.
    fn key_to_string(key: &Self::Key) -> String;

    /// The key back from a continue token.
    fn key_from_str(s: &str) -> Option<Self::Key>;

    /// The fields after `metadata` of an empty object, as Go encodes a zero value (bookmarks).
    const ZERO_TAIL: &'static str;
}

impl Kind for NodeObject {
    const KIND: &'static str = "NodeMetrics";
    const LIST_KIND: &'static str = "NodeMetricsList";
    const RESOURCE: &'static str = "nodes";
    const NAMESPACED: bool = false;
    const ZERO_TAIL: &'static str = r#""timestamp":null,"window":"0s","usage":null"#;
    type Wire<'a> = NodeMetrics<'a>;

    fn metadata(&self, rv: u64) -> ObjectMeta<'_> {
        ObjectMeta {
            name: &self.name,
            namespace: None,
            uid: &self.meta.uid,
            resource_version: rv.to_string(),
            creation_timestamp: created(self.meta.created_s),
            labels: LabelsRef(&self.meta.labels),
        }
    }

    fn table_usage(&self) -> (Vec<(&'static str, String)>, String) {
        (
            usage_cells(&self.usage),
            format_go_duration_ms(self.usage.window_ms.max(0) as u64),
        )
    }

    fn created_s(&self) -> i64 {
        self.meta.created_s
    }

    fn proto(&self, rv: u64) -> Vec<u8> {
        proto::metrics::node(self, rv)
    }

    fn wire(&self, rv: u64, gv: GroupVersion, typed: bool) -> NodeMetrics<'_> {
        NodeMetrics {
            kind: typed.then_some(Self::KIND),
            api_version: typed.then_some(gv.api_version),
            metadata: self.metadata(rv),
            timestamp: rfc3339_seconds(self.usage.timestamp_ms),
            window: format_go_duration_ms(self.usage.window_ms.max(0) as u64),
            usage: usage(&self.usage),
        }
    }

    fn timestamp_ms(&self) -> i64 {
        self.usage.timestamp_ms
    }

    fn fields_match(&self, f: &FieldSelector) -> bool {
        f.matches(&self.name, None)
    }

    fn bounds(namespace: Option<&str>) -> Option<(Bound<Arc<str>>, Bound<Arc<str>>)> {
        // Nodes have no namespace: a namespaced node list is empty.
        namespace
            .is_none()
            .then_some((Bound::Unbounded, Bound::Unbounded))
    }

    fn key_to_string(key: &Arc<str>) -> String {
        key.to_string()
    }

    fn key_from_str(s: &str) -> Option<Arc<str>> {
        Some(Arc::from(s))
    }
}

impl Kind for PodObject {
    const KIND: &'static str = "PodMetrics";
    const LIST_KIND: &'static str = "PodMetricsList";
    const RESOURCE: &'static str = "pods";
    const NAMESPACED: bool = true;
    const ZERO_TAIL: &'static str = r#""timestamp":null,"window":"0s","containers":null"#;
    type Wire<'a> = PodMetrics<'a>;

    fn metadata(&self, rv: u64) -> ObjectMeta<'_> {
        ObjectMeta {
            name: &self.key.name,
            namespace: Some(&self.key.namespace),
            uid: &self.meta.uid,
            resource_version: rv.to_string(),
            creation_timestamp: created(self.meta.created_s),
            labels: LabelsRef(&self.meta.labels),
        }
    }

    fn table_usage(&self) -> (Vec<(&'static str, String)>, String) {
        let mut sum = Usage {
            timestamp_ms: self.timestamp_ms,
            window_ms: self.window_ms,
            cpu_nanocores: 0,
            memory_bytes: 0,
            swap_bytes: None,
        };
        for (_, u) in self.containers.iter() {
            sum.cpu_nanocores += u.cpu_nanocores;
            sum.memory_bytes += u.memory_bytes;
        }
        (
            usage_cells(&sum),
            format_go_duration_ms(self.window_ms.max(0) as u64),
        )
    }

    fn created_s(&self) -> i64 {
        self.meta.created_s
    }

    fn proto(&self, rv: u64) -> Vec<u8> {
        proto::metrics::pod(self, rv)
    }

    fn wire(&self, rv: u64, gv: GroupVersion, typed: bool) -> PodMetrics<'_> {
        PodMetrics {
            kind: typed.then_some(Self::KIND),
            api_version: typed.then_some(gv.api_version),
            metadata: self.metadata(rv),
            timestamp: rfc3339_seconds(self.timestamp_ms),
            window: format_go_duration_ms(self.window_ms.max(0) as u64),
            containers: self
                .containers
                .iter()
                .map(|(name, u)| ContainerMetrics {
                    name,
                    usage: usage(u),
                })
                .collect(),
        }
    }

    fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    fn fields_match(&self, f: &FieldSelector) -> bool {
        f.matches(&self.key.name, Some(&self.key.namespace))
    }

    fn bounds(namespace: Option<&str>) -> Option<(Bound<PodKey>, Bound<PodKey>)> {
        Some(match namespace {
            Some(ns) => (
                Bound::Included(PodKey::namespace_start(ns)),
                Bound::Excluded(PodKey::namespace_end(ns)),
            ),
            None => (Bound::Unbounded, Bound::Unbounded),
        })
    }

    fn key_to_string(key: &PodKey) -> String {
        format!("{}/{}", key.namespace, key.name)
    }

    fn key_from_str(s: &str) -> Option<PodKey> {
        let (ns, name) = s.split_once('/')?;
        Some(PodKey::new(ns, name))
    }
}
