//! RAM storage of scraped samples: sharded maps of per-node and per-container rings.
//!
//! The store knows nothing of HTTP or Kubernetes JSON. A [`NodeBatch`] (one kubelet's answer) is the
//! only thing that comes in; snapshots of usage are the only thing that goes out. Every committed
//! change takes the next value of one monotonic resourceVersion counter, which lists and (later)
//! watch both read.

pub mod rate;
pub mod ring;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

pub use rate::Usage;
pub use ring::{Ring, Sample};

use rate::Ingest;

/// Tuning of the store, derived from the server's flags.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// Samples kept per series.
    pub depth: usize,
    /// Scrape period; bounds the fresh-container rule.
    pub resolution_ms: i64,
    /// Series not refreshed for this long are no longer served (their kubelet stopped answering).
    pub max_age_ms: i64,
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
    /// Pods with complete data.
    pub pods: Vec<PodBatch<'a>>,
    /// Pods the kubelet reported but whose data was incomplete: kept as they were, not dropped.
    pub incomplete_pods: Vec<(&'a str, &'a str)>,
}

/// Counts of what a commit changed, for logs and self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Objects (the node and pods) that took a new resourceVersion.
    pub changed: usize,
    /// Series whose history was dropped because they restarted.
    pub restarts: usize,
    /// Pods removed because the kubelet no longer reports them.
    pub removed_pods: usize,
}

/// Usage of one node, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSnapshot {
    /// Node name.
    pub name: String,
    /// Usage over the newest window.
    pub usage: Usage,
    /// resourceVersion of the last change.
    pub resource_version: u64,
}

/// Usage of one pod, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSnapshot {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Timestamp of the container whose newest sample is oldest (what the HPA expects).
    pub timestamp_ms: i64,
    /// Window of that same container.
    pub window_ms: i64,
    /// Containers sorted by name.
    pub containers: Vec<(String, Usage)>,
    /// resourceVersion of the last change.
    pub resource_version: u64,
}

struct NodeSeries {
    ring: Ring,
    start_ms: i64,
    resource_version: u64,
    updated_ms: i64,
    /// Keys of the pods this node reported last, so pods that vanish can be removed.
    pods: Vec<Box<str>>,
}

struct ContainerSeries {
    name: Box<str>,
    start_ms: i64,
    ring: Ring,
}

struct PodSeries {
    node: Arc<str>,
    containers: Vec<ContainerSeries>,
    resource_version: u64,
    updated_ms: i64,
}

/// The sharded in-memory store.
pub struct Store {
    cfg: StoreConfig,
    nodes: DashMap<Box<str>, NodeSeries>,
    /// Keyed by `namespace/name` (a namespace cannot contain `/`).
    pods: DashMap<Box<str>, PodSeries>,
    resource_version: AtomicU64,
}

fn pod_key_into(buf: &mut String, namespace: &str, name: &str) {
    buf.clear();
    buf.push_str(namespace);
    buf.push('/');
    buf.push_str(name);
}

fn split_pod_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

impl Store {
    /// An empty store.
    pub fn new(cfg: StoreConfig) -> Self {
        Store {
            cfg,
            nodes: DashMap::new(),
            pods: DashMap::new(),
            resource_version: AtomicU64::new(0),
        }
    }

    /// The newest resourceVersion handed out; lists carry it.
    pub fn resource_version(&self) -> u64 {
        self.resource_version.load(Ordering::SeqCst)
    }

    fn next_rv(&self) -> u64 {
        self.resource_version.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Applies one node's scrape. Pods of this node that the kubelet no longer reports are removed.
    pub fn commit(&self, batch: &NodeBatch<'_>, now_ms: i64) -> CommitStats {
        let mut stats = CommitStats::default();
        let mut key = String::new();
        let node_name: Arc<str> = Arc::from(batch.node);
        let mut reported: Vec<Box<str>> =
            Vec::with_capacity(batch.pods.len() + batch.incomplete_pods.len());

        for pod in &batch.pods {
            pod_key_into(&mut key, pod.namespace, pod.name);
            reported.push(key.as_str().into());
            let changed = match self.pods.get_mut(key.as_str()) {
                Some(mut series) => self.update_pod(&mut series, &node_name, pod, &mut stats),
                None => {
                    let mut series = PodSeries {
                        node: node_name.clone(),
                        containers: Vec::with_capacity(pod.containers.len()),
                        resource_version: 0,
                        updated_ms: now_ms,
                    };
                    self.update_pod(&mut series, &node_name, pod, &mut stats);
                    self.pods.insert(key.as_str().into(), series);
                    true
                }
            };
            if changed {
                if let Some(mut s) = self.pods.get_mut(key.as_str()) {
                    s.resource_version = self.next_rv();
                    s.updated_ms = now_ms;
                }
                stats.changed += 1;
            }
        }
        for (ns, name) in &batch.incomplete_pods {
            pod_key_into(&mut key, ns, name);
            reported.push(key.as_str().into());
        }
        reported.sort_unstable();
        reported.dedup();

        let mut entry = self
            .nodes
            .entry(batch.node.into())
            .or_insert_with(|| NodeSeries {
                ring: Ring::new(self.cfg.depth),
                start_ms: 0,
                resource_version: 0,
                updated_ms: now_ms,
                pods: Vec::new(),
            });
        let node: &mut NodeSeries = &mut entry;
        if let Some(sample) = batch.node_sample {
            match rate::ingest(&mut node.ring, &mut node.start_ms, 0, sample) {
                Ingest::Stale => {}
                outcome => {
                    if outcome == Ingest::Restarted {
                        stats.restarts += 1;
                    }
                    node.resource_version = self.next_rv();
                    node.updated_ms = now_ms;
                    stats.changed += 1;
                }
            }
        }
        let mut gone = std::mem::replace(&mut node.pods, reported);
        gone.retain(|k| node.pods.binary_search(k).is_err());
        drop(entry);
        for gone in &gone {
            let removed = self
                .pods
                .remove_if(gone.as_ref(), |_, s| s.node.as_ref() == batch.node);
            if removed.is_some() {
                stats.removed_pods += 1;
            }
        }
        stats
    }

    /// Returns true when any container took a sample. Containers absent from the batch are dropped.
    fn update_pod(
        &self,
        series: &mut PodSeries,
        node: &Arc<str>,
        pod: &PodBatch<'_>,
        stats: &mut CommitStats,
    ) -> bool {
        if series.node != *node {
            // The pod name now lives on another node: a different pod, start again.
            series.node = node.clone();
            series.containers.clear();
        }
        let mut changed = false;
        series
            .containers
            .retain(|c| pod.containers.iter().any(|b| b.name == c.name.as_ref()));
        if series.containers.len() < pod.containers.len() {
            changed = true;
        }
        for c in &pod.containers {
            let idx = match series
                .containers
                .iter()
                .position(|s| s.name.as_ref() == c.name)
            {
                Some(i) => i,
                None => {
                    series.containers.push(ContainerSeries {
                        name: c.name.into(),
                        start_ms: c.start_ms,
                        ring: Ring::new(self.cfg.depth),
                    });
                    series.containers.len() - 1
                }
            };
            let s = &mut series.containers[idx];
            match rate::ingest(&mut s.ring, &mut s.start_ms, c.start_ms, c.sample) {
                Ingest::Stale => {}
                Ingest::Restarted => {
                    stats.restarts += 1;
                    changed = true;
                }
                Ingest::Appended => changed = true,
            }
        }
        series
            .containers
            .sort_unstable_by(|a, b| a.name.cmp(&b.name));
        changed
    }

    /// Forgets a node and every pod it reported (the node left the cluster).
    pub fn remove_node(&self, name: &str) {
        if let Some((_, node)) = self.nodes.remove(name) {
            for key in node.pods {
                self.pods
                    .remove_if(key.as_ref(), |_, s| s.node.as_ref() == name);
            }
        }
    }

    /// Forgets a pod (it was deleted from the cluster).
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        let mut key = String::new();
        pod_key_into(&mut key, namespace, name);
        self.pods.remove(key.as_str());
    }

    fn fresh(&self, updated_ms: i64, now_ms: i64) -> bool {
        now_ms - updated_ms <= self.cfg.max_age_ms
    }

    fn node_snapshot(&self, name: &str, s: &NodeSeries, now_ms: i64) -> Option<NodeSnapshot> {
        if !self.fresh(s.updated_ms, now_ms) {
            return None;
        }
        let usage = rate::usage(&s.ring, s.start_ms, self.cfg.resolution_ms)?;
        Some(NodeSnapshot {
            name: name.to_string(),
            usage,
            resource_version: s.resource_version,
        })
    }

    fn pod_snapshot(&self, key: &str, s: &PodSeries, now_ms: i64) -> Option<PodSnapshot> {
        if !self.fresh(s.updated_ms, now_ms) || s.containers.is_empty() {
            return None;
        }
        let mut containers = Vec::with_capacity(s.containers.len());
        for c in &s.containers {
            // As in metrics-server: a pod is served only when every container has a rate.
            let u = rate::usage(&c.ring, c.start_ms, self.cfg.resolution_ms)?;
            containers.push((c.name.to_string(), u));
        }
        let earliest = containers
            .iter()
            .map(|(_, u)| *u)
            .min_by_key(|u| u.timestamp_ms)?;
        let (namespace, name) = split_pod_key(key);
        Some(PodSnapshot {
            namespace: namespace.to_string(),
            name: name.to_string(),
            timestamp_ms: earliest.timestamp_ms,
            window_ms: earliest.window_ms,
            containers,
            resource_version: s.resource_version,
        })
    }

    /// Usage of one node, if it has a rate.
    pub fn node(&self, name: &str, now_ms: i64) -> Option<NodeSnapshot> {
        let s = self.nodes.get(name)?;
        self.node_snapshot(name, &s, now_ms)
    }

    /// Usage of every node that has a rate, in no particular order.
    pub fn nodes(&self, now_ms: i64) -> Vec<NodeSnapshot> {
        self.nodes
            .iter()
            .filter_map(|e| self.node_snapshot(e.key(), e.value(), now_ms))
            .collect()
    }

    /// Usage of one pod, if every container has a rate.
    pub fn pod(&self, namespace: &str, name: &str, now_ms: i64) -> Option<PodSnapshot> {
        let mut key = String::new();
        pod_key_into(&mut key, namespace, name);
        let s = self.pods.get(key.as_str())?;
        self.pod_snapshot(&key, &s, now_ms)
    }

    /// Usage of every servable pod, optionally of one namespace, in no particular order.
    pub fn pods(&self, namespace: Option<&str>, now_ms: i64) -> Vec<PodSnapshot> {
        self.pods
            .iter()
            .filter(|e| namespace.is_none_or(|ns| split_pod_key(e.key()).0 == ns))
            .filter_map(|e| self.pod_snapshot(e.key(), e.value(), now_ms))
            .collect()
    }

    /// Number of nodes and pods that can be served now; readiness reads this.
    pub fn servable_counts(&self, now_ms: i64) -> (usize, usize) {
        let nodes = self
            .nodes
            .iter()
            .filter(|e| self.node_snapshot(e.key(), e.value(), now_ms).is_some())
            .count();
        let pods = self
            .pods
            .iter()
            .filter(|e| self.pod_snapshot(e.key(), e.value(), now_ms).is_some())
            .count();
        (nodes, pods)
    }

    /// Number of series held (nodes, containers), for self-metrics and memory accounting.
    pub fn series_counts(&self) -> (usize, usize) {
        let containers = self.pods.iter().map(|p| p.containers.len()).sum();
        (self.nodes.len(), containers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn store() -> Store {
        Store::new(StoreConfig {
            depth: 8,
            resolution_ms: 15_000,
            max_age_ms: 45_000,
        })
    }

    fn sample(t: i64, cpu_core_s: f64, mem: u64) -> Sample {
        Sample {
            timestamp_ms: t,
            cpu_ns: (cpu_core_s * 1e9) as u64,
            memory_bytes: mem,
        }
    }

    fn batch<'a>(node: &'a str, t: i64, pods: Vec<PodBatch<'a>>) -> NodeBatch<'a> {
        NodeBatch {
            node,
            node_sample: Some(sample(t, t as f64 / 1000.0 * 2.0, 1 << 30)),
            pods,
            incomplete_pods: vec![],
        }
    }

    fn pod<'a>(ns: &'a str, name: &'a str, t: i64, cores: &[(&'a str, f64)]) -> PodBatch<'a> {
        PodBatch {
            namespace: ns,
            name,
            containers: cores
                .iter()
                .map(|(c, rate)| ContainerSample {
                    name: c,
                    start_ms: T - 3_600_000,
                    sample: sample(t, (t - (T - 3_600_000)) as f64 / 1000.0 * rate, 4096),
                })
                .collect(),
        }
    }

    #[test]
    fn two_scrapes_make_node_and_pod_servable_with_exact_rates() {
        let s = store();
        s.commit(
            &batch("n1", T, vec![pod("ns", "p", T, &[("b", 0.25), ("a", 0.5)])]),
            T,
        );
        assert_eq!(s.node("n1", T), None, "one sample is not a rate");
        assert_eq!(s.pod("ns", "p", T), None);
        let rv1 = s.resource_version();
        s.commit(
            &batch(
                "n1",
                T + 15_000,
                vec![pod("ns", "p", T + 15_000, &[("b", 0.25), ("a", 0.5)])],
            ),
            T + 15_000,
        );
        assert!(s.resource_version() > rv1);
        let n = s.node("n1", T + 15_000).unwrap();
        assert_eq!(n.usage.cpu_nanocores, 2_000_000_000);
        assert_eq!(n.usage.window_ms, 15_000);
        let p = s.pod("ns", "p", T + 15_000).unwrap();
        let names: Vec<_> = p.containers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["a", "b"], "containers sorted by name");
        assert_eq!(p.containers[0].1.cpu_nanocores, 500_000_000);
        assert_eq!(p.containers[1].1.cpu_nanocores, 250_000_000);
        assert_eq!(p.containers[0].1.memory_bytes, 4096);
        assert_eq!(s.pods(Some("ns"), T + 15_000).len(), 1);
        assert!(s.pods(Some("other"), T + 15_000).is_empty());
        assert_eq!(s.servable_counts(T + 15_000), (1, 1));
    }

    #[test]
    fn every_change_takes_a_new_resource_version_and_stale_ones_none() {
        let s = store();
        s.commit(&batch("n1", T, vec![pod("ns", "p", T, &[("a", 0.5)])]), T);
        assert_eq!(s.resource_version(), 2, "one for the pod, one for the node");
        // The same kubelet data again (kubelet caches): nothing changes.
        let stats = s.commit(&batch("n1", T, vec![pod("ns", "p", T, &[("a", 0.5)])]), T);
        assert_eq!(stats.changed, 0);
        assert_eq!(s.resource_version(), 2);
    }

    #[test]
    fn pods_that_vanish_from_their_kubelet_are_removed_incomplete_ones_kept() {
        let s = store();
        for t in [T, T + 15_000] {
            s.commit(
                &batch(
                    "n1",
                    t,
                    vec![
                        pod("ns", "a", t, &[("c", 0.1)]),
                        pod("ns", "b", t, &[("c", 0.1)]),
                    ],
                ),
                t,
            );
        }
        assert_eq!(s.pods(None, T + 15_000).len(), 2);
        let t = T + 30_000;
        let mut b = batch("n1", t, vec![]);
        b.incomplete_pods.push(("ns", "a"));
        let stats = s.commit(&b, t);
        assert_eq!(stats.removed_pods, 1);
        let left: Vec<_> = s.pods(None, t).into_iter().map(|p| p.name).collect();
        assert_eq!(left, vec!["a".to_string()]);
    }

    #[test]
    fn removing_a_node_removes_its_pods_and_stale_data_is_not_served() {
        let s = store();
        for t in [T, T + 15_000] {
            s.commit(&batch("n1", t, vec![pod("ns", "a", t, &[("c", 0.1)])]), t);
            s.commit(&batch("n2", t, vec![pod("ns", "b", t, &[("c", 0.1)])]), t);
        }
        s.remove_node("n1");
        assert_eq!(s.node("n1", T + 15_000), None);
        assert_eq!(s.pod("ns", "a", T + 15_000), None);
        assert!(s.pod("ns", "b", T + 15_000).is_some());
        // n2 stops answering: after max_age its data is no longer served.
        assert!(s.node("n2", T + 15_000 + 45_000).is_some());
        assert_eq!(s.node("n2", T + 15_000 + 45_001), None);
        assert_eq!(s.pod("ns", "b", T + 15_000 + 45_001), None);
        s.remove_pod("ns", "b");
        assert_eq!(s.series_counts(), (1, 0));
    }

    #[test]
    fn a_pod_is_served_only_when_every_container_has_a_rate() {
        let s = store();
        s.commit(&batch("n1", T, vec![pod("ns", "p", T, &[("a", 0.1)])]), T);
        let t = T + 15_000;
        s.commit(
            &batch(
                "n1",
                t,
                vec![pod("ns", "p", t, &[("a", 0.1), ("new", 0.1)])],
            ),
            t,
        );
        assert_eq!(
            s.pod("ns", "p", t),
            None,
            "container 'new' has one old-start sample"
        );
        let t2 = t + 15_000;
        s.commit(
            &batch(
                "n1",
                t2,
                vec![pod("ns", "p", t2, &[("a", 0.1), ("new", 0.1)])],
            ),
            t2,
        );
        assert_eq!(s.pod("ns", "p", t2).unwrap().containers.len(), 2);
    }
}
