//! The core resources (`/api/v1` Nodes, Pods and Namespaces): path parsing, selectors, get, and
//! paged lists; watches are handed to [`watch`](super::watch).

use std::io::Write as _;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use serde_json::json;

use super::ApiServer;
use super::format::{Format, negotiate};
use super::responses::{json_response, status};
use crate::objects;
use crate::serve::{Body, parse_query, response};
use crate::store::{FieldSelector, Filter, Kind, LabelSelector, Stored};

/// Target of a `/api/v1/...` request.
pub(super) enum Target {
    Collection {
        kind: Kind,
        namespace: Option<String>,
    },
    Item {
        kind: Kind,
        namespace: String,
        name: String,
    },
}

/// The collection or item a path under `/api/v1` names, and whether it is a `/watch/` path.
pub(super) fn parse_core_path(segs: &[&str]) -> Option<(bool, Target)> {
    let (forced_watch, segs) = match segs {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, segs),
    };
    let coll = |kind, namespace: Option<&str>| Target::Collection {
        kind,
        namespace: namespace.map(str::to_string),
    };
    let item = |kind, namespace: &str, name: &str| Target::Item {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let t = match segs {
        ["nodes"] => coll(Kind::Node, None),
        ["nodes", name] => item(Kind::Node, "", name),
        ["pods"] => coll(Kind::Pod, None),
        ["namespaces"] => coll(Kind::Namespace, None),
        ["namespaces", ns] => item(Kind::Namespace, "", ns),
        ["namespaces", ns, "pods"] => coll(Kind::Pod, Some(ns)),
        ["namespaces", ns, "pods", name] => item(Kind::Pod, ns, name),
        _ => return None,
    };
    Some((forced_watch, t))
}

impl ApiServer {
    /// Serves a get, list or watch of `target` in the format the Accept header negotiates.
    pub(super) fn resource(
        &self,
        req: &Request<Incoming>,
        forced_watch: bool,
        target: Target,
    ) -> Response<Body> {
        let q = parse_query(req.uri().query());
        let param = |k: &str| query_param(&q, k);
        let format = match negotiate(req.headers(), param("includeObject")) {
            Ok(f) => f,
            Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None),
        };
        let watching = forced_watch || param("watch").is_some_and(go_bool);
        let (target_kind, is_collection) = match &target {
            Target::Item { kind, .. } => (*kind, false),
            Target::Collection { kind, .. } => (*kind, true),
        };
        if let Some(refused) = format.mismatch(target_kind, is_collection && !watching) {
            return refused;
        }
        let (kind, mut filter, name) = match target {
            Target::Item {
                kind,
                namespace,
                name,
            } if !watching => {
                return self.get_item(kind, &namespace, &name, format);
            }
            Target::Item {
                kind,
                namespace,
                name,
            } => (
                kind,
                Filter {
                    namespace: (!namespace.is_empty()).then_some(namespace),
                    ..Filter::default()
                },
                Some(name),
            ),
            Target::Collection { kind, namespace } => (
                kind,
                Filter {
                    namespace,
                    ..Filter::default()
                },
                None,
            ),
        };
        match LabelSelector::parse(param("labelSelector").unwrap_or("")) {
            Ok(sel) => filter.labels = sel,
            Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None),
        }
        let mut fields = param("fieldSelector").unwrap_or("").to_string();
        if let Some(name) = name {
            if !fields.is_empty() {
                fields.push(',');
            }
            fields.push_str(&format!("metadata.name={name}"));
        }
        match FieldSelector::parse(&fields, kind) {
            Ok(sel) => filter.fields = sel,
            Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg, None),
        }
        if watching {
            self.watch(kind, filter, format, &q)
        } else {
            self.list(kind, &filter, format, &q)
        }
    }

    fn get_item(&self, kind: Kind, namespace: &str, name: &str, format: Format) -> Response<Body> {
        let Some(s) = self.store.get(kind, namespace, name) else {
            let resource = kind.resource();
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{resource} \"{name}\" not found"),
                Some(json!({"name": name, "kind": resource})),
            );
        };
        let v = match format {
            Format::Full => objects::full(&s),
            Format::Meta { .. } => objects::partial(&s),
            Format::Table(inc) => {
                objects::table(kind, Some(s.rv), vec![objects::row(&s, inc, now_s())])
            }
        };
        json_response(StatusCode::OK, &v)
    }

    /// Lists with `limit`/`continue` paging. Items are serialised one at a time into the
    /// output buffer, so a 100k-pod list never holds 100k JSON trees.
    fn list(
        &self,
        kind: Kind,
        filter: &Filter,
        format: Format,
        q: &[(String, String)],
    ) -> Response<Body> {
        let limit = match query_param(q, "limit").filter(|l| !l.is_empty()) {
            None => None,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(n as usize),
                Ok(_) => None,
                Err(_) => {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!("invalid limit: {l}"),
                        None,
                    );
                }
            },
        };
        let (token_rv, after) = match query_param(q, "continue").filter(|c| !c.is_empty()) {
            None => (None, None),
            Some(c) => match decode_continue(c) {
                Some((rv, ns, name)) => (Some(rv), Some((ns, name))),
                None => {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "invalid continue token: continue key is not valid",
                        None,
                    );
                }
            },
        };
        let (store_rv, page, next) = self.store.list_page(kind, filter, after, limit);
        // Continued pages report the RV of the first page, like an etcd-backed list.
        let rv = token_rv.unwrap_or(store_rv);
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if let Some((ns, name)) = next {
            meta["continue"] = encode_continue(rv, &ns, &name).into();
        }
        let mut out = Vec::with_capacity(page.len() * 2048 + 512);
        let (kind_name, api_version) = match format {
            Format::Full => (format!("{}List", kind.name()), "v1"),
            Format::Meta { .. } => ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1"),
            Format::Table(_) => ("Table".to_string(), "meta.k8s.io/v1"),
        };
        let _ = write!(
            out,
            "{{\"kind\":\"{kind_name}\",\"apiVersion\":\"{api_version}\",\"metadata\":"
        );
        let _ = serde_json::to_writer(&mut out, &meta);
        let now = now_s();
        let item = |s: &Stored| match format {
            Format::Full => objects::list_item(s),
            Format::Meta { .. } => objects::partial(s),
            Format::Table(inc) => objects::row(s, inc, now),
        };
        if let Format::Table(_) = format {
            out.extend_from_slice(b",\"columnDefinitions\":");
            let _ = serde_json::to_writer(&mut out, &objects::columns(kind));
            out.extend_from_slice(b",\"rows\":[");
        } else {
            out.extend_from_slice(b",\"items\":[");
        }
        for (i, s) in page.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, &item(s));
        }
        out.extend_from_slice(b"]}");
        let mut resp = response(StatusCode::OK, "application/json", out);
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache, private"),
        );
        resp
    }
}

/// An opaque continue token: hex of `rv NUL namespace NUL name`.
fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    format!("{rv}\0{ns}\0{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, String, String)> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '\0');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, parts.next()?.to_string(), parts.next()?.to_string()))
}

/// Last value of a query parameter.
pub(super) fn query_param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Go's `metav1` bool query parsing: false iff "0" or "false" (any case).
pub(super) fn go_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

/// The current time in seconds (Table ages).
pub(super) fn now_s() -> i64 {
    crate::serve::now_ms().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_paths() {
        assert!(matches!(
            parse_core_path(&["nodes"]),
            Some((
                false,
                Target::Collection {
                    kind: Kind::Node,
                    namespace: None
                }
            ))
        ));
        assert!(matches!(
            parse_core_path(&["watch", "namespaces", "a", "pods"]),
            Some((
                true,
                Target::Collection {
                    kind: Kind::Pod,
                    namespace: Some(_)
                }
            ))
        ));
        assert!(matches!(
            parse_core_path(&["namespaces", "a", "pods", "p"]),
            Some((
                false,
                Target::Item {
                    kind: Kind::Pod,
                    ..
                }
            ))
        ));
        assert!(parse_core_path(&["services"]).is_none());
    }

    #[test]
    fn continue_tokens() {
        let t = encode_continue(42, "kube-system", "coredns-x");
        assert_eq!(
            decode_continue(&t),
            Some((42, "kube-system".into(), "coredns-x".into()))
        );
        assert_eq!(decode_continue("zz"), None);
        assert_eq!(decode_continue("abc"), None);
        assert_eq!(decode_continue("é1"), None);
    }

    #[test]
    fn go_bools() {
        assert!(go_bool("true") && go_bool("1") && go_bool("") && go_bool("True"));
        assert!(!go_bool("false") && !go_bool("0") && !go_bool("FALSE"));
    }
}
