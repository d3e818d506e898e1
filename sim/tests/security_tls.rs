//! The listener's TLS: the CertificateRequest names both CAs (so Go clients present their
//! certificates), clients without certificates are admitted, a certificate rotated on disk is
//! served to the next connection, and `--tls-min-version`/`--tls-cipher-suites` are honoured.

mod security_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_apiserver_sim::certs::Leaf;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::sign::CertifiedKey;
use security_common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Records the acceptable issuers the server names, and presents `leaf` when given.
#[derive(Debug)]
struct Recorder {
    hints: Mutex<Vec<Vec<u8>>>,
    key: Option<Arc<CertifiedKey>>,
}

impl ResolvesClientCert for Recorder {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        *self.hints.lock().unwrap() = root_hint_subjects.iter().map(|s| s.to_vec()).collect();
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

struct Handshake {
    server_cert: CertificateDer<'static>,
    hints: Vec<Vec<u8>>,
    version: rustls::ProtocolVersion,
    suite: rustls::CipherSuite,
    alpn: Option<Vec<u8>>,
    status_line: String,
}

async fn handshake(
    env: &Env,
    port: u16,
    config: rustls::ClientConfig,
    leaf: Option<&Leaf>,
) -> Handshake {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder {
        hints: Mutex::new(Vec::new()),
        key: leaf.map(|l| {
            Arc::new(
                CertifiedKey::from_der(vec![l.cert_der.clone()], l.key_der(), &provider).unwrap(),
            )
        }),
    });
    let mut config = config;
    config.client_auth_cert_resolver = recorder.clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let _ = env;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf).await;
    let (_, conn) = tls.get_ref();
    let status_line = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Handshake {
        server_cert: conn.peer_certificates().unwrap()[0].clone().into_owned(),
        hints: recorder.hints.lock().unwrap().clone(),
        version: conn.protocol_version().unwrap(),
        suite: conn.negotiated_cipher_suite().unwrap().suite(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        status_line,
    }
}

fn client_config(
    env: &Env,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(env.sim.ca.cert_der.clone()).unwrap();
    rustls::ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn port(env: &Env) -> u16 {
    env.sim
        .server_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_names_both_cas_and_rotated_certificates_reach_new_connections() {
    let env = start("tls").await;
    // The simulator's serving certificate files (server.crt/server.key in its work directory)
    // are what the server was told to serve; the test rotates them.
    let first = env
        .sim
        .ca
        .serving_leaf("metrics-apiserver", &["127.0.0.1", "localhost"])
        .unwrap();
    first.write(&env.dir, "server").unwrap();
    let args = args(&env, &[]);
    with_server(args, async {
        wait_up(&env).await;
        let all = [&rustls::version::TLS13, &rustls::version::TLS12];
        let h = handshake(&env, port(&env), client_config(&env, &all), None).await;
        assert_eq!(h.server_cert, first.cert_der);
        assert!(
            h.status_line.starts_with("HTTP/1.1 200"),
            "{}",
            h.status_line
        );
        assert_eq!(h.alpn.as_deref(), Some(&b"http/1.1"[..]));
        // Both CAs are advertised (as DER subjects): the request-header CA and the client CA.
        let names: Vec<String> = h
            .hints
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect();
        assert_eq!(h.hints.len(), 2, "{names:?}");
        assert!(
            names.iter().any(|n| n.contains("front-proxy-ca")),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.contains("metrics-apiserver-sim-ca")),
            "{names:?}"
        );
        // A certificate the server cannot verify does not fail the handshake (Go's
        // RequestClientCert); the request is simply not authenticated by it.
        let stranger = metrics_apiserver_sim::certs::SimCa::generate_named("elsewhere")
            .unwrap()
            .client_leaf("x", None)
            .unwrap();
        let h = handshake(&env, port(&env), client_config(&env, &all), Some(&stranger)).await;
        assert!(
            h.status_line.starts_with("HTTP/1.1 401"),
            "{}",
            h.status_line
        );

        // Rotate: write a new pair over the files; a new connection gets it within seconds.
        let second = env
            .sim
            .ca
            .serving_leaf("metrics-apiserver", &["127.0.0.1", "localhost"])
            .unwrap();
        second.write(&env.dir, "server").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let h = handshake(&env, port(&env), client_config(&env, &all), None).await;
            if h.server_cert == second.cert_der {
                break;
            }
            assert_eq!(h.server_cert, first.cert_der);
            assert!(
                Instant::now() < deadline,
                "rotated certificate never served"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_version_and_cipher_suites_are_honoured() {
    let env = start("ciphers").await;
    let args = args(
        &env,
        &[
            "--tls-min-version=VersionTLS12",
            "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ],
    );
    with_server(args, async {
        wait_up(&env).await;
        let h = handshake(
            &env,
            port(&env),
            client_config(&env, &[&rustls::version::TLS12]),
            None,
        )
        .await;
        assert_eq!(h.version, rustls::ProtocolVersion::TLSv1_2);
        assert_eq!(
            h.suite,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        );
        let h = handshake(
            &env,
            port(&env),
            client_config(&env, &[&rustls::version::TLS13]),
            None,
        )
        .await;
        assert_eq!(
            h.version,
            rustls::ProtocolVersion::TLSv1_3,
            "TLS 1.3 suites are always on"
        );
    })
    .await;

    // A name rustls cannot honour stops the server at start-up, with the name in the error.
    let bad = security_common::args(&env, &["--tls-cipher-suites=TLS_RSA_WITH_3DES_EDE_CBC_SHA"]);
    let err = metrics_apiserver::server::run(bad, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_proxy_ca_rotated_in_the_configmap_is_followed() {
    let env = start("cmrotate").await;
    let args = args(&env, &[]);
    with_server(args, async {
        wait_up(&env).await;
        let url = format!("{}/apis/metrics.k8s.io/v1beta1/nodes", env.sim.server_url);
        let user = [("X-Remote-User", "sim-admin")];
        let old_proxy = client(&env, Some(&front_proxy_leaf(&env)));
        assert_eq!(get(&old_proxy, &url, &user).await.0, 200);

        // kube-apiserver rotates its front-proxy CA and rewrites the ConfigMap.
        let new_ca =
            metrics_apiserver_sim::certs::SimCa::generate_named("front-proxy-ca-2").unwrap();
        env.sim
            .auth
            .set_configmap("requestheader-client-ca-file", &new_ca.cert_pem);
        let new_leaf = new_ca.client_leaf("front-proxy-client", None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(25);
        loop {
            // A fresh client each time: a new connection, so the new issuer list is offered.
            let (code, _) = get(&client(&env, Some(&new_leaf)), &url, &user).await;
            if code == 200 {
                break;
            }
            assert_eq!(code, 401);
            assert!(
                Instant::now() < deadline,
                "new front-proxy CA never trusted"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The old proxy certificate no longer asserts users, and the handshake names the new CA.
        let (code, _) = get(&client(&env, Some(&front_proxy_leaf(&env))), &url, &user).await;
        assert_eq!(code, 401);
        let all = [&rustls::version::TLS13, &rustls::version::TLS12];
        let h = handshake(&env, port(&env), client_config(&env, &all), None).await;
        let names: Vec<String> = h
            .hints
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.contains("front-proxy-ca-2")),
            "{names:?}"
        );
    })
    .await;
}
