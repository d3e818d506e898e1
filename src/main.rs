//! The `metrics-apiserver` binary: the server. (The simulated cluster is the
//! `metrics-apiserver-sim` crate; this binary contains none of it.)

use clap::Parser;
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::{server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_logging();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = ServerArgs::parse();
    server::run(args, server::shutdown_signal()).await
}
