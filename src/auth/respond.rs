//! 401, 403 and 500 responses exactly as Go's `filters/authentication.go`,
//! `responsewriters.Forbidden` and `responsewriters.InternalError` write them.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

use super::authz::Attributes;

#[derive(Serialize, Default)]
struct Details<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    group: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: serde_json::Map<String, serde_json::Value>,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details<'a>>,
    code: u16,
}

fn status_body(
    code: u16,
    reason: &'static str,
    message: &str,
    details: Option<Details<'_>>,
) -> Vec<u8> {
    serde_json::to_vec(&Status {
        kind: "Status",
        api_version: "v1",
        metadata: serde_json::Map::new(),
        status: "Failure",
        message,
        reason,
        details,
        code,
    })
    .unwrap_or_default()
}

/// Go's `%q`: a double-quoted string with Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's HTML sanitizer of error messages (`&`, `<`, `>`).
fn sanitize(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn json(code: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(code)
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-cache, private"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

/// The 401 body, `NewUnauthorized("Unauthorized")`.
pub fn unauthorized_body() -> Vec<u8> {
    status_body(401, "Unauthorized", "Unauthorized", None)
}

/// 401 `Status`.
pub fn unauthorized() -> HttpResponse {
    json(StatusCode::UNAUTHORIZED, unauthorized_body())
}

/// Go's `forbiddenMessage` plus `: <reason>` when the authorizer gave one.
pub fn forbidden_message(user: &str, attrs: &Attributes, reason: &str) -> String {
    let msg = match attrs {
        Attributes::NonResource(n) => format!(
            "User {} cannot {} path {}",
            go_quote(user),
            n.verb,
            go_quote(&n.path)
        ),
        Attributes::Resource(r) => {
            let mut resource = r.resource.clone();
            if !r.subresource.is_empty() {
                resource = format!("{resource}/{}", r.subresource);
            }
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {}", go_quote(&r.namespace))
            };
            format!(
                "User {} cannot {} resource {} in API group {} {scope}",
                go_quote(user),
                r.verb,
                go_quote(&resource),
                go_quote(&r.group)
            )
        }
    };
    let msg = sanitize(&msg);
    if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    }
}

/// The 403 body, `NewForbidden(groupResource, name, message)`.
pub fn forbidden_body(user: &str, attrs: &Attributes, reason: &str) -> Vec<u8> {
    let err = forbidden_message(user, attrs, reason);
    let (group, resource, name) = match attrs {
        Attributes::Resource(r) => (r.group.as_str(), r.resource.as_str(), r.name.as_str()),
        Attributes::NonResource(_) => ("", "", ""),
    };
    let message = match (resource.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {err}"),
        (false, true) if group.is_empty() => format!("{resource} is forbidden: {err}"),
        (false, true) => format!("{resource}.{group} is forbidden: {err}"),
        (false, false) if group.is_empty() => {
            format!("{resource} {} is forbidden: {err}", go_quote(name))
        }
        (false, false) => format!("{resource}.{group} {} is forbidden: {err}", go_quote(name)),
    };
    status_body(
        403,
        "Forbidden",
        &message,
        Some(Details {
            name,
            group,
            kind: resource,
        }),
    )
}

/// 403 `Status`.
pub fn forbidden(user: &str, attrs: &Attributes, reason: &str) -> HttpResponse {
    json(StatusCode::FORBIDDEN, forbidden_body(user, attrs, reason))
}

/// Go's `InternalError`: plain text, `Internal Server Error: "<RequestURI>": <err>`.
pub fn internal_error(request_uri: &str, err: &str) -> HttpResponse {
    let text = sanitize(&format!(
        "Internal Server Error: {}: {err}",
        go_quote(request_uri)
    ));
    HttpResponse::build(StatusCode::INTERNAL_SERVER_ERROR)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_go() {
        assert_eq!(
            String::from_utf8(unauthorized_body()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
        let list = Attributes::from_request(
            "GET",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
            "",
        );
        assert_eq!(
            String::from_utf8(forbidden_body("alice", &list, "")).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods.metrics.k8s.io is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"default\"","reason":"Forbidden","details":{"group":"metrics.k8s.io","kind":"pods"},"code":403}"#
        );
        let get = Attributes::from_request("GET", "/apis/metrics.k8s.io/v1beta1/nodes/n1", "");
        let body = String::from_utf8(forbidden_body("bob", &get, "no <rule>")).unwrap();
        assert!(body.contains(r#"nodes.metrics.k8s.io \"n1\" is forbidden: User \"bob\" cannot get resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope: no <rule>"#), "{body}");
        assert!(
            body.contains(r#""details":{"name":"n1","group":"metrics.k8s.io","kind":"nodes"}"#)
        );
        let path = Attributes::from_request("GET", "/metrics", "");
        assert_eq!(
            String::from_utf8(forbidden_body("system:anonymous", &path, "")).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User \"system:anonymous\" cannot get path \"/metrics\"","reason":"Forbidden","details":{},"code":403}"#
        );
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
