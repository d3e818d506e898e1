//! Material that changes while the server runs: the serving certificate files, the CA files, and
//! the `kube-system/extension-apiserver-authentication` ConfigMap kube-apiserver maintains.
//!
//! Files are re-read every second and the ConfigMap every ten (Go watches both); a change
//! rebuilds the authenticator configuration and the issuers advertised in new handshakes.
//! Invalid new material is logged and ignored: the last good configuration stays in force.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use rustls::crypto::CryptoProvider;
use tokio::task::JoinHandle;

use super::authn::{AuthnConfig, DynamicAuthn};
use super::flags::AuthArgs;
use super::requestheader::RequestHeaderConfig;
use super::tls::ServingCert;
use super::x509::CaPool;

/// Namespace of the authentication ConfigMap.
pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Name of the authentication ConfigMap.
pub const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";
/// How often files are checked.
pub const FILE_PERIOD: Duration = Duration::from_secs(1);
/// How often the ConfigMap is re-read.
pub const CONFIGMAP_PERIOD: Duration = Duration::from_secs(10);

/// Where each CA comes from.
#[derive(Clone)]
pub struct Sources {
    /// `--client-ca-file`, when given.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-client-ca-file`, when given.
    pub requestheader_file: Option<PathBuf>,
    /// Read the missing ones from the ConfigMap through this client.
    pub configmap: Option<kube::Client>,
}

/// Everything a configuration is built from; compared to skip rebuilding when nothing changed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Inputs {
    client_ca: Option<Vec<u8>>,
    requestheader: Option<Vec<u8>>,
    configmap: Option<BTreeMap<String, String>>,
}

/// Reads the ConfigMap's data; `Ok(None)` when it does not exist.
pub async fn fetch_configmap(
    client: &kube::Client,
) -> Result<Option<BTreeMap<String, String>>, kube::Error> {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), CONFIGMAP_NAMESPACE);
    match api.get_opt(CONFIGMAP_NAME).await {
        Ok(cm) => Ok(cm.map(|c| c.data.unwrap_or_default())),
        Err(e) => {
            if let kube::Error::Api(s) = &e
                && s.code == 403
            {
                tracing::warn!(
                    "unable to get configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE}; usually fixed by 'kubectl create rolebinding -n {CONFIGMAP_NAMESPACE} ROLE_NAME --role=extension-apiserver-authentication-reader --serviceaccount=YOUR_NS:YOUR_SA'"
                );
            }
            Err(e)
        }
    }
}

/// A JSON string array as the ConfigMap stores them (`""` or absent is empty).
fn strings(data: &BTreeMap<String, String>, key: &str) -> anyhow::Result<Vec<String>> {
    match data.get(key).map(String::as_str) {
        None | Some("") => Ok(Vec::new()),
        Some(s) => serde_json::from_str(s).map_err(|e| anyhow::anyhow!("configmap key {key}: {e}")),
    }
}

fn build(
    args: &AuthArgs,
    inputs: &Inputs,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<AuthnConfig> {
    let cm = inputs.configmap.as_ref();
    let client_pem = inputs.client_ca.clone().or_else(|| {
        cm.and_then(|d| d.get("client-ca-file"))
            .map(|s| s.as_bytes().to_vec())
    });
    let client_ca = match client_pem {
        Some(pem) => {
            Some(CaPool::from_pem(&pem, provider).map_err(|e| anyhow::anyhow!("client CA: {e}"))?)
        }
        None => None,
    };
    let requestheader = match (&inputs.requestheader, cm) {
        (Some(pem), _) => Some(RequestHeaderConfig {
            ca: CaPool::from_pem(pem, provider)
                .map_err(|e| anyhow::anyhow!("request-header CA: {e}"))?,
            allowed_names: args.requestheader_allowed_names.clone(),
            username_headers: args.requestheader_username_headers.clone(),
            uid_headers: args.requestheader_uid_headers.clone(),
            group_headers: args.requestheader_group_headers.clone(),
            extra_prefixes: args.requestheader_extra_headers_prefix.clone(),
        }),
        (None, Some(d)) => match d.get("requestheader-client-ca-file") {
            None => None,
            Some(pem) => Some(RequestHeaderConfig {
                ca: CaPool::from_pem(pem.as_bytes(), provider)
                    .map_err(|e| anyhow::anyhow!("request-header CA from the configmap: {e}"))?,
                allowed_names: strings(d, "requestheader-allowed-names")?,
                username_headers: strings(d, "requestheader-username-headers")?,
                uid_headers: strings(d, "requestheader-uid-headers")?,
                group_headers: strings(d, "requestheader-group-headers")?,
                extra_prefixes: strings(d, "requestheader-extra-headers-prefix")?,
            }),
        },
        (None, None) => None,
    };
    Ok(AuthnConfig {
        requestheader,
        client_ca,
    })
}

fn read(path: &Option<PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    path.as_ref()
        .map(|p| std::fs::read(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display())))
        .transpose()
}

/// Where the CAs the ConfigMap provides stand: `/readyz` waits until they are loaded, or the
/// lookup failed for good with a reason in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaState {
    /// The ConfigMap has not been read yet; the last transient error, if any.
    Pending(Option<String>),
    /// Every configured source was read.
    Loaded,
    /// The lookup failed and `--authentication-tolerate-lookup-failure` lets the server go on
    /// without it (it keeps re-reading the ConfigMap every ten seconds).
    Tolerated(String),
    /// The lookup failed for good: the server stops, as Go's does at start-up.
    Fatal(String),
}

/// The shared [`CaState`], readable by the health checks and awaited by the server for a fatal
/// failure.
#[derive(Debug)]
pub struct CaLoad(tokio::sync::watch::Sender<CaState>);

impl CaLoad {
    /// Starts in `state`.
    pub fn new(state: CaState) -> Self {
        CaLoad(tokio::sync::watch::Sender::new(state))
    }

    /// The current state.
    pub fn state(&self) -> CaState {
        self.0.borrow().clone()
    }

    fn set(&self, state: CaState) {
        self.0.send_replace(state);
    }

    /// Completes with the reason once the lookup failed for good; never otherwise.
    pub async fn fatal(&self) -> String {
        let mut rx = self.0.subscribe();
        loop {
            if let CaState::Fatal(reason) = &*rx.borrow_and_update() {
                return reason.clone();
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Whether a failed lookup will fail again however often it is retried (the API refused it);
/// unreachable or overloaded apiservers, timeouts and throttling are worth retrying.
fn definitive(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 408 && s.code != 429)
}

/// First delay before re-trying a transient lookup failure; doubled up to [`LOOKUP_MAX_DELAY`].
const LOOKUP_DELAY: Duration = Duration::from_millis(500);
/// Longest delay between lookups at start-up.
const LOOKUP_MAX_DELAY: Duration = Duration::from_secs(10);

/// The configuration the CA files alone give, for serving before the ConfigMap is read (a file
/// that cannot be read is fatal, as in Go).
pub fn from_files(
    args: &AuthArgs,
    sources: &Sources,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<AuthnConfig> {
    let inputs = Inputs {
        client_ca: read(&sources.client_ca_file)?,
        requestheader: read(&sources.requestheader_file)?,
        configmap: None,
    };
    build(args, &inputs, provider)
}

/// Reads the ConfigMap until it is read, or fails for good; `None` when the failure was
/// tolerated or fatal (`load` says which).
async fn lookup(
    args: &AuthArgs,
    client: &kube::Client,
    load: &CaLoad,
) -> Option<BTreeMap<String, String>> {
    let mut delay = LOOKUP_DELAY;
    loop {
        match fetch_configmap(client).await {
            Ok(data) => return Some(data.unwrap_or_default()),
            Err(e) if args.authentication_tolerate_lookup_failure => {
                tracing::warn!(error = %e, "error looking up in-cluster authentication configuration; continuing without it, which may treat all requests as anonymous");
                load.set(CaState::Tolerated(e.to_string()));
                return None;
            }
            Err(e) if definitive(&e) => {
                let reason = format!(
                    "looking up configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE}: {e} (set --authentication-tolerate-lookup-failure to start anyway)"
                );
                tracing::error!("{reason}");
                load.set(CaState::Fatal(reason));
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "looking up configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE} failed; requests proxied by kube-apiserver are anonymous until it is read");
                load.set(CaState::Pending(Some(e.to_string())));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LOOKUP_MAX_DELAY);
            }
        }
    }
}

/// Reads the ConfigMap (when a CA comes from it) and installs the full configuration, then keeps
/// the serving certificate and the authenticator configuration current until aborted. Until the
/// ConfigMap is read, what the CA files give is in force: a request-header CA that only the
/// ConfigMap names is unknown, so kube-apiserver's proxied requests are anonymous, exactly as a
/// Go server treats a client certificate no loaded CA can verify.
pub fn spawn(
    args: AuthArgs,
    sources: Sources,
    provider: Arc<CryptoProvider>,
    serving: Arc<ServingCert>,
    authn: Arc<DynamicAuthn>,
    load: Arc<CaLoad>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut cm_data: Option<BTreeMap<String, String>> = None;
        let mut last = Inputs {
            client_ca: read(&sources.client_ca_file).ok().flatten(),
            requestheader: read(&sources.requestheader_file).ok().flatten(),
            configmap: None,
        };
        if let Some(client) = &sources.configmap {
            cm_data = lookup(&args, client, &load).await;
            if matches!(load.state(), CaState::Fatal(_)) {
                return;
            }
            last.configmap = cm_data.clone();
            match build(&args, &last, &provider) {
                Ok(config) => {
                    if config.requestheader.is_none() {
                        tracing::warn!(
                            "no request-header CA: requests proxied by kube-apiserver will not be authenticated"
                        );
                    }
                    authn.set(config);
                    if cm_data.is_some() {
                        tracing::info!("loaded the client and request-header CAs");
                        load.set(CaState::Loaded);
                    }
                }
                Err(e) => {
                    let reason = format!("authentication configuration: {e}");
                    tracing::error!("{reason}");
                    load.set(CaState::Fatal(reason));
                    return;
                }
            }
        }
        // The ConfigMap was just read: the next read is one period away.
        let mut ticks: u64 = 1;
        let cm_every = (CONFIGMAP_PERIOD.as_millis() / FILE_PERIOD.as_millis()).max(1) as u64;
        let mut interval = tokio::time::interval(FILE_PERIOD);
        loop {
            interval.tick().await;
            if let Err(e) = serving.reload_if_changed() {
                tracing::warn!(error = %e, "new serving certificate not loaded; keeping the current one");
            }
            if let Some(client) = &sources.configmap
                && ticks.is_multiple_of(cm_every)
            {
                match fetch_configmap(client).await {
                    Ok(d) => cm_data = Some(d.unwrap_or_default()),
                    Err(e) => {
                        tracing::debug!(error = %e, "re-reading the authentication configmap")
                    }
                }
            }
            ticks += 1;
            let inputs = Inputs {
                client_ca: read(&sources.client_ca_file).ok().flatten(),
                requestheader: read(&sources.requestheader_file).ok().flatten(),
                configmap: cm_data.clone(),
            };
            if inputs == last {
                continue;
            }
            match build(&args, &inputs, &provider) {
                Ok(config) => {
                    authn.set(config);
                    tracing::info!("reloaded the client and request-header CAs");
                    if inputs.configmap.is_some() {
                        load.set(CaState::Loaded);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "new CA material not loaded; keeping the current one")
                }
            }
            last = inputs;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_fatal_state_ends_the_wait() {
        let load = Arc::new(CaLoad::new(CaState::Pending(None)));
        let waiter = tokio::spawn({
            let load = load.clone();
            async move { load.fatal().await }
        });
        load.set(CaState::Pending(Some("connection refused".into())));
        load.set(CaState::Tolerated("x".into()));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        load.set(CaState::Fatal("forbidden".into()));
        assert_eq!(waiter.await.unwrap(), "forbidden");
    }

    #[test]
    fn refusals_are_definitive_and_outages_are_not() {
        let api = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure("x", "Reason")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(definitive(&api(403)));
        assert!(definitive(&api(401)));
        assert!(!definitive(&api(429)));
        assert!(!definitive(&api(500)));
        assert!(!definitive(&api(503)));
    }
}
