//! Consistency at a few thousand pods: paged lists while scrapes commit, with our client and the
//! Python client, and expired (410 with a token for the remainder) or garbage continue tokens.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Cluster, python_client};
use serde_json::Value;

const PODS: &str = "/apis/metrics.k8s.io/v1beta1/pods";

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a numeric resourceVersion")
}

fn item_key(i: &Value) -> String {
    format!(
        "{}/{}",
        i["metadata"]["namespace"].as_str().unwrap(),
        i["metadata"]["name"].as_str().unwrap()
    )
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_lists_are_one_consistent_snapshot_while_scrapes_commit() {
    let c = Cluster::start("paging", 100, 30, &["--watch-history", "500"]).await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(60)).await;
    let http = c.http();

    // Our own pager through the aggregation layer, pausing so that scrapes commit between pages.
    let mut items: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    let mut list_rv = None;
    let mut pages = 0;
    let started = Instant::now();
    loop {
        let url = match &token {
            None => c.via_proxy(&format!("{PODS}?limit=100")),
            Some(t) => c.via_proxy(&format!("{PODS}?limit=100&continue={t}")),
        };
        let (code, page) = get(&http, &url).await;
        assert_eq!(code, 200, "{page}");
        let rv = rv_of(&page);
        assert_eq!(
            *list_rv.get_or_insert(rv),
            rv,
            "every page reads the first page's snapshot"
        );
        let got = page["items"].as_array().unwrap();
        items.extend(got.iter().cloned());
        pages += 1;
        match page["metadata"]["continue"].as_str() {
            Some(t) => {
                assert_eq!(
                    page["metadata"]["remainingItemCount"].as_u64(),
                    Some((all.len() - items.len()) as u64)
                );
                token = Some(t.to_string());
            }
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let list_rv = list_rv.unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(10),
        "paging spanned a scrape round"
    );
    assert_eq!(pages, all.len().div_ceil(100));
    let (_, now) = get(&http, &c.via_proxy(&format!("{PODS}?limit=1"))).await;
    assert!(rv_of(&now) > list_rv, "scrapes committed while we paged");
    let keys: Vec<String> = items.iter().map(item_key).collect();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "no pod twice");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, all, "every pod, and in (namespace, name) order");
    assert_eq!(keys, sorted);
    assert!(
        items.iter().all(|i| rv_of(i) <= list_rv),
        "no item newer than the list"
    );

    // Values as of the first page: the pages equal an exact list at that resourceVersion.
    let (code, exact) = get(
        &http,
        &c.via_proxy(&format!(
            "{PODS}?resourceVersion={list_rv}&resourceVersionMatch=Exact"
        )),
    )
    .await;
    assert_eq!(code, 200, "{exact}");
    assert_eq!(exact["items"].as_array().unwrap(), &items);

    // The Python client pages the same list the same way.
    let py_pages = python_client(&[
        "page",
        "--kubeconfig",
        &c.kubeconfig(),
        "--limit",
        "100",
        "--pause",
        "0.4",
    ]);
    let py_rv = &py_pages[0]["rv"];
    assert!(py_pages.iter().all(|p| &p["rv"] == py_rv));
    let py_keys: Vec<String> = py_pages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .map(|i| format!("{}/{}", i[0].as_str().unwrap(), i[1].as_str().unwrap()))
        .collect();
    assert_eq!(
        py_keys, all,
        "the Python pager sees every pod once, in order"
    );

    // A continue token whose snapshot was evicted and whose events left the replay log: 410.
    let (_, first) = get(&http, &c.via_proxy(&format!("{PODS}?limit=10"))).await;
    let stale = first["metadata"]["continue"].as_str().unwrap().to_string();
    // Twenty newer paged lists, each at its own resourceVersion, push its snapshot out; a scrape
    // round pushes its events out of the 500-event log.
    let mut seen = HashSet::from([rv_of(&first)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 21 || Instant::now() < deadline - Duration::from_secs(49) {
        let (_, p) = get(&http, &c.via_proxy(&format!("{PODS}?limit=10"))).await;
        seen.insert(rv_of(&p));
        assert!(Instant::now() < deadline, "resourceVersions stopped moving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, body) = get(
        &http,
        &c.via_proxy(&format!("{PODS}?limit=10&continue={stale}")),
    )
    .await;
    assert_eq!(code, 410, "{body}");
    assert_eq!(body["reason"], "Expired");
    assert!(
        body["message"].as_str().unwrap().starts_with(
            "The provided continue parameter is too old to display a consistent list result."
        ),
        "{body}"
    );
    // As kube-apiserver's, the 410 carries a token that lists the remainder (every pod after the
    // first page's last) from the current state, whose later pages then read one snapshot.
    let fresh = body["metadata"]["continue"]
        .as_str()
        .expect("a continue token in the 410")
        .to_string();
    let first_keys: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(item_key)
        .collect();
    assert_eq!(first_keys, all[..10]);
    let mut rest: Vec<String> = Vec::new();
    let mut rest_rv = None;
    let mut token = fresh;
    loop {
        let url = c.via_proxy(&format!("{PODS}?limit=100&continue={token}"));
        let (code, page) = get(&http, &url).await;
        assert_eq!(code, 200, "{page}");
        let rv = rv_of(&page);
        assert!(
            rv > rv_of(&first),
            "the remainder is read from the current state"
        );
        assert_eq!(*rest_rv.get_or_insert(rv), rv, "then from one snapshot");
        rest.extend(page["items"].as_array().unwrap().iter().map(item_key));
        match page["metadata"]["continue"].as_str() {
            Some(t) => {
                assert_eq!(
                    page["metadata"]["remainingItemCount"].as_u64(),
                    Some((all.len() - 10 - rest.len()) as u64)
                );
                token = t.to_string();
            }
            None => break,
        }
    }
    assert_eq!(
        rest,
        all[10..],
        "every pod after the first page, once, in order"
    );
    let (code, body) = get(
        &http,
        &c.via_proxy(&format!("{PODS}?limit=10&continue=garbage")),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid continue token")
    );
    c.shutdown().await;
}
