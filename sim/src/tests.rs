//! End-to-end tests of the simulation over real sockets: kube-rs watchers against the fake
//! apiserver (what our server does), raw HTTP checks of the wire format, the kubelets and
//! their fault modes, and the aggregation proxy.

use std::path::PathBuf;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde_json::Value;

use super::model::SimPod;
use super::*;

fn to_json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn start_sim(name: &str, nodes: usize, pods_per_node: usize) -> (Simulation, PathBuf) {
    let dir = temp_dir(name);
    let sim = start(SimOptions {
        nodes,
        pods_per_node,
        seed: 42,
        kubeconfig: dir.join("kubeconfig"),
        work_dir: dir.join("work"),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    (sim, dir)
}

async fn kube_client(sim: &Simulation) -> Client {
    let kc = kube::config::Kubeconfig::read_from(&sim.kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

fn http_client(sim: &Simulation) -> reqwest::Client {
    let ca = std::fs::read(&sim.ca_file).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Collects watcher events until `InitDone`; returns the objects seen during init.
async fn initial_objects<K, S>(stream: &mut S) -> Vec<K>
where
    S: futures::Stream<Item = Result<Event<K>, watcher::Error>> + Unpin,
{
    let mut out = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("watcher stalled")
            .expect("watcher error")
            .expect("watcher ended");
        match ev {
            Event::Init => out.clear(),
            Event::InitApply(o) => out.push(o),
            Event::InitDone => return out,
            Event::Apply(_) | Event::Delete(_) => {}
        }
    }
}

async fn next_change<K, S>(stream: &mut S) -> Event<K>
where
    S: futures::Stream<Item = Result<Event<K>, watcher::Error>> + Unpin,
{
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("no event")
            .expect("watcher error")
            .expect("watcher ended");
        if matches!(ev, Event::Apply(_) | Event::Delete(_)) {
            return ev;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watchers_list_and_watch() {
    let (sim, dir) = start_sim("kube", 3, 4).await;
    let client = kube_client(&sim).await;

    // Nodes, list+watch (the kube-rs default) and streaming lists.
    for cfg in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut nodes = watcher::watcher(Api::<Node>::all(client.clone()), cfg).boxed();
        let mut got = initial_objects(&mut nodes).await;
        got.sort_by_key(|n| n.metadata.name.clone());
        assert_eq!(got.len(), 3);
        for (i, n) in got.iter().enumerate() {
            assert_eq!(
                n.metadata.name.as_deref(),
                Some(sim.scenario.nodes[i].name.as_str())
            );
            let status = n.status.as_ref().unwrap();
            let port = status
                .daemon_endpoints
                .as_ref()
                .unwrap()
                .kubelet_endpoint
                .as_ref()
                .unwrap()
                .port;
            assert_eq!(port as u16, sim.control.kubelet_addr(i).unwrap().port());
            let addrs = status.addresses.as_ref().unwrap();
            assert_eq!(addrs[0].type_, "InternalIP");
            assert_eq!(addrs[0].address, "127.0.0.1");
            assert!(status.allocatable.as_ref().unwrap().contains_key("cpu"));
            assert!(n.metadata.resource_version.is_some());
            assert!(
                n.metadata
                    .labels
                    .as_ref()
                    .unwrap()
                    .contains_key("sim.metrics/zone")
            );
        }
    }

    // Pods: full objects and metadata-only, then runtime churn.
    let api = Api::<Pod>::all(client.clone());
    let mut pods = watcher::watcher(api, watcher::Config::default()).boxed();
    let meta_api = Api::<PartialObjectMeta<Pod>>::all(client.clone());
    let mut meta =
        watcher::watcher(meta_api, watcher::Config::default().labels("tier=frontend")).boxed();
    let all = initial_objects(&mut pods).await;
    assert_eq!(all.len(), 12);
    for p in &all {
        let spec = p.spec.as_ref().unwrap();
        assert!(spec.node_name.as_deref().unwrap().starts_with("sim-node-"));
        assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    }
    // Paged initial list (limit/continue).
    let mut paged = watcher::watcher(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().page_size(5),
    )
    .boxed();
    let mut paged_names: Vec<_> = initial_objects(&mut paged)
        .await
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    let mut all_names: Vec<_> = all
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    paged_names.sort();
    all_names.sort();
    assert_eq!(paged_names, all_names);
    drop(paged);
    let frontend = initial_objects(&mut meta).await;
    let want = sim
        .scenario
        .pods()
        .filter(|(_, p)| p.label("tier") == Some("frontend"))
        .count();
    assert_eq!(frontend.len(), want);

    let pod = SimPod::new_running(
        "team-x",
        "added-pod",
        &[("app", "added"), ("tier", "frontend")],
        &[("main", 250_000_000, 64 << 20)],
        7,
        serve::now_ms(),
    );
    sim.control.add_pod(1, pod).unwrap();
    match next_change(&mut pods).await {
        Event::Apply(p) => {
            assert_eq!(p.metadata.name.as_deref(), Some("added-pod"));
            assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("sim-node-1"));
        }
        other => panic!("unexpected {other:?}"),
    }
    match next_change(&mut meta).await {
        Event::Apply(p) => assert_eq!(p.metadata.name.as_deref(), Some("added-pod")),
        other => panic!("unexpected {other:?}"),
    }
    // Relabel out of the selector: the metadata watcher sees a delete.
    sim.control
        .set_pod_labels("team-x", "added-pod", vec![("app".into(), "added".into())])
        .unwrap();
    assert!(matches!(next_change(&mut pods).await, Event::Apply(_)));
    assert!(matches!(next_change(&mut meta).await, Event::Delete(_)));
    sim.control.delete_pod("team-x", "added-pod").unwrap();
    match next_change(&mut pods).await {
        Event::Delete(p) => assert_eq!(p.metadata.name.as_deref(), Some("added-pod")),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        sim.control
            .node(1)
            .unwrap()
            .pods
            .iter()
            .all(|p| p.name != "added-pod")
    );

    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn read_line(resp: &mut reqwest::Response, buf: &mut Vec<u8>) -> Value {
    loop {
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            return serde_json::from_slice(&line).unwrap();
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .expect("no watch data")
            .unwrap()
            .expect("stream ended");
        buf.extend_from_slice(&chunk);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_list_watch_and_errors() {
    let (sim, dir) = start_sim("raw", 2, 3).await;
    let http = http_client(&sim);
    let token = sim.control.token().to_string();
    let get = |path: &str| {
        http.get(format!("{}{path}", sim.apiserver_url))
            .bearer_auth(&token)
            .send()
    };

    let r = http
        .get(format!("{}/api/v1/nodes", sim.apiserver_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(get("/version").await.unwrap().status(), 200);

    let list: Value = get("/api/v1/namespaces/shop/pods?&limit=500")
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| to_json(&b))
        .unwrap();
    assert_eq!(list["kind"], "PodList");
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = sim
        .scenario
        .pods()
        .filter(|(_, p)| p.namespace == "shop")
        .map(|(_, p)| p.name.as_str())
        .collect();
    assert_eq!(names.len(), want.len());

    let discovery: Value = get("/apis")
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| to_json(&b))
        .unwrap();
    assert_eq!(discovery["groups"][0]["name"], "metrics.k8s.io");
    let bad = get("/api/v1/pods?labelSelector=a%20b").await.unwrap();
    assert_eq!(bad.status(), 400);
    let missing: Value = get("/api/v1/nodes/nope")
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| to_json(&b))
        .unwrap();
    assert_eq!(missing["code"], 404);
    assert_eq!(missing["reason"], "NotFound");

    // Resume a watch from the list's RV and see a change made afterwards.
    let mut w = get(&format!(
        "/api/v1/pods?&watch=true&timeoutSeconds=30&allowWatchBookmarks=true&resourceVersion={rv}"
    ))
    .await
    .unwrap();
    assert_eq!(w.status(), 200);
    let pod = SimPod::new_running(
        "shop",
        "late",
        &[("app", "late")],
        &[("c", 1_000_000, 4 << 20)],
        1,
        serve::now_ms(),
    );
    let new_rv = sim.control.add_pod(0, pod).unwrap();
    let mut buf = Vec::new();
    let ev = read_line(&mut w, &mut buf).await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["kind"], "Pod");
    assert_eq!(
        ev["object"]["metadata"]["resourceVersion"],
        new_rv.to_string()
    );

    // RV "0" replays the current state as ADDED; too-old RVs get an in-stream 410.
    let mut w0 = get("/api/v1/nodes?watch=1&resourceVersion=0")
        .await
        .unwrap();
    let mut buf0 = Vec::new();
    assert_eq!(read_line(&mut w0, &mut buf0).await["type"], "ADDED");
    let mut old = get("/api/v1/nodes?watch=true&resourceVersion=1")
        .await
        .unwrap();
    let mut buf1 = Vec::new();
    let err = read_line(&mut old, &mut buf1).await;
    assert_eq!(err["type"], "ERROR");
    assert_eq!(err["object"]["code"], 410);

    // Table output for kubectl.
    let table: Value = http
        .get(format!("{}/api/v1/nodes", sim.apiserver_url))
        .bearer_auth(&token)
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| to_json(&b))
        .unwrap();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().unwrap().len(), 2);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn parse_prom(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubelets_and_fault_modes() {
    let (sim, dir) = start_sim("kubelet", 2, 3).await;
    let http = http_client(&sim);
    let token = sim.control.token().to_string();
    let port = sim.control.kubelet_addr(1).unwrap().port();
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");

    assert_eq!(
        http.get(url("/metrics/resource"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = http
        .get(url("/metrics/resource"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], kubelet::PROM_CONTENT_TYPE);
    let text = r.text().await.unwrap();
    let scrape = parse_prom(&text);
    let node = sim.control.node(1).unwrap();
    let mem = scrape
        .samples
        .iter()
        .find(|s| s.metric == "node_memory_working_set_bytes")
        .unwrap();
    let ts_ms = mem.timestamp.timestamp_millis();
    match mem.value {
        prometheus_parse::Value::Gauge(v) => assert_eq!(v as u64, node.memory_at(ts_ms)),
        ref other => panic!("{other:?}"),
    }
    let containers = node.pods.iter().map(|p| p.containers.len()).sum::<usize>();
    let cpu_series = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "container_cpu_usage_seconds_total")
        .count();
    assert_eq!(cpu_series, containers);

    // The kubelet serves the DNS name of its node too.
    let by_name = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(&std::fs::read(&sim.ca_file).unwrap()).unwrap(),
        ])
        .resolve("sim-node-1", sim.control.kubelet_addr(1).unwrap())
        .build()
        .unwrap();
    let summary: Value = by_name
        .get(format!("https://sim-node-1:{port}/stats/summary"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| to_json(&b))
        .unwrap();
    assert_eq!(summary["node"]["nodeName"], "sim-node-1");
    assert_eq!(summary["pods"].as_array().unwrap().len(), node.pods.len());

    let status = |path: &'static str| {
        let req = http
            .get(url(path))
            .bearer_auth(&token)
            .timeout(Duration::from_millis(700));
        async move { req.send().await.map(|r| r.status().as_u16()) }
    };
    sim.control
        .set_kubelet_mode(1, KubeletMode::ResourceNotFound);
    assert_eq!(status("/metrics/resource").await.unwrap(), 404);
    assert_eq!(status("/stats/summary").await.unwrap(), 200);
    sim.control.set_kubelet_mode(1, KubeletMode::ServerError);
    assert_eq!(status("/metrics/resource").await.unwrap(), 500);
    sim.control.set_kubelet_mode(1, KubeletMode::Garbage);
    let body = http
        .get(url("/stats/summary"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    sim.control.set_kubelet_mode(1, KubeletMode::Hang);
    assert!(status("/metrics/resource").await.unwrap_err().is_timeout());
    sim.control.set_kubelet_mode(1, KubeletMode::Reset);
    assert!(status("/metrics/resource").await.is_err());
    sim.control.set_kubelet_mode(1, KubeletMode::Normal);
    assert_eq!(status("/metrics/resource").await.unwrap(), 200);
    // Other kubelets were never affected.
    assert_eq!(sim.control.kubelet_mode(0), KubeletMode::Normal);

    // Deleting a pod keeps the node CPU counter monotonic.
    let before = sim
        .control
        .node(1)
        .unwrap()
        .cpu_core_nanos_at(serve::now_ms());
    let victim = sim.control.node(1).unwrap().pods[0].clone();
    sim.control
        .delete_pod(&victim.namespace, &victim.name)
        .unwrap();
    let after = sim.control.node(1).unwrap();
    assert!(after.cpu_core_nanos_at(serve::now_ms()) >= before);
    let text = http
        .get(url("/metrics/resource"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&victim.name));

    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_proxy_streams_and_reports_unavailable() {
    let (sim, dir) = start_sim("proxy", 1, 1).await;
    let http = http_client(&sim);
    let token = sim.control.token().to_string();
    let metrics = format!(
        "{}/apis/metrics.k8s.io/v1beta1/nodes?watch=true&labelSelector=a%3Db",
        sim.apiserver_url
    );

    let r = http.get(&metrics).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let st: Value = r.bytes().await.map(|b| to_json(&b)).unwrap();
    assert_eq!(st["reason"], "ServiceUnavailable");

    // A stand-in for our server: echoes the request line and headers, then streams two
    // chunks 300 ms apart.
    let port: u16 = sim.server_url.rsplit(':').next().unwrap().parse().unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let crt = std::fs::read(sim.ca_file.with_file_name("server.crt")).unwrap();
    let key = std::fs::read(sim.ca_file.with_file_name("server.key")).unwrap();
    use rustls::pki_types::pem::PemObject as _;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&crt)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
    let mut tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let upstream = serve::spawn_https(
        "upstream".into(),
        listener,
        std::sync::Arc::new(tls),
        stop_rx,
        || true,
        None,
        |req: hyper::Request<hyper::body::Incoming>| async move {
            let echo = format!(
                "{} {} user={:?} group={:?}\n",
                req.method(),
                req.uri(),
                req.headers().get("x-remote-user"),
                req.headers().get("x-remote-group")
            );
            let chunks =
                futures::stream::iter([echo, "second\n".to_string()]).then(|c| async move {
                    if c == "second\n" {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Ok::<_, serve::BoxError>(hyper::body::Frame::data(bytes::Bytes::from(c)))
                });
            let body =
                http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(chunks));
            hyper::Response::new(body)
        },
    );

    let mut r = http.get(&metrics).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(first.starts_with("GET "), "{first}");
    assert!(
        first.contains("/apis/metrics.k8s.io/v1beta1/nodes?watch=true&labelSelector=a%3Db "),
        "{first}"
    );
    assert!(
        first.contains("sim-admin") && first.contains("system:authenticated"),
        "{first}"
    );
    let t = std::time::Instant::now();
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert_eq!(rest, b"second\n");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "first chunk was not streamed early"
    );

    let _ = stop_tx.send(true);
    let _ = upstream.await;
    let r = http.get(&metrics).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 503);

    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
