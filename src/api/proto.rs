//! `application/vnd.kubernetes.protobuf`: the messages of `k8s.io/metrics`' and apimachinery's
//! `generated.proto`, written by hand for prost (no protoc at build time), and the Kubernetes
//! envelope: `k8s\0` followed by a `runtime.Unknown` whose `raw` is the object's message.
//!
//! kubectl top and the HPA controller ask for protobuf first because it is cheaper for them to
//! decode. Strings Go always writes (gogo non-nullable fields) are `optional` here so that an empty
//! value is still written, as Go writes it.

use std::collections::BTreeMap;

use prost::Message;

use super::kind::Kind;
use super::types::{GroupVersion, ListMeta as WireListMeta};
use crate::store::Versioned;

/// The four bytes every protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// `resource.Quantity`: its canonical string.
#[derive(Clone, PartialEq, Message)]
pub struct Quantity {
    /// `250m`, `12240Ki`.
    #[prost(string, optional, tag = "1")]
    pub string: Option<String>,
}

/// `metav1.Time`: Unix seconds and nanoseconds.
#[derive(Clone, PartialEq, Message)]
pub struct Time {
    /// Seconds since the epoch (Go's zero time is -62135596800).
    #[prost(int64, optional, tag = "1")]
    pub seconds: Option<i64>,
    /// Nanoseconds within the second.
    #[prost(int32, optional, tag = "2")]
    pub nanos: Option<i32>,
}

/// `metav1.Duration`: nanoseconds.
#[derive(Clone, PartialEq, Message)]
pub struct Duration {
    /// Nanoseconds.
    #[prost(int64, optional, tag = "1")]
    pub duration: Option<i64>,
}

/// `metav1.ObjectMeta`, the fields metrics objects use.
#[derive(Clone, PartialEq, Message)]
pub struct ObjectMeta {
    /// Name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Namespace (empty for nodes).
    #[prost(string, optional, tag = "3")]
    pub namespace: Option<String>,
    /// The node's or pod's uid.
    #[prost(string, optional, tag = "5")]
    pub uid: Option<String>,
    /// resourceVersion.
    #[prost(string, optional, tag = "6")]
    pub resource_version: Option<String>,
    /// The node's or pod's creation time.
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    /// Labels.
    #[prost(btree_map = "string, string", tag = "11")]
    pub labels: BTreeMap<String, String>,
}

/// `metav1.ListMeta`.
#[derive(Clone, PartialEq, Message)]
pub struct ListMeta {
    /// resourceVersion of the list.
    #[prost(string, optional, tag = "2")]
    pub resource_version: Option<String>,
    /// Continue token.
    #[prost(string, optional, tag = "3")]
    pub r#continue: Option<String>,
    /// Items after this page.
    #[prost(int64, optional, tag = "4")]
    pub remaining_item_count: Option<i64>,
}

/// `NodeMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeMetrics {
    /// Metadata.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// End of the window.
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Time>,
    /// Window length.
    #[prost(message, optional, tag = "3")]
    pub window: Option<Duration>,
    /// Usage by resource name.
    #[prost(btree_map = "string, message", tag = "4")]
    pub usage: BTreeMap<String, Quantity>,
}

/// `ContainerMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ContainerMetrics {
    /// Container name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Usage by resource name.
    #[prost(btree_map = "string, message", tag = "2")]
    pub usage: BTreeMap<String, Quantity>,
}

/// `PodMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct PodMetrics {
    /// Metadata.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// End of the window.
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Time>,
    /// Window length.
    #[prost(message, optional, tag = "3")]
    pub window: Option<Duration>,
    /// Containers sorted by name.
    #[prost(message, repeated, tag = "4")]
    pub containers: Vec<ContainerMetrics>,
}

/// `runtime.TypeMeta`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    /// `metrics.k8s.io/v1beta1`.
    #[prost(string, optional, tag = "1")]
    pub api_version: Option<String>,
    /// `NodeMetricsList`.
    #[prost(string, optional, tag = "2")]
    pub kind: Option<String>,
}

/// `runtime.Unknown`: the envelope's body.
#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    /// What `raw` holds.
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    /// The object's message.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub raw: Option<Vec<u8>>,
    /// Always empty.
    #[prost(string, optional, tag = "3")]
    pub content_encoding: Option<String>,
    /// Always empty.
    #[prost(string, optional, tag = "4")]
    pub content_type: Option<String>,
}

/// Go's `metav1.Time` of a Unix-millisecond instant; 0 is Go's zero time.
pub fn time_ms(ms: i64) -> Time {
    if ms == 0 {
        return Time {
            seconds: Some(-62_135_596_800),
            nanos: Some(0),
        };
    }
    Time {
        seconds: Some(ms.div_euclid(1000)),
        nanos: Some((ms.rem_euclid(1000) * 1_000_000) as i32),
    }
}

/// The ObjectMeta message of an object at `rv`.
pub fn object_meta<T: Kind>(v: &T, rv: u64) -> ObjectMeta {
    let m = v.metadata(rv);
    ObjectMeta {
        name: Some(m.name.to_string()),
        namespace: m.namespace.map(str::to_string),
        uid: (!m.uid.is_empty()).then(|| m.uid.to_string()),
        resource_version: Some(m.resource_version),
        creation_timestamp: Some(time_ms(v.created_s() * 1000)),
        labels: m
            .labels
            .0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A usage map of canonical quantities.
pub fn usage_map(cells: &[(&'static str, String)]) -> BTreeMap<String, Quantity> {
    cells
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Quantity {
                    string: Some(v.clone()),
                },
            )
        })
        .collect()
}

/// `k8s\0` + `runtime.Unknown{typeMeta, raw}`.
pub fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_string()),
            kind: Some(kind.to_string()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + u.encoded_len());
    out.extend_from_slice(MAGIC);
    u.encode(&mut out).expect("a Vec grows");
    out
}

/// The enveloped protobuf of one object.
pub fn object<T: Kind>(v: &Versioned<T>, gv: GroupVersion) -> Vec<u8> {
    envelope(gv.api_version, T::KIND, v.value.proto(v.rv))
}

/// The enveloped protobuf of a list: `ListMeta` (field 1) and each item's message (field 2),
/// written as length-delimited fields without building a list message.
pub fn list<T: Kind>(meta: &WireListMeta, items: &[&Versioned<T>], gv: GroupVersion) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let lm = ListMeta {
        resource_version: Some(meta.resource_version.clone()),
        r#continue: Some(meta.continue_token.clone().unwrap_or_default()),
        remaining_item_count: meta.remaining_item_count.map(|n| n as i64),
    };
    let mut raw = Vec::with_capacity(64 + items.len() * 256);
    encode_key(1, WireType::LengthDelimited, &mut raw);
    encode_varint(lm.encoded_len() as u64, &mut raw);
    lm.encode(&mut raw).expect("a Vec grows");
    for v in items {
        let m = v.value.proto(v.rv);
        encode_key(2, WireType::LengthDelimited, &mut raw);
        encode_varint(m.len() as u64, &mut raw);
        raw.extend_from_slice(&m);
    }
    envelope(gv.api_version, T::LIST_KIND, raw)
}
