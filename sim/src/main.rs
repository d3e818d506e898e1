//! `metrics-apiserver-sim`: a simulated cluster on 127.0.0.1 with metrics-apiserver inside it.
//!
//! By default the server runs in this process, configured exactly as in a cluster. With
//! `--server-binary` it runs as a process of its own (so its CPU and memory can be measured apart);
//! with `--no-server` the simulator only prints the server's arguments.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::{server, telemetry};
use metrics_apiserver_sim::{self as sim, SimOptions};
use rustls::pki_types::pem::PemObject;

#[derive(Parser)]
#[command(
    name = "metrics-apiserver-sim",
    version,
    about = "A simulated cluster (fake kube-apiserver and kubelets) on 127.0.0.1 with metrics-apiserver inside it"
)]
struct Cli {
    /// Simulated nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Pods per node.
    #[arg(long, default_value_t = 5)]
    pods_per_node: usize,
    /// Seed of the simulated workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the kubeconfig for kubectl is written.
    #[arg(long, default_value = "simulated.kubeconfig")]
    kubeconfig: PathBuf,
    /// Scrape period handed to the server, in seconds (at least 10).
    #[arg(long, default_value_t = 15)]
    metric_resolution: u64,
    /// Port of the fake kube-apiserver (0: any free port).
    #[arg(long, default_value_t = 0)]
    apiserver_port: u16,
    /// Port of our server (0: any free port).
    #[arg(long, default_value_t = 0)]
    server_port: u16,
    /// Run this server binary as a separate process instead of in this one.
    #[arg(long, conflicts_with = "no_server")]
    server_binary: Option<PathBuf>,
    /// Do not start the server; print the arguments it should be started with.
    #[arg(long)]
    no_server: bool,
    /// An extra argument for the server (repeatable), e.g. `--server-arg=--watch-buffer=64`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

/// Polls our server's /readyz through the sim CA until it answers 200.
async fn wait_ready(server_url: &str, ca_file: &std::path::Path) -> anyhow::Result<()> {
    let ca = std::fs::read(ca_file)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        if let Ok(r) = http.get(format!("{server_url}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_logging(&Default::default());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let work_dir =
        std::env::temp_dir().join(format!("metrics-apiserver-sim-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir).context("creating the simulator's work directory")?;
    let simulation = sim::start(SimOptions {
        nodes: cli.nodes,
        pods_per_node: cli.pods_per_node,
        seed: cli.seed,
        kubeconfig: cli.kubeconfig,
        work_dir: work_dir.clone(),
        server_port: cli.server_port,
        apiserver_port: cli.apiserver_port,
        metric_resolution_secs: cli.metric_resolution,
    })
    .await?;
    let mut args = simulation.server_args.clone();
    args.extend(cli.server_args);
    let banner = simulation.banner();
    let server_url = simulation.server_url.clone();
    let ca_file = simulation.ca_file.clone();
    let announce = async move {
        match wait_ready(&server_url, &ca_file).await {
            Ok(()) => println!("{banner}"),
            Err(e) => eprintln!("readiness polling failed: {e:#}"),
        }
        std::future::pending::<()>().await
    };
    let result = if cli.no_server {
        println!(
            "Start the server with:\n  metrics-apiserver {}",
            args.join(" ")
        );
        tokio::select! {
            () = server::shutdown_signal() => Ok(()),
            () = announce => Ok(()),
        }
    } else if let Some(binary) = cli.server_binary {
        let mut child = tokio::process::Command::new(&binary)
            .args(&args)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let r = tokio::select! {
            status = child.wait() => Err(anyhow::anyhow!("the server exited: {:?}", status?)),
            () = server::shutdown_signal() => Ok(()),
            () = announce => Ok(()),
        };
        if let Some(pid) = child.id() {
            // SIGTERM first, so the server shuts down as it would in a pod.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
        r
    } else {
        let args = ServerArgs::try_parse_from(
            std::iter::once("metrics-apiserver".to_string()).chain(args.iter().cloned()),
        )?;
        tokio::select! {
            r = server::run(args, server::shutdown_signal()) => r,
            () = announce => Ok(()),
        }
    };
    simulation.shutdown().await;
    let _ = std::fs::remove_dir_all(&work_dir);
    result
}
