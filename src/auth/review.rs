//! TokenReview and SubjectAccessReview calls to kube-apiserver, bounded in time.
//!
//! The wire documents are written here rather than taken from `k8s-openapi`, so that they are
//! byte-for-byte what Go's webhook clients send (`authentication.k8s.io/v1`,
//! `authorization.k8s.io/v1`) whatever Kubernetes version the `k8s-openapi` feature selects.
//! Calls run on the main runtime (where the `kube::Client` lives) and are abandoned after the
//! timeout, so a silent kube-apiserver turns into an error, never a hung request.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a review produced no answer; the request then fails closed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ReviewError {
    /// kube-apiserver did not answer within the bound.
    #[error("{kind} did not answer within {timeout:?}")]
    Timeout {
        /// `TokenReview` or `SubjectAccessReview`.
        kind: &'static str,
        /// The bound.
        timeout: Duration,
    },
    /// The call failed (connection, HTTP status, malformed answer).
    #[error("{kind} failed: {message}")]
    Call {
        /// `TokenReview` or `SubjectAccessReview`.
        kind: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// `metadata` as Go's encoder writes an empty ObjectMeta.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    creation_timestamp: Option<String>,
}

/// A user as reviews carry it (`authentication.k8s.io/v1` UserInfo).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ReviewUser {
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// UID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenReviewRequest<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Meta,
    spec: TokenSpec<'a>,
    status: TokenStatusOut,
}

#[derive(Debug, Serialize)]
struct TokenSpec<'a> {
    token: &'a str,
}

#[derive(Debug, Serialize)]
struct TokenStatusOut {
    user: BTreeMap<String, String>,
}

/// The part of a TokenReview answer we read.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
pub struct TokenReviewStatus {
    /// Whether the token is valid.
    #[serde(default)]
    pub authenticated: bool,
    /// Who it belongs to.
    #[serde(default)]
    pub user: ReviewUser,
    /// Why it was not authenticated, when kube-apiserver says.
    #[serde(default)]
    pub error: String,
}

#[derive(Debug, Deserialize)]
struct TokenReviewAnswer {
    #[serde(default)]
    status: TokenReviewStatus,
}

/// `spec.resourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq, Hash)]
pub struct ResourceAttributes {
    /// Namespace; empty for cluster scope and all namespaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `get`, `list`, `watch`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
    /// API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Resource, e.g. `pods`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// Subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// Object name, for gets and single-object lists/watches.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// `spec.nonResourceAttributes` of a SubjectAccessReview.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq, Hash)]
pub struct NonResourceAttributes {
    /// The path, without the query.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The lower-case HTTP method.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
}

/// `spec` of a SubjectAccessReview; its JSON is also the cache key, as in Go.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewSpec {
    /// For resource requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    /// For other paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    /// UID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessReviewRequest<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Meta,
    spec: &'a AccessReviewSpec,
    status: AccessStatusOut,
}

#[derive(Debug, Serialize)]
struct AccessStatusOut {
    allowed: bool,
}

/// The part of a SubjectAccessReview answer we read.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewStatus {
    /// Allowed.
    #[serde(default)]
    pub allowed: bool,
    /// Explicitly denied (wins over allowed).
    #[serde(default)]
    pub denied: bool,
    /// Why, in the authorizer's words; appended to the 403 message.
    #[serde(default)]
    pub reason: String,
    /// An error the authorizer met while evaluating.
    #[serde(default)]
    pub evaluation_error: String,
}

#[derive(Debug, Deserialize)]
struct AccessReviewAnswer {
    #[serde(default)]
    status: AccessReviewStatus,
}

/// The JSON body of a TokenReview request, exactly as Go's webhook sends it.
pub fn token_review_body(token: &str) -> Vec<u8> {
    serde_json::to_vec(&TokenReviewRequest {
        kind: "TokenReview",
        api_version: "authentication.k8s.io/v1",
        metadata: Meta::default(),
        spec: TokenSpec { token },
        status: TokenStatusOut {
            user: BTreeMap::new(),
        },
    })
    .unwrap_or_default()
}

/// The JSON body of a SubjectAccessReview request.
pub fn access_review_body(spec: &AccessReviewSpec) -> Vec<u8> {
    serde_json::to_vec(&AccessReviewRequest {
        kind: "SubjectAccessReview",
        api_version: "authorization.k8s.io/v1",
        metadata: Meta::default(),
        spec,
        status: AccessStatusOut { allowed: false },
    })
    .unwrap_or_default()
}

/// A client for reviews: a `kube::Client`, the runtime it was built on, and the time bound.
#[derive(Clone)]
pub struct Reviewer {
    client: kube::Client,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviewer")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Loads a kubeconfig for delegation: the given file, else the in-cluster configuration, else
/// `fallback` (the server's own `--kubeconfig`, convenient outside a cluster).
pub async fn kube_client(
    path: Option<&Path>,
    fallback: Option<&Path>,
    what: &str,
) -> anyhow::Result<kube::Client> {
    use anyhow::Context as _;
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let from_file = |p: &Path| -> anyhow::Result<Kubeconfig> {
        Kubeconfig::read_from(p).with_context(|| format!("reading {what} {}", p.display()))
    };
    let config = match (path, kube::Config::incluster(), fallback) {
        (Some(p), _, _) => {
            kube::Config::from_custom_kubeconfig(from_file(p)?, &KubeConfigOptions::default())
                .await?
        }
        (None, Ok(c), _) => c,
        (None, Err(_), Some(p)) => {
            tracing::info!(kubeconfig = %p.display(), "no --{what} and not in a cluster: using --kubeconfig");
            kube::Config::from_custom_kubeconfig(from_file(p)?, &KubeConfigOptions::default())
                .await?
        }
        (None, Err(e), None) => {
            anyhow::bail!(
                "failed to get delegated {what}: no --{what} given and no in-cluster configuration ({e})"
            )
        }
    };
    kube::Client::try_from(config).with_context(|| format!("building the {what} client"))
}

impl Reviewer {
    /// A reviewer on the current runtime.
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Reviewer {
            client,
            runtime: tokio::runtime::Handle::current(),
            timeout,
        }
    }

    /// The time bound of one review.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn post<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        kind: &'static str,
        path: &'static str,
        body: Vec<u8>,
    ) -> Result<T, ReviewError> {
        let request = kube::core::Request::new(path)
            .create(&kube::api::PostParams::default(), body)
            .map_err(|e| ReviewError::Call {
                kind,
                message: e.to_string(),
            })?;
        let client = self.client.clone();
        let task = self
            .runtime
            .spawn(async move { client.request::<T>(request).await });
        let abort = task.abort_handle();
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(ReviewError::Call {
                kind,
                message: e.to_string(),
            }),
            Ok(Err(e)) => Err(ReviewError::Call {
                kind,
                message: e.to_string(),
            }),
            Err(_) => {
                abort.abort();
                Err(ReviewError::Timeout {
                    kind,
                    timeout: self.timeout,
                })
            }
        }
    }

    /// Asks kube-apiserver whose token this is.
    pub async fn token_review(&self, token: &str) -> Result<TokenReviewStatus, ReviewError> {
        let answer: TokenReviewAnswer = self
            .post(
                "TokenReview",
                "/apis/authentication.k8s.io/v1/tokenreviews",
                token_review_body(token),
            )
            .await?;
        Ok(answer.status)
    }

    /// Asks kube-apiserver whether `spec` is allowed.
    pub async fn access_review(
        &self,
        spec: &AccessReviewSpec,
    ) -> Result<AccessReviewStatus, ReviewError> {
        let answer: AccessReviewAnswer = self
            .post(
                "SubjectAccessReview",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                access_review_body(spec),
            )
            .await?;
        Ok(answer.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_go_webhooks() {
        assert_eq!(
            String::from_utf8(token_review_body("tok")).unwrap(),
            r#"{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"token":"tok"},"status":{"user":{}}}"#
        );
        let spec = AccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: "default".into(),
                verb: "list".into(),
                group: "metrics.k8s.io".into(),
                version: "v1beta1".into(),
                resource: "pods".into(),
                ..Default::default()
            }),
            user: "alice".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(access_review_body(&spec)).unwrap(),
            r#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"resourceAttributes":{"namespace":"default","verb":"list","group":"metrics.k8s.io","version":"v1beta1","resource":"pods"},"user":"alice","groups":["dev","system:authenticated"]},"status":{"allowed":false}}"#
        );
    }
}
