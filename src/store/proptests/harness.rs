//! The store under test, its cluster view, and what was recorded to check against.

#[allow(unused_imports)]
use super::*;

/// A paged list in progress: what its first page's snapshot holds, what pages returned so far.
pub(super) struct Paged {
    pub(super) who: String,
    pub(super) nodes: bool,
    pub(super) ns: Option<&'static str>,
    pub(super) query: String,
    pub(super) expected: Vec<String>,
    pub(super) got: Vec<String>,
    pub(super) rv: u64,
    pub(super) token: String,
    pub(super) unfiltered: bool,
}

/// One recorded state of the log: both kinds' snapshots at one resourceVersion.
pub(super) struct Recorded {
    pub(super) nodes: Snapshot<NodeObject>,
    pub(super) pods: Snapshot<PodObject>,
}

pub(super) struct Harness {
    pub(super) meta: Arc<StaticMeta>,
    pub(super) store: Store,
    pub(super) now: i64,
    /// (node, pod, container) → (counter, start): what each kubelet's series report next.
    pub(super) series: BTreeMap<(usize, usize, usize), (u64, i64)>,
    pub(super) node_cpu: [u64; 3],
    /// Last commit of each node's scrape while the node was in the cluster.
    pub(super) scraped: [Option<i64>; 3],
    /// Mirrors of everything, from subscriptions made before the first commit.
    pub(super) all_nodes: Raw<NodeObject>,
    pub(super) all_pods: Raw<PodObject>,
    /// Every event version seen, both kinds.
    pub(super) rvs: BTreeSet<u64>,
    pub(super) history: Vec<Recorded>,
    pub(super) raw_nodes: Vec<Raw<NodeObject>>,
    pub(super) raw_pods: Vec<Raw<PodObject>>,
    pub(super) api: Vec<ApiWatcher>,
    pub(super) pages: Vec<Paged>,
    pub(super) watchers: Watchers,
    pub(super) serial: usize,
    pub(super) _shutdown: tokio::sync::watch::Sender<bool>,
    /// Last, so that streams holding its timers drop before it.
    pub(super) rt: tokio::runtime::Runtime,
}

pub(super) fn labels(k: &str, v: &str) -> Labels {
    vec![(k.into(), v.into())].into()
}

pub(super) fn pod_meta(i: usize, app: &str, running: bool) -> PodMeta {
    PodMeta {
        meta: ObjectMeta {
            labels: labels("app", app),
            uid: format!("uid-{}", PODS[i]).into(),
            created_s: 1,
        },
        running,
        node: Some(NODES[i % 3].into()),
    }
}

pub(super) fn node_meta(zone: &str) -> ObjectMeta {
    ObjectMeta {
        labels: labels("zone", zone),
        uid: "uid-node".into(),
        created_s: 1,
    }
}

/// A subscription to every object of kind `T`, from the empty start.
pub(super) fn mirror<T: Kind>(store: &Store, who: &str) -> Raw<T> {
    let sub = store
        .log()
        .subscribe::<T>(None, WatchStart::Now)
        .expect("subscribe");
    Raw {
        who: who.into(),
        ns: None,
        state: Map::new(),
        last: sub.rv,
        rx: sub.events,
    }
}

impl Harness {
    pub(super) fn new(log: LogConfig) -> Self {
        let meta = Arc::new(StaticMeta::default());
        for (n, name) in NODES.iter().enumerate() {
            meta.nodes
                .insert(name.to_string(), node_meta(["a", "b"][n % 2]));
        }
        for (i, name) in PODS.iter().enumerate() {
            meta.pods.insert(
                (pod_ns(i).to_string(), name.to_string()),
                pod_meta(i, ["web", "db"][i % 2], true),
            );
        }
        let store = Store::new(
            StoreConfig {
                depth: 4,
                resolution_ms: RESOLUTION_MS,
                max_age_ms: MAX_AGE_MS,
            },
            log,
            meta.clone(),
        );
        let all_nodes = mirror(&store, "mirror(nodes)");
        let all_pods = mirror(&store, "mirror(pods)");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let history = vec![Recorded {
            nodes: store.log().snapshot(),
            pods: store.log().snapshot(),
        }];
        Harness {
            meta,
            store,
            now: T0,
            series: BTreeMap::new(),
            node_cpu: [0; 3],
            scraped: [None; 3],
            all_nodes,
            all_pods,
            rvs: BTreeSet::new(),
            history,
            raw_nodes: Vec::new(),
            raw_pods: Vec::new(),
            api: Vec::new(),
            pages: Vec::new(),
            watchers: Watchers::new(WatchConfig::default(), rx),
            serial: 0,
            _shutdown: tx,
            rt,
        }
    }

    pub(super) fn log(&self) -> &Arc<ChangeLog> {
        self.store.log()
    }

    pub(super) fn recorded(&self, back: usize) -> &Recorded {
        &self.history[self.history.len() - 1 - back % self.history.len()]
    }

    pub(super) fn who(&mut self, what: String) -> String {
        self.serial += 1;
        format!("#{} {what}", self.serial)
    }

    pub(super) fn sample(
        &mut self,
        node: usize,
        pod: usize,
        c: usize,
        cpu: Cpu,
    ) -> ContainerSample<'static> {
        let now = self.now;
        let s = self
            .series
            .entry((node, pod, c))
            .or_insert((0, T0 - 3_600_000));
        match cpu {
            Cpu::Inc(d) => s.0 += u64::from(d),
            Cpu::Reset => s.0 /= 2,
            Cpu::Restart => *s = (1_000_000 * (pod as u64 + 1), now - 12_000),
        }
        ContainerSample {
            name: CONTAINERS[c],
            start_ms: s.1,
            sample: Sample {
                timestamp_ms: now,
                cpu_ns: s.0,
                memory_bytes: (1 << 20) + s.0 % 4096,
            },
            swap_bytes: None,
        }
    }

    pub(super) fn pod_batch(
        &mut self,
        node: usize,
        pod: usize,
        n: usize,
        cpu: Cpu,
    ) -> PodBatch<'static> {
        PodBatch {
            namespace: pod_ns(pod),
            name: PODS[pod],
            containers: (0..n).map(|c| self.sample(node, pod, c, cpu)).collect(),
        }
    }

    pub(super) fn scrape(
        &mut self,
        node: usize,
        advance_ms: u32,
        node_sample: bool,
        pods: [Presence; PER_NODE],
        foreign: Option<usize>,
    ) {
        self.now += i64::from(advance_ms);
        if self.meta.nodes.contains_key(NODES[node]) {
            self.scraped[node] = Some(self.now);
        }
        let mut batch = NodeBatch {
            node: NODES[node],
            node_sample: None,
            pods: Vec::new(),
            incomplete_pods: Vec::new(),
            node_swap: None,
        };
        if node_sample {
            self.node_cpu[node] += u64::from(advance_ms) * 2_000_000;
            batch.node_sample = Some(Sample {
                timestamp_ms: self.now,
                cpu_ns: self.node_cpu[node],
                memory_bytes: 1 << 30,
            });
        }
        for (k, p) in pods.into_iter().enumerate() {
            let pod = node + NODES.len() * k;
            match p {
                Presence::Absent => {}
                Presence::Complete(cpu) => {
                    let b = self.pod_batch(node, pod, containers(pod), cpu);
                    batch.pods.push(b);
                }
                Presence::FirstOnly(cpu) => {
                    let b = self.pod_batch(node, pod, 1, cpu);
                    batch.pods.push(b);
                }
                Presence::Incomplete => batch.incomplete_pods.push((pod_ns(pod), PODS[pod])),
            }
        }
        if let Some(pod) = foreign.filter(|p| p % NODES.len() != node) {
            let b = self.pod_batch(node, pod, containers(pod), Cpu::Inc(100_000_000));
            batch.pods.push(b);
        }
        self.store.commit(&batch, self.now);
    }

    pub(super) fn pod_changed(&self, i: usize) {
        self.store
            .pod_changed(pod_ns(i), PODS[i], Some(NODES[i % 3]));
    }

    pub(super) fn run(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Scrape {
                node,
                advance_ms,
                node_sample,
                pods,
                foreign,
            } => self.scrape(node, advance_ms, node_sample, pods, foreign),
            Op::Relabel(i) => {
                if let Some(mut m) = self
                    .meta
                    .pods
                    .get_mut(&(pod_ns(i).to_string(), PODS[i].to_string()))
                {
                    let web = m.meta.labels[0].1.as_ref() == "web";
                    m.meta.labels = labels("app", if web { "db" } else { "web" });
                }
                self.pod_changed(i);
            }
            Op::ToggleRunning(i) => {
                if let Some(mut m) = self
                    .meta
                    .pods
                    .get_mut(&(pod_ns(i).to_string(), PODS[i].to_string()))
                {
                    m.running = !m.running;
                }
                self.pod_changed(i);
            }
            Op::TogglePodMeta(i) => {
                let key = (pod_ns(i).to_string(), PODS[i].to_string());
                if self.meta.pods.remove(&key).is_none() {
                    self.meta.pods.insert(key, pod_meta(i, "web", true));
                }
                self.pod_changed(i);
            }
            Op::ToggleNode(n) => {
                if self.meta.nodes.remove(NODES[n]).is_none() {
                    self.meta.nodes.insert(NODES[n].into(), node_meta("a"));
                }
                self.store.node_changed(NODES[n]);
            }
            Op::RelabelNode(n) => {
                if let Some(mut m) = self.meta.nodes.get_mut(NODES[n]) {
                    let a = m.labels[0].1.as_ref() == "a";
                    *m = node_meta(if a { "b" } else { "a" });
                }
                self.store.node_changed(NODES[n]);
            }
            Op::Expire { advance_ms } => {
                self.now += i64::from(advance_ms);
                self.store.expire(self.now);
                // Nothing of a node not scraped within the bound is left.
                let fresh = |node: &str| {
                    let n = NODES.iter().position(|n| *n == node);
                    n.and_then(|n| self.scraped[n])
                        .is_some_and(|t| self.now - t <= MAX_AGE_MS)
                };
                for v in self.log().snapshot::<NodeObject>().iter() {
                    prop_assert!(fresh(&v.value.name), "stale node {} served", v.value.name);
                }
                for v in self.log().snapshot::<PodObject>().iter() {
                    prop_assert!(
                        fresh(&v.value.node),
                        "pod {:?} of stale node {} served",
                        v.value.key,
                        v.value.node
                    );
                }
            }
            Op::List => {
                let (nodes, pods) = self.store.served_counts();
                prop_assert_eq!(nodes, self.all_nodes.state.len());
                prop_assert_eq!(pods, self.all_pods.state.len());
            }
            Op::SnapshotAt(back) => {
                self.snapshot_at::<NodeObject>(back)?;
                self.snapshot_at::<PodObject>(back)?;
            }
            Op::PageStart {
                nodes,
                limit,
                ns,
                selector,
            } => {
                let ns = ns.map(|i| NS[i]);
                if nodes {
                    self.page_start::<NodeObject>(limit, ns, selector)?;
                } else {
                    self.page_start::<PodObject>(limit, ns, selector)?;
                }
            }
            Op::PageNext(which) => self.page_next(which)?,
            Op::Watch { nodes, ns, start } => {
                let ns = ns.map(|i| NS[i]);
                if nodes {
                    if let Some(w) = self.subscribe::<NodeObject>(ns, start)? {
                        self.raw_nodes.push(w);
                    }
                } else if let Some(w) = self.subscribe::<PodObject>(ns, start)? {
                    self.raw_pods.push(w);
                }
            }
            Op::ApiWatch { nodes, ns, start } => {
                let ns = ns.map(|i| NS[i]);
                if nodes {
                    self.api_watch::<NodeObject>(ns, start)?;
                } else {
                    self.api_watch::<PodObject>(ns, start)?;
                }
            }
            Op::Unwatch(i) => {
                let (a, b, c) = (self.raw_nodes.len(), self.raw_pods.len(), self.api.len());
                match i % 3 {
                    0 if a > 0 => drop(self.raw_nodes.remove(i % a)),
                    1 if b > 0 => drop(self.raw_pods.remove(i % b)),
                    2 if c > 0 => drop(self.api.remove(i % c)),
                    _ => {}
                }
            }
        }
        self.check()
    }

    /// Every invariant that must hold between operations.
    pub(super) fn check(&mut self) -> Result<(), TestCaseError> {
        let current = self.log().current();
        prop_assert_eq!(current, self.store.resource_version());
        // Every version is one event's, whichever kind, and they only grow.
        let high = self.rvs.last().copied().unwrap_or(0);
        let mut new = self.all_nodes.drain()?;
        new.extend(self.all_pods.drain()?);
        for rv in new {
            prop_assert!(rv > high, "rv {} committed after {}", rv, high);
            prop_assert!(self.rvs.insert(rv), "rv {} used twice", rv);
        }
        let base = self.log().base();
        prop_assert_eq!(
            self.rvs.len() as u64,
            current - base,
            "versions without events"
        );
        prop_assert_eq!(self.rvs.last().copied().unwrap_or(base), current);
        // Snapshots: no item newer than the snapshot, and exactly what the events built.
        let nodes = self.log().snapshot::<NodeObject>();
        let pods = self.log().snapshot::<PodObject>();
        prop_assert!(nodes.rv == current && pods.rv == current);
        prop_assert!(nodes.iter().all(|v| v.rv <= nodes.rv));
        prop_assert!(pods.iter().all(|v| v.rv <= pods.rv));
        let (nodes_now, pods_now) = (view(&nodes, None, false), view(&pods, None, false));
        prop_assert_eq!(&self.all_nodes.state, &nodes_now, "node events vs snapshot");
        prop_assert_eq!(&self.all_pods.state, &pods_now, "pod events vs snapshot");
        // What is served agrees with the cluster view.
        for v in nodes.iter() {
            let m = self.meta.node_meta(&v.value.name);
            prop_assert_eq!(
                m.as_ref(),
                Some(&v.value.meta),
                "node {} meta",
                &v.value.name
            );
        }
        for v in pods.iter() {
            let k = &v.value.key;
            let m = self.meta.pod_meta(&k.namespace, &k.name);
            prop_assert!(
                m.as_ref()
                    .is_some_and(|m| m.running && m.meta == v.value.meta),
                "pod {:?} served with {:?}, cluster says {:?}",
                k,
                v.value.meta,
                m
            );
            prop_assert!(
                self.meta.node_meta(&v.value.node).is_some(),
                "pod {:?} served by departed node {}",
                k,
                v.value.node
            );
        }
        // Watchers that started at some r and drained their channel are at the current state.
        for w in &mut self.raw_nodes {
            w.drain()?;
            let want = view(&nodes, w.ns, false);
            prop_assert_eq!(&w.state, &want, "{}", &w.who);
        }
        for w in &mut self.raw_pods {
            w.drain()?;
            let want = view(&pods, w.ns, false);
            prop_assert_eq!(&w.state, &want, "{}", &w.who);
        }
        for w in &mut self.api {
            w.drain(&self.rt)?;
            prop_assert!(w.error.is_none(), "{}: {:?}", &w.who, &w.error);
            let want = if w.nodes {
                view(&nodes, w.ns, true)
            } else {
                view(&pods, w.ns, true)
            };
            prop_assert_eq!(&w.state, &want, "{}", &w.who);
        }
        if self.history.last().is_none_or(|r| r.pods.rv != current) {
            self.history.push(Recorded { nodes, pods });
        }
        Ok(())
    }
}

/// Picks one kind's snapshot out of a recorded state.
pub(super) trait Pick<T: Kind> {
    fn pick(&self) -> &Snapshot<T>;
}

impl Pick<NodeObject> for Recorded {
    fn pick(&self) -> &Snapshot<NodeObject> {
        &self.nodes
    }
}

impl Pick<PodObject> for Recorded {
    fn pick(&self) -> &Snapshot<PodObject> {
        &self.pods
    }
}
