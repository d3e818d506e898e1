//! The kubeconfig that points kubectl and our server at the fake apiserver.
//!
//! Written as JSON (a YAML subset that kubectl, client-go and kube-rs all read) with the CA
//! embedded, so the file works from any directory.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use super::serve::base64;

/// Name of the cluster, user and context entries.
pub const CONTEXT: &str = "metrics-sim";

/// The kubeconfig document.
pub fn render(server_url: &str, ca_pem: &str, user: &str, token: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{
            "name": CONTEXT,
            "cluster": {
                "server": server_url,
                "certificate-authority-data": base64(ca_pem.as_bytes())
            }
        }],
        "users": [{
            "name": user,
            "user": {"token": token}
        }],
        "contexts": [{
            "name": CONTEXT,
            "context": {"cluster": CONTEXT, "user": user, "namespace": "default"}
        }],
        "current-context": CONTEXT
    })
}

/// Writes the kubeconfig to `path` (owner-only permissions: it holds a token).
pub fn write(
    path: &Path,
    server_url: &str,
    ca_pem: &str,
    user: &str,
    token: &str,
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&render(server_url, ca_pem, user, token))?;
    super::certs::write_private(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let v = render("https://127.0.0.1:6443", "PEM", "sim-admin", "tok");
        assert_eq!(v["current-context"], CONTEXT);
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        assert_eq!(v["contexts"][0]["context"]["user"], "sim-admin");
    }
}
