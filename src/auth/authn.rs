//! The authenticator chain of Go's `authenticatorfactory.DelegatingAuthenticatorConfig`:
//! request-header (front proxy), then client certificate, then bearer token (TokenReview),
//! first success wins; when none succeeds, anonymous if none failed, else 401.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use rustls::pki_types::CertificateDer;

use super::cache::TtlCache;
use super::identity::{Method, UserInfo};
use super::requestheader::RequestHeaderConfig;
use super::review::{ReviewError, Reviewer};
use super::tls::RequestClientCert;
use super::x509::{self, CaPool};

/// The certificate-based part of the configuration; replaced as a whole when a CA file or the
/// extension-apiserver-authentication ConfigMap changes.
#[derive(Debug, Default)]
pub struct AuthnConfig {
    /// Front-proxy authentication; `None` when no request-header CA is known.
    pub requestheader: Option<RequestHeaderConfig>,
    /// Direct client certificates; `None` when no client CA is known.
    pub client_ca: Option<CaPool>,
}

impl AuthnConfig {
    /// The issuers to advertise in the TLS CertificateRequest: both CAs' subjects.
    pub fn hint_subjects(&self) -> Vec<rustls::DistinguishedName> {
        let mut out: Vec<rustls::DistinguishedName> = Vec::new();
        let rh = self.requestheader.as_ref().map(|r| r.ca.subjects());
        let cc = self.client_ca.as_ref().map(|c| c.subjects());
        for s in rh.into_iter().chain(cc).flatten() {
            if !out.iter().any(|o| o.as_ref() == s.as_ref()) {
                out.push(s.clone());
            }
        }
        out
    }

    /// Whether `name` is a request-header identity header (removed from every request).
    pub fn is_identity_header(&self, name: &str) -> bool {
        match &self.requestheader {
            Some(rh) => rh.is_identity_header(name),
            None => {
                let n = name.to_ascii_lowercase();
                n == "x-remote-user"
                    || n == "x-remote-uid"
                    || n == "x-remote-group"
                    || n.starts_with("x-remote-extra-")
            }
        }
    }
}

/// The current [`AuthnConfig`], shared by the TLS verifier (issuer hints) and the authenticator.
#[derive(Debug)]
pub struct DynamicAuthn {
    current: RwLock<Arc<AuthnConfig>>,
    hints: Arc<RequestClientCert>,
}

impl DynamicAuthn {
    /// Starts with `config` and advertises its CAs through `hints`.
    pub fn new(config: AuthnConfig, hints: Arc<RequestClientCert>) -> Self {
        hints.set_hints(config.hint_subjects());
        DynamicAuthn {
            current: RwLock::new(Arc::new(config)),
            hints,
        }
    }

    /// The configuration in force.
    pub fn get(&self) -> Arc<AuthnConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the configuration; new handshakes advertise the new CAs.
    pub fn set(&self, config: AuthnConfig) {
        self.hints.set_hints(config.hint_subjects());
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}

/// What the certificate authenticators concluded.
#[derive(Debug, Default)]
pub struct CertOutcome {
    /// The identity, when one method succeeded.
    pub user: Option<(UserInfo, Method)>,
    /// Why methods that applied failed (each makes the request 401 unless another succeeds).
    pub errors: Vec<String>,
}

/// The request-header and client-certificate authenticators: pure, synchronous, and the only
/// place an identity comes from a certificate. No identity without a chain that one of the CAs
/// verifies (and, for headers, an allowed CN).
pub fn authenticate_certificates(
    config: &AuthnConfig,
    chain: &[CertificateDer<'_>],
    headers: &HeaderMap,
) -> CertOutcome {
    let mut out = CertOutcome::default();
    if chain.is_empty() {
        return out;
    }
    if let Some(rh) = &config.requestheader {
        match rh.ca.verify(chain) {
            Err(e) => out.errors.push(format!("request-header certificate: {e}")),
            Ok(()) => {
                let cn = x509::subject(&chain[0]).map(|s| s.common_name);
                match cn.map(|cn| rh.check_common_name(&cn)) {
                    None => out
                        .errors
                        .push("request-header certificate: malformed subject".into()),
                    Some(Err(e)) => out.errors.push(e),
                    Some(Ok(())) => {
                        if let Some(user) = rh.user_from_headers(headers) {
                            out.user = Some((user, Method::RequestHeader));
                            return out;
                        }
                    }
                }
            }
        }
    }
    if let Some(ca) = &config.client_ca {
        match ca.verify(chain) {
            Err(e) => out.errors.push(format!("client certificate: {e}")),
            Ok(()) => match x509::subject(&chain[0]) {
                None => out
                    .errors
                    .push("client certificate: malformed subject".into()),
                Some(s) if s.common_name.is_empty() => {}
                Some(s) => {
                    let mut user = UserInfo {
                        name: s.common_name,
                        groups: s.organizations,
                        ..UserInfo::default()
                    };
                    user.extra.insert(
                        "authentication.kubernetes.io/credential-id".into(),
                        vec![x509::credential_id(&chain[0])],
                    );
                    out.user = Some((user, Method::ClientCert));
                }
            },
        }
    }
    out
}

/// Go's `bearertoken` parsing: `Authorization: Bearer <token>` (scheme case-insensitive); an
/// empty token or another scheme is no token at all.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get("authorization")?.to_str().ok()?.trim();
    let mut parts = auth.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Bearer tokens checked with TokenReviews; answers (valid or not) cached for the TTL, errors
/// never cached. Tokens are kept in the cache only as SHA-256 digests.
#[derive(Debug)]
pub struct TokenAuthenticator {
    reviewer: Reviewer,
    ttl: Duration,
    cache: TtlCache<[u8; 32], Result<UserInfo, String>>,
}

impl TokenAuthenticator {
    /// A token authenticator over `reviewer`, caching for `ttl`.
    pub fn new(reviewer: Reviewer, ttl: Duration) -> Self {
        TokenAuthenticator {
            reviewer,
            ttl,
            cache: TtlCache::default(),
        }
    }

    /// The user behind `token`, or why not (`Err` makes the request 401).
    pub async fn authenticate(&self, token: &str) -> Result<UserInfo, String> {
        let key = x509::sha256(token.as_bytes());
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        let answer = match self.reviewer.token_review(token).await {
            Ok(status) if status.authenticated => Ok(UserInfo {
                name: status.user.username,
                uid: status.user.uid,
                groups: status.user.groups,
                extra: status.user.extra,
            }),
            Ok(status) if !status.error.is_empty() => Err(status.error),
            Ok(_) => Err("invalid bearer token".to_string()),
            Err(e @ (ReviewError::Timeout { .. } | ReviewError::Call { .. })) => {
                return Err(e.to_string());
            }
        };
        self.cache.insert(key, answer.clone(), self.ttl);
        answer
    }
}

/// What the whole chain concluded.
#[derive(Debug)]
pub enum AuthnOutcome {
    /// Authenticated (or anonymous), with groups completed by the group adder.
    User(UserInfo, Method),
    /// At least one method failed and none succeeded: 401, with the reasons for the log.
    Unauthorized(Vec<String>),
}

/// The delegating authenticator.
#[derive(Debug)]
pub struct Authenticator {
    /// Certificate configuration (CAs, header names).
    pub config: Arc<DynamicAuthn>,
    /// Token reviews; `None` when no cluster client is configured (tokens are then ignored).
    pub tokens: Option<TokenAuthenticator>,
}

impl Authenticator {
    /// Runs the chain on a request's peer certificates and headers.
    pub async fn authenticate(
        &self,
        chain: &[CertificateDer<'_>],
        headers: &HeaderMap,
    ) -> AuthnOutcome {
        let config = self.config.get();
        let CertOutcome { user, mut errors } = authenticate_certificates(&config, chain, headers);
        let found = match user {
            Some(found) => Some(found),
            None => match (bearer_token(headers), &self.tokens) {
                (Some(token), Some(tokens)) => match tokens.authenticate(token).await {
                    Ok(user) => Some((user, Method::Token)),
                    Err(e) => {
                        errors.push(format!("token: {e}"));
                        None
                    }
                },
                _ => None,
            },
        };
        match found {
            Some((mut user, method)) => {
                user.add_authenticated_group();
                AuthnOutcome::User(user, method)
            }
            None if errors.is_empty() => {
                AuthnOutcome::User(UserInfo::anonymous(), Method::Anonymous)
            }
            None => AuthnOutcome::Unauthorized(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_parsing_follows_go() {
        assert_eq!(
            bearer_token(&headers(&[("Authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("Authorization", "bearer abc x")])),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("Authorization", "Bearer  abc")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("Authorization", "Basic abc")])),
            None
        );
        assert_eq!(bearer_token(&headers(&[("Authorization", "Bearer")])), None);
        assert_eq!(bearer_token(&headers(&[])), None);
    }

    #[test]
    fn no_chain_means_no_certificate_identity() {
        let config = AuthnConfig::default();
        let out = authenticate_certificates(&config, &[], &headers(&[("X-Remote-User", "admin")]));
        assert!(out.user.is_none() && out.errors.is_empty());
        assert!(config.is_identity_header("X-Remote-Extra-foo"));
    }
}
