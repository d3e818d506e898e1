//! Three readiness and restart defects stay fixed, and tolerant input is served: a kubelet without node
//! series does not hold readiness back, zero readings (node and container) are served, a scrape
//! without start times is no restart, and the server reads pods as metadata of Running pods only
//! (checked in the fake kube-apiserver's request log), which the fake answers as kube-apiserver.

mod common;
mod restart_common;

use std::time::Duration;

use common::{Cluster, WatchReader};
use metrics_apiserver_sim::KubeletMode;
use metrics_apiserver_sim::model::SimPod;
use restart_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_settles_without_node_series_and_zero_readings_are_served() {
    let c = cluster("rs-ready", 3, 2, &[], |control| {
        control.set_kubelet_mode(1, KubeletMode::NoNodeSeries);
        control.set_kubelet_mode(2, KubeletMode::ZeroNode);
        let idle = SimPod::new_running(
            "default",
            "idle-sidecar",
            &[("app", "idle")],
            &[("app", 50_000_000, 20 << 20), ("idle", 0, 0)],
            99,
            now_ms() - 3_600_000,
        );
        control.add_pod(0, idle).unwrap();
    })
    .await;
    eventually(Duration::from_secs(30), "/readyz 200", || async {
        (readyz(&c, "").await.0 == 200).then_some(())
    })
    .await;
    let (_, verbose) = readyz(&c, "?verbose").await;
    assert!(
        verbose.contains("[+]metric-storage-ready ok: 2 of 3 nodes served; missing: 1 kubelet gives no node sample"),
        "the named check says what is missing and why:\n{verbose}"
    );
    let items = nodes(&c).await;
    assert!(
        named(&items, "sim-node-1").is_none(),
        "no node series, nothing to serve"
    );
    let zero = named(&items, "sim-node-2").expect("a zero node reading is served");
    assert_eq!(zero["usage"]["cpu"], "0");
    assert_eq!(zero["usage"]["memory"], "0");
    // The virtual kubelet's pods are served from its container series.
    let node1_pods = &c.sim.scenario.nodes[1].pods;
    let served = eventually(Duration::from_secs(20), "pods of every node", || async {
        let p = pods(&c).await;
        (node1_pods.iter().all(|sp| named(&p, &sp.name).is_some())
            && named(&p, "idle-sidecar").is_some())
        .then_some(p)
    })
    .await;
    let idle = named(&served, "idle-sidecar").unwrap();
    let containers = idle["containers"].as_array().unwrap();
    assert_eq!(
        containers.len(),
        2,
        "the zero container does not hide its pod"
    );
    let zero_c = containers.iter().find(|x| x["name"] == "idle").unwrap();
    assert_eq!(zero_c["usage"]["cpu"], "0");
    assert_eq!(zero_c["usage"]["memory"], "0");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_without_start_times_are_no_restart() {
    let c = Cluster::start("rs-start", 1, 3, &[]).await;
    let want = c.pod_names().len();
    c.wait_for_pods(want, Duration::from_secs(30)).await;
    let watch = WatchReader::open(
        &c.http(),
        &c.direct("/apis/metrics.k8s.io/v1beta1/pods?watch=1"),
    )
    .await;
    // Two periods without start times, then two with them again.
    c.sim.control.set_kubelet_mode(0, KubeletMode::NoStartTimes);
    tokio::time::sleep(Duration::from_secs(21)).await;
    c.sim.control.set_kubelet_mode(0, KubeletMode::Normal);
    tokio::time::sleep(Duration::from_secs(21)).await;
    let events = watch.snapshot();
    let modified = events.iter().filter(|e| e["type"] == "MODIFIED").count();
    assert!(
        modified >= want * 3,
        "scrapes kept committing: {modified} MODIFIED"
    );
    let deleted: Vec<_> = events.iter().filter(|e| e["type"] == "DELETED").collect();
    assert!(deleted.is_empty(), "no pod disappeared: {deleted:?}");
    for e in events.iter().filter(|e| e["type"] == "MODIFIED") {
        let w = window_ms(e["object"]["window"].as_str().unwrap());
        assert!(
            w >= 5_000,
            "no history was dropped (a restart would give a fresh window): {e}"
        );
    }
    watch.stop();
    c.shutdown().await;
}

/// Whether an Accept header asks for `as` (and nothing else: every clause is a metadata clause).
fn metadata_only(accept: &str, kind: &str) -> bool {
    !accept.is_empty()
        && accept.split(',').all(|clause| {
            let params: Vec<&str> = clause.split(';').map(str::trim).collect();
            params.contains(&format!("as={kind}").as_str())
                && params.contains(&"g=meta.k8s.io")
                && params.contains(&"v=v1")
        })
}

/// Whether `path` reads Pods (a list, a get or a watch, in any namespace).
fn pod_path(path: &str) -> bool {
    let rest = path
        .strip_prefix("/api/v1/watch/")
        .or_else(|| path.strip_prefix("/api/v1/"))
        .unwrap_or("");
    let segs: Vec<&str> = rest.split('/').collect();
    matches!(
        segs.as_slice(),
        ["pods", ..] | ["namespaces", _, "pods", ..]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_read_as_metadata_of_running_pods_and_the_fake_answers_as_kube_apiserver() {
    let c = Cluster::start("rs-meta", 2, 2, &[]).await;
    // The server, watching metadata only, still serves every pod (bound through the kubelets).
    c.wait_for_pods(4, Duration::from_secs(30)).await;
    let log = &c.sim.api_requests;
    let requests = eventually(
        Duration::from_secs(20),
        "the pod list and watch",
        || async {
            let pods: Vec<_> = log
                .snapshot()
                .into_iter()
                .filter(|r| pod_path(&r.path))
                .collect();
            (pods.iter().any(|r| !r.is_watch()) && pods.iter().any(|r| r.is_watch()))
                .then_some(pods)
        },
    )
    .await;
    for r in &requests {
        assert_eq!(r.method, "GET", "{r:?}");
        assert_eq!(r.path, "/api/v1/pods", "every namespace at once: {r:?}");
        assert_eq!(
            r.param("fieldSelector").as_deref(),
            Some("status.phase=Running"),
            "Running pods only, from the watch cache: {r:?}"
        );
        let kind = if r.is_watch() {
            "PartialObjectMetadata"
        } else {
            "PartialObjectMetadataList"
        };
        assert!(
            metadata_only(&r.accept, kind),
            "metadata only ({kind}), never full Pod objects: {r:?}"
        );
    }

    // The fake answers those requests as kube-apiserver does.
    let http = c.http();
    let list_accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    let item_accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let running = "fieldSelector=status.phase%3DRunning";
    let list: serde_json::Value = http
        .get(c.via_proxy(&format!("/api/v1/pods?{running}")))
        .header("Accept", list_accept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert!(list["metadata"]["resourceVersion"].is_string());
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for i in items {
        assert_eq!(i["kind"], "PartialObjectMetadata", "{i}");
        assert_eq!(i["apiVersion"], "meta.k8s.io/v1", "{i}");
        assert!(i.get("spec").is_none() && i.get("status").is_none(), "{i}");
        assert!(i["metadata"]["labels"].is_object() && i["metadata"]["uid"].is_string());
    }
    let none: serde_json::Value = http
        .get(c.via_proxy("/api/v1/pods?fieldSelector=status.phase%21%3DRunning"))
        .header("Accept", list_accept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        none["items"].as_array().unwrap().len(),
        0,
        "every simulated pod is Running"
    );
    let watch = http
        .get(c.via_proxy(&format!(
            "/api/v1/pods?watch=true&{running}&timeoutSeconds=1"
        )))
        .header("Accept", item_accept)
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    let body = watch.text().await.unwrap();
    let events: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4, "one ADDED per Running pod: {body}");
    for e in &events {
        assert_eq!(e["type"], "ADDED");
        let o = &e["object"];
        assert_eq!(o["kind"], "PartialObjectMetadata", "{e}");
        assert_eq!(o["apiVersion"], "meta.k8s.io/v1", "{e}");
        assert!(o.get("spec").is_none() && o.get("status").is_none(), "{e}");
    }
    // The kind must fit the answer: kube-apiserver refuses the other one with 406.
    for (url, accept, message) in [
        (
            format!("/api/v1/pods?{running}"),
            item_accept,
            "you requested PartialObjectMetadata, but the requested object is a list (*v1.PodList)",
        ),
        (
            format!(
                "/api/v1/namespaces/{}",
                items[0]["metadata"]["namespace"].as_str().unwrap()
            ) + &format!("/pods/{}", items[0]["metadata"]["name"].as_str().unwrap()),
            list_accept,
            "you requested PartialObjectMetadataList, but the requested object is not a list (*v1.Pod)",
        ),
    ] {
        let r = http
            .get(c.via_proxy(&url))
            .header("Accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 406, "{url}");
        let status: serde_json::Value = r.json().await.unwrap();
        assert_eq!(status["reason"], "NotAcceptable");
        assert_eq!(status["message"], message);
    }
    c.shutdown().await;
}
