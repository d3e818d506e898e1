//! Three independent real clients through the simulated cluster's aggregation proxy: the `kubectl`
//! binary (`top node`/`top pod` with their flags, which ask for protobuf first), the Python
//! `kubernetes` client (list and get as custom objects, label selectors, both versions), and kube-rs
//! (dynamic list and get with `ListParams` label selector and limit, both versions).

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Cluster, metrics_resource as resource, python_client};
use kube::api::{Api, DynamicObject, ListParams};
use metrics_apiserver::api::quantity::parse_quantity;

fn kubectl(kubeconfig: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn cols(l: &str) -> Vec<&str> {
    l.split_whitespace().collect()
}

/// The values of column `i`, parsed as quantities.
fn column(lines: &[String], i: usize) -> Vec<f64> {
    lines
        .iter()
        .map(|l| parse_quantity(cols(l)[i]).unwrap_or_else(|| panic!("{l}")))
        .collect()
}

fn non_increasing(v: &[f64]) -> bool {
    v.windows(2).all(|w| w[0] >= w[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_python_and_kube_rs_read_metrics() {
    let c = Cluster::start("api-clients", 3, 4, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let kc = c.kubeconfig();

    // --- kubectl top node ---
    let out = kubectl(&kc, &["top", "node"]);
    assert_eq!(
        cols(&out[0]),
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    );
    assert_eq!(out.len(), 4);
    for (sort, col) in [("cpu", 1), ("memory", 3)] {
        let out = kubectl(&kc, &["top", "node", "--sort-by", sort, "--no-headers"]);
        assert_eq!(out.len(), 3, "--no-headers prints only rows");
        assert!(out.iter().all(|l| l.starts_with("sim-node-")));
        assert!(
            non_increasing(&column(&out, col)),
            "--sort-by={sort}: {out:?}"
        );
    }
    let json = kubectl(
        &kc,
        &[
            "top",
            "node",
            "--use-protocol-buffers=false",
            "--no-headers",
        ],
    );
    assert_eq!(json.len(), 3);

    // --- kubectl top pod ---
    let out = kubectl(&kc, &["top", "pod", "-A"]);
    assert_eq!(
        cols(&out[0]),
        ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    );
    let mut printed: Vec<String> = out[1..]
        .iter()
        .map(|l| format!("{}/{}", cols(l)[0], cols(l)[1]))
        .collect();
    printed.sort();
    assert_eq!(printed, all);
    for (sort, col) in [("cpu", 2), ("memory", 3)] {
        let out = kubectl(
            &kc,
            &["top", "pod", "-A", "--sort-by", sort, "--no-headers"],
        );
        assert_eq!(out.len(), all.len());
        assert!(
            non_increasing(&column(&out, col)),
            "--sort-by={sort}: {out:?}"
        );
    }
    let ns = all[0].split_once('/').unwrap().0;
    let in_ns = all
        .iter()
        .filter(|p| p.starts_with(&format!("{ns}/")))
        .count();
    let out = kubectl(
        &kc,
        &["top", "pod", "-n", ns, "--containers", "--no-headers"],
    );
    let pods_seen: std::collections::BTreeSet<&str> = out.iter().map(|l| cols(l)[0]).collect();
    assert_eq!(pods_seen.len(), in_ns);
    assert!(
        out.len() >= in_ns,
        "at least one row per pod's container: {out:?}"
    );
    let out = kubectl(&kc, &["top", "pod", "-n", ns, "--sum"]);
    let last = out.last().unwrap();
    assert!(
        out.iter().any(|l| l.trim_start().starts_with('_')),
        "{out:?}"
    );
    let rows = &out[1..out.len() - 2];
    assert_eq!(rows.len(), in_ns);
    let total_cpu: f64 = column(rows, 1).iter().sum();
    let summed = parse_quantity(cols(last)[0]).unwrap();
    assert!(
        (summed - total_cpu).abs() <= 0.001 * rows.len() as f64 + 1e-9,
        "{out:?}"
    );

    // -l: only the pods with that label (the Python client tells which those are).
    let py = python_client(&[
        "list",
        "--kubeconfig",
        &kc,
        "--version",
        "v1",
        "--plural",
        "pods",
        "--selector",
        "app=web",
    ]);
    let web: Vec<String> = py[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["namespace"].as_str().unwrap(),
                i["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(!web.is_empty());
    assert!(
        py[0]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["labels"]["app"] == "web")
    );
    assert_eq!(py[0]["kind"], "PodMetricsList");
    assert_eq!(py[0]["apiVersion"], "metrics.k8s.io/v1");
    let out = kubectl(&kc, &["top", "pod", "-A", "-l", "app=web", "--no-headers"]);
    let mut got: Vec<String> = out
        .iter()
        .map(|l| format!("{}/{}", cols(l)[0], cols(l)[1]))
        .collect();
    got.sort();
    assert_eq!(got, web);

    // --- Python: both versions, list and get, nodes and pods ---
    for v in ["v1beta1", "v1"] {
        let nodes = python_client(&[
            "list",
            "--kubeconfig",
            &kc,
            "--version",
            v,
            "--plural",
            "nodes",
        ]);
        assert_eq!(nodes[0]["kind"], "NodeMetricsList");
        assert_eq!(nodes[0]["apiVersion"], format!("metrics.k8s.io/{v}"));
        assert_eq!(nodes[0]["items"].as_array().unwrap().len(), 3);
        let zone = python_client(&[
            "list",
            "--kubeconfig",
            &kc,
            "--version",
            v,
            "--plural",
            "nodes",
            "--selector",
            "sim.metrics/zone=a",
        ]);
        let names: Vec<&str> = zone[0]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sim-node-0", "sim-node-2"]);
        let node = python_client(&[
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
        assert_eq!(node[0]["kind"], "NodeMetrics");
        assert_eq!(node[0]["apiVersion"], format!("metrics.k8s.io/{v}"));
        assert!(parse_quantity(node[0]["usage"]["cpu"].as_str().unwrap()).unwrap() > 0.0);
        let (pns, pname) = web[0].split_once('/').unwrap();
        let pod = python_client(&[
            "get",
            "--kubeconfig",
            &kc,
            "--version",
            v,
            "--plural",
            "pods",
            "--namespace",
            pns,
            "--name",
            pname,
        ]);
        assert_eq!(pod[0]["kind"], "PodMetrics");
        assert_eq!(pod[0]["name"], pname);
        assert!(!pod[0]["containers"].as_array().unwrap().is_empty());
        let ns_list = python_client(&[
            "list",
            "--kubeconfig",
            &kc,
            "--version",
            v,
            "--plural",
            "pods",
            "--namespace",
            pns,
            "--selector",
            "app=web",
        ]);
        assert!(
            ns_list[0]["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["namespace"] == pns)
        );
    }

    // --- kube-rs: dynamic list with label selector and limit, continue, and get ---
    let client = common::kube_client(&kc).await;
    for v in ["v1beta1", "v1"] {
        let pods: Api<DynamicObject> =
            Api::all_with(client.clone(), &resource(v, "PodMetrics", "pods"));
        let mut seen = Vec::new();
        let mut lp = ListParams::default().labels("app=web").limit(2);
        loop {
            let page = pods.list(&lp).await.unwrap();
            assert!(page.items.len() <= 2);
            for o in &page.items {
                assert_eq!(o.metadata.labels.as_ref().unwrap()["app"], "web");
                seen.push(format!(
                    "{}/{}",
                    o.metadata.namespace.as_deref().unwrap(),
                    o.metadata.name.as_deref().unwrap()
                ));
            }
            match page.metadata.continue_ {
                Some(t) if !t.is_empty() => lp = lp.continue_token(&t),
                _ => break,
            }
        }
        seen.sort();
        assert_eq!(seen, web, "{v}");
        let nodes: Api<DynamicObject> =
            Api::all_with(client.clone(), &resource(v, "NodeMetrics", "nodes"));
        let n = nodes.get("sim-node-2").await.unwrap();
        assert_eq!(
            n.types.as_ref().unwrap().api_version,
            format!("metrics.k8s.io/{v}")
        );
        assert!(n.data["usage"]["memory"].is_string());
        let (pns, pname) = web[0].split_once('/').unwrap();
        let one: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), pns, &resource(v, "PodMetrics", "pods"));
        let p = one.get(pname).await.unwrap();
        assert_eq!(p.metadata.name.as_deref(), Some(pname));
        let err = one.get("no-such-pod").await.unwrap_err();
        match err {
            kube::Error::Api(s) => {
                assert_eq!(s.code, 404);
                assert_eq!(s.message, "pods \"no-such-pod\" not found");
            }
            other => panic!("{other}"),
        }
    }
    c.shutdown().await;
}
