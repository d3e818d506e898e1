//! JSON versus protobuf encoding of the answers kubectl top and the HPA read most: a 100-pod
//! PodMetricsList (one namespace of a workload, two containers each) and the NodeMetricsList of a
//! 5,000-node cluster. Each iteration encodes the whole body as the handler does (the document of
//! a page, then the encoder); byte sizes are printed once.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

use metrics_apiserver::api::kind::Kind;
use metrics_apiserver::api::proto;
use metrics_apiserver::api::types::{List, ListMeta, V1BETA1};
use metrics_apiserver::store::{NodeObject, ObjectMeta, PodKey, PodObject, Usage, Versioned};

fn meta(i: usize, labels: usize) -> ObjectMeta {
    ObjectMeta {
        labels: (0..labels)
            .map(|l| {
                (
                    format!("label-{l}.example.com/key").into_boxed_str(),
                    format!("value-{i}-{l}").into_boxed_str(),
                )
            })
            .collect::<Vec<_>>()
            .into(),
        uid: format!("6f0e3c9a-{i:04x}-4c1e-9a1b-0123456789ab").into(),
        created_s: 1_764_000_000 + i as i64,
    }
}

fn usage(i: usize) -> Usage {
    Usage {
        timestamp_ms: 1_764_000_015_123,
        window_ms: 15_012,
        cpu_nanocores: 12_345_678 + i as u64 * 1_013,
        memory_bytes: 123_456_512 + i as u64 * 4_096,
        swap_bytes: None,
    }
}

fn pods(n: usize) -> Vec<Versioned<PodObject>> {
    (0..n)
        .map(|i| Versioned {
            rv: 1_000_000 + i as u64,
            value: Arc::new(PodObject {
                key: PodKey::new("shop", &format!("web-7d4b9c6f8-{i:05}")),
                meta: meta(i, 4),
                node: Arc::from(format!("node-{}", i % 50).as_str()),
                timestamp_ms: 1_764_000_015_123,
                window_ms: 15_012,
                containers: vec![
                    (Arc::from("app"), usage(i)),
                    (Arc::from("istio-proxy"), usage(i + 7)),
                ]
                .into_boxed_slice(),
            }),
        })
        .collect()
}

fn nodes(n: usize) -> Vec<Versioned<NodeObject>> {
    (0..n)
        .map(|i| Versioned {
            rv: 1_000_000 + i as u64,
            value: Arc::new(NodeObject {
                name: Arc::from(format!("ip-10-0-{}-{}.ec2.internal", i / 256, i % 256).as_str()),
                meta: meta(i, 8),
                usage: usage(i),
            }),
        })
        .collect()
}

fn list_meta() -> ListMeta {
    ListMeta {
        resource_version: "2000000".into(),
        continue_token: None,
        remaining_item_count: None,
    }
}

fn json<T: Kind>(items: &[&Versioned<T>]) -> Vec<u8> {
    let doc = List {
        kind: T::LIST_KIND,
        api_version: V1BETA1.api_version,
        metadata: list_meta(),
        items: items
            .iter()
            .map(|v| v.value.wire(v.rv, V1BETA1, false))
            .collect(),
    };
    serde_json::to_vec(&doc).unwrap()
}

fn bench(c: &mut Criterion) {
    let p = pods(100);
    let p: Vec<&Versioned<PodObject>> = p.iter().collect();
    let n = nodes(5_000);
    let n: Vec<&Versioned<NodeObject>> = n.iter().collect();
    println!(
        "sizes: 100 pods JSON {} B, protobuf {} B; 5,000 nodes JSON {} B, protobuf {} B",
        json(&p).len(),
        proto::list(&list_meta(), &p, V1BETA1).len(),
        json(&n).len(),
        proto::list(&list_meta(), &n, V1BETA1).len()
    );
    let mut g = c.benchmark_group("encode");
    g.bench_function("pods_100/json", |b| b.iter(|| json(&p)));
    g.bench_function("pods_100/protobuf", |b| {
        b.iter(|| proto::list(&list_meta(), &p, V1BETA1))
    });
    g.sample_size(20);
    g.bench_function("nodes_5000/json", |b| b.iter(|| json(&n)));
    g.bench_function("nodes_5000/protobuf", |b| {
        b.iter(|| proto::list(&list_meta(), &n, V1BETA1))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
