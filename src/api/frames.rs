//! The frames of a watch stream: each event's object in the negotiated form (the object, a one-row
//! Table, PartialObjectMetadata), `ERROR` events with a Status, and BOOKMARKs, as newline-delimited
//! JSON. Kept apart from the stream machinery in `watch.rs`, which only queues what these build.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;

use super::kind::Kind;
use super::negotiate::Shape;
use super::proto;
use super::status::ApiError;
use super::table::{self, IncludeObject};
use super::types::{Encoding, GroupVersion};
use crate::store::Versioned;

/// The form of each event's `object`: the object itself, a one-row Table, or PartialObjectMetadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventForm {
    /// As negotiated.
    pub shape: Shape,
    /// For Tables, what each row carries.
    pub include: IncludeObject,
    /// Length-prefixed protobuf `WatchEvent`s (`;stream=watch`) instead of JSON lines.
    pub protobuf: bool,
}

impl EventForm {
    /// Plain JSON objects.
    pub const OBJECT: EventForm = EventForm {
        shape: Shape::Object,
        include: IncludeObject::Metadata,
        protobuf: false,
    };

    /// The stream's Content-Type.
    pub fn content_type(self) -> &'static str {
        if self.protobuf {
            "application/vnd.kubernetes.protobuf;stream=watch"
        } else {
            "application/json"
        }
    }

    /// The frame-cache slot of this form, for the forms common enough to share: objects, and the
    /// `meta.k8s.io/v1` Table with metadata rows that `kubectl get -w` asks for.
    pub(super) fn slot(self, gv: GroupVersion) -> Option<usize> {
        match (self.shape, self.include) {
            (Shape::Object, _) if self.protobuf => Some(gv.slot(Encoding::Protobuf)),
            (Shape::Object, _) => Some(gv.slot(Encoding::Json)),
            (Shape::Table("v1"), IncludeObject::Metadata) => Some(gv.slot(Encoding::Table)),
            _ => None,
        }
    }
}

fn encode_object<T: Kind>(
    out: &mut Vec<u8>,
    value: &Arc<T>,
    rv: u64,
    gv: GroupVersion,
    form: EventForm,
) -> serde_json::Result<()> {
    match form.shape {
        Shape::Object => serde_json::to_writer(out, &value.wire(rv, gv, true)),
        Shape::Table(mv) => {
            let v = Versioned {
                rv,
                value: value.clone(),
            };
            let t = table::table(table::object_meta(rv), &[&v], gv, mv, form.include);
            serde_json::to_writer(out, &t)
        }
        Shape::PartialMetadata(mv) => {
            let v = Versioned {
                rv,
                value: value.clone(),
            };
            serde_json::to_writer(out, &table::partial(&v, mv))
        }
    }
}

/// One protobuf stream frame of `etype` around an enveloped object.
fn proto_frame(etype: &str, envelope: Vec<u8>) -> Bytes {
    proto::watch_event(etype, &envelope).into()
}

pub(super) fn frame<T: Kind>(
    etype: &str,
    value: &Arc<T>,
    rv: u64,
    gv: GroupVersion,
    form: EventForm,
) -> Bytes {
    if form.protobuf {
        return proto_frame(
            etype,
            proto::envelope(gv.api_version, T::KIND, value.proto(rv)),
        );
    }
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    if encode_object(&mut out, value, rv, gv, form).is_err() {
        return error_frame(form, &ApiError::internal("encoding a watch event failed"));
    }
    out.extend_from_slice(b"}\n");
    out.into()
}

pub(super) fn error_frame(form: EventForm, e: &ApiError) -> Bytes {
    if form.protobuf {
        return proto_frame("ERROR", proto::envelope("v1", "Status", proto::status(e)));
    }
    let mut out = b"{\"type\":\"ERROR\",\"object\":".to_vec();
    out.extend_from_slice(&e.body());
    out.extend_from_slice(b"}\n");
    out.into()
}

pub(super) fn bookmark_frame<T: Kind>(
    rv: u64,
    gv: GroupVersion,
    form: EventForm,
    initial_end: bool,
) -> Bytes {
    if form.protobuf {
        return proto_frame("BOOKMARK", proto::bookmark::<T>(rv, gv, initial_end));
    }
    let annotations = if initial_end {
        let blueprint = format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{{}},\"items\":null}}\n",
            T::LIST_KIND,
            gv.api_version
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(blueprint);
        format!(
            ",\"annotations\":{{\"k8s.io/initial-events-end\":\"true\",\"kubernetes.io/initial-events-list-blueprint\":\"{b64}\"}}"
        )
    } else {
        String::new()
    };
    format!(
        "{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{rv}\",\"creationTimestamp\":null{annotations}}},{}}}}}\n",
        T::KIND,
        gv.api_version,
        T::ZERO_TAIL
    )
    .into()
}
