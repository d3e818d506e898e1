//! Start-up benchmark: time from starting the server to `/readyz` 200, and to serving complete
//! node and pod metrics, on simulated clusters of 100, 1,000 and 5,000 nodes whose kubelets answer
//! fresh samples. The server runs as a process of its own (its file descriptors are its own); the
//! simulator (fake apiserver and every kubelet) runs in this process.
//!
//! ```sh
//! cargo build --release -p metrics-apiserver
//! cargo run --release -p metrics-apiserver-sim --example startup_bench -- 100 1000 5000
//! ```
//!
//! `SERVER_BINARY` overrides the server path (default `target/release/metrics-apiserver`),
//! `PODS_PER_NODE` the pods per node (default 10). Numbers are printed, never asserted.

use std::time::{Duration, Instant};

use metrics_apiserver_sim::{self as sim, SimOptions};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

async fn count(http: &reqwest::Client, url: &str) -> usize {
    let Ok(r) = http.get(url).send().await else {
        return 0;
    };
    r.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["items"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// A free port below the ephemeral range, so no kubelet listener (bound to port 0) can take it
/// between choosing it and the server binding it.
fn server_port(nodes: usize) -> anyhow::Result<u16> {
    let first = 20_000 + (std::process::id() as usize * 7 + nodes) % 8_000;
    (first..30_000)
        .map(|p| p as u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .ok_or_else(|| anyhow::anyhow!("no free port below 30000"))
}

async fn run(nodes: usize, pods_per_node: usize, binary: &str) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("mas-bench-{}-{nodes}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let setup = Instant::now();
    let simulation = sim::start(SimOptions {
        nodes,
        pods_per_node,
        seed: 1,
        kubeconfig: dir.join("kubeconfig"),
        work_dir: dir.clone(),
        server_port: server_port(nodes)?,
        apiserver_port: 0,
        metric_resolution_secs: 15,
    })
    .await?;
    let setup = setup.elapsed();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&simulation.ca_file)? {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", simulation.control.token()).parse()?,
    );
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .default_headers(headers)
        .timeout(Duration::from_secs(10))
        .build()?;
    let want_pods = nodes * pods_per_node;
    let base = simulation.server_url.clone();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .args(&simulation.server_args)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let (mut listening, mut ready, mut complete) = (None, None, None);
    while complete.is_none() || ready.is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            break;
        }
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            listening.get_or_insert(started.elapsed());
            if r.status().is_success() {
                ready.get_or_insert(started.elapsed());
            }
        }
        if listening.is_some() && complete.is_none() {
            let n = count(&http, &format!("{base}/apis/metrics.k8s.io/v1beta1/nodes")).await;
            if n == nodes {
                let p = count(&http, &format!("{base}/apis/metrics.k8s.io/v1beta1/pods")).await;
                if p == want_pods {
                    complete = Some(started.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let show = |d: Option<Duration>| {
        d.map_or("not within 120s".to_string(), |d| {
            format!("{:.2}s", d.as_secs_f64())
        })
    };
    println!(
        "{nodes:>5} nodes, {want_pods:>6} pods: listening {}, ready {}, complete node+pod metrics {} (simulator set-up {:.1}s)",
        show(listening),
        show(ready),
        show(complete),
        setup.as_secs_f64()
    );
    let _ = child.start_kill();
    let _ = child.wait().await;
    simulation.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = std::env::var("SERVER_BINARY")
        .unwrap_or_else(|_| "target/release/metrics-apiserver".to_string());
    let pods_per_node: usize = std::env::var("PODS_PER_NODE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1000, 5000]
    } else {
        sizes
    };
    for n in sizes {
        run(n, pods_per_node, &binary).await?;
    }
    Ok(())
}
