//! Decoders for the two kubelet endpoints the scraper reads: `/metrics/resource`
//! (Prometheus text, see [`resource`]) and `/stats/summary` (JSON, see [`summary`]).
//!
//! Both produce the same [`Decoded`] shape so that the scraper and the store do not
//! care which endpoint a node was read from. Decoding is deliberately forgiving: a
//! kubelet that writes one bad series (for instance the negative timestamp of
//! kubernetes/kubernetes#109679) must not cost the node all its other series, as it
//! does in the Go metrics-server. Bad series are reported in [`Decoded::skipped`]
//! and only a body that is not a kubelet response at all is a [`DecodeError`].
//!
//! Values are passed on as the kubelet wrote them, with one difference: the text
//! decoder keeps a zero reading (judging it is the caller's job, as in
//! metrics-server), while the summary decoder maps zero to `None` because the
//! Summary API writes zero for "no data yet".

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

pub mod resource;
pub mod summary;

/// What both decoders' tests need: the kubelet fixtures and a timestamped point.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Point;

    /// A file of `tests/fixtures/kubelet/`.
    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/kubelet/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A point with a timestamp, as decoders return it.
    pub(crate) fn pt(value: f64, ts: i64) -> Option<Point> {
        Some(Point {
            value,
            timestamp_ms: Some(ts),
        })
    }
}

pub use resource::decode_resource;
pub use summary::decode_summary;

/// A value and its optional millisecond timestamp as the kubelet wrote them.
///
/// The timestamp stays optional because "the kubelet wrote none" and "the kubelet
/// wrote one" call for different handling by the caller (metrics-server falls back
/// to the request time only in the first case).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The sample value in the family's unit (core-seconds or bytes).
    pub value: f64,
    /// Unix milliseconds, `None` when the kubelet wrote no timestamp.
    pub timestamp_ms: Option<i64>,
}

/// Node-level series of one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRaw {
    /// Cumulative CPU in core-seconds; rates are computed later from two of these.
    pub cpu: Option<Point>,
    /// Working-set memory in bytes, the figure `kubectl top` shows.
    pub memory: Option<Point>,
    /// `node_swap_usage_bytes`: served as `usage.swap` where the kubelet has it.
    pub swap: Option<Point>,
}

/// One container's series, merged across families by (namespace, pod, container).
///
/// Names borrow from the response body and are owned only when a label value had
/// to be unescaped (or came from JSON), so decoding a typical body allocates no
/// strings.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRaw<'a> {
    /// Namespace of the pod.
    pub namespace: Cow<'a, str>,
    /// Pod name.
    pub pod: Cow<'a, str>,
    /// Container name within the pod.
    pub container: Cow<'a, str>,
    /// `container_cpu_usage_seconds_total`: cumulative core-seconds.
    pub cpu: Option<Point>,
    /// `container_memory_working_set_bytes`: bytes.
    pub memory: Option<Point>,
    /// `container_swap_usage_bytes`: bytes; optional, never needed for a complete pod.
    pub swap: Option<Point>,
    /// The value (not the timestamp) of `container_start_time_seconds`, in Unix
    /// seconds; it tells a restarted container's counter reset from a rate.
    pub start_time_s: Option<f64>,
}

/// Everything one kubelet response decodes to. Series that fail are reported in `skipped` and cost only themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded<'a> {
    /// The node's own series.
    pub node: NodeRaw,
    /// Containers in the order their first series appeared in the body, which
    /// keeps the output deterministic and equal to the kubelet's own order.
    pub containers: Vec<ContainerRaw<'a>>,
    /// Series that were dropped, with why; capped at [`MAX_SKIPPED`] detailed
    /// entries plus one summary entry so that a garbage body cannot make the
    /// error list itself expensive.
    pub skipped: Vec<SeriesError>,
}

/// Why one series (line) was skipped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct SeriesError {
    /// 1-based line of a text body; 0 for JSON bodies, where the reason names the
    /// JSON path instead because lines carry no meaning there.
    pub line: usize,
    /// Human-readable cause, meant for logs.
    pub reason: String,
}

/// A response that cannot be decoded at all.
///
/// Kept rare on purpose: anything that is recognisably a kubelet response decodes,
/// possibly with skipped series.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The summary body is not JSON of the Summary API's shape.
    #[error("summary JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The body starts with the gzip magic bytes: the HTTP client was expected to
    /// undo `Content-Encoding` and did not, which is a bug worth a loud error.
    #[error("body is gzip-compressed; decompress it before decoding")]
    Compressed,
    /// The body has content but not one sample line parses, so it is something
    /// else (an HTML or JSON error page served with status 200, say).
    #[error("body is not Prometheus text: none of its {lines} non-comment lines parse ({first})")]
    NotText {
        /// Non-blank, non-comment lines seen.
        lines: usize,
        /// Why the first of them failed.
        first: SeriesError,
    },
}

/// Detailed entries kept in [`Decoded::skipped`] before the rest are only counted.
pub const MAX_SKIPPED: usize = 100;

/// Collects skipped series up to [`MAX_SKIPPED`], formatting a reason only when
/// it will be kept.
#[derive(Debug, Default)]
pub(crate) struct Skips {
    list: Vec<SeriesError>,
    omitted: usize,
    first_omitted_line: usize,
}

impl Skips {
    /// Records one skipped series; `reason` runs only when the entry is kept.
    pub(crate) fn push(&mut self, line: usize, reason: impl FnOnce() -> String) {
        if self.list.len() < MAX_SKIPPED {
            self.list.push(SeriesError {
                line,
                reason: reason(),
            });
        } else {
            if self.omitted == 0 {
                self.first_omitted_line = line;
            }
            self.omitted += 1;
        }
    }

    /// The first recorded entry, if any.
    pub(crate) fn first(&self) -> Option<&SeriesError> {
        self.list.first()
    }

    /// The final list, with one summary entry for whatever was only counted.
    pub(crate) fn finish(mut self) -> Vec<SeriesError> {
        if self.omitted > 0 {
            self.list.push(SeriesError {
                line: self.first_omitted_line,
                reason: format!(
                    "{} more series skipped from this line on (not listed)",
                    self.omitted
                ),
            });
        }
        self.list
    }
}

/// Which of the four container families a series belongs to; each keeps its own
/// position hint in [`ContainerIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContainerField {
    Cpu = 0,
    Memory = 1,
    Start = 2,
    Swap = 3,
}

/// Hasher for keys that already are hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Finds a container's slot in `containers` by (namespace, pod, container)
/// without allocating a key.
///
/// Kubelets write every family in the same container order, so each family's
/// next series is usually the slot after its previous one; that guess is tried
/// first and the hash map is only the fallback.
#[derive(Default)]
pub(crate) struct ContainerIndex {
    state: RandomState,
    by_hash: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    hints: [usize; 4],
}

impl ContainerIndex {
    /// Returns the slot for the key, appending an empty container when it is new.
    pub(crate) fn slot<'a, 'c>(
        &mut self,
        containers: &'c mut Vec<ContainerRaw<'a>>,
        field: ContainerField,
        namespace: Cow<'a, str>,
        pod: Cow<'a, str>,
        container: Cow<'a, str>,
    ) -> &'c mut ContainerRaw<'a> {
        let same = |c: &ContainerRaw<'a>| {
            c.pod == pod && c.container == container && c.namespace == namespace
        };
        let hint = self.hints[field as usize];
        let idx = if containers.get(hint).is_some_and(same) {
            hint
        } else {
            let h = self
                .state
                .hash_one((namespace.as_ref(), pod.as_ref(), container.as_ref()));
            match self.by_hash.entry(h) {
                Entry::Occupied(e) => {
                    let i = *e.get();
                    if containers.get(i).is_some_and(same) {
                        i
                    } else {
                        // A 64-bit collision: correct but slow, and practically never taken.
                        match containers.iter().position(same) {
                            Some(i) => i,
                            None => push_empty(containers, namespace, pod, container),
                        }
                    }
                }
                Entry::Vacant(v) => {
                    let i = push_empty(containers, namespace, pod, container);
                    v.insert(i);
                    i
                }
            }
        };
        self.hints[field as usize] = idx + 1;
        // In bounds: `idx` is a position just checked or the element just pushed.
        &mut containers[idx]
    }
}

fn push_empty<'a>(
    containers: &mut Vec<ContainerRaw<'a>>,
    namespace: Cow<'a, str>,
    pod: Cow<'a, str>,
    container: Cow<'a, str>,
) -> usize {
    containers.push(ContainerRaw {
        namespace,
        pod,
        container,
        cpu: None,
        memory: None,
        start_time_s: None,
        swap: None,
    });
    containers.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_capped_with_a_summary_entry() {
        let mut s = Skips::default();
        for line in 1..=MAX_SKIPPED + 5 {
            s.push(line, || format!("bad {line}"));
        }
        let list = s.finish();
        assert_eq!(list.len(), MAX_SKIPPED + 1);
        assert_eq!(list[0].to_string(), "line 1: bad 1");
        let last = &list[MAX_SKIPPED];
        assert_eq!(last.line, MAX_SKIPPED + 1);
        assert!(last.reason.starts_with("5 more series skipped"), "{last}");
    }

    #[test]
    fn index_merges_by_full_key_in_first_appearance_order() {
        let mut v = Vec::new();
        let mut ix = ContainerIndex::default();
        let b = Cow::Borrowed;
        ix.slot(&mut v, ContainerField::Cpu, b("ns"), b("p1"), b("c"))
            .cpu = Some(Point {
            value: 1.0,
            timestamp_ms: None,
        });
        ix.slot(&mut v, ContainerField::Cpu, b("ns"), b("p2"), b("c"));
        ix.slot(&mut v, ContainerField::Cpu, b("ns2"), b("p1"), b("c"));
        // Out of order for the memory family: falls back to the map.
        ix.slot(&mut v, ContainerField::Memory, b("ns2"), b("p1"), b("c"))
            .memory = Some(Point {
            value: 2.0,
            timestamp_ms: Some(3),
        });
        ix.slot(&mut v, ContainerField::Memory, b("ns"), b("p1"), b("c"));
        let keys: Vec<_> = v
            .iter()
            .map(|c| format!("{}/{}/{}", c.namespace, c.pod, c.container))
            .collect();
        assert_eq!(keys, ["ns/p1/c", "ns/p2/c", "ns2/p1/c"]);
        assert_eq!(v[0].cpu.map(|p| p.value), Some(1.0));
        assert_eq!(v[2].memory.map(|p| p.value), Some(2.0));
    }
}
