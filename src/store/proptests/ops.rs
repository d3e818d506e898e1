//! The operations the property test interleaves, and how proptest draws them.

#[allow(unused_imports)]
use super::*;

pub(super) fn pod_ns(i: usize) -> &'static str {
    NS[i / 2 % 3]
}

pub(super) fn containers(i: usize) -> usize {
    1 + i % 2
}

/// What a scrape says about one container's counter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cpu {
    /// Grows by this many nanoseconds (0 is a valid, idle window).
    Inc(u32),
    /// Goes down: the store must drop the history, never serve a negative rate.
    Reset,
    /// New start time 12 s ago: served after one sample by the fresh-container rule.
    Restart,
}

/// How a scrape reports one of its node's pods.
#[derive(Debug, Clone, Copy)]
pub(super) enum Presence {
    Absent,
    Complete(Cpu),
    /// Only the first container: a two-container pod loses its second series.
    FirstOnly(Cpu),
    Incomplete,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    Now,
    WithState,
    /// After the resourceVersion of the n-th newest recorded snapshot.
    After(usize),
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    Scrape {
        node: usize,
        advance_ms: u32,
        node_sample: bool,
        /// The node's home pods: `node`, `node + 3`, `node + 6`, `node + 9`.
        pods: [Presence; PER_NODE],
        /// A pod of another node reported here too (it moved, or the kubelet lags).
        foreign: Option<usize>,
    },
    Relabel(usize),
    ToggleRunning(usize),
    TogglePodMeta(usize),
    ToggleNode(usize),
    RelabelNode(usize),
    Expire {
        advance_ms: u32,
    },
    List,
    SnapshotAt(usize),
    PageStart {
        nodes: bool,
        limit: u8,
        ns: Option<usize>,
        selector: bool,
    },
    PageNext(usize),
    Watch {
        nodes: bool,
        ns: Option<usize>,
        start: Start,
    },
    ApiWatch {
        nodes: bool,
        ns: Option<usize>,
        start: Start,
    },
    Unwatch(usize),
}

pub(super) fn cpu() -> impl Strategy<Value = Cpu> {
    prop_oneof![
        16 => (0u32..4_000_000_000).prop_map(Cpu::Inc),
        1 => Just(Cpu::Reset),
        1 => Just(Cpu::Restart),
    ]
}

pub(super) fn presence() -> impl Strategy<Value = Presence> {
    prop_oneof![
        1 => Just(Presence::Absent),
        12 => cpu().prop_map(Presence::Complete),
        1 => cpu().prop_map(Presence::FirstOnly),
        1 => Just(Presence::Incomplete),
    ]
}

pub(super) fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(Start::Now),
        Just(Start::WithState),
        (0usize..6).prop_map(Start::After),
    ]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let ns = proptest::option::of(0usize..NS.len());
    prop_oneof![
        16 => (
            0..NODES.len(),
            // Three nodes, each scraped about every 15 s of this clock.
            prop_oneof![1 => Just(0u32), 9 => 1u32..8_000],
            proptest::bool::weighted(0.9),
            [presence(), presence(), presence(), presence()],
            proptest::option::weighted(0.15, 0..PODS.len()),
        )
            .prop_map(|(node, advance_ms, node_sample, pods, foreign)| Op::Scrape {
                node,
                advance_ms,
                node_sample,
                pods,
                foreign,
            }),
        2 => (0..PODS.len()).prop_map(Op::Relabel),
        1 => (0..PODS.len()).prop_map(Op::ToggleRunning),
        1 => (0..PODS.len()).prop_map(Op::TogglePodMeta),
        1 => (0..NODES.len()).prop_map(Op::ToggleNode),
        1 => (0..NODES.len()).prop_map(Op::RelabelNode),
        // Mostly within the staleness bound; sometimes far past it.
        3 => prop_oneof![4 => 0u32..5_000, 1 => 40_000u32..70_000]
            .prop_map(|advance_ms| Op::Expire { advance_ms }),
        1 => Just(Op::List),
        2 => (0usize..8).prop_map(Op::SnapshotAt),
        2 => (any::<bool>(), 1u8..5, ns.clone(), any::<bool>()).prop_map(
            |(nodes, limit, ns, selector)| Op::PageStart {
                nodes,
                limit,
                ns,
                selector,
            }
        ),
        3 => (0usize..4).prop_map(Op::PageNext),
        2 => (proptest::bool::weighted(0.3), ns.clone(), start())
            .prop_map(|(nodes, ns, start)| Op::Watch { nodes, ns, start }),
        2 => (proptest::bool::weighted(0.3), ns, start())
            .prop_map(|(nodes, ns, start)| Op::ApiWatch { nodes, ns, start }),
        1 => (0usize..8).prop_map(Op::Unwatch),
    ]
}

pub(super) fn log_config() -> impl Strategy<Value = LogConfig> {
    // A short history makes resumes and continue tokens run into the horizon; keeping one snapshot
    // makes continue tokens rebuild their state by undoing the log.
    (
        prop_oneof![Just(6usize), Just(100_000)],
        prop_oneof![Just(1usize), Just(16)],
        prop_oneof![Just(0u64), Just(5_000)],
    )
        .prop_map(|(history, snapshots, base_rv)| LogConfig {
            history,
            channel_capacity: 4096,
            snapshots,
            base_rv,
        })
}
