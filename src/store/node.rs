//! One node's series (its own ring and its pods' container rings) and the objects they serve.
//!
//! Everything here runs under that node's mutex; the results are [`Change`]s for the change log.

use std::collections::HashMap;
use std::sync::Arc;

use super::changelog::Change;
use super::objects::{NodeObject, ObjectMeta, PodKey, PodObject};
use super::rate::{self, Ingest};
use super::ring::Ring;
use super::{CommitStats, MetaSource, NodeBatch, PodBatch, PodMeta, ServePolicy, StoreConfig};

struct ContainerSeries {
    name: Arc<str>,
    start_ms: i64,
    ring: Ring,
    /// Swap of the newest accepted sample: a gauge, so it needs no history.
    swap: Option<u64>,
}

struct PodSeries {
    key: PodKey,
    containers: Vec<ContainerSeries>,
    /// Last scrape that reported the pod with complete data.
    complete_ms: i64,
    /// Sequence number of the last scrape that reported the pod at all.
    seen: u64,
}

/// The series of one node and of the pods its kubelet reports.
pub(crate) struct NodeState {
    name: Arc<str>,
    ring: Ring,
    start_ms: i64,
    /// Swap of the newest accepted node sample.
    swap: Option<u64>,
    /// Last successful scrape, Unix ms.
    pub(crate) scraped_ms: i64,
    /// The sweeper removed this node's metrics; the next successful scrape serves them again.
    pub(crate) expired: bool,
    /// The node left the cluster: nothing may be committed for it any more.
    pub(crate) removed: bool,
    scrapes: u64,
    /// Pods by namespace, then name, so a batch's borrowed names find them without allocating.
    pods: HashMap<Box<str>, HashMap<Box<str>, PodSeries>>,
}

impl NodeState {
    pub(crate) fn new(name: Arc<str>, depth: usize) -> Self {
        NodeState {
            name,
            ring: Ring::new(depth),
            start_ms: 0,
            swap: None,
            scraped_ms: 0,
            expired: false,
            removed: false,
            scrapes: 0,
            pods: HashMap::new(),
        }
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Pods whose series this node holds.
    pub(crate) fn pod_count(&self) -> usize {
        self.pods.values().map(|m| m.len()).sum()
    }

    /// Keys of the pods whose series this node holds.
    pub(crate) fn pod_keys(&self) -> Vec<PodKey> {
        self.pods
            .values()
            .flat_map(|m| m.values())
            .map(|p| p.key.clone())
            .collect()
    }

    pub(crate) fn container_count(&self) -> usize {
        self.pods
            .values()
            .flat_map(|m| m.values())
            .map(|p| p.containers.len())
            .sum()
    }

    fn series(&self, key: &PodKey) -> Option<&PodSeries> {
        self.pods
            .get(key.namespace.as_ref())?
            .get(key.name.as_ref())
    }

    /// Takes the batch's samples into the rings; drops series the kubelet no longer reports.
    /// Returns the pods whose series are new and those dropped.
    pub(crate) fn ingest(
        &mut self,
        batch: &NodeBatch<'_>,
        now_ms: i64,
        cfg: &StoreConfig,
    ) -> (CommitStats, Vec<PodKey>, Vec<PodKey>) {
        let mut added = Vec::new();
        let mut stats = CommitStats::default();
        self.scrapes += 1;
        self.scraped_ms = now_ms;
        self.expired = false;
        let seq = self.scrapes;
        if let Some(sample) = batch.node_sample {
            match rate::ingest(&mut self.ring, &mut self.start_ms, 0, sample) {
                Ingest::Stale => {}
                taken => {
                    self.swap = batch.node_swap;
                    stats.restarts += usize::from(taken == Ingest::Restarted);
                }
            }
        }
        for pod in &batch.pods {
            let series = self.series_mut(pod.namespace, pod.name);
            if series.seen == 0 {
                added.push(series.key.clone());
            }
            series.seen = seq;
            series.complete_ms = now_ms;
            stats.restarts += update_pod(series, pod, cfg.depth);
        }
        for (ns, name) in &batch.incomplete_pods {
            if let Some(s) = self.pods.get_mut(*ns).and_then(|m| m.get_mut(*name)) {
                s.seen = seq;
            }
        }
        let mut dropped = Vec::new();
        for pods in self.pods.values_mut() {
            pods.retain(|_, s| {
                let keep = s.seen == seq;
                if !keep {
                    dropped.push(s.key.clone());
                }
                keep
            });
        }
        self.pods.retain(|_, m| !m.is_empty());
        stats.removed_pods = dropped.len();
        (stats, added, dropped)
    }

    fn series_mut(&mut self, namespace: &str, name: &str) -> &mut PodSeries {
        if !self.pods.contains_key(namespace) {
            self.pods.insert(namespace.into(), HashMap::new());
        }
        let by_name = self
            .pods
            .get_mut(namespace)
            .expect("namespace entry just ensured");
        if !by_name.contains_key(name) {
            by_name.insert(
                name.into(),
                PodSeries {
                    key: PodKey::new(namespace, name),
                    containers: Vec::new(),
                    complete_ms: 0,
                    seen: 0,
                },
            );
        }
        by_name.get_mut(name).expect("pod entry just ensured")
    }

    /// The served node object, if the ring gives a rate (zero readings included).
    fn node_object(
        &self,
        meta: &ObjectMeta,
        cfg: &StoreConfig,
        policy: &ServePolicy,
    ) -> Option<NodeObject> {
        let mut usage = rate::usage(
            &self.ring,
            self.start_ms,
            cfg.resolution_ms,
            policy.window_ms,
        )?;
        usage.swap_bytes = self.swap.filter(|_| policy.swap);
        Some(NodeObject {
            name: self.name.clone(),
            meta: meta.clone(),
            usage,
        })
    }

    pub(crate) fn node_change(
        &self,
        meta: &ObjectMeta,
        cfg: &StoreConfig,
        policy: &ServePolicy,
    ) -> Option<Change<NodeObject>> {
        if self.expired || self.scraped_ms == 0 {
            return None;
        }
        Some(match self.node_object(meta, cfg, policy) {
            Some(o) => Change::Upsert(o),
            None => Change::Delete {
                key: self.name.clone(),
                owner: None,
            },
        })
    }

    fn pod_object(
        &self,
        series: &PodSeries,
        meta: Option<&PodMeta>,
        cfg: &StoreConfig,
        policy: &ServePolicy,
        now_ms: i64,
    ) -> Option<PodObject> {
        let meta = meta.filter(|m| m.running)?;
        if series.containers.is_empty() || now_ms - series.complete_ms > cfg.max_age_ms {
            return None;
        }
        let mut containers = Vec::with_capacity(series.containers.len());
        let mut earliest: Option<rate::Usage> = None;
        for c in &series.containers {
            // As in metrics-server: a pod is served only when every container has a rate, unless
            // the policy relaxes that; then it is served with the containers that have one.
            let Some(mut u) = rate::usage(&c.ring, c.start_ms, cfg.resolution_ms, policy.window_ms)
            else {
                if policy.partial_pods {
                    continue;
                }
                return None;
            };
            u.swap_bytes = c.swap.filter(|_| policy.swap);
            if earliest.is_none_or(|e| u.timestamp_ms < e.timestamp_ms) {
                earliest = Some(u);
            }
            containers.push((c.name.clone(), u));
        }
        let earliest = earliest?;
        Some(PodObject {
            key: series.key.clone(),
            meta: meta.meta.clone(),
            node: self.name.clone(),
            timestamp_ms: earliest.timestamp_ms,
            window_ms: earliest.window_ms,
            containers: containers.into_boxed_slice(),
        })
    }

    fn pod_change_of(
        &self,
        series: &PodSeries,
        meta: Option<&PodMeta>,
        cfg: &StoreConfig,
        policy: &ServePolicy,
        now_ms: i64,
    ) -> Change<PodObject> {
        match self.pod_object(series, meta, cfg, policy, now_ms) {
            Some(o) => Change::Upsert(o),
            None => self.pod_delete(&series.key),
        }
    }

    /// The change of one pod after its metadata changed; `None` when this node has no series for it.
    pub(crate) fn pod_change(
        &self,
        key: &PodKey,
        meta: Option<&PodMeta>,
        cfg: &StoreConfig,
        policy: &ServePolicy,
    ) -> Option<Change<PodObject>> {
        if self.expired || self.removed {
            return None;
        }
        let series = self.series(key)?;
        Some(self.pod_change_of(series, meta, cfg, policy, self.scraped_ms))
    }

    pub(crate) fn pod_delete(&self, key: &PodKey) -> Change<PodObject> {
        Change::Delete {
            key: key.clone(),
            owner: Some(self.name.clone()),
        }
    }

    /// Every change a scrape makes: the node object, each pod it holds, each pod it dropped.
    pub(crate) fn changes(
        &self,
        node_meta: &ObjectMeta,
        meta: &dyn MetaSource,
        now_ms: i64,
        cfg: &StoreConfig,
        policy: &ServePolicy,
        dropped: Vec<PodKey>,
    ) -> (Vec<Change<NodeObject>>, Vec<Change<PodObject>>) {
        let nodes: Vec<_> = self
            .node_change(node_meta, cfg, policy)
            .into_iter()
            .collect();
        let mut pods = Vec::with_capacity(self.pods.values().map(|m| m.len()).sum::<usize>());
        for by_name in self.pods.values() {
            for series in by_name.values() {
                let pm = meta.pod_meta(&series.key.namespace, &series.key.name);
                pods.push(self.pod_change_of(series, pm.as_ref(), cfg, policy, now_ms));
            }
        }
        for key in dropped {
            pods.push(self.pod_delete(&key));
        }
        // Series sit in hash maps; events go out in key order so a commit reads the same on
        // every run and every watcher sees a namespace's pods sorted, as a list returns them.
        pods.sort_by_cached_key(Change::key);
        (nodes, pods)
    }

    /// DELETED for the node and every pod it holds (expiry, or the node left).
    pub(crate) fn deletions(&self) -> (Vec<Change<NodeObject>>, Vec<Change<PodObject>>) {
        let nodes = vec![Change::Delete {
            key: self.name.clone(),
            owner: None,
        }];
        let pods = self
            .pods
            .values()
            .flat_map(|m| m.values())
            .map(|s| self.pod_delete(&s.key))
            .collect();
        (nodes, pods)
    }
}

/// Takes one pod's containers; containers absent from the batch are dropped. Returns restarts.
fn update_pod(series: &mut PodSeries, pod: &PodBatch<'_>, depth: usize) -> usize {
    let mut restarts = 0;
    series
        .containers
        .retain(|c| pod.containers.iter().any(|b| b.name == c.name.as_ref()));
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
                    ring: Ring::new(depth),
                    swap: None,
                });
                series.containers.len() - 1
            }
        };
        let s = &mut series.containers[idx];
        match rate::ingest(&mut s.ring, &mut s.start_ms, c.start_ms, c.sample) {
            Ingest::Stale => {}
            taken => {
                s.swap = c.swap_bytes;
                restarts += usize::from(taken == Ingest::Restarted);
            }
        }
    }
    series
        .containers
        .sort_unstable_by(|a, b| a.name.cmp(&b.name));
    restarts
}
