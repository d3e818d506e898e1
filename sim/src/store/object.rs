//! Objects as the store holds them: compact model data, rendered to JSON only when served.

use std::sync::Arc;

use crate::model::{SimNode, SimPod};

/// Resource kinds the fake apiserver serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Namespace,
    Node,
    Pod,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
        }
    }

    pub(crate) fn resource(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
        }
    }
}

/// A Node as the apiserver knows it (no pods, plus the kubelet port).
#[derive(Debug)]
pub(crate) struct NodeObj {
    pub index: usize,
    pub uid: String,
    pub kubelet_port: u16,
    /// The model node; its `pods` are left empty here.
    pub node: SimNode,
}

/// A Pod bound to a node.
#[derive(Debug)]
pub(crate) struct PodObj {
    pub pod: SimPod,
    pub node_name: String,
    pub node_index: usize,
    pub pod_ip: String,
}

/// A Namespace.
#[derive(Debug)]
pub(crate) struct NsObj {
    pub name: String,
    pub uid: String,
    pub created_s: i64,
}

/// Object payload, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) enum ObjData {
    Namespace(Arc<NsObj>),
    Node(Arc<NodeObj>),
    Pod(Arc<PodObj>),
}

/// An object at one resourceVersion.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub rv: u64,
    pub data: ObjData,
}

impl ObjData {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            ObjData::Namespace(_) => Kind::Namespace,
            ObjData::Node(_) => Kind::Node,
            ObjData::Pod(_) => Kind::Pod,
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            ObjData::Namespace(n) => &n.name,
            ObjData::Node(n) => &n.node.name,
            ObjData::Pod(p) => &p.pod.name,
        }
    }

    /// Namespace, empty for cluster-scoped objects.
    pub(crate) fn namespace(&self) -> &str {
        match self {
            ObjData::Pod(p) => &p.pod.namespace,
            _ => "",
        }
    }

    pub(crate) fn labels(&self) -> &[(String, String)] {
        match self {
            ObjData::Namespace(_) => &[],
            ObjData::Node(n) => &n.node.labels,
            ObjData::Pod(p) => &p.pod.labels,
        }
    }

    pub(super) fn key(&self) -> Key {
        (
            self.kind(),
            self.namespace().to_string(),
            self.name().to_string(),
        )
    }

    /// Value of a supported field-selector field; `None` if the kind does not support it.
    pub(super) fn field(&self, field: &str) -> Option<String> {
        match (field, self) {
            ("metadata.name", o) => Some(o.name().to_string()),
            ("metadata.namespace", o) => Some(o.namespace().to_string()),
            ("status.phase", ObjData::Namespace(_)) => Some("Active".into()),
            ("spec.unschedulable", ObjData::Node(_)) => Some("false".into()),
            ("spec.nodeName", ObjData::Pod(p)) => Some(p.node_name.clone()),
            ("status.phase", ObjData::Pod(_)) => Some("Running".into()),
            ("status.podIP", ObjData::Pod(p)) => Some(p.pod_ip.clone()),
            ("spec.restartPolicy", ObjData::Pod(_)) => Some("Always".into()),
            ("spec.schedulerName", ObjData::Pod(_)) => Some("default-scheduler".into()),
            ("spec.serviceAccountName", ObjData::Pod(_)) => Some("default".into()),
            ("spec.hostNetwork", ObjData::Pod(_)) => Some("false".into()),
            ("status.nominatedNodeName", ObjData::Pod(_)) => Some(String::new()),
            _ => None,
        }
    }
}

pub(super) type Key = (Kind, String, String);
