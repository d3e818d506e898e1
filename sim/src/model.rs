//! The deterministic scenario: nodes, pods, containers and their usage curves.
//!
//! Pure data and arithmetic, no I/O, so tests can compute the exact values the fake kubelets
//! report. Randomness comes from a private SplitMix64 generator (not `rand`), so a seed gives the
//! same cluster across crate versions. Every node draws from its own stream, so node `i` looks
//! the same whether the cluster has 3 or 3000 nodes.

use std::collections::HashSet;

const MI: u64 = 1024 * 1024;
const GI: u64 = 1024 * MI;

/// SplitMix64: tiny, fast, and stable forever (unlike `rand`'s generators).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A value in `lo..=hi` (slightly biased, which is fine for a simulation).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// The SplitMix64 finaliser, used as a stateless hash.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The whole simulated cluster as it is at start.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Nodes in index order (`sim-node-<i>`).
    pub nodes: Vec<SimNode>,
    /// Wall-clock time (Unix ms) the scenario was generated for; all ages are relative to it.
    pub started_ms: i64,
}

/// One node and the pods scheduled on it.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Node name.
    pub name: String,
    /// Node labels, copied onto NodeMetrics.
    pub labels: Vec<(String, String)>,
    /// Creation time, Unix seconds.
    pub created_s: i64,
    /// Last boot, Unix ms: the node CPU counter starts here.
    pub boot_ms: i64,
    /// CPU used outside pods (system daemons), constant.
    pub overhead_nanocores: u64,
    /// Memory used outside pods, constant.
    pub overhead_memory: u64,
    /// CPU capacity in millicores (`status.capacity.cpu`).
    pub cpu_capacity_millis: u64,
    /// Memory capacity in bytes (`status.capacity.memory`).
    pub memory_capacity: u64,
    /// CPU time (core-nanoseconds) of containers that were deleted at runtime; keeps the node
    /// counter monotonic like a real node's.
    pub retired_core_nanos: u64,
    /// Pods scheduled here.
    pub pods: Vec<SimPod>,
}

/// One pod.
#[derive(Debug, Clone)]
pub struct SimPod {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// Pod labels, for selector tests.
    pub labels: Vec<(String, String)>,
    /// Creation time, Unix seconds.
    pub created_s: i64,
    /// Containers, each with its own rate.
    pub containers: Vec<SimContainer>,
}

/// A change of a container's CPU rate at a known time (a usage profile with one step), so tests
/// can check averages over windows that span it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuChange {
    /// When the new rate starts, Unix ms.
    pub at_ms: i64,
    /// The rate from then on, nanocores.
    pub nanocores: u64,
}

/// One container with a constant CPU rate and a memory level that wobbles per second.
#[derive(Debug, Clone)]
pub struct SimContainer {
    /// Container name.
    pub name: String,
    /// CPU rate, nanocores: what the API must report (until `cpu_change`, if any).
    pub cpu_nanocores: u64,
    /// A step of the CPU rate at a known time; `None` for a constant rate.
    pub cpu_change: Option<CpuChange>,
    /// Memory before the per-second wobble, bytes.
    pub memory_base: u64,
    /// Container start, Unix ms: the CPU counter starts here.
    pub start_ms: i64,
}

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

struct AppKind {
    namespace: &'static str,
    app: &'static str,
    tier: &'static str,
    sidecars: &'static [&'static str],
}

const APPS: &[AppKind] = &[
    AppKind {
        namespace: "default",
        app: "web",
        tier: "frontend",
        sidecars: &["envoy"],
    },
    AppKind {
        namespace: "default",
        app: "api",
        tier: "backend",
        sidecars: &["envoy", "log-shipper"],
    },
    AppKind {
        namespace: "kube-system",
        app: "coredns",
        tier: "backend",
        sidecars: &[],
    },
    AppKind {
        namespace: "kube-system",
        app: "kube-proxy",
        tier: "backend",
        sidecars: &[],
    },
    AppKind {
        namespace: "shop",
        app: "web",
        tier: "frontend",
        sidecars: &["envoy"],
    },
    AppKind {
        namespace: "shop",
        app: "cart",
        tier: "backend",
        sidecars: &["envoy", "log-shipper"],
    },
    AppKind {
        namespace: "shop",
        app: "catalog",
        tier: "frontend",
        sidecars: &["cache"],
    },
    AppKind {
        namespace: "batch",
        app: "report",
        tier: "batch",
        sidecars: &[],
    },
    AppKind {
        namespace: "batch",
        app: "etl",
        tier: "batch",
        sidecars: &["log-shipper"],
    },
];

fn safe_string(rng: &mut SplitMix64, len: usize) -> String {
    (0..len).map(|_| *rng.pick(SAFE_ALPHABET) as char).collect()
}

/// A random-looking (version 4 shaped) UUID drawn from `rng`.
pub fn uuid(rng: &mut SplitMix64) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// FNV-1a of a string, for seeding per-name streams.
pub fn name_seed(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn node_rng(seed: u64, index: usize) -> SplitMix64 {
    SplitMix64::new(mix64(seed ^ mix64(index as u64 + 0x5151)))
}

impl Scenario {
    /// Generates the cluster for `seed`; `now_ms` anchors creation and start times in the past.
    pub fn new(seed: u64, nodes: usize, pods_per_node: usize, now_ms: i64) -> Self {
        let now_s = now_ms.div_euclid(1000);
        let mut names: HashSet<(String, String)> = HashSet::new();
        let mut out = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let mut rng = node_rng(seed, i);
            let name = format!("sim-node-{i}");
            let mut labels = vec![
                ("kubernetes.io/arch".to_string(), "amd64".to_string()),
                ("kubernetes.io/hostname".to_string(), name.clone()),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ];
            if i == 0 {
                labels.push((
                    "node-role.kubernetes.io/control-plane".to_string(),
                    String::new(),
                ));
            } else {
                labels.push(("node-role.kubernetes.io/worker".to_string(), String::new()));
            }
            let zone = if i % 2 == 0 { "a" } else { "b" };
            labels.push(("sim.metrics/zone".to_string(), zone.to_string()));

            // Nodes joined 10–40 days ago and last booted 1–9 days ago.
            let created_s = now_s - rng.range(10 * 86_400, 40 * 86_400) as i64;
            let boot_age_s = rng.range(86_400, 9 * 86_400) as i64;
            let boot_ms = (now_s - boot_age_s) * 1000 + rng.range(0, 999) as i64;
            let overhead_nanocores = rng.range(50_000_000, 400_000_000);
            let overhead_memory = rng.range(300 * MI, 1536 * MI);

            let mut pods = Vec::with_capacity(pods_per_node);
            for _ in 0..pods_per_node {
                let pod = generate_pod(&mut rng, boot_age_s - 60, now_s, &mut names);
                pods.push(pod);
            }

            let cpu_sum: u64 = overhead_nanocores
                + pods
                    .iter()
                    .flat_map(|p| &p.containers)
                    .map(|c| c.cpu_nanocores)
                    .sum::<u64>();
            let mem_sum: u64 = overhead_memory
                + pods
                    .iter()
                    .flat_map(|p| &p.containers)
                    .map(|c| c.memory_base)
                    .sum::<u64>();
            let mut cores = 4u64;
            while cores * 1_000_000_000 < cpu_sum.saturating_mul(3) / 2 {
                cores *= 2;
            }
            let mut mem = 8 * GI;
            while mem < mem_sum.saturating_mul(3) / 2 {
                mem *= 2;
            }
            out.push(SimNode {
                name,
                labels,
                created_s,
                boot_ms,
                overhead_nanocores,
                overhead_memory,
                cpu_capacity_millis: cores * 1000,
                memory_capacity: mem,
                retired_core_nanos: 0,
                pods,
            });
        }
        Scenario {
            nodes: out,
            started_ms: now_ms,
        }
    }

    /// Every pod of the cluster with the index of its node.
    pub fn pods(&self) -> impl Iterator<Item = (usize, &SimPod)> {
        self.nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.pods.iter().map(move |p| (i, p)))
    }

    /// The namespaces used by the pods, sorted and deduplicated.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self.pods().map(|(_, p)| p.namespace.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

fn generate_pod(
    rng: &mut SplitMix64,
    max_age_s: i64,
    now_s: i64,
    names: &mut HashSet<(String, String)>,
) -> SimPod {
    let kind = rng.pick(APPS);
    let template_hash = safe_string(rng, 9);
    let mut name = format!("{}-{}-{}", kind.app, template_hash, safe_string(rng, 5));
    while !names.insert((kind.namespace.to_string(), name.clone())) {
        name = format!("{}-{}-{}", kind.app, template_hash, safe_string(rng, 5));
    }
    // Pods are 1–240 hours old but never older than the node's boot. All draws use whole
    // seconds relative to `now_s` with constant ranges, so the scenario does not depend on
    // the sub-second part of the start time.
    let age_s = (rng.range(3_600, 240 * 3_600) as i64).min(max_age_s);
    let created_s = now_s - age_s;
    let n_containers = 1 + (rng.next_u64() % (kind.sidecars.len() as u64 + 1)).min(2) as usize;
    let mut containers = Vec::with_capacity(n_containers);
    for c in 0..n_containers {
        let cname = if c == 0 {
            kind.app.to_string()
        } else {
            kind.sidecars[c - 1].to_string()
        };
        containers.push(SimContainer {
            name: cname,
            cpu_nanocores: rng.range(1_000_000, 900_000_000),
            cpu_change: None,
            memory_base: rng.range(4 * MI, 512 * MI),
            start_ms: created_s * 1000 + rng.range(1_000, 30_000) as i64,
        });
    }
    SimPod {
        namespace: kind.namespace.to_string(),
        uid: uuid(rng),
        labels: vec![
            ("app".to_string(), kind.app.to_string()),
            ("pod-template-hash".to_string(), template_hash),
            ("tier".to_string(), kind.tier.to_string()),
        ],
        name,
        created_s,
        containers,
    }
}

impl SimPod {
    /// A new pod for runtime injection (`SimControl::add_pod`): one container per entry of
    /// `containers` (name, nanocores, memory bytes), started at `now_ms`, uid derived from `seed`.
    pub fn new_running(
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        containers: &[(&str, u64, u64)],
        seed: u64,
        now_ms: i64,
    ) -> Self {
        let mut rng = SplitMix64::new(mix64(seed ^ 0xadd));
        SimPod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uuid(&mut rng),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created_s: now_ms.div_euclid(1000),
            containers: containers
                .iter()
                .map(|(n, cpu, mem)| SimContainer {
                    name: n.to_string(),
                    cpu_nanocores: *cpu,
                    cpu_change: None,
                    memory_base: *mem,
                    start_ms: now_ms,
                })
                .collect(),
        }
    }

    /// Sum of the containers' CPU rates.
    pub fn cpu_nanocores(&self) -> u64 {
        self.containers.iter().map(|c| c.cpu_nanocores).sum()
    }

    /// Sum of the containers' cumulative CPU seconds at `ts_ms`.
    pub fn cpu_seconds_at(&self, ts_ms: i64) -> f64 {
        self.containers
            .iter()
            .map(|c| c.cpu_seconds_at(ts_ms))
            .sum()
    }

    /// Sum of the containers' cumulative CPU time in core-nanoseconds at `ts_ms`.
    pub fn cpu_core_nanos_at(&self, ts_ms: i64) -> u64 {
        self.containers
            .iter()
            .map(|c| c.cpu_core_nanos_at(ts_ms))
            .sum()
    }

    /// Sum of the containers' working sets at `ts_ms` (whole-second rule).
    pub fn memory_at(&self, ts_ms: i64) -> u64 {
        self.containers.iter().map(|c| c.memory_at(ts_ms)).sum()
    }

    /// Sum of the containers' swap.
    pub fn swap_bytes(&self) -> u64 {
        self.containers.iter().map(|c| c.swap_bytes()).sum()
    }

    /// Label value for `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl SimContainer {
    /// Cumulative CPU seconds at `ts_ms`: rate × time since start (0 before start), the rate
    /// stepping at `cpu_change`.
    pub fn cpu_seconds_at(&self, ts_ms: i64) -> f64 {
        self.cpu_core_nanos_at(ts_ms) as f64 / 1e9
    }

    /// Cumulative CPU time in core-nanoseconds at `ts_ms`, exact integer arithmetic (the Summary
    /// API's `usageCoreNanoSeconds`).
    pub fn cpu_core_nanos_at(&self, ts_ms: i64) -> u64 {
        let span = |from: i64, to: i64, rate: u64| (to - from).max(0) as u128 * rate as u128 / 1000;
        let total = match self.cpu_change {
            None => span(self.start_ms, ts_ms, self.cpu_nanocores),
            Some(c) => {
                let at = c.at_ms.max(self.start_ms);
                span(self.start_ms, ts_ms.min(at), self.cpu_nanocores)
                    + span(at, ts_ms, c.nanocores)
            }
        };
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// Average CPU rate over `[from_ms, to_ms]`, nanocores: what a window over that span reports.
    pub fn average_nanocores(&self, from_ms: i64, to_ms: i64) -> u64 {
        let d = self.cpu_core_nanos_at(to_ms) - self.cpu_core_nanos_at(from_ms);
        (d as u128 * 1000 / (to_ms - from_ms).max(1) as u128) as u64
    }

    /// Working set at `ts_ms`: base plus a wobble of up to 1/16 of base that depends only on the
    /// whole second `ts_ms / 1000`, so second-precision API timestamps determine it exactly.
    pub fn memory_at(&self, ts_ms: i64) -> u64 {
        wobble(self.memory_base, ts_ms)
    }

    /// Swap in use, bytes: a third of the containers (chosen by their memory base, so no random
    /// draw shifts the rest of the model) swap out an eighth of their base, page-aligned; the rest
    /// none. Constant, so any API timestamp determines it.
    pub fn swap_bytes(&self) -> u64 {
        if mix64(self.memory_base).is_multiple_of(3) {
            (self.memory_base / 8) & !4095
        } else {
            0
        }
    }
}

fn wobble(base: u64, ts_ms: i64) -> u64 {
    let sec = ts_ms.div_euclid(1000) as u64;
    base + mix64(sec ^ base.rotate_left(17)) % (base / 16 + 1)
}

impl SimNode {
    /// Sum of all containers' CPU rates plus the node overhead.
    pub fn cpu_nanocores(&self) -> u64 {
        self.overhead_nanocores + self.pods.iter().map(|p| p.cpu_nanocores()).sum::<u64>()
    }

    /// Cumulative node CPU seconds at `ts_ms`: containers + overhead since boot + retired.
    pub fn cpu_seconds_at(&self, ts_ms: i64) -> f64 {
        let dt = (ts_ms - self.boot_ms).max(0) as f64;
        self.overhead_nanocores as f64 * dt / 1e12
            + self.retired_core_nanos as f64 / 1e9
            + self
                .pods
                .iter()
                .map(|p| p.cpu_seconds_at(ts_ms))
                .sum::<f64>()
    }

    /// Cumulative node CPU in core-nanoseconds at `ts_ms`, exact integer arithmetic.
    pub fn cpu_core_nanos_at(&self, ts_ms: i64) -> u64 {
        let dt = (ts_ms - self.boot_ms).max(0) as u128;
        let overhead = u64::try_from(self.overhead_nanocores as u128 * dt / 1000).unwrap_or(0);
        overhead
            .saturating_add(self.retired_core_nanos)
            .saturating_add(self.pods.iter().map(|p| p.cpu_core_nanos_at(ts_ms)).sum())
    }

    /// Node working set at `ts_ms`: containers' `memory_at` plus overhead (whole-second rule).
    pub fn memory_at(&self, ts_ms: i64) -> u64 {
        self.overhead_memory + self.pods.iter().map(|p| p.memory_at(ts_ms)).sum::<u64>()
    }

    /// Node swap: the pods' swap (system daemons swap nothing here).
    pub fn swap_bytes(&self) -> u64 {
        self.pods.iter().map(|p| p.swap_bytes()).sum()
    }

    /// Allocatable CPU in millicores: capacity minus a 100m system reservation.
    pub fn cpu_allocatable_millis(&self) -> u64 {
        self.cpu_capacity_millis.saturating_sub(100)
    }

    /// Allocatable memory in bytes: capacity minus a 512Mi system reservation.
    pub fn memory_allocatable(&self) -> u64 {
        self.memory_capacity.saturating_sub(512 * MI)
    }

    /// Label value for `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_012_345;

    #[test]
    fn deterministic_from_seed() {
        let a = Scenario::new(7, 5, 6, NOW);
        let b = Scenario::new(7, 5, 6, NOW);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let c = Scenario::new(8, 5, 6, NOW);
        assert_ne!(format!("{:?}", a.nodes), format!("{:?}", c.nodes));
    }

    #[test]
    fn relative_times_do_not_depend_on_start_time() {
        let a = Scenario::new(5, 3, 8, NOW);
        for later in [NOW + 1, NOW + 654, NOW + 86_400_123] {
            let b = Scenario::new(5, 3, 8, later);
            let shift_s = later.div_euclid(1000) - NOW.div_euclid(1000);
            for (na, nb) in a.nodes.iter().zip(&b.nodes) {
                assert_eq!(nb.created_s - na.created_s, shift_s);
                assert_eq!(nb.boot_ms - na.boot_ms, shift_s * 1000);
                for (pa, pb) in na.pods.iter().zip(&nb.pods) {
                    assert_eq!(pa.name, pb.name);
                    assert_eq!(pb.created_s - pa.created_s, shift_s);
                    for (ca, cb) in pa.containers.iter().zip(&pb.containers) {
                        assert_eq!(ca.cpu_nanocores, cb.cpu_nanocores);
                        assert_eq!(ca.memory_base, cb.memory_base);
                        assert_eq!(cb.start_ms - ca.start_ms, shift_s * 1000);
                    }
                }
            }
        }
    }

    #[test]
    fn nodes_do_not_depend_on_cluster_size() {
        let small = Scenario::new(3, 2, 4, NOW);
        let big = Scenario::new(3, 20, 4, NOW);
        assert_eq!(
            format!("{:?}", small.nodes[1]),
            format!("{:?}", big.nodes[1])
        );
    }

    #[test]
    fn stable_values_across_versions() {
        // Pins the generator: if this changes, recorded expectations elsewhere would too.
        let s = Scenario::new(1, 1, 1, NOW);
        let pod = &s.nodes[0].pods[0];
        let again = Scenario::new(1, 1, 1, NOW);
        assert_eq!(pod.name, again.nodes[0].pods[0].name);
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn shape_of_the_cluster() {
        let s = Scenario::new(1, 4, 10, NOW);
        assert_eq!(s.nodes.len(), 4);
        let mut keys = HashSet::new();
        for (i, node) in s.nodes.iter().enumerate() {
            assert_eq!(node.name, format!("sim-node-{i}"));
            assert_eq!(
                node.label("kubernetes.io/hostname"),
                Some(node.name.as_str())
            );
            assert_eq!(node.label("kubernetes.io/os"), Some("linux"));
            assert!(matches!(node.label("sim.metrics/zone"), Some("a" | "b")));
            assert!(node.created_s * 1000 < node.boot_ms);
            assert!(node.boot_ms < NOW);
            assert_eq!(node.pods.len(), 10);
            assert!(node.cpu_nanocores() * 1000 / 1_000_000_000 < node.cpu_capacity_millis * 1000);
            for pod in &node.pods {
                assert!(keys.insert((pod.namespace.clone(), pod.name.clone())));
                assert!(
                    ["default", "kube-system", "shop", "batch"].contains(&pod.namespace.as_str())
                );
                let app = pod.label("app").unwrap();
                assert!(pod.name.starts_with(&format!("{app}-")));
                assert!(matches!(
                    pod.label("tier"),
                    Some("frontend" | "backend" | "batch")
                ));
                assert!((1..=3).contains(&pod.containers.len()));
                assert!(pod.created_s * 1000 <= NOW - 3_600_000);
                for c in &pod.containers {
                    assert!((1_000_000..=900_000_000).contains(&c.cpu_nanocores));
                    assert!((4 * MI..=512 * MI).contains(&c.memory_base));
                    assert!(c.start_ms > pod.created_s * 1000);
                    assert!(c.start_ms < NOW - 3_000_000);
                    assert!(c.swap_bytes() < c.memory_base && c.swap_bytes().is_multiple_of(4096));
                }
            }
        }
        let swapping = s
            .pods()
            .flat_map(|(_, p)| &p.containers)
            .filter(|c| c.swap_bytes() > 0)
            .count();
        assert!(
            swapping > 0,
            "some containers swap, so the API has swap to show"
        );
    }

    #[test]
    fn memory_depends_only_on_whole_seconds() {
        let s = Scenario::new(2, 2, 5, NOW);
        let node = &s.nodes[1];
        let c = &node.pods[0].containers[0];
        let base = 1_764_000_100_000;
        assert_eq!(c.memory_at(base), c.memory_at(base + 999));
        assert_eq!(node.memory_at(base), node.memory_at(base + 500));
        let varies = (0..20).any(|s| c.memory_at(base + s * 1000) != c.memory_at(base));
        assert!(varies);
        for s in 0..50 {
            let m = c.memory_at(base + s * 1000);
            assert!(m >= c.memory_base && m <= c.memory_base + c.memory_base / 16);
        }
    }

    #[test]
    fn cpu_rate_steps_at_the_change_and_the_counter_stays_continuous() {
        let mut c = SimContainer {
            name: "c".into(),
            cpu_nanocores: 100_000_000,
            cpu_change: None,
            memory_base: 1,
            start_ms: NOW,
        };
        let before = c.cpu_core_nanos_at(NOW + 30_000);
        c.cpu_change = Some(CpuChange {
            at_ms: NOW + 30_000,
            nanocores: 400_000_000,
        });
        assert_eq!(c.cpu_core_nanos_at(NOW + 30_000), before);
        assert_eq!(c.average_nanocores(NOW, NOW + 30_000), 100_000_000);
        assert_eq!(c.average_nanocores(NOW + 30_000, NOW + 90_000), 400_000_000);
        assert_eq!(c.average_nanocores(NOW, NOW + 60_000), 250_000_000);
    }

    #[test]
    fn cpu_is_linear() {
        let s = Scenario::new(2, 1, 3, NOW);
        let node = &s.nodes[0];
        let c = &node.pods[0].containers[0];
        let d = c.cpu_seconds_at(NOW + 10_000) - c.cpu_seconds_at(NOW);
        assert!((d / 10.0 * 1e9 - c.cpu_nanocores as f64).abs() < 1.0);
        assert_eq!(c.cpu_seconds_at(c.start_ms - 5), 0.0);
        let nanos = node.cpu_core_nanos_at(NOW + 1000) - node.cpu_core_nanos_at(NOW);
        assert_eq!(nanos, node.cpu_nanocores());
        let secs = node.cpu_seconds_at(NOW);
        assert!((secs - node.cpu_core_nanos_at(NOW) as f64 / 1e9).abs() < 1e-3);
    }
}
