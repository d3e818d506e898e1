//! A simulated cluster on 127.0.0.1 for tests, demos and benchmarks: a fake kube-apiserver
//! (with the aggregation role for `metrics.k8s.io`), one fake kubelet per node, and the
//! arguments to start our real server against them.
//!
//! The real server is not told it is simulated: it discovers nodes with its normal watchers
//! through the kubeconfig and scrapes the kubelets over HTTPS, exactly as in a cluster. The
//! scenario is deterministic from a seed ([`model::Scenario`]), so tests can compute the exact
//! values the server should report; [`SimControl`] injects faults and churn at runtime.

pub mod apiserver;
pub mod certs;
mod knobs;
pub mod kubeconfig;
pub mod kubelet;
pub mod model;
mod objects;
pub mod requests;
mod serve;
mod store;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use model::{Scenario, SimNode, SimPod, SplitMix64, mix64};
use store::{Kind, NodeObj, NsObj, ObjData, PodObj, Store};

/// User name the kubeconfig token authenticates as (sent as `X-Remote-User` by the proxy).
pub const SIM_USER: &str = "sim-admin";

/// How many watch events the fake apiserver keeps for resumption.
const EVENT_LOG: usize = 16_384;

/// Options of `metrics-apiserver simulate`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Simulated nodes, each with its own kubelet port.
    pub nodes: usize,
    /// Pods scheduled on each node.
    pub pods_per_node: usize,
    /// Seed of the workload; the same seed gives the same cluster.
    pub seed: u64,
    /// Where to write the kubeconfig for kubectl and our server.
    pub kubeconfig: PathBuf,
    /// Directory for certificates and keys (the caller owns it, e.g. a temp dir).
    pub work_dir: PathBuf,
    /// Port our real server will listen on; 0 = pick a free one.
    pub server_port: u16,
    /// Port of the fake apiserver; 0 = pick a free one.
    pub apiserver_port: u16,
    /// Passed to our server as `--metric-resolution=<n>s`.
    pub metric_resolution_secs: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            nodes: 3,
            pods_per_node: 5,
            seed: 1,
            kubeconfig: PathBuf::from("./simulated.kubeconfig"),
            work_dir: std::env::temp_dir().join("metrics-apiserver-sim"),
            server_port: 0,
            apiserver_port: 0,
            metric_resolution_secs: 15,
        }
    }
}

/// Behaviour of one fake kubelet, switchable at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KubeletMode {
    /// Serves correct data.
    Normal = 0,
    /// `/metrics/resource` answers 404 (an old kubelet), so the server must fall back to
    /// `/stats/summary`.
    ResourceNotFound = 1,
    /// Both endpoints answer 500.
    ServerError = 2,
    /// 200 with a malformed body on both endpoints.
    Garbage = 3,
    /// Requests never get an answer while the mode lasts (they resume when it changes).
    Hang = 4,
    /// TCP connections are closed right after accept, before TLS (a dead kubelet).
    Reset = 5,
    /// 200 with correct metrics followed by 80 MiB of comment lines: larger than any real kubelet's.
    Huge = 6,
    /// 200 with every container but no `node_*` series (a virtual kubelet).
    NoNodeSeries = 7,
    /// 200 with an empty body.
    EmptyBody = 8,
    /// The node's own CPU counter and memory read zero (containers as usual).
    ZeroNode = 9,
    /// Containers without start times (`container_start_time_seconds`, Summary `startTime`).
    NoStartTimes = 10,
}

impl KubeletMode {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => KubeletMode::ResourceNotFound,
            2 => KubeletMode::ServerError,
            3 => KubeletMode::Garbage,
            4 => KubeletMode::Hang,
            5 => KubeletMode::Reset,
            6 => KubeletMode::Huge,
            7 => KubeletMode::NoNodeSeries,
            8 => KubeletMode::EmptyBody,
            9 => KubeletMode::ZeroNode,
            10 => KubeletMode::NoStartTimes,
            _ => KubeletMode::Normal,
        }
    }
}

struct NodeLive {
    mode: AtomicU8,
    /// Drops the kubelet's open connections when it switches to `Reset`.
    kill: Arc<tokio::sync::Notify>,
    addr: SocketAddr,
    /// What the kubelet reports: the node with its current pods.
    state: RwLock<SimNode>,
    next_ip: AtomicU32,
    /// Timestamps of the samples this kubelet served (bodies with metrics), oldest first.
    served: requests::BoundedLog<i64>,
}

/// Runtime hooks into a running simulation: kubelet faults and pod churn (which emits watch
/// events from the fake apiserver). Cheap to share; all methods are synchronous.
pub struct SimControl {
    nodes: Vec<NodeLive>,
    store: Arc<Store>,
    token: String,
    /// Serialises pod mutations so the kubelet view and the apiserver view change together.
    mutate: Mutex<()>,
    /// 0: kubelets answer a fresh sample per request (CRI stats); otherwise samples are taken at
    /// multiples of this many ms, as a kubelet whose stats come from a periodic cache.
    sample_period_ms: AtomicU64,
}

fn pod_ip(node: usize, k: u32) -> String {
    format!("10.{}.{}.{}", (node >> 8) & 255, node & 255, k % 254 + 1)
}

impl SimControl {
    /// Number of nodes (and kubelets).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The bearer token of the kubeconfig, accepted by the apiserver and every kubelet.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Address of node `node`'s kubelet.
    pub fn kubelet_addr(&self, node: usize) -> Option<SocketAddr> {
        self.nodes.get(node).map(|n| n.addr)
    }

    /// Switches the behaviour of one kubelet (out-of-range indexes are ignored).
    /// Switching to `Reset` also closes the kubelet's open connections.
    pub fn set_kubelet_mode(&self, node: usize, mode: KubeletMode) {
        if let Some(n) = self.nodes.get(node) {
            n.mode.store(mode as u8, Ordering::Relaxed);
            if mode == KubeletMode::Reset {
                n.kill.notify_waiters();
            }
        }
    }

    /// Switches every kubelet.
    pub fn set_all_kubelet_modes(&self, mode: KubeletMode) {
        for i in 0..self.nodes.len() {
            self.set_kubelet_mode(i, mode);
        }
    }

    pub(crate) fn kill_switch(&self, node: usize) -> Option<Arc<tokio::sync::Notify>> {
        self.nodes.get(node).map(|n| n.kill.clone())
    }

    /// Current behaviour of a kubelet (`Normal` for unknown indexes).
    pub fn kubelet_mode(&self, node: usize) -> KubeletMode {
        self.nodes.get(node).map_or(KubeletMode::Normal, |n| {
            KubeletMode::from_u8(n.mode.load(Ordering::Relaxed))
        })
    }

    /// A snapshot of node `node` as its kubelet currently reports it (pods added/removed at
    /// runtime included), for computing expected values.
    pub fn node(&self, node: usize) -> Option<SimNode> {
        self.with_node(node, SimNode::clone)
    }

    pub(crate) fn with_node<R>(&self, node: usize, f: impl FnOnce(&SimNode) -> R) -> Option<R> {
        let n = self.nodes.get(node)?;
        let guard = n.state.read().unwrap_or_else(|e| e.into_inner());
        Some(f(&guard))
    }

    /// The fake apiserver's current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store.current_rv()
    }

    /// Schedules a new running pod on `node`: the kubelet reports it at once, then the apiserver
    /// emits ADDED (creating its namespace first if needed). Returns the pod's resourceVersion.
    pub fn add_pod(&self, node: usize, pod: SimPod) -> anyhow::Result<u64> {
        let _g = self.mutate.lock().unwrap_or_else(|e| e.into_inner());
        let live = self
            .nodes
            .get(node)
            .with_context(|| format!("no node {node}"))?;
        if self
            .store
            .get(Kind::Pod, &pod.namespace, &pod.name)
            .is_some()
        {
            anyhow::bail!("pod {}/{} already exists", pod.namespace, pod.name);
        }
        if self
            .store
            .get(Kind::Namespace, "", &pod.namespace)
            .is_none()
        {
            let mut rng = SplitMix64::new(mix64(model::name_seed(&pod.namespace) ^ 0x6e73));
            self.store.upsert(ObjData::Namespace(Arc::new(NsObj {
                name: pod.namespace.clone(),
                uid: model::uuid(&mut rng),
                created_s: pod.created_s,
            })));
        }
        let node_name = {
            let mut st = live.state.write().unwrap_or_else(|e| e.into_inner());
            st.pods.push(pod.clone());
            st.name.clone()
        };
        let k = live.next_ip.fetch_add(1, Ordering::Relaxed);
        Ok(self.store.upsert(ObjData::Pod(Arc::new(PodObj {
            pod,
            node_name,
            node_index: node,
            pod_ip: pod_ip(node, k),
        }))))
    }

    /// Deletes a pod: the apiserver emits DELETED, then the kubelet stops reporting it (its CPU
    /// time stays in the node counter). Returns the deletion's resourceVersion.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> Option<u64> {
        let _g = self.mutate.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.store.delete(Kind::Pod, namespace, name)?;
        let rv = self.store.current_rv();
        if let ObjData::Pod(p) = &old.data
            && let Some(live) = self.nodes.get(p.node_index)
        {
            let now = serve::now_ms();
            let mut st = live.state.write().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = st
                .pods
                .iter()
                .position(|x| x.namespace == namespace && x.name == name)
            {
                let gone = st.pods.remove(i);
                st.retired_core_nanos = st
                    .retired_core_nanos
                    .saturating_add(gone.cpu_core_nanos_at(now));
            }
        }
        Some(rv)
    }

    /// Replaces a pod's labels (MODIFIED; label-selector watches see ADDED/DELETED transitions).
    /// Returns the new resourceVersion.
    pub fn set_pod_labels(
        &self,
        namespace: &str,
        name: &str,
        labels: Vec<(String, String)>,
    ) -> Option<u64> {
        let _g = self.mutate.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.store.get(Kind::Pod, namespace, name)?;
        let ObjData::Pod(p) = &old.data else {
            return None;
        };
        let mut pod = p.pod.clone();
        pod.labels = labels;
        if let Some(live) = self.nodes.get(p.node_index) {
            let mut st = live.state.write().unwrap_or_else(|e| e.into_inner());
            if let Some(x) = st
                .pods
                .iter_mut()
                .find(|x| x.namespace == namespace && x.name == name)
            {
                x.labels = pod.labels.clone();
            }
        }
        Some(self.store.upsert(ObjData::Pod(Arc::new(PodObj {
            pod,
            node_name: p.node_name.clone(),
            node_index: p.node_index,
            pod_ip: p.pod_ip.clone(),
        }))))
    }
}

/// A running simulation. Dropping it (or [`Simulation::shutdown`]) stops every listener.
pub struct Simulation {
    /// The workload, for computing expected values.
    pub scenario: Arc<Scenario>,
    /// `https://127.0.0.1:PORT` of the fake apiserver.
    pub apiserver_url: String,
    /// Kubeconfig for kubectl and the server (absolute path).
    pub kubeconfig: PathBuf,
    /// PEM of the sim CA (signs the apiserver, kubelet and server certificates).
    pub ca_file: PathBuf,
    /// `https://127.0.0.1:server_port`: our server, direct.
    pub server_url: String,
    /// The argv (without program name) to start our server with, as a cluster operator would.
    pub server_args: Vec<String>,
    /// Fault injection and runtime changes (kubelet modes, pods).
    pub control: Arc<SimControl>,
    /// The fake apiserver's TokenReview/SubjectAccessReview policy and review counters.
    pub auth: Arc<apiserver::AuthPolicy>,
    /// The cluster CA: signs serving certificates and is the ConfigMap's `client-ca-file`.
    pub ca: Arc<certs::SimCa>,
    /// The request-header CA that signs the aggregation proxy's client certificate.
    pub front_proxy_ca: Arc<certs::SimCa>,
    /// The newest requests the fake kube-apiserver received (what the server asked for).
    pub api_requests: Arc<requests::BoundedLog<requests::ApiRequest>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("apiserver_url", &self.apiserver_url)
            .field("server_url", &self.server_url)
            .field("kubeconfig", &self.kubeconfig)
            .field("nodes", &self.scenario.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// What to tell a human: where things are and the kubectl commands to try.
    pub fn banner(&self) -> String {
        let kc = self.kubeconfig.display();
        let pods: usize = self.scenario.nodes.iter().map(|n| n.pods.len()).sum();
        format!(
            "Simulated cluster: {nodes} nodes, {pods} pods\n\
             \x20 fake kube-apiserver: {api}\n\
             \x20 kubeconfig:          {kc}\n\
             \x20 metrics server:      {srv}\n\
             Try:\n\
             \x20 kubectl --kubeconfig {kc} top node\n\
             \x20 kubectl --kubeconfig {kc} top pod -A\n\
             \x20 kubectl --kubeconfig {kc} top pod -n shop --containers\n\
             \x20 kubectl --kubeconfig {kc} get --raw /apis/metrics.k8s.io/v1beta1/nodes\n",
            nodes = self.scenario.nodes.len(),
            api = self.apiserver_url,
            srv = self.server_url,
        )
    }

    /// Stops every listener and open connection and waits for the accept loops to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).await?;
    Ok(l.local_addr()?.port())
}

fn absolute(p: PathBuf) -> PathBuf {
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// Starts the fake apiserver and kubelets and writes the kubeconfig and certificates.
/// Our real server is not started: run it with [`Simulation::server_args`].
pub async fn start(opts: SimOptions) -> anyhow::Result<Simulation> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&opts.work_dir)
        .with_context(|| format!("creating {}", opts.work_dir.display()))?;
    let work_dir = absolute(opts.work_dir.clone());
    let scenario = Arc::new(Scenario::new(
        opts.seed,
        opts.nodes,
        opts.pods_per_node,
        serve::now_ms(),
    ));

    let ca = certs::SimCa::generate()?;
    let front_proxy_ca = certs::SimCa::generate_named("front-proxy-ca")?;
    let front_proxy = front_proxy_ca.client_leaf("front-proxy-client", None)?;
    let ca_file = work_dir.join("ca.crt");
    std::fs::write(&ca_file, &ca.cert_pem)
        .with_context(|| format!("writing {}", ca_file.display()))?;

    let api_listener = TcpListener::bind(("127.0.0.1", opts.apiserver_port))
        .await
        .with_context(|| {
            format!(
                "binding the fake apiserver to 127.0.0.1:{}",
                opts.apiserver_port
            )
        })?;
    let api_port = api_listener.local_addr()?.port();
    let apiserver_url = format!("https://127.0.0.1:{api_port}");
    let server_port = match opts.server_port {
        0 => free_port().await?,
        p => p,
    };
    let server_url = format!("https://127.0.0.1:{server_port}");

    let api_leaf = ca.serving_leaf(
        "kube-apiserver",
        &[
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
        ],
    )?;
    api_leaf.write(&work_dir, "apiserver")?;
    let server_leaf = ca.serving_leaf(
        "metrics-apiserver",
        &["127.0.0.1", "localhost", "metrics-server.kube-system.svc"],
    )?;
    let (server_crt, server_key) = server_leaf.write(&work_dir, "server")?;

    let token = format!(
        "sim-{:016x}{:016x}",
        mix64(opts.seed ^ 0x7031),
        mix64(opts.seed ^ 0x7032)
    );
    kubeconfig::write(
        &opts.kubeconfig,
        &apiserver_url,
        &ca.cert_pem,
        SIM_USER,
        &token,
    )?;
    let kubeconfig = absolute(opts.kubeconfig.clone());

    // Kubelet listeners and certificates.
    let mut kubelet_listeners = Vec::with_capacity(scenario.nodes.len());
    let mut nodes_live = Vec::with_capacity(scenario.nodes.len());
    for node in &scenario.nodes {
        let l = TcpListener::bind(("127.0.0.1", 0))
            .await
            .with_context(|| format!("binding kubelet of {}", node.name))?;
        let addr = l.local_addr()?;
        let leaf = ca.serving_leaf(
            &format!("system:node:{}", node.name),
            &["127.0.0.1", &node.name],
        )?;
        kubelet_listeners.push((l, leaf.server_config(&ca)?));
        nodes_live.push(NodeLive {
            mode: AtomicU8::new(KubeletMode::Normal as u8),
            kill: Arc::new(tokio::sync::Notify::new()),
            addr,
            state: RwLock::new(node.clone()),
            next_ip: AtomicU32::new(0),
            served: requests::BoundedLog::new(requests::SAMPLES_KEPT),
        });
    }

    // Objects, all existing before the watch cache starts.
    let store = Arc::new(Store::new(EVENT_LOG));
    let cluster_created = scenario
        .nodes
        .iter()
        .map(|n| n.created_s)
        .min()
        .unwrap_or(scenario.started_ms.div_euclid(1000))
        - 3600;
    let mut objs = Vec::new();
    for ns in scenario.namespaces() {
        let mut rng = SplitMix64::new(mix64(opts.seed ^ model::name_seed(&ns) ^ 0x6e73));
        objs.push(ObjData::Namespace(Arc::new(NsObj {
            name: ns,
            uid: model::uuid(&mut rng),
            created_s: cluster_created,
        })));
    }
    for (i, node) in scenario.nodes.iter().enumerate() {
        let mut rng = SplitMix64::new(mix64(opts.seed ^ mix64(i as u64) ^ 0x6e6f));
        objs.push(ObjData::Node(Arc::new(NodeObj {
            index: i,
            uid: model::uuid(&mut rng),
            kubelet_port: nodes_live[i].addr.port(),
            node: SimNode {
                pods: Vec::new(),
                ..node.clone()
            },
        })));
        for pod in &node.pods {
            let k = nodes_live[i].next_ip.fetch_add(1, Ordering::Relaxed);
            objs.push(ObjData::Pod(Arc::new(PodObj {
                pod: pod.clone(),
                node_name: node.name.clone(),
                node_index: i,
                pod_ip: pod_ip(i, k),
            })));
        }
    }
    store.seed(objs);

    let control = Arc::new(SimControl {
        nodes: nodes_live,
        store: store.clone(),
        token: token.clone(),
        mutate: Mutex::new(()),
        sample_period_ms: AtomicU64::new(0),
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(kubelet_listeners.len() + 1);
    for (i, (listener, tls)) in kubelet_listeners.into_iter().enumerate() {
        tasks.push(kubelet::spawn(
            i,
            listener,
            tls,
            control.clone(),
            shutdown_rx.clone(),
        ));
    }
    let auth = Arc::new(apiserver::AuthPolicy::default());
    auth.add_token(
        &token,
        apiserver::SimIdentity {
            name: SIM_USER.to_string(),
            groups: Vec::new(),
        },
    );
    auth.allow_all(SIM_USER);
    for (k, v) in apiserver::auth_configmap_data(&ca.cert_pem, &front_proxy_ca.cert_pem) {
        auth.set_configmap(&k, &v);
    }
    let api_requests = Arc::new(requests::BoundedLog::new(requests::API_REQUESTS_KEPT));
    let api = Arc::new(apiserver::ApiServer {
        store,
        auth_header: format!("Bearer {token}"),
        user: SIM_USER.to_string(),
        port: api_port,
        server_url: server_url.clone(),
        proxy: apiserver::proxy_client(&ca.cert_pem, &front_proxy.identity_pem())?,
        shutdown: shutdown_rx,
        auth: auth.clone(),
        requests: api_requests.clone(),
    });
    tasks.push(apiserver::spawn(
        api,
        api_listener,
        api_leaf.server_config(&ca)?,
    ));

    let path = |p: &std::path::Path| p.display().to_string();
    let server_args = vec![
        "--kubeconfig".to_string(),
        path(&kubeconfig),
        "--kubelet-certificate-authority".to_string(),
        path(&ca_file),
        "--kubelet-use-node-status-port".to_string(),
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".to_string(),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={server_port}"),
        "--tls-cert-file".to_string(),
        path(&server_crt),
        "--tls-private-key-file".to_string(),
        path(&server_key),
        // Delegated authentication and authorization as in a cluster: the CAs come from the
        // extension-apiserver-authentication ConfigMap, reviews go to the (fake) apiserver.
        "--authentication-kubeconfig".to_string(),
        path(&kubeconfig),
        "--authorization-kubeconfig".to_string(),
        path(&kubeconfig),
        format!("--metric-resolution={}s", opts.metric_resolution_secs),
        // metrics-server's rule: 90% of the resolution must cover the request timeout.
        format!(
            "--kubelet-request-timeout={}ms",
            (opts.metric_resolution_secs * 900).clamp(1000, 10_000)
        ),
    ];
    tracing::info!(apiserver = %apiserver_url, nodes = scenario.nodes.len(), "simulation started");
    Ok(Simulation {
        scenario,
        apiserver_url,
        kubeconfig,
        ca_file,
        server_url,
        server_args,
        control,
        auth,
        ca: Arc::new(ca),
        front_proxy_ca: Arc::new(front_proxy_ca),
        api_requests,
        shutdown: shutdown_tx,
        tasks,
    })
}
