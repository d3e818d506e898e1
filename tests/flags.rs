//! The server binary refuses invalid flag combinations at start, with one clear message and a
//! non-zero exit before any listener opens, and accepts metrics-server's flags.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_metrics-apiserver"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn invalid_combinations_fail_at_start_with_one_message() {
    // A port nothing else uses: were a listener opened, the process would keep running.
    let port = "--secure-port=1";
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--kubelet-certificate-authority=/x",
                "--kubelet-insecure-tls",
            ],
            "cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls",
        ),
        (
            &["--metric-resolution=5s"],
            "metric-resolution should be a time duration at least 10s",
        ),
        (
            &["--metric-resolution=10s", "--kubelet-request-timeout=10s"],
            "metric-resolution should be larger than kubelet-request-timeout",
        ),
        (
            &["--tls-cert-file=/x.crt"],
            "need both --tls-cert-file and --tls-private-key-file, or neither",
        ),
        (
            &["--kubelet-client-certificate=/x.crt"],
            "need both --kubelet-client-certificate and --kubelet-client-key, or neither",
        ),
        (&["--node-selector=a b"], "invalid --node-selector \"a b\""),
    ];
    for (args, message) in cases {
        let mut all = vec![port];
        all.extend_from_slice(args);
        let (code, _, err) = run(&all);
        assert_ne!(code, 0, "{args:?} must fail");
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("Error")).count(),
            1,
            "one message: {err}"
        );
    }
}

#[test]
fn unknown_flags_are_errors_and_version_prints() {
    let (code, _, err) = run(&["--no-such-flag"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn metrics_server_flags_parse_with_go_syntax_and_last_value_wins() {
    use clap::Parser;
    use metrics_apiserver::config::ServerArgs;
    let args = ServerArgs::try_parse_from([
        "metrics-apiserver",
        // metrics-server's stock manifest arguments
        "--cert-dir=/tmp",
        "--secure-port=10250",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
        // generic and logging flags seen in real deployments
        "--v=2",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "--requestheader-allowed-names=front-proxy-client",
        "--profiling=false",
        "--feature-gates=APIListChunking=true",
        "--audit-log-path=-",
        "--kubelet-insecure-tls=true",
        "--metric-resolution=30s",
    ])
    .unwrap();
    assert_eq!(
        args.kubelet.metric_resolution,
        std::time::Duration::from_secs(30)
    );
    assert!(args.kubelet.kubelet_insecure_tls);
    assert!(args.kubelet.kubelet_use_node_status_port);
    assert_eq!(args.logging.verbosity, 2);
    let ignored: Vec<&str> = args.compat.given().into_iter().map(|(n, _)| n).collect();
    assert_eq!(ignored, ["feature-gates", "audit-log-path", "profiling"]);
    args.validate().unwrap();
}

/// The README's flag reference names every flag the server accepts, effective or not, so that an
/// operator can look up any argument of an existing metrics-server manifest.
#[test]
fn readme_documents_every_accepted_flag() {
    use clap::CommandFactory;
    let readme = include_str!("../README.md");
    let start = readme.find("\n## Flags").expect("a Flags section");
    let end = readme[start + 1..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 1 + e);
    let section = &readme[start..end];
    let cmd = metrics_apiserver::config::ServerArgs::command();
    let missing: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !matches!(*l, "help" | "version"))
        .filter(|l| !section.contains(&format!("`--{l}`")))
        .map(|l| format!("--{l}"))
        .collect();
    assert!(
        missing.is_empty(),
        "flags missing from the README: {missing:?}"
    );
    assert!(section.contains("`--version`"));
}
