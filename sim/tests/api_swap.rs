//! Swap in usage: where kubelets report `node_swap_usage_bytes` / `container_swap_usage_bytes`,
//! NodeMetrics and PodMetrics carry `usage.swap` as a BinarySI quantity (the key newer
//! `kubectl top --show-swap` reads) in JSON, YAML and through the Python client and kube-rs;
//! `--serve-swap=false` leaves only cpu and memory.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Cluster, python_client};
use kube::api::{Api, DynamicObject};
use metrics_apiserver::api::quantity::format_memory_bytes;
use serde_json::Value;

async fn get_json(c: &Cluster, path: &str) -> Value {
    let r = c.http().get(c.via_proxy(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// The model's swap of every served node and container, as the API must write it.
fn expected(c: &Cluster, nodes: &Value, pods: &Value) -> (Vec<String>, Vec<String>) {
    let s = &c.sim.scenario;
    let mut want_nodes = Vec::new();
    for n in nodes["items"].as_array().unwrap() {
        let name = n["metadata"]["name"].as_str().unwrap();
        let node = s.nodes.iter().find(|x| x.name == name).unwrap();
        want_nodes.push(format!("{name}={}", format_memory_bytes(node.swap_bytes())));
    }
    let mut want_containers = Vec::new();
    for p in pods["items"].as_array().unwrap() {
        let (ns, name) = (
            p["metadata"]["namespace"].as_str().unwrap(),
            p["metadata"]["name"].as_str().unwrap(),
        );
        let (_, pod) = s
            .pods()
            .find(|(_, x)| x.namespace == ns && x.name == name)
            .unwrap();
        for sc in &pod.containers {
            want_containers.push(format!(
                "{ns}/{name}/{}={}",
                sc.name,
                format_memory_bytes(sc.swap_bytes())
            ));
        }
    }
    want_containers.sort();
    (want_nodes, want_containers)
}

/// (node=swap, ns/pod/container=swap) as served; a missing key reads as `-`.
fn served(nodes: &Value, pods: &Value) -> (Vec<String>, Vec<String>) {
    let q = |u: &Value| u["swap"].as_str().unwrap_or("-").to_string();
    let n = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}={}",
                n["metadata"]["name"].as_str().unwrap(),
                q(&n["usage"])
            )
        })
        .collect();
    let mut c: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let key = format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap(),
                p["metadata"]["name"].as_str().unwrap()
            );
            p["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |c| format!("{key}/{}={}", c["name"].as_str().unwrap(), q(&c["usage"])))
                .collect::<Vec<_>>()
        })
        .collect();
    c.sort();
    (n, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_is_served_where_kubelets_report_it() {
    let c = Cluster::start("api-swap", 2, 4, &[]).await;
    let all = c.pod_names().len();
    c.wait_for_pods(all, Duration::from_secs(40)).await;
    let swapping = c
        .sim
        .scenario
        .pods()
        .flat_map(|(_, p)| &p.containers)
        .filter(|x| x.swap_bytes() > 0)
        .count();
    assert!(swapping > 0, "the model must have swap to show");

    for v in ["v1beta1", "v1"] {
        let nodes = get_json(&c, &format!("/apis/metrics.k8s.io/{v}/nodes")).await;
        let pods = get_json(&c, &format!("/apis/metrics.k8s.io/{v}/pods")).await;
        assert_eq!(served(&nodes, &pods), expected(&c, &nodes, &pods), "{v}");
        // Go writes a map's keys sorted: swap follows memory.
        let text = serde_json::to_string(&nodes["items"][0]["usage"]).unwrap();
        assert!(
            text.starts_with(r#"{"cpu":""#) && text.contains(r#"","memory":""#),
            "{text}"
        );
    }

    // YAML, as kube-apiserver writes it.
    let r = c
        .http()
        .get(c.via_proxy("/apis/metrics.k8s.io/v1/nodes/sim-node-1"))
        .header("Accept", "application/yaml")
        .send()
        .await
        .unwrap();
    let yaml = r.text().await.unwrap();
    let node = c
        .sim
        .scenario
        .nodes
        .iter()
        .find(|n| n.name == "sim-node-1")
        .unwrap();
    assert!(
        yaml.contains(&format!("\n  swap: {}\n", yaml_quantity(node.swap_bytes()))),
        "{yaml}"
    );

    // The Python client, both versions.
    let kc = c.kubeconfig();
    for v in ["v1beta1", "v1"] {
        let got = python_client(&[
            "get",
            "--kubeconfig",
            &kc,
            "--version",
            v,
            "--plural",
            "nodes",
            "--name",
            "sim-node-1",
        ]);
        assert_eq!(
            got[0]["usage"]["swap"].as_str(),
            Some(format_memory_bytes(node.swap_bytes()).as_str()),
            "{v}"
        );
    }

    // kube-rs reads it as any other quantity of the usage map.
    let client = common::kube_client(&kc).await;
    let ar = common::metrics_resource("v1", "NodeMetrics", "nodes");
    let nodes: Api<DynamicObject> = Api::all_with(client, &ar);
    let n = nodes.get("sim-node-1").await.unwrap();
    assert_eq!(
        n.data["usage"]["swap"].as_str(),
        Some(format_memory_bytes(node.swap_bytes()).as_str())
    );

    // Newer kubectl shows it with `top --show-swap`; the one installed may predate that flag.
    let help = Command::new("kubectl")
        .args(["top", "node", "--help"])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&help.stdout).contains("--show-swap") {
        let out = Command::new("kubectl")
            .args(["--kubeconfig", &kc, "top", "node", "--show-swap"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("SWAP(bytes)"),
            "{text}"
        );
    } else {
        eprintln!(
            "kubectl here has no `top --show-swap`; the raw, Python and kube-rs checks stand"
        );
    }
    c.shutdown().await;
}

/// A quantity as the YAML encoder writes it: plain, or quoted when it would read as a number.
fn yaml_quantity(bytes: u64) -> String {
    let q = format_memory_bytes(bytes);
    if q.chars().all(|c| c.is_ascii_digit()) {
        format!("\"{q}\"")
    } else {
        q
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_swap_false_leaves_only_cpu_and_memory() {
    let c = Cluster::start("api-no-swap", 2, 3, &["--serve-swap=false"]).await;
    let all = c.pod_names().len();
    c.wait_for_pods(all, Duration::from_secs(40)).await;
    let nodes = get_json(&c, "/apis/metrics.k8s.io/v1beta1/nodes").await;
    let pods = get_json(&c, "/apis/metrics.k8s.io/v1beta1/pods").await;
    let keys = |u: &Value| {
        let mut k: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        k.join(",")
    };
    for n in nodes["items"].as_array().unwrap() {
        assert_eq!(keys(&n["usage"]), "cpu,memory");
    }
    for p in pods["items"].as_array().unwrap() {
        for ct in p["containers"].as_array().unwrap() {
            assert_eq!(keys(&ct["usage"]), "cpu,memory");
        }
    }
    assert_eq!(nodes["items"].as_array().unwrap().len(), 2);
    c.shutdown().await;
}
