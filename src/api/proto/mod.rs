//! `application/vnd.kubernetes.protobuf`: the messages of `k8s.io/metrics`' and apimachinery's
//! `generated.proto`, and the Kubernetes envelope: `k8s\0` followed by a `runtime.Unknown` whose
//! `raw` is the object's message.
//!
//! kubectl top and the HPA controller ask for protobuf first because it is cheaper for them to
//! decode. Every message is written by hand, sizes first, straight from what is served (no protoc,
//! no owned message structs to copy into): `wire` writes the fields, `metrics` the NodeMetrics and
//! PodMetrics messages, `status` the Status of an error. The tests check the bytes against prost
//! structs of the same messages (`reference`, built for tests only).

pub mod metrics;
mod status;
mod wire;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

pub use status::status;

use super::kind::Kind;
use super::types::{GroupVersion, ListMeta};
use crate::store::Versioned;
use wire::{bytes_len, int_len, msg_len, put_bytes, put_int, put_msg, put_str, put_str_entry};
use wire::{str_entry_len, str_len};

/// The four bytes every protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// `k8s\0` + `runtime.Unknown{typeMeta, raw}`, with the empty `contentEncoding` and `contentType`
/// Go writes.
pub fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let type_meta = str_len(api_version) + str_len(kind);
    let len = MAGIC.len() + msg_len(type_meta) + bytes_len(raw.len()) + 2 * str_len("");
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    put_msg(&mut out, 1, type_meta);
    put_str(&mut out, 1, api_version);
    put_str(&mut out, 2, kind);
    put_bytes(&mut out, 2, &raw);
    put_str(&mut out, 3, "");
    put_str(&mut out, 4, "");
    out
}

/// The enveloped protobuf of one object.
pub fn object<T: Kind>(v: &Versioned<T>, gv: GroupVersion) -> Vec<u8> {
    envelope(gv.api_version, T::KIND, v.value.proto(v.rv))
}

/// The enveloped protobuf of a list: `ListMeta` (field 1) and each item's message (field 2),
/// written as length-delimited fields without building a list message.
pub fn list<T: Kind>(meta: &ListMeta, items: &[&Versioned<T>], gv: GroupVersion) -> Vec<u8> {
    let token = meta.continue_token.as_deref().unwrap_or_default();
    let remaining = meta.remaining_item_count.map(|n| n as i64);
    let list_meta = str_len(&meta.resource_version) + str_len(token) + remaining.map_or(0, int_len);
    let mut raw = Vec::with_capacity(64 + items.len() * 256);
    put_msg(&mut raw, 1, list_meta);
    put_str(&mut raw, 2, &meta.resource_version);
    put_str(&mut raw, 3, token);
    if let Some(n) = remaining {
        put_int(&mut raw, 4, n);
    }
    for v in items {
        put_bytes(&mut raw, 2, &v.value.proto(v.rv));
    }
    envelope(gv.api_version, T::LIST_KIND, raw)
}

/// The enveloped object of a BOOKMARK: only `metadata.resourceVersion` (and, ending the initial
/// events, the annotations a streaming list waits for, with the empty list's blueprint encoded as
/// this stream encodes lists).
pub fn bookmark<T: Kind>(rv: u64, gv: GroupVersion, initial_end: bool) -> Vec<u8> {
    let rv = rv.to_string();
    let mut annotations = Vec::new();
    if initial_end {
        use base64::Engine;
        let blueprint = envelope(gv.api_version, T::LIST_KIND, vec![0x0a, 0x00]);
        // Sorted by key, as Go writes a map.
        annotations.push(("k8s.io/initial-events-end", "true".to_string()));
        annotations.push((
            "kubernetes.io/initial-events-list-blueprint",
            base64::engine::general_purpose::STANDARD.encode(blueprint),
        ));
    }
    let meta = str_len(&rv)
        + annotations
            .iter()
            .map(|(k, v)| str_entry_len(k, v))
            .sum::<usize>();
    // NodeMetrics and PodMetrics share field 1 (metadata): one message serves both kinds.
    let mut object = Vec::with_capacity(msg_len(meta));
    put_msg(&mut object, 1, meta);
    put_str(&mut object, 6, &rv);
    for (k, v) in &annotations {
        put_str_entry(&mut object, 12, k, v);
    }
    envelope(gv.api_version, T::KIND, object)
}

/// One protobuf stream frame: a 4-byte big-endian length, then `metav1.WatchEvent{type,
/// object: RawExtension{raw}}` unwrapped (Go's stream serializer is the raw one), whose `raw` is the
/// object in its `k8s\0` envelope.
pub fn watch_event(etype: &str, envelope: &[u8]) -> Vec<u8> {
    let ext = bytes_len(envelope.len());
    let event = str_len(etype) + msg_len(ext);
    let mut out = Vec::with_capacity(4 + event);
    out.extend_from_slice(&(event as u32).to_be_bytes());
    put_str(&mut out, 1, etype);
    put_msg(&mut out, 2, ext);
    put_bytes(&mut out, 1, envelope);
    out
}
