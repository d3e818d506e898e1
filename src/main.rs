//! The `metrics-apiserver` binary: the server. (The simulated cluster is the
//! `metrics-apiserver-sim` crate; this binary contains none of it.)

use clap::Parser;
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::{server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServerArgs::parse();
    telemetry::init_logging(&args.logging);
    let _ = rustls::crypto::ring::default_provider().install_default();
    server::run(args, server::shutdown_signal()).await
}
