//! The kubelet client: address choice, credentials, TLS (rustls, ring) and bounded reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::cluster::NodeInfo;
use crate::config::AddressType;

/// Largest kubelet body accepted; a real one is a few hundred KB even with 250 pods.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Why one kubelet request failed; each is logged with the node's name and counted.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// No `status.addresses` entry of a preferred type.
    #[error("no address matched types {0:?}")]
    NoAddress(Vec<&'static str>),
    /// The kubelet port is unknown or zero.
    #[error("no kubelet port known")]
    NoPort,
    /// The request did not complete within --kubelet-request-timeout.
    #[error("timeout to access kubelet")]
    Timeout,
    /// Connection, TLS or protocol failure.
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// A status other than 200.
    #[error("request failed, status: {0}")]
    Status(u16),
    /// A body larger than [`MAX_BODY_BYTES`].
    #[error("response body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The body could not be decoded at all.
    #[error("decode failed: {0}")]
    Decode(#[from] crate::scrape::decode::DecodeError),
    /// Not run, or abandoned, so that a slow node does not delay healthy ones.
    #[error("{0}")]
    Slow(#[from] crate::scrape::lanes::Refused),
}

impl ScrapeError {
    /// A short reason, the `reason` label of the failure self-metric.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::NoAddress(_) => "no_address",
            ScrapeError::NoPort => "no_port",
            ScrapeError::Timeout => "timeout",
            ScrapeError::Request(_) => "request",
            ScrapeError::Status(_) => "status",
            ScrapeError::TooLarge => "body_too_large",
            ScrapeError::Decode(_) => "decode",
            ScrapeError::Slow(crate::scrape::lanes::Refused::NoSlot) => "no_slot",
            ScrapeError::Slow(crate::scrape::lanes::Refused::Abandoned(_)) => "abandoned",
        }
    }
}

/// Why the kubelet client cannot be built; reported at startup.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    /// A certificate or key file could not be read or parsed.
    #[error("reading {path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// rustls rejected the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// reqwest rejected the configuration.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// Neither a CA nor --kubelet-insecure-tls: nothing to verify kubelets against.
    #[error(
        "no CA to verify kubelet certificates: give --kubelet-certificate-authority or --kubelet-insecure-tls"
    )]
    NoRoots,
}

/// Where the bearer token comes from; service-account tokens rotate, so files are re-read.
#[derive(Debug, Clone, Default)]
pub enum TokenSource {
    /// No token.
    #[default]
    None,
    /// A fixed token from the kubeconfig.
    Static(String),
    /// A token file (in-cluster service account), re-read every minute.
    File(PathBuf),
}

/// How kubelets are reached and trusted.
#[derive(Debug, Clone)]
pub struct KubeletClientConfig {
    /// Port when the node's own port is not used.
    pub port: u16,
    /// Use `status.daemonEndpoints.kubeletEndpoint.port`.
    pub use_node_status_port: bool,
    /// Address priority.
    pub address_types: Vec<AddressType>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Skip certificate verification.
    pub insecure: bool,
    /// CA bundle file for kubelet serving certificates.
    pub ca_file: Option<PathBuf>,
    /// CA certificates from the cluster configuration (DER), used when no CA file is given.
    pub cluster_roots: Vec<Vec<u8>>,
    /// Client certificate and key files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Bearer token.
    pub token: TokenSource,
}

/// A client shared by every scrape.
pub struct KubeletClient {
    http: reqwest::Client,
    cfg: KubeletClientConfig,
    token_cache: Mutex<Option<(String, Instant)>>,
}

fn pem_error(path: &Path, message: impl std::fmt::Display) -> ClientSetupError {
    ClientSetupError::Pem {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads every certificate in a PEM file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientSetupError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate found"));
    }
    Ok(certs)
}

/// Reads the first private key in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ClientSetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

/// Accepts any server certificate: the --kubelet-insecure-tls escape hatch.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(cfg: &KubeletClientConfig) -> Result<rustls::ClientConfig, ClientSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &cfg.ca_file {
            Some(path) => {
                for cert in read_certs(path)? {
                    roots.add(cert)?;
                }
            }
            None => {
                for der in &cfg.cluster_roots {
                    roots.add(CertificateDer::from(der.clone()))?;
                }
            }
        }
        if roots.is_empty() {
            return Err(ClientSetupError::NoRoots);
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match &cfg.client_cert {
        Some((cert, key)) => builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl KubeletClient {
    /// Builds the shared client; fails on unreadable certificates rather than at the first scrape.
    pub fn new(cfg: KubeletClientConfig) -> Result<Self, ClientSetupError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(&cfg)?)
            .timeout(cfg.timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(KubeletClient {
            http,
            cfg,
            token_cache: Mutex::new(None),
        })
    }

    fn token(&self) -> Option<String> {
        match &self.cfg.token {
            TokenSource::None => None,
            TokenSource::Static(t) => Some(t.clone()),
            TokenSource::File(path) => {
                let mut cache = self.token_cache.lock().ok()?;
                if let Some((t, at)) = cache.as_ref()
                    && at.elapsed() < Duration::from_secs(60)
                {
                    return Some(t.clone());
                }
                match std::fs::read_to_string(path) {
                    Ok(t) => {
                        let t = t.trim().to_string();
                        *cache = Some((t.clone(), Instant::now()));
                        Some(t)
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read token file");
                        cache.as_ref().map(|(t, _)| t.clone())
                    }
                }
            }
        }
    }

    /// The per-request timeout (`--kubelet-request-timeout`): how long a hanging kubelet can
    /// hold a request slot.
    pub fn timeout(&self) -> Duration {
        self.cfg.timeout
    }

    /// `https://ADDR:PORT`, choosing the address by type priority as metrics-server does.
    pub fn base_url(&self, node: &NodeInfo) -> Result<String, ScrapeError> {
        let port = if self.cfg.use_node_status_port {
            node.kubelet_port.unwrap_or(self.cfg.port)
        } else {
            self.cfg.port
        };
        if port == 0 {
            return Err(ScrapeError::NoPort);
        }
        let addr = self
            .cfg
            .address_types
            .iter()
            .find_map(|t| {
                node.addresses
                    .iter()
                    .find(|(ty, a)| ty.as_ref() == t.as_str() && !a.is_empty())
                    .map(|(_, a)| a)
            })
            .ok_or_else(|| {
                ScrapeError::NoAddress(self.cfg.address_types.iter().map(|t| t.as_str()).collect())
            })?;
        if addr.contains(':') {
            Ok(format!("https://[{addr}]:{port}"))
        } else {
            Ok(format!("https://{addr}:{port}"))
        }
    }

    /// GETs `path` from the node's kubelet and returns the body, read up to [`MAX_BODY_BYTES`].
    pub async fn get(&self, node: &NodeInfo, path: &str) -> Result<Bytes, ScrapeError> {
        let url = format!("{}{}", self.base_url(node)?, path);
        let fetch = async {
            let mut req = self.http.get(&url);
            if let Some(token) = self.token() {
                req = req.bearer_auth(token);
            }
            let mut resp = req.send().await.map_err(classify)?;
            if resp.status() != reqwest::StatusCode::OK {
                return Err(ScrapeError::Status(resp.status().as_u16()));
            }
            let hint = resp.content_length().unwrap_or(0) as usize;
            if hint > MAX_BODY_BYTES {
                return Err(ScrapeError::TooLarge);
            }
            let mut body = BytesMut::with_capacity(hint.clamp(16 << 10, 4 << 20));
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ScrapeError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body.freeze())
        };
        match tokio::time::timeout(self.cfg.timeout, fetch).await {
            Ok(r) => r,
            Err(_) => Err(ScrapeError::Timeout),
        }
    }
}

fn classify(e: reqwest::Error) -> ScrapeError {
    if e.is_timeout() {
        ScrapeError::Timeout
    } else {
        ScrapeError::Request(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(addrs: &[(&str, &str)], port: Option<u16>) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            labels: Default::default(),
            uid: "u".into(),
            addresses: addrs
                .iter()
                .map(|(t, a)| ((*t).into(), (*a).into()))
                .collect(),
            kubelet_port: port,
            ready: true,
            created_s: 0,
            metrics_path: None,
        }
    }

    fn client(use_status_port: bool, types: &[AddressType]) -> KubeletClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        KubeletClient::new(KubeletClientConfig {
            port: 10250,
            use_node_status_port: use_status_port,
            address_types: types.to_vec(),
            timeout: Duration::from_secs(1),
            insecure: true,
            ca_file: None,
            cluster_roots: vec![],
            client_cert: None,
            token: TokenSource::None,
        })
        .unwrap()
    }

    #[test]
    fn address_follows_type_priority_then_node_order() {
        let c = client(false, &[AddressType::InternalIp, AddressType::Hostname]);
        let n = node(
            &[
                ("Hostname", "h"),
                ("InternalIP", "10.0.0.1"),
                ("InternalIP", "10.0.0.2"),
            ],
            Some(1),
        );
        assert_eq!(c.base_url(&n).unwrap(), "https://10.0.0.1:10250");
        let only_host = node(&[("Hostname", "h")], None);
        assert_eq!(c.base_url(&only_host).unwrap(), "https://h:10250");
        let v6 = node(&[("InternalIP", "fd00::1")], None);
        assert_eq!(c.base_url(&v6).unwrap(), "https://[fd00::1]:10250");
        let none = node(&[("ExternalIP", "1.2.3.4")], None);
        let err = c.base_url(&none).unwrap_err().to_string();
        assert_eq!(
            err,
            "no address matched types [\"InternalIP\", \"Hostname\"]"
        );
    }

    #[test]
    fn node_status_port_wins_when_asked() {
        let c = client(true, &[AddressType::InternalIp]);
        let n = node(&[("InternalIP", "10.0.0.1")], Some(10255));
        assert_eq!(c.base_url(&n).unwrap(), "https://10.0.0.1:10255");
        let no_port = node(&[("InternalIP", "10.0.0.1")], None);
        assert_eq!(c.base_url(&no_port).unwrap(), "https://10.0.0.1:10250");
    }

    #[test]
    fn missing_roots_and_bad_files_are_setup_errors() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cfg = client(false, &[]).cfg.clone();
        cfg.insecure = false;
        assert!(matches!(
            KubeletClient::new(cfg.clone()),
            Err(ClientSetupError::NoRoots)
        ));
        cfg.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(matches!(
            KubeletClient::new(cfg),
            Err(ClientSetupError::Pem { .. })
        ));
    }
}
