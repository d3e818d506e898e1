//! metrics-server's flags that have no effect here, accepted so that an existing manifest starts
//! this server unchanged: each one given is logged once at start, and nothing else happens.
//!
//! Flags that do have an effect live with the stage they configure; a flag metrics-server does
//! not have is still an error.

/// Declares the accepted flags. Each takes a value (`--f=v` or `--f v`) or, like Go's boolean
/// flags, none (`--f` alone reads as `true`).
macro_rules! compat_flags {
    ($( $field:ident = $name:literal, $why:literal; )*) => {
        /// Flags of metrics-server 0.8/0.9 (its own, the generic apiserver's, audit, features and
        /// logging) that this server accepts without acting on them.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct CompatArgs {
            $(
                #[doc = $why]
                #[arg(long = $name, hide = true, num_args = 0..=1, default_missing_value = "true")]
                pub $field: Option<String>,
            )*
        }

        impl CompatArgs {
            /// The flags that were given, each with why it has no effect here.
            pub fn given(&self) -> Vec<(&'static str, &'static str)> {
                let mut out = Vec::new();
                $( if self.$field.is_some() { out.push(($name, $why)); } )*
                out
            }

            /// Every flag name accepted here, for tests and docs.
            pub fn names() -> &'static [&'static str] {
                &[$($name),*]
            }

        }
    };
}

compat_flags! {
    deprecated_kubelet_completely_insecure = "deprecated-kubelet-completely-insecure",
        "plain-HTTP kubelets are not supported: kubelet traffic is always TLS";
    advertise_address = "advertise-address", "no effect: the Service addresses this server";
    cors_allowed_origins = "cors-allowed-origins", "no effect: no browser clients";
    emulated_version = "emulated-version", "no effect: one API behaviour per release";
    emulation_forward_compatible = "emulation-forward-compatible", "no effect: no emulation";
    external_hostname = "external-hostname", "no effect: no generated URLs";
    feature_gates = "feature-gates", "no effect: no feature gates";
    goaway_chance = "goaway-chance", "no effect: HTTP/2 GOAWAY is not sent at random";
    livez_grace_period = "livez-grace-period", "no effect: /livez is live from the start";
    max_mutating_requests_inflight = "max-mutating-requests-inflight",
        "no effect: the API has no mutating requests";
    max_requests_inflight = "max-requests-inflight",
        "no effect: requests are bounded by --workers; watches by --max-watches";
    min_compatibility_version = "min-compatibility-version", "no effect: no emulation";
    request_timeout = "request-timeout", "no effect: lists are answered from memory";
    runtime_config_emulation_forward_compatible = "runtime-config-emulation-forward-compatible",
        "no effect: no emulation";
    shutdown_send_retry_after = "shutdown-send-retry-after",
        "no effect: new connections are refused after --shutdown-delay-duration";
    shutdown_watch_termination_grace_period = "shutdown-watch-termination-grace-period",
        "no effect: watch streams end at once on shutdown";
    storage_initialization_timeout = "storage-initialization-timeout",
        "no effect: there is no storage to initialize";
    strict_transport_security_directives = "strict-transport-security-directives",
        "no effect: no browser clients";
    disable_http2_serving = "disable-http2-serving", "no effect: HTTP/2 is always offered";
    http2_max_streams_per_connection = "http2-max-streams-per-connection",
        "no effect: the HTTP/2 stream limit is the server library's";
    permit_address_sharing = "permit-address-sharing", "no effect: the port is not shared";
    permit_port_sharing = "permit-port-sharing", "no effect: the port is not shared";
    tls_curve_preferences = "tls-curve-preferences", "no effect: rustls' key exchange groups are used";
    tls_sni_cert_key = "tls-sni-cert-key", "no effect: one serving certificate";
    audit_log_batch_buffer_size = "audit-log-batch-buffer-size", "no effect: no audit log";
    audit_log_batch_max_size = "audit-log-batch-max-size", "no effect: no audit log";
    audit_log_batch_max_wait = "audit-log-batch-max-wait", "no effect: no audit log";
    audit_log_batch_throttle_burst = "audit-log-batch-throttle-burst", "no effect: no audit log";
    audit_log_batch_throttle_enable = "audit-log-batch-throttle-enable", "no effect: no audit log";
    audit_log_batch_throttle_qps = "audit-log-batch-throttle-qps", "no effect: no audit log";
    audit_log_compress = "audit-log-compress", "no effect: no audit log";
    audit_log_format = "audit-log-format", "no effect: no audit log";
    audit_log_maxage = "audit-log-maxage", "no effect: no audit log";
    audit_log_maxbackup = "audit-log-maxbackup", "no effect: no audit log";
    audit_log_maxsize = "audit-log-maxsize", "no effect: no audit log";
    audit_log_mode = "audit-log-mode", "no effect: no audit log";
    audit_log_path = "audit-log-path", "no effect: no audit log";
    audit_log_truncate_enabled = "audit-log-truncate-enabled", "no effect: no audit log";
    audit_log_truncate_max_batch_size = "audit-log-truncate-max-batch-size", "no effect: no audit log";
    audit_log_truncate_max_event_size = "audit-log-truncate-max-event-size", "no effect: no audit log";
    audit_log_version = "audit-log-version", "no effect: no audit log";
    audit_policy_file = "audit-policy-file", "no effect: no audit log";
    audit_webhook_batch_buffer_size = "audit-webhook-batch-buffer-size", "no effect: no audit webhook";
    audit_webhook_batch_max_size = "audit-webhook-batch-max-size", "no effect: no audit webhook";
    audit_webhook_batch_max_wait = "audit-webhook-batch-max-wait", "no effect: no audit webhook";
    audit_webhook_batch_throttle_burst = "audit-webhook-batch-throttle-burst", "no effect: no audit webhook";
    audit_webhook_batch_throttle_enable = "audit-webhook-batch-throttle-enable", "no effect: no audit webhook";
    audit_webhook_batch_throttle_qps = "audit-webhook-batch-throttle-qps", "no effect: no audit webhook";
    audit_webhook_config_file = "audit-webhook-config-file", "no effect: no audit webhook";
    audit_webhook_initial_backoff = "audit-webhook-initial-backoff", "no effect: no audit webhook";
    audit_webhook_mode = "audit-webhook-mode", "no effect: no audit webhook";
    audit_webhook_truncate_enabled = "audit-webhook-truncate-enabled", "no effect: no audit webhook";
    audit_webhook_truncate_max_batch_size = "audit-webhook-truncate-max-batch-size", "no effect: no audit webhook";
    audit_webhook_truncate_max_event_size = "audit-webhook-truncate-max-event-size", "no effect: no audit webhook";
    audit_webhook_version = "audit-webhook-version", "no effect: no audit webhook";
    contention_profiling = "contention-profiling", "no effect: no profiling endpoints";
    debug_socket_path = "debug-socket-path", "no effect: no debug socket";
    enable_priority_and_fairness = "enable-priority-and-fairness", "no effect: no priority and fairness";
    profiling = "profiling", "no effect: no profiling endpoints (metrics-server ignores it too)";
    log_flush_frequency = "log-flush-frequency", "no effect: logs are written unbuffered";
    log_json_info_buffer_size = "log-json-info-buffer-size", "no effect: logs are written unbuffered";
    log_json_split_stream = "log-json-split-stream", "no effect: every log line goes to stderr";
    log_text_info_buffer_size = "log-text-info-buffer-size", "no effect: logs are written unbuffered";
    log_text_split_stream = "log-text-split-stream", "no effect: every log line goes to stderr";
    vmodule = "vmodule", "no effect: use RUST_LOG for per-module levels";
}

impl CompatArgs {
    /// Logs, once each, the flags given that have no effect here.
    pub fn log_ignored(&self) {
        for (name, why) in self.given() {
            tracing::info!(flag = %format!("--{name}"), "flag accepted for compatibility with metrics-server; {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        compat: CompatArgs,
    }

    #[test]
    fn values_and_go_booleans_parse_and_are_reported() {
        let c = Cli::try_parse_from([
            "x",
            "--feature-gates=A=true,B=false",
            "--audit-log-path",
            "-",
            "--profiling",
            "--enable-priority-and-fairness=false",
        ])
        .unwrap()
        .compat;
        assert_eq!(c.feature_gates.as_deref(), Some("A=true,B=false"));
        assert_eq!(c.audit_log_path.as_deref(), Some("-"));
        assert_eq!(c.profiling.as_deref(), Some("true"));
        assert_eq!(c.enable_priority_and_fairness.as_deref(), Some("false"));
        let given: Vec<&str> = c.given().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            given,
            [
                "feature-gates",
                "audit-log-path",
                "enable-priority-and-fairness",
                "profiling"
            ]
        );
        assert!(Cli::try_parse_from(["x", "--no-such-flag"]).is_err());
        assert_eq!(CompatArgs::names().len(), 65);
    }
}
