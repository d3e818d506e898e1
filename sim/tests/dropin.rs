//! An existing metrics-server manifest starts this server unchanged: its stock arguments plus the
//! generic apiserver and logging flags seen in real deployments, and the server is ready and
//! serves. (The simulator already passes metrics-server's stock arguments; these come on top, and
//! a flag given twice takes its last value, as with Go's pflag.)

mod common;

use std::time::Duration;

use common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_server_arguments_start_a_ready_serving_server() {
    let c = Cluster::start(
        "dropin",
        2,
        2,
        &[
            "--cert-dir=/tmp",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            "--v=2",
            "--logging-format=text",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--tls-min-version=VersionTLS12",
            "--authentication-token-webhook-cache-ttl=10s",
            "--authorization-webhook-cache-authorized-ttl=10s",
            "--shutdown-delay-duration=0s",
            "--profiling",
            "--contention-profiling=false",
            "--enable-priority-and-fairness=false",
            "--feature-gates=APIListChunking=true",
            "--max-requests-inflight=400",
            "--request-timeout=1m0s",
            "--audit-log-path=-",
            "--audit-log-maxage=30",
            "--log-flush-frequency=5s",
            "--http2-max-streams-per-connection=1000",
        ],
    )
    .await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(60)).await;
    let http = c.http();
    let ready = http.get(c.direct("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // /metrics is in the always-allow paths now: anonymous clients may read it.
    let anon = c.anonymous_http();
    let metrics = anon.get(c.direct("/metrics")).send().await.unwrap();
    assert_eq!(
        metrics.status(),
        200,
        "--authorization-always-allow-paths is honoured"
    );
    let nodes = http
        .get(c.via_proxy("/apis/metrics.k8s.io/v1beta1/nodes"))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(nodes["items"].as_array().unwrap().len(), 2);
    c.shutdown().await;
}
