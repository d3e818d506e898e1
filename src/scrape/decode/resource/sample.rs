//! One sample line, parsed and checked: a kept series, a well-formed line of another family, or
//! a skip with its reason kept borrowed until it is reported.

use std::borrow::Cow;
use std::fmt;

use super::family::{Family, NodeField};
use super::labels::{KeyLabels, container_key, labels};
use super::numbers::{parse_f64, parse_i64};
use super::scan::{Cursor, NAME_CONT, NAME_START, is, trim};
use crate::scrape::decode::{ContainerField, Point};

/// One kept series after all checks. For the start-time family `point.value` is
/// the start time and `point.timestamp_ms` the sample's own timestamp.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Series<'a> {
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
pub(super) enum Outcome<'a> {
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
pub(super) struct Problem<'a> {
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

/// Parses and checks one line.
pub(super) fn classify(line: &[u8]) -> Outcome<'_> {
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
    let mut c = Cursor::new(line);
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
