//! The fake apiserver's object store: objects with per-object resourceVersions, one global
//! monotonic resourceVersion counter, a bounded event log for watch resumption and a broadcast
//! channel for live events. Also the label and field selectors used by list and watch.
//!
//! Objects are kept as compact model data and rendered to JSON on request, so a cluster of
//! thousands of nodes costs little memory.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use super::model::{SimNode, SimPod};

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

    fn key(&self) -> Key {
        (
            self.kind(),
            self.namespace().to_string(),
            self.name().to_string(),
        )
    }

    /// Value of a supported field-selector field; `None` if the kind does not support it.
    fn field(&self, field: &str) -> Option<String> {
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

type Key = (Kind, String, String);

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change. `obj.rv` is the event's resourceVersion; for DELETED, `obj` is the last
/// state stamped with the deletion's RV. `prev` is the state before a MODIFIED (for selector
/// transitions).
#[derive(Debug)]
pub(crate) struct Event {
    pub etype: EventType,
    pub obj: Stored,
    pub prev: Option<Stored>,
}

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Stored>,
    log: VecDeque<Arc<Event>>,
    /// Every event with RV > floor is still in `log`.
    floor: u64,
    log_cap: usize,
}

/// Where a watch starts.
pub(crate) enum WatchStart {
    /// Events to replay (already filtered by kind, not by selectors), the live receiver and the
    /// store RV at subscription time.
    Ok {
        replay: Vec<Arc<Event>>,
        snapshot: Option<Vec<Stored>>,
        rx: broadcast::Receiver<Arc<Event>>,
        rv: u64,
    },
    /// The requested RV is older than the log; carries the oldest resumable RV.
    TooOld(u64),
}

/// The object store; all mutations take one lock, which also orders the broadcast.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Store {
    /// An empty store whose log keeps `log_cap` events.
    pub(crate) fn new(log_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(log_cap.max(16));
        Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: BTreeMap::new(),
                log: VecDeque::with_capacity(log_cap.min(4096)),
                floor: 0,
                log_cap,
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the initial objects without logging events (like objects that existed before the
    /// apiserver's watch cache started): watches from older RVs get 410.
    pub(crate) fn seed(&self, objects: impl IntoIterator<Item = ObjData>) {
        let mut inner = self.lock();
        for data in objects {
            inner.rv += 1;
            let rv = inner.rv;
            inner.objects.insert(data.key(), Stored { rv, data });
        }
        inner.floor = inner.rv;
    }

    /// The current global resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    fn commit(&self, inner: &mut Inner, ev: Event) {
        let ev = Arc::new(ev);
        inner.log.push_back(ev.clone());
        while inner.log.len() > inner.log_cap {
            if let Some(old) = inner.log.pop_front() {
                inner.floor = old.obj.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Creates or replaces an object (ADDED or MODIFIED). Returns its new RV.
    pub(crate) fn upsert(&self, data: ObjData) -> u64 {
        let mut inner = self.lock();
        inner.rv += 1;
        let rv = inner.rv;
        let stored = Stored { rv, data };
        let prev = inner.objects.insert(stored.data.key(), stored.clone());
        let etype = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.commit(
            &mut inner,
            Event {
                etype,
                obj: stored,
                prev,
            },
        );
        rv
    }

    /// Deletes an object; returns its last state if it existed.
    pub(crate) fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Option<Stored> {
        let mut inner = self.lock();
        let old = inner
            .objects
            .remove(&(kind, namespace.to_string(), name.to_string()))?;
        inner.rv += 1;
        let obj = Stored {
            rv: inner.rv,
            data: old.data.clone(),
        };
        self.commit(
            &mut inner,
            Event {
                etype: EventType::Deleted,
                obj,
                prev: None,
            },
        );
        Some(old)
    }

    /// One object.
    pub(crate) fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Stored> {
        self.lock()
            .objects
            .get(&(kind, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// A page of objects of `kind` matching `filter`, in (namespace, name) order, starting after
    /// the key `after` and holding at most `limit` objects (None = all). Returns the store RV,
    /// the page, and the key to continue after when more objects match.
    pub(crate) fn list_page(
        &self,
        kind: Kind,
        filter: &Filter,
        after: Option<(String, String)>,
        limit: Option<usize>,
    ) -> (u64, Vec<Stored>, Option<(String, String)>) {
        let inner = self.lock();
        let ns = filter.namespace.as_deref();
        let start = match after {
            Some((a_ns, a_name)) => Bound::Excluded((kind, a_ns, a_name)),
            None => Bound::Included((kind, ns.unwrap_or("").to_string(), String::new())),
        };
        let mut page: Vec<Stored> = Vec::new();
        let mut next = None;
        for ((k, ons, _), s) in inner.objects.range((start, Bound::Unbounded)) {
            if *k != kind || ns.is_some_and(|want| want != ons) {
                break;
            }
            if !filter.matches(&s.data) {
                continue;
            }
            if limit.is_some_and(|l| page.len() >= l) {
                next = page
                    .last()
                    .map(|l| (l.data.namespace().to_string(), l.data.name().to_string()));
                break;
            }
            page.push(s.clone());
        }
        (inner.rv, page, next)
    }

    /// Starts a watch. `from` = None means "now, with the current state as a snapshot" (RV
    /// unset or "0"); `initial` forces a snapshot (sendInitialEvents=true).
    pub(crate) fn watch(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        from: Option<u64>,
        initial: bool,
    ) -> WatchStart {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        match from {
            Some(n) if !initial => {
                if n < inner.floor {
                    return WatchStart::TooOld(inner.floor);
                }
                let replay = inner
                    .log
                    .iter()
                    .filter(|e| e.obj.rv > n && e.obj.data.kind() == kind)
                    .cloned()
                    .collect();
                WatchStart::Ok {
                    replay,
                    snapshot: None,
                    rx,
                    rv: inner.rv.max(n),
                }
            }
            _ => WatchStart::Ok {
                replay: Vec::new(),
                snapshot: Some(list_locked(&inner, kind, namespace)),
                rx,
                rv: inner.rv,
            },
        }
    }
}

fn list_locked(inner: &Inner, kind: Kind, namespace: Option<&str>) -> Vec<Stored> {
    let lo = (kind, namespace.unwrap_or("").to_string(), String::new());
    inner
        .objects
        .range(lo..)
        .take_while(|((k, ns, _), _)| *k == kind && namespace.is_none_or(|want| want == ns))
        .map(|(_, v)| v.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Selectors

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A Kubernetes label selector (equality, set-based and existence requirements, AND-ed).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<LabelReq>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "unable to parse requirement: unexpected ')' in {s:?}"
                    ));
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!(
            "unable to parse requirement: unbalanced '(' in {s:?}"
        ));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    /// Parses the selector grammar (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`,
    /// `k notin (a,b)`), comma-separated.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut reqs = Vec::new();
        for part in split_top_level(s)? {
            let p = part.trim();
            if p.is_empty() {
                return Err("found '', expected: identifier after ','".into());
            }
            let bad = || format!("unable to parse requirement: can't understand {p:?}");
            let req = if let Some(k) = p.strip_prefix('!') {
                LabelReq::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = p.split_once("!=") {
                LabelReq::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==") {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once('=') {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some(open) = p.find('(') {
                let head = p[..open].trim();
                let inner = p[open + 1..].strip_suffix(')').ok_or_else(bad)?;
                let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
                let (k, op) = head.rsplit_once(char::is_whitespace).ok_or_else(bad)?;
                match op {
                    "in" => LabelReq::In(k.trim().into(), values),
                    "notin" => LabelReq::NotIn(k.trim().into(), values),
                    _ => return Err(bad()),
                }
            } else if valid_key(p) {
                LabelReq::Exists(p.to_string())
            } else {
                return Err(format!(
                    "unable to parse requirement: found '{p}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            };
            let key = match &req {
                LabelReq::Eq(k, _)
                | LabelReq::NotEq(k, _)
                | LabelReq::In(k, _)
                | LabelReq::NotIn(k, _)
                | LabelReq::Exists(k)
                | LabelReq::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(format!(
                    "unable to parse requirement: invalid label key {key:?}"
                ));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether a label set satisfies every requirement.
    pub(crate) fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| {
            labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| v.as_str())
        };
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A field selector: `field=value`, `field==value`, `field!=value`, comma-AND.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses and validates against the fields `kind` supports (400 message on error).
    pub(crate) fn parse(s: &str, kind: Kind) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (f, eq, v) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            };
            let supported = matches!(f, "metadata.name" | "metadata.namespace")
                || probe_field(kind, f).is_some();
            if !supported {
                return Err(format!("field label not supported: {f}"));
            }
            terms.push((f.to_string(), eq, v.to_string()));
        }
        Ok(Self(terms))
    }

    /// Whether the object satisfies every term.
    pub(crate) fn matches(&self, obj: &ObjData) -> bool {
        self.0.iter().all(|(f, eq, v)| {
            let actual = obj.field(f).unwrap_or_default();
            (actual == *v) == *eq
        })
    }
}

fn probe_field(kind: Kind, field: &str) -> Option<()> {
    let ok = match kind {
        Kind::Pod => matches!(
            field,
            "spec.nodeName"
                | "status.phase"
                | "status.podIP"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "spec.hostNetwork"
                | "status.nominatedNodeName"
        ),
        Kind::Node => field == "spec.unschedulable",
        Kind::Namespace => field == "status.phase",
    };
    ok.then_some(())
}

/// Label + field selectors and namespace scope of a list or watch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub(crate) fn matches(&self, obj: &ObjData) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| obj.namespace() == ns)
            && self.labels.matches(obj.labels())
            && self.fields.matches(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str) -> ObjData {
        ObjData::Namespace(Arc::new(NsObj {
            name: name.into(),
            uid: "u".into(),
            created_s: 0,
        }))
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors() {
        let l = labels(&[("app", "web"), ("tier", "frontend"), ("role", "")]);
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=web,tier=frontend", true),
            ("app=web,tier=backend", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("missing!=x", true),
            ("role=", true),
            ("app in (api,web)", true),
            ("app notin (api,web)", false),
            ("missing notin (a)", true),
            ("tier in (backend), app", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("a,").is_err());
        assert!(LabelSelector::parse("a in (x").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = ns("shop");
        assert!(
            FieldSelector::parse("metadata.name=shop", Kind::Namespace)
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=shop", Kind::Namespace)
                .unwrap()
                .matches(&o)
        );
        assert!(
            FieldSelector::parse("metadata.namespace=", Kind::Namespace)
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("spec.nodeName=x", Kind::Node).is_err());
        assert!(FieldSelector::parse("spec.nodeName=x", Kind::Pod).is_ok());
        assert!(FieldSelector::parse("garbage", Kind::Pod).is_err());
    }

    #[test]
    fn store_events_and_log() {
        let store = Store::new(3);
        store.seed([ns("a"), ns("b")]);
        assert_eq!(store.current_rv(), 2);
        let all = Filter::default();
        let (rv, items, next) = store.list_page(Kind::Namespace, &all, None, None);
        assert_eq!((rv, items.len(), next), (2, 2, None));
        let (_, page, next) = store.list_page(Kind::Namespace, &all, None, Some(1));
        assert_eq!(page[0].data.name(), "a");
        assert_eq!(next, Some((String::new(), "a".to_string())));
        let (_, page, next) = store.list_page(Kind::Namespace, &all, next, Some(1));
        assert_eq!((page[0].data.name(), next), ("b", None));
        assert_eq!(store.upsert(ns("c")), 3);
        assert_eq!(store.upsert(ns("c")), 4);
        assert!(store.delete(Kind::Namespace, "", "a").is_some());
        assert!(store.delete(Kind::Namespace, "", "a").is_none());
        match store.watch(Kind::Namespace, None, Some(2), false) {
            WatchStart::Ok { replay, .. } => {
                let types: Vec<_> = replay.iter().map(|e| (e.etype, e.obj.rv)).collect();
                assert_eq!(
                    types,
                    vec![
                        (EventType::Added, 3),
                        (EventType::Modified, 4),
                        (EventType::Deleted, 5)
                    ]
                );
            }
            WatchStart::TooOld(_) => panic!("should resume"),
        }
        store.upsert(ns("d"));
        // Log holds 3 events now (4, 5, 6): resuming from 2 is too old, from 3 is fine.
        assert!(matches!(
            store.watch(Kind::Namespace, None, Some(2), false),
            WatchStart::TooOld(3)
        ));
        assert!(matches!(
            store.watch(Kind::Namespace, None, Some(3), false),
            WatchStart::Ok { .. }
        ));
        assert!(matches!(
            store.watch(Kind::Node, None, Some(1), false),
            WatchStart::TooOld(_)
        ));
    }
}
