//! Kubernetes `Status` errors, shaped exactly as a Go apiserver writes them.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// `details` of a Status.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Details {
    /// Name of the object the error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// API group of that object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'static str>,
    /// Kind (really: resource) of that object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

/// An API error that renders as a `Status` object; handlers return it with `?`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `BadRequest`, ...).
    pub reason: &'static str,
    /// Human-readable message; kubectl prints it.
    pub message: String,
    /// Optional details; `None` omits the field, `Some(default)` writes `{}`.
    pub details: Option<Details>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: serde_json::Map<String, serde_json::Value>,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    code: u16,
}

impl ApiError {
    /// 400 with the parse error of a selector or parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// 404 for an object: `<resource> "<name>" not found`, as apimachinery's NewNotFound.
    pub fn not_found(resource: &'static str, group: Option<&'static str>, name: &str) -> Self {
        let qualified = match group {
            Some(g) => format!("{resource}.{g}"),
            None => resource.to_string(),
        };
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{qualified} \"{name}\" not found"),
            details: Some(Details {
                name: Some(name.to_string()),
                group,
                kind: Some(resource),
            }),
        }
    }

    /// 404 for a path the API does not serve.
    pub fn no_route() -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(Details::default()),
        }
    }

    /// 405 for a verb the resource does not support.
    pub fn method_not_allowed() -> Self {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".into(),
            details: Some(Details::default()),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let body = StatusBody {
            kind: "Status",
            api_version: "v1",
            metadata: serde_json::Map::new(),
            status: "Failure",
            message: &self.message,
            reason: self.reason,
            details: self.details.as_ref(),
            code: self.code,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("application/json")
            .insert_header(("Cache-Control", "no-cache, private"))
            .body(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_go_wording_and_field_order() {
        let e = ApiError::not_found("podmetrics", Some("metrics.k8s.io"), "default/pod-a");
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"podmetrics.metrics.k8s.io \"default/pod-a\" not found","reason":"NotFound","details":{"name":"default/pod-a","group":"metrics.k8s.io","kind":"podmetrics"},"code":404}"#
        );
        let n = ApiError::not_found("node", None, "n1");
        assert_eq!(n.message, "node \"n1\" not found");
    }

    #[test]
    fn bad_request_has_no_details_and_route_errors_have_empty_details() {
        let e = ApiError::bad_request("unable to parse requirement");
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"unable to parse requirement","reason":"BadRequest","code":400}"#
        );
        let r = String::from_utf8(ApiError::no_route().body()).unwrap();
        assert!(r.contains(r#""details":{},"code":404"#));
        assert_eq!(
            ApiError::method_not_allowed().status_code(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
