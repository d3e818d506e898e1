//! What the scraper knows about each node, for readiness (`/readyz` waits only for nodes that can
//! still give metrics) and self-metrics (failing nodes, state changes, retries).

use std::sync::atomic::AtomicU64;

use dashmap::DashMap;

/// Why a node's metrics are, or are not yet, served, as of its latest scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeStatus {
    /// Not scraped yet: the first request is waiting for a permit or in flight.
    Pending,
    /// The kubelet answered, but one sample gives no rate yet: the next one will.
    AwaitingRate,
    /// The node is served; its kubelet reports pods but none is served yet.
    AwaitingPods,
    /// Node metrics are served, and pod metrics where the kubelet reports pods.
    Complete,
    /// The kubelet answers 200 but with no usable node sample (no `node_*` series, an empty body):
    /// a definite reason, so readiness does not wait for it.
    NoNodeSample,
    /// The latest scrape failed after its retries: a definite reason. Its last good metrics stay
    /// served until the staleness bound.
    Failed,
    /// Failed several periods in a row: scraped less often until it answers again.
    Failing,
}

impl NodeStatus {
    /// True when readiness must not wait for this node: it is served, or it cannot give metrics.
    pub fn settled(self) -> bool {
        !matches!(
            self,
            NodeStatus::Pending | NodeStatus::AwaitingRate | NodeStatus::AwaitingPods
        )
    }

    /// Short human reason, used in `/readyz?verbose` and logs.
    pub fn reason(self) -> &'static str {
        match self {
            NodeStatus::Pending => "not scraped yet",
            NodeStatus::AwaitingRate => "waiting for a second sample",
            NodeStatus::AwaitingPods => "waiting for pod metrics",
            NodeStatus::Complete => "served",
            NodeStatus::NoNodeSample => "kubelet gives no node sample",
            NodeStatus::Failed => "scrape failed",
            NodeStatus::Failing => "failing, scraped less often",
        }
    }
}

/// Counters read by health checks and self-metrics.
#[derive(Debug, Default)]
pub struct ScrapeStats {
    /// Successful kubelet scrapes.
    pub success: AtomicU64,
    /// Failed kubelet scrapes (each attempt, retries included).
    pub failure: AtomicU64,
    /// Retries of failed requests inside a period.
    pub retries: AtomicU64,
    /// Series skipped by the decoder (malformed lines).
    pub skipped_series: AtomicU64,
    /// Unix ms of the last scheduled scrape start (liveness: collection is timely).
    pub last_tick_ms: AtomicU64,
    /// Nodes that became failing (scraped less often).
    pub became_failing: AtomicU64,
    /// Failing nodes that answered again.
    pub recovered: AtomicU64,
    /// Each known node's status after its latest scrape (readiness).
    pub status: DashMap<Box<str>, NodeStatus>,
}

impl ScrapeStats {
    /// Sets a node's status.
    pub fn set(&self, node: &str, status: NodeStatus) {
        self.status.insert(node.into(), status);
    }

    /// A node's status (`Pending` when unknown).
    pub fn get(&self, node: &str) -> NodeStatus {
        self.status.get(node).map_or(NodeStatus::Pending, |s| *s)
    }

    /// Number of nodes in each status, in the enum's order.
    pub fn counts(&self) -> Vec<(NodeStatus, usize)> {
        let mut m = std::collections::BTreeMap::new();
        for e in self.status.iter() {
            *m.entry(*e.value()).or_insert(0usize) += 1;
        }
        m.into_iter().collect()
    }

    /// Nodes failing now (scraped less often), for `metrics_apiserver_failing_nodes`.
    pub fn failing_count(&self) -> usize {
        self.status
            .iter()
            .filter(|e| *e.value() == NodeStatus::Failing)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_statuses_are_the_definite_ones() {
        for s in [
            NodeStatus::Pending,
            NodeStatus::AwaitingRate,
            NodeStatus::AwaitingPods,
        ] {
            assert!(!s.settled(), "{s:?} is awaited");
        }
        for s in [
            NodeStatus::Complete,
            NodeStatus::NoNodeSample,
            NodeStatus::Failed,
            NodeStatus::Failing,
        ] {
            assert!(s.settled(), "{s:?} is not awaited");
        }
        let st = ScrapeStats::default();
        st.set("a", NodeStatus::Failing);
        st.set("b", NodeStatus::Complete);
        st.set("c", NodeStatus::Complete);
        assert_eq!(st.get("zzz"), NodeStatus::Pending);
        assert_eq!(
            st.counts(),
            vec![(NodeStatus::Complete, 2), (NodeStatus::Failing, 1)]
        );
        assert_eq!(st.failing_count(), 1);
    }
}
