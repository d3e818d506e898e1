//! Serving through failures and restarts: a kubelet failing for one period keeps its node and
//! pods served with honest timestamps, one failing past the staleness bound disappears;
//! `--window=60s` averages a usage profile that changes at a known time; container restarts and
//! node reboots never give negative or absurd rates and leave a gap of at most one scrape; a
//! restarted server serves complete metrics well inside one resolution, and answers health and
//! discovery before the authentication ConfigMap arrives.

mod common;
mod restart_common;

use std::time::{Duration, Instant};

use common::{Cluster, WatchReader};
use metrics_apiserver_sim::KubeletMode;
use restart_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failed_period_hides_nothing_and_past_the_bound_the_node_goes() {
    let c = Cluster::start("rs-fail", 2, 2, &[]).await;
    c.wait_for_pods(4, Duration::from_secs(30)).await;
    let watch = WatchReader::open(
        &c.http(),
        &c.direct("/apis/metrics.k8s.io/v1beta1/nodes?watch=1"),
    )
    .await;
    let before = named(&nodes(&c).await, "sim-node-1").unwrap().clone();
    let t0 = timestamp_ms(before["timestamp"].as_str().unwrap());
    // One period of 500s: the last good metrics stay, with their own timestamp.
    c.sim.control.set_kubelet_mode(1, KubeletMode::ServerError);
    let fail_started = now_ms();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = named(&nodes(&c).await, "sim-node-1")
        .expect("still served")
        .clone();
    let during_ts = timestamp_ms(during["timestamp"].as_str().unwrap());
    assert!(
        during_ts <= fail_started,
        "the timestamp is the last good sample's, not now"
    );
    assert!(during_ts >= t0);
    assert!(pods(&c).await.len() == 4, "its pods stay served too");
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.sim.control.set_kubelet_mode(1, KubeletMode::Normal);
    let fresh = eventually(Duration::from_secs(20), "a newer sample", || async {
        named(&nodes(&c).await, "sim-node-1")
            .map(|n| timestamp_ms(n["timestamp"].as_str().unwrap()))
            .filter(|t| *t > fail_started)
    })
    .await;
    assert!(fresh > during_ts);
    let events = watch.snapshot();
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "DELETED" && e["object"]["metadata"]["name"] == "sim-node-1"),
        "one failed period never removes the node"
    );
    // Failing for good: gone after the staleness bound (2 x 10s), with a committed DELETED.
    c.sim.control.set_kubelet_mode(1, KubeletMode::Reset);
    let dead = Instant::now();
    watch
        .wait_until(Duration::from_secs(40), "DELETED of sim-node-1", |evs| {
            evs.iter()
                .any(|e| e["type"] == "DELETED" && e["object"]["metadata"]["name"] == "sim-node-1")
        })
        .await;
    assert!(
        dead.elapsed() >= Duration::from_secs(9),
        "kept through at least a period before the bound"
    );
    let left = pods(&c).await;
    let node1: Vec<_> = c.sim.scenario.nodes[1]
        .pods
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert!(
        node1.iter().all(|p| named(&left, p).is_none()),
        "its pods went with it"
    );
    assert!(
        named(&nodes(&c).await, "sim-node-0").is_some(),
        "the other node stays"
    );
    assert_eq!(
        readyz(&c, "").await.0,
        200,
        "readiness does not wait for the dead node"
    );
    let metrics = c
        .http()
        .get(c.direct("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let retries: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("metrics_apiserver_kubelet_retries_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retries > 0.0,
        "failed requests were retried inside the period"
    );
    watch.stop();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_60s_is_the_average_over_a_profile_change() {
    let c = Cluster::start("rs-window", 1, 1, &["--window=60s"]).await;
    c.wait_for_pods(1, Duration::from_secs(30)).await;
    let pod = c.sim.scenario.nodes[0].pods[0].clone();
    let container = pod.containers[0].name.clone();
    let old = pod.containers[0].cpu_nanocores;
    let new = old * 4 + 100_000_000;
    // Let the ring hold more than 60s, then step the rate; read while the window spans the step.
    tokio::time::sleep(Duration::from_secs(55)).await;
    let change_at = now_ms() + 1_000;
    assert!(
        c.sim
            .control
            .set_cpu_from(&pod.namespace, &pod.name, &container, change_at, new)
    );
    tokio::time::sleep(Duration::from_secs(31)).await;
    let items = pods(&c).await;
    let served = named(&items, &pod.name).expect("pod served");
    let ts = timestamp_ms(served["timestamp"].as_str().unwrap());
    let w = window_ms(served["window"].as_str().unwrap());
    assert!((60_000..70_000).contains(&w), "window near 60s: {w} ms");
    assert!(
        ts - w < change_at && change_at < ts,
        "the window spans the change"
    );
    let got = nanocores(served["containers"][0]["usage"]["cpu"].as_str().unwrap());
    let model = c.sim.control.node(0).unwrap();
    let sc = model.pods[0]
        .containers
        .iter()
        .find(|x| x.name == container)
        .unwrap();
    // `timestamp` has second precision: the true end lies in [ts, ts + 1s).
    let lo = sc
        .average_nanocores(ts - w, ts)
        .min(sc.average_nanocores(ts + 1_000 - w, ts + 1_000));
    let hi = sc
        .average_nanocores(ts - w, ts)
        .max(sc.average_nanocores(ts + 1_000 - w, ts + 1_000));
    assert!(
        got + 1_000_000 >= lo && got <= hi + 1_000_000,
        "60s average {got} outside [{lo}, {hi}] (old {old}, new {new})"
    );
    assert!(got > old && got < new, "an average, not the newest rate");
    c.shutdown().await;
}

/// CPU rates of a served NodeMetrics or PodMetrics object, in nanocores (panics on a negative).
fn cpu_rates(o: &serde_json::Value) -> Vec<u64> {
    match o["containers"].as_array() {
        Some(cs) => cs
            .iter()
            .map(|c| nanocores(c["usage"]["cpu"].as_str().unwrap()))
            .collect(),
        None => vec![nanocores(o["usage"]["cpu"].as_str().unwrap())],
    }
}

/// Asserts that `name` is served again, with a sane rate, from the first or the second sample its
/// kubelet served at or after `restart_ms`: after a restart it is missing for at most one scrape.
/// `samples` are the kubelet's served sample times; a served `timestamp` (whole seconds) names
/// the sample it came from. Returns the object served.
fn back_within_one_scrape(
    events: &[serde_json::Value],
    samples: &[i64],
    name: &str,
    restart_ms: i64,
    limit: u64,
) -> serde_json::Value {
    let k = samples
        .iter()
        .position(|t| *t >= restart_ms)
        .expect("a scrape after the restart");
    assert!(k + 1 < samples.len(), "two scrapes after the restart");
    let allowed: Vec<i64> = samples[k..=k + 1]
        .iter()
        .map(|t| t.div_euclid(1000) * 1000)
        .collect();
    let served = events
        .iter()
        .filter(|e| e["type"] != "DELETED" && e["object"]["metadata"]["name"] == name)
        .find(|e| allowed.contains(&timestamp_ms(e["object"]["timestamp"].as_str().unwrap())))
        .unwrap_or_else(|| {
            let seen: Vec<_> = events
                .iter()
                .filter(|e| e["object"]["metadata"]["name"] == name)
                .map(|e| (e["type"].clone(), e["object"]["timestamp"].clone()))
                .collect();
            panic!(
                "{name} not served from either sample after the restart at {restart_ms} \
                 (samples {:?}): {seen:?}",
                &samples[k..=k + 1]
            )
        });
    let o = served["object"].clone();
    for cpu in cpu_rates(&o) {
        assert!(
            cpu <= limit,
            "absurd rate {cpu} > {limit} after the restart: {o}"
        );
    }
    assert!(
        window_ms(o["window"].as_str().unwrap()) > 0,
        "a real window: {o}"
    );
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_restarts_and_node_reboots_never_give_absurd_rates() {
    let c = Cluster::start("rs-reboot", 1, 3, &[]).await;
    c.wait_for_pods(3, Duration::from_secs(30)).await;
    let watch = WatchReader::open(
        &c.http(),
        &c.direct("/apis/metrics.k8s.io/v1beta1/pods?watch=1"),
    )
    .await;
    let nwatch = WatchReader::open(
        &c.http(),
        &c.direct("/apis/metrics.k8s.io/v1beta1/nodes?watch=1"),
    )
    .await;
    let pod = c.sim.scenario.nodes[0].pods[0].clone();
    let restarted_at = now_ms();
    assert!(c.sim.control.restart_container(
        &pod.namespace,
        &pod.name,
        &pod.containers[0].name,
        restarted_at
    ));
    tokio::time::sleep(Duration::from_secs(22)).await;
    let model = c.sim.control.node(0).unwrap();
    let limit = model.cpu_capacity_millis * 1_000_000;
    // The gap is at most one sample: served again at the latest one scrape after the restart is
    // first seen, at the restarted container's rate.
    let back = back_within_one_scrape(
        &watch.snapshot(),
        &c.sim.control.served_samples(0),
        &pod.name,
        restarted_at,
        limit,
    );
    let restarted = back["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == pod.containers[0].name.as_str())
        .expect("the restarted container is served");
    let want = pod.containers[0].cpu_nanocores;
    let got = nanocores(restarted["usage"]["cpu"].as_str().unwrap());
    assert!(
        got.abs_diff(want) <= want / 50 + 1_000_000,
        "the new segment's rate: {got} vs {want}"
    );

    let rebooted_at = now_ms();
    c.sim.control.reboot_node(0, rebooted_at);
    tokio::time::sleep(Duration::from_secs(32)).await;
    let (pod_events, node_events) = (watch.snapshot(), nwatch.snapshot());
    for e in pod_events.iter().chain(node_events.iter()) {
        for cpu in cpu_rates(&e["object"]) {
            assert!(cpu <= limit, "absurd rate {cpu} > capacity {limit}: {e}");
        }
    }
    // Likewise after the reboot, for the node and each of its pods.
    let samples = c.sim.control.served_samples(0);
    back_within_one_scrape(&node_events, &samples, "sim-node-0", rebooted_at, limit);
    for p in &model.pods {
        back_within_one_scrape(&pod_events, &samples, &p.name, rebooted_at, limit);
    }
    // After both, every pod and the node are served again at the model's rates.
    let items = c.wait_for_pods(3, Duration::from_secs(20)).await;
    for p in &model.pods {
        let served = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == p.name.as_str())
            .unwrap();
        for sc in &p.containers {
            let got = served["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == sc.name.as_str())
                .unwrap();
            let cpu = nanocores(got["usage"]["cpu"].as_str().unwrap());
            assert!(
                cpu.abs_diff(sc.cpu_nanocores) <= sc.cpu_nanocores / 50 + 1_000_000,
                "{} {cpu} vs {}",
                sc.name,
                sc.cpu_nanocores
            );
        }
    }
    let node = named(&nodes(&c).await, "sim-node-0")
        .cloned()
        .expect("node served after its reboot");
    let cpu = nanocores(node["usage"]["cpu"].as_str().unwrap());
    assert!(cpu.abs_diff(model.cpu_nanocores()) <= model.cpu_nanocores() / 50 + 1_000_000);
    watch.stop();
    nwatch.stop();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_complete_metrics_within_one_resolution() {
    let mut c = Cluster::start("rs-fast", 4, 3, &[]).await;
    let want = c.pod_names().len();
    c.wait_for_pods(want, Duration::from_secs(30)).await;
    c.stop_server().await;
    let started = Instant::now();
    c.start_server().await;
    eventually(
        Duration::from_secs(9),
        "/readyz 200 and complete metrics",
        || async {
            let ready = readyz(&c, "").await.0 == 200;
            (ready && nodes(&c).await.len() == 4 && pods(&c).await.len() == want).then_some(())
        },
    )
    .await;
    let (_, verbose) = readyz(&c, "?verbose").await;
    assert!(
        verbose.contains("[+]metric-storage-ready ok: 4 of 4 nodes served"),
        "{verbose}"
    );
    let first = pods(&c).await;
    let w = window_ms(first[0]["window"].as_str().unwrap());
    assert!(w < 10_000, "the first windows are honestly short: {w} ms");
    eprintln!("complete after restart in {:?}", started.elapsed());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_discovery_answer_before_the_authentication_configmap_arrives() {
    let mut c = Cluster::start("rs-cmhold", 1, 1, &[]).await;
    c.wait_for_pods(1, Duration::from_secs(30)).await;
    c.stop_server().await;
    c.sim.auth.hold_configmap(true);
    c.sim.api_requests.clear();
    c.start_server().await;
    let configmap = metrics_apiserver_sim::apiserver::AUTH_CONFIGMAP;
    eventually(
        Duration::from_secs(20),
        "the server's ConfigMap lookup, held unanswered",
        || async {
            c.sim
                .api_requests
                .snapshot()
                .iter()
                .any(|r| r.method == "GET" && r.path == configmap)
                .then_some(())
        },
    )
    .await;
    // While the lookup is outstanding: live, not ready, and serving what needs no proxy CA.
    let live = c
        .anonymous_http()
        .get(c.direct("/livez"))
        .send()
        .await
        .expect("the listener is open");
    assert_eq!(live.status(), 200);
    assert_eq!(live.text().await.unwrap(), "ok");
    let (code, verbose) = readyz(&c, "?verbose").await;
    assert_eq!(code, 500, "{verbose}");
    assert!(
        verbose.contains(
            "[-]delegated-authentication failed: waiting for configmap/extension-apiserver-authentication in kube-system"
        ),
        "{verbose}"
    );
    let discovery = get(&c, "/apis/metrics.k8s.io/v1beta1")
        .await
        .expect("discovery with a token");
    assert_eq!(discovery["kind"], "APIResourceList");
    // The front proxy's certificate cannot be verified yet: its request is anonymous, and the
    // delegated authorizer refuses it, as a Go server without the request-header CA answers.
    let proxied = c
        .http()
        .get(c.via_proxy("/apis/metrics.k8s.io/v1beta1/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 403);
    let status: serde_json::Value = proxied.json().await.unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("User \"system:anonymous\" cannot list resource \"nodes\""),
        "{status}"
    );
    // Once the ConfigMap arrives: ready, and the proxy's user is authenticated.
    c.sim.auth.hold_configmap(false);
    eventually(Duration::from_secs(30), "/readyz 200", || async {
        (readyz(&c, "").await.0 == 200).then_some(())
    })
    .await;
    let nodes: serde_json::Value = c
        .http()
        .get(c.via_proxy("/apis/metrics.k8s.io/v1beta1/nodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nodes["kind"], "NodeMetricsList", "{nodes}");
    c.shutdown().await;
}
