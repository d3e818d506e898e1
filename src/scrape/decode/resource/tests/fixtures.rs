//! The recorded kubelet bodies decode to the figures they were recorded with.

use std::borrow::Cow;

use super::{decode, find, fixture, pt};
use crate::scrape::decode::ContainerRaw;

#[test]
fn single_pod_normal_decodes_to_readme_figures() {
    let body = fixture("metrics_resource_single_pod_normal.prom");
    let d = decode(&body);
    // node {ts 2021-10-03T09:36:49.720Z, cpu 357.35491 core-s, mem 1616273408 B}
    assert_eq!(d.node.cpu, pt(357.35491, 1_633_253_809_720));
    assert_eq!(d.node.memory, pt(1_616_273_408.0, 1_633_253_809_720));
    // coredns {ts 09:36:52.125Z, cpu 4.710169, mem 12533760, start 2021-10-03T09:18:32Z}
    assert_eq!(
        d.containers,
        vec![ContainerRaw {
            namespace: "kube-system".into(),
            pod: "coredns-558bd4d5db-4dpjz".into(),
            container: "coredns".into(),
            cpu: pt(4.710169, 1_633_253_812_125),
            memory: pt(12_533_760.0, 1_633_253_812_125),
            start_time_s: Some(1_633_252_712.0),
            swap: None,
        }]
    );
    assert!(matches!(d.containers[0].pod, Cow::Borrowed(_)));
    assert_eq!(d.skipped, vec![]);
}

#[test]
fn kind_70_pods_fixture() {
    let body = fixture("metrics_resource_kind_k8s1.21_70pods.prom");
    let d = decode(&body);
    assert_eq!(d.skipped, vec![]);
    assert_eq!(d.containers.len(), 70);
    assert_eq!(d.node.cpu, pt(357.35491, 1_633_253_809_720));
    assert_eq!(d.node.memory, pt(1_616_273_408.0, 1_633_253_809_720));
    let count = |ns: &str| d.containers.iter().filter(|c| c.namespace == ns).count();
    assert_eq!(count("kube-system"), 9);
    assert_eq!(count("local-path-storage"), 1);
    assert_eq!(count("sleeper-1"), 60);
    assert!(
        d.containers
            .iter()
            .all(|c| c.cpu.is_some() && c.memory.is_some() && c.start_time_s.is_none())
    );
    // First-appearance order is the file's order.
    assert_eq!(d.containers[0].pod, "coredns-558bd4d5db-4dpjz");
    assert_eq!(d.containers[1].pod, "coredns-558bd4d5db-kjc9p");
    assert_eq!(d.containers[69].pod, "sleeper-9-5744dbc77c-q6mg9");
    let etcd = find(&d, "kube-system", "etcd-e2e-control-plane", "etcd");
    assert_eq!(etcd.cpu, pt(31.349402, 1_633_253_814_387));
    assert_eq!(etcd.memory, pt(40_783_872.0, 1_633_253_814_387));
    let s = find(&d, "sleeper-1", "sleeper-10-d7fbc765-6xfst", "sleeper");
    assert_eq!(s.cpu, pt(0.754433, 1_633_253_800_367));
    assert_eq!(s.memory, pt(495_616.0, 1_633_253_800_367));
    let last = find(&d, "sleeper-1", "sleeper-9-5744dbc77c-q6mg9", "sleeper");
    assert_eq!(last.cpu, pt(1.055063, 1_633_253_813_998));
    assert_eq!(last.memory, pt(495_616.0, 1_633_253_813_998));
}

#[test]
fn modern_fixture_with_swap_and_stable_names() {
    let body = fixture("metrics_resource_modern_example.prom");
    let d = decode(&body);
    assert_eq!(d.skipped, vec![]);
    assert_eq!(d.node.cpu, pt(98_765.432_1, 1_764_000_010_002));
    assert_eq!(d.node.memory, pt(6_442_450_944.0, 1_764_000_010_002));
    assert_eq!(d.node.swap, pt(0.0, 1_764_000_010_002));
    let keys: Vec<_> = d
        .containers
        .iter()
        .map(|c| format!("{}/{}/{}", c.namespace, c.pod, c.container))
        .collect();
    assert_eq!(
        keys,
        [
            "shop/web-7d9f8c6b5-x2k4q/app",
            "shop/web-7d9f8c6b5-x2k4q/envoy",
            "batch/report-29031840-8xq2z/worker",
            "kube-system/coredns-5d78c9869d-9jw7f/coredns",
        ]
    );
    let app = &d.containers[0];
    assert_eq!(app.cpu, pt(1834.551233, 1_764_000_012_345));
    assert_eq!(app.memory, pt(268_435_456.0, 1_764_000_012_345));
    assert_eq!(app.start_time_s, Some(1_763_988_400.0));
    assert_eq!(app.swap, pt(0.0, 1_764_000_012_345));
    assert_eq!(d.containers[1].start_time_s, Some(1_763_988_399.5));
    assert_eq!(d.containers[1].memory, pt(46_137_344.0, 1_764_000_012_345));
    let worker = &d.containers[2];
    assert_eq!(worker.cpu, pt(0.512, 1_764_000_011_987));
    assert_eq!(worker.memory, pt(12_582_912.0, 1_764_000_011_987));
    assert_eq!(worker.start_time_s, Some(1_764_000_001.0));
    let dns = &d.containers[3];
    assert_eq!(dns.cpu, pt(77.120045, 1_764_000_013_001));
    assert_eq!(dns.memory, pt(18_272_256.0, 1_764_000_013_001));
    assert_eq!(dns.start_time_s, Some(1_763_900_100.0));
}

#[test]
fn negative_timestamp_costs_only_its_series() {
    let body = fixture("metrics_resource_negative_timestamp_error.prom");
    let d = decode(&body);
    assert_eq!(d.node, Default::default());
    assert_eq!(
        d.containers,
        vec![ContainerRaw {
            namespace: "kubernetes-dashboard".into(),
            pod: "kubernetes-dashboard-metrics-server-77db45cdf4-tpx4v".into(),
            container: "metrics-server".into(),
            cpu: None,
            memory: None,
            start_time_s: Some(1.6509742024191372e9),
            swap: None,
        }]
    );
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].line, 3);
    assert!(
        d.skipped[0].reason.contains("negative timestamp")
            && d.skipped[0].reason.contains("-62135596800000"),
        "{}",
        d.skipped[0]
    );
    // The same bad series next to a node's normal data leaves that data whole.
    let mut mixed = fixture("metrics_resource_single_pod_normal.prom");
    mixed.extend_from_slice(&body);
    let d = decode(&mixed);
    assert_eq!(d.node.cpu, pt(357.35491, 1_633_253_809_720));
    assert_eq!(d.containers.len(), 2);
    assert_eq!(d.containers[0].cpu, pt(4.710169, 1_633_253_812_125));
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].line, 23 + 3);
}
