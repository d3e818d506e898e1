//! Zero-copy decoder of the kubelet's `/metrics/resource` (Prometheus text 0.0.4).
//!
//! Why not a general parser: prometheus-parse 0.2.5 allocates a `String` per line
//! plus a `HashMap` and two `String`s per label, runs up to three regexes per line
//! (about 46 MB/s, 15 allocations per sample), never unescapes label values,
//! drops samples with `,` or `=` in a value, and turns a missing timestamp into
//! `now()`. The scrape path runs for every node every cycle, so this decoder
//! reads only the five families metrics-server consumes, splits lines with
//! `memchr`, scans labels quote-aware, borrows names from the body and allocates
//! only to unescape a label value (or to describe a skipped line).
//!
//! Measured here it is about 12 times faster than prometheus-parse (see
//! `benches/decode.rs`). Every non-comment line is syntax-checked; only the five
//! families metrics-server reads are kept and sanity-checked (finite,
//! non-negative values; non-negative timestamps; the three key labels present).
//! A bad line is reported and costs only itself. A last line without its `\n`
//! is accepted, as other parsers do.

use std::borrow::Cow;
use std::fmt;

use memchr::{memchr, memchr2};

use super::{ContainerField, ContainerIndex, DecodeError, Decoded, Point, Skips};

/// Decodes one `/metrics/resource` body, borrowing names from it.
///
/// Works on bytes so that a stray non-UTF-8 byte costs only the series whose key
/// label holds it. Errors only for a gzip body or a body none of whose lines
/// parses (see [`DecodeError`]); an empty body is an empty, valid result.
pub fn decode_resource(body: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(DecodeError::Compressed);
    }
    let mut out = Decoded::default();
    let mut skips = Skips::default();
    let mut index = ContainerIndex::default();
    let mut content_lines = 0usize;
    let mut parsed_lines = 0usize;
    for (line_no, line) in Lines::new(body) {
        let outcome = classify(line);
        if !matches!(outcome, Outcome::Blank) {
            content_lines += 1;
        }
        match outcome {
            Outcome::Blank => {}
            Outcome::Other => parsed_lines += 1,
            Outcome::Series(s) => {
                parsed_lines += 1;
                merge(&mut out, &mut index, s);
            }
            Outcome::Rejected(p) => {
                parsed_lines += 1;
                skips.push(line_no, || p.to_string());
            }
            Outcome::Malformed(p) => skips.push(line_no, || p.to_string()),
        }
    }
    if parsed_lines == 0
        && content_lines > 0
        && let Some(first) = skips.first().cloned()
    {
        return Err(DecodeError::NotText {
            lines: content_lines,
            first,
        });
    }
    out.skipped = skips.finish();
    Ok(out)
}

fn merge<'a>(out: &mut Decoded<'a>, index: &mut ContainerIndex, s: Series<'a>) {
    match s {
        Series::Node { field, point } => match field {
            NodeField::Cpu => out.node.cpu = Some(point),
            NodeField::Memory => out.node.memory = Some(point),
            NodeField::Swap => out.node.swap = Some(point),
        },
        Series::Container {
            field,
            namespace,
            pod,
            container,
            point,
        } => {
            let c = index.slot(&mut out.containers, field, namespace, pod, container);
            match field {
                ContainerField::Cpu => c.cpu = Some(point),
                ContainerField::Memory => c.memory = Some(point),
                ContainerField::Start => c.start_time_s = Some(point.value),
                ContainerField::Swap => c.swap = Some(point),
            }
        }
    }
}

/// The metric families this decoder keeps; everything else is only syntax-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Node(NodeField),
    Container(ContainerField),
}

/// Which of the node's own families a series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeField {
    Cpu,
    Memory,
    Swap,
}

impl Family {
    /// Exact-name match: `container_cpu_usage_seconds_total_foo` is another family.
    fn from_name(name: &[u8]) -> Option<Family> {
        Some(match name {
            b"container_cpu_usage_seconds_total" => Family::Container(ContainerField::Cpu),
            b"container_memory_working_set_bytes" => Family::Container(ContainerField::Memory),
            b"container_start_time_seconds" => Family::Container(ContainerField::Start),
            b"container_swap_usage_bytes" => Family::Container(ContainerField::Swap),
            b"node_cpu_usage_seconds_total" => Family::Node(NodeField::Cpu),
            b"node_memory_working_set_bytes" => Family::Node(NodeField::Memory),
            b"node_swap_usage_bytes" => Family::Node(NodeField::Swap),
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::Node(NodeField::Cpu) => "node_cpu_usage_seconds_total",
            Family::Node(NodeField::Memory) => "node_memory_working_set_bytes",
            Family::Node(NodeField::Swap) => "node_swap_usage_bytes",
            Family::Container(ContainerField::Cpu) => "container_cpu_usage_seconds_total",
            Family::Container(ContainerField::Memory) => "container_memory_working_set_bytes",
            Family::Container(ContainerField::Start) => "container_start_time_seconds",
            Family::Container(ContainerField::Swap) => "container_swap_usage_bytes",
        }
    }
}

/// One kept series after all checks. For the start-time family `point.value` is
/// the start time and `point.timestamp_ms` the sample's own timestamp.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Series<'a> {
    Node {
        field: NodeField,
        point: Point,
    },
    Container {
        field: ContainerField,
        namespace: Cow<'a, str>,
        pod: Cow<'a, str>,
        container: Cow<'a, str>,
        point: Point,
    },
}

/// What one line turned out to be.
#[derive(Debug)]
pub(crate) enum Outcome<'a> {
    /// Blank line or comment (`# HELP`, `# TYPE`, `# EOF`).
    Blank,
    /// A well-formed sample of a family this decoder does not keep.
    Other,
    /// A kept series.
    Series(Series<'a>),
    /// Well-formed, but a kept family's sanity check failed.
    Rejected(Problem<'a>),
    /// Not a sample line at all.
    Malformed(Problem<'a>),
}

/// Why a line was skipped, kept borrowed until it is known to be reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Problem<'a> {
    family: Option<Family>,
    what: &'static str,
    near: &'a [u8],
}

impl fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 48;
        if let Some(family) = self.family {
            write!(f, "{}: ", family.name())?;
        }
        f.write_str(self.what)?;
        if !self.near.is_empty() {
            let cut = self.near.get(..SHOWN).unwrap_or(self.near);
            let more = if cut.len() < self.near.len() {
                "…"
            } else {
                ""
            };
            write!(f, " near {:?}{more}", String::from_utf8_lossy(cut))?;
        }
        Ok(())
    }
}

/// Splits a body into numbered lines with `memchr`, without copying.
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    line_no: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Lines {
            rest: body,
            line_no: 0,
            done: body.is_empty(),
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.line_no += 1;
        let line = match memchr(b'\n', self.rest) {
            Some(nl) => {
                let (line, rest) = self.rest.split_at(nl);
                self.rest = rest.get(1..).unwrap_or_default();
                if self.rest.is_empty() {
                    self.done = true;
                }
                line
            }
            None => {
                self.done = true;
                self.rest
            }
        };
        Some((self.line_no, line))
    }
}

const NAME_START: u8 = 1;
const NAME_CONT: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CONT: u8 = 8;

/// Character classes of metric names (`[a-zA-Z_:][a-zA-Z0-9_:]*`) and label
/// names (`[a-zA-Z_][a-zA-Z0-9_]*`), as one table lookup per byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut c = 0;
        if alpha || b == b':' {
            c |= NAME_START | NAME_CONT;
        }
        if digit {
            c |= NAME_CONT | LABEL_CONT;
        }
        if alpha {
            c |= LABEL_START | LABEL_CONT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A read position in one line; every access is bounds-checked, so no input can
/// make it panic.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Skips blanks and says whether there were any.
    fn blanks(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_blank) {
            self.i += 1;
        }
        self.i > start
    }

    fn take_class(&mut self, class: u8) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|b| is(b, class)) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    fn take_token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|b| !is_blank(b)) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    /// Reads a label value after its opening quote; returns the raw bytes and
    /// whether they contain escapes that still need undoing.
    fn quoted(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        let mut escaped = false;
        let mut j = start;
        loop {
            let at = j + memchr2(b'"', b'\\', self.s.get(j..)?)?;
            if self.s.get(at) == Some(&b'"') {
                self.i = at + 1;
                return Some((self.s.get(start..at)?, escaped));
            }
            escaped = true;
            j = at + 2;
        }
    }
}

/// A key label's raw value.
#[derive(Clone, Copy)]
struct Raw<'a> {
    bytes: &'a [u8],
    escaped: bool,
}

#[derive(Default)]
struct KeyLabels<'a> {
    namespace: Option<Raw<'a>>,
    pod: Option<Raw<'a>>,
    container: Option<Raw<'a>>,
}

/// Trims blanks and a CR on both ends.
fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if is_blank(*last) || *last == b'\r' {
            line = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = line {
        if is_blank(*first) {
            line = rest;
        } else {
            break;
        }
    }
    line
}

/// Parses and checks one line.
pub(crate) fn classify(line: &[u8]) -> Outcome<'_> {
    let line = trim(line);
    match line.first() {
        None | Some(b'#') => return Outcome::Blank,
        Some(&b) if !is(b, NAME_START) => {
            return Outcome::Malformed(Problem {
                family: None,
                what: "line does not start with a metric name",
                near: line,
            });
        }
        Some(_) => {}
    }
    let mut c = Cursor { s: line, i: 0 };
    let name = c.take_class(NAME_CONT);
    let family = Family::from_name(name);
    let malformed = |what, near| Outcome::Malformed(Problem { family, what, near });
    let mut keys = KeyLabels::default();
    let blank_after_name = c.blanks();
    if c.eat(b'{') {
        let want = matches!(family, Some(Family::Container(_)));
        if let Err((what, near)) = labels(&mut c, want, &mut keys) {
            return malformed(what, near);
        }
        c.blanks();
    } else if !blank_after_name {
        return malformed("unexpected character after metric name", c.rest());
    }
    let value_tok = c.take_token();
    if value_tok.is_empty() {
        return malformed("missing value", line);
    }
    let Some(value) = parse_f64(value_tok) else {
        return malformed("value is not a number", value_tok);
    };
    c.blanks();
    let ts_tok = c.take_token();
    let timestamp_ms = if ts_tok.is_empty() {
        None
    } else {
        match parse_i64(ts_tok) {
            Some(ts) => Some(ts),
            None => return malformed("timestamp is not an integer", ts_tok),
        }
    };
    c.blanks();
    if c.peek().is_some() {
        return malformed("unexpected text after the sample", c.rest());
    }
    let Some(family) = family else {
        return Outcome::Other;
    };
    let rejected = |what, near| {
        Outcome::Rejected(Problem {
            family: Some(family),
            what,
            near,
        })
    };
    if timestamp_ms.is_some_and(|ts| ts < 0) {
        return rejected("negative timestamp", ts_tok);
    }
    if !value.is_finite() {
        return rejected("value is not finite", value_tok);
    }
    if value < 0.0 {
        return rejected("negative value", value_tok);
    }
    let point = Point {
        value,
        timestamp_ms,
    };
    let field = match family {
        Family::Node(field) => return Outcome::Series(Series::Node { field, point }),
        Family::Container(field) => field,
    };
    match container_key(&keys) {
        Ok([namespace, pod, container]) => Outcome::Series(Series::Container {
            field,
            namespace,
            pod,
            container,
            point,
        }),
        Err(what) => rejected(what, &[]),
    }
}

/// (namespace, pod, container) of a container series, or why it has none.
fn container_key<'a>(keys: &KeyLabels<'a>) -> Result<[Cow<'a, str>; 3], &'static str> {
    Ok([
        key_label(keys.namespace, Key::Namespace)?,
        key_label(keys.pod, Key::Pod)?,
        key_label(keys.container, Key::Container)?,
    ])
}

/// One key label's value, or why the series has none.
fn key_label<'a>(raw: Option<Raw<'a>>, label: Key) -> Result<Cow<'a, str>, &'static str> {
    let [missing, empty, not_utf8] = match label {
        Key::Namespace => [
            "missing label namespace",
            "empty label namespace",
            "label namespace is not UTF-8",
        ],
        Key::Pod => [
            "missing label pod",
            "empty label pod",
            "label pod is not UTF-8",
        ],
        Key::Container => [
            "missing label container",
            "empty label container",
            "label container is not UTF-8",
        ],
    };
    match raw {
        None => Err(missing),
        Some(r) if r.bytes.is_empty() => Err(empty),
        Some(r) => label_value(r).ok_or(not_utf8),
    }
}

#[derive(Clone, Copy)]
enum Key {
    Namespace,
    Pod,
    Container,
}

/// Parses `{...}` after the opening brace. Only the three key labels are kept,
/// and only when `want` is set; the rest are checked and dropped.
fn labels<'a>(
    c: &mut Cursor<'a>,
    want: bool,
    keys: &mut KeyLabels<'a>,
) -> Result<(), (&'static str, &'a [u8])> {
    loop {
        c.blanks();
        if c.eat(b'}') {
            return Ok(());
        }
        let at = c.rest();
        let name = c.take_class(LABEL_CONT);
        if !name.first().is_some_and(|&b| is(b, LABEL_START)) {
            return Err(("expected a label name or '}'", at));
        }
        c.blanks();
        if !c.eat(b'=') {
            return Err(("expected '=' after label name", c.rest()));
        }
        c.blanks();
        if !c.eat(b'"') {
            return Err(("expected '\"' to open the label value", c.rest()));
        }
        let Some((bytes, escaped)) = c.quoted() else {
            return Err(("unterminated label value", at));
        };
        if want {
            let slot = match name {
                b"namespace" => Some(&mut keys.namespace),
                b"pod" => Some(&mut keys.pod),
                b"container" => Some(&mut keys.container),
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return Err(("duplicate label", at));
                }
                *slot = Some(Raw { bytes, escaped });
            }
        }
        c.blanks();
        if c.eat(b'}') {
            return Ok(());
        }
        if !c.eat(b',') {
            return Err(("expected ',' or '}' after a label value", c.rest()));
        }
    }
}

/// Borrows the value when it has no escapes; otherwise undoes `\\`, `\"` and
/// `\n` (other escapes are kept verbatim, as Prometheus does).
fn label_value(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    if !raw.escaped {
        return std::str::from_utf8(raw.bytes).ok().map(Cow::Borrowed);
    }
    let mut out = Vec::with_capacity(raw.bytes.len());
    let mut it = raw.bytes.iter().copied();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => out.push(b'\n'),
            Some(e @ (b'\\' | b'"')) => out.push(e),
            Some(other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Go-compatible float syntax for the cases kubelets write (`1.25e+07`, `NaN`,
/// `+Inf`, `-Inf`); Rust's parser accepts all of them.
fn parse_f64(tok: &[u8]) -> Option<f64> {
    std::str::from_utf8(tok).ok()?.parse().ok()
}

/// Decimal `i64` with an optional sign, overflow-checked.
fn parse_i64(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, tok),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::decode::{ContainerRaw, DecodeError, MAX_SKIPPED, NodeRaw, SeriesError};

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubelet/");
    const PROM_FIXTURES: [&str; 4] = [
        "metrics_resource_kind_k8s1.21_70pods.prom",
        "metrics_resource_single_pod_normal.prom",
        "metrics_resource_negative_timestamp_error.prom",
        "metrics_resource_modern_example.prom",
    ];

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{DIR}{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn decode(body: &[u8]) -> Decoded<'_> {
        match decode_resource(body) {
            Ok(d) => d,
            Err(e) => panic!("decode failed: {e}"),
        }
    }

    fn pt(value: f64, ts: i64) -> Option<Point> {
        Some(Point {
            value,
            timestamp_ms: Some(ts),
        })
    }

    fn find<'d, 'a>(d: &'d Decoded<'a>, ns: &str, pod: &str, c: &str) -> &'d ContainerRaw<'a> {
        d.containers
            .iter()
            .find(|x| x.namespace == ns && x.pod == pod && x.container == c)
            .unwrap_or_else(|| panic!("no container {ns}/{pod}/{c}"))
    }

    fn reasons(d: &Decoded<'_>) -> Vec<String> {
        d.skipped.iter().map(ToString::to_string).collect()
    }

    // ---- fixtures -------------------------------------------------------------

    #[test]
    fn single_pod_normal_decodes_to_readme_figures() {
        let body = fixture("metrics_resource_single_pod_normal.prom");
        let d = decode(&body);
        // node {ts 2021-10-03T09:36:49.720Z, cpu 357.35491 core-s, mem 1616273408 B}
        assert_eq!(d.node.cpu, pt(357.35491, 1_633_253_809_720));
        assert_eq!(d.node.memory, pt(1_616_273_408.0, 1_633_253_809_720));
        // coredns {ts 09:36:52.125Z, cpu 4.710169, mem 12533760, start 2021-10-03T09:18:32Z}
        assert_eq!(
            d.containers,
            vec![ContainerRaw {
                namespace: "kube-system".into(),
                pod: "coredns-558bd4d5db-4dpjz".into(),
                container: "coredns".into(),
                cpu: pt(4.710169, 1_633_253_812_125),
                memory: pt(12_533_760.0, 1_633_253_812_125),
                start_time_s: Some(1_633_252_712.0),
                swap: None,
            }]
        );
        assert!(matches!(d.containers[0].pod, Cow::Borrowed(_)));
        assert_eq!(d.skipped, vec![]);
    }

    #[test]
    fn kind_70_pods_fixture() {
        let body = fixture("metrics_resource_kind_k8s1.21_70pods.prom");
        let d = decode(&body);
        assert_eq!(d.skipped, vec![]);
        assert_eq!(d.containers.len(), 70);
        assert_eq!(d.node.cpu, pt(357.35491, 1_633_253_809_720));
        assert_eq!(d.node.memory, pt(1_616_273_408.0, 1_633_253_809_720));
        let count = |ns: &str| d.containers.iter().filter(|c| c.namespace == ns).count();
        assert_eq!(count("kube-system"), 9);
        assert_eq!(count("local-path-storage"), 1);
        assert_eq!(count("sleeper-1"), 60);
        assert!(
            d.containers
                .iter()
                .all(|c| c.cpu.is_some() && c.memory.is_some() && c.start_time_s.is_none())
        );
        // First-appearance order is the file's order.
        assert_eq!(d.containers[0].pod, "coredns-558bd4d5db-4dpjz");
        assert_eq!(d.containers[1].pod, "coredns-558bd4d5db-kjc9p");
        assert_eq!(d.containers[69].pod, "sleeper-9-5744dbc77c-q6mg9");
        let etcd = find(&d, "kube-system", "etcd-e2e-control-plane", "etcd");
        assert_eq!(etcd.cpu, pt(31.349402, 1_633_253_814_387));
        assert_eq!(etcd.memory, pt(40_783_872.0, 1_633_253_814_387));
        let s = find(&d, "sleeper-1", "sleeper-10-d7fbc765-6xfst", "sleeper");
        assert_eq!(s.cpu, pt(0.754433, 1_633_253_800_367));
        assert_eq!(s.memory, pt(495_616.0, 1_633_253_800_367));
        let last = find(&d, "sleeper-1", "sleeper-9-5744dbc77c-q6mg9", "sleeper");
        assert_eq!(last.cpu, pt(1.055063, 1_633_253_813_998));
        assert_eq!(last.memory, pt(495_616.0, 1_633_253_813_998));
    }

    #[test]
    fn modern_fixture_with_swap_and_stable_names() {
        let body = fixture("metrics_resource_modern_example.prom");
        let d = decode(&body);
        assert_eq!(d.skipped, vec![]);
        assert_eq!(d.node.cpu, pt(98_765.432_1, 1_764_000_010_002));
        assert_eq!(d.node.memory, pt(6_442_450_944.0, 1_764_000_010_002));
        assert_eq!(d.node.swap, pt(0.0, 1_764_000_010_002));
        let keys: Vec<_> = d
            .containers
            .iter()
            .map(|c| format!("{}/{}/{}", c.namespace, c.pod, c.container))
            .collect();
        assert_eq!(
            keys,
            [
                "shop/web-7d9f8c6b5-x2k4q/app",
                "shop/web-7d9f8c6b5-x2k4q/envoy",
                "batch/report-29031840-8xq2z/worker",
                "kube-system/coredns-5d78c9869d-9jw7f/coredns",
            ]
        );
        let app = &d.containers[0];
        assert_eq!(app.cpu, pt(1834.551233, 1_764_000_012_345));
        assert_eq!(app.memory, pt(268_435_456.0, 1_764_000_012_345));
        assert_eq!(app.start_time_s, Some(1_763_988_400.0));
        assert_eq!(app.swap, pt(0.0, 1_764_000_012_345));
        assert_eq!(d.containers[1].start_time_s, Some(1_763_988_399.5));
        assert_eq!(d.containers[1].memory, pt(46_137_344.0, 1_764_000_012_345));
        let worker = &d.containers[2];
        assert_eq!(worker.cpu, pt(0.512, 1_764_000_011_987));
        assert_eq!(worker.memory, pt(12_582_912.0, 1_764_000_011_987));
        assert_eq!(worker.start_time_s, Some(1_764_000_001.0));
        let dns = &d.containers[3];
        assert_eq!(dns.cpu, pt(77.120045, 1_764_000_013_001));
        assert_eq!(dns.memory, pt(18_272_256.0, 1_764_000_013_001));
        assert_eq!(dns.start_time_s, Some(1_763_900_100.0));
    }

    #[test]
    fn negative_timestamp_costs_only_its_series() {
        let body = fixture("metrics_resource_negative_timestamp_error.prom");
        let d = decode(&body);
        assert_eq!(d.node, Default::default());
        assert_eq!(
            d.containers,
            vec![ContainerRaw {
                namespace: "kubernetes-dashboard".into(),
                pod: "kubernetes-dashboard-metrics-server-77db45cdf4-tpx4v".into(),
                container: "metrics-server".into(),
                cpu: None,
                memory: None,
                start_time_s: Some(1.6509742024191372e9),
                swap: None,
            }]
        );
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].line, 3);
        assert!(
            d.skipped[0].reason.contains("negative timestamp")
                && d.skipped[0].reason.contains("-62135596800000"),
            "{}",
            d.skipped[0]
        );
        // The same bad series next to a node's normal data leaves that data whole.
        let mut mixed = fixture("metrics_resource_single_pod_normal.prom");
        mixed.extend_from_slice(&body);
        let d = decode(&mixed);
        assert_eq!(d.node.cpu, pt(357.35491, 1_633_253_809_720));
        assert_eq!(d.containers.len(), 2);
        assert_eq!(d.containers[0].cpu, pt(4.710169, 1_633_253_812_125));
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].line, 23 + 3);
    }

    // ---- differential against prometheus-parse --------------------------------

    /// (family, namespace, pod, container, value bits, timestamp) of every kept series.
    type Row = (String, String, String, String, u64, i64);

    /// What prometheus-parse reads, filtered by this decoder's documented rules.
    fn reference_rows(body: &str) -> (Vec<Row>, usize) {
        let lines = body.lines().map(|l| Ok(l.to_owned()));
        let scrape = match prometheus_parse::Scrape::parse(lines) {
            Ok(s) => s,
            Err(e) => panic!("prometheus-parse: {e}"),
        };
        let mut rows = Vec::new();
        let mut rejected = 0;
        for s in scrape.samples {
            let Some(family) = Family::from_name(s.metric.as_bytes()) else {
                continue;
            };
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                other => panic!("unexpected {other:?}"),
            };
            let ts = s.timestamp.timestamp_millis();
            let label = |k: &str| s.labels.get(k).unwrap_or_default().to_owned();
            let (ns, pod, c) = match family {
                Family::Container(_) => (label("namespace"), label("pod"), label("container")),
                _ => Default::default(),
            };
            let keyed = !matches!(family, Family::Container(_))
                || !(ns.is_empty() || pod.is_empty() || c.is_empty());
            if value.is_finite() && value >= 0.0 && ts >= 0 && keyed {
                rows.push((family.name().to_owned(), ns, pod, c, value.to_bits(), ts));
            } else {
                rejected += 1;
            }
        }
        (rows, rejected)
    }

    fn our_rows(body: &[u8]) -> (Vec<Row>, usize) {
        let mut rows = Vec::new();
        let mut rejected = 0;
        for (_, line) in Lines::new(body) {
            match classify(line) {
                Outcome::Series(Series::Node { field, point }) => {
                    let family = Family::Node(field);
                    rows.push((
                        family.name().to_owned(),
                        String::new(),
                        String::new(),
                        String::new(),
                        point.value.to_bits(),
                        point.timestamp_ms.unwrap_or(i64::MIN),
                    ));
                }
                Outcome::Series(Series::Container {
                    field,
                    namespace,
                    pod,
                    container,
                    point,
                }) => rows.push((
                    Family::Container(field).name().to_owned(),
                    namespace.into_owned(),
                    pod.into_owned(),
                    container.into_owned(),
                    point.value.to_bits(),
                    point.timestamp_ms.unwrap_or(i64::MIN),
                )),
                Outcome::Rejected(_) => rejected += 1,
                Outcome::Malformed(p) => panic!("malformed line: {p}"),
                Outcome::Blank | Outcome::Other => {}
            }
        }
        (rows, rejected)
    }

    fn assert_agrees(body: &str) -> usize {
        let (theirs, their_rejected) = reference_rows(body);
        let (ours, our_rejected) = our_rows(body.as_bytes());
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a, b);
        }
        assert_eq!(our_rejected, their_rejected);
        // Containers come out in the order of their first kept series.
        let mut order: Vec<(&str, &str, &str)> = Vec::new();
        for (family, ns, pod, c, ..) in &theirs {
            let key = (ns.as_str(), pod.as_str(), c.as_str());
            if family.starts_with("container_") && !order.contains(&key) {
                order.push(key);
            }
        }
        // The merged view agrees too: last write per (family, key) wins.
        let d = decode(body.as_bytes());
        assert_eq!(d.skipped.len(), our_rejected.min(MAX_SKIPPED));
        let got: Vec<_> = d
            .containers
            .iter()
            .map(|c| (&*c.namespace, &*c.pod, &*c.container))
            .collect();
        assert_eq!(got, order);
        for (family, ns, pod, c, bits, ts) in &theirs {
            let v = f64::from_bits(*bits);
            let got = match family.as_str() {
                "node_cpu_usage_seconds_total" => d.node.cpu,
                "node_memory_working_set_bytes" => d.node.memory,
                "node_swap_usage_bytes" => d.node.swap,
                f => {
                    let x = find(&d, ns, pod, c);
                    match f {
                        "container_cpu_usage_seconds_total" => x.cpu,
                        "container_memory_working_set_bytes" => x.memory,
                        "container_swap_usage_bytes" => x.swap,
                        _ => x.start_time_s.map(|value| Point {
                            value,
                            timestamp_ms: Some(*ts),
                        }),
                    }
                }
            };
            assert_eq!(got, pt(v, *ts), "{family} {ns}/{pod}/{c}");
        }
        theirs.len()
    }

    #[test]
    fn differential_fixtures_vs_prometheus_parse() {
        let mut total = 0;
        for name in PROM_FIXTURES {
            let body = String::from_utf8(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            total += assert_agrees(&body);
        }
        // Kept series counted by eye: 70 pods 140 + 2 node, normal 3 + 2, negative
        // 1 of 2, modern 12 + 2 container swap + 3 node (cpu, memory, swap).
        assert_eq!(total, 142 + 5 + 1 + 17);
    }

    /// Deterministic LCG (Knuth's MMIX constants) so the generated body is stable.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    /// Go's `%g`-like exponent form that kubelets write for big numbers (`1.253376e+07`).
    fn go_exp(v: f64) -> String {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if e.starts_with('-') => format!("{m}e-{:0>2}", &e[1..]),
            Some((m, e)) => format!("{m}e+{e:0>2}"),
            None => s,
        }
    }

    /// A kubelet-like page: `pods` pods of `per_pod` containers, with label order,
    /// value forms and timestamps varied by an LCG; one container series in 50 has
    /// a NaN, negative or missing-label twist that both decoders must see alike.
    fn generate(pods: usize, per_pod: usize, seed: u64) -> String {
        use std::fmt::Write;
        let mut r = Lcg(seed);
        let mut out = String::new();
        let keys: Vec<(String, String, String)> = (0..pods)
            .flat_map(|p| {
                (0..per_pod).map(move |c| {
                    (
                        format!("ns-{}", p % 7),
                        format!("pod-{p}-{:x}", p * 7919),
                        format!("c{c}"),
                    )
                })
            })
            .collect();
        let families = [
            ("container_cpu_usage_seconds_total", "counter"),
            ("container_memory_working_set_bytes", "gauge"),
            ("container_start_time_seconds", "gauge"),
        ];
        for (fi, (family, kind)) in families.iter().enumerate() {
            let _ = writeln!(
                out,
                "# HELP {family} [STABLE] generated\n# TYPE {family} {kind}"
            );
            for (ns, pod, c) in &keys {
                let mut labels = [
                    format!("container=\"{c}\""),
                    format!("namespace=\"{ns}\""),
                    format!("pod=\"{pod}\""),
                    "image=\"registry.k8s.io/pause:3.9\"".to_owned(),
                ];
                let k = r.next();
                labels.swap(0, (k % 4) as usize);
                labels.swap(1, (k / 4 % 3) as usize + 1);
                let mut labels = labels.join(",");
                let ts = 1_764_000_000_000 + (r.next() % 20_000) as i64;
                let value = match fi {
                    0 => format!("{}.{:06}", r.next() % 5000, r.next() % 1_000_000),
                    1 => go_exp(((r.next() % 400_000) * 4096) as f64),
                    _ => go_exp(1_763_900_000.0 + (r.next() % 100_000) as f64 / 10.0),
                };
                let value = match r.next() % 50 {
                    0 => "NaN".to_owned(),
                    1 => format!("-{value}"),
                    2 => {
                        labels = format!("namespace=\"{ns}\",container=\"{c}\"");
                        value
                    }
                    _ => value,
                };
                let _ = writeln!(out, "{family}{{{labels}}} {value} {ts}");
            }
        }
        let _ = writeln!(out, "# TYPE node_cpu_usage_seconds_total counter");
        let _ = writeln!(out, "node_cpu_usage_seconds_total 123456.789 1764000000001");
        let _ = writeln!(out, "# TYPE node_memory_working_set_bytes gauge");
        let _ = writeln!(
            out,
            "node_memory_working_set_bytes 6.442450944e+09 1764000000001"
        );
        let _ = writeln!(out, "# TYPE pod_cpu_usage_seconds_total counter");
        for p in 0..pods {
            let v = if p % 13 == 0 { "NaN" } else { "+Inf" };
            let _ = writeln!(out, "pod_cpu_usage_seconds_total{{pod=\"p{p}\"}} {v} 1");
        }
        let _ = writeln!(out, "resource_scrape_error 0");
        out
    }

    #[test]
    fn differential_generated_vs_prometheus_parse() {
        for seed in [1, 2, 3] {
            let body = generate(200, 2, seed);
            let kept = assert_agrees(&body);
            assert!(kept > 3 * 400 * 9 / 10, "{kept}");
        }
        let body = generate(200, 2, 1);
        let d = decode(body.as_bytes());
        assert_eq!(d.containers.len(), 400);
        assert!(d.skipped.iter().all(|s| {
            let r = &s.reason;
            r.contains("value is not finite")
                || r.contains("negative value")
                || r.contains("missing label pod")
        }));
    }

    // ---- syntax and edge cases --------------------------------------------------

    #[test]
    fn escapes_are_undone_and_owned_only_when_present() {
        let body = concat!(
            r#"container_cpu_usage_seconds_total{namespace="n\\s",pod="p\"q\"",container="a\nb"} 1 2"#,
            "\n",
            r#"container_memory_working_set_bytes{namespace="n\\s",pod="p\"q\"",container="a\nb"} 3 4"#,
            "\n",
            r#"container_cpu_usage_seconds_total{namespace="ns",pod="a,b=c}d",container="x\ty\q"} 5"#,
            "\n",
            r#"container_cpu_usage_seconds_total{namespace="plain",pod="p",container="c"} 6"#,
        );
        let d = decode(body.as_bytes());
        assert_eq!(d.skipped, vec![]);
        assert_eq!(d.containers.len(), 3);
        let c = &d.containers[0];
        assert_eq!(
            (&*c.namespace, &*c.pod, &*c.container),
            ("n\\s", "p\"q\"", "a\nb")
        );
        assert!(matches!(c.namespace, Cow::Owned(_)));
        assert_eq!(c.cpu, pt(1.0, 2));
        assert_eq!(c.memory, pt(3.0, 4));
        // Delimiters inside quotes are data; unknown escapes are kept verbatim.
        let c = &d.containers[1];
        assert_eq!((&*c.pod, &*c.container), ("a,b=c}d", r"x\ty\q"));
        assert!(matches!(c.pod, Cow::Borrowed(_)));
        assert!(matches!(c.container, Cow::Owned(_)));
        assert_eq!(c.cpu.and_then(|p| p.timestamp_ms), None);
        assert!(matches!(d.containers[2].namespace, Cow::Borrowed(_)));
    }

    #[test]
    fn label_order_spacing_and_extra_labels() {
        let body = b"container_cpu_usage_seconds_total{ pod = \"p\" , id=\"/k\",container=\"c\",namespace=\"n\", } \t 1.5e+00   17\n\
            container_memory_working_set_bytes {namespace=\"n\",pod=\"p\",container=\"c\"} 2\n\
            \t container_start_time_seconds{container=\"c\",pod=\"p\",namespace=\"n\"}1.7e9 9   \n\
            node_cpu_usage_seconds_total{} 3 4\n\
            node_memory_working_set_bytes{instance=\"x\"} 5\n";
        let d = decode(body);
        assert_eq!(d.skipped, vec![]);
        assert_eq!(
            d.containers,
            vec![ContainerRaw {
                namespace: "n".into(),
                pod: "p".into(),
                container: "c".into(),
                cpu: pt(1.5, 17),
                memory: Some(Point {
                    value: 2.0,
                    timestamp_ms: None
                }),
                start_time_s: Some(1.7e9),
                swap: None,
            }]
        );
        assert_eq!(d.node.cpu, pt(3.0, 4));
        assert_eq!(
            d.node.memory,
            Some(Point {
                value: 5.0,
                timestamp_ms: None
            })
        );
    }

    #[test]
    fn missing_empty_or_duplicate_key_labels_skip_the_series() {
        let body = b"container_cpu_usage_seconds_total{namespace=\"n\",container=\"c\"} 1 1\n\
            container_cpu_usage_seconds_total{pod=\"p\",container=\"c\"} 1 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\"} 1 1\n\
            container_cpu_usage_seconds_total 1 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"\",container=\"c\"} 1 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\",pod=\"q\",container=\"c\"} 1 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"ok\",container=\"c\"} 1 1\n";
        let d = decode(body);
        assert_eq!(d.containers.len(), 1);
        assert_eq!(d.containers[0].pod, "ok");
        let r = reasons(&d);
        assert_eq!(r.len(), 6, "{r:?}");
        assert!(r[0].starts_with("line 1: container_cpu_usage_seconds_total: missing label pod"));
        assert!(r[1].contains("missing label namespace"));
        assert!(r[2].contains("missing label container"));
        assert!(r[3].contains("missing label namespace"));
        assert!(r[4].contains("empty label pod"));
        assert!(r[5].starts_with("line 6:") && r[5].contains("duplicate label"));
    }

    #[test]
    fn garbage_lines_cost_only_themselves() {
        let mut body = b"node_cpu_usage_seconds_total 1 2\n".to_vec();
        let garbage: [&[u8]; 14] = [
            b"<html>",
            b"404 page not found",
            b"node_memory_working_set_bytes",
            b"node_memory_working_set_bytes abc 1",
            b"node_memory_working_set_bytes 1 1.5",
            b"node_memory_working_set_bytes 1 2 3",
            b"node_memory_working_set_bytes-x 1",
            b"container_cpu_usage_seconds_total{pod=\"p 1",
            b"container_cpu_usage_seconds_total{pod=p} 1",
            b"container_cpu_usage_seconds_total{=\"p\"} 1",
            b"container_cpu_usage_seconds_total{pod \"p\"} 1",
            b"container_cpu_usage_seconds_total{pod=\"p\" x=\"y\"} 1",
            b"pod_cpu_usage_seconds_total{pod=\"p\"} 1 99999999999999999999",
            b"container_cpu_usage_seconds_total{pod=\"\\",
        ];
        for g in garbage {
            body.extend_from_slice(g);
            body.push(b'\n');
        }
        body.extend_from_slice(b"node_memory_working_set_bytes 7 8\n");
        let d = decode(&body);
        assert_eq!(d.node.cpu, pt(1.0, 2));
        assert_eq!(d.node.memory, pt(7.0, 8));
        let lines: Vec<usize> = d.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, (2..=15).collect::<Vec<_>>(), "{:?}", reasons(&d));
        assert!(
            d.skipped[1]
                .reason
                .contains("does not start with a metric name")
        );
        assert!(d.skipped[3].reason.contains("not a number"));
        assert!(d.skipped[4].reason.contains("timestamp is not an integer"));
        assert!(d.skipped[5].reason.contains("unexpected text"));
        assert!(d.skipped[7].reason.contains("unterminated"));
    }

    #[test]
    fn metric_names_match_exactly_not_by_prefix() {
        let body = b"container_cpu_usage_seconds_total_extra{namespace=\"n\",pod=\"p\",container=\"c\"} 1 1\n\
            node_cpu_usage_seconds 1 1\n\
            node_cpu_usage_seconds_total_x 2 2\n\
            xnode_memory_working_set_bytes 3 3\n\
            node_swap_usage_bytes_x 0 1\n\
            container_swap_usage_bytes_total{namespace=\"n\",pod=\"p\",container=\"c\"} 0 1\n\
            pod_swap_usage_bytes{namespace=\"n\",pod=\"p\"} 0 1\n\
            scrape_error 0\n\
            resource_scrape_error 0\n";
        let d = decode(body);
        assert_eq!(d, Decoded::default());
    }

    #[test]
    fn truncated_bodies_never_panic() {
        for name in PROM_FIXTURES {
            let body = fixture(name);
            for cut in (0..body.len()).step_by(97) {
                let prefix = &body[..cut];
                match decode_resource(prefix) {
                    Ok(d) => assert!(d.containers.len() <= 70),
                    Err(DecodeError::NotText { lines, .. }) => assert!(lines >= 1),
                    Err(e) => panic!("{name} cut at {cut}: {e}"),
                }
            }
        }
    }

    #[test]
    fn mutated_bodies_never_panic() {
        let body = fixture("metrics_resource_modern_example.prom");
        let mut r = Lcg(42);
        for _ in 0..3000 {
            let mut b = body.clone();
            for _ in 0..1 + r.next() % 8 {
                let at = (r.next() as usize) % b.len();
                b[at] = match r.next() % 6 {
                    0 => b'"',
                    1 => b'\\',
                    2 => b'\n',
                    3 => b'{',
                    4 => 0xff,
                    _ => r.next() as u8,
                };
            }
            let _ = decode_resource(&b);
        }
    }

    #[test]
    fn empty_blank_and_comment_only_bodies_are_empty_results() {
        for body in [
            &b""[..],
            b"\n",
            b"\r\n\r\n",
            b"   \t\n",
            b"# EOF\n",
            b"# HELP x y\n# TYPE x gauge\n",
        ] {
            assert_eq!(decode(body), Decoded::default(), "{body:?}");
        }
    }

    #[test]
    fn non_finite_and_negative_values_skip_the_series() {
        let body = b"node_cpu_usage_seconds_total NaN 1\n\
            node_memory_working_set_bytes +Inf 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\",container=\"c\"} -Inf 1\n\
            container_memory_working_set_bytes{namespace=\"n\",pod=\"p\",container=\"c\"} -1.5 1\n\
            container_start_time_seconds{namespace=\"n\",pod=\"p\",container=\"c\"} nan\n\
            container_memory_working_set_bytes{namespace=\"n\",pod=\"q\",container=\"c\"} 1.253376e+07\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"q\",container=\"c\"} 0 0\n\
            pod_cpu_usage_seconds_total{namespace=\"n\",pod=\"q\"} NaN\n";
        let d = decode(body);
        assert_eq!(d.node, NodeRaw::default());
        assert_eq!(d.containers.len(), 1);
        let q = &d.containers[0];
        assert_eq!(q.memory.map(|p| p.value), Some(12_533_760.0));
        // Zero is a valid reading here; whether it is usable is the caller's call.
        assert_eq!(q.cpu, pt(0.0, 0));
        let r = reasons(&d);
        assert_eq!(r.len(), 5, "{r:?}");
        assert!(r[0].contains("node_cpu_usage_seconds_total: value is not finite"));
        assert!(r[3].contains("negative value"));
    }

    #[test]
    fn crlf_line_endings() {
        let body = fixture("metrics_resource_single_pod_normal.prom");
        let crlf: Vec<u8> = body
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect();
        assert_eq!(decode(&crlf), decode(&body));
    }

    #[test]
    fn last_line_without_newline_still_counts() {
        let d = decode(b"node_cpu_usage_seconds_total 1 2\nnode_memory_working_set_bytes 3 4");
        assert_eq!(d.node.memory, pt(3.0, 4));
    }

    #[test]
    fn non_utf8_costs_only_the_series_that_needs_it() {
        let body = b"# HELP \xff\xfe comment bytes are ignored\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\xe9\",container=\"c\"} 1 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"p\",container=\"c\",id=\"\xff\"} 2 2\n\
            pod_cpu_usage_seconds_total{pod=\"\xff\"} 1 1\n";
        let d = decode(body);
        assert_eq!(d.containers.len(), 1);
        assert_eq!(d.containers[0].cpu, pt(2.0, 2));
        assert_eq!(d.skipped.len(), 1);
        assert!(d.skipped[0].reason.contains("label pod is not UTF-8"));
    }

    #[test]
    fn duplicate_series_later_wins_and_order_is_first_appearance() {
        let body =
            b"container_cpu_usage_seconds_total{namespace=\"n\",pod=\"b\",container=\"c\"} 1 1\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"a\",container=\"c\"} 2 2\n\
            container_memory_working_set_bytes{namespace=\"n\",pod=\"a\",container=\"c\"} 3 3\n\
            container_cpu_usage_seconds_total{namespace=\"n\",pod=\"b\",container=\"c\"} 4 4\n\
            node_cpu_usage_seconds_total 5 5\n\
            node_cpu_usage_seconds_total 6 6\n";
        let d = decode(body);
        let pods: Vec<_> = d.containers.iter().map(|c| &*c.pod).collect();
        assert_eq!(pods, ["b", "a"]);
        assert_eq!(d.containers[0].cpu, pt(4.0, 4));
        assert_eq!(d.containers[1].cpu, pt(2.0, 2));
        assert_eq!(d.containers[1].memory, pt(3.0, 3));
        assert_eq!(d.node.cpu, pt(6.0, 6));
    }

    #[test]
    fn bodies_that_are_not_prometheus_text_are_errors() {
        for body in [
            &b"<html><body>Forbidden</body></html>\n"[..],
            b"{\"kind\":\"Status\"}",
            b"Forbidden (user=system:serviceaccount:kube-system:metrics-server, verb=get)\n",
        ] {
            match decode_resource(body) {
                Err(DecodeError::NotText { lines, first }) => {
                    assert!(lines >= 1);
                    assert_eq!(first.line, 1);
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
        assert!(matches!(
            decode_resource(&[0x1f, 0x8b, 8, 0, 0]),
            Err(DecodeError::Compressed)
        ));
        // One good sample among garbage is enough to be text.
        assert!(decode_resource(b"<html>\nscrape_error 0\n").is_ok());
    }

    #[test]
    fn skipped_list_is_capped() {
        let body = "node_cpu_usage_seconds_total NaN\n".repeat(1000);
        let d = decode(body.as_bytes());
        assert_eq!(d.skipped.len(), MAX_SKIPPED + 1);
        let last: &SeriesError = &d.skipped[MAX_SKIPPED];
        assert_eq!(last.line, MAX_SKIPPED + 1);
        assert!(last.reason.starts_with("900 more"));
    }

    #[test]
    fn timestamps_parse_exactly() {
        assert_eq!(parse_i64(b"1633253812125"), Some(1_633_253_812_125));
        assert_eq!(parse_i64(b"-62135596800000"), Some(-62_135_596_800_000));
        assert_eq!(parse_i64(b"+5"), Some(5));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"9223372036854775808",
            b"1e3",
            b"1.0",
            b"12a",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }
}
