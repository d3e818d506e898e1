//! Field selectors restricted to `metadata.name` and `metadata.namespace`, the fields every
//! metrics object exposes.

use super::SelectorError;

/// The two fields a metrics object can be selected by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Namespace,
}

/// One `field=value` or `field!=value` term, its value unescaped.
#[derive(Debug, Clone, PartialEq)]
struct FieldTerm {
    field: Field,
    negate: bool,
    value: String,
}

/// A parsed field selector restricted to the fields metrics objects expose.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    /// In Go's order: terms sorted as raw strings.
    terms: Vec<FieldTerm>,
}

/// Go's `splitTerms`: split on commas not preceded by a backslash escape.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    if s.is_empty() {
        return terms;
    }
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(s.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    terms.push(s.get(start..).unwrap_or_default());
    terms
}

/// Go's `splitTerm`: the first position where `!=`, `==` or `=` starts (checked in that order).
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let b = term.as_bytes();
    for i in 0..b.len() {
        let rest = b.get(i..).unwrap_or_default();
        for (op, negate) in [(&b"!="[..], true), (&b"=="[..], false), (&b"="[..], false)] {
            if rest.starts_with(op) {
                return Some((term.get(..i)?, negate, term.get(i + op.len()..)?));
            }
        }
    }
    None
}

/// Go's `fields.UnescapeValue`.
fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(SelectorError::FieldEscape(format!("\\{c}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(SelectorError::FieldUnescaped(u32::from(c))),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::FieldEscape("\\".to_string()));
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses `field=value`, `field==value`, `field!=value` terms joined by `,`. As in Go, every
    /// term is parsed (in sorted order) before any field name is checked, so syntax errors win.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(s);
        parts.sort_unstable();
        let mut raw = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let (lhs, negate, rhs) = split_term(part).ok_or_else(|| SelectorError::FieldTerm {
                selector: s.to_string(),
                term: part.to_string(),
            })?;
            raw.push((lhs, negate, unescape_field_value(rhs)?));
        }
        let terms = raw
            .into_iter()
            .map(|(lhs, negate, value)| {
                let field = match lhs {
                    "metadata.name" => Field::Name,
                    "metadata.namespace" => Field::Namespace,
                    other => return Err(SelectorError::UnknownField(other.to_string())),
                };
                Ok(FieldTerm {
                    field,
                    negate,
                    value,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(FieldSelector { terms })
    }

    /// True when it selects everything, so callers can skip filtering.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// `namespace` is None for cluster-scoped objects (nodes): then metadata.namespace=x matches nothing and metadata.namespace!=x matches everything, as in Go.
    ///
    /// Exactly as Go's `fields.Set.Get`, an absent namespace reads as `""`, so for nodes
    /// `metadata.namespace=` (empty value) matches and `metadata.namespace!=` does not.
    pub fn matches(&self, name: &str, namespace: Option<&str>) -> bool {
        self.terms.iter().all(|t| {
            let actual = match t.field {
                Field::Name => name,
                Field::Namespace => namespace.unwrap_or(""),
            };
            (actual == t.value) != t.negate
        })
    }

    /// The value of the first `=`/`==` term on `field`.
    fn required(&self, field: Field) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negate)
            .map(|t| t.value.as_str())
    }

    /// If the selector requires metadata.name == X (an `=`/`==` term), X — lets a list be answered by a point lookup.
    ///
    /// Like Go's `RequiresExactMatch`, this is the first such term; callers must still apply
    /// [`FieldSelector::matches`] to what the lookup returns.
    pub fn required_name(&self) -> Option<&str> {
        self.required(Field::Name)
    }

    /// If the selector requires metadata.namespace == X (an `=`/`==` term), X — lets a
    /// cluster-wide pod list be narrowed to one namespace.
    pub fn required_namespace(&self) -> Option<&str> {
        self.required(Field::Namespace)
    }
}
