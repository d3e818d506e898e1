//! Lists over one snapshot: resourceVersion semantics, selectors, `limit`/`continue` paging.
//!
//! A page costs what it returns: the snapshot is an ordered map, so a namespace or a continue key
//! is a range, not a scan of the cluster.

use std::ops::Bound;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::kind::Kind;
use super::query::{ListFrom, ListQuery};
use super::status::ApiError;
use super::types::{GroupVersion, List, ListMeta};
use crate::store::{ChangeLog, HistoryError, Snapshot, Versioned};

/// How long a list or watch waits for a resourceVersion not reached yet (kube-apiserver: 3 s).
pub const RV_WAIT: Duration = Duration::from_secs(3);

/// Message of a 410 for a list at a resourceVersion older than the history kept.
pub const LIST_TOO_OLD: &str = "The resourceVersion for the provided list is too old.";

/// Message of a 410 for a continue token older than the history kept (Go's wording).
pub const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// The `rv` of a continue token that lists the remainder from the current state instead of a
/// snapshot: Go's -1 (0 is what a token without a resourceVersion decodes to, and is invalid).
pub const INCONSISTENT_RV: i64 = -1;

/// The continue token: Go's shape (`v`, `rv`, `start` = last key + NUL), plus how many items came
/// before, so `remainingItemCount` costs nothing. Clients treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    /// Always `meta.k8s.io/v1`.
    pub v: String,
    /// resourceVersion of the snapshot every page reads; negative ([`INCONSISTENT_RV`]) to go on
    /// from `start` in the current state, as the token of an expired one's 410 does.
    pub rv: i64,
    /// The last key served, followed by NUL: the next page starts after it.
    pub start: String,
    /// Items served before the next page (recounted in the current state for a negative `rv`).
    #[serde(default)]
    pub i: u64,
}

impl ContinueToken {
    /// base64url (no padding) of the JSON, as Go encodes it.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a token; errors are the 400s Go answers.
    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = |why: String| {
            ApiError::bad_request(format!(
                "invalid continue token: continue key is not valid: {why}"
            ))
        };
        let data = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|e| invalid(e.to_string()))?;
        let t: ContinueToken = serde_json::from_slice(&data).map_err(|e| invalid(e.to_string()))?;
        if t.v != "meta.k8s.io/v1" {
            return Err(ApiError::bad_request(
                "invalid continue token: continue key is not valid: server does not recognize this encoded version",
            ));
        }
        if t.rv == 0 {
            return Err(invalid(
                "incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into(),
            ));
        }
        if t.start.is_empty() {
            return Err(invalid(
                "encoded start key empty (version meta.k8s.io/v1)".into(),
            ));
        }
        Ok(t)
    }

    fn key(&self) -> &str {
        self.start.strip_suffix('\0').unwrap_or(&self.start)
    }
}

fn history_error(e: HistoryError, too_old: &str) -> ApiError {
    match e {
        HistoryError::TooOld { .. } => ApiError::expired(too_old),
        HistoryError::TooLarge { requested, current } => {
            ApiError::too_large_resource_version(requested, current)
        }
    }
}

/// The snapshot a list of `namespace` (or all) reads, where its page starts, and how many items
/// came before.
///
/// A continue token whose snapshot has left the history is a 410 carrying a fresh token for the
/// same key at [`INCONSISTENT_RV`]; that token continues from the key in the current state, which
/// later pages then read consistently (Go's `handleCompactedErrorForPaging` and
/// `ValidateListOptions`).
pub async fn resolve<T: Kind>(
    log: &ChangeLog,
    q: &ListQuery,
    namespace: Option<&str>,
) -> Result<(Snapshot<T>, Option<T::Key>, u64), ApiError> {
    let from = q.list_from()?;
    if let Some(raw) = q.continue_token() {
        let token = ContinueToken::decode(raw)?;
        let start = T::key_from_str(token.key()).ok_or_else(|| {
            ApiError::bad_request("invalid continue token: continue key is not valid")
        })?;
        let Ok(rv) = u64::try_from(token.rv) else {
            let snap = latest(log, q.pages());
            let before = selected_through(&snap, q, namespace, &start);
            return Ok((snap, Some(start), before));
        };
        if rv > log.current() || rv < log.base() {
            return Err(ApiError::bad_request(
                "invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        }
        let snap = match log.snapshot_at::<T>(rv) {
            Ok(snap) => snap,
            Err(HistoryError::TooOld { .. }) => {
                let fresh = ContinueToken {
                    rv: INCONSISTENT_RV,
                    ..token
                };
                return Err(ApiError::expired_continue(CONTINUE_TOO_OLD, fresh.encode()));
            }
            Err(e) => return Err(history_error(e, CONTINUE_TOO_OLD)),
        };
        return Ok((snap, Some(start), token.i));
    }
    let pages = q.pages();
    let snap = match from {
        ListFrom::Latest => latest(log, pages),
        ListFrom::NotOlderThan(n) => {
            log.wait_for(n, RV_WAIT)
                .await
                .map_err(|e| history_error(e, LIST_TOO_OLD))?;
            latest(log, pages)
        }
        ListFrom::Exact(n) => {
            log.wait_for(n, RV_WAIT)
                .await
                .map_err(|e| history_error(e, LIST_TOO_OLD))?;
            log.snapshot_at::<T>(n)
                .map_err(|e| history_error(e, LIST_TOO_OLD))?
        }
    };
    Ok((snap, None, 0))
}

fn latest<T: Kind>(log: &ChangeLog, pages: bool) -> Snapshot<T> {
    if pages {
        log.snapshot_for_paging::<T>()
    } else {
        log.snapshot::<T>()
    }
}

/// Whether the list's selectors select `v`.
fn selected<T: Kind>(q: &ListQuery, v: &Versioned<T>) -> bool {
    q.labels.matches(
        v.value
            .labels()
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref())),
    ) && v.value.fields_match(&q.fields)
}

/// How many items of the list are at or before `key` in `snap`: where a continuation from the
/// current state stands, so its token count and `remainingItemCount` stay exact.
fn selected_through<T: Kind>(
    snap: &Snapshot<T>,
    q: &ListQuery,
    namespace: Option<&str>,
    key: &T::Key,
) -> u64 {
    let Some((lo, hi)) = T::bounds(namespace) else {
        return 0;
    };
    snap.range(lo, hi)
        .take_while(|v| v.value.key() <= *key)
        .filter(|v| selected(q, v))
        .count() as u64
}

/// One page of a list: the matching items from `start` on, at most `limit` (0: all).
pub struct Page<'a, T: Kind> {
    /// Items in key order.
    pub items: Vec<&'a Versioned<T>>,
    /// Token for the rest, when more items match.
    pub next: Option<ContinueToken>,
    /// Items after this page, when no selector was given.
    pub remaining: Option<u64>,
}

/// Selects a page of `snap`: the namespace's range, after `start`, filtered by the selectors.
pub fn page<'a, T: Kind>(
    snap: &'a Snapshot<T>,
    q: &ListQuery,
    namespace: Option<&str>,
    start: Option<T::Key>,
    before: u64,
) -> Page<'a, T> {
    let limit = if q.pages() || q.continue_token().is_some() {
        usize::try_from(q.limit.max(0)).unwrap_or(usize::MAX)
    } else {
        0
    };
    let Some((lo, hi)) = T::bounds(namespace) else {
        return Page {
            items: Vec::new(),
            next: None,
            remaining: None,
        };
    };
    let lo = match &start {
        Some(k) => Bound::Excluded(k.clone()),
        None => lo,
    };
    // A single name is a point lookup, whatever the cluster's size.
    let named = q.fields.required_name().and_then(|name| {
        let key = match namespace {
            Some(ns) => T::key_from_str(&format!("{ns}/{name}"))?,
            None => T::key_from_str(name)?,
        };
        Some(snap.get(&key).into_iter().collect::<Vec<_>>())
    });
    let filtered = |v: &&std::sync::Arc<Versioned<T>>| selected(q, v);
    let mut items = Vec::new();
    let mut more = false;
    let mut visit = |v: &'a std::sync::Arc<Versioned<T>>| {
        if limit > 0 && items.len() == limit {
            more = true;
            return false;
        }
        items.push(&**v);
        true
    };
    match named {
        // Only the named item, and only if it is inside this page's range.
        Some(found) if T::bounds(namespace).is_some() => {
            for v in found.into_iter().filter(filtered) {
                let key = v.value.key();
                let in_range = match &lo {
                    Bound::Excluded(k) => key > *k,
                    Bound::Included(k) => key >= *k,
                    Bound::Unbounded => true,
                };
                if in_range && !visit(v) {
                    break;
                }
            }
        }
        _ => {
            for v in snap.range(lo.clone(), hi.clone()).filter(filtered) {
                if !visit(v) {
                    break;
                }
            }
        }
    }
    let served = before + items.len() as u64;
    let next = (more && !items.is_empty()).then(|| ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv: i64::try_from(snap.rv).unwrap_or(i64::MAX),
        start: format!(
            "{}\0",
            T::key_to_string(&items[items.len() - 1].value.key())
        ),
        i: served,
    });
    let remaining = match (&next, q.labels.is_empty() && q.fields.is_empty()) {
        (Some(_), true) => {
            let total = match namespace {
                None => snap.len() as u64,
                Some(_) => {
                    let (lo, hi) =
                        T::bounds(namespace).unwrap_or((Bound::Unbounded, Bound::Unbounded));
                    snap.range(lo.clone(), hi.clone()).count() as u64
                }
            };
            Some(total.saturating_sub(served))
        }
        _ => None,
    };
    Page {
        items,
        next,
        remaining,
    }
}

/// The list metadata of a page: the snapshot's resourceVersion, the continue token, the count left.
pub fn list_meta<T: Kind>(snap_rv: u64, page: &Page<'_, T>) -> ListMeta {
    ListMeta {
        resource_version: snap_rv.to_string(),
        continue_token: page.next.as_ref().map(ContinueToken::encode),
        remaining_item_count: page.remaining,
    }
}

/// The list document of a page.
pub fn document<'a, T: Kind>(
    snap_rv: u64,
    page: &'a Page<'a, T>,
    gv: GroupVersion,
) -> List<T::Wire<'a>> {
    List {
        kind: T::LIST_KIND,
        api_version: gv.api_version,
        metadata: list_meta(snap_rv, page),
        items: page
            .items
            .iter()
            .map(|v| v.value.wire(v.rv, gv, false))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::executor::block_on;

    use super::*;
    use crate::store::{Change, LogConfig, NodeObject, ObjectMeta, Usage};

    fn node(name: &str, cpu: u64) -> NodeObject {
        NodeObject {
            name: Arc::from(name),
            meta: ObjectMeta::default(),
            usage: Usage {
                timestamp_ms: 1_764_000_000_000,
                window_ms: 15_000,
                cpu_nanocores: cpu,
                memory_bytes: 1 << 20,
                swap_bytes: None,
            },
        }
    }

    fn names(p: &Page<'_, NodeObject>) -> Vec<String> {
        p.items.iter().map(|v| v.value.name.to_string()).collect()
    }

    /// One page of the node list with `query`.
    fn list_nodes(log: &ChangeLog, query: &str) -> Result<(Snapshot<NodeObject>, u64), ApiError> {
        let q = ListQuery::parse(query).unwrap();
        let (snap, start, before) = block_on(resolve::<NodeObject>(log, &q, None))?;
        let _ = page(&snap, &q, None, start, before);
        Ok((snap, before))
    }

    #[test]
    fn an_expired_continue_token_is_a_410_whose_token_lists_the_rest_of_the_current_state() {
        let log = ChangeLog::new(LogConfig {
            history: 2,
            snapshots: 1,
            ..LogConfig::default()
        });
        let upserts = |ns: &[(&str, u64)]| -> Vec<Change<NodeObject>> {
            ns.iter()
                .map(|(n, c)| Change::Upsert(node(n, *c)))
                .collect()
        };
        log.commit(upserts(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]), vec![]);
        let q = ListQuery::parse("limit=2").unwrap();
        let (snap, start, before) = block_on(resolve::<NodeObject>(&log, &q, None)).unwrap();
        let first = page(&snap, &q, None, start, before);
        assert_eq!(names(&first), ["a", "b"]);
        let stale = first.next.as_ref().unwrap().encode();

        // Since the first page: `b` (its last item) went, `a` changed and `bb` and `e` came; the
        // changes pushed its events out of the log and a newer paged list its snapshot.
        let mut changes = upserts(&[("a", 2), ("bb", 1), ("e", 1)]);
        changes.push(Change::Delete {
            key: Arc::from("b"),
            owner: None,
        });
        log.commit(changes, vec![]);
        list_nodes(&log, "limit=2").unwrap();

        let e = list_nodes(&log, &format!("limit=2&continue={stale}")).unwrap_err();
        assert_eq!((e.code, e.reason), (410, "Expired"));
        assert_eq!(e.message, CONTINUE_TOO_OLD);
        let fresh = e
            .continue_token
            .clone()
            .expect("a continue token in the 410");
        let token = ContinueToken::decode(&fresh).unwrap();
        assert_eq!(
            (token.rv, token.start.as_str()),
            (INCONSISTENT_RV, "b\0"),
            "Go's token for the same key at rv -1"
        );
        let body = String::from_utf8(e.body()).unwrap();
        assert_eq!(
            body,
            format!(
                r#"{{"kind":"Status","apiVersion":"v1","metadata":{{"continue":"{fresh}"}},"status":"Failure","message":"{CONTINUE_TOO_OLD}","reason":"Expired","code":410}}"#
            )
        );

        // The fresh token goes on after `b` in the current state, then pages consistently there.
        let q = ListQuery::parse(&format!("limit=2&continue={fresh}")).unwrap();
        let (snap, start, before) = block_on(resolve::<NodeObject>(&log, &q, None)).unwrap();
        assert_eq!(snap.rv, log.current());
        assert_eq!(before, 1, "only `a` is at or before `b` now");
        let second = page(&snap, &q, None, start, before);
        assert_eq!(names(&second), ["bb", "c"]);
        assert_eq!(second.remaining, Some(2));
        let next = second.next.as_ref().unwrap();
        assert_eq!((next.rv, next.i), (snap.rv as i64, 3));
        let q = ListQuery::parse(&format!("limit=2&continue={}", next.encode())).unwrap();
        let (snap3, start, before) = block_on(resolve::<NodeObject>(&log, &q, None)).unwrap();
        assert_eq!(snap3.rv, snap.rv);
        let third = page(&snap3, &q, None, start, before);
        assert_eq!(names(&third), ["d", "e"]);
        assert!(third.next.is_none());

        // Any negative resourceVersion reads the current state, as Go's; 0 stays invalid.
        for rv in [-1, -7] {
            let t = ContinueToken {
                rv,
                ..token.clone()
            };
            let (snap, before) =
                list_nodes(&log, &format!("limit=2&continue={}", t.encode())).unwrap();
            assert_eq!((snap.rv, before), (log.current(), 1));
        }
        let zero = ContinueToken { rv: 0, ..token };
        let e = list_nodes(&log, &format!("limit=2&continue={}", zero.encode())).unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn continue_tokens_round_trip_and_bad_ones_are_400s() {
        let t = ContinueToken {
            v: "meta.k8s.io/v1".into(),
            rv: 42,
            start: "ns/p\0".into(),
            i: 500,
        };
        let enc = t.encode();
        assert!(!enc.contains('='), "raw URL encoding has no padding");
        assert_eq!(ContinueToken::decode(&enc).unwrap(), t);
        assert_eq!(ContinueToken::decode(&enc).unwrap().key(), "ns/p");
        for bad in ["!!!", "e30", "bm90IGpzb24"] {
            let e = ContinueToken::decode(bad).unwrap_err();
            assert_eq!(e.code, 400, "{bad}");
            assert!(
                e.message
                    .starts_with("invalid continue token: continue key is not valid"),
                "{}",
                e.message
            );
        }
    }
}
