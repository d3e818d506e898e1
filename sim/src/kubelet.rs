//! Fake kubelets: one HTTPS listener (one accept loop) per node serving `/metrics/resource` and
//! `/stats/summary` computed from the live model at request time.
//!
//! Bodies are rendered into a per-kubelet `BytesMut` that is reused once the previous response
//! has been sent, so steady-state scraping allocates almost nothing per request.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::model::SimNode;
use super::serve::{Body, now_ms, response, rfc3339, spawn_https};
use super::{KubeletMode, SimControl};

/// Content type of `/metrics/resource` (Prometheus text format 0.0.4).
pub const PROM_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

struct Kubelet {
    index: usize,
    control: Arc<SimControl>,
    auth: String,
    buf: Mutex<BytesMut>,
    size_hint: AtomicUsize,
}

/// Starts the kubelet of node `index` on `listener`.
pub(crate) fn spawn(
    index: usize,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    control: Arc<SimControl>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let kubelet = Arc::new(Kubelet {
        index,
        auth: format!("Bearer {}", control.token()),
        control,
        buf: Mutex::new(BytesMut::new()),
        size_hint: AtomicUsize::new(4096),
    });
    let admit = kubelet.clone();
    let kill = kubelet.control.kill_switch(index);
    spawn_https(
        format!("kubelet-{index}"),
        listener,
        tls,
        shutdown,
        move || admit.control.kubelet_mode(admit.index) != KubeletMode::Reset,
        kill,
        move |req| {
            let kubelet = kubelet.clone();
            async move { kubelet.handle(req).await }
        },
    )
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", body)
}

impl Kubelet {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let resp = self.route(&req, &path).await;
        tracing::debug!(
            kubelet = self.index,
            method = %req.method(),
            path,
            status = resp.status().as_u16(),
            "kubelet request"
        );
        resp
    }

    async fn route(&self, req: &Request<Incoming>, path: &str) -> Response<Body> {
        let authorized = req
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == self.auth.as_bytes());
        if !authorized {
            return text(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let endpoint = match path {
            "/metrics/resource" => Endpoint::Resource,
            "/stats/summary" => Endpoint::Summary,
            "/healthz" => return text(StatusCode::OK, "ok"),
            _ => return text(StatusCode::NOT_FOUND, "404 page not found\n"),
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed");
        }
        let mut mode = self.control.kubelet_mode(self.index);
        // Hang until the mode changes (or the connection / simulation goes away).
        while mode == KubeletMode::Hang {
            tokio::time::sleep(Duration::from_millis(100)).await;
            mode = self.control.kubelet_mode(self.index);
        }
        match (mode, endpoint) {
            (KubeletMode::ServerError, _) => {
                text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Error: failed to get stats\n")
            }
            (KubeletMode::ResourceNotFound, Endpoint::Resource) => {
                text(StatusCode::NOT_FOUND, "404 page not found\n")
            }
            (KubeletMode::Garbage, Endpoint::Resource) => response(
                StatusCode::OK,
                PROM_CONTENT_TYPE,
                Bytes::from_static(
                    b"# TYPE container_cpu_usage_seconds_total counter\ncontainer_cpu_usage_seconds_total{container=\"app\",namespace=\"x\" 12.5 notatime\n\x00\xff\xfe{{{ garbage }\nnode_memory_working_set_bytes abc\n",
                ),
            ),
            (KubeletMode::Huge, _) => {
                // Correct data followed by 80 MiB of comments: only a size cap refuses it.
                let mut body = self.render(write_resource_metrics).to_vec();
                let line = b"# padding that no real kubelet would send\n";
                body.extend(line.iter().copied().cycle().take(80 << 20));
                response(StatusCode::OK, PROM_CONTENT_TYPE, Bytes::from(body))
            }
            (KubeletMode::Garbage, Endpoint::Summary) => response(
                StatusCode::OK,
                "application/json",
                Bytes::from_static(b"{\"node\":{\"nodeName\":\"x\",\"cpu\":{\"usageCoreNanoSeconds\":\"NaN\",\"time\":17"),
            ),
            (KubeletMode::EmptyBody, Endpoint::Resource) => {
                response(StatusCode::OK, PROM_CONTENT_TYPE, Bytes::new())
            }
            (KubeletMode::EmptyBody, Endpoint::Summary) => {
                response(StatusCode::OK, "application/json", Bytes::from_static(b"{}"))
            }
            (mode, Endpoint::Resource) => {
                let body = self.render(write_resource_metrics);
                let body = match mode {
                    KubeletMode::NoNodeSeries | KubeletMode::ZeroNode | KubeletMode::NoStartTimes => {
                        Bytes::from(reshape_resource(&body, mode))
                    }
                    _ => body,
                };
                response(StatusCode::OK, PROM_CONTENT_TYPE, body)
            }
            (mode, Endpoint::Summary) => {
                let body = self.render(|buf, node, ts| {
                    let mut v = summary_json(node, ts);
                    reshape_summary(&mut v, mode);
                    let _ = serde_json::to_writer(buf.writer(), &v);
                });
                response(StatusCode::OK, "application/json", body)
            }
        }
    }

    /// Renders into the reused buffer under the node's read lock.
    fn render(&self, f: impl FnOnce(&mut BytesMut, &SimNode, i64)) -> Bytes {
        let ts = self.control.sample_time(now_ms());
        self.control.record_served(self.index, ts);
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        buf.clear();
        buf.reserve(self.size_hint.load(Ordering::Relaxed));
        self.control
            .with_node(self.index, |node| f(&mut buf, node, ts));
        let len = buf.len();
        self.size_hint.store(len + len / 4 + 256, Ordering::Relaxed);
        buf.split().freeze()
    }
}

/// The resource body as a kubelet in `mode` writes it: without `node_*` series (a virtual
/// kubelet), with the node reading zero, or without container start times.
fn reshape_resource(body: &[u8], mode: KubeletMode) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let node_value = line.starts_with("node_cpu_usage_seconds_total ")
            || line.starts_with("node_memory_working_set_bytes ");
        match mode {
            KubeletMode::NoNodeSeries if line.starts_with("node_") => continue,
            KubeletMode::NoStartTimes if line.starts_with("container_start_time_seconds") => {
                continue;
            }
            KubeletMode::ZeroNode if node_value => {
                let mut parts = line.split(' ');
                let name = parts.next().unwrap_or_default();
                let ts = parts.nth(1).unwrap_or_default();
                out.push_str(&format!("{name} 0 {ts}\n"));
                continue;
            }
            _ => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// The Summary document as a kubelet in `mode` writes it (see [`reshape_resource`]).
fn reshape_summary(v: &mut Value, mode: KubeletMode) {
    match mode {
        KubeletMode::NoNodeSeries => {
            if let Some(n) = v["node"].as_object_mut() {
                n.remove("cpu");
                n.remove("memory");
            }
        }
        KubeletMode::ZeroNode => {
            v["node"]["cpu"]["usageCoreNanoSeconds"] = 0.into();
            v["node"]["cpu"]["usageNanoCores"] = 0.into();
            v["node"]["memory"]["workingSetBytes"] = 0.into();
        }
        KubeletMode::NoStartTimes => {
            for pod in v["pods"].as_array_mut().into_iter().flatten() {
                for c in pod["containers"].as_array_mut().into_iter().flatten() {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("startTime");
                    }
                }
            }
        }
        _ => {}
    }
}

#[derive(Clone, Copy)]
enum Endpoint {
    Resource,
    Summary,
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'g', -1, 64)` does (what the kubelet's
/// Prometheus encoder writes): shortest round-trip digits, exponent form when the decimal exponent is < -4 or ≥ 6.
pub struct GoFloat(pub f64);

impl fmt::Display for GoFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            return f.write_str("NaN");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        }
        if v == 0.0 {
            return f.write_str("0");
        }
        let e = format!("{v:e}");
        let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if !(-4..6).contains(&exp) {
            let sign = if exp < 0 { '-' } else { '+' };
            write!(f, "{mant}e{sign}{:02}", exp.abs())
        } else {
            write!(f, "{v}")
        }
    }
}

/// Writes a Prometheus label value with the format's escapes.
struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Writes the `/metrics/resource` body of `node` at `ts_ms` in the current kubelet format
/// (families and help texts as a 1.29+ kubelet writes them; every sample stamped `ts_ms`).
pub fn write_resource_metrics(buf: &mut BytesMut, node: &SimNode, ts_ms: i64) {
    let _ = write_resource_metrics_fmt(buf, node, ts_ms);
}

fn write_resource_metrics_fmt(w: &mut BytesMut, node: &SimNode, ts: i64) -> fmt::Result {
    type Family = (&'static str, &'static str, &'static str);
    let family = |w: &mut BytesMut, (name, kind, help): Family| {
        writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}")
    };
    let containers = || {
        node.pods
            .iter()
            .flat_map(|p| p.containers.iter().map(move |c| (p, c)))
    };

    family(
        w,
        (
            "container_cpu_usage_seconds_total",
            "counter",
            "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        ),
    )?;
    for (p, c) in containers() {
        writeln!(
            w,
            "container_cpu_usage_seconds_total{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&c.name),
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(c.cpu_seconds_at(ts))
        )?;
    }
    family(
        w,
        (
            "container_memory_working_set_bytes",
            "gauge",
            "[STABLE] Current working set of the container in bytes",
        ),
    )?;
    for (p, c) in containers() {
        writeln!(
            w,
            "container_memory_working_set_bytes{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&c.name),
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(c.memory_at(ts) as f64)
        )?;
    }
    family(
        w,
        (
            "container_start_time_seconds",
            "gauge",
            "[STABLE] Start time of the container since unix epoch in seconds",
        ),
    )?;
    for (p, c) in containers() {
        writeln!(
            w,
            "container_start_time_seconds{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&c.name),
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(c.start_ms as f64 / 1000.0)
        )?;
    }
    family(
        w,
        (
            "container_swap_usage_bytes",
            "gauge",
            "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
        ),
    )?;
    for (p, c) in containers() {
        writeln!(
            w,
            "container_swap_usage_bytes{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&c.name),
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(c.swap_bytes() as f64)
        )?;
    }
    family(
        w,
        (
            "node_cpu_usage_seconds_total",
            "counter",
            "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        ),
    )?;
    writeln!(
        w,
        "node_cpu_usage_seconds_total {} {ts}",
        GoFloat(node.cpu_seconds_at(ts))
    )?;
    family(
        w,
        (
            "node_memory_working_set_bytes",
            "gauge",
            "[STABLE] Current working set of the node in bytes",
        ),
    )?;
    writeln!(
        w,
        "node_memory_working_set_bytes {} {ts}",
        GoFloat(node.memory_at(ts) as f64)
    )?;
    family(
        w,
        (
            "node_swap_usage_bytes",
            "gauge",
            "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
        ),
    )?;
    writeln!(
        w,
        "node_swap_usage_bytes {} {ts}",
        GoFloat(node.swap_bytes() as f64)
    )?;
    family(
        w,
        (
            "pod_cpu_usage_seconds_total",
            "counter",
            "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        ),
    )?;
    for p in &node.pods {
        writeln!(
            w,
            "pod_cpu_usage_seconds_total{{namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(p.cpu_seconds_at(ts))
        )?;
    }
    family(
        w,
        (
            "pod_memory_working_set_bytes",
            "gauge",
            "[STABLE] Current working set of the pod in bytes",
        ),
    )?;
    for p in &node.pods {
        writeln!(
            w,
            "pod_memory_working_set_bytes{{namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(p.memory_at(ts) as f64)
        )?;
    }
    family(
        w,
        (
            "pod_swap_usage_bytes",
            "gauge",
            "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
        ),
    )?;
    for p in &node.pods {
        writeln!(
            w,
            "pod_swap_usage_bytes{{namespace=\"{}\",pod=\"{}\"}} {} {ts}",
            Esc(&p.namespace),
            Esc(&p.name),
            GoFloat(p.swap_bytes() as f64)
        )?;
    }
    family(
        w,
        (
            "resource_scrape_error",
            "gauge",
            "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        ),
    )?;
    writeln!(w, "resource_scrape_error 0")?;
    family(
        w,
        (
            "scrape_error",
            "gauge",
            "[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise",
        ),
    )?;
    writeln!(w, "scrape_error 0")
}

/// The `/stats/summary` document of `node` at `ts_ms`.
///
/// Summary times are `metav1.Time` (second precision), so all values are computed at the whole
/// second `ts_ms / 1000`, which keeps the reported time and counters exactly consistent.
pub fn summary_json(node: &SimNode, ts_ms: i64) -> Value {
    let ts_s = ts_ms.div_euclid(1000);
    let at = ts_s * 1000;
    let time = rfc3339(ts_s);
    let mem = |ws: u64| {
        json!({
            "time": time,
            "usageBytes": ws + ws / 8,
            "workingSetBytes": ws,
            "rssBytes": ws * 3 / 4,
            "pageFaults": 0,
            "majorPageFaults": 0
        })
    };
    let swap =
        |used: u64| json!({"time": time, "swapAvailableBytes": 1u64 << 30, "swapUsageBytes": used});
    let pods: Vec<Value> = node
        .pods
        .iter()
        .map(|p| {
            let containers: Vec<Value> = p
                .containers
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "startTime": rfc3339(c.start_ms.div_euclid(1000)),
                        "cpu": {
                            "time": time,
                            "usageNanoCores": c.cpu_nanocores,
                            "usageCoreNanoSeconds": c.cpu_core_nanos_at(at)
                        },
                        "memory": mem(c.memory_at(at)),
                        "swap": swap(c.swap_bytes())
                    })
                })
                .collect();
            json!({
                "podRef": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
                "startTime": rfc3339(p.created_s),
                "containers": containers,
                "cpu": {
                    "time": time,
                    "usageNanoCores": p.cpu_nanocores(),
                    "usageCoreNanoSeconds": p.cpu_core_nanos_at(at)
                },
                "memory": mem(p.memory_at(at))
            })
        })
        .collect();
    let ws = node.memory_at(at);
    let mut node_mem = mem(ws);
    if let Some(m) = node_mem.as_object_mut() {
        m.insert(
            "availableBytes".into(),
            node.memory_capacity.saturating_sub(ws).into(),
        );
    }
    json!({
        "node": {
            "nodeName": node.name,
            "startTime": rfc3339(node.boot_ms.div_euclid(1000)),
            "cpu": {
                "time": time,
                "usageNanoCores": node.cpu_nanocores(),
                "usageCoreNanoSeconds": node.cpu_core_nanos_at(at)
            },
            "memory": node_mem,
            "swap": swap(node.swap_bytes())
        },
        "pods": pods
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scenario;

    const TS: i64 = 1_764_000_012_345;

    #[test]
    fn go_float_format() {
        for (v, want) in [
            (0.0, "0"),
            (1834.551233, "1834.551233"),
            (98765.4321, "98765.4321"),
            (268435456.0, "2.68435456e+08"),
            (6442450944.0, "6.442450944e+09"),
            (1763988400.0, "1.7639884e+09"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.512, "0.512"),
            (0.00001, "1e-05"),
            (1.0, "1"),
        ] {
            assert_eq!(GoFloat(v).to_string(), want);
        }
    }

    #[test]
    fn resource_body_parses_and_has_every_container() {
        let s = Scenario::new(4, 2, 6, TS - 1000);
        let node = &s.nodes[1];
        let mut buf = BytesMut::new();
        write_resource_metrics(&mut buf, node, TS);
        let text = std::str::from_utf8(&buf).unwrap();
        let lines: Vec<std::io::Result<String>> = text.lines().map(|l| Ok(l.to_string())).collect();
        let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).unwrap();
        let value = |name: &str, pod: &str, container: Option<&str>| -> f64 {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name
                        && s.labels.get("pod") == Some(pod)
                        && s.labels.get("container") == container
                })
                .map(|s| match s.value {
                    prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                    _ => f64::NAN,
                })
                .unwrap_or_else(|| panic!("missing {name} {pod} {container:?}"))
        };
        let mut n = 0;
        for p in &node.pods {
            for c in &p.containers {
                n += 1;
                let cpu = value("container_cpu_usage_seconds_total", &p.name, Some(&c.name));
                assert_eq!(cpu, c.cpu_seconds_at(TS));
                let mem = value("container_memory_working_set_bytes", &p.name, Some(&c.name));
                assert_eq!(mem as u64, c.memory_at(TS));
                let start = value("container_start_time_seconds", &p.name, Some(&c.name));
                assert_eq!(start, c.start_ms as f64 / 1000.0);
            }
            assert_eq!(
                value("pod_memory_working_set_bytes", &p.name, None) as u64,
                p.memory_at(TS)
            );
        }
        let cpu_lines = text
            .lines()
            .filter(|l| l.starts_with("container_cpu_usage_seconds_total{"))
            .count();
        assert_eq!(cpu_lines, n);
        assert!(text.contains(&format!(
            "node_memory_working_set_bytes {} {TS}\n",
            GoFloat(node.memory_at(TS) as f64)
        )));
        assert!(text.contains("\nresource_scrape_error 0\n"));
        // Every sample line carries the request timestamp.
        for l in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("scrape_error"))
        {
            assert!(l.ends_with(&format!(" {TS}")), "{l}");
        }
        // Same family order and help texts as the modern kubelet fixture.
        let families: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP")).collect();
        let fixture =
            include_str!("../../tests/fixtures/kubelet/metrics_resource_modern_example.prom");
        let fixture_families: Vec<&str> = fixture
            .lines()
            .filter(|l| l.starts_with("# HELP"))
            .collect();
        assert_eq!(families, fixture_families);
    }

    #[test]
    fn summary_is_consistent() {
        let s = Scenario::new(4, 1, 3, TS - 1000);
        let node = &s.nodes[0];
        let v = summary_json(node, TS);
        let text = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["node"]["nodeName"], node.name.as_str());
        assert_eq!(back["node"]["cpu"]["time"], "2025-11-24T16:00:12Z");
        let at = 1_764_000_012_000;
        assert_eq!(
            back["node"]["cpu"]["usageCoreNanoSeconds"],
            node.cpu_core_nanos_at(at)
        );
        assert_eq!(
            back["node"]["memory"]["workingSetBytes"],
            node.memory_at(at)
        );
        let pods = back["pods"].as_array().unwrap();
        assert_eq!(pods.len(), node.pods.len());
        for (pj, p) in pods.iter().zip(&node.pods) {
            assert_eq!(pj["podRef"]["name"], p.name.as_str());
            let cs = pj["containers"].as_array().unwrap();
            assert_eq!(cs.len(), p.containers.len());
            for (cj, c) in cs.iter().zip(&p.containers) {
                assert_eq!(cj["cpu"]["usageCoreNanoSeconds"], c.cpu_core_nanos_at(at));
                assert_eq!(cj["memory"]["workingSetBytes"], c.memory_at(TS));
                assert_eq!(cj["swap"]["swapUsageBytes"], c.swap_bytes());
            }
        }
        assert_eq!(back["node"]["swap"]["swapUsageBytes"], node.swap_bytes());
    }
}
