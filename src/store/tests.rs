//! Store behaviour: rates, served objects, and every visible change as a committed event.

use super::*;

const T: i64 = 1_700_000_000_000;

fn meta() -> Arc<StaticMeta> {
    let m = Arc::new(StaticMeta::default());
    for n in ["n1", "n2"] {
        m.nodes.insert(n.into(), ObjectMeta::default());
    }
    m
}

fn running(m: &StaticMeta, ns: &str, name: &str, node: &str) {
    m.pods.insert(
        (ns.into(), name.into()),
        PodMeta {
            meta: ObjectMeta {
                labels: vec![("app".into(), name.into())].into(),
                uid: format!("uid-{name}").into(),
                created_s: 1,
            },
            running: true,
            node: Some(node.into()),
        },
    );
}

fn store(m: Arc<StaticMeta>) -> Store {
    Store::new(
        StoreConfig {
            depth: 8,
            resolution_ms: 15_000,
            max_age_ms: 45_000,
        },
        LogConfig::default(),
        m,
    )
}

fn sample(t: i64, cpu_core_s: f64, mem: u64) -> Sample {
    Sample {
        timestamp_ms: t,
        cpu_ns: (cpu_core_s * 1e9) as u64,
        memory_bytes: mem,
    }
}

fn batch<'a>(node: &'a str, t: i64, pods: Vec<PodBatch<'a>>) -> NodeBatch<'a> {
    NodeBatch {
        node,
        node_sample: Some(sample(t, t as f64 / 1000.0 * 2.0, 1 << 30)),
        pods,
        incomplete_pods: vec![],
        node_swap: None,
    }
}

fn pod<'a>(ns: &'a str, name: &'a str, t: i64, cores: &[(&'a str, f64)]) -> PodBatch<'a> {
    PodBatch {
        namespace: ns,
        name,
        containers: cores
            .iter()
            .map(|(c, rate)| ContainerSample {
                name: c,
                start_ms: T - 3_600_000,
                sample: sample(t, (t - (T - 3_600_000)) as f64 / 1000.0 * rate, 4096),
                swap_bytes: None,
            })
            .collect(),
    }
}

fn events<T: changelog::Stored>(s: &Store, after: u64) -> Vec<(EventType, String, u64)> {
    let sub = s
        .log()
        .subscribe::<T>(None, WatchStart::After(after))
        .unwrap();
    match sub.initial {
        Initial::Replay(ev) => ev
            .iter()
            .map(|e| (e.kind, e.object.value.name().to_string(), e.rv))
            .collect(),
        other => panic!("expected a replay, got {other:?}"),
    }
}

#[test]
fn two_scrapes_make_node_and_pod_servable_with_exact_rates() {
    let m = meta();
    running(&m, "ns", "p", "n1");
    let s = store(m);
    s.commit(
        &batch("n1", T, vec![pod("ns", "p", T, &[("b", 0.25), ("a", 0.5)])]),
        T,
    );
    assert!(s.node("n1").is_none(), "one sample is not a rate");
    assert!(s.pod("ns", "p").is_none());
    let rv1 = s.resource_version();
    let t = T + 15_000;
    s.commit(
        &batch("n1", t, vec![pod("ns", "p", t, &[("b", 0.25), ("a", 0.5)])]),
        t,
    );
    assert!(s.resource_version() > rv1);
    let n = s.node("n1").unwrap();
    assert_eq!(n.value.usage.cpu_nanocores, 2_000_000_000);
    assert_eq!(n.value.usage.window_ms, 15_000);
    let p = s.pod("ns", "p").unwrap();
    let names: Vec<_> = p.value.containers.iter().map(|(n, _)| n.as_ref()).collect();
    assert_eq!(names, vec!["a", "b"], "containers sorted by name");
    assert_eq!(p.value.containers[0].1.cpu_nanocores, 500_000_000);
    assert_eq!(p.value.containers[1].1.cpu_nanocores, 250_000_000);
    assert_eq!(p.value.meta.uid.as_ref(), "uid-p");
    assert_eq!(s.served_counts(), (1, 1));
    assert_eq!(
        events::<NodeObject>(&s, 0),
        vec![(EventType::Added, "n1".into(), n.rv)]
    );
    assert_eq!(
        events::<PodObject>(&s, 0),
        vec![(EventType::Added, "p".into(), p.rv)]
    );
    assert!(
        p.rv > n.rv,
        "node first, then its pods, each its own version"
    );
}

#[test]
fn unchanged_data_takes_no_resource_version() {
    let m = meta();
    running(&m, "ns", "p", "n1");
    let s = store(m);
    for t in [T, T + 15_000] {
        s.commit(&batch("n1", t, vec![pod("ns", "p", t, &[("a", 0.5)])]), t);
    }
    let rv = s.resource_version();
    // The same kubelet data again (kubelets cache): nothing changes.
    let t = T + 15_000;
    let stats = s.commit(
        &batch("n1", t, vec![pod("ns", "p", t, &[("a", 0.5)])]),
        t + 1000,
    );
    assert_eq!(stats.events, 0);
    assert_eq!(s.resource_version(), rv);
}

#[test]
fn every_visible_change_is_an_event() {
    let m = meta();
    running(&m, "ns", "a", "n1");
    running(&m, "ns", "b", "n1");
    let s = store(m.clone());
    for t in [T, T + 15_000] {
        s.commit(
            &batch(
                "n1",
                t,
                vec![
                    pod("ns", "a", t, &[("c", 0.1)]),
                    pod("ns", "b", t, &[("c", 0.1)]),
                ],
            ),
            t,
        );
    }
    let base = s.resource_version();
    // Labels change in the cluster view: MODIFIED at once, not at the next scrape.
    m.pods
        .get_mut(&("ns".into(), "a".into()))
        .unwrap()
        .meta
        .labels = vec![("app".into(), "other".into())].into();
    s.pod_changed("ns", "a", Some("n1"));
    // b stops Running: DELETED.
    m.pods.get_mut(&("ns".into(), "b".into())).unwrap().running = false;
    s.pod_changed("ns", "b", Some("n1"));
    let ev = events::<PodObject>(&s, base);
    assert_eq!(
        ev.iter().map(|e| (e.0, e.1.as_str())).collect::<Vec<_>>(),
        vec![(EventType::Modified, "a"), (EventType::Deleted, "b")]
    );
    assert!(ev[0].2 < ev[1].2);
    assert_eq!(
        s.pod("ns", "a").unwrap().value.meta.labels[0].1.as_ref(),
        "other"
    );
    // The node leaves: DELETED for it and its pod.
    let before = s.resource_version();
    m.nodes.remove("n1");
    s.node_changed("n1");
    assert_eq!(s.served_counts(), (0, 0));
    assert_eq!(events::<NodeObject>(&s, before).len(), 1);
    assert_eq!(events::<PodObject>(&s, before).len(), 1);
    // A late scrape of the departed node commits nothing.
    let t = T + 30_000;
    assert_eq!(
        s.commit(&batch("n1", t, vec![pod("ns", "a", t, &[("c", 0.1)])]), t)
            .events,
        0
    );
}

#[test]
fn pods_that_vanish_from_their_kubelet_are_deleted_incomplete_ones_kept() {
    let m = meta();
    running(&m, "ns", "a", "n1");
    running(&m, "ns", "b", "n1");
    let s = store(m);
    for t in [T, T + 15_000] {
        s.commit(
            &batch(
                "n1",
                t,
                vec![
                    pod("ns", "a", t, &[("c", 0.1)]),
                    pod("ns", "b", t, &[("c", 0.1)]),
                ],
            ),
            t,
        );
    }
    let t = T + 30_000;
    let mut b = batch("n1", t, vec![]);
    b.incomplete_pods.push(("ns", "a"));
    let stats = s.commit(&b, t);
    assert_eq!(stats.removed_pods, 1);
    assert!(
        s.pod("ns", "a").is_some(),
        "incomplete data keeps the last metrics"
    );
    assert!(s.pod("ns", "b").is_none());
    // Still incomplete past the staleness bound: removed.
    let t = T + 15_000 + 45_001;
    let mut b = batch("n1", t, vec![]);
    b.incomplete_pods.push(("ns", "a"));
    s.commit(&b, t);
    assert!(s.pod("ns", "a").is_none());
}

#[test]
fn expiry_commits_deletions_and_a_new_scrape_restores() {
    let m = meta();
    running(&m, "ns", "b", "n2");
    let s = store(m);
    for t in [T, T + 15_000] {
        s.commit(&batch("n2", t, vec![pod("ns", "b", t, &[("c", 0.1)])]), t);
    }
    assert_eq!(s.expire(T + 15_000 + 45_000), 0, "within the bound");
    let before = s.resource_version();
    assert_eq!(s.expire(T + 15_000 + 45_001), 2, "node and pod");
    assert_eq!(s.expire(T + 15_000 + 50_000), 0, "expired once");
    assert_eq!(s.served_counts(), (0, 0));
    assert_eq!(events::<PodObject>(&s, before)[0].0, EventType::Deleted);
    let t = T + 70_000;
    s.commit(&batch("n2", t, vec![pod("ns", "b", t, &[("c", 0.1)])]), t);
    assert_eq!(
        s.served_counts(),
        (1, 1),
        "the ring still holds the older sample"
    );
}

#[test]
fn a_pod_is_served_only_when_every_container_has_a_rate() {
    let m = meta();
    running(&m, "ns", "p", "n1");
    let s = store(m);
    s.commit(&batch("n1", T, vec![pod("ns", "p", T, &[("a", 0.1)])]), T);
    let t = T + 15_000;
    s.commit(
        &batch(
            "n1",
            t,
            vec![pod("ns", "p", t, &[("a", 0.1), ("new", 0.1)])],
        ),
        t,
    );
    assert!(
        s.pod("ns", "p").is_none(),
        "container 'new' has one old-start sample"
    );
    let t2 = t + 15_000;
    s.commit(
        &batch(
            "n1",
            t2,
            vec![pod("ns", "p", t2, &[("a", 0.1), ("new", 0.1)])],
        ),
        t2,
    );
    assert_eq!(s.pod("ns", "p").unwrap().value.containers.len(), 2);
}

#[test]
fn a_node_never_deletes_a_pod_another_node_now_serves() {
    let m = meta();
    running(&m, "ns", "p", "n2");
    let s = store(m);
    for t in [T, T + 15_000] {
        s.commit(&batch("n1", t, vec![pod("ns", "p", t, &[("c", 0.1)])]), t);
        s.commit(&batch("n2", t, vec![pod("ns", "p", t, &[("c", 0.2)])]), t);
    }
    assert_eq!(s.pod("ns", "p").unwrap().value.node.as_ref(), "n2");
    // n1 stops reporting the old pod: it must not delete n2's.
    let t = T + 30_000;
    s.commit(&batch("n1", t, vec![]), t);
    assert_eq!(s.pod("ns", "p").unwrap().value.node.as_ref(), "n2");
}

#[test]
fn namespace_channels_nobody_listens_to_are_pruned() {
    let s = store(meta());
    let kept = s
        .log()
        .subscribe::<PodObject>(Some("kept"), WatchStart::Now)
        .unwrap();
    for i in 0..100 {
        drop(
            s.log()
                .subscribe::<PodObject>(Some(&format!("gone-{i}")), WatchStart::Now)
                .unwrap(),
        );
    }
    assert_eq!(s.log().namespace_channels(), 101);
    assert_eq!(
        s.log().prune_channels(),
        100,
        "only the one with a receiver stays"
    );
    assert_eq!(s.log().namespace_channels(), 1);
    drop(kept);
}

#[test]
fn swap_is_the_newest_reading_and_the_policy_can_turn_it_off() {
    let with_swap = |t: i64, node: Option<u64>, container: Option<u64>| {
        let mut b = batch("n1", t, vec![pod("ns", "p", t, &[("a", 0.1), ("b", 0.1)])]);
        b.node_swap = node;
        b.pods[0].containers[0].swap_bytes = container;
        b
    };
    for serve in [true, false] {
        let m = meta();
        running(&m, "ns", "p", "n1");
        let s = store(m).with_policy(ServePolicy {
            swap: serve,
            ..ServePolicy::default()
        });
        s.commit(&with_swap(T, Some(1), Some(2)), T);
        let t = T + 15_000;
        s.commit(&with_swap(t, Some(3 << 20), Some(4096)), t);
        // A stale resend of the same sample must not replace the reading it came with.
        s.commit(&with_swap(t, Some(7), Some(7)), t + 1);
        let node = s.node("n1").unwrap().value.usage.swap_bytes;
        let pod = s.pod("ns", "p").unwrap();
        let containers: Vec<_> = pod
            .value
            .containers
            .iter()
            .map(|(_, u)| u.swap_bytes)
            .collect();
        if serve {
            assert_eq!(node, Some(3 << 20));
            assert_eq!(containers, vec![Some(4096), None], "b reports no swap");
        } else {
            assert_eq!(node, None);
            assert_eq!(containers, vec![None, None]);
        }
    }
}

#[test]
fn a_commits_events_are_in_key_order() {
    let m = meta();
    let names = [
        "p-07", "p-03", "p-11", "p-01", "p-05", "p-09", "p-02", "p-10",
    ];
    for n in names {
        running(&m, "ns", n, "n1");
    }
    let s = store(m);
    for t in [T, T + 15_000] {
        let pods = names
            .iter()
            .map(|n| pod("ns", n, t, &[("c", 0.1)]))
            .collect();
        s.commit(&batch("n1", t, pods), t);
    }
    let got: Vec<String> = events::<PodObject>(&s, 0)
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    let mut sorted = names.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(got, sorted, "one commit's ADDED events, in key order");
}
