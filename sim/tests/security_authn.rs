//! Authentication and authorization over real TLS, against our server running inside the
//! simulated cluster: the front proxy is trusted only with its certificate, tokens are reviewed,
//! SubjectAccessReviews decide, and Status bodies are Go's.

mod security_common;

use metrics_apiserver_sim::apiserver::SimIdentity;
use metrics_apiserver_sim::certs::SimCa;
use security_common::*;
use serde_json::Value;

const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

fn anonymous_forbidden_nodes() -> &'static str {
    r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes.metrics.k8s.io is forbidden: User \"system:anonymous\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope","reason":"Forbidden","details":{"group":"metrics.k8s.io","kind":"nodes"},"code":403}"#
}

const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_proxy_headers_are_trusted_only_with_the_proxy_certificate() {
    let env = start("proxy").await;
    let args = args(&env, &[]);
    with_server(args, async {
        wait_up(&env).await;
        let url = format!("{}{NODES}", env.sim.server_url);
        let claim = [
            ("X-Remote-User", "sim-admin"),
            ("X-Remote-Group", "system:masters"),
        ];

        // Through the aggregation layer (the fake apiserver's proxy, with its certificate).
        let kube = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(env.sim.ca.cert_pem.as_bytes()).unwrap(),
            ])
            .build()
            .unwrap();
        let token = format!("Bearer {}", env.sim.control.token());
        let (code, body) = get(
            &kube,
            &format!("{}{NODES}", env.sim.apiserver_url),
            &[("Authorization", &token)],
        )
        .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["kind"],
            "NodeMetricsList"
        );

        // Directly with a front-proxy certificate: the headers are the user.
        let proxy = client(&env, Some(&front_proxy_leaf(&env)));
        let (code, body) = get(&proxy, &url, &[("X-Remote-User", "sim-admin")]).await;
        assert_eq!(code, 200, "{body}");
        // ... and without a user header the proxy certificate alone authenticates nobody
        // (it is not signed by the client CA), so: 401.
        let (code, body) = get(&proxy, &url, &[]).await;
        assert_eq!((code, body.as_str()), (401, UNAUTHORIZED));

        // The same headers without any certificate: anonymous, never the claimed user.
        let (code, body) = get(&client(&env, None), &url, &claim).await;
        assert_eq!((code, body.as_str()), (403, anonymous_forbidden_nodes()));

        // A certificate from the request-header CA whose CN is not allowed: 401.
        let evil = env
            .sim
            .front_proxy_ca
            .client_leaf("evil-proxy", None)
            .unwrap();
        let (code, body) = get(&client(&env, Some(&evil)), &url, &claim).await;
        assert_eq!((code, body.as_str()), (401, UNAUTHORIZED));

        // The allowed CN, signed by another CA (same CA name, even): 401.
        let rogue = SimCa::generate_named("front-proxy-ca").unwrap();
        let forged = rogue.client_leaf("front-proxy-client", None).unwrap();
        let (code, body) = get(&client(&env, Some(&forged)), &url, &claim).await;
        assert_eq!((code, body.as_str()), (401, UNAUTHORIZED));

        // A valid client certificate (cluster CA) is its own user; the headers still count for
        // nothing, so the claimed system:masters does not help.
        let user_cert = env.sim.ca.client_leaf("front-proxy-client", None).unwrap();
        let (code, body) = get(&client(&env, Some(&user_cert)), &url, &claim).await;
        assert_eq!(code, 403, "{body}");
        assert!(
            body.contains(r#"User \"front-proxy-client\" cannot list"#),
            "{body}"
        );

        // A client certificate user with a grant: CN is the user, O a group.
        env.sim.auth.allow("carol", "list", "nodes");
        let carol = env.sim.ca.client_leaf("carol", Some("viewers")).unwrap();
        let (code, body) = get(&client(&env, Some(&carol)), &url, &[]).await;
        assert_eq!(code, 200, "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_reviewed_and_access_is_decided_by_subject_access_reviews() {
    let env = start("tokens").await;
    let args = args(&env, &[]);
    env.sim.auth.add_token(
        "alice-token",
        SimIdentity {
            name: "alice".into(),
            groups: vec!["dev".into()],
        },
    );
    env.sim.auth.allow("alice", "list", "nodes");
    env.sim.auth.add_token(
        "bob-token",
        SimIdentity {
            name: "bob".into(),
            groups: vec![],
        },
    );
    env.sim.auth.deny("bob", "bob is on leave");
    with_server(args, async {
        wait_up(&env).await;
        let http = client(&env, None);
        let base = &env.sim.server_url;
        let bearer = |t: &str| format!("Bearer {t}");

        let (code, body) = get(&http, &format!("{base}{NODES}"), &[("Authorization", &bearer("alice-token"))]).await;
        assert_eq!(code, 200, "{body}");
        // The same user, a verb the policy does not grant: 403 in Go's words.
        let (code, body) = get(
            &http,
            &format!("{base}/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"),
            &[("Authorization", &bearer("alice-token"))],
        )
        .await;
        assert_eq!(
            (code, body.as_str()),
            (
                403,
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods.metrics.k8s.io is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"default\"","reason":"Forbidden","details":{"group":"metrics.k8s.io","kind":"pods"},"code":403}"#
            )
        );
        // A named get on v1 is authorized with the name.
        let (code, body) = get(
            &http,
            &format!("{base}/apis/metrics.k8s.io/v1/nodes/sim-node-0"),
            &[("Authorization", &bearer("alice-token"))],
        )
        .await;
        assert_eq!(code, 403, "{body}");
        assert!(body.contains(r#""details":{"name":"sim-node-0","group":"metrics.k8s.io","kind":"nodes"}"#), "{body}");

        // Unknown token: 401.
        let (code, body) = get(&http, &format!("{base}{NODES}"), &[("Authorization", &bearer("nope"))]).await;
        assert_eq!((code, body.as_str()), (401, UNAUTHORIZED));

        // Explicitly denied: 403 with the authorizer's reason appended.
        let (code, body) = get(&http, &format!("{base}{NODES}"), &[("Authorization", &bearer("bob-token"))]).await;
        assert_eq!(code, 403);
        assert!(body.contains(r#"at the cluster scope: bob is on leave""#), "{body}");

        // Health without credentials; /metrics is not public.
        // (/readyz may still say "not ready": what matters is that the handler answered.)
        for path in ["/healthz", "/livez", "/readyz"] {
            let (code, body) = get(&http, &format!("{base}{path}"), &[]).await;
            assert!(
                code == 200 || (path == "/readyz" && body.contains("readyz check failed")),
                "{path}: {code} {body}"
            );
        }
        let (code, body) = get(&http, &format!("{base}/metrics"), &[]).await;
        assert_eq!(
            (code, body.as_str()),
            (
                403,
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User \"system:anonymous\" cannot get path \"/metrics\"","reason":"Forbidden","details":{},"code":403}"#
            )
        );
        // Discovery needs an authenticated user, as RBAC's system:discovery grants it.
        let discovery = format!("{base}/apis/metrics.k8s.io/v1beta1");
        let (code, body) = get(&http, &discovery, &[]).await;
        assert_eq!(code, 403, "{body}");
        let (code, _) = get(&http, &discovery, &[("Authorization", &bearer("alice-token"))]).await;
        assert_eq!(code, 200);
    })
    .await;
}
