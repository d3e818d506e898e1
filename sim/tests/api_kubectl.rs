//! The real `kubectl get` on the Table output, through the simulated cluster's aggregation proxy:
//! `-A`, `-o wide`, `-l`, `--sort-by`, `--show-labels`, `-o yaml`, an empty list, both versions,
//! `get --raw` on every v1 and v1beta1 path, and `get -w` printing one row per event.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Cluster;
use metrics_apiserver::api::quantity::parse_quantity;
use serde_json::Value;

fn kubectl(kubeconfig: &str, args: &[&str]) -> (String, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {stderr}{stdout}"
    );
    (stdout, stderr)
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_metrics_servers_table() {
    let c = Cluster::start("api-kubectl", 2, 3, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let kc = c.kubeconfig();
    let http = c.http();

    // -A: NAMESPACE, NAME, CPU, MEMORY, WINDOW; one row per pod, in list order; cells as the API's.
    let (out, _) = kubectl(&kc, &["get", "podmetrics", "-A"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"]
    );
    let rows: Vec<String> = lines[1..]
        .iter()
        .map(|l| {
            let w = words(l);
            format!("{}/{}", w[0], w[1])
        })
        .collect();
    assert_eq!(rows, all);
    for l in &lines[1..] {
        let w = words(l);
        assert_eq!(w.len(), 5, "{l}");
        assert!(parse_quantity(w[2]).is_some_and(|q| q > 0.0), "{l}");
        assert!(parse_quantity(w[3]).is_some_and(|q| q > 0.0), "{l}");
        assert!(w[4].ends_with('s'), "{l}");
    }

    // Both versions print the same table (v1 named explicitly).
    let (v1, _) = kubectl(&kc, &["get", "nodemetrics.v1.metrics.k8s.io", "-o", "wide"]);
    let v1_lines: Vec<&str> = v1.lines().collect();
    assert_eq!(words(v1_lines[0]), ["NAME", "CPU", "MEMORY", "WINDOW"]);
    assert_eq!(v1_lines.len(), 3);
    assert!(v1_lines[1].starts_with("sim-node-0 "));
    let list: Value = http
        .get(c.via_proxy("/apis/metrics.k8s.io/v1/nodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sim-node-0", "sim-node-1"]);

    // -l narrows the table; --show-labels adds the LABELS column from the row metadata.
    let (out, _) = kubectl(
        &kc,
        &[
            "get",
            "nodemetrics",
            "-l",
            "sim.metrics/zone=b",
            "--show-labels",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "CPU", "MEMORY", "WINDOW", "LABELS"]
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with("sim-node-1 "));
    assert!(lines[1].contains("sim.metrics/zone=b"), "{out}");

    // --sort-by asks for includeObject=Object and sorts on the full objects.
    let (out, _) = kubectl(
        &kc,
        &["get", "podmetrics", "-A", "--sort-by", "{.metadata.name}"],
    );
    let mut sorted: Vec<String> = all
        .iter()
        .map(|k| k.split_once('/').unwrap().1.to_string())
        .collect();
    sorted.sort();
    let printed: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| words(l)[1].to_string())
        .collect();
    assert_eq!(printed, sorted);

    // An empty list: "No resources found", on stderr, as kubectl prints it.
    let out = Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kc,
            "get",
            "podmetrics",
            "-n",
            "no-such-namespace",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "No resources found in no-such-namespace namespace."
    );

    // -o yaml asks for JSON and prints the object.
    let (ns, name) = all[0].split_once('/').unwrap();
    let (yaml, _) = kubectl(&kc, &["get", "podmetrics", "-n", ns, name, "-o", "yaml"]);
    assert!(
        yaml.starts_with("apiVersion: metrics.k8s.io/v1beta1\ncontainers:\n"),
        "{yaml}"
    );
    assert!(yaml.contains("\nkind: PodMetrics\n"), "{yaml}");

    // get --raw on every v1 and v1beta1 path.
    for v in ["v1", "v1beta1"] {
        for (path, kind) in [
            (format!("/apis/metrics.k8s.io/{v}"), "APIResourceList"),
            (format!("/apis/metrics.k8s.io/{v}/nodes"), "NodeMetricsList"),
            (
                format!("/apis/metrics.k8s.io/{v}/nodes/sim-node-1"),
                "NodeMetrics",
            ),
            (format!("/apis/metrics.k8s.io/{v}/pods"), "PodMetricsList"),
            (
                format!("/apis/metrics.k8s.io/{v}/namespaces/{ns}/pods"),
                "PodMetricsList",
            ),
            (
                format!("/apis/metrics.k8s.io/{v}/namespaces/{ns}/pods/{name}"),
                "PodMetrics",
            ),
        ] {
            let (out, _) = kubectl(&kc, &["get", "--raw", &path]);
            let doc: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(doc["kind"], kind, "{path}");
            let want = if kind == "APIResourceList" {
                "v1".to_string()
            } else {
                format!("metrics.k8s.io/{v}")
            };
            assert_eq!(doc["apiVersion"], want.as_str(), "{path}");
        }
    }

    // get -w: the list's rows, then one row per event from one-row Tables.
    let child = Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kc,
            "get",
            "nodemetrics",
            "-w",
            "--request-timeout=14s",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "CPU", "MEMORY", "WINDOW"],
        "{out}"
    );
    assert!(
        lines.len() >= 5,
        "the two rows, then at least one scrape's two updates: {out}"
    );
    assert!(
        lines[1..].iter().all(|l| l.starts_with("sim-node-")),
        "no repeated header: {out}"
    );
    // get podmetrics -A -w: NAMESPACE too, every pod listed, then rows for scrape updates.
    let child = Command::new("kubectl")
        .args([
            "--kubeconfig",
            &kc,
            "get",
            "podmetrics",
            "-A",
            "-w",
            "--request-timeout=14s",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"],
        "{out}"
    );
    let listed: Vec<String> = lines[1..=all.len()]
        .iter()
        .map(|l| format!("{}/{}", words(l)[0], words(l)[1]))
        .collect();
    assert_eq!(listed, all);
    assert!(lines.len() > all.len() + 1, "updates after the list: {out}");
    assert!(lines[all.len() + 1..].iter().all(|l| all.contains(&format!(
        "{}/{}",
        words(l)[0],
        words(l)[1]
    ))));
    c.shutdown().await;
}
