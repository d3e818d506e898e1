//! The decoder against prometheus-parse, filtered by the decoder's documented rules, on the
//! fixtures and on generated kubelet-like pages.

use super::{Lcg, PROM_FIXTURES, decode, find, fixture, pt};
use crate::scrape::decode::resource::family::Family;
use crate::scrape::decode::resource::lines::Lines;
use crate::scrape::decode::resource::sample::{Outcome, Series, classify};
use crate::scrape::decode::{MAX_SKIPPED, Point};

/// (family, namespace, pod, container, value bits, timestamp) of every kept series.
type Row = (String, String, String, String, u64, i64);

/// What prometheus-parse reads, filtered by this decoder's documented rules.
fn reference_rows(body: &str) -> (Vec<Row>, usize) {
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = match prometheus_parse::Scrape::parse(lines) {
        Ok(s) => s,
        Err(e) => panic!("prometheus-parse: {e}"),
    };
    let mut rows = Vec::new();
    let mut rejected = 0;
    for s in scrape.samples {
        let Some(family) = Family::from_name(s.metric.as_bytes()) else {
            continue;
        };
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            other => panic!("unexpected {other:?}"),
        };
        let ts = s.timestamp.timestamp_millis();
        let label = |k: &str| s.labels.get(k).unwrap_or_default().to_owned();
        let (ns, pod, c) = match family {
            Family::Container(_) => (label("namespace"), label("pod"), label("container")),
            _ => Default::default(),
        };
        let keyed = !matches!(family, Family::Container(_))
            || !(ns.is_empty() || pod.is_empty() || c.is_empty());
        if value.is_finite() && value >= 0.0 && ts >= 0 && keyed {
            rows.push((family.name().to_owned(), ns, pod, c, value.to_bits(), ts));
        } else {
            rejected += 1;
        }
    }
    (rows, rejected)
}

fn our_rows(body: &[u8]) -> (Vec<Row>, usize) {
    let mut rows = Vec::new();
    let mut rejected = 0;
    for (_, line) in Lines::new(body) {
        match classify(line) {
            Outcome::Series(Series::Node { field, point }) => {
                let family = Family::Node(field);
                rows.push((
                    family.name().to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    point.value.to_bits(),
                    point.timestamp_ms.unwrap_or(i64::MIN),
                ));
            }
            Outcome::Series(Series::Container {
                field,
                namespace,
                pod,
                container,
                point,
            }) => rows.push((
                Family::Container(field).name().to_owned(),
                namespace.into_owned(),
                pod.into_owned(),
                container.into_owned(),
                point.value.to_bits(),
                point.timestamp_ms.unwrap_or(i64::MIN),
            )),
            Outcome::Rejected(_) => rejected += 1,
            Outcome::Malformed(p) => panic!("malformed line: {p}"),
            Outcome::Blank | Outcome::Other => {}
        }
    }
    (rows, rejected)
}

fn assert_agrees(body: &str) -> usize {
    let (theirs, their_rejected) = reference_rows(body);
    let (ours, our_rejected) = our_rows(body.as_bytes());
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
    assert_eq!(our_rejected, their_rejected);
    // Containers come out in the order of their first kept series.
    let mut order: Vec<(&str, &str, &str)> = Vec::new();
    for (family, ns, pod, c, ..) in &theirs {
        let key = (ns.as_str(), pod.as_str(), c.as_str());
        if family.starts_with("container_") && !order.contains(&key) {
            order.push(key);
        }
    }
    // The merged view agrees too: last write per (family, key) wins.
    let d = decode(body.as_bytes());
    assert_eq!(d.skipped.len(), our_rejected.min(MAX_SKIPPED));
    let got: Vec<_> = d
        .containers
        .iter()
        .map(|c| (&*c.namespace, &*c.pod, &*c.container))
        .collect();
    assert_eq!(got, order);
    for (family, ns, pod, c, bits, ts) in &theirs {
        let v = f64::from_bits(*bits);
        let got = match family.as_str() {
            "node_cpu_usage_seconds_total" => d.node.cpu,
            "node_memory_working_set_bytes" => d.node.memory,
            "node_swap_usage_bytes" => d.node.swap,
            f => {
                let x = find(&d, ns, pod, c);
                match f {
                    "container_cpu_usage_seconds_total" => x.cpu,
                    "container_memory_working_set_bytes" => x.memory,
                    "container_swap_usage_bytes" => x.swap,
                    _ => x.start_time_s.map(|value| Point {
                        value,
                        timestamp_ms: Some(*ts),
                    }),
                }
            }
        };
        assert_eq!(got, pt(v, *ts), "{family} {ns}/{pod}/{c}");
    }
    theirs.len()
}

#[test]
fn differential_fixtures_vs_prometheus_parse() {
    let mut total = 0;
    for name in PROM_FIXTURES {
        let body = String::from_utf8(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        total += assert_agrees(&body);
    }
    // Kept series counted by eye: 70 pods 140 + 2 node, normal 3 + 2, negative
    // 1 of 2, modern 12 + 2 container swap + 3 node (cpu, memory, swap).
    assert_eq!(total, 142 + 5 + 1 + 17);
}

/// Go's `%g`-like exponent form that kubelets write for big numbers (`1.253376e+07`).
fn go_exp(v: f64) -> String {
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) if e.starts_with('-') => format!("{m}e-{:0>2}", &e[1..]),
        Some((m, e)) => format!("{m}e+{e:0>2}"),
        None => s,
    }
}

/// A kubelet-like page: `pods` pods of `per_pod` containers, with label order,
/// value forms and timestamps varied by an LCG; one container series in 50 has
/// a NaN, negative or missing-label twist that both decoders must see alike.
fn generate(pods: usize, per_pod: usize, seed: u64) -> String {
    use std::fmt::Write;
    let mut r = Lcg(seed);
    let mut out = String::new();
    let keys: Vec<(String, String, String)> = (0..pods)
        .flat_map(|p| {
            (0..per_pod).map(move |c| {
                (
                    format!("ns-{}", p % 7),
                    format!("pod-{p}-{:x}", p * 7919),
                    format!("c{c}"),
                )
            })
        })
        .collect();
    let families = [
        ("container_cpu_usage_seconds_total", "counter"),
        ("container_memory_working_set_bytes", "gauge"),
        ("container_start_time_seconds", "gauge"),
    ];
    for (fi, (family, kind)) in families.iter().enumerate() {
        let _ = writeln!(
            out,
            "# HELP {family} [STABLE] generated\n# TYPE {family} {kind}"
        );
        for (ns, pod, c) in &keys {
            let mut labels = [
                format!("container=\"{c}\""),
                format!("namespace=\"{ns}\""),
                format!("pod=\"{pod}\""),
                "image=\"registry.k8s.io/pause:3.9\"".to_owned(),
            ];
            let k = r.next();
            labels.swap(0, (k % 4) as usize);
            labels.swap(1, (k / 4 % 3) as usize + 1);
            let mut labels = labels.join(",");
            let ts = 1_764_000_000_000 + (r.next() % 20_000) as i64;
            let value = match fi {
                0 => format!("{}.{:06}", r.next() % 5000, r.next() % 1_000_000),
                1 => go_exp(((r.next() % 400_000) * 4096) as f64),
                _ => go_exp(1_763_900_000.0 + (r.next() % 100_000) as f64 / 10.0),
            };
            let value = match r.next() % 50 {
                0 => "NaN".to_owned(),
                1 => format!("-{value}"),
                2 => {
                    labels = format!("namespace=\"{ns}\",container=\"{c}\"");
                    value
                }
                _ => value,
            };
            let _ = writeln!(out, "{family}{{{labels}}} {value} {ts}");
        }
    }
    let _ = writeln!(out, "# TYPE node_cpu_usage_seconds_total counter");
    let _ = writeln!(out, "node_cpu_usage_seconds_total 123456.789 1764000000001");
    let _ = writeln!(out, "# TYPE node_memory_working_set_bytes gauge");
    let _ = writeln!(
        out,
        "node_memory_working_set_bytes 6.442450944e+09 1764000000001"
    );
    let _ = writeln!(out, "# TYPE pod_cpu_usage_seconds_total counter");
    for p in 0..pods {
        let v = if p % 13 == 0 { "NaN" } else { "+Inf" };
        let _ = writeln!(out, "pod_cpu_usage_seconds_total{{pod=\"p{p}\"}} {v} 1");
    }
    let _ = writeln!(out, "resource_scrape_error 0");
    out
}

#[test]
fn differential_generated_vs_prometheus_parse() {
    for seed in [1, 2, 3] {
        let body = generate(200, 2, seed);
        let kept = assert_agrees(&body);
        assert!(kept > 3 * 400 * 9 / 10, "{kept}");
    }
    let body = generate(200, 2, 1);
    let d = decode(body.as_bytes());
    assert_eq!(d.containers.len(), 400);
    assert!(d.skipped.iter().all(|s| {
        let r = &s.reason;
        r.contains("value is not finite")
            || r.contains("negative value")
            || r.contains("missing label pod")
    }));
}
