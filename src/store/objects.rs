//! The objects the API serves, as the store commits them: usage joined with cluster metadata.
//!
//! They hold no JSON: the API encodes them. Everything a reader needs is inside, so a snapshot or an
//! event is self-contained and never has to consult the cluster view again (which may have moved on).

use std::cmp::Ordering;
use std::sync::Arc;

use super::rate::Usage;

/// Labels as sorted (key, value) pairs, shared between the cluster view and every object version.
pub type Labels = Arc<[(Box<str>, Box<str>)]>;

/// What the cluster says about a node or pod: copied onto its metrics object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    /// Labels of the node or pod; selectors match these.
    pub labels: Labels,
    /// uid of the node or pod.
    pub uid: Arc<str>,
    /// Creation time of the node or pod, Unix seconds (0 when unknown).
    pub created_s: i64,
}

/// Key of a pod: ordered by namespace, then name, which is the order lists are served in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodKey {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
}

impl PodKey {
    /// A key from borrowed parts.
    pub fn new(namespace: &str, name: &str) -> Self {
        PodKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The smallest key of a namespace: ranges over one namespace start here.
    pub fn namespace_start(namespace: &str) -> Self {
        PodKey::new(namespace, "")
    }

    /// The smallest key after every key of `namespace` (`ns\0` sorts after `ns` and before `ns-x`).
    pub fn namespace_end(namespace: &str) -> Self {
        let mut ns = String::with_capacity(namespace.len() + 1);
        ns.push_str(namespace);
        ns.push('\0');
        PodKey::new(&ns, "")
    }
}

impl PartialOrd for PodKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PodKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.namespace.as_ref(), self.name.as_ref())
            .cmp(&(other.namespace.as_ref(), other.name.as_ref()))
    }
}

/// A served NodeMetrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeObject {
    /// Node name.
    pub name: Arc<str>,
    /// Copied from the Node.
    pub meta: ObjectMeta,
    /// Usage over the served window.
    pub usage: Usage,
}

/// A served PodMetrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodObject {
    /// Namespace and name.
    pub key: PodKey,
    /// Copied from the Pod.
    pub meta: ObjectMeta,
    /// Node whose kubelet reported it: only that node's scrapes may delete it.
    pub node: Arc<str>,
    /// End of the window of the container whose newest sample is oldest (what the HPA expects).
    pub timestamp_ms: i64,
    /// Length of that container's window.
    pub window_ms: i64,
    /// Containers sorted by name.
    pub containers: Box<[(Arc<str>, Usage)]>,
}

/// What the change log needs of an object kind.
pub trait Object: std::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// Sort and lookup key.
    type Key: Ord + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// The object's key.
    fn key(&self) -> Self::Key;
    /// The namespace, for namespace-scoped fan-out; `None` for cluster-scoped kinds.
    fn namespace(&self) -> Option<&Arc<str>>;
    /// The object's name (field selectors match it).
    fn name(&self) -> &str;
    /// The object's labels (label selectors match them).
    fn labels(&self) -> &Labels;
    /// The node whose scrapes own the object, where ownership matters.
    fn owner(&self) -> Option<&Arc<str>>;
}

impl Object for NodeObject {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        self.name.clone()
    }
    fn namespace(&self) -> Option<&Arc<str>> {
        None
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn labels(&self) -> &Labels {
        &self.meta.labels
    }
    fn owner(&self) -> Option<&Arc<str>> {
        None
    }
}

impl Object for PodObject {
    type Key = PodKey;
    fn key(&self) -> PodKey {
        self.key.clone()
    }
    fn namespace(&self) -> Option<&Arc<str>> {
        Some(&self.key.namespace)
    }
    fn name(&self) -> &str {
        &self.key.name
    }
    fn labels(&self) -> &Labels {
        &self.meta.labels
    }
    fn owner(&self) -> Option<&Arc<str>> {
        Some(&self.node)
    }
}

/// One version of an object: the value and the resourceVersion of the event that made it.
#[derive(Debug)]
pub struct Versioned<T> {
    /// resourceVersion of the event that committed this version.
    pub rv: u64,
    /// The object as served.
    pub value: Arc<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_keys_sort_by_namespace_then_name_and_namespace_bounds_are_tight() {
        let mut keys = [
            PodKey::new("ns-a", "a"),
            PodKey::new("ns", "z"),
            PodKey::new("ns", "a"),
            PodKey::new("n", "zz"),
        ];
        keys.sort();
        let flat: Vec<_> = keys
            .iter()
            .map(|k| format!("{}/{}", k.namespace, k.name))
            .collect();
        assert_eq!(flat, ["n/zz", "ns/a", "ns/z", "ns-a/a"]);
        let (lo, hi) = (PodKey::namespace_start("ns"), PodKey::namespace_end("ns"));
        let inside: Vec<_> = keys.iter().filter(|k| **k >= lo && **k < hi).collect();
        assert_eq!(inside.len(), 2);
        assert!(inside.iter().all(|k| k.namespace.as_ref() == "ns"));
    }
}
