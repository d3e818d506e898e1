//! The messages of `k8s.io/metrics`' and apimachinery's `generated.proto` as prost structs: the
//! reference layout the hand-written encoder is checked against, in tests only. Strings Go always
//! writes (gogo non-nullable fields) are `optional` here so that an empty value is still written,
//! as Go writes it.
//!
//! prost leaves out a map entry's empty key or value where Go writes both, so objects with an empty
//! label value only decode alike; everything else encodes to the same bytes.

use std::collections::BTreeMap;

use prost::Message;

use super::MAGIC;
use crate::api::kind::Kind;
use crate::api::types::{GroupVersion, ListMeta as WireListMeta};
use crate::store::Versioned;

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
    /// Annotations: only bookmarks carry any (`k8s.io/initial-events-end`).
    #[prost(btree_map = "string, string", tag = "12")]
    pub annotations: BTreeMap<String, String>,
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

/// `metav1.StatusCause`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusCause {
    /// Machine-readable reason.
    #[prost(string, optional, tag = "1")]
    pub reason: Option<String>,
    /// Message.
    #[prost(string, optional, tag = "2")]
    pub message: Option<String>,
    /// Field.
    #[prost(string, optional, tag = "3")]
    pub field: Option<String>,
}

/// `metav1.StatusDetails`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusDetails {
    /// Name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Group.
    #[prost(string, optional, tag = "2")]
    pub group: Option<String>,
    /// Kind.
    #[prost(string, optional, tag = "3")]
    pub kind: Option<String>,
    /// Causes.
    #[prost(message, repeated, tag = "4")]
    pub causes: Vec<StatusCause>,
    /// Retry-After seconds.
    #[prost(int32, optional, tag = "5")]
    pub retry_after_seconds: Option<i32>,
}

/// `metav1.Status`: what an `ERROR` event of a protobuf watch carries.
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    /// Always empty.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ListMeta>,
    /// `Failure`.
    #[prost(string, optional, tag = "2")]
    pub status: Option<String>,
    /// Message.
    #[prost(string, optional, tag = "3")]
    pub message: Option<String>,
    /// Reason.
    #[prost(string, optional, tag = "4")]
    pub reason: Option<String>,
    /// Details.
    #[prost(message, optional, tag = "5")]
    pub details: Option<StatusDetails>,
    /// HTTP code.
    #[prost(int32, optional, tag = "6")]
    pub code: Option<i32>,
}

/// `metav1.WatchEvent`, as the raw stream serializer writes it.
#[derive(Clone, PartialEq, Message)]
pub struct WatchEvent {
    /// `ADDED`, `BOOKMARK`, `ERROR`...
    #[prost(string, optional, tag = "1")]
    pub r#type: Option<String>,
    /// The enveloped object.
    #[prost(message, optional, tag = "2")]
    pub object: Option<RawExtension>,
}

/// `runtime.RawExtension`.
#[derive(Clone, PartialEq, Message)]
pub struct RawExtension {
    /// The object in its `k8s\0` envelope.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub raw: Option<Vec<u8>>,
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
        annotations: BTreeMap::new(),
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

// What the server wrote through these messages before its encoder was written by hand: the
// reference the hand-written envelope, list, Status and bookmark must match byte for byte.

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

/// The Status message of an API error.
pub fn status(e: &crate::api::status::ApiError) -> Vec<u8> {
    Status {
        metadata: Some(ListMeta {
            r#continue: e.continue_token.clone(),
            ..ListMeta::default()
        }),
        status: Some("Failure".into()),
        message: Some(e.message.clone()),
        reason: Some(e.reason.to_string()),
        details: e.details.as_ref().map(|d| StatusDetails {
            name: d.name.clone(),
            group: d.group.map(str::to_string),
            kind: d.kind.map(str::to_string),
            causes: d
                .causes
                .iter()
                .map(|c| StatusCause {
                    reason: Some(c.reason.to_string()),
                    message: Some(c.message.clone()),
                    field: c.field.map(str::to_string),
                })
                .collect(),
            retry_after_seconds: d.retry_after_seconds.map(|s| s as i32),
        }),
        code: Some(i32::from(e.code)),
    }
    .encode_to_vec()
}

/// The enveloped object of a BOOKMARK: only `metadata.resourceVersion` (and, ending the initial
/// events, the annotations a streaming list waits for, with the empty list's blueprint encoded as
/// this stream encodes lists).
pub fn bookmark<T: Kind>(rv: u64, gv: GroupVersion, initial_end: bool) -> Vec<u8> {
    let mut annotations = BTreeMap::new();
    if initial_end {
        use base64::Engine;
        let blueprint = envelope(gv.api_version, T::LIST_KIND, vec![0x0a, 0x00]);
        annotations.insert("k8s.io/initial-events-end".into(), "true".into());
        annotations.insert(
            "kubernetes.io/initial-events-list-blueprint".into(),
            base64::engine::general_purpose::STANDARD.encode(blueprint),
        );
    }
    let object = NodeMetrics {
        metadata: Some(ObjectMeta {
            resource_version: Some(rv.to_string()),
            annotations,
            ..ObjectMeta::default()
        }),
        ..NodeMetrics::default()
    };
    // NodeMetrics and PodMetrics share field 1 (metadata): one message serves both kinds.
    envelope(gv.api_version, T::KIND, object.encode_to_vec())
}
