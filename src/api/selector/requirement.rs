//! One label requirement (`labels.Requirement`): its operator, its matching, its canonical text.

use std::fmt;

use super::go_text::{aggregate, field_invalid};
use super::validation::label_value_errors;

/// `selection.Operator`; `=` and `==` stay distinct so the canonical text keeps what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

/// One `key op values` term of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Requirement {
    /// The label key, validated as a qualified name.
    pub(super) key: String,
    /// How the label's value is compared with `values`.
    pub(super) op: Op,
    /// Sorted and deduplicated, as Go's `sets.String.List()` leaves them.
    pub(super) values: Vec<String>,
}

impl Requirement {
    /// Whether a label value (None when the label is absent) satisfies the requirement, as Go's
    /// `Requirement.Matches`.
    pub(super) fn matches(&self, value: Option<&str>) -> bool {
        match self.op {
            Op::Equals | Op::DoubleEquals | Op::In => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| self.values.iter().all(|x| x != v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt | Op::Lt => {
                let (Some(have), [bound]) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.as_slice(),
                ) else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.op == Op::Gt {
                    have > bound
                } else {
                    have < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// Go's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Op::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Op::Equals => "=",
            Op::DoubleEquals => "==",
            Op::NotEquals => "!=",
            Op::In => " in ",
            Op::NotIn => " notin ",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Exists | Op::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.op, Op::In | Op::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Go's `NewRequirement` value checks (the key was validated by the parser already).
pub(super) fn new_requirement(
    key: String,
    op: Op,
    values: Vec<String>,
) -> Result<Requirement, String> {
    let mut errs = Vec::new();
    if matches!(op, Op::Gt | Op::Lt) {
        for (i, v) in values.iter().enumerate() {
            if v.parse::<i64>().is_err() {
                errs.push(field_invalid(
                    &format!("values[{i}]"),
                    v,
                    "for 'Gt', 'Lt' operators, the value must be an integer",
                ));
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let reasons = label_value_errors(v);
        if !reasons.is_empty() {
            errs.push(field_invalid(
                &format!("values[{i}][{key}]"),
                v,
                &reasons.join("; "),
            ));
        }
    }
    if errs.is_empty() {
        Ok(Requirement { key, op, values })
    } else {
        Err(aggregate(errs))
    }
}
