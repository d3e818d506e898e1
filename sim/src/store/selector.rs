//! Label and field selectors of a list or watch, with kube-apiserver's grammar and messages.

use super::object::{Kind, ObjData};

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
    use std::sync::Arc;

    use super::*;
    use crate::store::object::NsObj;

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
}
