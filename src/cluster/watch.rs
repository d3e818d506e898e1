//! Runs kube watchers for Nodes and Pods and applies their events to the [`ClusterIndex`].

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use super::{ClusterIndex, NodeInfo, PodInfo};

/// Keeps the node index current until the stream ends (it does not: the watcher retries with backoff).
pub async fn watch_nodes(client: Client, index: Arc<ClusterIndex>, node_selector: String) {
    let mut cfg = watcher::Config::default();
    if !node_selector.is_empty() {
        cfg = cfg.labels(&node_selector);
    }
    let stream = watcher(Api::<Node>::all(client), cfg).default_backoff();
    futures::pin_mut!(stream);
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(n)) => {
                if let Some(info) = NodeInfo::from_node(&n) {
                    if let Some(seen) = relist.as_mut() {
                        seen.insert(info.name.to_string());
                    }
                    index.upsert_node(info);
                }
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    index.retain_nodes(&seen);
                }
                index.set_nodes_synced();
                tracing::info!(nodes = index.node_count(), "node list synced");
            }
            Ok(watcher::Event::Apply(n)) => {
                if let Some(info) = NodeInfo::from_node(&n) {
                    index.upsert_node(info);
                }
            }
            Ok(watcher::Event::Delete(n)) => {
                if let Some(name) = n.metadata.name.as_deref() {
                    index.remove_node(name);
                }
            }
            Err(e) => tracing::warn!(error = %e, "node watch failed; retrying"),
        }
    }
}

/// Keeps the pod index current; pods are needed for labels and for the Running filter.
pub async fn watch_pods(client: Client, index: Arc<ClusterIndex>) {
    let stream = watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(p)) => {
                if let Some(info) = PodInfo::from_pod(&p) {
                    if let Some(seen) = relist.as_mut() {
                        seen.insert(format!("{}/{}", info.namespace, info.name));
                    }
                    index.upsert_pod(info);
                }
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    index.retain_pods(&seen);
                }
                index.set_pods_synced();
                tracing::info!(pods = index.pod_count(), "pod list synced");
            }
            Ok(watcher::Event::Apply(p)) => {
                if let Some(info) = PodInfo::from_pod(&p) {
                    index.upsert_pod(info);
                }
            }
            Ok(watcher::Event::Delete(p)) => {
                if let (Some(ns), Some(name)) =
                    (p.metadata.namespace.as_deref(), p.metadata.name.as_deref())
                {
                    index.remove_pod(ns, name);
                }
            }
            Err(e) => tracing::warn!(error = %e, "pod watch failed; retrying"),
        }
    }
}
