//! Consistency and isolation at a few thousand pods: paged lists while scrapes commit, with our
//! client and the Python client, expired continue tokens, and watchers that never read.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Cluster, rss_bytes};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/metrics_client.py"
        ))
        .args([
            "page",
            "--kubeconfig",
            &c.kubeconfig(),
            "--limit",
            "100",
            "--pause",
            "0.4",
        ])
        .output()
        .expect("python3 on PATH");
    assert!(
        out.status.success(),
        "python client failed (is `kubernetes` installed? .ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py_pages: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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

/// `metrics_apiserver_watches` from the server's self-metrics.
async fn watches(c: &Cluster) -> usize {
    let body = c
        .http()
        .get(c.direct("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("metrics_apiserver_watches "))
        .and_then(|v| v.trim().parse().ok())
        .expect("metrics_apiserver_watches in /metrics")
}

/// A TLS connection that asks for a watch and then never reads, with a tiny receive buffer so the
/// server's writes block within a few kilobytes.
async fn stuck_watch(c: &Cluster) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&c.sim.ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr: std::net::SocketAddr = c
        .sim
        .server_url
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(addr).await.unwrap();
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let req = format!(
        "GET {PODS}?watch=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n\r\n",
        c.sim.control.token()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_that_never_read_are_cut_off_and_cost_bounded_memory() {
    let c = Cluster::start(
        "stuck",
        200,
        25,
        &["--watch-buffer", "64", "--watch-history", "1000"],
    )
    .await;
    let all = c.pod_names();
    c.wait_for_pods(all.len(), Duration::from_secs(60)).await;
    let http = c.http();
    let healthy = Counter::open(&http, &c.via_proxy(&format!("{PODS}?watch=1"))).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while healthy.count(b"\"type\":\"ADDED\"") < all.len() {
        assert!(Instant::now() < deadline, "the initial events");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let start = rss_bytes();
    let mut stuck = Vec::new();
    for _ in 0..20 {
        stuck.push(stuck_watch(&c).await);
    }
    let modified_before = healthy.count(b"\"type\":\"MODIFIED\"");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        watches(&c).await,
        1 + stuck.len(),
        "every watch counts while it reads"
    );
    // Once the kernel's send buffers (megabytes each) are full, the server finds the stuck
    // watchers and drops their state while their clients still hold the sockets.
    let opened = Instant::now();
    while watches(&c).await > 1 {
        assert!(
            opened.elapsed() < Duration::from_secs(90),
            "the stuck watches were never ended"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "stuck watchers ended {:?} after they stopped reading",
        opened.elapsed()
    );
    // From here on, memory must not grow with time, as it would if their events were buffered.
    let before = rss_bytes();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = rss_bytes();
    let modified = healthy.count(b"\"type\":\"MODIFIED\"") - modified_before;
    assert!(
        modified >= 2 * all.len(),
        "the reading watcher kept receiving: {modified} MODIFIED events"
    );
    assert_eq!(
        healthy.count(b"\"type\":\"ERROR\""),
        0,
        "the reading watcher was not cut off"
    );
    let growth = after.saturating_sub(before);
    let total = after.saturating_sub(start);
    assert!(
        total < 24 << 20,
        "20 stuck watchers cost {total} bytes: their state was not dropped"
    );
    eprintln!(
        "resident memory: {start} at start, {before} once the stuck watchers were ended, {after} 20 s later"
    );
    assert!(
        growth < 16 << 20,
        "memory grew by {growth} bytes in 20 s while 20 watchers did not read"
    );

    // When they read at last: what the socket held, then a 410 ERROR, then the end of the body.
    for mut s in stuck {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n = tokio::time::timeout_at(deadline.into(), s.read(&mut chunk))
                .await
                .expect("the cut-off stream ends")
                .unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if n == 0 || buf.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.contains(r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version"#)
                && text.contains(r#""reason":"Expired","code":410}}"#),
            "a stuck watcher ends with 410 Expired"
        );
    }
    healthy.task.abort();
    c.shutdown().await;
}

/// A watch read in the background that keeps only counts of event types, so the test's own
/// memory stays flat while it measures the server's.
struct Counter {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Counter {
    const TYPES: [&[u8]; 5] = [
        b"\"type\":\"ADDED\"",
        b"\"type\":\"MODIFIED\"",
        b"\"type\":\"DELETED\"",
        b"\"type\":\"BOOKMARK\"",
        b"\"type\":\"ERROR\"",
    ];

    async fn open(http: &reqwest::Client, url: &str) -> Self {
        let mut resp = http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let counts: Arc<std::sync::Mutex<std::collections::HashMap<Vec<u8>, usize>>> =
            Arc::default();
        let sink = counts.clone();
        let task = tokio::spawn(async move {
            let mut line = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                for b in chunk.iter() {
                    if *b == b'\n' {
                        if let Some(t) = Self::TYPES
                            .iter()
                            .find(|t| line.starts_with(&[b"{"[0]]) && line[1..].starts_with(t))
                        {
                            *sink.lock().unwrap().entry(t.to_vec()).or_default() += 1;
                        }
                        line.clear();
                    } else {
                        line.push(*b);
                    }
                }
            }
        });
        Counter { counts, task }
    }

    fn count(&self, t: &[u8]) -> usize {
        self.counts.lock().unwrap().get(t).copied().unwrap_or(0)
    }
}
