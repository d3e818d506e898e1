//! Faulty kubelets cost only themselves: the server, run in-process inside the simulated cluster,
//! keeps serving every healthy node while one kubelet answers garbage, 404s its resource endpoint
//! (the Summary API fallback must take over), errors, sends a huge body, or hangs; and more
//! hanging kubelets than the scrape concurrency bound never delay the healthy ones.

mod common;
mod restart_common;

use std::time::{Duration, Instant};

use clap::Parser;
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::server;
use metrics_apiserver_sim::{KubeletMode, Simulation};
use serde_json::Value;

fn http_client(sim: &Simulation) -> reqwest::Client {
    // The server is secured as in a cluster: authenticate with the kubeconfig's token.
    common::token_client(sim, Some(Duration::from_secs(5)))
}

async fn node_names(http: &reqwest::Client, sim: &Simulation) -> Vec<String> {
    let url = format!("{}/apis/metrics.k8s.io/v1beta1/nodes", sim.server_url);
    let Ok(resp) = http.get(url).send().await else {
        return vec![];
    };
    let Ok(body) = resp.json::<Value>().await else {
        return vec![];
    };
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_for_nodes(http: &reqwest::Client, sim: &Simulation, want: &[&str], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = node_names(http, sim).await;
        if want.iter().all(|w| got.iter().any(|g| g == w)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "wanted metrics for {want:?}, have {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn wait_for_pod(http: &reqwest::Client, sim: &Simulation, name: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = format!("{}/apis/metrics.k8s.io/v1beta1/pods", sim.server_url);
        let body: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        let found = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["metadata"]["name"] == name);
        if found == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} present={found}, wanted {present}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn self_metric(http: &reqwest::Client, sim: &Simulation, line_prefix: &str) -> f64 {
    let body = http
        .get(format!("{}/metrics", sim.server_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {line_prefix} in /metrics:\n{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_kubelets_cost_only_themselves() {
    let (simulation, dir) = common::simulation("faults", 5, 2, 3).await;
    let names: Vec<String> = simulation
        .scenario
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect();
    simulation
        .control
        .set_kubelet_mode(1, KubeletMode::ResourceNotFound);
    simulation.control.set_kubelet_mode(2, KubeletMode::Garbage);
    simulation
        .control
        .set_kubelet_mode(3, KubeletMode::ServerError);
    simulation.control.set_kubelet_mode(4, KubeletMode::Huge);

    let args = ServerArgs::try_parse_from(
        std::iter::once("metrics-apiserver".to_string())
            .chain(simulation.server_args.iter().cloned()),
    )
    .unwrap();
    let http = http_client(&simulation);
    let checks = async {
        // Node 0 is healthy and node 1 is served through the Summary API fallback.
        wait_for_nodes(
            &http,
            &simulation,
            &[&names[0], &names[1]],
            Duration::from_secs(60),
        )
        .await;
        // One more resolution: by now every answering kubelet has been scraped at least twice.
        tokio::time::sleep(Duration::from_secs(11)).await;
        let got = node_names(&http, &simulation).await;
        assert!(
            got.contains(&names[0]) && got.contains(&names[1]),
            "{got:?}"
        );
        assert!(!got.contains(&names[2]), "garbage yields no metrics");
        assert!(!got.contains(&names[3]), "a 500 yields no metrics");
        assert!(!got.contains(&names[4]), "a body over the cap is refused");
        assert!(
            self_metric(
                &http,
                &simulation,
                "metrics_apiserver_kubelet_request_total{success=\"false\"}"
            )
            .await
                >= 1.0
        );
        let ready = http
            .get(format!("{}/readyz", simulation.server_url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);

        // Both recover once their kubelets do.
        simulation.control.set_kubelet_mode(2, KubeletMode::Normal);
        simulation.control.set_kubelet_mode(3, KubeletMode::Normal);
        simulation.control.set_kubelet_mode(4, KubeletMode::Normal);
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        wait_for_nodes(&http, &simulation, &all, Duration::from_secs(60)).await;

        // A pod deleted from the cluster leaves the API; its neighbours stay.
        let (gone_ns, gone_name, kept_name) = {
            let pods = &simulation.scenario.nodes[2].pods;
            (
                pods[0].namespace.clone(),
                pods[0].name.clone(),
                pods[1].name.clone(),
            )
        };
        wait_for_pod(&http, &simulation, &gone_name, true).await;
        assert!(
            simulation
                .control
                .delete_pod(&gone_ns, &gone_name)
                .is_some()
        );
        wait_for_pod(&http, &simulation, &gone_name, false).await;
        wait_for_pod(&http, &simulation, &kept_name, true).await;
        let get = http
            .get(format!(
                "{}/apis/metrics.k8s.io/v1beta1/namespaces/{gone_ns}/pods/{gone_name}",
                simulation.server_url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 404);

        // A hanging kubelet times out; the others keep being served meanwhile.
        simulation.control.set_kubelet_mode(0, KubeletMode::Hang);
        tokio::time::sleep(Duration::from_secs(12)).await;
        wait_for_nodes(&http, &simulation, &all[1..], Duration::from_secs(5)).await;
        let health = http
            .get(format!("{}/livez", simulation.server_url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    };
    tokio::select! {
        r = server::run(args, std::future::pending()) => panic!("server stopped: {r:?}"),
        () = checks => {}
    }
    simulation.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_kubelets_beyond_the_concurrency_bound_never_delay_healthy_nodes() {
    // Three kubelets hang from the start, more than the two request slots of the bound; two more
    // start hanging later, while the schedule is steady. Nodes 3 to 5 always answer.
    let from_start = 0..3;
    let later = 6..8;
    let healthy = 3..6;
    let c = restart_common::cluster(
        "faults-lanes",
        8,
        1,
        &["--scrape-concurrency=2"],
        |control| {
            for i in from_start.clone() {
                control.set_kubelet_mode(i, KubeletMode::Hang);
            }
        },
    )
    .await;
    let started = restart_common::now_ms();
    let resolution_ms = 10_000;
    tokio::time::sleep(Duration::from_secs(22)).await;
    let later_from = restart_common::now_ms();
    for i in later.clone() {
        c.sim.control.set_kubelet_mode(i, KubeletMode::Hang);
    }
    // Three more periods: every hanging kubelet times out (9s) on every try.
    tokio::time::sleep(Duration::from_secs(33)).await;
    let end = restart_common::now_ms();
    for i in healthy.clone() {
        let samples: Vec<i64> = c
            .sim
            .control
            .served_samples(i)
            .into_iter()
            .filter(|t| *t >= started)
            .collect();
        assert!(
            samples.len() >= 5,
            "node {i} scraped every period: {samples:?}"
        );
        assert!(
            samples[0] - started < resolution_ms / 2,
            "node {i} scraped at once after start, not after a hanging kubelet's timeout: {samples:?}"
        );
        let gaps: Vec<i64> = samples
            .windows(2)
            .map(|w| w[1] - w[0])
            .chain(std::iter::once(end - samples[samples.len() - 1]))
            .collect();
        assert!(
            gaps.iter().all(|g| *g < resolution_ms * 3 / 2),
            "node {i} never waited behind a hanging kubelet: gaps {gaps:?} ms"
        );
    }
    let served = restart_common::nodes(&c).await;
    for i in healthy {
        let name = &c.sim.scenario.nodes[i].name;
        let node = restart_common::named(&served, name)
            .unwrap_or_else(|| panic!("{name} served: {served:?}"));
        let ts = restart_common::timestamp_ms(node["timestamp"].as_str().unwrap());
        assert!(
            restart_common::now_ms() - ts < resolution_ms * 2,
            "{name} fresh: {node}"
        );
    }
    for (nodes, since) in [(from_start, started), (later, later_from)] {
        for i in nodes {
            assert!(
                c.sim.control.served_samples(i).iter().all(|t| *t < since),
                "node {i} hangs: it served nothing"
            );
        }
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_summary_fallback_an_old_kubelet_is_never_asked_for_it() {
    // Node 1's kubelet has no /metrics/resource; with the fallback off the server must not read
    // its /stats/summary (the role may lack nodes/stats), and must not wait for it to be ready.
    let c = restart_common::cluster(
        "faults-no-summary",
        3,
        2,
        &["--kubelet-summary-fallback=false"],
        |control| control.set_kubelet_mode(1, KubeletMode::ResourceNotFound),
    )
    .await;
    let started = restart_common::now_ms();
    let names: Vec<String> = c
        .sim
        .scenario
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect();
    restart_common::eventually(Duration::from_secs(40), "nodes 0 and 2 served", || async {
        let served = restart_common::nodes(&c).await;
        (restart_common::named(&served, &names[0]).is_some()
            && restart_common::named(&served, &names[2]).is_some())
        .then_some(())
    })
    .await;
    restart_common::eventually(Duration::from_secs(20), "ready", || async {
        (restart_common::readyz(&c, "").await.0 == 200).then_some(())
    })
    .await;
    // Two more periods: the old kubelet keeps answering 404 and is never read another way.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let served = restart_common::nodes(&c).await;
    assert!(
        restart_common::named(&served, &names[1]).is_none(),
        "{served:?}"
    );
    let summary_reads: Vec<i64> = c
        .sim
        .control
        .served_samples(1)
        .into_iter()
        .filter(|t| *t >= started)
        .collect();
    assert!(
        summary_reads.is_empty(),
        "no /stats/summary was served to the server: {summary_reads:?}"
    );
    assert!(!c.sim.control.served_samples(0).is_empty());
    c.shutdown().await;
}
