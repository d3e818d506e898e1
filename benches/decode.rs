//! Decoder throughput, against prometheus-parse as the baseline the hand-written
//! `/metrics/resource` decoder replaces. Run with `cargo bench --bench decode`.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metrics_apiserver::scrape::decode::{decode_resource, decode_summary};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubelet/");

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{DIR}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A current-kubelet-shaped page: `pods` pods of 1–3 containers (about two on
/// average), HELP/TYPE for every family, pod and error series the decoder must
/// skip, ms timestamps and Go's exponent form for byte counts.
fn generate(pods: usize) -> String {
    let keys: Vec<(String, String, String)> = (0..pods)
        .flat_map(|p| {
            (0..1 + p % 3).map(move |c| {
                (
                    format!("namespace-{}", p % 9),
                    format!("deployment-{p}-7d9f8c6b5-x{:04x}", p * 7919 % 65536),
                    format!("container-{c}"),
                )
            })
        })
        .collect();
    let mut out = String::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let family = |out: &mut String, name: &str, kind: &str| {
        let _ = writeln!(out, "# HELP {name} [STABLE] generated for the benchmark");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    let ts = |r: u64| 1_764_000_000_000 + r % 20_000;
    let bytes = |r: u64| {
        let s = format!("{:e}", (r % 400_000 * 4096) as f64);
        match s.split_once('e') {
            Some((m, e)) => format!("{m}e+{e:0>2}"),
            None => s,
        }
    };
    family(&mut out, "container_cpu_usage_seconds_total", "counter");
    for (ns, pod, c) in &keys {
        let (v, t) = (next(), next());
        let _ = writeln!(
            out,
            "container_cpu_usage_seconds_total{{container=\"{c}\",namespace=\"{ns}\",pod=\"{pod}\"}} {}.{:06} {}",
            v % 5000,
            v % 1_000_000,
            ts(t)
        );
    }
    family(&mut out, "container_memory_working_set_bytes", "gauge");
    for (ns, pod, c) in &keys {
        let (v, t) = (next(), next());
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{container=\"{c}\",namespace=\"{ns}\",pod=\"{pod}\"}} {} {}",
            bytes(v),
            ts(t)
        );
    }
    family(&mut out, "container_start_time_seconds", "gauge");
    for (ns, pod, c) in &keys {
        let (v, t) = (next(), next());
        let _ = writeln!(
            out,
            "container_start_time_seconds{{container=\"{c}\",namespace=\"{ns}\",pod=\"{pod}\"}} 1.7639{:05}e+09 {}",
            v % 100_000,
            ts(t)
        );
    }
    family(&mut out, "node_cpu_usage_seconds_total", "counter");
    let _ = writeln!(out, "node_cpu_usage_seconds_total 98765.4321 1764000010002");
    family(&mut out, "node_memory_working_set_bytes", "gauge");
    let _ = writeln!(
        out,
        "node_memory_working_set_bytes 6.442450944e+09 1764000010002"
    );
    family(&mut out, "pod_cpu_usage_seconds_total", "counter");
    for p in 0..pods {
        let (v, t) = (next(), next());
        let _ = writeln!(
            out,
            "pod_cpu_usage_seconds_total{{namespace=\"namespace-{}\",pod=\"deployment-{p}\"}} {}.{:03} {}",
            p % 9,
            v % 9000,
            v % 1000,
            ts(t)
        );
    }
    family(&mut out, "pod_memory_working_set_bytes", "gauge");
    for p in 0..pods {
        let (v, t) = (next(), next());
        let _ = writeln!(
            out,
            "pod_memory_working_set_bytes{{namespace=\"namespace-{}\",pod=\"deployment-{p}\"}} {} {}",
            p % 9,
            bytes(v),
            ts(t)
        );
    }
    family(&mut out, "resource_scrape_error", "gauge");
    let _ = writeln!(out, "resource_scrape_error 0");
    out
}

fn prometheus_parse(body: &str) -> usize {
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).map_or(0, |s| s.samples.len())
}

fn bench(c: &mut Criterion) {
    let kind =
        String::from_utf8_lossy(&fixture("metrics_resource_kind_k8s1.21_70pods.prom")).into_owned();
    let generated = generate(110);
    // Guard against benchmarking a body the decoder mostly skips.
    match decode_resource(generated.as_bytes()) {
        Ok(d) if d.containers.len() == 219 && d.skipped.is_empty() => {}
        other => panic!("generated body does not decode cleanly: {other:?}"),
    }
    for (name, body) in [("kind_70pods", &kind), ("generated_110pods", &generated)] {
        let mut g = c.benchmark_group(format!("resource/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("decode_resource", |b| {
            b.iter(|| decode_resource(black_box(body.as_bytes())).map(|d| d.containers.len()))
        });
        g.bench_function("prometheus_parse", |b| {
            b.iter(|| prometheus_parse(black_box(body)))
        });
        g.finish();
    }
    let summary = fixture("stats_summary_kind_k8s1.17.json");
    let mut g = c.benchmark_group("summary/kind_k8s1.17");
    g.throughput(Throughput::Bytes(summary.len() as u64));
    g.bench_function("decode_summary", |b| {
        b.iter(|| decode_summary(black_box(&summary)).map(|d| d.containers.len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
