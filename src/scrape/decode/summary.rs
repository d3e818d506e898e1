//! Decoder of the kubelet's `/stats/summary` (Summary API JSON).
//!
//! Metrics-server used this endpoint before `/metrics/resource` existed, and older
//! or unusual kubelets still need it. Only the handful of fields the metrics API
//! needs are read; serde skips the rest (volumes, network, filesystems) without
//! allocating. Number and time fields are read leniently: a malformed one is
//! reported in [`Decoded::skipped`] and costs only its own series, so one odd
//! container cannot cost the node all its pods.
//!
//! Missing or zero CPU counters and working sets mean "no data yet" to the
//! kubelet (a container that just started), so they decode to `None`, not to 0.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ContainerField, ContainerIndex, DecodeError, Decoded, NodeRaw, Point, Skips};

/// Decodes one `/stats/summary` body into owned names.
///
/// Only a body that is not JSON of the Summary API's shape is a
/// [`DecodeError`]; skipped series carry `line: 0` and a JSON path.
pub fn decode_summary(body: &[u8]) -> Result<Decoded<'static>, DecodeError> {
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(DecodeError::Compressed);
    }
    let summary: Summary = serde_json::from_slice(body)?;
    let mut skips = Skips::default();
    let mut out = Decoded::default();
    if let Some(node) = summary.node {
        out.node = NodeRaw {
            cpu: cpu_point(node.cpu.as_ref(), &mut skips, || "node".into()),
            memory: memory_point(node.memory.as_ref(), &mut skips, || "node".into()),
            swap: swap_point(node.swap.as_ref(), &mut skips, || "node".into()),
        };
    }
    let mut index = ContainerIndex::default();
    for (i, pod) in summary.pods.into_iter().flatten().enumerate() {
        let (namespace, name) = match pod.pod_ref {
            Some(PodRef {
                name: Some(name),
                namespace: Some(namespace),
            }) if !name.is_empty() && !namespace.is_empty() => (namespace, name),
            _ => {
                skips.push(0, || {
                    format!("pods[{i}]: podRef has no name or no namespace; pod skipped")
                });
                continue;
            }
        };
        for (j, c) in pod.containers.into_iter().flatten().enumerate() {
            let path = || format!("pods[{i}] ({namespace}/{name}).containers[{j}]");
            let Some(cname) = c.name.filter(|n| !n.is_empty()) else {
                skips.push(0, || format!("{}: no name; container skipped", path()));
                continue;
            };
            let path = || format!("{} ({cname})", path());
            let cpu = cpu_point(c.cpu.as_ref(), &mut skips, path);
            let memory = memory_point(c.memory.as_ref(), &mut skips, path);
            let swap = swap_point(c.swap.as_ref(), &mut skips, path);
            let start = match c.start_time {
                None => None,
                Some(t) => time(t, &mut skips, || format!("{}.startTime", path())),
            };
            if cpu.is_none() && memory.is_none() && start.is_none() {
                continue;
            }
            let slot = index.slot(
                &mut out.containers,
                ContainerField::Cpu,
                Cow::Owned(namespace.clone()),
                Cow::Owned(name.clone()),
                Cow::Owned(cname),
            );
            // Later duplicates win field by field, as in the text decoder.
            if cpu.is_some() {
                slot.cpu = cpu;
            }
            if memory.is_some() {
                slot.memory = memory;
            }
            if let Some(ms) = start {
                slot.start_time_s = Some(ms as f64 / 1000.0);
            }
            if swap.is_some() {
                slot.swap = swap;
            }
        }
    }
    out.skipped = skips.finish();
    Ok(out)
}

fn cpu_point(
    cpu: Option<&CpuStats>,
    skips: &mut Skips,
    path: impl Fn() -> String,
) -> Option<Point> {
    let cpu = cpu?;
    let core_s = match cpu.usage_core_nano_seconds? {
        Num::Int(n) => n as f64 / 1e9,
        Num::Float(x) => x / 1e9,
        Num::Bad(what) => {
            skips.push(0, || {
                format!(
                    "{}.cpu.usageCoreNanoSeconds: {what}; series skipped",
                    path()
                )
            });
            return None;
        }
    };
    if core_s == 0.0 {
        return None;
    }
    point(core_s, cpu.time, skips, || format!("{}.cpu", path()))
}

fn memory_point(
    memory: Option<&MemoryStats>,
    skips: &mut Skips,
    path: impl Fn() -> String,
) -> Option<Point> {
    let memory = memory?;
    let bytes = match memory.working_set_bytes? {
        Num::Int(n) => n as f64,
        Num::Float(x) => x,
        Num::Bad(what) => {
            skips.push(0, || {
                format!("{}.memory.workingSetBytes: {what}; series skipped", path())
            });
            return None;
        }
    };
    if bytes == 0.0 {
        return None;
    }
    point(bytes, memory.time, skips, || format!("{}.memory", path()))
}

/// Swap usage; unlike CPU and memory, a present zero is a reading (no swap used), because the
/// kubelet omits the whole `swap` object where it has no swap data.
fn swap_point(
    swap: Option<&SwapStats>,
    skips: &mut Skips,
    path: impl Fn() -> String,
) -> Option<Point> {
    let swap = swap?;
    let bytes = match swap.swap_usage_bytes? {
        Num::Int(n) => n as f64,
        Num::Float(x) => x,
        Num::Bad(what) => {
            skips.push(0, || {
                format!("{}.swap.swapUsageBytes: {what}; series skipped", path())
            });
            return None;
        }
    };
    point(bytes, swap.time, skips, || format!("{}.swap", path()))
}

fn point(
    value: f64,
    t: Option<Time>,
    skips: &mut Skips,
    path: impl Fn() -> String,
) -> Option<Point> {
    let timestamp_ms = match t {
        None => None,
        Some(t) => Some(time(t, skips, || format!("{}.time", path()))?),
    };
    Some(Point {
        value,
        timestamp_ms,
    })
}

/// A usable time in Unix milliseconds, or `None` after recording why not.
fn time(t: Time, skips: &mut Skips, path: impl Fn() -> String) -> Option<i64> {
    match t {
        Time::Ms(ms) if ms >= 0 => Some(ms),
        Time::Ms(ms) => {
            skips.push(0, || {
                format!(
                    "{}: {ms} ms is before the Unix epoch; series skipped",
                    path()
                )
            });
            None
        }
        Time::Bad(what) => {
            skips.push(0, || format!("{}: {what}; series skipped", path()));
            None
        }
    }
}

#[derive(Deserialize)]
struct Summary {
    node: Option<NodeStats>,
    pods: Option<Vec<PodStats>>,
}

#[derive(Deserialize)]
struct NodeStats {
    cpu: Option<CpuStats>,
    memory: Option<MemoryStats>,
    swap: Option<SwapStats>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStats {
    pod_ref: Option<PodRef>,
    containers: Option<Vec<ContainerStats>>,
}

#[derive(Deserialize)]
struct PodRef {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStats {
    name: Option<String>,
    start_time: Option<Time>,
    cpu: Option<CpuStats>,
    memory: Option<MemoryStats>,
    swap: Option<SwapStats>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CpuStats {
    time: Option<Time>,
    usage_core_nano_seconds: Option<Num>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemoryStats {
    time: Option<Time>,
    working_set_bytes: Option<Num>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SwapStats {
    time: Option<Time>,
    swap_usage_bytes: Option<Num>,
}

/// A non-negative JSON number, or what was found instead. Accepting any JSON
/// type here keeps one bad field from failing the whole document.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(u64),
    Float(f64),
    Bad(&'static str),
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num::Int(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(u64::try_from(v).map_or(Num::Bad("negative number"), Num::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(if v.is_finite() && v >= 0.0 {
                    Num::Float(v)
                } else {
                    Num::Bad("negative number")
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
                Ok(Num::Bad("a boolean, not a number"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Num, E> {
                Ok(Num::Bad("a string, not a number"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Num, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num::Bad("an array, not a number"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Num, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Num::Bad("an object, not a number"))
            }
        }
        d.deserialize_any(V)
    }
}

/// An RFC 3339 time as Unix milliseconds, or why it is not one; lenient for the
/// same reason as [`Num`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Time {
    Ms(i64),
    Bad(&'static str),
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Time, E> {
                Ok(v.parse::<jiff::Timestamp>()
                    .map_or(Time::Bad("not an RFC 3339 time"), |t| {
                        Time::Ms(t.as_millisecond())
                    }))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Time, E> {
                Ok(Time::Bad("a number, not an RFC 3339 time"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Time, E> {
                Ok(Time::Bad("a number, not an RFC 3339 time"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Time, E> {
                Ok(Time::Bad("a number, not an RFC 3339 time"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Time, E> {
                Ok(Time::Bad("a boolean, not an RFC 3339 time"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Time, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Time::Bad("an array, not an RFC 3339 time"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Time, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Time::Bad("an object, not an RFC 3339 time"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::decode::ContainerRaw;
    use crate::scrape::decode::test_support::pt;

    fn fixture() -> Vec<u8> {
        crate::scrape::decode::test_support::fixture("stats_summary_kind_k8s1.17.json")
    }

    fn decode(body: &[u8]) -> Decoded<'static> {
        match decode_summary(body) {
            Ok(d) => d,
            Err(e) => panic!("decode failed: {e}"),
        }
    }

    // 2020-04-16T20:25:28Z, 20:25:30Z and 20:17:46Z as Unix seconds.
    const T2528: i64 = 1_587_068_728;
    const T2530: i64 = 1_587_068_730;
    const T1746: f64 = 1_587_068_266.0;

    fn container(pod: &str, cpu: Option<Point>, memory: Option<Point>) -> ContainerRaw<'static> {
        ContainerRaw {
            namespace: "default".into(),
            pod: pod.to_owned().into(),
            container: "container".into(),
            cpu,
            memory,
            start_time_s: Some(T1746),
            swap: None,
        }
    }

    #[test]
    fn kind_117_fixture_node_and_every_edge_case_pod() {
        let d = decode(&fixture());
        assert_eq!(d.skipped, vec![]);
        // Node: usageCoreNanoSeconds 519978197128, workingSetBytes 1417551872.
        assert_eq!(d.node.cpu, pt(519.978197128, T2528 * 1000));
        assert_eq!(d.node.memory, pt(1_417_551_872.0, T2528 * 1000));
        let cpu = pt(0.029328792, T2530 * 1000);
        let mem = pt(1_449_984.0, T2530 * 1000);
        assert_eq!(
            d.containers,
            vec![
                container("all-fields", cpu, mem),
                container("zero usageCoreNanoSeconds", None, mem),
                container("no usageCoreNanoSeconds", None, mem),
                container("no CPU", None, mem),
                container("zero workingSetBytes", cpu, None),
                container("no workingSetBytes", cpu, None),
                container("no memory", cpu, None),
            ]
        );
    }

    #[test]
    fn swap_is_read_where_present_and_zero_is_a_reading() {
        let body = br#"{
          "node": {"cpu": {"time": "2020-04-16T20:25:28Z", "usageCoreNanoSeconds": 5000000000},
                   "memory": {"time": "2020-04-16T20:25:28Z", "workingSetBytes": 12},
                   "swap": {"time": "2020-04-16T20:25:28Z", "swapAvailableBytes": 9, "swapUsageBytes": 4096}},
          "pods": [{"podRef": {"name": "p", "namespace": "n"}, "containers": [
            {"name": "a", "cpu": {"usageCoreNanoSeconds": 1}, "memory": {"workingSetBytes": 1},
             "swap": {"time": "2020-04-16T20:25:30Z", "swapUsageBytes": 0}},
            {"name": "b", "cpu": {"usageCoreNanoSeconds": 1}, "memory": {"workingSetBytes": 1}},
            {"name": "c", "cpu": {"usageCoreNanoSeconds": 1}, "memory": {"workingSetBytes": 1},
             "swap": {"swapUsageBytes": "lots"}}
          ]}]
        }"#;
        let d = decode(body);
        assert_eq!(d.node.swap, pt(4096.0, T2528 * 1000));
        let swaps: Vec<_> = d.containers.iter().map(|c| c.swap).collect();
        assert_eq!(swaps, vec![pt(0.0, T2530 * 1000), None, None]);
        assert_eq!(d.skipped.len(), 1);
        assert!(
            d.skipped[0].reason.contains("(c).swap.swapUsageBytes"),
            "{}",
            d.skipped[0]
        );
    }

    #[test]
    fn bad_fields_cost_only_their_series() {
        let body = br#"{
          "node": {"cpu": {"time": "yesterday", "usageCoreNanoSeconds": 5000000000},
                   "memory": {"time": "2020-04-16T20:25:28Z", "workingSetBytes": "12"}},
          "pods": [
            {"podRef": {"name": "p", "namespace": "n"}, "containers": [
              {"name": "neg", "startTime": "1969-12-31T23:59:59Z",
               "cpu": {"time": "2020-04-16T20:25:30Z", "usageCoreNanoSeconds": -1},
               "memory": {"time": 17, "workingSetBytes": 10}},
              {"name": "", "cpu": {"usageCoreNanoSeconds": 1}},
              {"cpu": {"usageCoreNanoSeconds": 1}},
              {"name": "ok", "cpu": {"usageCoreNanoSeconds": 2000000000, "time": null},
               "memory": {"workingSetBytes": [1], "time": {"a": 1}}},
              {"name": "odd", "startTime": true,
               "cpu": {"time": "0001-01-01T00:00:00Z", "usageCoreNanoSeconds": 1.5e9},
               "memory": {"workingSetBytes": {"x": [1, 2]}}}
            ]},
            {"podRef": {"name": "no-namespace"}, "containers": [{"name": "c"}]},
            {"containers": [{"name": "c"}]},
            {"podRef": {"name": "q", "namespace": "n"}, "containers": null},
            {"podRef": {"name": "q", "namespace": "n"}}
          ]
        }"#;
        let d = decode(body);
        assert_eq!(d.node.cpu, None);
        assert_eq!(d.node.memory, None);
        let ok = ContainerRaw {
            namespace: "n".into(),
            pod: "p".into(),
            container: "ok".into(),
            cpu: Some(Point {
                value: 2.0,
                timestamp_ms: None,
            }),
            memory: None,
            start_time_s: None,
            swap: None,
        };
        assert_eq!(d.containers, vec![ok]);
        let r: Vec<String> = d.skipped.iter().map(|s| s.reason.clone()).collect();
        let expected = [
            "node.cpu.time: not an RFC 3339 time",
            "node.memory.workingSetBytes: a string, not a number",
            "pods[0] (n/p).containers[0] (neg).cpu.usageCoreNanoSeconds: negative number",
            "pods[0] (n/p).containers[0] (neg).memory.time: a number, not an RFC 3339 time",
            "pods[0] (n/p).containers[0] (neg).startTime: -1000 ms is before the Unix epoch",
            "pods[0] (n/p).containers[1]: no name",
            "pods[0] (n/p).containers[2]: no name",
            "pods[0] (n/p).containers[3] (ok).memory.workingSetBytes: an array, not a number",
            "pods[0] (n/p).containers[4] (odd).cpu.time: -62135596800000 ms is before the Unix epoch",
            "pods[0] (n/p).containers[4] (odd).memory.workingSetBytes: an object, not a number",
            "pods[0] (n/p).containers[4] (odd).startTime: a boolean, not an RFC 3339 time",
            "pods[1]: podRef has no name or no namespace",
            "pods[2]: podRef has no name or no namespace",
        ];
        assert_eq!(r.len(), expected.len(), "{r:#?}");
        for (got, want) in r.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
        assert!(d.skipped.iter().all(|s| s.line == 0));
    }

    #[test]
    fn times_with_fractions_and_offsets() {
        let body = br#"{"pods": [{"podRef": {"name": "p", "namespace": "n"}, "containers": [
            {"name": "c", "startTime": "2020-04-16T22:17:46.25+02:00",
             "cpu": {"time": "2020-04-16T20:25:30.123456789Z", "usageCoreNanoSeconds": 1},
             "memory": {"time": "2020-04-16t20:25:30z", "workingSetBytes": 1}}]}]}"#;
        let d = decode(body);
        assert_eq!(d.skipped, vec![]);
        let c = &d.containers[0];
        assert_eq!(c.start_time_s, Some(T1746 + 0.25));
        assert_eq!(c.cpu, pt(1e-9, T2530 * 1000 + 123));
        assert_eq!(c.memory, pt(1.0, T2530 * 1000));
    }

    #[test]
    fn duplicates_merge_field_by_field_later_wins() {
        let body = br#"{"pods": [
            {"podRef": {"name": "p", "namespace": "n"}, "containers": [
              {"name": "c", "cpu": {"usageCoreNanoSeconds": 1000000000}, "memory": {"workingSetBytes": 5}}]},
            {"podRef": {"name": "other", "namespace": "n"}, "containers": [
              {"name": "c", "cpu": {"usageCoreNanoSeconds": 7}}]},
            {"podRef": {"name": "p", "namespace": "n"}, "containers": [
              {"name": "c", "cpu": {"usageCoreNanoSeconds": 3000000000}}]}]}"#;
        let d = decode(body);
        assert_eq!(d.containers.len(), 2);
        assert_eq!(d.containers[0].pod, "p");
        assert_eq!(d.containers[0].cpu.map(|p| p.value), Some(3.0));
        assert_eq!(d.containers[0].memory.map(|p| p.value), Some(5.0));
        assert_eq!(d.containers[1].pod, "other");
    }

    #[test]
    fn empty_and_partial_documents() {
        assert_eq!(decode(b"{}"), Decoded::default());
        assert_eq!(
            decode(br#"{"node": null, "pods": null}"#),
            Decoded::default()
        );
        assert_eq!(decode(br#"{"node": {}, "pods": []}"#), Decoded::default());
        // Nanocore-seconds scale to core-seconds with one rounding.
        let d = decode(br#"{"node": {"cpu": {"usageCoreNanoSeconds": 123456789012345}}}"#);
        assert_eq!(d.node.cpu.map(|p| p.value), Some(123_456.789_012_345));
        assert_eq!(d.node.cpu.and_then(|p| p.timestamp_ms), None);
    }

    #[test]
    fn bodies_that_are_not_summary_json_are_errors() {
        for body in [
            &b""[..],
            b"[]",
            b"null",
            b"<html>",
            b"{\"pods\": 3}",
            b"{\"node\": ",
        ] {
            assert!(
                matches!(decode_summary(body), Err(DecodeError::Json(_))),
                "{body:?}"
            );
        }
        assert!(matches!(
            decode_summary(&[0x1f, 0x8b, 8]),
            Err(DecodeError::Compressed)
        ));
    }

    #[test]
    fn truncated_bodies_never_panic() {
        let body = fixture();
        for cut in (0..body.len()).step_by(97) {
            assert!(decode_summary(&body[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_summary(&body).is_ok());
    }
}
