//! Client-certificate checks done in the request path rather than in the TLS handshake: chain
//! verification against one CA pool, and the subject's CN and O.
//!
//! The handshake accepts any certificate (see [`super::tls::RequestClientCert`]) so that a
//! certificate from an unknown CA can fall through to a bearer token, as in Go; therefore every
//! certificate-based identity must pass [`CaPool::verify`] here first.

use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

/// Why a CA bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The bundle holds no PEM certificate at all.
    #[error("no certificate found in the CA bundle")]
    Empty,
    /// A PEM block is malformed.
    #[error("malformed PEM in the CA bundle: {0}")]
    Pem(String),
    /// rustls refused a certificate as a trust anchor, or the verifier could not be built.
    #[error("unusable CA certificate: {0}")]
    Anchor(String),
}

/// One set of trusted CAs (the request-header CA, or the client CA) with a verifier that checks
/// a client chain against it, requiring the clientAuth usage when the leaf states usages.
pub struct CaPool {
    verifier: Arc<dyn ClientCertVerifier>,
    subjects: Vec<DistinguishedName>,
    pem: Vec<u8>,
}

impl std::fmt::Debug for CaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaPool")
            .field("subjects", &self.subjects.len())
            .finish_non_exhaustive()
    }
}

impl CaPool {
    /// Parses a PEM bundle (a file or a ConfigMap value).
    pub fn from_pem(pem: &[u8], provider: &Arc<CryptoProvider>) -> Result<Self, CaError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| CaError::Pem(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| CaError::Anchor(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(CaError::Empty);
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| CaError::Anchor(e.to_string()))?;
        let subjects = verifier.root_hint_subjects().to_vec();
        Ok(CaPool {
            verifier,
            subjects,
            pem: pem.to_vec(),
        })
    }

    /// The CA subjects, advertised as acceptable issuers in the TLS CertificateRequest.
    pub fn subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    /// The PEM this pool was built from (to tell whether a reload changed anything).
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// Verifies `chain` (leaf first, then intermediates as the peer sent them) against this pool
    /// at the current time.
    pub fn verify(&self, chain: &[CertificateDer<'_>]) -> Result<(), rustls::Error> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or(rustls::Error::NoCertificatesPresented)?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
    }
}

/// The subject fields Kubernetes reads from a client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The last CommonName attribute (Go's `pkix.Name` keeps the last one).
    pub common_name: String,
    /// Every Organization attribute, in order (they become groups).
    pub organizations: Vec<String>,
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];

/// One DER TLV: `(tag, contents, rest)`; `None` when malformed or longer than the input.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn string_value(tag: u8, bytes: &[u8]) -> String {
    match tag {
        // BMPString: UCS-2 big endian.
        0x1e => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // TeletexString: Go decodes it as Latin-1.
        0x14 => bytes.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Reads the subject of a DER certificate; `None` when the certificate is malformed. Only call
/// it on a certificate a [`CaPool`] has verified: the subject of an unverified one means nothing.
pub fn subject(cert: &[u8]) -> Option<Subject> {
    let (0x30, cert, _) = tlv(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    // serial, signature algorithm, issuer, validity, then the subject.
    for want in [0x02, 0x30, 0x30, 0x30] {
        let (tag, _, r) = tlv(rest)?;
        if tag != want {
            return None;
        }
        rest = r;
    }
    let (0x30, mut rdns, _) = tlv(rest)? else {
        return None;
    };
    let mut out = Subject::default();
    while !rdns.is_empty() {
        let (0x31, mut set, r) = tlv(rdns)? else {
            return None;
        };
        rdns = r;
        while !set.is_empty() {
            let (0x30, atv, r) = tlv(set)? else {
                return None;
            };
            set = r;
            let (0x06, oid, value) = tlv(atv)? else {
                return None;
            };
            let (vtag, v, _) = tlv(value)?;
            if oid == OID_CN {
                out.common_name = string_value(vtag, v);
            } else if oid == OID_O {
                out.organizations.push(string_value(vtag, v));
            }
        }
    }
    Some(out)
}

/// `X509SHA256=<hex>` of the leaf, Go's `authentication.kubernetes.io/credential-id` extra.
pub fn credential_id(cert: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = sha256(cert);
    let mut s = String::with_capacity(11 + 64);
    s.push_str("X509SHA256=");
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 through rustls' ring provider (no extra hashing crate).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let hash = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .map(|s| s.common.hash_provider.hash(data));
    let mut out = [0u8; 32];
    if let Some(h) = hash {
        out.copy_from_slice(&h.as_ref()[..32]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName as Dn, DnType, KeyPair};

    fn cert_with(dn: &[(DnType, &str)]) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["x".to_string()]).unwrap();
        let mut d = Dn::new();
        for (t, v) in dn {
            d.push(t.clone(), *v);
        }
        params.distinguished_name = d;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_reads_cn_and_o() {
        // rcgen keeps one attribute per type, so one O here; the parser reads every O.
        let der = cert_with(&[
            (DnType::OrganizationName, "dev"),
            (DnType::CommonName, "alice"),
            (DnType::CountryName, "DE"),
        ]);
        let s = subject(&der).unwrap();
        assert_eq!(s.common_name, "alice");
        assert_eq!(s.organizations, vec!["dev"]);
        let none = subject(&cert_with(&[(DnType::OrganizationName, "o")])).unwrap();
        assert_eq!(none.common_name, "");
    }

    #[test]
    fn malformed_der_is_rejected_not_misread() {
        let der = cert_with(&[(DnType::CommonName, "alice")]);
        for cut in [0, 1, 5, der.len() / 2, der.len() - 1] {
            let _ = subject(&der[..cut]); // must not panic
        }
        assert_eq!(subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject(b""), None);
    }

    #[test]
    fn credential_id_is_sha256_hex() {
        // SHA-256("abc")
        assert_eq!(
            credential_id(b"abc"),
            "X509SHA256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
