//! A parsed label selector: what `labelSelector` and `--node-selector` filter with.

use std::fmt;

use super::SelectorError;
use super::label_parser::Parser;
use super::requirement::{Op, Requirement};

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    /// Sorted by key (stable), as Go's parser leaves them.
    reqs: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the full Kubernetes grammar (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, `>`,
    /// `<`); used for `labelSelector` and for `--node-selector`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Parser::new(s).parse()?;
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { reqs })
    }

    /// True when it selects everything, so callers can skip filtering.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Matches against label pairs (any iterator of (&str,&str)), so callers need not build a map.
    pub fn matches<'a, I: IntoIterator<Item = (&'a str, &'a str)> + Clone>(
        &self,
        labels: I,
    ) -> bool {
        self.reqs.iter().all(|r| {
            let value = labels
                .clone()
                .into_iter()
                .find(|(k, _)| *k == r.key)
                .map(|(_, v)| v);
            r.matches(value)
        })
    }

    /// The literal equality pairs `key=value` that every match must carry (lets callers pre-filter); empty if none.
    pub fn required_equalities(&self) -> Vec<(&str, &str)> {
        self.reqs
            .iter()
            .filter(|r| matches!(r.op, Op::Equals | Op::DoubleEquals | Op::In))
            .filter_map(|r| match r.values.as_slice() {
                [v] => Some((r.key.as_str(), v.as_str())),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for LabelSelector {
    /// Go's canonical `String()`: requirements sorted by key, set values sorted; what client-go
    /// sends, so a re-serialised selector round-trips.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reqs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}
