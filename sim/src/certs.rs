//! The simulation's private PKI: one CA and the leaf certificates signed by it.
//!
//! Everything is generated fresh at start (keys are not derived from the seed: the scenario is
//! deterministic, the key material does not need to be). ECDSA P-256 keys make a leaf cost well
//! under a millisecond, so a kubelet certificate per node stays cheap at thousands of nodes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The sim CA; signs every serving certificate of the simulation.
pub struct SimCa {
    issuer: Issuer<'static, KeyPair>,
    /// PEM of the CA certificate (what clients trust).
    pub cert_pem: String,
    /// DER of the CA certificate.
    pub cert_der: CertificateDer<'static>,
}

/// A leaf certificate and its key, in both PEM (for files) and DER (for rustls) form.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
    /// The certificate, DER, for rustls.
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Leaf {
    /// The private key for rustls.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// A rustls server config serving this certificate, offering h2 and http/1.1 like real
    /// Kubernetes components.
    pub fn server_config(&self, ca: &SimCa) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone(), ca.cert_der.clone()],
                self.key_der(),
            )
            .context("building TLS server config")?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// The certificate followed by its key, PEM: what `reqwest::Identity::from_pem` reads.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// Writes `<stem>.crt` and `<stem>.key` into `dir` and returns their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let crt = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&crt, &self.cert_pem)
            .with_context(|| format!("writing {}", crt.display()))?;
        write_private(&key, &self.key_pem)?;
        Ok((crt, key))
    }
}

/// Writes a secret file readable by the owner only (where the platform supports it).
pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    Ok(())
}

fn validity(params: &mut CertificateParams) {
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    params.not_before = (now - day).into();
    params.not_after = (now + 365 * day).into();
}

impl SimCa {
    /// A fresh self-signed CA.
    pub fn generate() -> anyhow::Result<Self> {
        Self::generate_named("metrics-apiserver-sim-ca")
    }

    /// A fresh self-signed CA with its own subject CN: each CA of the simulation (cluster CA,
    /// front-proxy CA) must have a distinct name, because TLS clients choose the certificate to
    /// present by matching issuer names.
    pub fn generate_named(common_name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate().context("CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key).context("CA self-sign")?;
        Ok(SimCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A serving leaf for `common_name` valid for the given IPs and DNS names.
    pub fn serving_leaf(&self, common_name: &str, sans: &[&str]) -> anyhow::Result<Leaf> {
        self.leaf(common_name, sans, &[ExtendedKeyUsagePurpose::ServerAuth])
    }

    /// A client certificate (clientAuth usage) for `common_name`, with an Organization that
    /// Kubernetes reads as a group: the front proxy's, or a user's. (rcgen keeps one attribute
    /// per type, hence at most one Organization.)
    pub fn client_leaf(
        &self,
        common_name: &str,
        organization: Option<&str>,
    ) -> anyhow::Result<Leaf> {
        self.leaf_with(
            common_name,
            organization.as_slice(),
            &[],
            &[ExtendedKeyUsagePurpose::ClientAuth],
        )
    }

    fn leaf(
        &self,
        common_name: &str,
        sans: &[&str],
        eku: &[ExtendedKeyUsagePurpose],
    ) -> anyhow::Result<Leaf> {
        self.leaf_with(common_name, &[], sans, eku)
    }

    fn leaf_with(
        &self,
        common_name: &str,
        organizations: &[&str],
        sans: &[&str],
        eku: &[ExtendedKeyUsagePurpose],
    ) -> anyhow::Result<Leaf> {
        let key = KeyPair::generate().context("leaf key")?;
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .context("leaf SANs")?;
        let mut dn = DistinguishedName::new();
        for o in organizations {
            dn.push(DnType::OrganizationName, *o);
        }
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = eku.to_vec();
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing leaf {common_name}"))?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier as _;

    #[test]
    fn leaf_verifies_against_ca() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = SimCa::generate().unwrap();
        let leaf = ca
            .serving_leaf("sim-node-0", &["127.0.0.1", "sim-node-0"])
            .unwrap();
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        leaf.server_config(&ca).unwrap();

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        let now = rustls::pki_types::UnixTime::now();
        for name in ["127.0.0.1", "sim-node-0"] {
            let sn = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&leaf.cert_der, &[], &sn, &[], now)
                .unwrap();
        }
        let other = rustls::pki_types::ServerName::try_from("sim-node-1").unwrap();
        assert!(
            verifier
                .verify_server_cert(&leaf.cert_der, &[], &other, &[], now)
                .is_err()
        );
    }

    #[test]
    fn files_are_written() {
        let ca = SimCa::generate().unwrap();
        let leaf = ca
            .serving_leaf("server", &["127.0.0.1", "localhost"])
            .unwrap();
        let dir = std::env::temp_dir().join(format!("sim-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (crt, key) = leaf.write(&dir, "server").unwrap();
        assert_eq!(std::fs::read_to_string(crt).unwrap(), leaf.cert_pem);
        assert_eq!(std::fs::read_to_string(key).unwrap(), leaf.key_pem);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
