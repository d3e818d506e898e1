//! SIGTERM, as a pod's container gets it: readiness fails at once while requests are still served
//! for `--shutdown-delay-duration`, open watch streams and lists end cleanly, and the process
//! exits within a bound. The server runs as a process of its own beside the simulated cluster.

mod common;

use std::time::{Duration, Instant};

use common::{WatchReader, server_binary};
use serde_json::Value;

const PODS: &str = "/apis/metrics.k8s.io/v1beta1/pods";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_ends_streams_and_exits_in_time() {
    let (sim, dir) = common::simulation("shutdown", 10, 20, 5).await;
    let mut child = tokio::process::Command::new(server_binary())
        .args(&sim.server_args)
        .arg("--shutdown-delay-duration=2s")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let http = common::token_client(&sim, None);
    let direct = |p: &str| format!("{}{p}", sim.server_url);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let served = match http.get(direct(PODS)).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["items"].as_array().map(|a| a.len()))
                .unwrap_or(0),
            Err(_) => 0,
        };
        if served == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never served all pods"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let watch = WatchReader::open(&http, &format!("{}{PODS}?watch=1", sim.apiserver_url)).await;
    watch
        .wait_until(Duration::from_secs(5), "the initial events", |ev| {
            ev.len() >= 200
        })
        .await;
    // A list whose body we read only after the signal.
    let list = http.get(direct(PODS)).send().await.unwrap();
    assert_eq!(list.status(), 200);

    let pid = child.id().unwrap();
    let signalled = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Within the delay: still serving, but not ready.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = http.get(direct("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 500, "readiness turns false at once");
    assert!(ready.text().await.unwrap().contains("shutdown"));
    let served = http.get(direct(PODS)).send().await.unwrap();
    assert_eq!(
        served.status(),
        200,
        "requests are still served during the delay"
    );

    // The list in flight completes whole.
    let body: Value = list.json().await.expect("a complete list body");
    assert_eq!(body["items"].as_array().unwrap().len(), 200);

    // The watch stream ends cleanly (a proper end of the body, every line a whole event).
    watch
        .wait_until(Duration::from_secs(10), "the watch stream to end", |_| {
            watch.ended.load(std::sync::atomic::Ordering::SeqCst)
        })
        .await;
    assert!(watch.snapshot().iter().all(|e| e["type"] != "ERROR"));

    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the server exits within the bound")
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_secs(2),
        "the delay is honoured: {took:?}"
    );
    eprintln!("exited {took:?} after SIGTERM");
    // And new connections are refused.
    assert!(http.get(direct("/healthz")).send().await.is_err());
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
