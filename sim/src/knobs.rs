//! Knobs of a running simulation for the restart, staleness and window tests: cached kubelet
//! samples, CPU rates that step at a known time, container restarts and node reboots.

use std::sync::atomic::Ordering;

use super::{SimControl, model};

impl SimControl {
    /// Timestamps (Unix ms) of the samples node `node`'s kubelet served, oldest first: one per
    /// scrape that got metrics, so tests can tell scrapes apart by the samples they returned.
    pub fn served_samples(&self, node: usize) -> Vec<i64> {
        self.nodes
            .get(node)
            .map(|n| n.served.snapshot())
            .unwrap_or_default()
    }

    pub(crate) fn record_served(&self, node: usize, ts_ms: i64) {
        if let Some(n) = self.nodes.get(node) {
            n.served.push(ts_ms);
        }
    }

    /// Deletes node `node` from the fake apiserver (a DELETED event for watchers); its kubelet
    /// keeps answering, as a decommissioned machine might. Returns the new resourceVersion.
    pub fn delete_node(&self, node: usize) -> Option<u64> {
        let name = self
            .nodes
            .get(node)?
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .name
            .clone();
        self.store.delete(super::store::Kind::Node, "", &name)?;
        Some(self.store.current_rv())
    }

    /// Makes every kubelet answer samples taken at multiples of `period` (a cached kubelet:
    /// asking again within the period gives the same sample); zero restores fresh samples.
    pub fn set_sample_period(&self, period: std::time::Duration) {
        self.sample_period_ms
            .store(period.as_millis() as u64, Ordering::Relaxed);
    }

    /// The timestamp a kubelet stamps on a sample taken for a request at `now_ms`.
    pub fn sample_time(&self, now_ms: i64) -> i64 {
        match self.sample_period_ms.load(Ordering::Relaxed) as i64 {
            0 => now_ms,
            p => now_ms - now_ms.rem_euclid(p),
        }
    }

    /// Changes one container's CPU rate to `nanocores` from `at_ms` on (a usage profile that
    /// changes at a known time; the counter stays continuous). Returns false if no such container.
    pub fn set_cpu_from(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        at_ms: i64,
        nanocores: u64,
    ) -> bool {
        for live in &self.nodes {
            let mut st = live.state.write().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = st
                .pods
                .iter_mut()
                .filter(|p| p.namespace == namespace && p.name == pod)
                .flat_map(|p| p.containers.iter_mut())
                .find(|c| c.name == container)
            {
                c.cpu_change = Some(model::CpuChange { at_ms, nanocores });
                return true;
            }
        }
        false
    }

    /// Restarts one container at `at_ms`: a new start time, its CPU counter from zero (the node
    /// counter keeps the CPU time it had used). Returns false if no such container.
    pub fn restart_container(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        at_ms: i64,
    ) -> bool {
        for live in &self.nodes {
            let mut st = live.state.write().unwrap_or_else(|e| e.into_inner());
            let used = st
                .pods
                .iter()
                .filter(|p| p.namespace == namespace && p.name == pod)
                .flat_map(|p| p.containers.iter())
                .find(|c| c.name == container)
                .map(|c| c.cpu_core_nanos_at(at_ms));
            if let Some(used) = used {
                st.retired_core_nanos = st.retired_core_nanos.saturating_add(used);
                if let Some(c) = st
                    .pods
                    .iter_mut()
                    .filter(|p| p.namespace == namespace && p.name == pod)
                    .flat_map(|p| p.containers.iter_mut())
                    .find(|c| c.name == container)
                {
                    c.start_ms = at_ms;
                    c.cpu_change = None;
                }
                return true;
            }
        }
        false
    }

    /// Reboots node `node` at `at_ms`: its CPU counter and every container's start again from
    /// `at_ms` (a counter that goes down, new start times).
    pub fn reboot_node(&self, node: usize, at_ms: i64) {
        if let Some(live) = self.nodes.get(node) {
            let mut st = live.state.write().unwrap_or_else(|e| e.into_inner());
            st.boot_ms = at_ms;
            st.retired_core_nanos = 0;
            for c in st.pods.iter_mut().flat_map(|p| p.containers.iter_mut()) {
                c.start_ms = at_ms;
                c.cpu_change = None;
            }
        }
    }
}
