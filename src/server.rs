//! The binary's wiring: build each stage, connect them, serve until shutdown.

use std::future::Future;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use secrecy::ExposeSecret;

use crate::api::{self, ApiState};
use crate::auth::tls;
use crate::cluster::{ClusterIndex, Departure, watch};
use crate::config::ServerArgs;
use crate::health::{self, Health};
use crate::scrape::Scraper;
use crate::scrape::client::{KubeletClient, KubeletClientConfig, TokenSource};
use crate::store::{Store, StoreConfig};
use crate::telemetry::{self, Telemetry};

async fn kube_config(args: &ServerArgs) -> anyhow::Result<kube::Config> {
    match &args.cluster.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .context("loading kubeconfig")
        }
        None => match kube::Config::incluster() {
            Ok(c) => Ok(c),
            Err(_) => kube::Config::infer()
                .await
                .context("no --kubeconfig and no in-cluster configuration"),
        },
    }
}

/// Runs the server until `shutdown` completes or serving fails.
pub async fn run(args: ServerArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    args.validate()?;
    let resolution = args.kubelet.metric_resolution;
    let config = kube_config(&args).await?;
    let token = match (&config.auth_info.token, &config.auth_info.token_file) {
        (Some(t), _) => TokenSource::Static(t.expose_secret().to_string()),
        (None, Some(f)) => TokenSource::File(f.into()),
        (None, None) => TokenSource::None,
    };
    let cluster_roots = config.root_cert.clone().unwrap_or_default();
    let client = kube::Client::try_from(config).context("building the cluster client")?;

    let resolution_ms = resolution.as_millis() as i64;
    let store = Arc::new(Store::new(StoreConfig {
        depth: args.storage.history_depth,
        resolution_ms,
        max_age_ms: resolution_ms * 3 + args.kubelet.kubelet_request_timeout.as_millis() as i64,
    }));
    let departures = store.clone();
    let index = Arc::new(ClusterIndex::new(move |d| match d {
        Departure::Node(n) => departures.remove_node(&n),
        Departure::Pod(ns, n) => departures.remove_pod(&ns, &n),
    }));

    let kubelet = KubeletClient::new(KubeletClientConfig {
        port: args.kubelet.kubelet_port,
        use_node_status_port: args.kubelet.kubelet_use_node_status_port,
        address_types: args.address_types()?,
        timeout: args.kubelet.kubelet_request_timeout,
        insecure: args.kubelet.kubelet_insecure_tls,
        ca_file: args.kubelet.kubelet_certificate_authority.clone(),
        cluster_roots,
        client_cert: args
            .kubelet
            .kubelet_client_certificate
            .clone()
            .zip(args.kubelet.kubelet_client_key.clone()),
        token,
    })
    .context("building the kubelet client")?;
    let scraper = Arc::new(Scraper::new(
        index.clone(),
        store.clone(),
        Arc::new(kubelet),
        resolution,
        args.kubelet.scrape_concurrency,
    ));
    let scrape_stats = scraper.stats();

    let (cert, key) = tls::ensure_cert_files(
        args.serving.tls_cert_file.as_deref(),
        args.serving.tls_private_key_file.as_deref(),
        &args.serving.cert_dir,
    )?;
    let secured = crate::auth::setup(&args.auth, &cert, &key, args.cluster.kubeconfig.as_deref())
        .await
        .context("setting up TLS and delegated authentication")?;
    let security = secured.middleware.clone();

    let api_state = web::Data::new(ApiState {
        store: store.clone(),
        index: index.clone(),
    });
    let health_state = web::Data::new(Health {
        store: store.clone(),
        index: index.clone(),
        scrape: scrape_stats.clone(),
        resolution,
        was_ready: Default::default(),
    });
    let telemetry_state = web::Data::new(Telemetry {
        scrape: scrape_stats,
        store: store.clone(),
        index: index.clone(),
    });
    let mut http = HttpServer::new(move || {
        App::new()
            .wrap(security.clone())
            .app_data(api_state.clone())
            .app_data(health_state.clone())
            .app_data(telemetry_state.clone())
            .configure(health::configure)
            .configure(telemetry::configure)
            .configure(api::configure)
    })
    .on_connect(tls::capture_peer_certs)
    .disable_signals()
    .shutdown_timeout(5);
    if args.serving.workers > 0 {
        http = http.workers(args.serving.workers);
    }
    let addr = (args.serving.bind_address, args.serving.secure_port);
    let server = http
        .bind_rustls_0_23(addr, secured.tls)
        .with_context(|| format!("binding {}:{}", addr.0, addr.1))?
        .run();
    let handle = server.handle();
    tracing::info!(address = %addr.0, port = addr.1, "serving metrics.k8s.io over HTTPS");

    let background = [
        tokio::spawn(watch::watch_nodes(
            client.clone(),
            index.clone(),
            args.cluster.node_selector.clone(),
        )),
        tokio::spawn(watch::watch_pods(client, index.clone())),
        tokio::spawn(scraper.run()),
    ];
    let result = tokio::select! {
        r = server => r.context("serving"),
        () = shutdown => {
            tracing::info!("shutting down");
            handle.stop(true).await;
            Ok(())
        }
    };
    for task in background {
        task.abort();
    }
    secured.reloader.abort();
    result
}
