//! A simulated cluster with the real server running in-process, for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use metrics_apiserver::config::ServerArgs;
use metrics_apiserver::server;
use metrics_apiserver_sim::{self as sim, SimOptions, Simulation};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The simulated cluster and our server inside it.
pub struct Cluster {
    /// Fake kube-apiserver (with the aggregation proxy) and fake kubelets.
    pub sim: Simulation,
    /// The server's arguments, as the simulator would start it, plus the test's extras.
    pub args: Vec<String>,
    /// Work directory (certificates, kubeconfig).
    pub dir: PathBuf,
    server: Option<(
        oneshot::Sender<()>,
        std::thread::JoinHandle<anyhow::Result<()>>,
    )>,
}

impl Cluster {
    /// Starts a simulated cluster and the server with `extra` arguments.
    pub async fn start(name: &str, nodes: usize, pods_per_node: usize, extra: &[&str]) -> Self {
        let (sim, dir) = simulation(name, nodes, pods_per_node, 7).await;
        let mut args = sim.server_args.clone();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut c = Cluster {
            sim,
            args,
            dir,
            server: None,
        };
        c.start_server().await;
        c
    }

    /// Starts (or restarts) the server on its port.
    pub async fn start_server(&mut self) {
        let args = ServerArgs::try_parse_from(
            std::iter::once("metrics-apiserver".to_string()).chain(self.args.iter().cloned()),
        )
        .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        // The server's future is not Send (actix): it gets a thread and runtime of its own, as
        // it has in the binary.
        let task = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(server::run(args, async {
                    let _ = rx.await;
                }))
        });
        self.server = Some((tx, task));
    }

    /// Stops the server and waits until it has exited.
    pub async fn stop_server(&mut self) {
        if let Some((tx, task)) = self.server.take() {
            let _ = tx.send(());
            let joined = tokio::task::spawn_blocking(move || task.join());
            let _ = tokio::time::timeout(Duration::from_secs(15), joined).await;
        }
    }

    /// A client that trusts the simulator's CA and sends the kubeconfig's token.
    pub fn http(&self) -> reqwest::Client {
        token_client(&self.sim, None)
    }

    /// A client that trusts the simulator's CA and sends no credentials.
    pub fn anonymous_http(&self) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.sim.ca_file).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap()
    }

    /// `path` through the fake kube-apiserver (the aggregation layer), as clients reach us.
    pub fn via_proxy(&self, path: &str) -> String {
        format!("{}{path}", self.sim.apiserver_url)
    }

    /// `path` on our server directly.
    pub fn direct(&self, path: &str) -> String {
        format!("{}{path}", self.sim.server_url)
    }

    /// Names of every pod of the simulated workload, as `namespace/name`.
    pub fn pod_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sim
            .scenario
            .pods()
            .map(|(_, p)| format!("{}/{}", p.namespace, p.name))
            .collect();
        v.sort();
        v
    }

    /// Waits until the server serves at least `n` pods through the proxy.
    pub async fn wait_for_pods(&self, n: usize, within: Duration) -> Value {
        let http = self.http();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = http
                .get(self.via_proxy("/apis/metrics.k8s.io/v1beta1/pods"))
                .send()
                .await
                && let Ok(v) = r.json::<Value>().await
                && v["items"].as_array().is_some_and(|i| i.len() >= n)
            {
                return v;
            }
            assert!(Instant::now() < deadline, "fewer than {n} pods served");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The kubeconfig the simulator wrote.
    pub fn kubeconfig(&self) -> String {
        self.sim.kubeconfig.display().to_string()
    }

    /// Stops everything.
    pub async fn shutdown(mut self) {
        self.stop_server().await;
        self.sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A watch stream read in the background: every event line, parsed, in arrival order.
pub struct WatchReader {
    /// Events so far.
    pub events: Arc<Mutex<Vec<Value>>>,
    /// True once the stream ended.
    pub ended: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl WatchReader {
    /// Opens `url` and reads it until it ends.
    pub async fn open(http: &reqwest::Client, url: &str) -> Self {
        let resp = http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "watch {url}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        let events = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ev, end) = (events.clone(), ended.clone());
        let task = tokio::spawn(async move {
            let mut resp = resp;
            let mut buf = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.extend_from_slice(&chunk);
                while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=i).collect();
                    let v: Value = serde_json::from_slice(&line).expect("one JSON event per line");
                    ev.lock().unwrap().push(v);
                }
            }
            end.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        WatchReader {
            events,
            ended,
            task,
        }
    }

    /// A copy of the events so far.
    pub fn snapshot(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the events so far.
    pub async fn wait_until(&self, within: Duration, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + within;
        while !pred(&self.snapshot()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops reading.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// `(type, namespace/name, resourceVersion)` of an event.
pub fn event_key(e: &Value) -> (String, String, u64) {
    let m = &e["object"]["metadata"];
    (
        e["type"].as_str().unwrap_or_default().to_string(),
        format!(
            "{}/{}",
            m["namespace"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default()
        ),
        m["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    )
}

/// The process's resident memory in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Makes the Python `kubernetes` client importable: the machine's, or else one installed from
/// PyPI into the target directory on first use, so `cargo test` needs no setup by hand.
fn python_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pydeps");
        let dir_s = dir.display().to_string();
        let importable = |path: &str| {
            std::process::Command::new("python3")
                .args(["-c", "import kubernetes"])
                .env("PYTHONPATH", path)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !importable(&dir_s) {
            let status = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--target", &dir_s, "kubernetes==37.0.2"])
                .status()
                .expect("python3 on PATH");
            assert!(
                status.success(),
                "installing the Python kubernetes client failed"
            );
        }
        dir_s
    })
}

/// Runs `tests/python/metrics_client.py` with `args` and returns the JSON lines it printed.
pub fn python_client(args: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/metrics_client.py"
        ))
        .args(args)
        .env("PYTHONPATH", python_path())
        .output()
        .expect("python3 on PATH");
    assert!(
        out.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The server binary, built beside the simulator's (by `cargo test --workspace`, or here on first
/// use), for tests that run it as a process of its own.
pub fn server_binary() -> PathBuf {
    let sim_bin = PathBuf::from(env!("CARGO_BIN_EXE_metrics-apiserver-sim"));
    let server = sim_bin.with_file_name("metrics-apiserver");
    // Under `cargo test --workspace` the binary was just built with the tests. Otherwise (only
    // the simulator's package was built after a change to the server) ask cargo to build it.
    // A cargo run from inside a test sees the test's environment and would compile the whole
    // dependency tree again, so it runs only when the binary is missing or older than the source.
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let built = std::fs::metadata(&server).and_then(|m| m.modified()).ok();
    let newest = newest_mtime(&root.join("src"))
        .max(newest_mtime(&root.join("Cargo.toml")))
        .max(newest_mtime(&root.join("Cargo.lock")));
    if built.is_none_or(|b| Some(b) < newest) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--workspace", "--bins"])
            .current_dir(&root)
            .status()
            .expect("cargo");
        assert!(status.success(), "building the server binary failed");
    }
    server
}

/// The newest modification time of a file, or of any file under a directory.
fn newest_mtime(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// A kube-rs client for the simulated cluster's kubeconfig.
pub async fn kube_client(kubeconfig: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// The dynamic resource of a metrics kind (`NodeMetrics`/`nodes`, `PodMetrics`/`pods`) in `version`.
pub fn metrics_resource(version: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "metrics.k8s.io".into(),
        version: version.into(),
        api_version: format!("metrics.k8s.io/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Starts a simulated cluster (no server) in a work directory of its own, at 10s resolution.
pub async fn simulation(
    name: &str,
    nodes: usize,
    pods_per_node: usize,
    seed: u64,
) -> (Simulation, PathBuf) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("mas-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sim = sim::start(SimOptions {
        nodes,
        pods_per_node,
        seed,
        kubeconfig: dir.join("kubeconfig"),
        work_dir: dir.clone(),
        server_port: 0,
        apiserver_port: 0,
        metric_resolution_secs: 10,
    })
    .await
    .unwrap();
    (sim, dir)
}

/// A client that trusts the simulator's CA and authenticates with its token, as a user of the
/// cluster would; `timeout` bounds each request.
pub fn token_client(sim: &Simulation, timeout: Option<Duration>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&sim.ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", sim.control.token()).parse().unwrap(),
    );
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .default_headers(headers);
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build().unwrap()
}
