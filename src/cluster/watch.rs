//! Runs kube watchers for Nodes and Pods and applies their events to the [`ClusterIndex`].

use std::collections::HashSet;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use super::{ClusterIndex, NodeInfo, PodInfo};

/// How one resource's events land in the index.
trait Indexed: Sized {
    /// Compact record and its key; `None` for an object that cannot be indexed.
    fn record(&self) -> Option<(String, Self::Record)>;
    /// The compact record type.
    type Record;
    fn upsert(index: &ClusterIndex, record: Self::Record);
    fn remove(&self, index: &ClusterIndex);
    fn retain(index: &ClusterIndex, keys: &HashSet<String>);
    fn mark_synced(index: &ClusterIndex);
    const KIND: &'static str;
}

impl Indexed for Node {
    type Record = NodeInfo;
    const KIND: &'static str = "node";
    fn record(&self) -> Option<(String, NodeInfo)> {
        NodeInfo::from_node(self).map(|n| (n.name.to_string(), n))
    }
    fn upsert(index: &ClusterIndex, record: NodeInfo) {
        index.upsert_node(record);
    }
    fn remove(&self, index: &ClusterIndex) {
        if let Some(name) = self.metadata.name.as_deref() {
            index.remove_node(name);
        }
    }
    fn retain(index: &ClusterIndex, keys: &HashSet<String>) {
        index.retain_nodes(keys);
    }
    fn mark_synced(index: &ClusterIndex) {
        index.set_nodes_synced();
    }
}

/// The field selector of the pod watch: only Running pods are served, and kube-apiserver answers
/// this selector from its watch cache (as metrics-server's informer asks for it).
pub const RUNNING_PODS: &str = "status.phase=Running";

impl Indexed for PartialObjectMeta<Pod> {
    type Record = PodInfo;
    const KIND: &'static str = "pod";
    fn record(&self) -> Option<(String, PodInfo)> {
        PodInfo::from_running_meta(&self.metadata)
            .map(|p| (format!("{}/{}", p.namespace, p.name), p))
    }
    fn upsert(index: &ClusterIndex, record: PodInfo) {
        index.upsert_pod(record);
    }
    fn remove(&self, index: &ClusterIndex) {
        if let (Some(ns), Some(name)) = (
            self.metadata.namespace.as_deref(),
            self.metadata.name.as_deref(),
        ) {
            index.remove_pod(ns, name);
        }
    }
    fn retain(index: &ClusterIndex, keys: &HashSet<String>) {
        index.retain_pods(keys);
    }
    fn mark_synced(index: &ClusterIndex) {
        index.set_pods_synced();
    }
}

/// Applies watcher events to the index: a relist (`Init` … `InitDone`) prunes what it did not see.
async fn apply_events<K: Indexed>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    index: &ClusterIndex,
) {
    futures::pin_mut!(events);
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(obj) | watcher::Event::Apply(obj)) => {
                if let Some((key, record)) = obj.record() {
                    if let Some(seen) = relist.as_mut() {
                        seen.insert(key);
                    }
                    K::upsert(index, record);
                }
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    K::retain(index, &seen);
                }
                K::mark_synced(index);
                tracing::info!(
                    kind = K::KIND,
                    nodes = index.node_count(),
                    pods = index.pod_count(),
                    "list synced"
                );
            }
            Ok(watcher::Event::Delete(obj)) => obj.remove(index),
            Err(e) => tracing::warn!(kind = K::KIND, error = %e, "watch failed; retrying"),
        }
    }
}

/// Keeps the node index current (the watcher retries with backoff, so this runs for the process).
pub async fn watch_nodes(client: Client, index: Arc<ClusterIndex>, node_selector: String) {
    let mut cfg = watcher::Config::default();
    if !node_selector.is_empty() {
        cfg = cfg.labels(&node_selector);
    }
    apply_events(
        watcher(Api::<Node>::all(client), cfg).default_backoff(),
        &index,
    )
    .await;
}

/// Keeps the pod index current (kube's metadata-only watcher: `Api<PartialObjectMeta<Pod>>` asks
/// for `PartialObjectMetadataList`): metadata only (labels, uid, creation time) of Running pods. A
/// pod that stops Running leaves the selector and arrives as a deletion; the node a pod runs on
/// comes from the kubelet that reports it. Full Pod objects at 150,000 pods would be gigabytes to
/// list after every restart, and would slow the sync readiness waits for.
pub async fn watch_pods(client: Client, index: Arc<ClusterIndex>) {
    let cfg = watcher::Config::default().fields(RUNNING_PODS);
    let events = watcher(Api::<PartialObjectMeta<Pod>>::all(client), cfg).default_backoff();
    apply_events(events, &index).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterChange;
    use std::sync::Mutex;

    fn pod(name: &str) -> PartialObjectMeta<Pod> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": "x"}}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn relist_prunes_and_deletes_are_reported() {
        let gone = Arc::new(Mutex::new(Vec::new()));
        let sink = gone.clone();
        let index = ClusterIndex::new();
        index.set_listener(move |d| {
            if let ClusterChange::Pod(ns, name, _) = d {
                sink.lock().unwrap().push((ns, name));
            }
        });
        let events = futures::stream::iter(vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(pod("a"))),
            Ok(watcher::Event::InitApply(pod("b"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(pod("c"))),
            Ok(watcher::Event::Delete(pod("a"))),
            // The watch broke and relisted: b is gone, d appeared.
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(pod("c"))),
            Ok(watcher::Event::InitApply(pod("d"))),
            Ok(watcher::Event::InitDone),
        ]);
        apply_events::<PartialObjectMeta<Pod>>(events, &index).await;
        assert!(
            index
                .with_pod("ns", "c", |p| p.phase == crate::cluster::PodPhase::Running
                    && p.node.is_none()
                    && p.labels.len() == 1)
                .unwrap(),
            "a pod of the Running-only metadata watch is Running, its node left to the kubelet"
        );
        assert!(index.with_pod("ns", "d", |_| ()).is_some());
        assert_eq!(index.pod_count(), 2);
        assert_eq!(
            *gone.lock().unwrap(),
            ["a", "b", "c", "a", "d", "b"]
                .iter()
                .map(|n| ("ns".to_string(), n.to_string()))
                .collect::<Vec<_>>(),
            "every change in order: a, b, c added, a deleted, d added, b pruned"
        );
    }
}
