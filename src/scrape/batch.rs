//! Turns one decoded kubelet response into a store batch, applying metrics-server's validity rules.

use crate::scrape::decode::{ContainerRaw, Decoded, Point};
use crate::store::{ContainerSample, NodeBatch, PodBatch, Sample};

fn cpu_ns(p: &Point) -> Option<u64> {
    let v = p.value * 1e9;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then(|| v.round() as u64)
}

fn bytes(p: &Point) -> Option<u64> {
    (p.value.is_finite() && p.value >= 0.0 && p.value < u64::MAX as f64)
        .then(|| p.value.round() as u64)
}

/// A sample from a CPU and a memory point; the CPU timestamp wins because the rate is over CPU time.
fn sample(cpu: Option<&Point>, mem: Option<&Point>, default_ms: i64) -> Option<Sample> {
    let (cpu, mem) = (cpu?, mem?);
    let timestamp_ms = cpu.timestamp_ms.or(mem.timestamp_ms).unwrap_or(default_ms);
    Some(Sample {
        timestamp_ms,
        cpu_ns: cpu_ns(cpu)?,
        memory_bytes: bytes(mem)?,
    })
}

/// The decoded response of `node`, as a batch. `request_ms` stands in for missing timestamps.
///
/// Rules: a node or container sample needs a CPU counter and a memory reading, both finite and not
/// negative; zero readings are served (unlike metrics-server, which drops the whole pod for one
/// zero-CPU or zero-memory container and never serves a zero node: an idle sidecar is real usage).
/// A container without either series is not running and is skipped; a pod with a container that
/// has only one of them, or an invalid value, is reported as incomplete, so the store keeps its
/// previous samples instead of serving a partial sum. Swap is optional: a container without it is
/// complete, and an invalid swap value only leaves swap out. A start time that is not a plausible Unix
/// time, or is later than the sample, is dropped (0), which the store reads as "unknown".
pub fn build<'a>(node: &'a str, decoded: &'a Decoded<'a>, request_ms: i64) -> NodeBatch<'a> {
    let node_sample = sample(
        decoded.node.cpu.as_ref(),
        decoded.node.memory.as_ref(),
        request_ms,
    );

    let mut order: Vec<&ContainerRaw<'a>> = decoded.containers.iter().collect();
    order.sort_unstable_by(|a, b| {
        (a.namespace.as_ref(), a.pod.as_ref(), a.container.as_ref()).cmp(&(
            b.namespace.as_ref(),
            b.pod.as_ref(),
            b.container.as_ref(),
        ))
    });

    let mut pods: Vec<PodBatch<'a>> = Vec::new();
    let mut incomplete_pods: Vec<(&'a str, &'a str)> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let (ns, pod) = (order[i].namespace.as_ref(), order[i].pod.as_ref());
        let mut j = i;
        let mut containers = Vec::new();
        let mut complete = true;
        while j < order.len() && order[j].namespace == ns && order[j].pod == pod {
            let c = order[j];
            j += 1;
            let s = sample(c.cpu.as_ref(), c.memory.as_ref(), request_ms);
            match s {
                Some(s) => {
                    let start_ms = c
                        .start_time_s
                        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e12)
                        .map(|v| (v * 1000.0).round() as i64)
                        .filter(|ms| *ms <= s.timestamp_ms)
                        .unwrap_or(0);
                    containers.push(ContainerSample {
                        name: c.container.as_ref(),
                        start_ms,
                        sample: s,
                        swap_bytes: c.swap.as_ref().and_then(bytes),
                    });
                }
                None if c.cpu.is_none() && c.memory.is_none() => continue,
                None => complete = false,
            }
        }
        if complete && !containers.is_empty() {
            pods.push(PodBatch {
                namespace: ns,
                name: pod,
                containers,
            });
        } else if !complete {
            incomplete_pods.push((ns, pod));
        }
        i = j;
    }
    NodeBatch {
        node,
        node_sample,
        node_swap: decoded.node.swap.as_ref().and_then(bytes),
        pods,
        incomplete_pods,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::decode::NodeRaw;
    use std::borrow::Cow;

    fn pt(v: f64, ts: Option<i64>) -> Option<Point> {
        Some(Point {
            value: v,
            timestamp_ms: ts,
        })
    }

    fn c<'a>(
        ns: &'a str,
        pod: &'a str,
        name: &'a str,
        cpu: Option<Point>,
        mem: Option<Point>,
    ) -> ContainerRaw<'a> {
        ContainerRaw {
            namespace: Cow::Borrowed(ns),
            pod: Cow::Borrowed(pod),
            container: Cow::Borrowed(name),
            cpu,
            memory: mem,
            start_time_s: Some(1_700_000_000.5),
            swap: None,
        }
    }

    #[test]
    fn groups_containers_by_pod_and_applies_validity_rules() {
        let d = Decoded {
            node: NodeRaw {
                cpu: pt(10.5, Some(5000)),
                memory: pt(2048.0, Some(6000)),
                swap: pt(8192.0, Some(6000)),
            },
            containers: vec![
                c("b", "p2", "x", pt(1.0, None), pt(10.0, None)),
                c("a", "p1", "z", pt(2.0, Some(7)), pt(20.0, Some(8))),
                c("a", "p1", "y", pt(0.0, Some(7)), pt(0.0, Some(8))),
                c("c", "bad", "k", pt(1.0, Some(1)), None),
                c("c", "bad", "ok", pt(1.0, Some(1)), pt(3.0, Some(1))),
                c("d", "halfzero", "k", pt(0.0, Some(1)), pt(3.0, Some(1))),
            ],
            skipped: vec![],
        };
        let b = build("n1", &d, 1_700_000_000_600);
        let ns = b.node_sample.unwrap();
        assert_eq!(
            (ns.timestamp_ms, ns.cpu_ns, ns.memory_bytes),
            (5000, 10_500_000_000, 2048)
        );
        let names: Vec<_> = b
            .pods
            .iter()
            .map(|p| (p.namespace, p.name, p.containers.len()))
            .collect();
        assert_eq!(
            names,
            vec![("a", "p1", 2), ("b", "p2", 1), ("d", "halfzero", 1)],
            "zero readings are readings: containers y and k are served"
        );
        assert_eq!(b.pods[0].containers[1].name, "z");
        assert_eq!(
            b.pods[0].containers[1].start_ms, 0,
            "a start time later than the sample is rejected"
        );
        assert_eq!(b.pods[1].containers[0].start_ms, 1_700_000_000_500);
        assert_eq!(
            b.pods[1].containers[0].sample.timestamp_ms, 1_700_000_000_600,
            "missing timestamp -> request time"
        );
        assert_eq!(b.incomplete_pods, vec![("c", "bad")]);
        assert_eq!(b.node_swap, Some(8192));
        assert_eq!(b.pods[0].containers[0].swap_bytes, None);
    }

    #[test]
    fn swap_is_optional_and_a_bad_value_costs_only_swap() {
        let mut with_swap = c("a", "p", "x", pt(1.0, Some(7)), pt(2.0, Some(7)));
        with_swap.swap = pt(4096.0, Some(7));
        let mut bad_swap = c("a", "p", "y", pt(1.0, Some(7)), pt(2.0, Some(7)));
        bad_swap.swap = pt(f64::INFINITY, Some(7));
        let d = Decoded {
            containers: vec![with_swap, bad_swap],
            ..Default::default()
        };
        let b = build("n", &d, 1);
        assert_eq!(b.node_swap, None);
        assert!(
            b.incomplete_pods.is_empty(),
            "swap never makes a pod incomplete"
        );
        let swaps: Vec<_> = b.pods[0]
            .containers
            .iter()
            .map(|c| (c.name, c.swap_bytes))
            .collect();
        assert_eq!(swaps, vec![("x", Some(4096)), ("y", None)]);
    }

    #[test]
    fn node_with_missing_or_invalid_values_has_no_sample_but_zero_is_served() {
        let mut d = Decoded::default();
        assert_eq!(build("n", &d, 1).node_sample, None, "empty body");
        d.node = NodeRaw {
            cpu: pt(0.0, None),
            memory: pt(0.0, None),
            swap: None,
        };
        assert_eq!(
            build("n", &d, 1).node_sample,
            Some(Sample {
                timestamp_ms: 1,
                cpu_ns: 0,
                memory_bytes: 0
            }),
            "a zero reading is a reading"
        );
        d.node = NodeRaw {
            cpu: pt(3.0, None),
            memory: None,
            swap: None,
        };
        assert_eq!(build("n", &d, 1).node_sample, None, "no memory series");
        d.node = NodeRaw {
            cpu: pt(f64::NAN, None),
            memory: pt(5.0, None),
            swap: None,
        };
        assert_eq!(build("n", &d, 1).node_sample, None);
    }
}
