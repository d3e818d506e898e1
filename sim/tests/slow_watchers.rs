//! Isolation: watchers that never read are found and ended, their state freed, while another
//! watcher keeps receiving and the server's memory stays flat. A process of its own, so that
//! resident memory measures only this test.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Cluster, rss_bytes};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PODS: &str = "/apis/metrics.k8s.io/v1beta1/pods";

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
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as usize)
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
