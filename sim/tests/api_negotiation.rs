//! The API surface through the simulated cluster's aggregation proxy and directly: both versions on
//! every path, every Accept form (Content-Type and body), every negotiation and option error (status
//! and the whole Status body), HEAD, Table and PartialObjectMetadata, aggregated discovery with
//! ETag and 304, and one-row Tables on a watch.

mod common;

use std::time::Duration;

use common::{Cluster, WatchReader};
use serde_json::{Value, json};

const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn get(
    http: &reqwest::Client,
    url: &str,
    accept: Option<&str>,
) -> (u16, String, reqwest::header::HeaderMap, Vec<u8>) {
    let mut r = http.get(url);
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, headers, resp.bytes().await.unwrap().to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// Drops `apiVersion` of a document and its items so two versions' answers can be compared.
fn without_api_version(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("apiVersion");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_versions_every_accept_form_and_every_error() {
    let c = Cluster::start("api-neg", 2, 3, &[]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(40)).await;
    let http = c.http();
    let (ns, name) = all[0].split_once('/').unwrap();

    // --- v1 and v1beta1: same store, same objects, only apiVersion differs. ---
    for path in ["/nodes", "/pods", &format!("/namespaces/{ns}/pods")] {
        let (s1, ct1, _, b1) = get(
            &http,
            &c.via_proxy(&format!("/apis/metrics.k8s.io/v1{path}?resourceVersion=0")),
            None,
        )
        .await;
        let v1 = json_of(&b1);
        let rv = v1["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let (s2, ct2, _, b2) = get(
            &http,
            &c.via_proxy(&format!(
                "/apis/metrics.k8s.io/v1beta1{path}?resourceVersion={rv}&resourceVersionMatch=Exact"
            )),
            None,
        )
        .await;
        let v1beta1 = json_of(&b2);
        assert_eq!((s1, s2), (200, 200), "{path}");
        assert_eq!(
            (ct1.as_str(), ct2.as_str()),
            ("application/json", "application/json")
        );
        assert_eq!(v1["apiVersion"], "metrics.k8s.io/v1");
        assert_eq!(v1beta1["apiVersion"], "metrics.k8s.io/v1beta1");
        let exact = get(
            &http,
            &c.via_proxy(&format!(
                "/apis/metrics.k8s.io/v1{path}?resourceVersion={rv}&resourceVersionMatch=Exact"
            )),
            None,
        )
        .await;
        assert_eq!(
            without_api_version(json_of(&exact.3)),
            without_api_version(v1beta1.clone()),
            "{path}"
        );
        assert!(!v1["items"].as_array().unwrap().is_empty());
    }
    let (s, _, _, b) = get(
        &http,
        &c.via_proxy(&format!(
            "/apis/metrics.k8s.io/v1/namespaces/{ns}/pods/{name}"
        )),
        None,
    )
    .await;
    let pod_v1 = json_of(&b);
    assert_eq!(s, 200);
    assert_eq!(pod_v1["kind"], "PodMetrics");
    assert_eq!(pod_v1["apiVersion"], "metrics.k8s.io/v1");
    assert_eq!(pod_v1["metadata"]["name"], name);

    // Legacy discovery of v1 through the proxy, and the group listing both, preferring v1beta1.
    let (s, _, _, b) = get(&http, &c.via_proxy("/apis/metrics.k8s.io/v1"), None).await;
    assert_eq!(s, 200);
    assert_eq!(
        json_of(&b),
        json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1","resources":[
            {"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list","watch"]},
            {"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list","watch"]}]})
    );
    let (_, _, _, b) = get(&http, &c.direct("/apis/metrics.k8s.io"), None).await;
    assert_eq!(
        json_of(&b),
        json!({"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io",
            "versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"},{"groupVersion":"metrics.k8s.io/v1","version":"v1"}],
            "preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}})
    );

    // --- Accept forms on a GET: Content-Type and body. ---
    let node_url = |v: &str| c.via_proxy(&format!("/apis/metrics.k8s.io/{v}/nodes/sim-node-0"));
    for accept in [
        None,
        Some("*/*"),
        Some("application/*"),
        Some("application/json"),
        Some("text/html;q=0.9, application/json;q=0.5"),
        Some("application/vnd.kubernetes.protobuf;q=0.5, application/json"),
    ] {
        let (s, ct, _, b) = get(&http, &node_url("v1beta1"), accept).await;
        assert_eq!((s, ct.as_str()), (200, "application/json"), "{accept:?}");
        let v = json_of(&b);
        assert_eq!(v["kind"], "NodeMetrics", "{accept:?}");
        assert_eq!(v["metadata"]["name"], "sim-node-0");
    }
    let (s, ct, _, b) = get(&http, &node_url("v1"), Some("application/yaml")).await;
    let yaml = String::from_utf8(b).unwrap();
    assert_eq!((s, ct.as_str()), (200, "application/yaml"));
    assert!(
        yaml.starts_with("apiVersion: metrics.k8s.io/v1\nkind: NodeMetrics\nmetadata:\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("\n  name: sim-node-0\n") && yaml.contains("\n  resourceVersion: \""),
        "{yaml}"
    );
    assert!(
        yaml.contains("\nusage:\n  cpu: ") && yaml.contains("\nwindow: "),
        "{yaml}"
    );

    // Table of one object and of a list.
    let (s, ct, _, b) = get(&http, &node_url("v1"), Some(TABLE_ACCEPT)).await;
    let t = json_of(&b);
    assert_eq!((s, ct.as_str()), (200, "application/json"));
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        t["columnDefinitions"],
        json!([
            {"name":"Name","type":"string","format":"name","description":"Name of the resource","priority":0},
            {"name":"cpu","type":"string","format":"quantity","description":"","priority":0},
            {"name":"memory","type":"string","format":"quantity","description":"","priority":0},
            {"name":"Window","type":"string","format":"duration","description":"","priority":0}])
    );
    let (_, _, _, nb) = get(&http, &node_url("v1"), None).await;
    let node = json_of(&nb);
    assert_eq!(
        t["rows"],
        json!([{"cells":["sim-node-0", node["usage"]["cpu"], node["usage"]["memory"], node["window"]],
            "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":node["metadata"]}}])
    );
    assert_eq!(
        t["metadata"]["resourceVersion"],
        node["metadata"]["resourceVersion"]
    );
    let v1beta1_table = "application/json;as=Table;v=v1beta1;g=meta.k8s.io";
    let (_, _, _, b) = get(&http, &node_url("v1beta1"), Some(v1beta1_table)).await;
    let t = json_of(&b);
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
    // A pod's row sums its containers.
    let pods_url = c.via_proxy(&format!("/apis/metrics.k8s.io/v1/namespaces/{ns}/pods"));
    let (_, _, _, b) = get(
        &http,
        &format!("{pods_url}?includeObject=Object"),
        Some(TABLE_ACCEPT),
    )
    .await;
    let t = json_of(&b);
    let rows = t["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(r["object"]["kind"], "PodMetrics");
        assert_eq!(r["object"]["apiVersion"], "metrics.k8s.io/v1");
        let containers = r["object"]["containers"].as_array().unwrap();
        let mem: u64 = containers
            .iter()
            .map(|c| {
                metrics_apiserver::api::quantity::parse_quantity(
                    c["usage"]["memory"].as_str().unwrap(),
                )
                .unwrap() as u64
            })
            .sum();
        assert_eq!(
            metrics_apiserver::api::quantity::parse_quantity(r["cells"][2].as_str().unwrap())
                .unwrap() as u64,
            mem
        );
        assert_eq!(r["cells"][0], r["object"]["metadata"]["name"]);
        assert_eq!(r["cells"][3], r["object"]["window"]);
    }
    let (_, _, _, b) = get(
        &http,
        &format!("{pods_url}?includeObject=None"),
        Some(TABLE_ACCEPT),
    )
    .await;
    assert!(
        json_of(&b)["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["object"].is_null())
    );
    // An empty list is an empty Table with the fixed columns.
    let (s, _, _, b) = get(
        &http,
        &c.via_proxy("/apis/metrics.k8s.io/v1/pods?labelSelector=nothing%3Dhere"),
        Some(TABLE_ACCEPT),
    )
    .await;
    let t = json_of(&b);
    assert_eq!(s, 200);
    assert_eq!(t["rows"], json!([]));
    assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 4);

    // PartialObjectMetadata and PartialObjectMetadataList.
    let (s, ct, _, b) = get(
        &http,
        &node_url("v1"),
        Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
    )
    .await;
    assert_eq!((s, ct.as_str()), (200, "application/json"));
    assert_eq!(
        json_of(&b),
        json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":node["metadata"]})
    );
    let (s, _, _, b) = get(
        &http,
        &c.via_proxy("/apis/metrics.k8s.io/v1beta1/nodes"),
        Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
    )
    .await;
    let l = json_of(&b);
    assert_eq!(s, 200);
    assert_eq!(l["kind"], "PartialObjectMetadataList");
    assert_eq!(l["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    assert_eq!(l["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(l["items"][0]["metadata"]["name"], "sim-node-0");
    assert!(l["items"][0].get("usage").is_none());

    // --- Errors: status and the whole Status body. ---
    let status = |code: u16, reason: &str, message: &str| json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":message,"reason":reason,"code":code});
    const OBJECTS: &str = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";
    const DOCUMENTS: &str =
        "only the following media types are accepted: application/json, application/yaml";
    for (url, accept, message) in [
        (node_url("v1"), "text/html", OBJECTS),
        (node_url("v1beta1"), "application/xml", OBJECTS),
        (
            c.via_proxy("/apis/metrics.k8s.io/v1/pods"),
            "application/json;q=0",
            OBJECTS,
        ),
        (
            c.via_proxy("/apis/metrics.k8s.io/v1"),
            "application/json;as=Table;g=meta.k8s.io;v=v1",
            DOCUMENTS,
        ),
        (
            c.via_proxy("/apis/metrics.k8s.io/v1beta1"),
            "application/vnd.kubernetes.protobuf",
            DOCUMENTS,
        ),
    ] {
        let (s, ct, _, b) = get(&http, &url, Some(accept)).await;
        assert_eq!(
            (s, ct.as_str()),
            (406, "application/json"),
            "{url} {accept}"
        );
        assert_eq!(
            json_of(&b),
            status(406, "NotAcceptable", message),
            "{url} {accept}"
        );
    }
    // YAML on a watch is a 406; Go's `ErrorNegotiated` writes that Status in YAML, which
    // the error's own negotiation (over every serializer) accepts.
    let (s, ct, _, b) = get(
        &http,
        &c.via_proxy("/apis/metrics.k8s.io/v1/nodes?watch=true"),
        Some("application/yaml"),
    )
    .await;
    assert_eq!((s, ct.as_str()), (406, "application/yaml"));
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "apiVersion: v1\ncode: 406\nkind: Status\nmessage: 'only the following media types are accepted: application/json, application/vnd.kubernetes.protobuf'\nmetadata: {}\nreason: NotAcceptable\nstatus: Failure\n"
    );
    let (s, _, _, b) = get(
        &http,
        &format!("{pods_url}?includeObject=Everything"),
        Some(TABLE_ACCEPT),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        json_of(&b),
        status(
            400,
            "BadRequest",
            "Unable to convert to Table as requested: includeObject: Invalid value: \"Everything\": must be 'Metadata', 'Object', 'None', or empty"
        )
    );
    // includeObject is a Table option: JSON answers ignore it, as Go's do.
    let (s, _, _, _) = get(&http, &format!("{pods_url}?includeObject=Everything"), None).await;
    assert_eq!(s, 200);
    for (path, message, details) in [
        (
            "/apis/metrics.k8s.io/v1/nodes/nope",
            "node \"nope\" not found",
            json!({"name":"nope","kind":"node"}),
        ),
        (
            &*format!("/apis/metrics.k8s.io/v1/namespaces/{ns}/pods/nope"),
            "pods \"nope\" not found",
            json!({"name":"nope","kind":"pods"}),
        ),
    ] {
        let (s, _, _, b) = get(&http, &c.via_proxy(path), None).await;
        assert_eq!(s, 404);
        let mut want = status(404, "NotFound", message);
        want["details"] = details;
        assert_eq!(json_of(&b), want, "{path}");
    }
    // An error in YAML where YAML was asked, as kube-apiserver writes it (keys sorted).
    let (s, ct, _, b) = get(
        &http,
        &c.via_proxy("/apis/metrics.k8s.io/v1/nodes/nope"),
        Some("application/yaml"),
    )
    .await;
    assert_eq!((s, ct.as_str()), (404, "application/yaml"));
    assert_eq!(
        String::from_utf8(b).unwrap(),
        "apiVersion: v1\ncode: 404\ndetails:\n  kind: node\n  name: nope\nkind: Status\nmessage: node \"nope\" not found\nmetadata: {}\nreason: NotFound\nstatus: Failure\n"
    );
    // A Table request's error is a plain JSON Status.
    let (s, ct, _, b) = get(
        &http,
        &c.via_proxy("/apis/metrics.k8s.io/v1/nodes/nope"),
        Some(TABLE_ACCEPT),
    )
    .await;
    assert_eq!((s, ct.as_str()), (404, "application/json"));
    assert_eq!(json_of(&b)["reason"], "NotFound");

    // --- HEAD on every GET path: the GET's status and Content-Type, no body. ---
    for path in [
        "/apis",
        "/apis/metrics.k8s.io",
        "/apis/metrics.k8s.io/v1",
        "/apis/metrics.k8s.io/v1beta1",
        "/apis/metrics.k8s.io/v1/nodes",
        "/apis/metrics.k8s.io/v1/nodes/sim-node-0",
        "/apis/metrics.k8s.io/v1beta1/pods",
        &format!("/apis/metrics.k8s.io/v1/namespaces/{ns}/pods"),
        &format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{name}"),
        "/version",
    ] {
        let r = http.head(c.direct(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "HEAD {path}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "HEAD {path}"
        );
        assert!(r.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
    let r = http
        .head(c.direct("/apis/metrics.k8s.io/v1/nodes/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // --- Aggregated discovery: v2 and v2beta1, ETag, 304; legacy otherwise. ---
    let agg =
        |v: &str| format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
    let kubectl_accept = format!("{},{},application/json", agg("v2"), agg("v2beta1"));
    for (accept, version) in [
        (kubectl_accept.as_str(), "v2"),
        (&*agg("v2beta1"), "v2beta1"),
    ] {
        let (s, ct, h, b) = get(&http, &c.direct("/apis"), Some(accept)).await;
        assert_eq!(s, 200);
        assert_eq!(ct, agg(version));
        assert_eq!(h["vary"], "Accept");
        assert_eq!(h["cache-control"], "public");
        let etag = h["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() == 130, "{etag}");
        let doc = json_of(&b);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], format!("apidiscovery.k8s.io/{version}"));
        let versions: Vec<&str> = doc["items"][0]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["v1beta1", "v1"]);
        assert_eq!(
            doc["items"][0]["versions"][1]["resources"][1],
            json!({"resource":"pods","responseKind":{"group":"","version":"","kind":"PodMetrics"},"scope":"Namespaced","singularResource":"","verbs":["get","list","watch"]})
        );
        let r = http
            .get(c.direct("/apis"))
            .header("Accept", accept)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
        assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
        assert!(r.bytes().await.unwrap().is_empty());
        let r = http
            .get(c.direct("/apis"))
            .header("Accept", accept)
            .header("If-None-Match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (s, ct, _, b) = get(&http, &c.direct("/apis"), Some("application/json")).await;
    assert_eq!((s, ct.as_str()), (200, "application/json"));
    assert_eq!(json_of(&b)["kind"], "APIGroupList");
    assert_eq!(json_of(&b)["groups"][0]["versions"][1]["version"], "v1");

    // --- Watch with the Table Accept: one-row Tables, for `kubectl get -w`. ---
    let w = {
        let resp = http
            .get(c.via_proxy("/apis/metrics.k8s.io/v1/nodes?watch=true&resourceVersion=0"))
            .header("Accept", TABLE_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        drop(resp);
        WatchReader::open(
            &reqwest::Client::builder()
                .default_headers({
                    let mut h = reqwest::header::HeaderMap::new();
                    h.insert("accept", TABLE_ACCEPT.parse().unwrap());
                    h.insert(
                        "authorization",
                        format!("Bearer {}", c.sim.control.token()).parse().unwrap(),
                    );
                    h
                })
                .tls_backend_preconfigured(tls_for(&c))
                .build()
                .unwrap(),
            &c.via_proxy("/apis/metrics.k8s.io/v1/nodes?watch=true&resourceVersion=0"),
        )
        .await
    };
    w.wait_until(Duration::from_secs(30), "two ADDED and a MODIFIED", |ev| {
        ev.len() >= 3
    })
    .await;
    for e in w.snapshot() {
        let t = &e["object"];
        assert_eq!(t["kind"], "Table", "{e}");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["rows"].as_array().unwrap().len(), 1, "{e}");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(
            t["metadata"]["resourceVersion"],
            t["rows"][0]["object"]["metadata"]["resourceVersion"]
        );
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 4);
    }
    let types: Vec<String> = w
        .snapshot()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&types[..2], ["ADDED", "ADDED"]);
    assert_eq!(types[2], "MODIFIED");
    w.stop();
    c.shutdown().await;
}

fn tls_for(c: &Cluster) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&c.sim.ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}
