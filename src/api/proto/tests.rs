//! The hand-written encoder against the reference messages: byte for byte where prost writes as Go
//! does, decoded field by field where they part (an empty label value).

use std::sync::Arc;

use prost::Message;

use super::{metrics, reference};
use crate::api::status::{ApiError, FieldError};
use crate::api::types::{ListMeta, V1, V1BETA1};
use crate::store::{NodeObject, ObjectMeta, PodKey, PodObject, Usage, Versioned};

fn usage(cpu: u64, mem: u64) -> Usage {
    Usage {
        timestamp_ms: 1_764_000_015_123,
        window_ms: 15_012,
        cpu_nanocores: cpu,
        memory_bytes: mem,
        swap_bytes: None,
    }
}

fn meta(labels: &[(&str, &str)], uid: &str, created_s: i64) -> ObjectMeta {
    let labels: Vec<(Box<str>, Box<str>)> = labels
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    ObjectMeta {
        labels: labels.into(),
        uid: Arc::from(uid),
        created_s,
    }
}

fn node(labels: &[(&str, &str)], uid: &str) -> NodeObject {
    NodeObject {
        name: Arc::from("n1"),
        meta: meta(labels, uid, 1_700_000_000),
        usage: usage(250_000_000, 1 << 30),
    }
}

fn pod(labels: &[(&str, &str)], created_s: i64) -> PodObject {
    PodObject {
        key: PodKey::new("ns", "p"),
        meta: meta(labels, "u-2", created_s),
        node: Arc::from("n1"),
        timestamp_ms: 1_764_000_015_123,
        window_ms: 15_012,
        containers: vec![
            (Arc::from("a"), usage(1, 1024)),
            (
                Arc::from("b"),
                Usage {
                    swap_bytes: Some(3 << 20),
                    ..usage(2, 2048)
                },
            ),
        ]
        .into_boxed_slice(),
    }
}

fn cells(u: &Usage) -> Vec<(&'static str, String)> {
    use crate::api::quantity::{format_cpu_nanocores, format_memory_bytes};
    let mut cells = vec![
        ("cpu", format_cpu_nanocores(u.cpu_nanocores)),
        ("memory", format_memory_bytes(u.memory_bytes)),
    ];
    cells.extend(u.swap_bytes.map(|s| ("swap", format_memory_bytes(s))));
    cells
}

fn window(ms: i64) -> Option<reference::Duration> {
    Some(reference::Duration {
        duration: Some(ms.max(0) * 1_000_000),
    })
}

#[test]
fn direct_bytes_decode_as_the_reference_messages() {
    let n = node(&[("a", "1"), ("role", "")], "u-1");
    let got = reference::NodeMetrics::decode(metrics::node(&n, 42).as_slice()).unwrap();
    assert_eq!(got.metadata.as_ref().unwrap().name.as_deref(), Some("n1"));
    assert_eq!(got.metadata.as_ref().unwrap().uid.as_deref(), Some("u-1"));
    assert_eq!(
        got.metadata.as_ref().unwrap().resource_version.as_deref(),
        Some("42")
    );
    assert_eq!(got.metadata.as_ref().unwrap().labels["role"], "");
    assert_eq!(
        got.metadata.as_ref().unwrap().creation_timestamp,
        Some(reference::time_ms(1_700_000_000_000))
    );
    assert_eq!(got.timestamp, Some(reference::time_ms(1_764_000_015_123)));
    assert_eq!(got.window.unwrap().duration, Some(15_012_000_000));
    assert_eq!(got.usage["cpu"].string.as_deref(), Some("250m"));
    assert_eq!(got.usage["memory"].string.as_deref(), Some("1Gi"));
    let p = pod(&[("a", "1"), ("role", "")], 0);
    let got = reference::PodMetrics::decode(metrics::pod(&p, 7).as_slice()).unwrap();
    let m = got.metadata.unwrap();
    assert_eq!(m.namespace.as_deref(), Some("ns"));
    assert_eq!(m.creation_timestamp, Some(reference::time_ms(0)));
    assert_eq!(got.containers.len(), 2);
    assert_eq!(got.containers[1].name.as_deref(), Some("b"));
    assert_eq!(got.containers[1].usage["cpu"].string.as_deref(), Some("2n"));
    assert_eq!(
        got.containers[1].usage["memory"].string.as_deref(),
        Some("2Ki")
    );
    assert_eq!(
        got.containers[1].usage["swap"].string.as_deref(),
        Some("3Mi")
    );
    assert!(!got.containers[0].usage.contains_key("swap"));
}

#[test]
fn objects_without_empty_label_values_match_the_reference_bytes() {
    for uid in ["u-1", ""] {
        let n = node(&[("a", "1"), ("kubernetes.io/os", "linux")], uid);
        let want = reference::NodeMetrics {
            metadata: Some(reference::object_meta(&n, 42)),
            timestamp: Some(reference::time_ms(n.usage.timestamp_ms)),
            window: window(n.usage.window_ms),
            usage: reference::usage_map(&cells(&n.usage)),
        };
        assert_eq!(metrics::node(&n, 42), want.encode_to_vec(), "uid {uid:?}");
    }
    for created_s in [0, 1_700_000_000] {
        let p = pod(&[("app", "web")], created_s);
        let want = reference::PodMetrics {
            metadata: Some(reference::object_meta(&p, 7)),
            timestamp: Some(reference::time_ms(p.timestamp_ms)),
            window: window(p.window_ms),
            containers: p
                .containers
                .iter()
                .map(|(name, u)| reference::ContainerMetrics {
                    name: Some(name.to_string()),
                    usage: reference::usage_map(&cells(u)),
                })
                .collect(),
        };
        assert_eq!(metrics::pod(&p, 7), want.encode_to_vec(), "{created_s}");
    }
}

#[test]
fn envelope_and_lists_match_the_reference_bytes() {
    for raw in [Vec::new(), vec![0x0a, 0x00], vec![7; 300]] {
        assert_eq!(
            super::envelope("metrics.k8s.io/v1beta1", "NodeMetrics", raw.clone()),
            reference::envelope("metrics.k8s.io/v1beta1", "NodeMetrics", raw)
        );
    }
    let nodes: Vec<Versioned<NodeObject>> = (0..3)
        .map(|i| Versioned {
            rv: 10 + i,
            value: Arc::new(node(&[("a", ""), ("b", "2")], "u")),
        })
        .collect();
    let pods = [Versioned {
        rv: 5,
        value: Arc::new(pod(&[], 1)),
    }];
    let metas = [
        ListMeta {
            resource_version: "123".into(),
            continue_token: None,
            remaining_item_count: None,
        },
        ListMeta {
            resource_version: "9".into(),
            continue_token: Some("eyJ0b2tlbiI6MX0".into()),
            remaining_item_count: Some(300),
        },
        ListMeta {
            resource_version: "9".into(),
            continue_token: Some(String::new()),
            remaining_item_count: Some(0),
        },
    ];
    for meta in &metas {
        for gv in [V1BETA1, V1] {
            for n in 0..=nodes.len() {
                let items: Vec<&Versioned<NodeObject>> = nodes.iter().take(n).collect();
                assert_eq!(
                    super::list(meta, &items, gv),
                    reference::list(meta, &items, gv)
                );
            }
            let items: Vec<&Versioned<PodObject>> = pods.iter().collect();
            assert_eq!(
                super::list(meta, &items, gv),
                reference::list(meta, &items, gv)
            );
            assert_eq!(super::object(&pods[0], gv), {
                let v = &pods[0];
                reference::envelope(gv.api_version, "PodMetrics", metrics::pod(&v.value, v.rv))
            });
        }
    }
}

#[test]
fn status_matches_the_reference_bytes() {
    let errors = [
        ApiError::bad_request("unable to parse requirement: found 'b'"),
        ApiError::not_found("nodes", Some("metrics.k8s.io"), "n1"),
        ApiError::no_route(),
        ApiError::method_not_allowed(),
        ApiError::invalid_list_options(vec![
            FieldError::Forbidden("resourceVersionMatch", "x".into()),
            FieldError::NotSupported("resourceVersionMatch", "y".into(), &["Exact"]),
        ]),
        ApiError::expired("too old resource version: 1 (5)"),
        ApiError::expired_continue("too old", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ".into()),
        ApiError::too_large_resource_version(99, 7),
        ApiError::too_many_requests("Too many requests, please try again later.", 1),
        ApiError::too_many_requests("huge", u32::MAX),
        ApiError::not_acceptable(&["application/json"]),
        ApiError::internal(""),
    ];
    for e in &errors {
        assert_eq!(super::status(e), reference::status(e), "{e}");
    }
}

#[test]
fn bookmarks_match_the_reference_bytes() {
    for gv in [V1BETA1, V1] {
        for initial_end in [false, true] {
            for rv in [0, 1, 1 << 40] {
                assert_eq!(
                    super::bookmark::<NodeObject>(rv, gv, initial_end),
                    reference::bookmark::<NodeObject>(rv, gv, initial_end)
                );
                assert_eq!(
                    super::bookmark::<PodObject>(rv, gv, initial_end),
                    reference::bookmark::<PodObject>(rv, gv, initial_end)
                );
            }
        }
    }
}

#[test]
fn watch_events_match_the_reference_bytes() {
    for (etype, envelope) in [
        ("ADDED", vec![1, 2, 3]),
        ("BOOKMARK", Vec::new()),
        ("ERROR", vec![9; 200]),
    ] {
        let event = reference::WatchEvent {
            r#type: Some(etype.to_string()),
            object: Some(reference::RawExtension {
                raw: Some(envelope.clone()),
            }),
        }
        .encode_to_vec();
        let mut want = (event.len() as u32).to_be_bytes().to_vec();
        want.extend_from_slice(&event);
        assert_eq!(super::watch_event(etype, &envelope), want, "{etype}");
    }
}
