//! Helpers of the `restart_*` tests: a cluster whose kubelets are set up before the server's
//! first scrape, and readers of served metrics.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use metrics_apiserver_sim::SimControl;
use serde_json::Value;

use crate::common::Cluster;

/// A simulated cluster whose kubelets `setup` configures before the server first scrapes them
/// (the server is started once, stopped, and started again after `setup`).
pub async fn cluster(
    name: &str,
    nodes: usize,
    pods: usize,
    extra: &[&str],
    setup: impl FnOnce(&SimControl),
) -> Cluster {
    let mut c = Cluster::start(name, nodes, pods, extra).await;
    c.stop_server().await;
    setup(&c.sim.control);
    c.start_server().await;
    c
}

/// GET `path` on the server directly; `None` while it does not answer 200 with JSON.
pub async fn get(c: &Cluster, path: &str) -> Option<Value> {
    let r = c.http().get(c.direct(path)).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Status and body of `/readyz` with `query`.
pub async fn readyz(c: &Cluster, query: &str) -> (u16, String) {
    match c
        .http()
        .get(c.direct(&format!("/readyz{query}")))
        .send()
        .await
    {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// The served NodeMetrics items by name.
pub async fn nodes(c: &Cluster) -> Vec<Value> {
    get(c, "/apis/metrics.k8s.io/v1beta1/nodes")
        .await
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

/// The served PodMetrics items.
pub async fn pods(c: &Cluster) -> Vec<Value> {
    get(c, "/apis/metrics.k8s.io/v1beta1/pods")
        .await
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

/// The item named `name` in `items`.
pub fn named<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["metadata"]["name"] == name)
}

/// Polls `f` until it returns `Some`, failing with `what` after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A CPU quantity as served (`123n`, `5m`, `2`, `0`) in nanocores; panics on anything else,
/// negative values included.
pub fn nanocores(q: &str) -> u64 {
    let (num, scale) = match q.as_bytes().last() {
        Some(b'n') => (&q[..q.len() - 1], 1),
        Some(b'u') => (&q[..q.len() - 1], 1_000),
        Some(b'm') => (&q[..q.len() - 1], 1_000_000),
        _ => (q, 1_000_000_000),
    };
    num.parse::<u64>()
        .unwrap_or_else(|_| panic!("not a non-negative CPU quantity: {q}"))
        * scale
}

/// A memory quantity as served (`123`, `12Ki`, `3Mi`) in bytes.
pub fn bytes(q: &str) -> u64 {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ];
    for (suffix, mult) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().expect("memory quantity") * mult;
        }
    }
    q.parse()
        .unwrap_or_else(|_| panic!("not a memory quantity: {q}"))
}

/// A Go duration as served in `window` (`15s`, `1m0.5s`, `1.2s`, `500ms`) in milliseconds.
pub fn window_ms(w: &str) -> i64 {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = w.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let v: f64 = num.parse().unwrap_or_else(|_| panic!("bad window {w}"));
        num.clear();
        total += match ch {
            'h' => v * 3_600_000.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                v
            }
            'm' => v * 60_000.0,
            's' => v * 1000.0,
            _ => panic!("bad window {w}"),
        };
    }
    total.round() as i64
}

/// Unix ms of an RFC 3339 `timestamp` (second precision, `Z`).
pub fn timestamp_ms(ts: &str) -> i64 {
    let t: jiff::Timestamp = ts.parse().unwrap_or_else(|_| panic!("bad timestamp {ts}"));
    t.as_millisecond()
}

/// Wall clock, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
