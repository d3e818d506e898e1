//! Flags of the API surface: which version discovery prefers.

use clap::Args;

use super::types::{GroupVersion, V1, V1BETA1};

/// API flags, flattened into the server's arguments.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Version of metrics.k8s.io that group discovery names as preferred (`v1beta1` or `v1`).
    /// `v1beta1` by default, as every server before Kubernetes 1.37 served only that; ours.
    #[arg(long, default_value = "v1beta1", value_parser = ["v1beta1", "v1"])]
    pub preferred_version: String,
}

impl Default for ApiArgs {
    fn default() -> Self {
        ApiArgs {
            preferred_version: "v1beta1".into(),
        }
    }
}

impl ApiArgs {
    /// The preferred version as a served [`GroupVersion`].
    pub fn preferred(&self) -> GroupVersion {
        if self.preferred_version == "v1" {
            V1
        } else {
            V1BETA1
        }
    }
}
