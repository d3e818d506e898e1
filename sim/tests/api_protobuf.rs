//! Protobuf through the aggregation proxy, checked by a decoder written here from the wire format
//! alone (no prost, no message types): the `k8s\0` envelope, `runtime.Unknown`, and every field of
//! NodeMetrics, PodMetrics and their lists compared with the JSON answer at the same resourceVersion,
//! and the length-prefixed `WatchEvent` frames of a watch (objects, bookmarks, errors).

mod common;

use std::time::Duration;

use common::Cluster;
use metrics_apiserver::api::quantity::format_go_duration_ms;
use metrics_apiserver::api::types::rfc3339_seconds;
use serde_json::{Value, json};

/// A decoded field: a varint or the bytes of a length-delimited field.
#[derive(Debug, Clone)]
enum F {
    V(u64),
    B(Vec<u8>),
}

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Every field of a message, in order, as (number, value).
fn fields(b: &[u8]) -> Vec<(u64, F)> {
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let key = varint(b, &mut i);
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, F::V(varint(b, &mut i)))),
            2 => {
                let n = varint(b, &mut i) as usize;
                out.push((num, F::B(b[i..i + n].to_vec())));
                i += n;
            }
            w => panic!("unexpected wire type {w}"),
        }
    }
    out
}

fn bytes(fs: &[(u64, F)], num: u64) -> Vec<Vec<u8>> {
    fs.iter()
        .filter(|(n, _)| *n == num)
        .filter_map(|(_, f)| match f {
            F::B(b) => Some(b.clone()),
            F::V(_) => None,
        })
        .collect()
}

fn one(fs: &[(u64, F)], num: u64) -> Option<Vec<u8>> {
    bytes(fs, num).into_iter().next()
}

fn string(fs: &[(u64, F)], num: u64) -> Option<String> {
    one(fs, num).map(|b| String::from_utf8(b).unwrap())
}

fn int(fs: &[(u64, F)], num: u64) -> Option<i64> {
    fs.iter()
        .find(|(n, _)| *n == num)
        .and_then(|(_, f)| match f {
            F::V(v) => Some(*v as i64),
            F::B(_) => None,
        })
}

/// `k8s\0` + Unknown: (apiVersion, kind, raw, contentEncoding, contentType).
fn envelope(body: &[u8]) -> (String, String, Vec<u8>, String, String) {
    assert_eq!(&body[..4], b"k8s\0", "magic");
    let u = fields(&body[4..]);
    let tm = fields(&one(&u, 1).expect("typeMeta"));
    (
        string(&tm, 1).unwrap(),
        string(&tm, 2).unwrap(),
        one(&u, 2).expect("raw"),
        string(&u, 3).unwrap(),
        string(&u, 4).unwrap(),
    )
}

fn time(b: &[u8]) -> String {
    let t = fields(b);
    rfc3339_seconds(int(&t, 1).unwrap_or(0) * 1000)
}

/// A map field's entries (key 1, value 2).
fn entries(fs: &[(u64, F)], num: u64) -> Vec<(String, Vec<u8>)> {
    bytes(fs, num)
        .into_iter()
        .map(|e| {
            let e = fields(&e);
            (string(&e, 1).unwrap(), one(&e, 2).unwrap_or_default())
        })
        .collect()
}

/// ObjectMeta as the JSON metadata the server writes.
fn metadata(b: &[u8]) -> Value {
    let m = fields(b);
    let mut v = json!({"name": string(&m, 1).unwrap(), "resourceVersion": string(&m, 6).unwrap()});
    if let Some(ns) = string(&m, 3) {
        v["namespace"] = ns.into();
    }
    if let Some(uid) = string(&m, 5) {
        v["uid"] = uid.into();
    }
    v["creationTimestamp"] = time(&one(&m, 8).unwrap()).into();
    let labels: serde_json::Map<String, Value> = entries(&m, 11)
        .into_iter()
        .map(|(k, v)| (k, Value::String(String::from_utf8(v).unwrap())))
        .collect();
    if !labels.is_empty() {
        v["labels"] = Value::Object(labels);
    }
    v
}

fn usage(fs: &[(u64, F)], num: u64) -> Value {
    let m: serde_json::Map<String, Value> = entries(fs, num)
        .into_iter()
        .map(|(k, q)| (k, string(&fields(&q), 1).unwrap().into()))
        .collect();
    Value::Object(m)
}

fn window(b: &[u8]) -> String {
    let ns = int(&fields(b), 1).unwrap_or(0);
    format_go_duration_ms((ns / 1_000_000) as u64)
}

/// A NodeMetrics or PodMetrics message as its JSON list item.
fn item(b: &[u8], pod: bool) -> Value {
    let f = fields(b);
    let mut v = json!({
        "metadata": metadata(&one(&f, 1).unwrap()),
        "timestamp": time(&one(&f, 2).unwrap()),
        "window": window(&one(&f, 3).unwrap()),
    });
    if pod {
        v["containers"] = bytes(&f, 4)
            .iter()
            .map(|c| {
                let c = fields(c);
                json!({"name": string(&c, 1).unwrap(), "usage": usage(&c, 2)})
            })
            .collect();
    } else {
        v["usage"] = usage(&f, 4);
    }
    v
}

/// A Status message as the JSON Status the server writes for the same error.
fn status_json(b: &[u8]) -> Value {
    let f = fields(b);
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": string(&f, 2).unwrap(),
        "message": string(&f, 3).unwrap(),
        "reason": string(&f, 4).unwrap(),
        "code": int(&f, 6).unwrap(),
    });
    if let Some(d) = one(&f, 5) {
        let d = fields(&d);
        let mut details = json!({});
        for (num, key) in [(1, "name"), (2, "group"), (3, "kind")] {
            if let Some(s) = string(&d, num) {
                details[key] = s.into();
            }
        }
        let causes: Vec<Value> = bytes(&d, 4)
            .iter()
            .map(|c| {
                let c = fields(c);
                let mut cause = json!({"reason": string(&c, 1), "message": string(&c, 2)});
                if let Some(field) = string(&c, 3) {
                    cause["field"] = field.into();
                }
                cause
            })
            .collect();
        if !causes.is_empty() {
            details["causes"] = causes.into();
        }
        if let Some(s) = int(&d, 5) {
            details["retryAfterSeconds"] = s.into();
        }
        v["details"] = details;
    }
    v
}

/// The frames of a protobuf watch body: (type, the object's kind, the object's message).
fn frames(body: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let n = u32::from_be_bytes(body[i..i + 4].try_into().unwrap()) as usize;
        let ev = fields(&body[i + 4..i + 4 + n]);
        i += 4 + n;
        let ext = fields(&one(&ev, 2).expect("object"));
        let (_, kind, raw, _, _) = envelope(&one(&ext, 1).expect("raw"));
        out.push((string(&ev, 1).unwrap(), kind, raw));
    }
    out
}

/// A watch body read to its end (the stream may end without a TLS close_notify, as every watch
/// reader here tolerates).
async fn fetch_stream(http: &reqwest::Client, url: &str, accept: &str) -> (String, Vec<u8>) {
    let mut r = http.get(url).header("Accept", accept).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        body.extend_from_slice(&chunk);
    }
    (ct, body)
}

async fn fetch(http: &reqwest::Client, url: &str, accept: &str) -> (String, Vec<u8>) {
    let r = http.get(url).header("Accept", accept).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_answers_decode_to_the_json_answers() {
    let c = Cluster::start("api-proto", 2, 3, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let http = c.http();
    let (ns, name) = all[0].split_once('/').unwrap();
    for v in ["v1beta1", "v1"] {
        let base = format!("/apis/metrics.k8s.io/{v}");
        for (path, kind, pod) in [
            (format!("{base}/nodes"), "NodeMetricsList", false),
            (format!("{base}/pods"), "PodMetricsList", true),
            (
                format!("{base}/namespaces/{ns}/pods"),
                "PodMetricsList",
                true,
            ),
        ] {
            let (_, jb) = fetch(&http, &c.via_proxy(&path), "application/json").await;
            let json: Value = serde_json::from_slice(&jb).unwrap();
            let rv = json["metadata"]["resourceVersion"].as_str().unwrap();
            let exact = format!("{path}?resourceVersion={rv}&resourceVersionMatch=Exact");
            for accept in [
                "application/vnd.kubernetes.protobuf, */*",
                "application/vnd.kubernetes.protobuf,application/json",
                "application/vnd.kubernetes.protobuf",
            ] {
                let (ct, pb) = fetch(&http, &c.via_proxy(&exact), accept).await;
                assert_eq!(ct, "application/vnd.kubernetes.protobuf");
                let (api_version, k, raw, enc, cty) = envelope(&pb);
                assert_eq!(
                    (api_version.as_str(), k.as_str(), enc.as_str(), cty.as_str()),
                    (format!("metrics.k8s.io/{v}").as_str(), kind, "", "")
                );
                let list = fields(&raw);
                let lm = fields(&one(&list, 1).unwrap());
                assert_eq!(string(&lm, 2).as_deref(), Some(rv));
                let items: Vec<Value> = bytes(&list, 2).iter().map(|b| item(b, pod)).collect();
                assert!(!items.is_empty());
                assert_eq!(Value::Array(items), json["items"], "{path}");
            }
        }
        for (path, kind, pod) in [
            (format!("{base}/nodes/sim-node-1"), "NodeMetrics", false),
            (
                format!("{base}/namespaces/{ns}/pods/{name}"),
                "PodMetrics",
                true,
            ),
        ] {
            let (_, jb) = fetch(&http, &c.via_proxy(&path), "application/json").await;
            let (ct, pb) = fetch(
                &http,
                &c.via_proxy(&path),
                "application/vnd.kubernetes.protobuf, */*",
            )
            .await;
            assert_eq!(ct, "application/vnd.kubernetes.protobuf");
            let mut json: Value = serde_json::from_slice(&jb).unwrap();
            let (api_version, k, raw, _, _) = envelope(&pb);
            assert_eq!(api_version, json["apiVersion"].as_str().unwrap());
            assert_eq!(k, kind);
            let obj = json.as_object_mut().unwrap();
            obj.remove("kind");
            obj.remove("apiVersion");
            // The object may have been rescraped between the two reads; compare at equal versions.
            let decoded = item(&raw, pod);
            if decoded["metadata"]["resourceVersion"] == json["metadata"]["resourceVersion"] {
                assert_eq!(decoded, json, "{path}");
            } else {
                assert_eq!(decoded["metadata"]["name"], json["metadata"]["name"]);
            }
        }
    }
    // Watch: length-prefixed WatchEvents, each object in its envelope; then the initial-events-end
    // bookmark of a streaming list; a too-old resourceVersion is an ERROR event with a 410 Status.
    let (_, jb) = fetch(
        &http,
        &c.via_proxy("/apis/metrics.k8s.io/v1/nodes"),
        "application/json",
    )
    .await;
    let json: Value = serde_json::from_slice(&jb).unwrap();
    let names: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    let url = c.via_proxy(
        "/apis/metrics.k8s.io/v1/nodes?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=2",
    );
    let (ct, body) = fetch_stream(
        &http,
        &url,
        "application/vnd.kubernetes.protobuf;stream=watch, application/json",
    )
    .await;
    assert_eq!(ct, "application/vnd.kubernetes.protobuf;stream=watch");
    let events = frames(&body);
    let added: Vec<String> = events
        .iter()
        .filter(|(t, _, _)| t == "ADDED")
        .map(|(_, k, raw)| {
            assert_eq!(k, "NodeMetrics");
            item(raw, false)["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(added, names);
    let (t, k, raw) = &events[names.len()];
    assert_eq!((t.as_str(), k.as_str()), ("BOOKMARK", "NodeMetrics"));
    let meta = fields(&one(&fields(raw), 1).unwrap());
    let annotations = entries(&meta, 12);
    assert_eq!(annotations[0].0, "k8s.io/initial-events-end");
    assert_eq!(annotations[0].1, b"true");
    let url = c.via_proxy("/apis/metrics.k8s.io/v1beta1/pods?watch=true&resourceVersion=1");
    let (_, body) = fetch_stream(&http, &url, "application/vnd.kubernetes.protobuf").await;
    let events = frames(&body);
    assert_eq!(events.len(), 1);
    let (t, k, raw) = &events[0];
    assert_eq!((t.as_str(), k.as_str()), ("ERROR", "Status"));
    let st = fields(raw);
    assert_eq!(string(&st, 2).as_deref(), Some("Failure"));
    assert_eq!(string(&st, 4).as_deref(), Some("Expired"));
    assert!(
        string(&st, 3)
            .unwrap()
            .starts_with("too old resource version: 1 (")
    );
    assert_eq!(int(&st, 6), Some(410));

    // Request errors in the negotiated media type, as Go's `ErrorNegotiated`: a protobuf Status for
    // a protobuf client, the same Status as the JSON answer field by field; a 406 stays JSON.
    let kubectl = "application/vnd.kubernetes.protobuf, */*";
    let watcher = "application/vnd.kubernetes.protobuf;stream=watch";
    let errors = [
        ("/apis/metrics.k8s.io/v1/nodes/nope", kubectl),
        (
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope",
            kubectl,
        ),
        (
            "/apis/metrics.k8s.io/v1/pods?labelSelector=app%20in",
            kubectl,
        ),
        (
            "/apis/metrics.k8s.io/v1/pods?resourceVersion=1&resourceVersionMatch=Exact",
            kubectl,
        ),
        (
            "/apis/metrics.k8s.io/v1/nodes?limit=-1&resourceVersionMatch=NotOlderThan",
            kubectl,
        ),
        (
            "/apis/metrics.k8s.io/v1/pods?watch=true&labelSelector=app%20in",
            watcher,
        ),
        (
            "/apis/metrics.k8s.io/v1/watch/nodes?fieldSelector=spec.x%3Dy",
            watcher,
        ),
    ];
    for (path, accept) in errors {
        let r = http
            .get(c.via_proxy(path))
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        assert!(code >= 400, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.kubernetes.protobuf"
        );
        let body = r.bytes().await.unwrap();
        let (api_version, kind, raw, _, _) = envelope(&body);
        assert_eq!((api_version.as_str(), kind.as_str()), ("v1", "Status"));
        let json_answer = http.get(c.via_proxy(path)).send().await.unwrap();
        assert_eq!(json_answer.status().as_u16(), code, "{path}");
        let want: Value = json_answer.json().await.unwrap();
        assert_eq!(status_json(&raw), want, "{path} {accept}");
    }
    let r = http
        .get(c.via_proxy("/apis/metrics.k8s.io/v1/nodes/nope"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["content-type"].to_str().unwrap()
        ),
        (406, "application/json")
    );
    c.shutdown().await;
}
