//! Watch through the simulated cluster's aggregation layer, with real clients: `kubectl get -w`,
//! kube-rs' runtime watcher, the Python `kubernetes` client, raw resumes and slow watchers.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cluster, WatchReader, event_key, python_client};
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;

const PODS: &str = "/apis/metrics.k8s.io/v1beta1/pods";

/// Runs `kubectl <args>` for `secs` seconds and returns the lines it printed.
fn kubectl_for(kubeconfig: &str, args: &[&str], secs: u64) -> std::thread::JoinHandle<Vec<String>> {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl on PATH");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let got = lines.lock().unwrap().clone();
        assert!(err.trim().is_empty(), "kubectl stderr: {err}");
        got
    })
}

fn pod_metrics_resource() -> ApiResource {
    common::metrics_resource("v1beta1", "PodMetrics", "pods")
}

#[derive(Debug, Default)]
struct Seen {
    inits: usize,
    init_done: usize,
    initial: HashSet<String>,
    applies: Vec<(String, String)>,
    deletes: Vec<String>,
}

fn key(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    )
}

async fn wait_seen(seen: &Mutex<Seen>, within: Duration, what: &str, pred: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + within;
    while !pred(&seen.lock().unwrap()) {
        assert!(
            Instant::now() < deadline,
            "kube-rs watcher: timed out waiting for {what}: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_watch_through_the_aggregation_layer() {
    let mut c = Cluster::start("watch", 3, 3, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let kc = c.kubeconfig();

    // kubectl get -w prints the initial rows and then a row per update as scrapes land.
    let pods_w = kubectl_for(&kc, &["get", "podmetrics", "-A", "-w", "--no-headers"], 14);
    let nodes_w = kubectl_for(&kc, &["get", "nodemetrics", "-w", "--no-headers"], 14);

    // Python: ADDED for every pod, then MODIFIED when the next scrape lands.
    let py = python_client(&["watch", "--kubeconfig", &kc, "--seconds", "13"]);

    let pod_lines = pods_w.join().unwrap();
    let node_lines = nodes_w.join().unwrap();
    assert!(
        pod_lines.len() > all.len(),
        "kubectl get podmetrics -A -w printed no updates: {pod_lines:?}"
    );
    assert!(
        node_lines.len() > 3,
        "kubectl get nodemetrics -w printed no updates: {node_lines:?}"
    );
    let types: Vec<&str> = py.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let first_modified = types
        .iter()
        .position(|t| *t == "MODIFIED")
        .expect("a MODIFIED event");
    let added: HashSet<String> = py[..first_modified]
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["namespace"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        types[..first_modified].iter().all(|t| *t == "ADDED"),
        "{types:?}"
    );
    assert_eq!(
        added,
        all.iter().cloned().collect::<HashSet<_>>(),
        "initial ADDED events"
    );

    // kube-rs' runtime watcher: initial state, modifications, a deletion, and recovery after the
    // server restarts (its resourceVersions start above the old ones, so the resume gets 410).
    let client = common::kube_client(&kc).await;
    let api: kube::Api<DynamicObject> = kube::Api::all_with(client, &pod_metrics_resource());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = seen.clone();
    let watch_task = tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default());
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            let mut s = sink.lock().unwrap();
            match ev {
                Ok(watcher::Event::Init) => s.inits += 1,
                Ok(watcher::Event::InitApply(o)) => {
                    s.initial.insert(key(&o));
                }
                Ok(watcher::Event::InitDone) => s.init_done += 1,
                Ok(watcher::Event::Apply(o)) => {
                    let rv = o.metadata.resource_version.clone().unwrap_or_default();
                    s.applies.push((key(&o), rv));
                }
                Ok(watcher::Event::Delete(o)) => s.deletes.push(key(&o)),
                Err(_) => {}
            }
        }
    });
    wait_seen(&seen, Duration::from_secs(10), "the initial list", |s| {
        s.init_done == 1
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().initial,
        all.iter().cloned().collect::<HashSet<_>>()
    );
    wait_seen(&seen, Duration::from_secs(15), "a modification", |s| {
        !s.applies.is_empty()
    })
    .await;
    let victim = all[0].clone();
    let (ns, name) = victim.split_once('/').unwrap();
    c.sim.control.delete_pod(ns, name).expect("pod exists");
    wait_seen(&seen, Duration::from_secs(10), "the DELETED pod", |s| {
        s.deletes.contains(&victim)
    })
    .await;

    c.stop_server().await;
    c.start_server().await;
    wait_seen(
        &seen,
        Duration::from_secs(60),
        "a relist after the restart",
        |s| s.inits >= 2 && s.init_done >= 2,
    )
    .await;
    watch_task.abort();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_exactly_the_missed_events_and_old_versions_get_410() {
    let c = Cluster::start("resume", 3, 3, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let http = c.http();

    // A watcher that sees everything from the current state on.
    let live = WatchReader::open(&http, &c.via_proxy(&format!("{PODS}?watch=1"))).await;
    live.wait_until(Duration::from_secs(25), "two scrape rounds", |ev| {
        ev.iter().filter(|e| e["type"] == "MODIFIED").count() >= 2 * all.len()
    })
    .await;
    let events: Vec<_> = live.snapshot().iter().map(event_key).collect();
    let rvs: Vec<u64> = events.iter().map(|e| e.2).collect();
    let first_mod = events.iter().position(|e| e.0 == "MODIFIED").unwrap();
    assert!(
        rvs[first_mod..].windows(2).all(|w| w[0] < w[1]),
        "resourceVersions strictly increase"
    );
    // Resume from the middle: every event after it, exactly once, in order.
    let cut = first_mod + all.len() / 2;
    let from = rvs[cut];
    let upto = *rvs.last().unwrap();
    let resumed = WatchReader::open(
        &http,
        &c.via_proxy(&format!("{PODS}?watch=1&resourceVersion={from}")),
    )
    .await;
    resumed
        .wait_until(Duration::from_secs(5), "the replay", |ev| {
            ev.iter().any(|e| event_key(e).2 >= upto)
        })
        .await;
    let replayed: Vec<_> = resumed
        .snapshot()
        .iter()
        .map(event_key)
        .filter(|e| e.2 <= upto)
        .collect();
    assert_eq!(replayed, events[cut + 1..].to_vec(), "replay after {from}");
    resumed.stop();
    live.stop();

    // A resourceVersion older than the history kept: a 410 ERROR event inside a 200 stream.
    let old = WatchReader::open(
        &http,
        &c.via_proxy(&format!("{PODS}?watch=1&resourceVersion=1")),
    )
    .await;
    old.wait_until(Duration::from_secs(5), "the stream to end", |_| {
        old.ended.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let ev = old.snapshot();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["type"], "ERROR");
    assert_eq!(ev[0]["object"]["code"], 410);
    assert_eq!(ev[0]["object"]["reason"], "Expired");
    assert!(
        ev[0]["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version: 1 ("),
        "{ev:?}"
    );

    // Streaming list (client-go's WatchList): initial ADDED, then the annotated BOOKMARK.
    let wl = WatchReader::open(
        &http,
        &c.via_proxy(&format!(
            "{PODS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
        )),
    )
    .await;
    wl.wait_until(
        Duration::from_secs(5),
        "the initial-events-end bookmark",
        |ev| ev.iter().any(|e| e["type"] == "BOOKMARK"),
    )
    .await;
    let ev = wl.snapshot();
    let bm = ev.iter().position(|e| e["type"] == "BOOKMARK").unwrap();
    assert!(ev[..bm].iter().all(|e| e["type"] == "ADDED"));
    assert!(bm >= all.len() - 1, "every pod before the bookmark");
    let meta = &ev[bm]["object"]["metadata"];
    assert_eq!(meta["annotations"]["k8s.io/initial-events-end"], "true");
    assert_eq!(ev[bm]["object"]["kind"], "PodMetrics");
    let brv: u64 = meta["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(ev[..bm].iter().all(|e| event_key(e).2 <= brv));
    wl.stop();

    // Invalid combinations are 422 before streaming.
    let r = http
        .get(c.via_proxy(&format!("{PODS}?watch=1&sendInitialEvents=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "Invalid");
    assert_eq!(
        body["message"],
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_selected_watch_sees_objects_leave_and_join() {
    let c = Cluster::start("labels", 2, 3, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let http = c.http();
    let (ns, name) = all[0].split_once('/').unwrap();
    let url = c.via_proxy(&format!(
        "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?watch=1&labelSelector=watched%3Dyes"
    ));
    let w = WatchReader::open(&http, &url).await;
    c.sim
        .control
        .set_pod_labels(ns, name, vec![("watched".to_string(), "yes".to_string())])
        .unwrap();
    w.wait_until(Duration::from_secs(5), "ADDED on matching", |ev| {
        ev.iter().any(|e| e["type"] == "ADDED")
    })
    .await;
    c.sim.control.set_pod_labels(ns, name, Vec::new()).unwrap();
    w.wait_until(
        Duration::from_secs(5),
        "DELETED on no longer matching",
        |ev| ev.iter().any(|e| e["type"] == "DELETED"),
    )
    .await;
    let ev: Vec<_> = w.snapshot().iter().map(event_key).collect();
    assert!(
        ev.iter().all(|e| e.1 == all[0]),
        "only the relabelled pod: {ev:?}"
    );
    w.stop();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_bookmarks_and_the_watch_limit() {
    let c = Cluster::start("limits", 2, 2, &["--max-watches", "2"]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let http = c.http();

    // timeoutSeconds ends the stream cleanly, with a bookmark shortly before the end.
    let started = Instant::now();
    let w = WatchReader::open(
        &http,
        &c.via_proxy(&format!(
            "{PODS}?watch=1&timeoutSeconds=3&allowWatchBookmarks=true"
        )),
    )
    .await;
    w.wait_until(Duration::from_secs(10), "the stream to end", |_| {
        w.ended.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(8),
        "ended after {elapsed:?}"
    );
    let ev = w.snapshot();
    let bookmarks: Vec<&Value> = ev.iter().filter(|e| e["type"] == "BOOKMARK").collect();
    assert!(
        !bookmarks.is_empty(),
        "a bookmark before the timeout: {ev:?}"
    );
    let last_rv = ev.iter().map(|e| event_key(e).2).max().unwrap();
    let bm_rv: u64 = bookmarks.last().unwrap()["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(bm_rv, last_rv, "the last bookmark covers everything sent");
    assert_eq!(bookmarks[0]["object"]["kind"], "PodMetrics");

    // The watch limit: two are allowed, the third is 429 with Retry-After.
    let a = WatchReader::open(&http, &c.via_proxy(&format!("{PODS}?watch=1"))).await;
    let b = WatchReader::open(&http, &c.via_proxy(&format!("{PODS}?watch=1"))).await;
    let r = http
        .get(c.direct(&format!("{PODS}?watch=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    a.stop();
    b.stop();
    // Closing them frees their places.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http
            .get(c.direct(&format!("{PODS}?watch=1&timeoutSeconds=1")))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "watch places were not released");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.shutdown().await;
}
