//! The three defects of issue 8 stay fixed, and tolerant input is served: a kubelet without node
//! series does not hold readiness back, zero readings (node and container) are served, a scrape
//! without start times is no restart, and the pod watch is metadata-only for Running pods.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_apiserver_answers_metadata_only_running_pod_lists_and_watches() {
    let c = Cluster::start("rs-meta", 2, 2, &[]).await;
    let accept =
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let http = c.http();
    let list: serde_json::Value = http
        .get(c.via_proxy("/api/v1/pods?fieldSelector=status.phase%3DRunning"))
        .header("Accept", accept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(
        items
            .iter()
            .all(|i| i.get("spec").is_none() && i["metadata"]["labels"].is_object())
    );
    let none: serde_json::Value = http
        .get(c.via_proxy("/api/v1/pods?fieldSelector=status.phase%21%3DRunning"))
        .header("Accept", accept)
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
    // The server, watching metadata only, still serves every pod (bound through the kubelets).
    c.wait_for_pods(4, Duration::from_secs(30)).await;
    c.shutdown().await;
}
