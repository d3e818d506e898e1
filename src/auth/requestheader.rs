//! Front-proxy (request-header) authentication: the user kube-apiserver's aggregation layer
//! asserts with `X-Remote-User`/`X-Remote-Group`/`X-Remote-Extra-*`, trusted only when the
//! connection carries a certificate the request-header CA verifies with an allowed CN
//! (Go's `request/headerrequest` and `request/x509` Verifier).

use actix_web::http::header::HeaderMap;

use super::identity::UserInfo;
use super::x509::CaPool;

/// Request-header settings: the CA, allowed names and header names (from flags or the
/// extension-apiserver-authentication ConfigMap).
#[derive(Debug)]
pub struct RequestHeaderConfig {
    /// Verifies the proxy's client certificate.
    pub ca: CaPool,
    /// Allowed CNs; empty allows any certificate `ca` verifies.
    pub allowed_names: Vec<String>,
    /// User name headers, first non-empty wins.
    pub username_headers: Vec<String>,
    /// UID headers, first non-empty wins.
    pub uid_headers: Vec<String>,
    /// Group headers, every non-empty value of each.
    pub group_headers: Vec<String>,
    /// Extra header prefixes.
    pub extra_prefixes: Vec<String>,
}

/// First non-empty value of the first of `names` that has one (Go's `headerValue`).
fn first_value(headers: &HeaderMap, names: &[String]) -> Option<String> {
    names.iter().find_map(|n| {
        let v = headers.get(n.as_str())?.as_bytes();
        (!v.is_empty()).then(|| String::from_utf8_lossy(v).into_owned())
    })
}

/// Go's `url.PathUnescape`; malformed escapes leave the key as it was.
fn path_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => return s.to_string(),
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RequestHeaderConfig {
    /// Go's `verifySubject`: the CN must be allowed when a list is configured.
    pub fn check_common_name(&self, cn: &str) -> Result<(), String> {
        if self.allowed_names.is_empty() || self.allowed_names.iter().any(|n| n == cn) {
            Ok(())
        } else {
            Err(format!(
                "x509: subject with cn={cn} is not in the allowed list"
            ))
        }
    }

    /// The asserted user, or `None` when no user-name header is set (then this method does not
    /// apply and the next authenticator is tried). Only call it after the chain verified.
    pub fn user_from_headers(&self, headers: &HeaderMap) -> Option<UserInfo> {
        let name = first_value(headers, &self.username_headers)?;
        let uid = first_value(headers, &self.uid_headers).unwrap_or_default();
        let mut groups = Vec::new();
        for h in &self.group_headers {
            for v in headers.get_all(h.as_str()) {
                if !v.is_empty() {
                    groups.push(String::from_utf8_lossy(v.as_bytes()).into_owned());
                }
            }
        }
        let mut user = UserInfo {
            name,
            uid,
            groups,
            ..UserInfo::default()
        };
        for prefix in &self.extra_prefixes {
            let prefix = prefix.to_ascii_lowercase();
            if prefix.is_empty() {
                continue;
            }
            for (hname, value) in headers.iter() {
                // Header names are lowercase in actix.
                let Some(key) = hname.as_str().strip_prefix(prefix.as_str()) else {
                    continue;
                };
                user.extra
                    .entry(path_unescape(key))
                    .or_default()
                    .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
        }
        Some(user)
    }

    /// Whether a header is one this configuration reads; such headers are removed from every
    /// request so that no handler can ever mistake a client's claim for an identity.
    pub fn is_identity_header(&self, name: &str) -> bool {
        self.username_headers
            .iter()
            .chain(&self.uid_headers)
            .chain(&self.group_headers)
            .any(|h| h.eq_ignore_ascii_case(name))
            || self.extra_prefixes.iter().any(|p| {
                !p.is_empty()
                    && name.len() >= p.len()
                    && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn config() -> RequestHeaderConfig {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test request-header CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        RequestHeaderConfig {
            ca: CaPool::from_pem(ca_pem.as_bytes(), &provider).unwrap(),
            allowed_names: vec!["front-proxy-client".into()],
            username_headers: vec!["X-Remote-User".into()],
            uid_headers: vec!["X-Remote-Uid".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_prefixes: vec!["X-Remote-Extra-".into()],
        }
    }

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
    fn headers_become_a_user_as_in_go() {
        let c = config();
        let h = headers(&[
            ("X-Remote-User", "alice"),
            ("X-Remote-Uid", "u-1"),
            ("X-Remote-Group", "dev"),
            ("X-Remote-Group", "a,b"),
            ("X-Remote-Group", ""),
            (
                "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id",
                "x",
            ),
            ("X-Remote-Extra-Scopes", "s1"),
            ("X-Remote-Extra-Scopes", "s2"),
            ("X-Remote-Extra-Bad%zz", "v"),
        ]);
        let u = c.user_from_headers(&h).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.uid, "u-1");
        assert_eq!(
            u.groups,
            vec!["dev", "a,b"],
            "no comma splitting, empties dropped"
        );
        assert_eq!(
            u.extra["authentication.kubernetes.io/credential-id"],
            vec!["x"]
        );
        assert_eq!(u.extra["scopes"], vec!["s1", "s2"]);
        assert_eq!(u.extra["bad%zz"], vec!["v"]);
        assert!(
            c.user_from_headers(&headers(&[("X-Remote-User", "")]))
                .is_none()
        );
        assert!(
            c.user_from_headers(&headers(&[("X-Remote-Group", "g")]))
                .is_none()
        );
    }

    #[test]
    fn allowed_names_and_identity_headers() {
        let mut c = config();
        assert!(c.check_common_name("front-proxy-client").is_ok());
        assert_eq!(
            c.check_common_name("evil"),
            Err("x509: subject with cn=evil is not in the allowed list".into())
        );
        c.allowed_names.clear();
        assert!(c.check_common_name("anything").is_ok());
        for h in [
            "x-remote-user",
            "X-REMOTE-GROUP",
            "x-remote-uid",
            "x-remote-extra-foo",
        ] {
            assert!(c.is_identity_header(h), "{h}");
        }
        assert!(!c.is_identity_header("x-remote-other"));
        assert!(!c.is_identity_header("authorization"));
    }
}
