//! Shared setup of the security tests: a simulated cluster, our server run in-process inside it
//! exactly as `simulate` runs it (CAs from the authentication ConfigMap, reviews through the fake
//! apiserver), and rustls clients with or without client certificates.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::server;
use metrics_apiserver_sim::certs::Leaf;
use metrics_apiserver_sim::{self as sim, SimOptions, Simulation};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A simulation with a work directory removed on drop.
pub struct Env {
    pub sim: Simulation,
    pub dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a one-node simulation (the server is not started yet).
pub async fn start(name: &str) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("mas-sec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sim = sim::start(SimOptions {
        nodes: 1,
        pods_per_node: 1,
        seed: 5,
        kubeconfig: dir.join("kubeconfig"),
        work_dir: dir.clone(),
        server_port: 0,
        apiserver_port: 0,
        metric_resolution_secs: 10,
    })
    .await
    .unwrap();
    Env { sim, dir }
}

/// The simulation's server flags plus `extra`.
pub fn args(env: &Env, extra: &[&str]) -> ServerArgs {
    ServerArgs::try_parse_from(
        std::iter::once("metrics-apiserver".to_string())
            .chain(env.sim.server_args.iter().cloned())
            .chain(extra.iter().map(|s| s.to_string())),
    )
    .unwrap()
}

/// Runs our server with `args` while `checks` runs; panics if the server stops first.
pub async fn with_server(args: ServerArgs, checks: impl Future<Output = ()>) {
    tokio::select! {
        r = server::run(args, std::future::pending()) => panic!("server stopped: {r:?}"),
        () = checks => {}
    }
}

fn roots(env: &Env) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&env.sim.ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A client trusting the cluster CA, presenting `identity` when given.
pub fn client(env: &Env, identity: Option<&Leaf>) -> reqwest::Client {
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots(env));
    let tls = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.cert_der.clone()], leaf.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Waits until the server answers and has read the authentication ConfigMap (it listens before,
/// treating front-proxy requests as anonymous until then).
pub async fn wait_up(env: &Env) {
    let http = client(env, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http
            .get(format!("{}/readyz?verbose", env.sim.server_url))
            .send()
            .await
            && let Ok(body) = r.text().await
            && body.contains("[+]delegated-authentication ok")
        {
            return;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(status, body)` of a GET with extra headers.
pub async fn get(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap())
}

/// The front-proxy certificate the aggregation layer presents (same CA and CN).
pub fn front_proxy_leaf(env: &Env) -> Leaf {
    env.sim
        .front_proxy_ca
        .client_leaf("front-proxy-client", None)
        .unwrap()
}

/// Shared server handle for tests that keep the CA around.
pub type SharedCa = Arc<sim::certs::SimCa>;
