//! The frames of a watch stream: each event's object in the negotiated form (the object, a one-row
//! Table, PartialObjectMetadata), `ERROR` events with a Status, and BOOKMARKs, as newline-delimited
//! JSON. Kept apart from the stream machinery in `watch.rs`, which only queues what these build.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;

use super::kind::Kind;
use super::negotiate::Shape;
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
}

impl EventForm {
    /// Plain JSON objects.
    pub const OBJECT: EventForm = EventForm {
        shape: Shape::Object,
        include: IncludeObject::Metadata,
    };

    /// The frame-cache slot of this form, for the forms common enough to share: objects, and the
    /// `meta.k8s.io/v1` Table with metadata rows that `kubectl get -w` asks for.
    pub(super) fn slot(self, gv: GroupVersion) -> Option<usize> {
        match (self.shape, self.include) {
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

pub(super) fn frame<T: Kind>(
    etype: &str,
    value: &Arc<T>,
    rv: u64,
    gv: GroupVersion,
    form: EventForm,
) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    if encode_object(&mut out, value, rv, gv, form).is_err() {
        return error_frame(&ApiError::internal("encoding a watch event failed"));
    }
    out.extend_from_slice(b"}\n");
    out.into()
}

pub(super) fn error_frame(e: &ApiError) -> Bytes {
    let mut out = b"{\"type\":\"ERROR\",\"object\":".to_vec();
    out.extend_from_slice(&e.body());
    out.extend_from_slice(b"}\n");
    out.into()
}

pub(super) fn bookmark_frame<T: Kind>(rv: u64, gv: GroupVersion, initial_end: bool) -> Bytes {
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
