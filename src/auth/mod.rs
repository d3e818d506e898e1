//! Transport security and delegated authentication and authorization, as an aggregated API
//! server needs them: kube-apiserver's front proxy is trusted by its certificate, everyone else by
//! a client certificate or a bearer token, and every request is authorized by a
//! SubjectAccessReview (see `README.md`, "Security").
//!
//! [`setup`] builds it all from the flags; `server.rs` serves [`Secured::tls`], captures peer
//! certificates with [`tls::capture_peer_certs`] and wraps the app in [`Secured::middleware`].

pub mod authn;
pub mod authz;
pub mod cache;
pub mod flags;
pub mod identity;
pub mod middleware;
pub mod reload;
pub mod requestheader;
pub mod respond;
pub mod review;
pub mod tls;
pub mod x509;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;

use authn::{Authenticator, DynamicAuthn, TokenAuthenticator};
use authz::{AccessReviewer, AlwaysAllowPaths, Authorizer};
use flags::AuthArgs;
use middleware::{Guard, Security};
use review::Reviewer;

/// The secured listener's parts.
pub struct Secured {
    /// rustls configuration: reloading serving certificate, client certificates requested.
    pub tls: rustls::ServerConfig,
    /// The middleware to wrap the app in.
    pub middleware: Security,
    /// Background loading and reloading; abort it on shutdown.
    pub reloader: JoinHandle<()>,
    /// Whether the ConfigMap's CAs are loaded: `/readyz` waits for it, and a lookup that fails
    /// for good (unless tolerated) stops the server.
    pub cas: Arc<reload::CaLoad>,
}

/// Builds TLS, authentication and authorization from the flags, without waiting for the
/// cluster: the extension-apiserver-authentication ConfigMap is read in the background, so the
/// listener serves health and discovery at once (see [`reload::spawn`] for requests that arrive
/// before it is read). Fails on flags that cannot be honoured and on CA files that cannot be read.
pub async fn setup(
    args: &AuthArgs,
    cert: &Path,
    key: &Path,
    kubeconfig: Option<&Path>,
) -> anyhow::Result<Secured> {
    args.validate()?;
    let (provider, versions) =
        tls::crypto_provider(args.tls_min_version.as_deref(), &args.tls_cipher_suites)?;
    let serving = Arc::new(tls::ServingCert::load(cert, key, provider.clone())?);
    let hints = Arc::new(tls::RequestClientCert::new(provider.clone()));

    let authn_client = review::kube_client(
        args.authentication_kubeconfig.as_deref(),
        kubeconfig,
        "authentication-kubeconfig",
    )
    .await?;
    let authz_client = review::kube_client(
        args.authorization_kubeconfig.as_deref(),
        kubeconfig,
        "authorization-kubeconfig",
    )
    .await?;
    let lookup = !args.authentication_skip_lookup
        && (args.client_ca_file.is_none() || args.requestheader_client_ca_file.is_none());
    let sources = reload::Sources {
        client_ca_file: args.client_ca_file.clone(),
        requestheader_file: args.requestheader_client_ca_file.clone(),
        configmap: lookup.then(|| authn_client.clone()),
    };
    let initial =
        reload::from_files(args, &sources, &provider).context("authentication configuration")?;
    if sources.configmap.is_none() && initial.requestheader.is_none() {
        tracing::warn!(
            "no request-header CA: requests proxied by kube-apiserver will not be authenticated"
        );
    }
    let cas = Arc::new(reload::CaLoad::new(if sources.configmap.is_some() {
        reload::CaState::Pending(None)
    } else {
        reload::CaState::Loaded
    }));
    let dynamic = Arc::new(DynamicAuthn::new(initial, hints.clone()));

    let timeout = args.delegated_auth_timeout;
    let guard = Guard {
        authn: Authenticator {
            config: dynamic.clone(),
            tokens: Some(TokenAuthenticator::new(
                Reviewer::new(authn_client, timeout),
                args.authentication_token_webhook_cache_ttl,
            )),
        },
        authz: Authorizer {
            always_allow: AlwaysAllowPaths::new(&args.authorization_always_allow_paths)
                .map_err(|e| anyhow::anyhow!("--authorization-always-allow-paths: {e}"))?,
            reviews: Some(AccessReviewer::new(
                Reviewer::new(authz_client, timeout),
                args.authorization_webhook_cache_authorized_ttl,
                args.authorization_webhook_cache_unauthorized_ttl,
            )),
        },
    };
    let tls = tls::server_config(provider.clone(), &versions, serving.clone(), hints)?;
    let reloader = reload::spawn(
        args.clone(),
        sources,
        provider,
        serving,
        dynamic,
        cas.clone(),
    );
    Ok(Secured {
        tls,
        middleware: Security(Arc::new(guard)),
        reloader,
        cas,
    })
}
