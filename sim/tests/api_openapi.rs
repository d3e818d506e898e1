//! OpenAPI through the simulated cluster's aggregator: `kubectl explain podmetrics` and
//! `kubectl explain nodemetrics.usage` (OpenAPI v3, both versions), the v2 document, and the
//! caching kube-openapi's handlers do (ETag, 304, `?hash=` immutability and redirect).

mod common;

use std::process::Command;
use std::time::Duration;

use common::Cluster;
use serde_json::Value;

fn explain(kubeconfig: &str, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("explain")
        .args(args)
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl explain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_and_openapi_caching() {
    let c = Cluster::start("api-openapi", 1, 1, &[]).await;
    c.wait_for_pods(1, Duration::from_secs(40)).await;
    let kc = c.kubeconfig();

    let pods = explain(&kc, &["podmetrics"]);
    assert!(pods.contains("GROUP:      metrics.k8s.io"), "{pods}");
    assert!(pods.contains("KIND:       PodMetrics"), "{pods}");
    assert!(pods.contains("VERSION:    v1beta1"), "{pods}");
    assert!(
        pods.contains("PodMetrics sets resource usage metrics of a pod."),
        "{pods}"
    );
    assert!(
        pods.contains("containers\t<[]ContainerMetrics> -required-"),
        "{pods}"
    );
    let usage = explain(&kc, &["nodemetrics.usage"]);
    assert!(
        usage.contains("FIELD: usage <map[string]Quantity>"),
        "{usage}"
    );
    assert!(
        usage.contains("The memory usage is the memory working set."),
        "{usage}"
    );
    let v1 = explain(
        &kc,
        &["podmetrics.containers", "--api-version=metrics.k8s.io/v1"],
    );
    assert!(v1.contains("VERSION:    v1\n"), "{v1}");
    assert!(
        v1.contains("Container name corresponding to the one from pod.spec.containers."),
        "{v1}"
    );

    let http = c.http();
    let root: Value = http
        .get(c.via_proxy("/openapi/v3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = root["paths"]["apis/metrics.k8s.io/v1beta1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http.get(c.via_proxy(&url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, immutable");
    assert!(r.headers().contains_key("expires"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", url.rsplit_once("hash=").unwrap().1));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.0");
    let r = http
        .get(c.direct("/openapi/v3/apis/metrics.k8s.io/v1beta1"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let no_redirects = {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&c.sim.ca_file).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap()
    };
    let r = no_redirects
        .get(c.direct("/openapi/v3/apis/metrics.k8s.io/v1?hash=OLD"))
        .bearer_auth(c.sim.control.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    let loc = r.headers()["location"].to_str().unwrap();
    assert_eq!(
        loc,
        root["paths"]["apis/metrics.k8s.io/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
    );

    let r = http.get(c.via_proxy("/openapi/v2")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let v2: Value = r.json().await.unwrap();
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(
        v2["definitions"]["io.k8s.metrics.pkg.apis.metrics.v1.NodeMetrics"]["x-kubernetes-group-version-kind"]
            [0]["version"],
        "v1"
    );
    let r = http
        .get(c.via_proxy("/openapi/v2"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    c.shutdown().await;
}
