//! The `metrics-apiserver` binary: the server, or a simulated cluster around it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::{server, sim, telemetry};

#[derive(Parser)]
#[command(
    name = "metrics-apiserver",
    version,
    about = "Kubernetes resource metrics API (metrics.k8s.io) server"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated cluster (fake apiserver and kubelets) on 127.0.0.1 with this server inside it.
    Simulate {
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
    },
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
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

use rustls::pki_types::pem::PemObject;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_logging();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        None => server::run(cli.server, shutdown_signal()).await,
        Some(Command::Simulate {
            nodes,
            pods_per_node,
            seed,
            kubeconfig,
            metric_resolution,
            apiserver_port,
            server_port,
        }) => {
            let work_dir =
                std::env::temp_dir().join(format!("metrics-apiserver-sim-{}", std::process::id()));
            std::fs::create_dir_all(&work_dir)
                .context("creating the simulator's work directory")?;
            let simulation = sim::start(sim::SimOptions {
                nodes,
                pods_per_node,
                seed,
                kubeconfig,
                work_dir: work_dir.clone(),
                server_port,
                apiserver_port,
                metric_resolution_secs: metric_resolution,
            })
            .await?;
            let args = ServerArgs::try_parse_from(
                std::iter::once("metrics-apiserver".to_string())
                    .chain(simulation.server_args.iter().cloned()),
            )?;
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
            let result = tokio::select! {
                r = server::run(args, shutdown_signal()) => r,
                () = announce => Ok(()),
            };
            simulation.shutdown().await;
            let _ = std::fs::remove_dir_all(&work_dir);
            result
        }
    }
}
