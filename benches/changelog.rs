//! The change log at cluster scale: a store filled like a 5,000-node × 30-pod cluster (150,000 pods
//! in 1,000 namespaces), measuring what the sequencer design has to keep cheap.
//!
//! - `changelog/commit_30_pods/{0,100,1000,1000_hot}_watchers`: one node's scrape, every pod
//!   MODIFIED, with namespace-scoped watchers whose receivers tokio tasks drain (sender-side cost,
//!   wakes included). Watchers are spread evenly over the namespaces; `1000_hot` puts all of them on
//!   the 30 namespaces the committing node touches.
//! - commit-to-delivery delay to 1,000 namespace watchers and 10 cluster-wide ones, at the real rate
//!   (5,000 nodes per 15 s) and at ten times it; criterion has no percentiles, so these are printed.
//! - bytes still allocated per idle watcher, by a counting global allocator: bare subscriptions, and
//!   whole `api::watch` streams polled once until they wait.
//! - `changelog/list_ns_100_pods_selector`: one namespace's 100 `app=web` pods (of 150), snapshot,
//!   page, document and JSON.
//! - the time the sequencer lock is held per commit, from `ChangeLog::lock_stats`.
//!
//! Targets (reported, not asserted): p99 delivery < 100 ms, < 16 KiB per idle watcher, the 100-pod
//! list < 1 ms.

use std::alloc::{GlobalAlloc, Layout, System};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tokio::sync::broadcast::error::RecvError;

use metrics_apiserver::api::list;
use metrics_apiserver::api::query::ListQuery;
use metrics_apiserver::api::types::V1BETA1;
use metrics_apiserver::api::watch::{self, WatchConfig, Watchers};
use metrics_apiserver::store::{
    ChangeLog, ContainerSample, LogConfig, NodeBatch, ObjectMeta, PodBatch, PodMeta, PodObject,
    Sample, StaticMeta, Store, StoreConfig, WatchStart,
};

/// Counts live heap bytes while `COUNTING` is on; off, it costs one relaxed load per call, so the
/// timing benchmarks are not skewed by the memory one.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: same layout contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
            ALLOCATED.fetch_add(
                new_size.saturating_sub(layout.size()) as u64,
                Ordering::Relaxed,
            );
        }
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Net live bytes and gross bytes allocated while `f` runs (its result kept alive).
fn measure<R>(f: impl FnOnce() -> R) -> (R, i64, u64) {
    LIVE.store(0, Ordering::SeqCst);
    ALLOCATED.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    (
        r,
        LIVE.load(Ordering::SeqCst),
        ALLOCATED.load(Ordering::SeqCst),
    )
}

const NODES: usize = 5_000;
const PODS_PER_NODE: usize = 30;
const NAMESPACES: usize = 1_000;
const PERIOD_MS: i64 = 15_000;
const T0: i64 = 1_700_000_000_000;
const CONTAINERS: [&str; 2] = ["app", "sidecar"];

/// Pod `g` (0..150,000) of node `g / 30` lives in namespace `g % 1000`; in each namespace, 100 of
/// its 150 pods are `app=web`.
struct Cluster {
    nodes: Vec<String>,
    /// Per node: (namespace, name, containers) of its pods.
    pods: Vec<Vec<(String, String, usize)>>,
    meta: Arc<StaticMeta>,
}

fn ns_name(i: usize) -> String {
    format!("ns-{i:04}")
}

impl Cluster {
    fn new() -> Self {
        let meta = StaticMeta::default();
        let mut nodes = Vec::with_capacity(NODES);
        let mut pods = Vec::with_capacity(NODES);
        for n in 0..NODES {
            let node = format!("node-{n:04}");
            meta.nodes.insert(
                node.clone(),
                ObjectMeta {
                    labels: vec![("zone".into(), format!("z{}", n % 3).into())].into(),
                    uid: format!("uid-{node}").into(),
                    created_s: 1_600_000_000,
                },
            );
            let mut mine = Vec::with_capacity(PODS_PER_NODE);
            for j in 0..PODS_PER_NODE {
                let g = n * PODS_PER_NODE + j;
                let ns = ns_name(g % NAMESPACES);
                let name = format!("deploy-{g:06}-7d9f8b6c5-x2k4p");
                let app = if (g / NAMESPACES) % 3 == 2 {
                    "db"
                } else {
                    "web"
                };
                meta.pods.insert(
                    (ns.clone(), name.clone()),
                    PodMeta {
                        meta: ObjectMeta {
                            labels: vec![
                                ("app".into(), app.into()),
                                ("pod-template-hash".into(), "7d9f8b6c5".into()),
                            ]
                            .into(),
                            uid: format!("uid-{g}").into(),
                            created_s: 1_600_000_000,
                        },
                        running: true,
                        node: Some(node.as_str().into()),
                    },
                );
                mine.push((ns, name, 1 + g % 2));
            }
            nodes.push(node);
            pods.push(mine);
        }
        Cluster {
            nodes,
            pods,
            meta: Arc::new(meta),
        }
    }

    /// Node `n`'s scrape at `t`: counters at a steady rate, so each sample changes every object's
    /// window but nothing else.
    fn batch(&self, n: usize, t: i64) -> NodeBatch<'_> {
        let sample = |nanocores: u64| Sample {
            timestamp_ms: t,
            cpu_ns: nanocores * (t - T0 + 3_600_000) as u64 / 1000,
            memory_bytes: 256 << 20,
        };
        NodeBatch {
            node: &self.nodes[n],
            node_sample: Some(sample(4_000_000_000)),
            pods: self.pods[n]
                .iter()
                .map(|(ns, name, containers)| PodBatch {
                    namespace: ns,
                    name,
                    containers: CONTAINERS[..*containers]
                        .iter()
                        .map(|c| ContainerSample {
                            name: c,
                            start_ms: T0 - 3_600_000,
                            sample: sample(50_000_000),
                            swap_bytes: None,
                        })
                        .collect(),
                })
                .collect(),
            incomplete_pods: vec![],
            node_swap: None,
        }
    }
}

/// The server's defaults: 20 samples, 100,000 events of history, 1,024 batches per watcher.
fn filled(cluster: &Cluster) -> Store {
    let store = Store::new(
        StoreConfig {
            depth: 20,
            resolution_ms: PERIOD_MS,
            max_age_ms: i64::MAX / 4,
        },
        LogConfig::default(),
        cluster.meta.clone(),
    );
    let started = Instant::now();
    for t in [T0, T0 + PERIOD_MS] {
        for n in 0..NODES {
            store.commit(&cluster.batch(n, t), t);
        }
    }
    let (nodes, pods) = store.served_counts();
    assert_eq!((nodes, pods), (NODES, NODES * PODS_PER_NODE));
    println!(
        "setup: {nodes} nodes, {pods} pods served after {} commits in {:.2?}; {}",
        2 * NODES,
        started.elapsed(),
        lock_line(store.log(), (Duration::ZERO, 0)),
    );
    store
}

fn lock_line(log: &ChangeLog, since: (Duration, u64)) -> String {
    let (held, commits) = log.lock_stats();
    let (held, commits) = (held - since.0, commits - since.1);
    format!(
        "sequencer lock held {:.2} µs per commit ({commits} commits)",
        held.as_secs_f64() * 1e6 / commits.max(1) as f64
    )
}

/// Subscribes `count` namespace-scoped pod watchers, watcher `i` on namespace `ns(i)`, and drains
/// each from its own task until the returned guard is dropped.
fn watchers(
    rt: &tokio::runtime::Runtime,
    log: &ChangeLog,
    count: usize,
    ns: impl Fn(usize) -> String,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|i| {
            let mut rx = log
                .subscribe::<PodObject>(Some(&ns(i)), WatchStart::Now)
                .expect("subscribe")
                .events;
            rt.spawn(async move { while rx.recv().await.is_ok() {} })
        })
        .collect()
}

/// The namespace of watcher `i` of `n`.
type NsOf = fn(usize, usize) -> String;

fn commit_cost(c: &mut Criterion, rt: &tokio::runtime::Runtime, cluster: &Cluster, store: &Store) {
    let mut g = c.benchmark_group("changelog");
    let mut t = T0 + 2 * PERIOD_MS;
    let cases: [(&str, usize, NsOf); 4] = [
        ("0_watchers", 0, |_, _| String::new()),
        ("100_watchers", 100, |i, n| ns_name(i * NAMESPACES / n)),
        ("1000_watchers", 1000, |i, n| ns_name(i * NAMESPACES / n)),
        // node-0000's pods are in namespaces 0..30.
        ("1000_hot_watchers", 1000, |i, _| ns_name(i % PODS_PER_NODE)),
    ];
    t += PERIOD_MS;
    let events = store.commit(&cluster.batch(0, t), t).events;
    assert_eq!(
        events,
        1 + PODS_PER_NODE,
        "a new sample modifies the node and each pod"
    );
    for (name, count, ns) in cases {
        let tasks = watchers(rt, store.log(), count, |i| ns(i, count));
        let since = store.log().lock_stats();
        g.bench_function(format!("commit_30_pods/{name}"), |b| {
            b.iter_batched(
                || {
                    t += PERIOD_MS;
                    (cluster.batch(0, t), t)
                },
                |(batch, t)| store.commit(&batch, t),
                BatchSize::SmallInput,
            )
        });
        println!("commit_30_pods/{name}: {}", lock_line(store.log(), since));
        for task in tasks {
            task.abort();
        }
    }
    g.finish();
}

/// Percentile of sorted `v` (nearest rank).
fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

/// Commits `commits` node scrapes at `rate` per second while 1,000 namespace watchers and 10
/// cluster-wide ones receive them (or none, for the baseline); prints the commit-to-receipt delays
/// and how long each commit took. The clock starts just before `Store::commit` (the scrape is
/// decoded and ready) and stops when a receiver task's `recv` returns.
fn delivery(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    store: &Store,
    rate: f64,
    commits: usize,
    t: &mut i64,
    with_watchers: bool,
) {
    let epoch = Instant::now();
    type Receipts = Arc<Mutex<Vec<(u64, Duration)>>>;
    let lagged = Arc::new(AtomicU64::new(0));
    let spawn = |ns: Option<String>, out: Receipts| {
        let mut rx = store
            .log()
            .subscribe::<PodObject>(ns.as_deref(), WatchStart::Now)
            .expect("subscribe")
            .events;
        let lagged = lagged.clone();
        rt.spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(batch) => {
                        let at = epoch.elapsed();
                        out.lock().unwrap().push((batch[0].rv, at));
                    }
                    Err(RecvError::Lagged(_)) => {
                        lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    };
    let ns_receipts: Receipts = Arc::default();
    let all_receipts: Receipts = Arc::default();
    let mut tasks = Vec::new();
    if with_watchers {
        tasks.extend((0..NAMESPACES).map(|i| spawn(Some(ns_name(i)), ns_receipts.clone())));
        tasks.extend((0..10).map(|_| spawn(None, all_receipts.clone())));
    }
    let since = store.log().lock_stats();
    // (last rv of the commit, when it started), in commit order.
    let mut started = Vec::with_capacity(commits);
    let mut took = Vec::with_capacity(commits);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let begin = Instant::now();
    *t += PERIOD_MS;
    for i in 0..commits {
        let due = begin + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // node-0000 is the commit benchmark's, with samples far ahead of these.
        let n = 1 + i % (NODES - 1);
        let batch = cluster.batch(n, *t);
        let at = epoch.elapsed();
        store.commit(&batch, *t);
        took.push(epoch.elapsed() - at);
        started.push((store.resource_version(), at));
    }
    let elapsed = begin.elapsed();
    // Let the receivers catch up, then end them: the senders stay, so abort and wait.
    std::thread::sleep(Duration::from_millis(300));
    let lock = lock_line(store.log(), since);
    for task in &tasks {
        task.abort();
    }
    rt.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    let delays = |r: &Receipts| {
        let mut d: Vec<Duration> = r
            .lock()
            .unwrap()
            .iter()
            .map(|&(rv, at)| {
                let k = started.partition_point(|&(last, _)| last < rv);
                at.saturating_sub(started[k].1)
            })
            .collect();
        d.sort_unstable();
        d
    };
    let (ns_d, all_d) = (delays(&ns_receipts), delays(&all_receipts));
    let mut both: Vec<_> = ns_d.iter().chain(&all_d).copied().collect();
    both.sort_unstable();
    let show = |d: &[Duration]| {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} deliveries)",
            pct(d, 50.0).as_secs_f64() * 1e3,
            pct(d, 99.0).as_secs_f64() * 1e3,
            d.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            d.len()
        )
    };
    took.sort_unstable();
    let watching = if with_watchers {
        "1000 namespace + 10 cluster-wide watchers"
    } else {
        "no watchers"
    };
    println!(
        "delivery at {rate:.0} commits/s, {watching} ({commits} commits of 31 events in {elapsed:.2?}):"
    );
    println!(
        "  Store::commit:          p50 {:.1} µs, p99 {:.1} µs; {lock}",
        pct(&took, 50.0).as_secs_f64() * 1e6,
        pct(&took, 99.0).as_secs_f64() * 1e6,
    );
    if !with_watchers {
        return;
    }
    println!("  all watchers:           {}", show(&both));
    println!("  1000 namespace:         {}", show(&ns_d));
    println!("  10 cluster-wide:        {}", show(&all_d));
    println!(
        "  receivers lagged:       {}",
        lagged.load(Ordering::Relaxed)
    );
}

/// Net bytes per watcher for 1,000 idle watchers of four shapes.
fn idle_memory(rt: &tokio::runtime::Runtime, store: &Store) {
    let log = store.log();
    let per = |live: i64, gross: u64, n: usize| {
        format!(
            "{:.0} B live ({:.1} KiB), {:.0} B allocated",
            live as f64 / n as f64,
            live as f64 / n as f64 / 1024.0,
            gross as f64 / n as f64
        )
    };
    let n = 1000;
    // Fresh namespaces, so every subscription creates its channel as the first watcher of a
    // namespace does.
    let (subs, live, gross) = measure(|| {
        (0..n)
            .map(|i| {
                log.subscribe::<PodObject>(Some(&format!("idle-{i:04}")), WatchStart::Now)
                    .expect("subscribe")
            })
            .collect::<Vec<_>>()
    });
    println!(
        "idle Subscription, 1000 in 1000 new namespaces (channel each): {}",
        per(live, gross, n)
    );
    let ((), freed, _) = measure(|| drop(subs));
    println!(
        "  after dropping them, still held per watcher (namespace senders wait for an event): {:.0} B",
        (live + freed) as f64 / n as f64
    );
    let (subs2, live, gross) = measure(|| {
        (0..n)
            .map(|_| {
                log.subscribe::<PodObject>(Some("idle-0000"), WatchStart::Now)
                    .expect("subscribe")
            })
            .collect::<Vec<_>>()
    });
    println!(
        "idle Subscription, 1000 more in one namespace (receiver only):  {}",
        per(live, gross, n)
    );
    drop(subs2);
    // Whole watch streams, as `api::watch::serve` builds them, each polled once so that it parks
    // in its select (receiver, timers, shutdown) as an idle connection does. No HTTP connection.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let w = Watchers::new(WatchConfig::default(), rx);
    let q = ListQuery::parse("sendInitialEvents=false&resourceVersionMatch=NotOlderThan")
        .expect("query");
    let _enter = rt.enter();
    let mut cx = Context::from_waker(Waker::noop());
    for (label, ns) in [
        ("1000 new namespaces", None),
        ("1000 in one namespace", Some("idle-stream")),
    ] {
        let (bodies, live, gross) = measure(|| {
            (0..n)
                .map(|i| {
                    let ns = ns.map_or_else(|| format!("idle-s-{i:04}"), str::to_string);
                    let resp = futures::executor::block_on(watch::serve::<PodObject>(
                        log,
                        &w,
                        &q,
                        V1BETA1,
                        Some(&ns),
                    ))
                    .expect("serve");
                    let mut body = resp.into_body();
                    assert!(Pin::new(&mut body).poll_next(&mut cx).is_pending());
                    body
                })
                .collect::<Vec<_>>()
        });
        println!(
            "idle api::watch stream (response body, polled once), {label}: {}",
            per(live, gross, n)
        );
        drop(bodies);
    }
    drop(tx);
}

fn list_bench(c: &mut Criterion, store: &Store) {
    let q = ListQuery::parse("labelSelector=app%3Dweb").expect("query");
    let ns = ns_name(7);
    let log = store.log();
    let snap = log.snapshot::<PodObject>();
    let page = list::page(&snap, &q, Some(ns.as_str()), None, 0);
    assert_eq!(page.items.len(), 100);
    let bytes = serde_json::to_vec(&list::document(snap.rv, &page, V1BETA1)).expect("json");
    println!("list_ns_100_pods_selector: {} bytes of JSON", bytes.len());
    let mut g = c.benchmark_group("changelog");
    g.bench_function("list_ns_100_pods_selector", |b| {
        b.iter(|| {
            let snap = log.snapshot::<PodObject>();
            let page = list::page(&snap, &q, Some(ns.as_str()), None, 0);
            serde_json::to_vec(&list::document(snap.rv, &page, V1BETA1)).expect("json")
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let cluster = Cluster::new();
    let store = filled(&cluster);
    // The bench thread commits; one worker runs the receivers: two cores.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    commit_cost(c, &rt, &cluster, &store);
    let mut t = T0 + 1_000 * PERIOD_MS;
    let real = NODES as f64 / 15.0;
    // 4,999: every commit a different node (node-0000 is the commit benchmark's).
    for (rate, commits, with_watchers) in [
        (real, 1_333, false),
        (real, 1_333, true),
        (real * 10.0, 4_999, true),
    ] {
        delivery(&rt, &cluster, &store, rate, commits, &mut t, with_watchers);
    }
    idle_memory(&rt, &store);
    list_bench(c, &store);
}

criterion_group!(benches, bench);
criterion_main!(benches);
