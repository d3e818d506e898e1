//! `application/json` answers and `metav1.Status` errors, shaped as kube-apiserver writes them
//! (clients such as kube-rs and kubectl parse the Status body, not just the code).

use hyper::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::serve::{Body, response};

/// A JSON response with kube-apiserver's `Cache-Control`.
pub(super) fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = response(status, "application/json", body);
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    resp
}

/// A `metav1.Status` error response.
pub(super) fn status(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<Body> {
    json_response(code, &status_value(code.as_u16(), reason, message, details))
}

/// The `metav1.Status` object of an error (also sent as a watch ERROR event).
pub(super) fn status_value(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Value {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v["code"] = code.into();
    v
}

/// The 404 of a path the fake apiserver does not serve.
pub(super) fn not_found_path() -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}
