//! What a watcher selects, and how a change looks through its selectors.

use bytes::Bytes;

use super::EventForm;
use crate::api::frames::frame;
use crate::api::kind::Kind;
use crate::api::selector::{FieldSelector, LabelSelector};
use crate::api::types::GroupVersion;
use crate::store::{Event, EventType};

/// What a watcher selects.
#[derive(Debug, Clone)]
pub struct Filter {
    pub(super) labels: LabelSelector,
    pub(super) fields: FieldSelector,
}

impl Filter {
    /// Whether the object is selected, by its labels and its fields.
    pub(super) fn matches<T: Kind>(&self, v: &T) -> bool {
        self.labels
            .matches(v.labels().iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            && v.fields_match(&self.fields)
    }
}

/// The event as this watcher sees it, after selector transitions (`cache_watcher.go
/// convertToWatchEvent`): an object that starts matching is ADDED, one that stops is DELETED.
pub(super) fn convert<T: Kind>(
    e: &Event<T>,
    filter: &Filter,
    gv: GroupVersion,
    form: EventForm,
) -> Option<Bytes> {
    let cur = e.kind != EventType::Deleted && filter.matches(&*e.object.value);
    let old = e.prev.as_ref().is_some_and(|p| filter.matches(&*p.value));
    let cached = || {
        let encode = || frame(e.kind.as_str(), &e.object.value, e.object.rv, gv, form);
        match form.slot(gv) {
            Some(slot) => e.frames.get_or_init(slot, encode),
            None => encode(),
        }
    };
    match (cur, old) {
        (true, true) => Some(cached()),
        (true, false) if e.kind == EventType::Added => Some(cached()),
        (true, false) => Some(frame("ADDED", &e.object.value, e.rv, gv, form)),
        (false, true) if e.kind == EventType::Deleted => Some(cached()),
        (false, true) => {
            let prev = e.prev.as_ref()?;
            Some(frame("DELETED", &prev.value, e.rv, gv, form))
        }
        (false, false) => None,
    }
}
