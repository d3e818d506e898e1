//! Cluster discovery: kube watchers feed compact node and pod indexes.
//!
//! Nodes tell the scraper whom to scrape and where; pods give metrics objects their labels and
//! decide which pods are served (Running ones). Whole objects are never cached.

pub mod index;
pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dashmap::DashMap;

use crate::store::{MetaSource, ObjectMeta, PodMeta};

pub use index::{Labels, NodeInfo, PodInfo, PodPhase};

/// A change of the cluster view that can change what is served: downstream recomputes that object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterChange {
    /// A node's labels or uid changed, or it was deleted (or no longer matches the node selector).
    Node(String),
    /// A pod's labels, phase or binding changed, or it was deleted: namespace, name, bound node.
    Pod(String, String, Option<String>),
}

type ChangeHook = Box<dyn Fn(ClusterChange) + Send + Sync>;

/// The compact view of the cluster, shared by the scraper and the API.
pub struct ClusterIndex {
    nodes: DashMap<Box<str>, Arc<NodeInfo>>,
    /// Keyed by `namespace/name`.
    pods: DashMap<Box<str>, PodInfo>,
    nodes_synced: AtomicBool,
    pods_synced: AtomicBool,
    /// Bumped whenever the node set or a node's record changes, so the scheduler knows to reconcile.
    node_generation: AtomicU64,
    on_change: std::sync::OnceLock<ChangeHook>,
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
    /// An empty index with no listener.
    pub fn new() -> Self {
        ClusterIndex {
            nodes: DashMap::new(),
            pods: DashMap::new(),
            nodes_synced: AtomicBool::new(false),
            pods_synced: AtomicBool::new(false),
            node_generation: AtomicU64::new(0),
            on_change: std::sync::OnceLock::new(),
        }
    }

    /// Sets the one listener told of every change that can change what is served. It is called
    /// after the index is updated and with no lock of the index held, so it may read the index.
    pub fn set_listener(&self, f: impl Fn(ClusterChange) + Send + Sync + 'static) {
        let _ = self.on_change.set(Box::new(f));
    }

    fn notify(&self, change: ClusterChange) {
        if let Some(f) = self.on_change.get() {
            f(change);
        }
    }

    /// Adds or replaces a node.
    pub fn upsert_node(&self, info: NodeInfo) {
        let old = self.nodes.get(info.name.as_ref()).map(|o| o.clone());
        if old.as_deref() == Some(&info) {
            return;
        }
        let meta_changed = old.as_ref().is_some_and(|o| {
            o.labels != info.labels || o.uid != info.uid || o.created_s != info.created_s
        });
        let name = info.name.to_string();
        self.nodes.insert(info.name.clone(), Arc::new(info));
        self.node_generation.fetch_add(1, Ordering::SeqCst);
        if meta_changed {
            self.notify(ClusterChange::Node(name));
        }
    }

    /// Removes a node and tells downstream.
    pub fn remove_node(&self, name: &str) {
        if self.nodes.remove(name).is_some() {
            self.node_generation.fetch_add(1, Ordering::SeqCst);
            self.notify(ClusterChange::Node(name.to_string()));
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
        let change = ClusterChange::Pod(
            info.namespace.to_string(),
            info.name.to_string(),
            info.node.as_deref().map(str::to_string),
        );
        if self.pods.get(key.as_str()).is_some_and(|o| *o == info) {
            return;
        }
        self.pods.insert(key.into(), info);
        self.notify(change);
    }

    /// Removes a pod and tells downstream.
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        if let Some((_, old)) = self.pods.remove(pod_key(namespace, name).as_str()) {
            self.notify(ClusterChange::Pod(
                namespace.to_string(),
                name.to_string(),
                old.node.as_deref().map(str::to_string),
            ));
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

impl Default for ClusterIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl MetaSource for ClusterIndex {
    fn node_meta(&self, name: &str) -> Option<ObjectMeta> {
        self.nodes.get(name).map(|n| ObjectMeta {
            labels: n.labels.clone(),
            uid: n.uid.clone(),
            created_s: n.created_s,
        })
    }

    fn pod_meta(&self, namespace: &str, name: &str) -> Option<PodMeta> {
        self.with_pod(namespace, name, |p| PodMeta {
            meta: ObjectMeta {
                labels: p.labels.clone(),
                uid: p.uid.clone(),
                created_s: p.created_s,
            },
            running: p.phase == PodPhase::Running,
            node: p.node.as_deref().map(Arc::from),
        })
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
            uid: "n".into(),
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
    fn changes_are_reported_and_relists_prune() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let idx = ClusterIndex::new();
        idx.set_listener(move |d| sink.lock().unwrap().push(d));
        idx.upsert_node(node("n1"));
        idx.upsert_node(node("n2"));
        idx.upsert_pod(pod("a", "p1"));
        idx.upsert_pod(pod("b", "p2"));
        idx.upsert_pod(pod("b", "p2"));
        let mut relabelled = node("n2");
        relabelled.labels = vec![("k".into(), "v".into())].into();
        idx.upsert_node(relabelled);
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
                ClusterChange::Pod("a".into(), "p1".into(), Some("n1".into())),
                ClusterChange::Pod("b".into(), "p2".into(), Some("n1".into())),
                ClusterChange::Node("n2".into()),
                ClusterChange::Node("n1".into()),
                ClusterChange::Pod("a".into(), "p1".into(), Some("n1".into())),
                ClusterChange::Pod("b".into(), "p2".into(), Some("n1".into())),
            ],
            "new pods, a relabelled node and every departure; identical records are no change"
        );
        assert_eq!(
            idx.pod_meta("b", "p2"),
            None,
            "a removed pod has no metadata"
        );
        assert!(idx.node_meta("n2").is_some_and(|m| m.labels.len() == 1));
        assert_eq!(seen.lock().unwrap().len(), 6);
        assert!(!idx.synced());
        idx.set_nodes_synced();
        idx.set_pods_synced();
        assert!(idx.synced());
    }
}
