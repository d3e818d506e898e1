//! Store throughput: committing one node's scrape, and reading every pod for a list.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

use metrics_apiserver::store::{
    ContainerSample, LogConfig, NodeBatch, ObjectMeta, PodBatch, PodMeta, PodObject, Sample,
    StaticMeta, Store, StoreConfig,
};

const PODS: usize = 110;

fn names() -> Vec<(String, String, [String; 2])> {
    (0..PODS)
        .map(|i| {
            (
                format!("ns-{}", i % 7),
                format!("pod-{i:04}-abcdef"),
                ["app".to_string(), "sidecar".to_string()],
            )
        })
        .collect()
}

fn batch<'a>(node: &'a str, names: &'a [(String, String, [String; 2])], t: i64) -> NodeBatch<'a> {
    let sample = |rate: u64| Sample {
        timestamp_ms: t,
        cpu_ns: rate * t as u64 / 1000,
        memory_bytes: 64 << 20,
    };
    NodeBatch {
        node,
        node_sample: Some(sample(2_000_000_000)),
        pods: names
            .iter()
            .map(|(ns, pod, cs)| PodBatch {
                namespace: ns,
                name: pod,
                containers: cs
                    .iter()
                    .map(|c| ContainerSample {
                        name: c,
                        start_ms: 1,
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

/// Cluster metadata in which every node and pod of the bench exists and runs.
fn meta(nodes: usize, names: &[(String, String, [String; 2])]) -> Arc<StaticMeta> {
    let m = StaticMeta::default();
    for n in 0..nodes {
        m.nodes.insert(format!("node-{n}"), ObjectMeta::default());
        for (ns, pod, _) in names {
            m.pods.insert(
                (ns.clone(), format!("{pod}-{n}")),
                PodMeta {
                    meta: ObjectMeta::default(),
                    running: true,
                    node: None,
                },
            );
            m.pods.insert(
                (ns.clone(), pod.clone()),
                PodMeta {
                    meta: ObjectMeta::default(),
                    running: true,
                    node: None,
                },
            );
        }
    }
    Arc::new(m)
}

fn bench(c: &mut Criterion) {
    let names = names();
    let m = meta(50, &names);
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(PODS as u64));
    g.bench_function("commit_110_pods", |b| {
        let store = Store::new(
            StoreConfig {
                depth: 20,
                resolution_ms: 15_000,
                max_age_ms: 60_000,
            },
            LogConfig::default(),
            m.clone(),
        );
        let mut t = 1_000_000i64;
        b.iter(|| {
            t += 15_000;
            store.commit(&batch("node-1", &names, t), t)
        })
    });
    let store = Store::new(
        StoreConfig {
            depth: 20,
            resolution_ms: 15_000,
            max_age_ms: i64::MAX / 2,
        },
        LogConfig::default(),
        m,
    );
    for n in 0..50 {
        let node = format!("node-{n}");
        let mut node_names = names.clone();
        for x in &mut node_names {
            x.1 = format!("{}-{n}", x.1);
        }
        for t in [1_000_000, 1_015_000] {
            store.commit(&batch(&node, &node_names, t), t);
        }
    }
    g.throughput(Throughput::Elements(50 * PODS as u64));
    g.bench_function("read_5500_pods", |b| {
        b.iter(|| store.log().snapshot::<PodObject>().iter().count())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
