//! Authorization as Go's delegating authorizer does it: request attributes from the URL (Go's
//! `RequestInfoFactory`), then a union of `system:masters`, the always-allowed paths and a
//! SubjectAccessReview (cached separately for allowed and denied answers).

use std::time::Duration;

use super::cache::TtlCache;
use super::identity::{MASTERS, UserInfo};
use super::review::{AccessReviewSpec, NonResourceAttributes, ResourceAttributes, Reviewer};

/// What a request asks to do, for the authorizer and for the 403 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// A request under `/api/v1/...` or `/apis/<group>/<version>/...`.
    Resource(ResourceAttributes),
    /// Any other path (discovery, health, `/metrics`, `/version`).
    NonResource(NonResourceAttributes),
}

/// Go's URL decoding of the path (`URL.Path`); a malformed escape stays literal.
fn decode_path(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| (c as char).to_digit(16)),
                b.get(i + 2).and_then(|&c| (c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query pairs in order, form-decoded (`+` is a space), as Go's `URL.Query()`.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| decode_path(&s.replace('+', " "));
            (dec(k), dec(v))
        })
        .collect()
}

/// Go's `fields.UnescapeValue`; `None` on a bad escape or an unescaped `,` or `=`.
fn unescape_field_value(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                e @ ('\\' | ',' | '=') => out.push(e),
                _ => return None,
            },
            ',' | '=' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The value of an exact `metadata.name` requirement in a field selector
/// (`RequiresExactMatch`); `Err` when the selector does not parse.
fn exact_name(selector: &str) -> Result<Option<String>, ()> {
    if selector.is_empty() {
        return Ok(None);
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let bytes = selector.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b',' => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    terms.push(&selector[start.min(selector.len())..]);
    let mut found = None;
    for term in terms {
        if term.is_empty() {
            continue;
        }
        let split = (0..term.len()).find_map(|i| {
            let rest = term.get(i..)?;
            ["!=", "==", "="]
                .iter()
                .find(|op| rest.starts_with(**op))
                .map(|op| (&term[..i], *op, &term[i + op.len()..]))
        });
        let (field, op, value) = split.ok_or(())?;
        let value = unescape_field_value(value).ok_or(())?;
        if found.is_none() && field.trim() == "metadata.name" && op != "!=" {
            found = Some(value);
        }
    }
    Ok(found)
}

/// Go's `path.IsValidPathSegmentName`.
fn valid_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

impl Attributes {
    /// Go's `RequestInfoFactory.NewRequestInfo` for the prefixes `api` (groupless) and `apis`.
    pub fn from_request(method: &str, raw_path: &str, query: &str) -> Self {
        let path = decode_path(raw_path);
        let non_resource = || {
            Attributes::NonResource(NonResourceAttributes {
                path: path.clone(),
                verb: method.to_ascii_lowercase(),
            })
        };
        let trimmed = path.trim_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < 3 || !(parts[0] == "api" || parts[0] == "apis") {
            return non_resource();
        }
        let mut a = ResourceAttributes::default();
        let mut rest = &parts[1..];
        if parts[0] == "apis" {
            if rest.len() < 3 {
                return non_resource();
            }
            a.group = rest[0].to_string();
            rest = &rest[1..];
        }
        a.version = rest[0].to_string();
        rest = &rest[1..];
        if rest[0] == "watch" || rest[0] == "proxy" {
            if rest.len() < 2 {
                // Go fails the request here; treat it as a path nobody may use by role.
                return non_resource();
            }
            a.verb = rest[0].to_string();
            rest = &rest[1..];
        } else {
            a.verb = match method {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_string();
        }
        if rest[0] == "namespaces" && rest.len() > 1 {
            a.namespace = rest[1].to_string();
            if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
                rest = &rest[2..];
            }
        }
        if rest.len() >= 3 && a.verb != "proxy" {
            a.subresource = rest[2].to_string();
        }
        if rest.len() >= 2 {
            a.name = rest[1].to_string();
        }
        a.resource = rest[0].to_string();
        if a.name.is_empty() && a.verb == "get" {
            let q = query_pairs(query);
            let watch = q
                .iter()
                .find(|(k, _)| k == "watch")
                .is_some_and(|(_, v)| !(v == "0" || v.eq_ignore_ascii_case("false")));
            a.verb = if watch { "watch" } else { "list" }.to_string();
            let selector = q
                .iter()
                .find(|(k, _)| k == "fieldSelector")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if let Ok(Some(name)) = exact_name(selector)
                && valid_segment_name(&name)
            {
                a.name = name;
            }
        }
        if a.name.is_empty() && a.verb == "delete" {
            a.verb = "deletecollection".to_string();
        }
        Attributes::Resource(a)
    }

    fn cacheable(&self) -> bool {
        let len = match self {
            Attributes::Resource(r) => {
                r.namespace.len()
                    + r.verb.len()
                    + r.group.len()
                    + r.version.len()
                    + r.resource.len()
                    + r.subresource.len()
                    + r.name.len()
            }
            Attributes::NonResource(n) => n.path.len() + n.verb.len(),
        };
        len < 10_000
    }
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Serve the request.
    Allow,
    /// 403, with the authorizer's reason (possibly empty).
    Forbid(String),
    /// 500: the review failed, so the request fails closed.
    Error(String),
}

/// `--authorization-always-allow-paths` as Go's `path.NewAuthorizer` reads it.
#[derive(Debug, Clone, Default)]
pub struct AlwaysAllowPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl AlwaysAllowPaths {
    /// Parses the flag; only a trailing `*` is allowed.
    pub fn new(paths: &[String]) -> Result<Self, String> {
        let mut out = AlwaysAllowPaths::default();
        for p in paths {
            let p = p.strip_prefix('/').unwrap_or(p);
            if let Some(prefix) = p.strip_suffix('*') {
                if prefix.contains('*') {
                    return Err(format!("only trailing * allowed in {p:?}"));
                }
                out.prefixes.push(prefix.to_string());
            } else if p.contains('*') {
                return Err(format!("only trailing * allowed in {p:?}"));
            } else {
                out.exact.push(p.to_string());
            }
        }
        Ok(out)
    }

    /// Whether a non-resource path is always allowed.
    pub fn allows(&self, path: &str) -> bool {
        let p = path.strip_prefix('/').unwrap_or(path);
        self.exact.iter().any(|e| e == p) || self.prefixes.iter().any(|x| p.starts_with(x.as_str()))
    }
}

/// SubjectAccessReviews with Go's two caches.
#[derive(Debug)]
pub struct AccessReviewer {
    reviewer: Reviewer,
    allowed_ttl: Duration,
    denied_ttl: Duration,
    cache: TtlCache<String, super::review::AccessReviewStatus>,
}

impl AccessReviewer {
    /// Reviews through `reviewer`, caching allowed answers for `allowed_ttl` and others for
    /// `denied_ttl`.
    pub fn new(reviewer: Reviewer, allowed_ttl: Duration, denied_ttl: Duration) -> Self {
        AccessReviewer {
            reviewer,
            allowed_ttl,
            denied_ttl,
            cache: TtlCache::default(),
        }
    }

    async fn decide(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        let mut spec = AccessReviewSpec {
            user: user.name.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            uid: user.uid.clone(),
            ..AccessReviewSpec::default()
        };
        match attrs {
            Attributes::Resource(r) => spec.resource_attributes = Some(r.clone()),
            Attributes::NonResource(n) => spec.non_resource_attributes = Some(n.clone()),
        }
        let key = serde_json::to_string(&spec).unwrap_or_default();
        let status = match self.cache.get(&key) {
            Some(s) => s,
            None => match self.reviewer.access_review(&spec).await {
                Ok(s) => {
                    if attrs.cacheable() {
                        let ttl = if s.allowed {
                            self.allowed_ttl
                        } else {
                            self.denied_ttl
                        };
                        self.cache.insert(key, s.clone(), ttl);
                    }
                    s
                }
                Err(e) => return Decision::Error(e.to_string()),
            },
        };
        match (status.allowed, status.denied) {
            (true, true) => Decision::Error(
                "webhook subject access review returned both allow and deny response".into(),
            ),
            (true, false) => Decision::Allow,
            _ => Decision::Forbid(status.reason),
        }
    }
}

/// The delegating authorizer.
#[derive(Debug)]
pub struct Authorizer {
    /// Non-resource paths allowed to everyone.
    pub always_allow: AlwaysAllowPaths,
    /// SubjectAccessReviews; `None` without a cluster client (then only the rules above allow).
    pub reviews: Option<AccessReviewer>,
}

impl Authorizer {
    /// Decides one request.
    pub async fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Decision::Allow;
        }
        if let Attributes::NonResource(n) = attrs
            && self.always_allow.allows(&n.path)
        {
            return Decision::Allow;
        }
        match &self.reviews {
            Some(r) => r.decide(user, attrs).await,
            None => Decision::Forbid(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(method: &str, path: &str, query: &str) -> ResourceAttributes {
        match Attributes::from_request(method, path, query) {
            Attributes::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn request_info_matches_go() {
        let base = "/apis/metrics.k8s.io/v1beta1";
        let r = res("GET", &format!("{base}/nodes"), "");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.group.as_str()),
            ("list", "nodes", "metrics.k8s.io")
        );
        assert_eq!(r.version, "v1beta1");
        let r = res("GET", &format!("{base}/nodes/n1"), "");
        assert_eq!((r.verb.as_str(), r.name.as_str()), ("get", "n1"));
        let r = res("HEAD", "/apis/metrics.k8s.io/v1/namespaces/ns/pods/p", "");
        assert_eq!(
            (
                r.verb.as_str(),
                r.namespace.as_str(),
                r.resource.as_str(),
                r.name.as_str()
            ),
            ("get", "ns", "pods", "p")
        );
        assert_eq!(r.version, "v1");
        let r = res("GET", &format!("{base}/namespaces/ns/pods"), "watch=1");
        assert_eq!((r.verb.as_str(), r.namespace.as_str()), ("watch", "ns"));
        assert_eq!(
            res("GET", &format!("{base}/pods"), "watch=true").verb,
            "watch"
        );
        assert_eq!(
            res("GET", &format!("{base}/pods"), "watch=false").verb,
            "list"
        );
        assert_eq!(res("GET", &format!("{base}/pods"), "watch=0").verb, "list");
        let r = res("GET", &format!("{base}/watch/namespaces/ns/pods/p"), "");
        assert_eq!(
            (r.verb.as_str(), r.name.as_str(), r.namespace.as_str()),
            ("watch", "p", "ns")
        );
        let r = res(
            "GET",
            &format!("{base}/namespaces/ns/pods"),
            "fieldSelector=metadata.name%3Dp1",
        );
        assert_eq!((r.verb.as_str(), r.name.as_str()), ("list", "p1"));
        let r = res(
            "GET",
            &format!("{base}/pods"),
            "fieldSelector=metadata.namespace==a,metadata.name==p2&watch=1",
        );
        assert_eq!((r.verb.as_str(), r.name.as_str()), ("watch", "p2"));
        assert_eq!(
            res(
                "GET",
                &format!("{base}/pods"),
                "fieldSelector=metadata.name!=p"
            )
            .name,
            ""
        );
        assert_eq!(
            res(
                "GET",
                &format!("{base}/pods"),
                "fieldSelector=metadata.name=a%2Fb"
            )
            .name,
            ""
        );
        assert_eq!(
            res(
                "GET",
                &format!("{base}/pods"),
                "fieldSelector=metadata.name=a,bogus"
            )
            .name,
            ""
        );
        assert_eq!(res("POST", &format!("{base}/pods"), "").verb, "create");
        assert_eq!(
            res("DELETE", &format!("{base}/pods"), "").verb,
            "deletecollection"
        );
        assert_eq!(res("DELETE", &format!("{base}/nodes/n"), "").verb, "delete");
        assert_eq!(res("PATCH", &format!("{base}/nodes/n"), "").verb, "patch");
        assert_eq!(res("PUT", &format!("{base}/nodes/n"), "").verb, "update");
        let r = res("GET", "/api/v1/namespaces/kube-system", "");
        assert_eq!(
            (r.resource.as_str(), r.name.as_str(), r.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        for p in [
            "/apis/metrics.k8s.io/v1beta1",
            "/apis/metrics.k8s.io",
            "/apis",
            "/healthz",
            "/metrics",
            "/",
        ] {
            assert!(
                matches!(Attributes::from_request("GET", p, ""), Attributes::NonResource(ref n) if n.verb == "get"),
                "{p}"
            );
        }
    }

    #[test]
    fn always_allow_paths_follow_go() {
        let p = AlwaysAllowPaths::new(&["/healthz".into(), "/readyz".into(), "/metrics/*".into()])
            .unwrap();
        assert!(p.allows("/healthz") && p.allows("/readyz"));
        assert!(!p.allows("/readyz/ping") && !p.allows("/healthzz"));
        assert!(p.allows("/metrics/x") && !p.allows("/metrics"));
        assert!(AlwaysAllowPaths::new(&["/a*b".into()]).is_err());
    }

    #[test]
    fn field_selector_exact_name() {
        assert_eq!(exact_name(""), Ok(None));
        assert_eq!(exact_name("metadata.name=a\\,b"), Ok(Some("a,b".into())));
        assert_eq!(exact_name("metadata.name=a=b"), Err(()));
        assert_eq!(exact_name("metadata.name=\\x"), Err(()));
        assert_eq!(exact_name("spec.nodeName=n"), Ok(None));
    }
}
