//! Lists read a [`Snapshot`]: a persistent map cloned in O(1) under the lock, so a paged list can
//! keep reading one resourceVersion while commits go on.

use std::sync::Arc;

use imbl::OrdMap;

use crate::store::objects::{Object, Versioned};

/// A consistent view of one kind at one resourceVersion; nothing committed later shows in it.
#[derive(Debug)]
pub struct Snapshot<T: Object> {
    /// The resourceVersion this view reflects; no item in it is newer.
    pub rv: u64,
    pub(super) map: OrdMap<T::Key, Arc<Versioned<T>>>,
}

impl<T: Object> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
            rv: self.rv,
            map: self.map.clone(),
        }
    }
}

impl<T: Object> Snapshot<T> {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is served.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// One object.
    pub fn get(&self, key: &T::Key) -> Option<&Arc<Versioned<T>>> {
        self.map.get(key)
    }

    /// Objects in key order, starting at `from` (inclusive) and stopping before `to` (exclusive).
    pub fn range(
        &self,
        from: std::ops::Bound<T::Key>,
        to: std::ops::Bound<T::Key>,
    ) -> impl Iterator<Item = &Arc<Versioned<T>>> + '_ {
        self.map.range::<_, T::Key>((from, to)).map(|(_, v)| v)
    }

    /// Every object in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Versioned<T>>> {
        self.map.values()
    }
}
