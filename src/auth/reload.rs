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

/// Reads every source once, for start-up. A failed ConfigMap lookup is fatal unless
/// `--authentication-tolerate-lookup-failure`.
pub async fn initial(
    args: &AuthArgs,
    sources: &Sources,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<AuthnConfig> {
    let mut inputs = Inputs {
        client_ca: read(&sources.client_ca_file)?,
        requestheader: read(&sources.requestheader_file)?,
        configmap: None,
    };
    if let Some(client) = &sources.configmap {
        match fetch_configmap(client).await {
            Ok(data) => inputs.configmap = Some(data.unwrap_or_default()),
            Err(e) if args.authentication_tolerate_lookup_failure => {
                tracing::warn!(error = %e, "error looking up in-cluster authentication configuration; continuing without it, which may treat all requests as anonymous");
            }
            Err(e) => anyhow::bail!(
                "looking up configmap/{CONFIGMAP_NAME} in {CONFIGMAP_NAMESPACE}: {e} (set --authentication-tolerate-lookup-failure to start anyway)"
            ),
        }
    }
    let config = build(args, &inputs, provider)?;
    if config.requestheader.is_none() {
        tracing::warn!(
            "no request-header CA: requests proxied by kube-apiserver will not be authenticated"
        );
    }
    Ok(config)
}

/// Keeps the serving certificate and the authenticator configuration current until aborted.
pub fn spawn(
    args: AuthArgs,
    sources: Sources,
    provider: Arc<CryptoProvider>,
    serving: Arc<ServingCert>,
    authn: Arc<DynamicAuthn>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = Inputs::default();
        let mut first = true;
        let mut cm_data: Option<BTreeMap<String, String>> = None;
        let mut ticks: u64 = 0;
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
            if first {
                // The start-up configuration came from the same sources a moment ago.
                last = inputs;
                first = false;
                continue;
            }
            if inputs == last {
                continue;
            }
            match build(&args, &inputs, &provider) {
                Ok(config) => {
                    authn.set(config);
                    tracing::info!("reloaded the client and request-header CAs");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "new CA material not loaded; keeping the current one")
                }
            }
            last = inputs;
        }
    })
}
