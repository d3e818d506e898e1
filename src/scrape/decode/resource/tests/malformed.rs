//! Bad input costs only the series it touches, never panics, and only a body that is not
//! Prometheus text at all is an error.

use super::{Lcg, PROM_FIXTURES, decode, fixture, pt, reasons};
use crate::scrape::decode::resource::decode_resource;
use crate::scrape::decode::{DecodeError, MAX_SKIPPED, NodeRaw, SeriesError};

#[test]
fn missing_empty_or_duplicate_key_labels_skip_the_series() {
    let body = b"container_cpu_usage_seconds_total{namespace=\"n\",container=\"c\"} 1 1\n\
        container_cpu_usage_seconds_total{pod=\"p\",container=\"c\"} 1 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\"} 1 1\n\
        container_cpu_usage_seconds_total 1 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"\",container=\"c\"} 1 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\",pod=\"q\",container=\"c\"} 1 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"ok\",container=\"c\"} 1 1\n";
    let d = decode(body);
    assert_eq!(d.containers.len(), 1);
    assert_eq!(d.containers[0].pod, "ok");
    let r = reasons(&d);
    assert_eq!(r.len(), 6, "{r:?}");
    assert!(r[0].starts_with("line 1: container_cpu_usage_seconds_total: missing label pod"));
    assert!(r[1].contains("missing label namespace"));
    assert!(r[2].contains("missing label container"));
    assert!(r[3].contains("missing label namespace"));
    assert!(r[4].contains("empty label pod"));
    assert!(r[5].starts_with("line 6:") && r[5].contains("duplicate label"));
}

#[test]
fn garbage_lines_cost_only_themselves() {
    let mut body = b"node_cpu_usage_seconds_total 1 2\n".to_vec();
    let garbage: [&[u8]; 14] = [
        b"<html>",
        b"404 page not found",
        b"node_memory_working_set_bytes",
        b"node_memory_working_set_bytes abc 1",
        b"node_memory_working_set_bytes 1 1.5",
        b"node_memory_working_set_bytes 1 2 3",
        b"node_memory_working_set_bytes-x 1",
        b"container_cpu_usage_seconds_total{pod=\"p 1",
        b"container_cpu_usage_seconds_total{pod=p} 1",
        b"container_cpu_usage_seconds_total{=\"p\"} 1",
        b"container_cpu_usage_seconds_total{pod \"p\"} 1",
        b"container_cpu_usage_seconds_total{pod=\"p\" x=\"y\"} 1",
        b"pod_cpu_usage_seconds_total{pod=\"p\"} 1 99999999999999999999",
        b"container_cpu_usage_seconds_total{pod=\"\\",
    ];
    for g in garbage {
        body.extend_from_slice(g);
        body.push(b'\n');
    }
    body.extend_from_slice(b"node_memory_working_set_bytes 7 8\n");
    let d = decode(&body);
    assert_eq!(d.node.cpu, pt(1.0, 2));
    assert_eq!(d.node.memory, pt(7.0, 8));
    let lines: Vec<usize> = d.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, (2..=15).collect::<Vec<_>>(), "{:?}", reasons(&d));
    assert!(
        d.skipped[1]
            .reason
            .contains("does not start with a metric name")
    );
    assert!(d.skipped[3].reason.contains("not a number"));
    assert!(d.skipped[4].reason.contains("timestamp is not an integer"));
    assert!(d.skipped[5].reason.contains("unexpected text"));
    assert!(d.skipped[7].reason.contains("unterminated"));
}

#[test]
fn truncated_bodies_never_panic() {
    for name in PROM_FIXTURES {
        let body = fixture(name);
        for cut in (0..body.len()).step_by(97) {
            let prefix = &body[..cut];
            match decode_resource(prefix) {
                Ok(d) => assert!(d.containers.len() <= 70),
                Err(DecodeError::NotText { lines, .. }) => assert!(lines >= 1),
                Err(e) => panic!("{name} cut at {cut}: {e}"),
            }
        }
    }
}

#[test]
fn mutated_bodies_never_panic() {
    let body = fixture("metrics_resource_modern_example.prom");
    let mut r = Lcg(42);
    for _ in 0..3000 {
        let mut b = body.clone();
        for _ in 0..1 + r.next() % 8 {
            let at = (r.next() as usize) % b.len();
            b[at] = match r.next() % 6 {
                0 => b'"',
                1 => b'\\',
                2 => b'\n',
                3 => b'{',
                4 => 0xff,
                _ => r.next() as u8,
            };
        }
        let _ = decode_resource(&b);
    }
}

#[test]
fn non_finite_and_negative_values_skip_the_series() {
    let body = b"node_cpu_usage_seconds_total NaN 1\n\
        node_memory_working_set_bytes +Inf 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\",container=\"c\"} -Inf 1\n\
        container_memory_working_set_bytes{namespace=\"n\",pod=\"p\",container=\"c\"} -1.5 1\n\
        container_start_time_seconds{namespace=\"n\",pod=\"p\",container=\"c\"} nan\n\
        container_memory_working_set_bytes{namespace=\"n\",pod=\"q\",container=\"c\"} 1.253376e+07\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"q\",container=\"c\"} 0 0\n\
        pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"q\"} NaN\n";
    let d = decode(body);
    assert_eq!(d.node, NodeRaw::default());
    assert_eq!(d.containers.len(), 1);
    let q = &d.containers[0];
    assert_eq!(q.memory.map(|p| p.value), Some(12_533_760.0));
    // Zero is a valid reading here; whether it is usable is the caller's call.
    assert_eq!(q.cpu, pt(0.0, 0));
    let r = reasons(&d);
    assert_eq!(r.len(), 5, "{r:?}");
    assert!(r[0].contains("node_cpu_usage_seconds_total: value is not finite"));
    assert!(r[3].contains("negative value"));
}

#[test]
fn non_utf8_costs_only_the_series_that_needs_it() {
    let body = b"# HELP \xff\xfe comment bytes are ignored\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\xe9\",container=\"c\"} 1 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\",container=\"c\",id=\"\xff\"} 2 2\n\
        pod_cpu_usage_seconds_total{pod=\"\xff\"} 1 1\n";
    let d = decode(body);
    assert_eq!(d.containers.len(), 1);
    assert_eq!(d.containers[0].cpu, pt(2.0, 2));
    assert_eq!(d.skipped.len(), 1);
    assert!(d.skipped[0].reason.contains("label pod is not UTF-8"));
}

#[test]
fn bodies_that_are_not_prometheus_text_are_errors() {
    for body in [
        &b"<html><body>Forbidden</body></html>\n"[..],
        b"{\"kind\":\"Status\"}",
        b"Forbidden (user=system:serviceaccount:kube-system:metrics-server, verb=get)\n",
    ] {
        match decode_resource(body) {
            Err(DecodeError::NotText { lines, first }) => {
                assert!(lines >= 1);
                assert_eq!(first.line, 1);
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }
    assert!(matches!(
        decode_resource(&[0x1f, 0x8b, 8, 0, 0]),
        Err(DecodeError::Compressed)
    ));
    // One good sample among garbage is enough to be text.
    assert!(decode_resource(b"<html>\nscrape_error 0\n").is_ok());
}

#[test]
fn skipped_list_is_capped() {
    let body = "node_cpu_usage_seconds_total NaN\n".repeat(1000);
    let d = decode(body.as_bytes());
    assert_eq!(d.skipped.len(), MAX_SKIPPED + 1);
    let last: &SeriesError = &d.skipped[MAX_SKIPPED];
    assert_eq!(last.line, MAX_SKIPPED + 1);
    assert!(last.reason.starts_with("900 more"));
}
