//! What the decoder accepts: escapes, spacing, label order, line endings, exact names, duplicates
//! and timestamps.

use std::borrow::Cow;

use super::{decode, fixture, pt};
use crate::scrape::decode::resource::numbers::parse_i64;
use crate::scrape::decode::{ContainerRaw, Decoded, Point};

#[test]
fn escapes_are_undone_and_owned_only_when_present() {
    let body = concat!(
        r#"container_cpu_usage_seconds_total{namespace="n\\s",pod="p\"q\"",container="a\nb"} 1 2"#,
        "\n",
        r#"container_memory_working_set_bytes{namespace="n\\s",pod="p\"q\"",container="a\nb"} 3 4"#,
        "\n",
        r#"container_cpu_usage_seconds_total{namespace="ns",pod="a,b=c}d",container="x\ty\q"} 5"#,
        "\n",
        r#"container_cpu_usage_seconds_total{namespace="plain",pod="p",container="c"} 6"#,
    );
    let d = decode(body.as_bytes());
    assert_eq!(d.skipped, vec![]);
    assert_eq!(d.containers.len(), 3);
    let c = &d.containers[0];
    assert_eq!(
        (&*c.namespace, &*c.pod, &*c.container),
        ("n\\s", "p\"q\"", "a\nb")
    );
    assert!(matches!(c.namespace, Cow::Owned(_)));
    assert_eq!(c.cpu, pt(1.0, 2));
    assert_eq!(c.memory, pt(3.0, 4));
    // Delimiters inside quotes are data; unknown escapes are kept verbatim.
    let c = &d.containers[1];
    assert_eq!((&*c.pod, &*c.container), ("a,b=c}d", r"x\ty\q"));
    assert!(matches!(c.pod, Cow::Borrowed(_)));
    assert!(matches!(c.container, Cow::Owned(_)));
    assert_eq!(c.cpu.and_then(|p| p.timestamp_ms), None);
    assert!(matches!(d.containers[2].namespace, Cow::Borrowed(_)));
}

#[test]
fn label_order_spacing_and_extra_labels() {
    let body = b"container_cpu_usage_seconds_total{ pod = \"p\" , id=\"/k\",container=\"c\",namespace=\"n\", } \t 1.5e+00   17\n\
        container_memory_working_set_bytes {namespace=\"n\",pod=\"p\",container=\"c\"} 2\n\
        \t container_start_time_seconds{container=\"c\",pod=\"p\",namespace=\"n\"}1.7e9 9   \n\
        node_cpu_usage_seconds_total{} 3 4\n\
        node_memory_working_set_bytes{instance=\"x\"} 5\n";
    let d = decode(body);
    assert_eq!(d.skipped, vec![]);
    assert_eq!(
        d.containers,
        vec![ContainerRaw {
            namespace: "n".into(),
            pod: "p".into(),
            container: "c".into(),
            cpu: pt(1.5, 17),
            memory: Some(Point {
                value: 2.0,
                timestamp_ms: None
            }),
            start_time_s: Some(1.7e9),
            swap: None,
        }]
    );
    assert_eq!(d.node.cpu, pt(3.0, 4));
    assert_eq!(
        d.node.memory,
        Some(Point {
            value: 5.0,
            timestamp_ms: None
        })
    );
}

#[test]
fn metric_names_match_exactly_not_by_prefix() {
    let body =
        b"container_cpu_usage_seconds_total_extra{namespace=\"n\",pod=\"p\",container=\"c\"} 1 1\n\
        node_cpu_usage_seconds 1 1\n\
        node_cpu_usage_seconds_total_x 2 2\n\
        xnode_memory_working_set_bytes 3 3\n\
        node_swap_usage_bytes_x 0 1\n\
        container_swap_usage_bytes_total{namespace=\"n\",pod=\"p\",container=\"c\"} 0 1\n\
        pod_swap_usage_bytes{namespace=\"n\",pod=\"p\"} 0 1\n\
        scrape_error 0\n\
        resource_scrape_error 0\n";
    let d = decode(body);
    assert_eq!(d, Decoded::default());
}

#[test]
fn empty_blank_and_comment_only_bodies_are_empty_results() {
    for body in [
        &b""[..],
        b"\n",
        b"\r\n\r\n",
        b"   \t\n",
        b"# EOF\n",
        b"# HELP x y\n# TYPE x gauge\n",
    ] {
        assert_eq!(decode(body), Decoded::default(), "{body:?}");
    }
}

#[test]
fn crlf_line_endings() {
    let body = fixture("metrics_resource_single_pod_normal.prom");
    let crlf: Vec<u8> = body
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    assert_eq!(decode(&crlf), decode(&body));
}

#[test]
fn last_line_without_newline_still_counts() {
    let d = decode(b"node_cpu_usage_seconds_total 1 2\nnode_memory_working_set_bytes 3 4");
    assert_eq!(d.node.memory, pt(3.0, 4));
}

#[test]
fn duplicate_series_later_wins_and_order_is_first_appearance() {
    let body =
        b"container_cpu_usage_seconds_total{namespace=\"n\",pod=\"b\",container=\"c\"} 1 1\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"a\",container=\"c\"} 2 2\n\
        container_memory_working_set_bytes{namespace=\"n\",pod=\"a\",container=\"c\"} 3 3\n\
        container_cpu_usage_seconds_total{namespace=\"n\",pod=\"b\",container=\"c\"} 4 4\n\
        node_cpu_usage_seconds_total 5 5\n\
        node_cpu_usage_seconds_total 6 6\n";
    let d = decode(body);
    let pods: Vec<_> = d.containers.iter().map(|c| &*c.pod).collect();
    assert_eq!(pods, ["b", "a"]);
    assert_eq!(d.containers[0].cpu, pt(4.0, 4));
    assert_eq!(d.containers[1].cpu, pt(2.0, 2));
    assert_eq!(d.containers[1].memory, pt(3.0, 3));
    assert_eq!(d.node.cpu, pt(6.0, 6));
}

#[test]
fn timestamps_parse_exactly() {
    assert_eq!(parse_i64(b"1633253812125"), Some(1_633_253_812_125));
    assert_eq!(parse_i64(b"-62135596800000"), Some(-62_135_596_800_000));
    assert_eq!(parse_i64(b"+5"), Some(5));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"9223372036854775808",
        b"1e3",
        b"1.0",
        b"12a",
    ] {
        assert_eq!(parse_i64(bad), None, "{bad:?}");
    }
}
