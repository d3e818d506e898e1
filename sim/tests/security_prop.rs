//! Property: the authentication decision never yields a certificate-based identity without a
//! chain that the right CA verifies, whatever headers and certificates a client sends (random
//! bytes, mutated certificates, certificates from look-alike CAs, wrong key usage, a CA
//! certificate as a leaf, the real CA smuggled in as an intermediate).

use std::sync::{Arc, OnceLock};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use metrics_apiserver::auth::authn::{
    Authenticator, AuthnConfig, AuthnOutcome, DynamicAuthn, authenticate_certificates,
};
use metrics_apiserver::auth::identity::{ANONYMOUS, Method};
use metrics_apiserver::auth::requestheader::RequestHeaderConfig;
use metrics_apiserver::auth::tls::RequestClientCert;
use metrics_apiserver::auth::x509::CaPool;
use metrics_apiserver_sim::certs::SimCa;
use proptest::prelude::*;
use rustls::pki_types::CertificateDer;

/// Index of the one certificate that may authenticate through the request headers.
const PROXY: usize = 0;
/// Index of the one certificate that may authenticate as a client-certificate user.
const CAROL: usize = 3;

struct World {
    pool: Vec<CertificateDer<'static>>,
    rh_pem: String,
    client_pem: String,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rh = SimCa::generate_named("front-proxy-ca").unwrap();
        let client = SimCa::generate_named("cluster-ca").unwrap();
        let rogue_rh = SimCa::generate_named("front-proxy-ca").unwrap();
        let rogue_client = SimCa::generate_named("cluster-ca").unwrap();
        let pool = vec![
            rh.client_leaf("front-proxy-client", None).unwrap().cert_der, // PROXY
            rh.client_leaf("evil", None).unwrap().cert_der,
            rogue_rh
                .client_leaf("front-proxy-client", None)
                .unwrap()
                .cert_der,
            client.client_leaf("carol", Some("dev")).unwrap().cert_der, // CAROL
            rogue_client
                .client_leaf("carol", Some("system:masters"))
                .unwrap()
                .cert_der,
            // Right CA and CN, but a serving certificate (no clientAuth usage).
            rh.serving_leaf("front-proxy-client", &["127.0.0.1"])
                .unwrap()
                .cert_der,
            rh.cert_der.clone(),
            rogue_rh.cert_der.clone(),
            client.cert_der.clone(),
            client
                .serving_leaf("carol", &["127.0.0.1"])
                .unwrap()
                .cert_der,
        ];
        World {
            pool,
            rh_pem: rh.cert_pem.clone(),
            client_pem: client.cert_pem.clone(),
        }
    })
}

fn config() -> AuthnConfig {
    let w = world();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    AuthnConfig {
        requestheader: Some(RequestHeaderConfig {
            ca: CaPool::from_pem(w.rh_pem.as_bytes(), &provider).unwrap(),
            allowed_names: vec!["front-proxy-client".into()],
            username_headers: vec!["X-Remote-User".into()],
            uid_headers: vec!["X-Remote-Uid".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_prefixes: vec!["X-Remote-Extra-".into()],
        }),
        client_ca: Some(CaPool::from_pem(w.client_pem.as_bytes(), &provider).unwrap()),
    }
}

/// One certificate slot of a chain.
#[derive(Debug, Clone)]
enum Slot {
    Pool(usize),
    Mutated(usize, usize, u8),
    Random(Vec<u8>),
}

fn slot() -> impl Strategy<Value = Slot> {
    let n = 10usize;
    prop_oneof![
        4 => (0..n).prop_map(Slot::Pool),
        3 => (0..n, any::<usize>(), 1u8..=255).prop_map(|(i, p, x)| Slot::Mutated(i, p, x)),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Slot::Random),
    ]
}

fn materialize(slot: &Slot) -> CertificateDer<'static> {
    let pool = &world().pool;
    match slot {
        Slot::Pool(i) => pool[*i].clone(),
        Slot::Mutated(i, pos, x) => {
            let mut der = pool[*i].to_vec();
            let p = pos % der.len();
            der[p] ^= x;
            CertificateDer::from(der)
        }
        Slot::Random(bytes) => CertificateDer::from(bytes.clone()),
    }
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("x-remote-user".to_string()),
        Just("X-Remote-User".to_string()),
        Just("x-remote-group".to_string()),
        Just("x-remote-uid".to_string()),
        Just("x-remote-extra-scopes".to_string()),
        Just("authorization".to_string()),
        Just("impersonate-user".to_string()),
        "[a-z][a-z0-9-]{0,12}",
    ];
    let value = prop_oneof![
        Just("system:admin".to_string()),
        Just("system:masters".to_string()),
        Just("Bearer stolen".to_string()),
        Just(String::new()),
        "[ -~]{0,24}",
    ];
    proptest::collection::vec((name, value), 0..8)
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(k, v);
        }
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_identity_without_a_valid_chain(
        chain in proptest::collection::vec(slot(), 0..4),
        pairs in headers(),
    ) {
        let config = config();
        let certs: Vec<CertificateDer<'static>> = chain.iter().map(materialize).collect();
        let hm = header_map(&pairs);
        let pool = &world().pool;
        let out = authenticate_certificates(&config, &certs, &hm);
        match &out.user {
            None => {}
            Some((user, Method::RequestHeader)) => {
                prop_assert_eq!(&certs[0], &pool[PROXY], "headers trusted without the proxy certificate");
                let claimed = hm.get("x-remote-user").map(|v| v.to_str().unwrap().to_string());
                prop_assert_eq!(Some(user.name.clone()), claimed);
            }
            Some((user, Method::ClientCert)) => {
                prop_assert_eq!(&certs[0], &pool[CAROL], "client certificate user without the client CA");
                prop_assert_eq!(user.name.as_str(), "carol");
                prop_assert_eq!(&user.groups, &vec!["dev".to_string()]);
            }
            Some((_, other)) => prop_assert!(false, "certificates produced {:?}", other),
        }
        if certs.is_empty() {
            prop_assert!(out.user.is_none() && out.errors.is_empty());
        }

        // The whole chain without a token authenticator: a certificate identity as above,
        // anonymous, or 401; never the claimed user otherwise.
        let authn = Authenticator {
            config: Arc::new(DynamicAuthn::new(config, Arc::new(RequestClientCert::new(Arc::new(rustls::crypto::ring::default_provider()))))),
            tokens: None,
        };
        match futures::executor::block_on(authn.authenticate(&certs, &hm)) {
            AuthnOutcome::User(user, Method::Anonymous) => prop_assert_eq!(user.name.as_str(), ANONYMOUS),
            AuthnOutcome::User(_, Method::RequestHeader) => prop_assert_eq!(&certs[0], &pool[PROXY]),
            AuthnOutcome::User(_, Method::ClientCert) => prop_assert_eq!(&certs[0], &pool[CAROL]),
            AuthnOutcome::User(_, Method::Token) => prop_assert!(false, "no token authenticator"),
            AuthnOutcome::Unauthorized(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn the_proxy_certificate_is_accepted_with_any_intermediates(
        extra in proptest::collection::vec(slot(), 0..3),
        user in "[a-z:]{1,16}",
    ) {
        let config = config();
        let mut certs = vec![world().pool[PROXY].clone()];
        certs.extend(extra.iter().map(materialize));
        let hm = header_map(&[("X-Remote-User".into(), user.clone())]);
        let out = authenticate_certificates(&config, &certs, &hm);
        let got = out.user.map(|(u, m)| (u.name, m));
        prop_assert_eq!(got, Some((user, Method::RequestHeader)));
    }
}

/// Cost of the certificate decision for the front proxy's chain (a figure, not an assertion):
/// `cargo test --test security_prop -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_front_proxy_decision() {
    let config = config();
    let certs = vec![world().pool[PROXY].clone()];
    let hm = header_map(&[
        (
            "X-Remote-User".into(),
            "system:serviceaccount:kube-system:hpa".into(),
        ),
        ("X-Remote-Group".into(), "system:serviceaccounts".into()),
    ]);
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        assert!(
            authenticate_certificates(&config, &certs, &hm)
                .user
                .is_some()
        );
    }
    println!("front-proxy decision: {:?} per request", t.elapsed() / n);
}
