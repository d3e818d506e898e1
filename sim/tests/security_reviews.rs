//! Review caching and failure: each cache holds an answer for its TTL (counted on the fake
//! apiserver), and a kube-apiserver that never answers makes requests fail closed in time.

mod security_common;

use std::time::{Duration, Instant};

use metrics_apiserver_sim::apiserver::SimIdentity;
use security_common::*;

const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cache_honours_its_ttl() {
    let env = start("ttl").await;
    let args = args(
        &env,
        &[
            "--authentication-token-webhook-cache-ttl=3s",
            "--authorization-webhook-cache-authorized-ttl=3s",
            "--authorization-webhook-cache-unauthorized-ttl=1500ms",
        ],
    );
    let auth = env.sim.auth.clone();
    for (token, user) in [("alice-token", "alice"), ("bob-token", "bob")] {
        auth.add_token(
            token,
            SimIdentity {
                name: user.into(),
                groups: vec![],
            },
        );
    }
    auth.allow("alice", "list", "nodes");
    with_server(args, async {
        wait_up(&env).await;
        let http = client(&env, None);
        let url = format!("{}{NODES}", env.sim.server_url);
        let counts = || (auth.token_reviews(), auth.access_reviews());
        let call = |token: &'static str| {
            let http = http.clone();
            let url = url.clone();
            async move {
                let bearer = format!("Bearer {token}");
                get(&http, &url, &[("Authorization", &bearer)]).await.0
            }
        };

        // Allowed: one TokenReview and one SubjectAccessReview for many requests.
        let start = counts();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(call("alice-token").await, 200);
        }
        assert!(
            t0.elapsed() < Duration::from_millis(2500),
            "test too slow to check a 3s TTL"
        );
        assert_eq!(
            counts(),
            (start.0 + 1, start.1 + 1),
            "cached within the TTL"
        );

        // Denied (no opinion): cached for the shorter unauthorized TTL.
        let t1 = Instant::now();
        for _ in 0..5 {
            assert_eq!(call("bob-token").await, 403);
        }
        assert!(t1.elapsed() < Duration::from_millis(1200));
        assert_eq!(counts(), (start.0 + 2, start.1 + 2));
        tokio::time::sleep(Duration::from_millis(1600).saturating_sub(t1.elapsed())).await;
        assert_eq!(call("bob-token").await, 403);
        assert_eq!(
            counts(),
            (start.0 + 2, start.1 + 3),
            "denial re-reviewed after 1.5s; bob's token still cached (3s)"
        );

        // Unknown tokens are cached too (Go caches failures for the same TTL).
        for _ in 0..3 {
            assert_eq!(call("mallory-token").await, 401);
        }
        assert_eq!(counts().0, start.0 + 3);

        // Past 3s, alice's token and allowed SAR are both reviewed again.
        tokio::time::sleep(Duration::from_millis(3100).saturating_sub(t0.elapsed())).await;
        assert_eq!(call("alice-token").await, 200);
        assert_eq!(counts().0, start.0 + 4);
        assert_eq!(counts().1, start.1 + 4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_that_never_answer_fail_closed_in_time() {
    let env = start("hang").await;
    let args = args(&env, &["--delegated-auth-timeout=1s"]);
    env.sim.auth.add_token(
        "alice-token",
        SimIdentity {
            name: "alice".into(),
            groups: vec![],
        },
    );
    with_server(args, async {
        wait_up(&env).await;
        env.sim.auth.set_hang(true);
        let http = client(&env, None);
        let url = format!("{}{NODES}", env.sim.server_url);

        // The TokenReview hangs: 401 after the bound, not a hung request.
        let t = Instant::now();
        let (code, _) = get(&http, &url, &[("Authorization", "Bearer alice-token")]).await;
        let took = t.elapsed();
        assert_eq!(code, 401);
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );

        // The SubjectAccessReview hangs (front proxy, no token review): 500 in Go's words.
        let proxy = client(&env, Some(&front_proxy_leaf(&env)));
        let t = Instant::now();
        let resp = proxy
            .get(format!("{url}?limit=5"))
            .header("X-Remote-User", "alice")
            .send()
            .await
            .unwrap();
        let took = t.elapsed();
        assert_eq!(resp.status().as_u16(), 500);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            resp.text().await.unwrap(),
            "Internal Server Error: \"/apis/metrics.k8s.io/v1beta1/nodes?limit=5\": SubjectAccessReview did not answer within 1s\n"
        );
        assert!(took < Duration::from_secs(3), "{took:?}");

        // Always-allowed paths need no review and stay reachable.
        let t = Instant::now();
        let (code, _) = get(&http, &format!("{}/healthz", env.sim.server_url), &[]).await;
        assert_eq!(code, 200);
        assert!(t.elapsed() < Duration::from_millis(500));

        // Once kube-apiserver answers again, so do we (failures were not cached).
        env.sim.auth.set_hang(false);
        env.sim.auth.allow("alice", "list", "nodes");
        let (code, body) = get(&http, &url, &[("Authorization", "Bearer alice-token")]).await;
        assert_eq!(code, 200, "{body}");
    })
    .await;
}
