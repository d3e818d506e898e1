//! What two views of the served state must agree on, and how a watcher applies an event.

#[allow(unused_imports)]
use super::*;

/// Key (as a continue token writes it) → resourceVersion: what two views must agree on.
pub(super) type Map = BTreeMap<String, u64>;

pub(super) fn key_of<T: Kind>(v: &T) -> String {
    T::key_to_string(&v.key())
}

/// The label the selector tests use: `app=web` for pods, `zone=a` for nodes.
pub(super) fn selector<T: Kind>() -> (&'static str, &'static str) {
    if T::NAMESPACED {
        ("app", "web")
    } else {
        ("zone", "a")
    }
}

pub(super) fn selects<T: Kind>(v: &T) -> bool {
    let (k, val) = selector::<T>();
    v.labels()
        .iter()
        .any(|(a, b)| a.as_ref() == k && b.as_ref() == val)
}

pub(super) fn in_ns<T: Kind>(v: &T, ns: Option<&str>) -> bool {
    ns.is_none_or(|ns| v.namespace().is_some_and(|x| x.as_ref() == ns))
}

/// The part of `snap` a reader of `ns` with or without the selector sees.
pub(super) fn view<T: Kind>(snap: &Snapshot<T>, ns: Option<&str>, sel: bool) -> Map {
    snap.iter()
        .filter(|v| in_ns(&*v.value, ns) && (!sel || selects(&*v.value)))
        .map(|v| (key_of(&*v.value), v.rv))
        .collect()
}

/// The keys of that part, in the snapshot's (and so the list's) order.
pub(super) fn keys<T: Kind>(snap: &Snapshot<T>, ns: Option<&str>, sel: bool) -> Vec<String> {
    snap.iter()
        .filter(|v| in_ns(&*v.value, ns) && (!sel || selects(&*v.value)))
        .map(|v| key_of(&*v.value))
        .collect()
}

/// Same keys, versions and values.
pub(super) fn same<T: Kind>(a: &Snapshot<T>, b: &Snapshot<T>) -> bool {
    a.rv == b.rv
        && a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.rv == y.rv && x.value == y.value)
}

/// Applies one event to a watcher's state, checking it is consistent with what the watcher has.
pub(super) fn apply<T: Kind>(
    state: &mut Map,
    e: &Event<T>,
    who: &str,
) -> Result<(), TestCaseError> {
    let key = key_of(&*e.object.value);
    prop_assert_eq!(e.object.rv, e.rv, "{}: event and object versions", who);
    match e.kind {
        EventType::Added => {
            prop_assert!(e.prev.is_none(), "{}: ADDED {} with a prev", who, key);
            let had = state.insert(key.clone(), e.rv);
            prop_assert!(had.is_none(), "{}: ADDED {} it already had", who, key);
        }
        EventType::Modified => {
            let prev = e.prev.as_ref().map(|p| p.rv);
            prop_assert!(prev.is_some(), "{}: MODIFIED {} without prev", who, key);
            let had = state.insert(key.clone(), e.rv);
            prop_assert_eq!(
                had,
                prev,
                "{}: MODIFIED {} replaced another version",
                who,
                key
            );
            let p = e.prev.as_ref().map(|p| p.value.clone());
            prop_assert!(
                p.is_some_and(|p| *p != *e.object.value),
                "{}: MODIFIED {} that changed nothing",
                who,
                key
            );
        }
        EventType::Deleted => {
            let prev = e.prev.as_ref();
            prop_assert!(
                prev.is_some_and(|p| p.value == e.object.value),
                "{}: DELETED {} is not its last state",
                who,
                key
            );
            let had = state.remove(&key);
            prop_assert_eq!(had, prev.map(|p| p.rv), "{}: DELETED {}", who, key);
        }
    }
    Ok(())
}
