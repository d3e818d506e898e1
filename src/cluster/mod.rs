//! Cluster discovery: kube watchers feed compact node and pod indexes.
//!
//! Nodes tell the scraper whom to scrape and where; pods give metrics objects their labels and
//! decide which pods are served (Running ones). Whole objects are never cached.

pub mod index;
pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dashmap::DashMap;

pub use index::{Labels, NodeInfo, PodInfo, PodPhase};

/// A node or pod that left the cluster; downstream stages drop what they hold for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Departure {
    /// A node was deleted (or no longer matches the node selector).
    Node(String),
    /// A pod was deleted: namespace, name.
    Pod(String, String),
}

type DepartureHook = Box<dyn Fn(Departure) + Send + Sync>;

/// The compact view of the cluster, shared by the scraper and the API.
pub struct ClusterIndex {
    nodes: DashMap<Box<str>, Arc<NodeInfo>>,
    /// Keyed by `namespace/name`.
    pods: DashMap<Box<str>, PodInfo>,
    nodes_synced: AtomicBool,
    pods_synced: AtomicBool,
    /// Bumped whenever the node set or a node's record changes, so the scheduler knows to reconcile.
    node_generation: AtomicU64,
    on_departure: DepartureHook,
}

impl std::fmt::Debug for ClusterIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterIndex")
            .field("nodes", &self.nodes.len())
            .field("pods", &self.pods.len())
            .finish()
    }
}

fn pod_key(namespace: &str, name: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + name.len() + 1);
    k.push_str(namespace);
    k.push('/');
    k.push_str(name);
    k
}

impl ClusterIndex {
    /// An empty index; `on_departure` is told of every node and pod that leaves.
    pub fn new(on_departure: impl Fn(Departure) + Send + Sync + 'static) -> Self {
        ClusterIndex {
            nodes: DashMap::new(),
            pods: DashMap::new(),
            nodes_synced: AtomicBool::new(false),
            pods_synced: AtomicBool::new(false),
            node_generation: AtomicU64::new(0),
            on_departure: Box::new(on_departure),
        }
    }

    /// Adds or replaces a node.
    pub fn upsert_node(&self, info: NodeInfo) {
        let changed = self
            .nodes
            .get(info.name.as_ref())
            .is_none_or(|old| **old != info);
        if changed {
            self.nodes.insert(info.name.clone(), Arc::new(info));
            self.node_generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Removes a node and tells downstream.
    pub fn remove_node(&self, name: &str) {
        if self.nodes.remove(name).is_some() {
            self.node_generation.fetch_add(1, Ordering::SeqCst);
            (self.on_departure)(Departure::Node(name.to_string()));
        }
    }

    /// Removes every node not in `keep` (after a relist).
    pub fn retain_nodes(&self, keep: &std::collections::HashSet<String>) {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|e| !keep.contains(e.key().as_ref()))
            .map(|e| e.key().to_string())
            .collect();
        for name in gone {
            self.remove_node(&name);
        }
    }

    /// Adds or replaces a pod; a pod that stops Running leaves the served set.
    pub fn upsert_pod(&self, info: PodInfo) {
        let key = pod_key(&info.namespace, &info.name);
        self.pods.insert(key.into(), info);
    }

    /// Removes a pod and tells downstream.
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        if self
            .pods
            .remove(pod_key(namespace, name).as_str())
            .is_some()
        {
            (self.on_departure)(Departure::Pod(namespace.to_string(), name.to_string()));
        }
    }

    /// Removes every pod whose `namespace/name` key is not in `keep` (after a relist).
    pub fn retain_pods(&self, keep: &std::collections::HashSet<String>) {
        let gone: Vec<(String, String)> = self
            .pods
            .iter()
            .filter(|e| !keep.contains(e.key().as_ref()))
            .map(|e| (e.namespace.to_string(), e.name.to_string()))
            .collect();
        for (ns, name) in gone {
            self.remove_pod(&ns, &name);
        }
    }

    /// One node's record.
    pub fn node(&self, name: &str) -> Option<Arc<NodeInfo>> {
        self.nodes.get(name).map(|n| n.clone())
    }

    /// Every node's record.
    pub fn nodes(&self) -> Vec<Arc<NodeInfo>> {
        self.nodes.iter().map(|n| n.value().clone()).collect()
    }

    /// Number of nodes known.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of pods known.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Calls `f` with one pod's record, without cloning it.
    pub fn with_pod<R>(
        &self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&PodInfo) -> R,
    ) -> Option<R> {
        self.pods
            .get(pod_key(namespace, name).as_str())
            .map(|p| f(&p))
    }

    /// Changes whenever the node set changes.
    pub fn node_generation(&self) -> u64 {
        self.node_generation.load(Ordering::SeqCst)
    }

    /// Marks the first full node list as applied.
    pub fn set_nodes_synced(&self) {
        self.nodes_synced.store(true, Ordering::SeqCst);
        self.node_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks the first full pod list as applied.
    pub fn set_pods_synced(&self) {
        self.pods_synced.store(true, Ordering::SeqCst);
    }

    /// True once both initial lists have been applied.
    pub fn synced(&self) -> bool {
        self.nodes_synced.load(Ordering::SeqCst) && self.pods_synced.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

    fn node(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            labels: Labels::default(),
            addresses: Box::new([]),
            kubelet_port: None,
            ready: true,
            created_s: 0,
            metrics_path: None,
        }
    }

    fn pod(ns: &str, name: &str) -> PodInfo {
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            uid: "u".into(),
            labels: Labels::default(),
            phase: PodPhase::Running,
            node: Some("n1".into()),
            created_s: 0,
        }
    }

    #[test]
    fn departures_are_reported_and_relists_prune() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let idx = ClusterIndex::new(move |d| sink.lock().unwrap().push(d));
        idx.upsert_node(node("n1"));
        idx.upsert_node(node("n2"));
        idx.upsert_pod(pod("a", "p1"));
        idx.upsert_pod(pod("b", "p2"));
        let g = idx.node_generation();
        idx.upsert_node(node("n1"));
        assert_eq!(
            idx.node_generation(),
            g,
            "an identical record is not a change"
        );
        idx.retain_nodes(&HashSet::from(["n2".to_string()]));
        idx.retain_pods(&HashSet::from(["b/p2".to_string()]));
        idx.remove_pod("b", "p2");
        idx.remove_pod("b", "p2");
        assert_eq!(idx.node_count(), 1);
        assert_eq!(idx.pod_count(), 0);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                Departure::Node("n1".into()),
                Departure::Pod("a".into(), "p1".into()),
                Departure::Pod("b".into(), "p2".into()),
            ]
        );
        assert!(!idx.synced());
        idx.set_nodes_synced();
        idx.set_pods_synced();
        assert!(idx.synced());
    }
}
