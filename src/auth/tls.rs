//! Serving certificates: the given files, or a self-signed pair kept in `--cert-dir`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The rustls server configuration for the API listener (HTTP/2 and HTTP/1.1).
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(read_certs(cert)?, read_key(key)?)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_is_generated_once_and_loads() {
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
        server_config(&c, &k).unwrap();
        // A key that does not belong to the certificate is rejected, not served.
        std::fs::write(
            &k,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(server_config(&c, &k).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
