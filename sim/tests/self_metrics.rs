//! `/metrics` on a running simulated cluster: metrics-server's six series with sensible values,
//! ours beside them, and the series of a node that left the cluster removed.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

async fn scrape(c: &Cluster) -> String {
    let r = c.http().get(c.direct("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the first sample line that starts with `prefix`.
fn value(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_metrics_follow_metrics_server_and_forget_departed_nodes() {
    let c = Cluster::start("selfmetrics", 3, 2, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let body = scrape(&c).await;
    for (name, kind) in [
        ("metrics_server_api_metric_freshness_seconds", "histogram"),
        (
            "metrics_server_kubelet_request_duration_seconds",
            "histogram",
        ),
        ("metrics_server_kubelet_request", "counter"),
        ("metrics_server_kubelet_last_request_time_seconds", "gauge"),
        ("metrics_server_manager_tick_duration_seconds", "histogram"),
        ("metrics_server_storage_points", "gauge"),
    ] {
        assert!(
            body.contains(&format!("# TYPE {name} {kind}")),
            "{name} {kind} missing:\n{body}"
        );
    }
    // Lists were served (wait_for_pods), so freshness has observations of a few seconds.
    let fresh = value(&body, "metrics_server_api_metric_freshness_seconds_count").unwrap();
    assert!(fresh >= all.len() as f64, "{fresh}");
    let fresh_sum = value(&body, "metrics_server_api_metric_freshness_seconds_sum").unwrap();
    assert!(fresh_sum / fresh < 30.0, "items are seconds old, not more");
    assert!(
        value(
            &body,
            "metrics_server_kubelet_request_total{success=\"true\"}"
        )
        .unwrap()
            >= 6.0
    );
    assert_eq!(
        value(&body, "metrics_server_storage_points{type=\"node\"}"),
        Some(3.0)
    );
    assert!(
        value(&body, "metrics_server_storage_points{type=\"container\"}").unwrap()
            >= all.len() as f64
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let node0 = c.sim.control.node(0).unwrap().name;
    let last = value(
        &body,
        &format!("metrics_server_kubelet_last_request_time_seconds{{node=\"{node0}\"}}"),
    )
    .unwrap();
    assert!((now - last).abs() < 30.0, "last request {last}, now {now}");
    assert!(body.contains(&format!(
        "metrics_server_kubelet_request_duration_seconds_bucket{{le=\"10.0\",node=\"{node0}\"}}"
    )));
    let ticks = value(&body, "metrics_server_manager_tick_duration_seconds_count").unwrap();
    assert!(ticks >= 6.0);
    // Ours, beside them.
    assert_eq!(
        value(&body, "metrics_apiserver_served_objects{type=\"node\"}"),
        Some(3.0)
    );
    assert!(value(&body, "metrics_apiserver_resource_version").unwrap() > 1e15);

    // A node leaves the cluster: its per-node series go with it.
    c.sim.control.delete_node(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = scrape(&c).await;
        let has = body.contains(&format!("node=\"{node0}\""));
        if !has {
            assert_eq!(
                value(&body, "metrics_server_storage_points{type=\"node\"}"),
                Some(2.0)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "series of {node0} never removed:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.shutdown().await;
}
