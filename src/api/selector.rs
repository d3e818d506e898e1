//! Label and field selectors with the Kubernetes grammar and Go's error messages.

use std::fmt;

/// Parse failure; the Display text is the message of the 400 Status, in Go's wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector that does not parse.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// A label selector with a stray comma or operator.
    #[error("found '{found}', expected: {expected}")]
    Syntax {
        /// The token found.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A field selector term without an operator.
    #[error("invalid selector: '{whole}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole selector.
        whole: String,
        /// The term that failed.
        term: String,
    },
    /// A field other than metadata.name and metadata.namespace.
    #[error(
        "\"{0}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    )]
    UnknownField(String),
    /// A bad escape in a field selector value.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    Escape(String),
    /// An unescaped special character in a field selector value.
    #[error("invalid field selector: unescaped character in value: {0}")]
    Unescaped(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
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

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && v.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn is_qualified_name(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Eq,
    DoubleEq,
    NotEq,
    Not,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    In,
    NotIn,
    End,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Not => "!".into(),
            Tok::Gt => "gt".into(),
            Tok::Lt => "lt".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::End => "".into(),
        }
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = b.get(i + 1).copied();
        let (tok, len) = match (c, two) {
            (b'=', Some(b'=')) => (Tok::DoubleEq, 2),
            (b'!', Some(b'=')) => (Tok::NotEq, 2),
            (b'=', _) => (Tok::Eq, 1),
            (b'!', _) => (Tok::Not, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'<', _) => (Tok::Lt, 1),
            (b'(', _) => (Tok::Open, 1),
            (b')', _) => (Tok::Close, 1),
            (b',', _) => (Tok::Comma, 1),
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !b"=!><(),".contains(&b[i]) {
                    i += 1;
                }
                let word = &s[start..i];
                let tok = match word {
                    "in" => Tok::In,
                    "notin" => Tok::NotIn,
                    _ => Tok::Ident(word.to_string()),
                };
                out.push(tok);
                continue;
            }
        };
        out.push(tok);
        i += len;
    }
    out.push(Tok::End);
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).unwrap_or(&Tok::End)
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        // "in"/"notin" are keywords only in operator position.
        match self.next() {
            Tok::Ident(k) => Ok(k),
            Tok::In => Ok("in".into()),
            Tok::NotIn => Ok("notin".into()),
            t => Err(SelectorError::Syntax {
                found: t.text(),
                expected: "identifier",
            }),
        }
    }

    fn value(&mut self) -> String {
        match self.peek().clone() {
            Tok::Ident(v) => {
                self.pos += 1;
                v
            }
            Tok::In | Tok::NotIn => {
                let t = self.next();
                t.text()
            }
            _ => String::new(),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if *self.peek() == Tok::Not {
            self.pos += 1;
            let key = self.key()?;
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
                values: vec![],
            });
        }
        let key = match self.peek().clone() {
            Tok::Ident(_) | Tok::In | Tok::NotIn => self.key()?,
            t => {
                return Err(SelectorError::Syntax {
                    found: t.text(),
                    expected: "!, identifier, or 'end of string'",
                });
            }
        };
        let op = match self.peek().clone() {
            Tok::Comma | Tok::End => {
                return Ok(Requirement {
                    key,
                    op: Op::Exists,
                    values: vec![],
                });
            }
            Tok::Eq => Op::Equals,
            Tok::DoubleEq => Op::DoubleEquals,
            Tok::NotEq => Op::NotEquals,
            Tok::In => Op::In,
            Tok::NotIn => Op::NotIn,
            Tok::Gt => Op::Gt,
            Tok::Lt => Op::Lt,
            t => {
                return Err(SelectorError::Label(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.text()
                )));
            }
        };
        self.pos += 1;
        let values = match op {
            Op::In | Op::NotIn => {
                if self.next() != Tok::Open {
                    let found = self
                        .toks
                        .get(self.pos - 1)
                        .map(Tok::text)
                        .unwrap_or_default();
                    return Err(SelectorError::Label(format!(
                        "found '{found}' expected: '('"
                    )));
                }
                let mut vals = vec![self.value()];
                loop {
                    match self.next() {
                        Tok::Comma => vals.push(self.value()),
                        Tok::Close => break,
                        t => {
                            return Err(SelectorError::Label(format!(
                                "found '{}', expected: ',', ')' or identifier",
                                t.text()
                            )));
                        }
                    }
                }
                vals
            }
            Op::Gt | Op::Lt => {
                let v = self.value();
                if v.parse::<i64>().is_err() {
                    return Err(SelectorError::Label(format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer: {v}"
                    )));
                }
                vec![v]
            }
            _ => vec![self.value()],
        };
        if !is_qualified_name(&key) {
            return Err(SelectorError::Label(format!(
                "key: Invalid value: {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
            )));
        }
        if !matches!(op, Op::Gt | Op::Lt)
            && let Some(bad) = values.iter().find(|v| !is_label_value(v))
        {
            return Err(SelectorError::Label(format!(
                "values[0][{key}]: Invalid value: {bad:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
            )));
        }
        Ok(Requirement { key, op, values })
    }
}

impl LabelSelector {
    /// Parses the Kubernetes label-selector grammar.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        let mut reqs = Vec::new();
        if *p.peek() == Tok::End {
            return Ok(Self::default());
        }
        loop {
            reqs.push(p.requirement()?);
            match p.next() {
                Tok::End => break,
                Tok::Comma => {
                    if *p.peek() == Tok::End {
                        return Err(SelectorError::Syntax {
                            found: String::new(),
                            expected: "identifier after ','",
                        });
                    }
                }
                t => {
                    return Err(SelectorError::Syntax {
                        found: t.text(),
                        expected: "',' or 'end of string'",
                    });
                }
            }
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { reqs })
    }

    /// True when it selects everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Matches label pairs without building a map.
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
            match r.op {
                Op::Equals | Op::DoubleEquals | Op::In => {
                    value.is_some_and(|v| r.values.iter().any(|x| x == v))
                }
                Op::NotEquals | Op::NotIn => value.is_none_or(|v| r.values.iter().all(|x| x != v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Gt | Op::Lt => {
                    let (Some(v), Some(bound)) = (
                        value.and_then(|v| v.parse::<i64>().ok()),
                        r.values[0].parse::<i64>().ok(),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt { v > bound } else { v < bound }
                }
            }
        })
    }

    /// The `key=value` pairs every match must carry.
    pub fn required_equalities(&self) -> Vec<(&str, &str)> {
        self.reqs
            .iter()
            .filter(|r| {
                matches!(r.op, Op::Equals | Op::DoubleEquals)
                    || (r.op == Op::In && r.values.len() == 1)
            })
            .map(|r| (r.key.as_str(), r.values[0].as_str()))
            .collect()
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .reqs
            .iter()
            .map(|r| {
                let mut vals = r.values.clone();
                vals.sort();
                match r.op {
                    Op::Equals => format!("{}={}", r.key, r.values[0]),
                    Op::DoubleEquals => format!("{}=={}", r.key, r.values[0]),
                    Op::NotEquals => format!("{}!={}", r.key, r.values[0]),
                    Op::In => format!("{} in ({})", r.key, vals.join(",")),
                    Op::NotIn => format!("{} notin ({})", r.key, vals.join(",")),
                    Op::Exists => r.key.clone(),
                    Op::DoesNotExist => format!("!{}", r.key),
                    Op::Gt => format!("{}>{}", r.key, r.values[0]),
                    Op::Lt => format!("{}<{}", r.key, r.values[0]),
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct FieldTerm {
    field: String,
    negate: bool,
    value: String,
}

/// A parsed field selector over `metadata.name` and `metadata.namespace`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

fn split_unescaped(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

fn unescape_field_value(v: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(SelectorError::Escape(format!("\\{e}"))),
                None => return Err(SelectorError::Escape("\\".into())),
            },
            ',' | '=' => return Err(SelectorError::Unescaped(c as u8)),
            c => out.push(c),
        }
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses `field=value`, `field==value`, `field!=value` terms joined by `,`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        for term in split_unescaped(s, b',') {
            let (field, negate, raw) = if let Some((f, v)) = term.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError::FieldTerm {
                    whole: s.to_string(),
                    term: term.to_string(),
                });
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(SelectorError::UnknownField(field.to_string()));
            }
            terms.push(FieldTerm {
                field: field.to_string(),
                negate,
                value: unescape_field_value(raw)?,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// True when it selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Nodes pass `namespace: None`: `metadata.namespace=x` then matches nothing, `!=x` everything.
    pub fn matches(&self, name: &str, namespace: Option<&str>) -> bool {
        self.terms.iter().all(|t| {
            let actual = if t.field == "metadata.name" {
                Some(name)
            } else {
                namespace
            };
            match actual {
                Some(a) => (a == t.value) != t.negate,
                None => t.negate,
            }
        })
    }

    fn required(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negate)
            .map(|t| t.value.as_str())
    }

    /// The name a match must have, so a list can be a point lookup.
    pub fn required_name(&self) -> Option<&str> {
        self.required("metadata.name")
    }

    /// The namespace a match must be in.
    pub fn required_namespace(&self) -> Option<&str> {
        self.required("metadata.namespace")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(sel: &str, labels: &[(&str, &str)]) -> bool {
        LabelSelector::parse(sel)
            .unwrap()
            .matches(labels.iter().copied())
    }

    #[test]
    fn every_label_operator_matches_as_in_go() {
        let l = [("app", "web"), ("tier", "frontend"), ("n", "5")];
        assert!(m("", &l));
        assert!(m("app=web", &l) && m("app==web", &l) && m(" app = web ", &l));
        assert!(!m("app=db", &l) && m("app!=db", &l) && m("missing!=x", &l));
        assert!(
            m("app in (web,db)", &l) && !m("app notin (web)", &l) && m("missing notin (x)", &l)
        );
        assert!(m("app", &l) && !m("!app", &l) && m("!missing", &l));
        assert!(m("n>4", &l) && !m("n<5", &l) && !m("app>1", &l));
        assert!(m("app=web,tier=frontend", &l) && !m("app=web,tier=backend", &l));
        assert!(m("empty=", &[("empty", "")]) && !m("empty=", &l));
        assert!(m(
            "app.kubernetes.io/name=x",
            &[("app.kubernetes.io/name", "x")]
        ));
    }

    #[test]
    fn go_error_messages() {
        let err = |s: &str| LabelSelector::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a in x"),
            "unable to parse requirement: found 'x' expected: '('"
        );
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            err(",a"),
            "found ',', expected: !, identifier, or 'end of string'"
        );
        assert!(err("app=a@b").contains("Invalid value: \"a@b\""));
        assert!(err("-bad=x").contains("key"));
        assert!(err("n>x").contains("integer"));
    }

    #[test]
    fn canonical_display_sorts_by_key() {
        let s = LabelSelector::parse("tier!=db,app in (y,x),!legacy").unwrap();
        assert_eq!(s.to_string(), "app in (x,y),!legacy,tier!=db");
        assert_eq!(
            LabelSelector::parse("a=1,b==2")
                .unwrap()
                .required_equalities(),
            vec![("a", "1"), ("b", "2")]
        );
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=p1,metadata.namespace==ns").unwrap();
        assert!(f.matches("p1", Some("ns")) && !f.matches("p2", Some("ns")));
        assert_eq!(f.required_name(), Some("p1"));
        assert_eq!(f.required_namespace(), Some("ns"));
        let ns = FieldSelector::parse("metadata.namespace=x").unwrap();
        assert!(!ns.matches("node", None), "nodes have no namespace");
        assert!(
            FieldSelector::parse("metadata.namespace!=x")
                .unwrap()
                .matches("node", None)
        );
        assert!(
            FieldSelector::parse("metadata.name!=a")
                .unwrap()
                .matches("b", None)
        );
        assert_eq!(
            FieldSelector::parse("metadata.name=a\\,b")
                .unwrap()
                .required_name(),
            Some("a,b")
        );
        assert_eq!(
            FieldSelector::parse("spec.nodeName=x")
                .unwrap_err()
                .to_string(),
            "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert!(
            FieldSelector::parse("metadata.name")
                .unwrap_err()
                .to_string()
                .contains("can't understand")
        );
        assert!(
            FieldSelector::parse("metadata.name=a\\x")
                .unwrap_err()
                .to_string()
                .contains("invalid escape")
        );
        assert!(FieldSelector::parse("").unwrap().is_empty());
    }
}
