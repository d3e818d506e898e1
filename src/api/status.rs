//! Kubernetes `Status` errors, shaped exactly as a Go apiserver writes them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use super::negotiate::{Endpoint, Media, negotiate};

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
    /// Field-level causes (validation errors, too-large resourceVersions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    /// Seconds a client should wait before retrying; also sent as `Retry-After`.
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// One cause of a Status, as `metav1.StatusCause`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Cause {
    /// Machine-readable reason (`FieldValueForbidden`, `ResourceVersionTooLarge`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The field it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

/// One field error of an `Invalid` Status, worded as Go's `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldError {
    /// `field.Forbidden(path, detail)`.
    Forbidden(&'static str, String),
    /// `field.NotSupported(path, value, supported)`.
    NotSupported(&'static str, String, &'static [&'static str]),
}

impl FieldError {
    fn field(&self) -> &'static str {
        match self {
            FieldError::Forbidden(f, _) | FieldError::NotSupported(f, _, _) => f,
        }
    }

    fn detail(&self) -> String {
        match self {
            FieldError::Forbidden(_, d) => format!("Forbidden: {d}"),
            FieldError::NotSupported(_, v, supported) => {
                let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
                format!(
                    "Unsupported value: {v:?}: supported values: {}",
                    list.join(", ")
                )
            }
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            FieldError::Forbidden(..) => "FieldValueForbidden",
            FieldError::NotSupported(..) => "FieldValueNotSupported",
        }
    }
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
    pub details: Option<Box<Details>>,
    /// `metadata.continue`: a 410 for an expired continue token carries a fresh token that goes
    /// on from the same key in the current state, as kube-apiserver's does.
    pub continue_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: serde_json::Map<String, serde_json::Value>,
    status: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
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
            continue_token: None,
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
            details: Some(Box::new(Details {
                name: Some(name.to_string()),
                group,
                kind: Some(resource),
                ..Details::default()
            })),
            continue_token: None,
        }
    }

    /// 404 for a path the API does not serve.
    pub fn no_route() -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(Box::default()),
            continue_token: None,
        }
    }

    /// 405 for a verb the resource does not support.
    pub fn method_not_allowed() -> Self {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: "the server does not allow this method on the requested resource".into(),
            details: Some(Box::default()),
            continue_token: None,
        }
    }

    /// 422 for list options that do not validate, worded as Go's aggregate of field errors.
    pub fn invalid_list_options(errors: Vec<FieldError>) -> Self {
        let parts: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field(), e.detail()))
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("ListOptions.meta.k8s.io \"\" is invalid: {joined}"),
            details: Some(Box::new(Details {
                group: Some("meta.k8s.io"),
                kind: Some("ListOptions"),
                causes: errors
                    .iter()
                    .map(|e| Cause {
                        reason: e.reason(),
                        message: e.detail(),
                        field: Some(e.field()),
                    })
                    .collect(),
                ..Details::default()
            })),
            continue_token: None,
        }
    }

    /// 410 for a resourceVersion or continue token older than the history kept.
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: None,
            continue_token: None,
        }
    }

    /// 410 for a continue token older than the history kept, carrying in `metadata.continue` the
    /// `fresh` token that lists the remainder from the current state (Go's
    /// `handleCompactedErrorForPaging`).
    pub fn expired_continue(message: impl Into<String>, fresh: String) -> Self {
        ApiError {
            continue_token: Some(fresh),
            ..ApiError::expired(message)
        }
    }

    /// 504 for a resourceVersion the server has not reached (client-go relists on its cause).
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        ApiError {
            code: 504,
            reason: "Timeout",
            message: format!(
                "Timeout: Too large resource version: {requested}, current: {current}"
            ),
            details: Some(Box::new(Details {
                causes: vec![Cause {
                    reason: "ResourceVersionTooLarge",
                    message: "Too large resource version".into(),
                    field: None,
                }],
                retry_after_seconds: Some(1),
                ..Details::default()
            })),
            continue_token: None,
        }
    }

    /// 429 when the server holds as many watches as it allows.
    pub fn too_many_requests(message: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            code: 429,
            reason: "TooManyRequests",
            message: message.into(),
            details: Some(Box::new(Details {
                retry_after_seconds: Some(retry_after),
                ..Details::default()
            })),
            continue_token: None,
        }
    }

    /// 406 when no Accept clause names a media type we serve, worded as apimachinery's
    /// `errNotAcceptable` (no details).
    pub fn not_acceptable(served: &[&str]) -> Self {
        ApiError {
            code: 406,
            reason: "NotAcceptable",
            message: format!(
                "only the following media types are accepted: {}",
                served.join(", ")
            ),
            details: None,
            continue_token: None,
        }
    }

    /// 500 for a failure of our own (an encoding error): a Status, never plain text.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: None,
            continue_token: None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        let mut metadata = serde_json::Map::new();
        if let Some(token) = &self.continue_token {
            metadata.insert("continue".into(), token.clone().into());
        }
        let body = StatusBody {
            kind: "Status",
            api_version: "v1",
            metadata,
            status: "Failure",
            message: &self.message,
            reason: self.reason,
            details: self.details.as_deref(),
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
        self.builder(Media::Json).body(self.body())
    }
}

impl ApiError {
    fn builder(&self, media: Media) -> HttpResponseBuilder {
        let mut r = HttpResponse::build(self.status_code());
        r.content_type(media.content_type())
            .insert_header(("Cache-Control", "no-cache, private"));
        if let Some(secs) = self.details.as_ref().and_then(|d| d.retry_after_seconds) {
            r.insert_header(("Retry-After", secs.to_string()));
        }
        r
    }

    /// The response in the media type the request negotiates, as Go's `ErrorNegotiated` writes it:
    /// a protobuf client (kubectl top, the HPA) gets a protobuf Status it can decode with the same
    /// codec, YAML where YAML was asked; JSON otherwise, and whenever nothing we serve was named
    /// (a 406 is always JSON, as Go's is).
    pub fn negotiated_response(&self, req: &HttpRequest) -> HttpResponse {
        let media = negotiate(req, Endpoint::List)
            .or_else(|_| negotiate(req, Endpoint::Watch))
            .map_or(Media::Json, |o| o.media);
        let body = match media {
            Media::Json => self.body(),
            Media::Yaml => match serde_json::from_slice(&self.body()) {
                Ok(v) => super::yaml::to_yaml(&v).into_bytes(),
                Err(_) => return self.error_response(),
            },
            Media::Protobuf => super::proto::envelope("v1", "Status", super::proto::status(self)),
        };
        self.builder(media).body(body)
    }
}

/// Renders a handler's result, negotiating the media type of an error (see
/// [`ApiError::negotiated_response`]).
pub fn answer(req: &HttpRequest, result: Result<HttpResponse, ApiError>) -> HttpResponse {
    result.unwrap_or_else(|e| e.negotiated_response(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_list_options_match_go_aggregates() {
        let one = ApiError::invalid_list_options(vec![FieldError::Forbidden(
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
        )]);
        assert_eq!(
            String::from_utf8(one.body()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan","reason":"Invalid","details":{"group":"meta.k8s.io","kind":"ListOptions","causes":[{"reason":"FieldValueForbidden","message":"Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan","field":"resourceVersionMatch"}]},"code":422}"#
        );
        let two = ApiError::invalid_list_options(vec![
            FieldError::Forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
            ),
            FieldError::NotSupported(
                "resourceVersionMatch",
                "NotARealMatch".into(),
                &["Exact", "NotOlderThan", ""],
            ),
        ]);
        assert_eq!(
            two.message,
            r#"ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, resourceVersionMatch: Unsupported value: "NotARealMatch": supported values: "Exact", "NotOlderThan", ""]"#
        );
        let big = ApiError::too_large_resource_version(200, 150);
        assert_eq!(
            String::from_utf8(big.body()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: Too large resource version: 200, current: 150","reason":"Timeout","details":{"causes":[{"reason":"ResourceVersionTooLarge","message":"Too large resource version"}],"retryAfterSeconds":1},"code":504}"#
        );
    }

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
