//! Flags of delegated authentication, authorization and TLS, named and defaulted as
//! metrics-server's (Go's `k8s.io/apiserver` options), so existing manifests keep working.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::tls::{self, TlsError};

fn duration_arg(s: &str) -> Result<Duration, String> {
    crate::config::parse_go_duration(s).map_err(|e| e.to_string())
}

/// Why a set of security flags cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthFlagError {
    /// `--tls-min-version` is not one of Go's names.
    #[error(
        "unknown --tls-min-version {0:?}: expected VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13"
    )]
    MinVersion(String),
    /// A cipher suite name Go does not know at all.
    #[error("unknown cipher suite {0:?} in --tls-cipher-suites")]
    UnknownCipher(String),
    /// A cipher suite Go knows but rustls does not implement (CBC, RSA key exchange, 3DES, RC4).
    #[error(
        "cipher suite {0:?} in --tls-cipher-suites is not supported: this server implements only the AEAD ECDHE suites (AES-GCM, ChaCha20-Poly1305) and TLS 1.3"
    )]
    UnsupportedCipher(String),
    /// Any other TLS setup error found while validating.
    #[error("TLS: {0}")]
    Tls(String),
    /// A review timeout of zero would fail every request that needs a review.
    #[error("--delegated-auth-timeout must be positive")]
    ZeroReviewTimeout,
    /// Go's path authorizer allows `*` only at the end of a path.
    #[error("--authorization-always-allow-paths: {0}")]
    AlwaysAllowPath(String),
}

impl From<TlsError> for AuthFlagError {
    fn from(e: TlsError) -> Self {
        match e {
            TlsError::UnknownCipher(n) => AuthFlagError::UnknownCipher(n),
            TlsError::UnsupportedCipher(n) => AuthFlagError::UnsupportedCipher(n),
            TlsError::MinVersion(n) => AuthFlagError::MinVersion(n),
            other => AuthFlagError::Tls(other.to_string()),
        }
    }
}

/// Authentication, authorization and TLS flags (flattened into the server's flags).
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// CA bundle that signs the aggregation layer's (front-proxy) client certificate; only a
    /// client presenting a certificate it verifies may assert a user with the request headers.
    /// Read from the extension-apiserver-authentication ConfigMap when absent.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names allowed for the front-proxy certificate; empty allows any name the
    /// request-header CA signed.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,
    /// Request headers holding the user name (the first non-empty one wins).
    #[arg(long, value_delimiter = ',', default_value = "x-remote-user")]
    pub requestheader_username_headers: Vec<String>,
    /// Request headers holding the user's UID (the first non-empty one wins); none by default.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,
    /// Request headers holding the user's groups (every value of every header).
    #[arg(long, value_delimiter = ',', default_value = "x-remote-group")]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of request headers holding the user's extra attributes.
    #[arg(long, value_delimiter = ',', default_value = "x-remote-extra-")]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// CA bundle for direct client certificates (user from the CN, groups from O).
    /// Read from the extension-apiserver-authentication ConfigMap when absent.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Kubeconfig for TokenReviews and the ConfigMap lookup; in-cluster configuration when absent.
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// How long TokenReview answers (authenticated or not) are cached.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub authentication_token_webhook_cache_ttl: Duration,
    /// Do not read missing CA bundles from the extension-apiserver-authentication ConfigMap.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub authentication_skip_lookup: bool,
    /// Start even when the ConfigMap lookup fails (requests may then all be anonymous).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub authentication_tolerate_lookup_failure: bool,
    /// Kubeconfig for SubjectAccessReviews; in-cluster configuration when absent.
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// How long allowed SubjectAccessReview answers are cached.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub authorization_webhook_cache_authorized_ttl: Duration,
    /// How long denied SubjectAccessReview answers are cached.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
    /// Non-resource paths allowed without authorization (a trailing `*` matches a prefix).
    #[arg(long, value_delimiter = ',', default_value = "/healthz,/readyz,/livez")]
    pub authorization_always_allow_paths: Vec<String>,
    /// Bound on one TokenReview or SubjectAccessReview; past it the request fails closed.
    /// Not a Go flag: Go hard-codes 10s.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub delegated_auth_timeout: Duration,
    /// Lowest TLS version served: VersionTLS12 or VersionTLS13 (10 and 11 are accepted and
    /// served as 1.2, the lowest version rustls implements).
    #[arg(long)]
    pub tls_min_version: Option<String>,
    /// TLS 1.2 cipher suites, with Go's names; TLS 1.3 suites are always enabled, as in Go.
    #[arg(long, value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,
}

impl AuthArgs {
    /// Checks the flags that can be wrong without touching the cluster (TLS names, timeouts).
    pub fn validate(&self) -> Result<(), AuthFlagError> {
        if self.delegated_auth_timeout.is_zero() {
            return Err(AuthFlagError::ZeroReviewTimeout);
        }
        super::authz::AlwaysAllowPaths::new(&self.authorization_always_allow_paths)
            .map_err(AuthFlagError::AlwaysAllowPath)?;
        tls::crypto_provider(self.tls_min_version.as_deref(), &self.tls_cipher_suites)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        auth: AuthArgs,
    }

    fn parse(extra: &[&str]) -> AuthArgs {
        let mut v = vec!["x"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).expect("flags parse").auth
    }

    #[test]
    fn defaults_match_go() {
        let a = parse(&[]);
        assert_eq!(a.requestheader_username_headers, vec!["x-remote-user"]);
        assert_eq!(a.requestheader_group_headers, vec!["x-remote-group"]);
        assert_eq!(
            a.requestheader_extra_headers_prefix,
            vec!["x-remote-extra-"]
        );
        assert!(a.requestheader_uid_headers.is_empty());
        assert!(a.requestheader_allowed_names.is_empty());
        assert_eq!(
            a.authorization_always_allow_paths,
            vec!["/healthz", "/readyz", "/livez"]
        );
        assert_eq!(
            a.authentication_token_webhook_cache_ttl,
            Duration::from_secs(10)
        );
        assert_eq!(
            a.authorization_webhook_cache_unauthorized_ttl,
            Duration::from_secs(10)
        );
        assert!(!a.authentication_skip_lookup);
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn go_style_bools_and_lists() {
        let a = parse(&[
            "--authentication-skip-lookup",
            "--authentication-tolerate-lookup-failure=false",
            "--requestheader-allowed-names=front-proxy-client,aggregator",
        ]);
        assert!(a.authentication_skip_lookup);
        assert!(!a.authentication_tolerate_lookup_failure);
        assert_eq!(
            a.requestheader_allowed_names,
            vec!["front-proxy-client", "aggregator"]
        );
    }

    #[test]
    fn tls_names_are_checked() {
        let ok = parse(&[
            "--tls-min-version=VersionTLS12",
            "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256",
        ]);
        assert_eq!(ok.validate(), Ok(()));
        let bogus = parse(&["--tls-cipher-suites=TLS_FOO"]);
        assert_eq!(
            bogus.validate(),
            Err(AuthFlagError::UnknownCipher("TLS_FOO".into()))
        );
        let cbc = parse(&["--tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA"]);
        assert_eq!(
            cbc.validate(),
            Err(AuthFlagError::UnsupportedCipher(
                "TLS_RSA_WITH_AES_128_CBC_SHA".into()
            ))
        );
        let v = parse(&["--tls-min-version=VersionTLS14"]);
        assert_eq!(
            v.validate(),
            Err(AuthFlagError::MinVersion("VersionTLS14".into()))
        );
        let zero = parse(&["--delegated-auth-timeout=0"]);
        assert_eq!(zero.validate(), Err(AuthFlagError::ZeroReviewTimeout));
    }
}
