//! JSON renderings of the stored objects, shaped like a real kube-apiserver's: full objects,
//! `PartialObjectMetadata` (metadata-only clients such as kube-rs `metadata_watcher`) and
//! `meta.k8s.io/v1` Table rows (what `kubectl get` asks for).

use serde_json::{Map, Value, json};

use super::serve::rfc3339;
use super::store::{Kind, ObjData, Stored};

/// Simulated Kubernetes version, reported by `/version` and by the Nodes.
pub(crate) const KUBE_VERSION: &str = "v1.32.5";

fn labels_json(labels: &[(String, String)]) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `metadata` of an object.
pub(crate) fn metadata(s: &Stored) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), s.data.name().into());
    if !s.data.namespace().is_empty() {
        m.insert("namespace".into(), s.data.namespace().into());
    }
    let (uid, created_s) = match &s.data {
        ObjData::Namespace(n) => (n.uid.as_str(), n.created_s),
        ObjData::Node(n) => (n.uid.as_str(), n.node.created_s),
        ObjData::Pod(p) => (p.pod.uid.as_str(), p.pod.created_s),
    };
    m.insert("uid".into(), uid.into());
    m.insert("resourceVersion".into(), s.rv.to_string().into());
    m.insert("creationTimestamp".into(), rfc3339(created_s).into());
    let labels = s.data.labels();
    if !labels.is_empty() {
        m.insert("labels".into(), labels_json(labels));
    }
    match &s.data {
        ObjData::Node(_) => {
            m.insert(
                "annotations".into(),
                json!({"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}),
            );
        }
        ObjData::Pod(p) => {
            if let Some(hash) = p.pod.label("pod-template-hash") {
                let app = p.pod.label("app").unwrap_or("app");
                m.insert("generateName".into(), format!("{app}-{hash}-").into());
                m.insert(
                    "ownerReferences".into(),
                    json!([{
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": format!("{app}-{hash}"),
                        "uid": format!("00000000-0000-4000-8000-{:012x}", super::model::name_seed(hash) & 0xffff_ffff_ffff),
                        "controller": true,
                        "blockOwnerDeletion": true
                    }]),
                );
            }
        }
        ObjData::Namespace(_) => {}
    }
    Value::Object(m)
}

fn cpu_quantity(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

fn mem_quantity(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

/// The full object with `kind` and `apiVersion` (single GET, watch events).
pub(crate) fn full(s: &Stored) -> Value {
    let meta = metadata(s);
    match &s.data {
        ObjData::Namespace(_) => json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}
        }),
        ObjData::Node(n) => {
            let node = &n.node;
            let boot = rfc3339(node.boot_ms.div_euclid(1000));
            let i = n.index;
            json!({
                "kind": "Node",
                "apiVersion": "v1",
                "metadata": meta,
                "spec": {
                    "podCIDR": format!("10.{}.{}.0/24", (i >> 8) & 255, i & 255),
                    "podCIDRs": [format!("10.{}.{}.0/24", (i >> 8) & 255, i & 255)],
                    "providerID": format!("sim://{}", node.name)
                },
                "status": {
                    "capacity": {
                        "cpu": cpu_quantity(node.cpu_capacity_millis),
                        "memory": mem_quantity(node.memory_capacity),
                        "ephemeral-storage": "102626232Ki",
                        "hugepages-2Mi": "0",
                        "pods": "110"
                    },
                    "allocatable": {
                        "cpu": cpu_quantity(node.cpu_allocatable_millis()),
                        "memory": mem_quantity(node.memory_allocatable()),
                        "ephemeral-storage": "94580335255",
                        "hugepages-2Mi": "0",
                        "pods": "110"
                    },
                    "conditions": [
                        {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": boot, "lastTransitionTime": boot,
                         "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                        {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": boot, "lastTransitionTime": boot,
                         "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                        {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": boot, "lastTransitionTime": boot,
                         "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                        {"type": "Ready", "status": "True", "lastHeartbeatTime": boot, "lastTransitionTime": boot,
                         "reason": "KubeletReady", "message": "kubelet is posting ready status"}
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": node.name}
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": n.kubelet_port}},
                    "nodeInfo": {
                        "machineID": format!("{:032x}", super::model::mix64(i as u64)),
                        "systemUUID": n.uid,
                        "bootID": format!("{:032x}", super::model::mix64(node.boot_ms as u64)),
                        "kernelVersion": "6.1.0-sim",
                        "osImage": "Sim Linux 1.0",
                        "containerRuntimeVersion": "containerd://1.7.24",
                        "kubeletVersion": KUBE_VERSION,
                        "kubeProxyVersion": KUBE_VERSION,
                        "operatingSystem": "linux",
                        "architecture": "amd64"
                    }
                }
            })
        }
        ObjData::Pod(p) => {
            let pod = &p.pod;
            let start = rfc3339(pod.created_s);
            let containers: Vec<Value> = pod
                .containers
                .iter()
                .map(|c| {
                    let req_cpu = (c.cpu_nanocores * 12 / 10).div_ceil(1_000_000).max(1);
                    let req_mem = (c.memory_base * 3 / 2).div_ceil(1024 * 1024);
                    json!({
                        "name": c.name,
                        "image": format!("registry.sim.local/{}:1.0", c.name),
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {"requests": {"cpu": format!("{req_cpu}m"), "memory": format!("{req_mem}Mi")}},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    })
                })
                .collect();
            let statuses: Vec<Value> = pod
                .containers
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    json!({
                        "name": c.name,
                        "ready": true,
                        "started": true,
                        "restartCount": 0,
                        "image": format!("registry.sim.local/{}:1.0", c.name),
                        "imageID": format!("registry.sim.local/{}@sha256:{:064x}", c.name, 0),
                        "containerID": format!("containerd://{:016x}{:048x}", super::model::mix64(k as u64 ^ c.start_ms as u64), 0),
                        "state": {"running": {"startedAt": rfc3339(c.start_ms.div_euclid(1000))}}
                    })
                })
                .collect();
            json!({
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": meta,
                "spec": {
                    "nodeName": p.node_name,
                    "containers": containers,
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "serviceAccountName": "default",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "priority": 0
                },
                "status": {
                    "phase": "Running",
                    "conditions": [
                        {"type": "Initialized", "status": "True", "lastTransitionTime": start},
                        {"type": "Ready", "status": "True", "lastTransitionTime": start},
                        {"type": "ContainersReady", "status": "True", "lastTransitionTime": start},
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": start}
                    ],
                    "hostIP": "127.0.0.1",
                    "hostIPs": [{"ip": "127.0.0.1"}],
                    "podIP": p.pod_ip,
                    "podIPs": [{"ip": p.pod_ip}],
                    "startTime": start,
                    "containerStatuses": statuses,
                    "qosClass": "Burstable"
                }
            })
        }
    }
}

/// A list item: the full object without `kind`/`apiVersion`, as Go encodes list items.
pub(crate) fn list_item(s: &Stored) -> Value {
    let mut v = full(s);
    if let Some(m) = v.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    v
}

/// `PartialObjectMetadata` form.
pub(crate) fn partial(s: &Stored) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata(s)})
}

/// Go's `duration.HumanDuration`, used by the Age column.
pub(crate) fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if h < 24 * 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn col(name: &str, ty: &str, format: &str, description: &str, priority: i32) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// Table column definitions of a kind (same columns as kube-apiserver's printers).
pub(crate) fn columns(kind: Kind) -> Value {
    let name = col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        0,
    );
    let age = col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        0,
    );
    match kind {
        Kind::Namespace => json!([
            name,
            col("Status", "string", "", "The status of the namespace", 0),
            age
        ]),
        Kind::Node => json!([
            name,
            col("Status", "string", "", "The status of the node", 0),
            col("Roles", "string", "", "The roles of the node", 0),
            age,
            col(
                "Version",
                "string",
                "",
                "Kubelet Version reported by the node.",
                0
            ),
            col(
                "Internal-IP",
                "string",
                "",
                "List of addresses reachable to the node. Queried from cloud provider, if available.",
                1
            ),
            col(
                "External-IP",
                "string",
                "",
                "List of addresses reachable to the node. Queried from cloud provider, if available.",
                1
            ),
            col(
                "OS-Image",
                "string",
                "",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                1
            ),
            col(
                "Kernel-Version",
                "string",
                "",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                1
            ),
            col(
                "Container-Runtime",
                "string",
                "",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                1
            )
        ]),
        Kind::Pod => json!([
            name,
            col(
                "Ready",
                "string",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
                0
            ),
            col(
                "Status",
                "string",
                "",
                "The aggregate status of the containers in this pod.",
                0
            ),
            col(
                "Restarts",
                "string",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0
            ),
            age,
            col("IP", "string", "", "The IP address assigned to the pod", 1),
            col(
                "Node",
                "string",
                "",
                "The name of the node where the pod is scheduled",
                1
            ),
            col(
                "Nominated Node",
                "string",
                "",
                "The name of the node that is nominated for the pod",
                1
            ),
            col(
                "Readiness Gates",
                "string",
                "",
                "The readiness gates of the pod",
                1
            )
        ]),
    }
}

/// How a Table row carries its object (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// One Table row.
pub(crate) fn row(s: &Stored, include: IncludeObject, now_s: i64) -> Value {
    let (created_s, cells) = match &s.data {
        ObjData::Namespace(n) => (n.created_s, vec![json!(n.name), json!("Active")]),
        ObjData::Node(n) => {
            let mut roles: Vec<&str> = n
                .node
                .labels
                .iter()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            roles.sort_unstable();
            let roles = if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            };
            (
                n.node.created_s,
                vec![json!(n.node.name), json!("Ready"), json!(roles)],
            )
        }
        ObjData::Pod(p) => {
            let n = p.pod.containers.len();
            (
                p.pod.created_s,
                vec![
                    json!(p.pod.name),
                    json!(format!("{n}/{n}")),
                    json!("Running"),
                    json!("0"),
                ],
            )
        }
    };
    let mut cells = cells;
    cells.push(json!(human_duration(now_s - created_s)));
    match &s.data {
        ObjData::Node(_) => cells.extend([
            json!(KUBE_VERSION),
            json!("127.0.0.1"),
            json!("<none>"),
            json!("Sim Linux 1.0"),
            json!("6.1.0-sim"),
            json!("containerd://1.7.24"),
        ]),
        ObjData::Pod(p) => cells.extend([
            json!(p.pod_ip),
            json!(p.node_name),
            json!("<none>"),
            json!("<none>"),
        ]),
        ObjData::Namespace(_) => {}
    }
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Metadata => partial(s),
        IncludeObject::Object => full(s),
    };
    json!({"cells": cells, "object": object})
}

/// A Table of rows.
pub(crate) fn table(kind: Kind, rv: Option<u64>, rows: Vec<Value>) -> Value {
    let mut meta = Map::new();
    if let Some(rv) = rv {
        meta.insert("resourceVersion".into(), rv.to_string().into());
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns(kind),
        "rows": rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600 * 5 + 60 * 7), "5h7m");
        assert_eq!(human_duration(86_400 * 3 + 3600 * 2), "3d2h");
        assert_eq!(human_duration(86_400 * 30), "30d");
    }
}
