//! The binary's wiring: build each stage, connect them, serve until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::Service as _;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use secrecy::ExposeSecret;

use crate::api::watch::{WatchConfig, Watchers};
use crate::api::{self, ApiState};
use crate::auth::tls;
use crate::cluster::{ClusterChange, ClusterIndex, watch};
use crate::config::ServerArgs;
use crate::health::{self, Health};
use crate::scrape::Scraper;
use crate::scrape::client::{KubeletClient, KubeletClientConfig, TokenSource};
use crate::store::{LogConfig, Store, StoreConfig};
use crate::telemetry::{self, SelfMetrics, Telemetry};

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

/// Completes on SIGTERM or Ctrl-C: what a pod's container gets when it is stopped.
pub async fn shutdown_signal() {
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

type DrainFuture = futures::future::LocalBoxFuture<
    'static,
    Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error>,
>;

/// What `/readyz` answers once shutdown has begun, in Go's words.
fn draining_response() -> actix_web::HttpResponse {
    actix_web::HttpResponse::InternalServerError()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body("[-]shutdown failed: reason withheld\nreadyz check failed\n")
}

/// The first resourceVersion: microseconds since the epoch, so versions keep growing across
/// restarts (a commit takes far less than a microsecond of wall time on average) and a client that
/// resumes from the previous process's version gets 410 and relists instead of waiting for it.
fn clock_seeded_rv() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Commits DELETED for nodes whose kubelet stopped answering, once a second.
async fn sweep(store: Arc<Store>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let expired = store.expire(crate::scrape::now_ms());
        if expired > 0 {
            tracing::info!(
                events = expired,
                "expired metrics of nodes that stopped answering"
            );
        }
    }
}

/// Runs the server until `shutdown` completes or serving fails.
pub async fn run(args: ServerArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    args.validate()?;
    args.compat.log_ignored();
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
    let index = Arc::new(ClusterIndex::new());
    let store = Arc::new(
        Store::new(
            StoreConfig {
                depth: args.storage.history_depth,
                resolution_ms,
                max_age_ms: args.scrape.staleness_for(resolution).as_millis() as i64,
            },
            LogConfig {
                history: args.storage.watch_history,
                channel_capacity: args.storage.watch_buffer,
                snapshots: 16,
                base_rv: clock_seeded_rv(),
            },
            index.clone(),
        )
        .with_policy(args.scrape.serve_policy(resolution)),
    );
    let metrics = Arc::new(SelfMetrics::new(resolution));
    let weak = Arc::downgrade(&store);
    let weak_index = Arc::downgrade(&index);
    let node_metrics = metrics.clone();
    index.set_listener(move |change| {
        let Some(store) = weak.upgrade() else { return };
        match change {
            ClusterChange::Node(n) => {
                store.node_changed(&n);
                if weak_index.upgrade().is_some_and(|i| i.node(&n).is_none()) {
                    node_metrics.forget_node(&n);
                }
            }
            ClusterChange::Pod(ns, n, node) => store.pod_changed(&ns, &n, node.as_deref()),
        }
    });
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

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
    let scraper = Arc::new(
        Scraper::new(
            index.clone(),
            store.clone(),
            Arc::new(kubelet),
            resolution,
            args.kubelet.scrape_concurrency,
        )
        .with_retry(args.scrape.retry_policy())
        .with_summary_fallback(args.scrape.kubelet_summary_fallback)
        .with_metrics(metrics.clone()),
    );
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
        watchers: Watchers::new(
            WatchConfig {
                max_watches: args.storage.max_watches,
                min_request_timeout: std::time::Duration::from_secs(
                    args.storage.min_request_timeout,
                ),
                bookmark_interval: args.storage.watch_bookmark_interval,
            },
            shutdown_rx,
        ),
        options: args.api.clone(),
        metrics: Some(metrics.clone()),
    });
    let reaper = api_state.watchers.reaper(store.log().clone());
    let health_state = web::Data::new(Health {
        store: store.clone(),
        index: index.clone(),
        scrape: scrape_stats.clone(),
        resolution,
        was_ready: Default::default(),
        cas: secured.cas.clone(),
    });
    let telemetry_state = web::Data::new(Telemetry {
        scrape: scrape_stats,
        store: store.clone(),
        index: index.clone(),
        watches: api_state.watchers.active_counter(),
        metrics: metrics.clone(),
    });
    // Set on SIGTERM: /readyz fails at once, so endpoints stop sending new requests here.
    let draining = Arc::new(AtomicBool::new(false));
    let drain_flag = draining.clone();
    let mut http = HttpServer::new(move || {
        let drain_flag = drain_flag.clone();
        App::new()
            .wrap(security.clone())
            .wrap_fn(move |req, srv| -> DrainFuture {
                if drain_flag.load(Ordering::Relaxed) && req.path().starts_with("/readyz") {
                    let out = req.into_response(draining_response()).map_into_boxed_body();
                    return Box::pin(async move { Ok(out) });
                }
                let fut = srv.call(req);
                Box::pin(async move { fut.await.map(|r| r.map_into_boxed_body()) })
            })
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
        tokio::spawn(sweep(store.clone())),
        tokio::spawn(reaper),
    ];
    // The server future must stay alive (and polled) through the drain: dropping it stops the
    // listener at once.
    let mut server = std::pin::pin!(server);
    let cas = secured.cas.clone();
    let result = tokio::select! {
        r = &mut server => r.context("serving"),
        reason = cas.fatal() => Err(anyhow::anyhow!(reason)),
        () = shutdown => {
            let delay = args.serving.shutdown_delay_duration;
            tracing::info!(delay = ?delay, "shutting down: readiness fails now, the listener closes after the delay");
            draining.store(true, Ordering::Relaxed);
            let early = tokio::select! {
                () = tokio::time::sleep(delay) => None,
                r = &mut server => Some(r),
            };
            match early {
                Some(r) => r.context("serving"),
                None => {
                    // Watch streams end cleanly first, so the graceful stop does not wait on
                    // them; then the listener closes and in-flight requests get up to 5 s.
                    let _ = shutdown_tx.send(true);
                    // The server future handles the stop command, so it is polled meanwhile.
                    let (_, served) = tokio::join!(handle.stop(true), &mut server);
                    if let Err(e) = served {
                        tracing::warn!(error = %e, "the listener ended with an error while stopping");
                    }
                    tracing::info!("stopped");
                    Ok(())
                }
            }
        }
    };
    for task in background {
        task.abort();
    }
    secured.reloader.abort();
    result
}
