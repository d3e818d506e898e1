//! Property test of the change log: random interleavings of scrapes, cluster-view changes, expiry,
//! lists, paged lists and watches, checked against what the log promises its readers.
//!
//! The example tests pin single behaviours; this one looks for orderings nobody wrote down. After
//! every operation it checks:
//!
//! - every resourceVersion is used by exactly one event, across both kinds, and they increase;
//! - a snapshot's items are no newer than it, and it equals the mirror built from every event;
//! - `snapshot_at(r)` equals the snapshot taken when the log was at `r`;
//! - a watcher's start (state, replay or nothing) plus its drained channel equals the current state;
//! - a paged list, with commits between its pages, returns its first page's snapshot exactly once;
//! - an API watch with a label selector never gets MODIFIED/DELETED for an object it does not have,
//!   nor ADDED for one it has, and ends up with exactly the matching current objects;
//! - a served object agrees with the cluster view (running, labels, node present), and after
//!   `expire` nothing of a node not scraped within the bound is served.
//!
//! Failures shrink to a short list of `Op`s; `PROPTEST_RNG_SEED` and the regression file that
//! proptest writes replay them.

use super::*;
use crate::api::kind::Kind;
use crate::api::list;
use crate::api::query::ListQuery;
use crate::api::types::V1BETA1;
use crate::api::watch::{self, WatchConfig, Watchers};
use actix_web::body::{BoxBody, MessageBody};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;

mod harness;
mod ops;
mod readers;
mod views;

use harness::*;
use ops::*;
use readers::*;
use views::*;

pub(super) const NODES: [&str; 3] = ["n0", "n1", "n2"];
/// Pod `i` lives in `NS[i / 2 % 3]` and is at home on node `i % 3`, so each node has two pods in
/// each of two namespaces (one commit, several events per namespace channel); odd pods have two
/// containers.
pub(super) const PODS: [&str; 12] = [
    "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11",
];
/// Home pods per node.
pub(super) const PER_NODE: usize = PODS.len() / NODES.len();
/// `a` and `a-b` test that a namespace's key range does not leak into its prefix neighbours.
pub(super) const NS: [&str; 3] = ["a", "a-b", "b"];
pub(super) const CONTAINERS: [&str; 2] = ["c0", "c1"];
pub(super) const T0: i64 = 1_700_000_000_000;
pub(super) const RESOLUTION_MS: i64 = 15_000;
pub(super) const MAX_AGE_MS: i64 = 45_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn change_log_keeps_its_promises_under_any_interleaving(
        cfg in log_config(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let mut h = Harness::new(cfg);
        for op in ops {
            h.run(op)?;
        }
        // Finish every paged list in progress.
        while !h.pages.is_empty() {
            h.page_next(0)?;
        }
    }
}
