//! Command-line flags of the server, grouped as metrics-server groups them, and their validation.
//!
//! Flag names and defaults follow metrics-server so that existing manifests keep working.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Why a set of flags cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// A duration flag that Go's `time.ParseDuration` would also reject.
    #[error("invalid duration {0:?}: expected a Go duration such as 15s, 1m30s or 500ms")]
    Duration(String),
    /// Same rule as metrics-server: shorter periods make CPU rates too noisy.
    #[error("metric-resolution should be a time duration at least 10s, but value {0:?} provided")]
    ResolutionTooShort(Duration),
    /// A scrape must be able to finish before the next one starts.
    #[error("metric-resolution should be larger than kubelet-request-timeout")]
    ResolutionNotAboveTimeout,
    /// A zero timeout would fail every scrape.
    #[error("kubelet-request-timeout should be positive")]
    ZeroTimeout,
    /// Verification against a CA and skipping verification contradict each other.
    #[error("cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls")]
    CaWithInsecure,
    /// A client certificate is useless without its key, and the reverse.
    #[error("need both --kubelet-client-certificate and --kubelet-client-key, or neither")]
    HalfClientCert,
    /// Exactly one of the two serving files cannot form a key pair.
    #[error("need both --tls-cert-file and --tls-private-key-file, or neither")]
    HalfServingCert,
    /// Rates need at least two samples per series.
    #[error("--history-depth must be at least 2")]
    HistoryTooShallow,
    /// Address types are a closed set in Kubernetes.
    #[error("unknown address type {0:?} in --kubelet-preferred-address-types")]
    AddressType(String),
    /// A TLS, authentication or authorization flag that cannot be honoured.
    #[error(transparent)]
    Auth(#[from] crate::auth::flags::AuthFlagError),
    /// The node selector is checked at start, not when the first node list fails.
    #[error("invalid --node-selector {selector:?}: {reason}")]
    NodeSelector {
        /// The flag's value.
        selector: String,
        /// The parser's message.
        reason: String,
    },
}

/// Go's `strconv.ParseBool`, for boolean flags given as `--flag=value`.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {s:?}")),
    }
}

/// Parses a Go duration string (`15s`, `1m30s`, `500ms`, `1h`, `2.5s`); clap uses it for duration flags.
pub fn parse_go_duration(s: &str) -> Result<Duration, ConfigError> {
    let err = || ConfigError::Duration(s.to_string());
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).map_err(|e| e.to_string())
}

/// Node address types, in the order the kubelet may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    /// `Hostname`
    Hostname,
    /// `InternalDNS`
    InternalDns,
    /// `InternalIP`
    InternalIp,
    /// `ExternalDNS`
    ExternalDns,
    /// `ExternalIP`
    ExternalIp,
}

impl AddressType {
    /// The spelling used in `node.status.addresses[].type`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Hostname => "Hostname",
            AddressType::InternalDns => "InternalDNS",
            AddressType::InternalIp => "InternalIP",
            AddressType::ExternalDns => "ExternalDNS",
            AddressType::ExternalIp => "ExternalIP",
        }
    }

    /// Parses the Kubernetes spelling.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        [
            AddressType::Hostname,
            AddressType::InternalDns,
            AddressType::InternalIp,
            AddressType::ExternalDns,
            AddressType::ExternalIp,
        ]
        .into_iter()
        .find(|t| t.as_str() == s.trim())
        .ok_or_else(|| ConfigError::AddressType(s.to_string()))
    }
}

/// Everything the server binary accepts; `simulate` hands the same flags to the server it starts.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "metrics-apiserver",
    version,
    about = "Kubernetes resource metrics API (metrics.k8s.io) server",
    // As Go's pflag: a flag given twice takes its last value, so overrides appended to a stock
    // manifest's arguments work.
    args_override_self = true
)]
pub struct ServerArgs {
    /// Cluster access.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// How and when kubelets are scraped.
    #[command(flatten)]
    pub kubelet: KubeletArgs,
    /// The HTTPS listener.
    #[command(flatten)]
    pub serving: ServingArgs,
    /// In-memory storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Logging.
    #[command(flatten)]
    pub logging: crate::telemetry::LoggingArgs,
    /// metrics-server's flags that have no effect here.
    #[command(flatten)]
    pub compat: crate::compat::CompatArgs,
    /// TLS, delegated authentication and authorization.
    #[command(flatten)]
    pub auth: crate::auth::flags::AuthArgs,
    /// Served versions and fields of the API.
    #[command(flatten)]
    pub api: crate::api::flags::ApiArgs,
    /// Averaging window, staleness, relaxed pods, kubelet retries.
    #[command(flatten)]
    pub scrape: crate::scrape::flags::ScrapeArgs,
}

/// Flags that say how to reach the cluster's API server.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubeconfig for the cluster; in-cluster configuration when absent.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Only nodes matching this label selector are scraped and listed.
    #[arg(short = 'l', long, default_value = "")]
    pub node_selector: String,
}

/// Flags of the kubelet client and scrape schedule.
#[derive(Debug, Clone, Args)]
pub struct KubeletArgs {
    /// Scrape period, and the resolution of the stored metrics (at least 10s).
    #[arg(long, default_value = "15s", value_parser = duration_arg)]
    pub metric_resolution: Duration,
    /// Timeout of one kubelet request.
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub kubelet_request_timeout: Duration,
    /// Kubelet port, when the node status port is not used.
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// Use the port the node advertises in status.daemonEndpoints.kubeletEndpoint.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub kubelet_use_node_status_port: bool,
    /// Priority of node address types used to reach the kubelet.
    #[arg(
        long,
        default_value = "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP",
        value_delimiter = ','
    )]
    pub kubelet_preferred_address_types: Vec<String>,
    /// Do not verify kubelet serving certificates.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = parse_go_bool)]
    pub kubelet_insecure_tls: bool,
    /// CA bundle that signs kubelet serving certificates (default: the cluster CA).
    #[arg(long)]
    pub kubelet_certificate_authority: Option<PathBuf>,
    /// Client certificate presented to kubelets.
    #[arg(long)]
    pub kubelet_client_certificate: Option<PathBuf>,
    /// Key of --kubelet-client-certificate.
    #[arg(long)]
    pub kubelet_client_key: Option<PathBuf>,
    /// Most kubelet requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub scrape_concurrency: usize,
}

/// Flags of the HTTPS listener.
#[derive(Debug, Clone, Args)]
pub struct ServingArgs {
    /// Port of the HTTPS listener.
    #[arg(long, default_value_t = 10250)]
    pub secure_port: u16,
    /// Address of the HTTPS listener.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,
    /// Where a self-signed certificate is written when no certificate files are given.
    #[arg(long, default_value = "apiserver.local.config/certificates")]
    pub cert_dir: PathBuf,
    /// Serving certificate (PEM, with intermediates).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// Key of --tls-cert-file (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// HTTP worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// On SIGTERM, keep serving this long with /readyz failing, so endpoints drop this replica
    /// before its listener closes (Go's flag; default 0).
    #[arg(long, value_parser = duration_arg, default_value = "0s")]
    pub shutdown_delay_duration: Duration,
}

/// Flags of the in-memory store.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Samples kept per node and container (ring depth); 20 keeps 5 minutes at 15s.
    #[arg(long, default_value_t = 20)]
    pub history_depth: usize,
    /// Events kept per kind for watch resume and consistent continue tokens (the replay log).
    #[arg(long, default_value_t = 100_000)]
    pub watch_history: usize,
    /// Commits a watcher may fall behind before it is ended with 410 Expired.
    #[arg(long, default_value_t = 1024)]
    pub watch_buffer: usize,
    /// Concurrent watches allowed; more are answered 429 with Retry-After.
    #[arg(long, default_value_t = 10_000)]
    pub max_watches: usize,
    /// Seconds a watch without timeoutSeconds lasts, times a random factor in [1, 2) (Go's flag).
    #[arg(long, default_value_t = 1800)]
    pub min_request_timeout: u64,
    /// Period of watch BOOKMARK events.
    #[arg(long, value_parser = duration_arg, default_value = "1m")]
    pub watch_bookmark_interval: Duration,
}

impl ServerArgs {
    /// Checks the rules metrics-server enforces, returning the first violation.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = &self.kubelet;
        if k.metric_resolution < Duration::from_secs(10) {
            return Err(ConfigError::ResolutionTooShort(k.metric_resolution));
        }
        if k.kubelet_request_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if k.metric_resolution * 9 / 10 < k.kubelet_request_timeout {
            return Err(ConfigError::ResolutionNotAboveTimeout);
        }
        if k.kubelet_insecure_tls && k.kubelet_certificate_authority.is_some() {
            return Err(ConfigError::CaWithInsecure);
        }
        if k.kubelet_client_certificate.is_some() != k.kubelet_client_key.is_some() {
            return Err(ConfigError::HalfClientCert);
        }
        if self.serving.tls_cert_file.is_some() != self.serving.tls_private_key_file.is_some() {
            return Err(ConfigError::HalfServingCert);
        }
        if self.storage.history_depth < 2 {
            return Err(ConfigError::HistoryTooShallow);
        }
        self.address_types()?;
        if !self.cluster.node_selector.is_empty() {
            crate::api::selector::LabelSelector::parse(&self.cluster.node_selector).map_err(
                |e| ConfigError::NodeSelector {
                    selector: self.cluster.node_selector.clone(),
                    reason: e.to_string(),
                },
            )?;
        }
        self.auth.validate()?;
        Ok(())
    }

    /// The parsed address-type priority.
    pub fn address_types(&self) -> Result<Vec<AddressType>, ConfigError> {
        self.kubelet
            .kubelet_preferred_address_types
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| AddressType::parse(s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ServerArgs {
        let mut v = vec!["metrics-apiserver"];
        v.extend_from_slice(extra);
        ServerArgs::try_parse_from(v).expect("flags parse")
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "15", "s", "1x", "-1s", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn defaults_are_valid_and_match_metrics_server_manifests() {
        let a = args(&[]);
        assert_eq!(a.kubelet.metric_resolution, Duration::from_secs(15));
        assert_eq!(a.kubelet.kubelet_request_timeout, Duration::from_secs(10));
        assert_eq!(a.serving.secure_port, 10250);
        assert_eq!(a.kubelet.kubelet_port, 10250);
        assert_eq!(
            a.address_types().unwrap(),
            vec![
                AddressType::Hostname,
                AddressType::InternalDns,
                AddressType::InternalIp,
                AddressType::ExternalDns,
                AddressType::ExternalIp
            ]
        );
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn resolution_rules_follow_metrics_server() {
        let short = args(&["--metric-resolution=9s"]);
        assert!(matches!(
            short.validate(),
            Err(ConfigError::ResolutionTooShort(_))
        ));
        let ok = args(&["--metric-resolution=10s", "--kubelet-request-timeout=9s"]);
        assert_eq!(ok.validate(), Ok(()));
        let equal = args(&["--metric-resolution=10s", "--kubelet-request-timeout=10s"]);
        assert_eq!(
            equal.validate(),
            Err(ConfigError::ResolutionNotAboveTimeout)
        );
        let zero = args(&["--kubelet-request-timeout=0"]);
        assert_eq!(zero.validate(), Err(ConfigError::ZeroTimeout));
    }

    #[test]
    fn tls_flag_pairs_are_checked() {
        let ca_insecure = args(&[
            "--kubelet-insecure-tls",
            "--kubelet-certificate-authority=/x",
        ]);
        assert_eq!(ca_insecure.validate(), Err(ConfigError::CaWithInsecure));
        let half = args(&["--kubelet-client-certificate=/x"]);
        assert_eq!(half.validate(), Err(ConfigError::HalfClientCert));
        let half_serving = args(&["--tls-cert-file=/x"]);
        assert_eq!(half_serving.validate(), Err(ConfigError::HalfServingCert));
        let bad_type = args(&["--kubelet-preferred-address-types=InternalIP,Bogus"]);
        assert_eq!(
            bad_type.validate(),
            Err(ConfigError::AddressType("Bogus".into()))
        );
    }
}
