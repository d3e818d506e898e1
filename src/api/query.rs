//! List options from the query string, with Go's parsing rules.

use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;

/// The list options the API honours.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `watch` (any value but `0`/`false`).
    pub watch: bool,
    /// `pretty`: indent the JSON.
    pub pretty: bool,
}

/// Go's boolean rule: false iff the value is `0` or `false` (any case); anything else is true.
fn go_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

impl ListQuery {
    /// Parses a raw query string; empty pairs (`?&a=b`, as kube-rs sends) are skipped and
    /// unknown parameters ignored. A selector that does not parse is a 400.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut q = ListQuery::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "labelSelector" => {
                    q.labels = LabelSelector::parse(&v)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                }
                "fieldSelector" => {
                    q.fields = FieldSelector::parse(&v)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                }
                "watch" => q.watch = go_bool(&v),
                "pretty" => q.pretty = go_bool(&v),
                _ => {}
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selectors_and_go_booleans() {
        let q = ListQuery::parse(
            "&labelSelector=app%3Dweb%2Ctier%21%3Ddb&fieldSelector=metadata.name%3Dx&watch=1",
        )
        .unwrap();
        assert!(q.watch);
        assert!(q.labels.matches([("app", "web")]));
        assert!(!q.labels.matches([("app", "web"), ("tier", "db")]));
        assert_eq!(q.fields.required_name(), Some("x"));
        for (v, want) in [
            ("false", false),
            ("FALSE", false),
            ("0", false),
            ("", true),
            ("True", true),
        ] {
            assert_eq!(
                ListQuery::parse(&format!("watch={v}")).unwrap().watch,
                want,
                "watch={v}"
            );
        }
        assert!(!ListQuery::parse("").unwrap().watch);
    }

    #[test]
    fn bad_selectors_are_400s() {
        let e = ListQuery::parse("labelSelector=a%20b").unwrap_err();
        assert_eq!(e.code, 400);
        let f = ListQuery::parse("fieldSelector=spec.nodeName%3Dx").unwrap_err();
        assert_eq!(f.code, 400);
        assert!(
            f.message.contains("is not a known field selector"),
            "{}",
            f.message
        );
    }
}
