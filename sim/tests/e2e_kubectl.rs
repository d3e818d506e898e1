//! End to end: the real binary runs the simulated cluster, the real `kubectl` reads metrics through
//! the fake kube-apiserver's aggregation proxy, and every figure is checked against the simulator's
//! known rates (CPU within 5% or 2m) and memory (exact, from the reported timestamp).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use metrics_apiserver::api::quantity::{format_memory_bytes, parse_quantity};
use metrics_apiserver_sim::model::{Scenario, SimNode, SimPod};
use serde_json::Value;

const NODES: usize = 3;
const PODS_PER_NODE: usize = 4;
const SEED: u64 = 7;

struct Sim {
    child: Child,
    /// Our server's own URL (the banner prints it), for requests that bypass the aggregation proxy.
    server_url: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
    scenario: Scenario,
}

impl Drop for Sim {
    fn drop(&mut self) {
        // SIGTERM first, so the simulator removes its work directory; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_sim() -> Sim {
    let dir = std::env::temp_dir().join(format!("mas-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    // The server binary runs as a process of its own beside the simulator when the workspace
    // built it (`cargo test --workspace` does); otherwise inside the simulator's process.
    let sim_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_metrics-apiserver-sim"));
    let server_bin = sim_bin.with_file_name("metrics-apiserver");
    let mut cmd = Command::new(&sim_bin);
    if server_bin.exists() {
        cmd.arg("--server-binary").arg(&server_bin);
    }
    let mut child = cmd
        .args([
            "--nodes",
            &NODES.to_string(),
            "--pods-per-node",
            &PODS_PER_NODE.to_string(),
        ])
        .args([
            "--seed",
            &SEED.to_string(),
            "--metric-resolution",
            "10",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .current_dir(&dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start metrics-apiserver-sim");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut server_url = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("sim: {line}");
            if let Some(url) = line.trim().strip_prefix("metrics server:") {
                server_url = url.trim().to_string();
            }
            if line.contains("top node") {
                let _ = tx.send(server_url.clone());
            }
        }
    });
    let server_url = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the simulator prints its kubectl commands once the server is ready");
    assert!(
        server_url.starts_with("https://127.0.0.1:"),
        "banner names the server: {server_url:?}"
    );
    let scenario = Scenario::new(SEED, NODES, PODS_PER_NODE, 0);
    Sim {
        child,
        server_url,
        dir,
        kubeconfig,
        scenario,
    }
}

impl Sim {
    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn raw(&self, path: &str) -> Value {
        serde_json::from_str(&self.ok(&["get", "--raw", path]))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn pods(&self) -> impl Iterator<Item = (&SimNode, &SimPod)> {
        self.scenario
            .nodes
            .iter()
            .flat_map(|n| n.pods.iter().map(move |p| (n, p)))
    }

    fn pod(&self, ns: &str, name: &str) -> &SimPod {
        self.pods()
            .map(|(_, p)| p)
            .find(|p| p.namespace == ns && p.name == name)
            .unwrap_or_else(|| panic!("simulator has no pod {ns}/{name}"))
    }

    fn node(&self, name: &str) -> &SimNode {
        self.scenario.nodes.iter().find(|n| n.name == name).unwrap()
    }

    /// Waits until every node and pod has metrics (the second scrape of each node).
    fn wait_all_metrics(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let nodes = self.raw("/apis/metrics.k8s.io/v1beta1/nodes");
            let pods = self.raw("/apis/metrics.k8s.io/v1beta1/pods");
            let n = nodes["items"].as_array().map_or(0, Vec::len);
            let p = pods["items"].as_array().map_or(0, Vec::len);
            if n == NODES && p == NODES * PODS_PER_NODE {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {n} nodes and {p} pods have metrics"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn assert_cpu(what: &str, got_nanocores: f64, want_nanocores: u64) {
    let want = want_nanocores as f64;
    let diff = (got_nanocores - want).abs();
    assert!(
        diff <= want * 0.05 || diff <= 2e6,
        "{what}: cpu {got_nanocores} nanocores, simulator says {want}"
    );
}

/// `123m` or `2` (cores) from kubectl top, in nanocores.
fn top_cpu(s: &str) -> f64 {
    parse_quantity(s).unwrap_or_else(|| panic!("cpu column {s:?}")) * 1e9
}

/// `45Mi` from kubectl top, in bytes.
fn top_mem(s: &str) -> f64 {
    parse_quantity(s).unwrap_or_else(|| panic!("memory column {s:?}"))
}

fn unix_seconds(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .filter(|r: &Vec<String>| !r.is_empty())
        .collect()
}

fn check_node_object(sim: &Sim, item: &Value) {
    let name = item["metadata"]["name"].as_str().unwrap();
    let node = sim.node(name);
    let cpu = parse_quantity(item["usage"]["cpu"].as_str().unwrap()).unwrap() * 1e9;
    assert_cpu(name, cpu, node.cpu_nanocores());
    let ts = unix_seconds(item["timestamp"].as_str().unwrap());
    let mem = parse_quantity(item["usage"]["memory"].as_str().unwrap()).unwrap();
    assert_eq!(
        mem as u64,
        node.memory_at(ts * 1000),
        "{name}: memory at {ts}"
    );
    assert_eq!(
        item["usage"]["swap"].as_str(),
        Some(format_memory_bytes(node.swap_bytes()).as_str()),
        "{name}: swap as a BinarySI quantity"
    );
    let labels = item["metadata"]["labels"].as_object().unwrap();
    for (k, v) in &node.labels {
        assert_eq!(
            labels[k.as_str()],
            Value::String(v.clone()),
            "{name}: label {k}"
        );
    }
    assert!(item["window"].as_str().unwrap().ends_with('s'));
    assert!(
        item["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
}

fn check_pod_object(sim: &Sim, item: &Value) {
    let ns = item["metadata"]["namespace"].as_str().unwrap();
    let name = item["metadata"]["name"].as_str().unwrap();
    let pod = sim.pod(ns, name);
    let ts = unix_seconds(item["timestamp"].as_str().unwrap());
    let containers = item["containers"].as_array().unwrap();
    assert_eq!(
        containers.len(),
        pod.containers.len(),
        "{ns}/{name}: containers"
    );
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted, "containers sorted by name");
    for c in containers {
        let cname = c["name"].as_str().unwrap();
        let sc = pod.containers.iter().find(|x| x.name == cname).unwrap();
        let cpu = parse_quantity(c["usage"]["cpu"].as_str().unwrap()).unwrap() * 1e9;
        assert_cpu(&format!("{ns}/{name}/{cname}"), cpu, sc.cpu_nanocores);
        let mem = parse_quantity(c["usage"]["memory"].as_str().unwrap()).unwrap();
        assert_eq!(
            mem as u64,
            sc.memory_at(ts * 1000),
            "{ns}/{name}/{cname}: memory at {ts}"
        );
        assert_eq!(
            c["usage"]["swap"].as_str(),
            Some(format_memory_bytes(sc.swap_bytes()).as_str()),
            "{ns}/{name}/{cname}: swap"
        );
    }
    let labels = item["metadata"]["labels"].as_object().unwrap();
    for (k, v) in &pod.labels {
        assert_eq!(labels[k.as_str()], Value::String(v.clone()));
    }
}

#[test]
fn kubectl_reads_simulated_cluster_metrics() {
    let sim = start_sim();
    sim.wait_all_metrics();
    let base = "/apis/metrics.k8s.io/v1beta1";

    // Discovery through the aggregation proxy and directly from the group document.
    let resources = sim.raw(base);
    assert_eq!(resources["kind"], "APIResourceList");
    let res = resources["resources"].as_array().unwrap();
    assert_eq!(res[0]["name"], "nodes");
    assert_eq!(res[0]["kind"], "NodeMetrics");
    assert_eq!(res[0]["namespaced"], false);
    assert_eq!(res[0]["singularName"], "");
    assert_eq!(res[1]["name"], "pods");
    assert_eq!(res[1]["namespaced"], true);
    assert!(
        !res[1]["verbs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("delete"))
    );
    let apis = sim.raw("/apis");
    assert!(apis.to_string().contains("metrics.k8s.io/v1beta1"));

    // Our own discovery, version and health documents, straight to the server over TLS verified
    // with the cluster CA (kube-apiserver answers /apis and the group document itself).
    let direct = |path: &str| sim.ok(&["--server", &sim.server_url, "get", "--raw", path]);
    let own_apis: Value = serde_json::from_str(&direct("/apis")).unwrap();
    assert_eq!(own_apis["kind"], "APIGroupList");
    assert_eq!(own_apis["groups"][0]["name"], "metrics.k8s.io");
    assert_eq!(
        own_apis["groups"][0]["preferredVersion"]["groupVersion"],
        "metrics.k8s.io/v1beta1"
    );
    let own_group: Value = serde_json::from_str(&direct("/apis/metrics.k8s.io")).unwrap();
    assert_eq!(own_group["kind"], "APIGroup");
    assert_eq!(own_group["versions"][0]["version"], "v1beta1");
    let own_resources: Value = serde_json::from_str(&direct(base)).unwrap();
    assert_eq!(
        own_resources, resources,
        "the proxy passes our document through unchanged"
    );
    let version: Value = serde_json::from_str(&direct("/version")).unwrap();
    assert!(version["gitVersion"].as_str().unwrap().starts_with('v'));
    for health in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(direct(health), "ok", "{health}");
    }
    assert!(direct("/readyz?verbose").contains("[+]metric-storage-ready ok"));

    // kubectl top node: every node, figures from the simulator's rates.
    let top = sim.ok(&["top", "node"]);
    let node_rows = rows(&top);
    assert_eq!(node_rows.len(), NODES, "{top}");
    for r in &node_rows {
        let node = sim.node(&r[0]);
        assert_cpu(&r[0], top_cpu(&r[1]), node.cpu_nanocores());
        let mem = top_mem(&r[3]);
        let want = node.memory_at(sim.scenario.started_ms.max(0)) as f64;
        assert!(
            (mem - want).abs() / want < 0.2,
            "{}: memory {mem} vs about {want}",
            r[0]
        );
    }

    // Raw node list: sorted, labelled, exact memory.
    let nodes = sim.raw(&format!("{base}/nodes"));
    assert_eq!(nodes["kind"], "NodeMetricsList");
    assert!(
        nodes["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let items = nodes["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for item in items {
        assert!(
            item.get("kind").is_none(),
            "list items carry no kind, as in Go"
        );
        check_node_object(&sim, item);
    }
    let one = sim.raw(&format!("{base}/nodes/{}", names[0]));
    assert_eq!(one["kind"], "NodeMetrics");
    assert_eq!(one["apiVersion"], "metrics.k8s.io/v1beta1");
    check_node_object(&sim, &one);

    // kubectl top pod -A: every pod; CPU is the sum of its containers.
    let top = sim.ok(&["top", "pod", "-A"]);
    let pod_rows = rows(&top);
    assert_eq!(pod_rows.len(), NODES * PODS_PER_NODE, "{top}");
    for r in &pod_rows {
        let pod = sim.pod(&r[0], &r[1]);
        let want: u64 = pod.containers.iter().map(|c| c.cpu_nanocores).sum();
        assert_cpu(&r[1], top_cpu(&r[2]), want);
        assert!(top_mem(&r[3]) > 0.0);
    }

    // Raw pod lists: all, and one namespace; sorted by namespace then name.
    let pods = sim.raw(&format!("{base}/pods"));
    let items = pods["items"].as_array().unwrap();
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["metadata"]["namespace"].as_str().unwrap().to_string(),
                i["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    for item in items {
        check_pod_object(&sim, item);
    }
    let (ns, name) = keys[0].clone();
    let in_ns = sim.raw(&format!("{base}/namespaces/{ns}/pods"));
    let in_ns_items = in_ns["items"].as_array().unwrap();
    assert_eq!(in_ns_items.len(), keys.iter().filter(|k| k.0 == ns).count());
    assert!(
        in_ns_items
            .iter()
            .all(|i| i["metadata"]["namespace"] == ns.as_str())
    );
    let single = sim.raw(&format!("{base}/namespaces/{ns}/pods/{name}"));
    assert_eq!(single["kind"], "PodMetrics");
    check_pod_object(&sim, &single);

    // kubectl top pod -n NS --containers: one row per container with its own rate.
    let top = sim.ok(&["top", "pod", "-n", &ns, "--containers"]);
    let container_rows = rows(&top);
    let want_rows: usize = sim
        .pods()
        .filter(|(_, p)| p.namespace == ns)
        .map(|(_, p)| p.containers.len())
        .sum();
    assert_eq!(container_rows.len(), want_rows, "{top}");
    for r in &container_rows {
        let pod = sim.pod(&ns, &r[0]);
        let c = pod.containers.iter().find(|c| c.name == r[1]).unwrap();
        assert_cpu(&r[1], top_cpu(&r[2]), c.cpu_nanocores);
    }

    // Label selector, through kubectl and raw.
    let frontend: Vec<&SimPod> = sim
        .pods()
        .map(|(_, p)| p)
        .filter(|p| p.labels.iter().any(|(k, v)| k == "tier" && v == "frontend"))
        .collect();
    let top = sim.ok(&["top", "pod", "-A", "-l", "tier=frontend"]);
    let mut got: Vec<String> = rows(&top).into_iter().map(|r| r[1].clone()).collect();
    let mut want: Vec<String> = frontend.iter().map(|p| p.name.clone()).collect();
    got.sort();
    want.sort();
    assert!(!want.is_empty(), "the seed yields frontend pods");
    assert_eq!(got, want);
    let not_frontend = sim.raw(&format!("{base}/pods?labelSelector=tier%21%3Dfrontend"));
    assert_eq!(
        not_frontend["items"].as_array().unwrap().len(),
        NODES * PODS_PER_NODE - frontend.len()
    );

    // Field selector.
    let by_name = sim.raw(&format!("{base}/pods?fieldSelector=metadata.name%3D{name}"));
    let by_name_items = by_name["items"].as_array().unwrap();
    assert_eq!(by_name_items.len(), 1);
    assert_eq!(by_name_items[0]["metadata"]["name"], name.as_str());
    let top = sim.ok(&[
        "top",
        "pod",
        "-n",
        &ns,
        "--field-selector",
        &format!("metadata.name={name}"),
    ]);
    assert_eq!(rows(&top).len(), 1, "{top}");
    let node_by_field = sim.raw(&format!(
        "{base}/nodes?fieldSelector=metadata.name%3D{}",
        names[1]
    ));
    assert_eq!(node_by_field["items"].as_array().unwrap().len(), 1);

    // A missing pod and a missing node: NotFound Status, as kubectl reports it.
    let missing = sim.kubectl(&[
        "get",
        "--raw",
        &format!("{base}/namespaces/{ns}/pods/no-such-pod"),
    ]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    let missing = sim.kubectl(&["top", "pod", "no-such-pod", "-n", &ns]);
    assert!(!missing.status.success());
    let missing = sim.kubectl(&["get", "--raw", &format!("{base}/nodes/no-such-node")]);
    assert!(!missing.status.success());

    // A selector that does not parse is a 400 with Go's message.
    let bad = sim.kubectl(&["get", "--raw", &format!("{base}/pods?labelSelector=a%20b")]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("BadRequest") || err.contains("unable to parse"),
        "{err}"
    );
    let bad = sim.kubectl(&[
        "get",
        "--raw",
        &format!("{base}/pods?fieldSelector=spec.nodeName%3Dx"),
    ]);
    assert!(!bad.status.success());
}
