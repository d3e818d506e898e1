//! The HTTPS listener's TLS: the serving certificate (given files or a self-signed pair in
//! `--cert-dir`, reloaded when the files change), Go's version and cipher-suite names, and a
//! client-certificate policy that copies Go's `tls.RequestClientCert`.
//!
//! Go asks every client for a certificate, names the request-header CA and the client CA as
//! acceptable issuers, and never fails the handshake over an unknown certificate: the
//! authenticators verify the chain later, so a bad certificate can still fall through to a bearer
//! token. [`RequestClientCert`] does the same with rustls; it still checks the handshake
//! signature (proof that the client holds the certificate's key).

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme, SupportedProtocolVersion};

use crate::scrape::client::{ClientSetupError, read_certs, read_key};

/// Why the serving TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file is unreadable or malformed.
    #[error(transparent)]
    Pem(#[from] ClientSetupError),
    /// Writing the self-signed pair failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected the pair (e.g. key does not match).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A `--tls-cipher-suites` name Go does not know.
    #[error("unknown cipher suite {0:?}")]
    UnknownCipher(String),
    /// A name Go knows but rustls does not implement.
    #[error("unsupported cipher suite {0:?}")]
    UnsupportedCipher(String),
    /// A `--tls-min-version` that is not Go's.
    #[error("unknown TLS version {0:?}")]
    MinVersion(String),
}

/// Returns `(cert, key)` paths: the given ones, or `apiserver.crt`/`apiserver.key` in `cert_dir`,
/// generated once (as the Go apiserver does) so restarts keep the same certificate.
pub fn ensure_cert_files(
    cert: Option<&Path>,
    key: Option<&Path>,
    cert_dir: &Path,
) -> Result<(PathBuf, PathBuf), TlsError> {
    if let (Some(c), Some(k)) = (cert, key) {
        return Ok((c.to_path_buf(), k.to_path_buf()));
    }
    let cert_path = cert_dir.join("apiserver.crt");
    let key_path = cert_dir.join("apiserver.key");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(cert_dir).map_err(write_err(cert_dir))?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    std::fs::write(&cert_path, certified.cert.pem()).map_err(write_err(&cert_path))?;
    std::fs::write(&key_path, certified.signing_key.serialize_pem())
        .map_err(write_err(&key_path))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed serving certificate");
    Ok((cert_path, key_path))
}

/// Go's names of the cipher suites rustls implements, TLS 1.3 ones included (Go accepts them in
/// `--tls-cipher-suites` although it never lets them be disabled).
const SUITES: &[(&str, rustls::SupportedCipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Suites Go's `crypto/tls` knows (secure and insecure lists) that rustls deliberately lacks.
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The ring provider restricted to `--tls-cipher-suites` (TLS 1.3 suites always kept, as Go
/// does) and the protocol versions from `--tls-min-version`.
pub fn crypto_provider(
    min_version: Option<&str>,
    suites: &[String],
) -> Result<(Arc<CryptoProvider>, Vec<&'static SupportedProtocolVersion>), TlsError> {
    let versions: Vec<&'static SupportedProtocolVersion> = match min_version.unwrap_or("") {
        "" | "VersionTLS12" => vec![&rustls::version::TLS13, &rustls::version::TLS12],
        "VersionTLS10" | "VersionTLS11" => {
            tracing::warn!(
                "--tls-min-version below VersionTLS12: TLS 1.0 and 1.1 are not implemented, serving TLS 1.2 and 1.3"
            );
            vec![&rustls::version::TLS13, &rustls::version::TLS12]
        }
        "VersionTLS13" => vec![&rustls::version::TLS13],
        other => return Err(TlsError::MinVersion(other.to_string())),
    };
    let mut provider = ring::default_provider();
    let wanted: Vec<&str> = suites
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if !wanted.is_empty() {
        let mut chosen: Vec<rustls::SupportedCipherSuite> = SUITES
            .iter()
            .filter(|(_, s)| s.tls13().is_some())
            .map(|(_, s)| *s)
            .collect();
        for name in wanted {
            match SUITES.iter().find(|(n, _)| *n == name) {
                Some((_, s)) if !chosen.contains(s) => chosen.push(*s),
                Some(_) => {}
                None if GO_ONLY_SUITES.contains(&name) => {
                    return Err(TlsError::UnsupportedCipher(name.to_string()));
                }
                None => return Err(TlsError::UnknownCipher(name.to_string())),
            }
        }
        provider.cipher_suites = chosen;
    }
    Ok((Arc::new(provider), versions))
}

/// The serving certificate, swapped in place when its files change so new connections get the
/// new one without a restart (connections already open keep theirs).
pub struct ServingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, Vec<u8>)>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<(Arc<CertifiedKey>, Vec<u8>), TlsError> {
    let mut stamp = std::fs::read(cert).unwrap_or_default();
    stamp.extend(std::fs::read(key).unwrap_or_default());
    let ck = CertifiedKey::from_der(read_certs(cert)?, read_key(key)?, provider)?;
    Ok((Arc::new(ck), stamp))
}

impl ServingCert {
    /// Loads the pair; fails when it is unreadable or the key does not match the certificate.
    pub fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let current = load_pair(cert, key, &provider)?;
        Ok(ServingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(current),
        })
    }

    /// Re-reads the files; swaps the certificate when their bytes changed and the new pair is
    /// valid. A half-written or mismatched pair keeps the old certificate (and is retried).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let mut stamp = std::fs::read(&self.cert).unwrap_or_default();
        stamp.extend(std::fs::read(&self.key).unwrap_or_default());
        if self.current.read().unwrap_or_else(|e| e.into_inner()).1 == stamp {
            return Ok(false);
        }
        let fresh = load_pair(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        tracing::info!(cert = %self.cert.display(), "reloaded the serving certificate");
        Ok(true)
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .clone(),
        )
    }
}

/// Go's `tls.RequestClientCert`: ask for a certificate naming the trusted CAs, accept the
/// connection with or without one, and leave chain verification to the authenticators.
pub struct RequestClientCert {
    provider: Arc<CryptoProvider>,
    /// Acceptable-issuer names. `root_hint_subjects` must return a borrow, so each distinct set
    /// is leaked once: CA bundles change a handful of times in a process' life.
    hints: RwLock<&'static [DistinguishedName]>,
}

impl std::fmt::Debug for RequestClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestClientCert").finish_non_exhaustive()
    }
}

impl RequestClientCert {
    /// A verifier advertising no issuer yet (Go clients then send any certificate they have).
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        RequestClientCert {
            provider,
            hints: RwLock::new(&[]),
        }
    }

    /// Replaces the advertised issuers (the union of the request-header and client CAs).
    pub fn set_hints(&self, subjects: Vec<DistinguishedName>) {
        let mut guard = self.hints.write().unwrap_or_else(|e| e.into_inner());
        let same = guard.len() == subjects.len()
            && guard
                .iter()
                .zip(&subjects)
                .all(|(a, b)| a.as_ref() == b.as_ref());
        if !same {
            *guard = Vec::leak(subjects);
        }
    }

    /// The issuers currently advertised.
    pub fn hints(&self) -> &'static [DistinguishedName] {
        *self.hints.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.hints()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Deliberately no chain check here: see the module documentation.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls configuration of the API listener. actix-web adds the `h2` and `http/1.1` ALPN
/// protocols itself.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    cert: Arc<ServingCert>,
    clients: Arc<RequestClientCert>,
) -> Result<rustls::ServerConfig, TlsError> {
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(clients)
        .with_cert_resolver(cert))
}

/// The certificate chain a client presented on this connection (leaf first), captured at
/// connect time and read by the authenticator as connection data.
#[derive(Debug, Clone)]
pub struct PeerCerts(pub Arc<[CertificateDer<'static>]>);

/// `HttpServer::on_connect` hook: stores the peer's chain, if any, in the connection data, and
/// turns Nagle's algorithm off. (Without `TCP_NODELAY`, an HTTP/2 response written as a HEADERS
/// and a DATA frame waits for the client's delayed ACK: measured 43 ms on every other request.)
pub fn capture_peer_certs(conn: &dyn Any, ext: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = conn.downcast_ref::<Tls>() else {
        return;
    };
    let (tcp, session) = tls.get_ref();
    let _ = tcp.set_nodelay(true);
    if let Some(certs) = session.peer_certificates()
        && !certs.is_empty()
    {
        ext.insert(PeerCerts(
            certs.iter().map(|c| c.clone().into_owned()).collect(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_is_generated_once_loads_and_reloads() {
        let dir = std::env::temp_dir().join(format!("mas-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (c, k) = ensure_cert_files(None, None, &dir).unwrap();
        let first = std::fs::read(&c).unwrap();
        let (c2, _) = ensure_cert_files(None, None, &dir).unwrap();
        assert_eq!(
            first,
            std::fs::read(&c2).unwrap(),
            "reused, not regenerated"
        );
        let (provider, versions) = crypto_provider(None, &[]).unwrap();
        let serving = Arc::new(ServingCert::load(&c, &k, provider.clone()).unwrap());
        let verifier = Arc::new(RequestClientCert::new(provider.clone()));
        server_config(provider.clone(), &versions, serving.clone(), verifier).unwrap();
        assert!(!serving.reload_if_changed().unwrap(), "unchanged files");
        // A key that does not belong to the certificate is rejected, and the old pair stays.
        let good_key = std::fs::read(&k).unwrap();
        std::fs::write(
            &k,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(ServingCert::load(&c, &k, provider.clone()).is_err());
        assert!(serving.reload_if_changed().is_err());
        std::fs::write(&k, good_key).unwrap();
        assert!(!serving.reload_if_changed().unwrap());
        // A new pair is picked up.
        std::fs::remove_file(&c).unwrap();
        std::fs::remove_file(&k).unwrap();
        ensure_cert_files(None, None, &dir).unwrap();
        assert!(serving.reload_if_changed().unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cipher_names_map_to_rustls_suites() {
        let (p, v) = crypto_provider(
            Some("VersionTLS12"),
            &["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()],
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            p.cipher_suites.len(),
            4,
            "three TLS 1.3 suites plus the one named"
        );
        let (_, v13) = crypto_provider(Some("VersionTLS13"), &[]).unwrap();
        assert_eq!(v13, vec![&rustls::version::TLS13]);
        assert!(matches!(
            crypto_provider(None, &["TLS_RSA_WITH_RC4_128_SHA".into()]),
            Err(TlsError::UnsupportedCipher(_))
        ));
        assert!(matches!(
            crypto_provider(None, &["nope".into()]),
            Err(TlsError::UnknownCipher(_))
        ));
    }

    #[test]
    fn hints_are_replaced_only_when_they_change() {
        let (provider, _) = crypto_provider(None, &[]).unwrap();
        let v = RequestClientCert::new(provider);
        assert!(v.root_hint_subjects().is_empty());
        assert!(!v.client_auth_mandatory() && v.offer_client_auth());
        let dn = DistinguishedName::from(vec![0x30, 0x00]);
        v.set_hints(vec![dn.clone()]);
        let first = v.hints().as_ptr();
        v.set_hints(vec![dn]);
        assert_eq!(first, v.hints().as_ptr(), "same set, no new allocation");
    }
}
