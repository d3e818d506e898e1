//! RAM storage: per-node rings of samples, the rates they give, and the change log that serves them.
//!
//! The store knows nothing of HTTP or Kubernetes JSON. A [`NodeBatch`] (one kubelet's answer) and
//! the cluster view's changes come in; [`Snapshot`]s and [`Event`]s of served objects go out, every
//! change through one [`ChangeLog`] commit with the next resourceVersion.
//!
//! Each node's series live under that node's own mutex: a scrape, a metadata change and an expiry of
//! the same node serialize there, and only there, so commits of different nodes meet only in the
//! short critical section of the change log.

pub mod changelog;
pub mod node;
pub mod objects;
pub mod rate;
pub mod ring;

use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;

pub use changelog::{
    Batch, Change, ChangeLog, Event, EventType, HistoryError, Initial, LogConfig, Snapshot,
    Subscription, WatchStart,
};
pub use objects::{Labels, NodeObject, Object, ObjectMeta, PodKey, PodObject, Versioned};
pub use rate::Usage;
pub use ring::{Ring, Sample};

use node::NodeState;

/// Tuning of the store, derived from the server's flags.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// Samples kept per series.
    pub depth: usize,
    /// Scrape period; bounds the fresh-container rule.
    pub resolution_ms: i64,
    /// A node not scraped successfully for this long has its metrics removed (a committed DELETED).
    pub max_age_ms: i64,
}

/// How served objects are computed from the rings, chosen by flags; see [`Store::with_policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServePolicy {
    /// History a rate covers at least (`--window`); 0 means the two newest samples.
    pub window_ms: i64,
    /// Serve a pod whose containers do not all have a rate yet (`--allow-partial-pods`).
    pub partial_pods: bool,
    /// Serve `usage.swap` where kubelets report it (`--serve-swap`); off for readers that reject
    /// keys other than cpu and memory.
    pub swap: bool,
}

impl Default for ServePolicy {
    /// metrics-server's rules: the two newest samples, every container needed.
    fn default() -> Self {
        ServePolicy {
            window_ms: 0,
            partial_pods: false,
            swap: true,
        }
    }
}

/// One container's sample in a batch.
#[derive(Debug, Clone)]
pub struct ContainerSample<'a> {
    /// Container name.
    pub name: &'a str,
    /// Container start, Unix ms; 0 when the kubelet did not say.
    pub start_ms: i64,
    /// The measurement.
    pub sample: Sample,
    /// Swap in use, bytes, where the kubelet reports it; a gauge, so only the newest is kept.
    pub swap_bytes: Option<u64>,
}

/// One pod's containers in a batch.
#[derive(Debug, Clone)]
pub struct PodBatch<'a> {
    /// Pod namespace.
    pub namespace: &'a str,
    /// Pod name.
    pub name: &'a str,
    /// Every container the kubelet reported with complete data.
    pub containers: Vec<ContainerSample<'a>>,
}

/// Everything one successful scrape of one node produced.
#[derive(Debug, Clone)]
pub struct NodeBatch<'a> {
    /// Node name.
    pub node: &'a str,
    /// The node-level sample, if it was complete.
    pub node_sample: Option<Sample>,
    /// The node's swap in use, bytes, where the kubelet reports it.
    pub node_swap: Option<u64>,
    /// Pods with complete data.
    pub pods: Vec<PodBatch<'a>>,
    /// Pods the kubelet reported but whose data was incomplete: kept as they were, not dropped.
    pub incomplete_pods: Vec<(&'a str, &'a str)>,
}

/// Counts of what a commit changed, for logs and self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Events committed (ADDED, MODIFIED, DELETED of the node and its pods).
    pub events: usize,
    /// Series whose history was dropped because they restarted.
    pub restarts: usize,
    /// Pods whose series were dropped because the kubelet no longer reports them.
    pub removed_pods: usize,
    /// The node's NodeMetrics is served after this commit.
    pub node_served: bool,
    /// Pods this node's series hold (reported by its kubelet, complete or kept from before).
    pub pods_held: usize,
    /// Of those, pods served after this commit (Running in the cluster, every container a rate).
    pub pods_served: usize,
}

/// What the cluster view says about a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMeta {
    /// Labels, uid, creation time.
    pub meta: ObjectMeta,
    /// Only Running pods are served, as metrics-server does.
    pub running: bool,
    /// The node the pod is bound to, when known.
    pub node: Option<Arc<str>>,
}

/// The cluster view, as the store reads it when it builds objects. Implemented by the cluster
/// index; tests and benchmarks use a map.
pub trait MetaSource: Send + Sync {
    /// A node's metadata; `None` when the node is not (or no longer) in the cluster.
    fn node_meta(&self, name: &str) -> Option<ObjectMeta>;
    /// A pod's metadata; `None` when the pod is not in the cluster.
    fn pod_meta(&self, namespace: &str, name: &str) -> Option<PodMeta>;
}

/// The sharded in-memory store.
pub struct Store {
    cfg: StoreConfig,
    policy: ServePolicy,
    log: Arc<ChangeLog>,
    meta: Arc<dyn MetaSource>,
    nodes: DashMap<Arc<str>, Arc<Mutex<NodeState>>>,
    /// Which node's kubelet reports each pod: the cluster view watches pod metadata only, so the
    /// binding comes from the kubelets, and a pod that appears in the cluster after its node was
    /// scraped is found here.
    reported_by: DashMap<PodKey, Arc<str>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("nodes", &self.nodes.len())
            .field("rv", &self.log.current())
            .finish()
    }
}

fn lock(m: &Mutex<NodeState>) -> MutexGuard<'_, NodeState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// An empty store reading metadata from `meta`.
    pub fn new(cfg: StoreConfig, log: LogConfig, meta: Arc<dyn MetaSource>) -> Self {
        Store {
            cfg,
            policy: ServePolicy::default(),
            log: Arc::new(ChangeLog::new(log)),
            meta,
            nodes: DashMap::new(),
            reported_by: DashMap::new(),
        }
    }

    /// The same store computing served objects with `policy` (window, partial pods) instead of
    /// metrics-server's rules.
    pub fn with_policy(mut self, policy: ServePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The serving policy in force.
    pub fn policy(&self) -> ServePolicy {
        self.policy
    }

    /// The change log: snapshots for lists, subscriptions for watches.
    pub fn log(&self) -> &Arc<ChangeLog> {
        &self.log
    }

    /// The newest committed resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.log.current()
    }

    fn state(&self, node: &str) -> Arc<Mutex<NodeState>> {
        if let Some(s) = self.nodes.get(node) {
            return s.clone();
        }
        self.nodes
            .entry(node.into())
            .or_insert_with(|| Arc::new(Mutex::new(NodeState::new(node.into(), self.cfg.depth))))
            .clone()
    }

    /// Applies one node's scrape and commits what it changes. Pods of this node that the kubelet
    /// no longer reports are removed.
    pub fn commit(&self, batch: &NodeBatch<'_>, now_ms: i64) -> CommitStats {
        let Some(node_meta) = self.meta.node_meta(batch.node) else {
            // The node left the cluster while it was being scraped.
            return CommitStats::default();
        };
        let state = self.state(batch.node);
        let mut st = lock(&state);
        if st.removed {
            return CommitStats::default();
        }
        let (mut stats, added, dropped) = st.ingest(batch, now_ms, &self.cfg);
        for key in added {
            self.reported_by.insert(key, st.name().clone());
        }
        for key in &dropped {
            self.reported_by
                .remove_if(key, |_, node| node.as_ref() == batch.node);
        }
        let (nodes, pods) = st.changes(
            &node_meta,
            &*self.meta,
            now_ms,
            &self.cfg,
            &self.policy,
            dropped,
        );
        stats.node_served = matches!(nodes.first(), Some(Change::Upsert(_)));
        stats.pods_held = st.pod_count();
        stats.pods_served = pods
            .iter()
            .filter(|c| matches!(c, Change::Upsert(_)))
            .count();
        stats.events = self.log.commit(nodes, pods);
        stats
    }

    /// The cluster view changed a node (labels, uid) or removed it: commit what that changes.
    pub fn node_changed(&self, name: &str) {
        match self.meta.node_meta(name) {
            None => {
                let Some((_, state)) = self.nodes.remove(name) else {
                    return;
                };
                let mut st = lock(&state);
                st.removed = true;
                for key in st.pod_keys() {
                    self.reported_by.remove_if(&key, |_, n| n.as_ref() == name);
                }
                let (nodes, pods) = st.deletions();
                self.log.commit(nodes, pods);
            }
            Some(meta) => {
                let Some(state) = self.nodes.get(name).map(|s| s.clone()) else {
                    return;
                };
                let st = lock(&state);
                if let Some(change) = st.node_change(&meta, &self.cfg, &self.policy) {
                    self.log.commit(vec![change], Vec::new());
                }
            }
        }
    }

    /// The cluster view changed or removed a pod: recompute it on the node that serves it, on the
    /// node whose kubelet reports it and on the node the cluster binds it to (`node_hint`, when
    /// the cluster view knows it), and commit what that changes.
    pub fn pod_changed(&self, namespace: &str, name: &str, node_hint: Option<&str>) {
        let key = PodKey::new(namespace, name);
        let served_by = self
            .log
            .get::<PodObject>(&key)
            .map(|v| v.value.node.clone());
        let mut candidates: Vec<Arc<str>> = served_by.iter().cloned().collect();
        let reporter = self.reported_by.get(&key).map(|n| n.clone());
        for node in reporter.into_iter().chain(node_hint.map(Arc::from)) {
            if !candidates.contains(&node) {
                candidates.push(node);
            }
        }
        let meta = self.meta.pod_meta(namespace, name);
        for node in candidates {
            let is_owner = served_by.as_ref() == Some(&node);
            let state = self.nodes.get(node.as_ref()).map(|s| s.clone());
            let change = match &state {
                Some(state) => {
                    let st = lock(state);
                    st.pod_change(&key, meta.as_ref(), &self.cfg, &self.policy)
                        .or_else(|| is_owner.then(|| st.pod_delete(&key)))
                }
                None if is_owner => Some(Change::Delete {
                    key: key.clone(),
                    owner: Some(node.clone()),
                }),
                None => None,
            };
            if let Some(change) = change {
                self.log.commit(Vec::new(), vec![change]);
            }
        }
    }

    /// Removes the metrics of every node not scraped successfully for `max_age_ms`: DELETED events
    /// for the node and its pods. Runs from a sweeper; costs one lock per node, not per pod.
    pub fn expire(&self, now_ms: i64) -> usize {
        let states: Vec<_> = self.nodes.iter().map(|e| e.value().clone()).collect();
        let mut events = 0;
        for state in states {
            let mut st = lock(&state);
            if st.expired || now_ms - st.scraped_ms <= self.cfg.max_age_ms {
                continue;
            }
            st.expired = true;
            let (nodes, pods) = st.deletions();
            events += self.log.commit(nodes, pods);
        }
        events
    }

    /// The served NodeMetrics of one node.
    pub fn node(&self, name: &str) -> Option<Arc<Versioned<NodeObject>>> {
        self.log.get::<NodeObject>(&Arc::from(name))
    }

    /// The served PodMetrics of one pod.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Versioned<PodObject>>> {
        self.log.get::<PodObject>(&PodKey::new(namespace, name))
    }

    /// Number of nodes and pods served now; readiness reads this.
    pub fn served_counts(&self) -> (usize, usize) {
        (
            self.log.snapshot::<NodeObject>().len(),
            self.log.snapshot::<PodObject>().len(),
        )
    }

    /// Number of series held (nodes, containers), for self-metrics and memory accounting.
    pub fn series_counts(&self) -> (usize, usize) {
        let states: Vec<_> = self.nodes.iter().map(|e| e.value().clone()).collect();
        let containers = states.iter().map(|s| lock(s).container_count()).sum();
        (states.len(), containers)
    }
}

/// A [`MetaSource`] backed by maps, for tests, benchmarks and tools that have no cluster.
#[derive(Debug, Default)]
pub struct StaticMeta {
    /// Nodes by name.
    pub nodes: DashMap<String, ObjectMeta>,
    /// Pods by (namespace, name).
    pub pods: DashMap<(String, String), PodMeta>,
}

impl MetaSource for StaticMeta {
    fn node_meta(&self, name: &str) -> Option<ObjectMeta> {
        self.nodes.get(name).map(|m| m.clone())
    }
    fn pod_meta(&self, namespace: &str, name: &str) -> Option<PodMeta> {
        self.pods
            .get(&(namespace.to_string(), name.to_string()))
            .map(|m| m.clone())
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
