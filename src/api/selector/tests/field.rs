//! Field selectors: parsing, escapes, Go's error texts, and namespaces of cluster-scoped objects.

use crate::api::selector::FieldSelector;

/// The 400 text for a field selector that must not parse.
fn ferr(sel: &str) -> String {
    match FieldSelector::parse(sel) {
        Ok(s) => panic!("{sel:?} parsed as {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn field_selectors_parse_and_match() {
    let f = FieldSelector::parse("metadata.name=p1,metadata.namespace==ns").unwrap();
    assert!(f.matches("p1", Some("ns")));
    assert!(!f.matches("p2", Some("ns")) && !f.matches("p1", Some("other")));
    assert_eq!(f.required_name(), Some("p1"));
    assert_eq!(f.required_namespace(), Some("ns"));

    let f = FieldSelector::parse("metadata.name!=a").unwrap();
    assert!(f.matches("b", None) && !f.matches("a", Some("x")));
    assert_eq!(f.required_name(), None);

    // Empty terms are skipped; an empty value is a value.
    assert!(FieldSelector::parse("").unwrap().is_empty());
    assert!(FieldSelector::parse(",,").unwrap().is_empty());
    let f = FieldSelector::parse("metadata.name=,").unwrap();
    assert!(f.matches("", None) && !f.matches("a", None));
    assert_eq!(f.required_name(), Some(""));

    // The first operator wins: `!=` before `==` before `=` at each position.
    let f = FieldSelector::parse("metadata.name==a").unwrap();
    assert_eq!(f.required_name(), Some("a"));
    assert!(
        !FieldSelector::parse("metadata.name!=a")
            .unwrap()
            .matches("a", None)
    );
}

#[test]
fn field_selector_escapes() {
    let f = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
    assert_eq!(f.required_name(), Some(r"a,b=c\d"));
    assert!(f.matches(r"a,b=c\d", None));
    let f = FieldSelector::parse(r"metadata.name=a\,b,metadata.namespace=n").unwrap();
    assert_eq!(f.required_name(), Some("a,b"));
    assert_eq!(f.required_namespace(), Some("n"));
    assert_eq!(
        ferr(r"metadata.name=a\x"),
        r"invalid field selector: invalid escape sequence: \x"
    );
    assert_eq!(
        ferr(r"metadata.name=a\"),
        r"invalid field selector: invalid escape sequence: \"
    );
    assert_eq!(
        ferr("metadata.name=a=b"),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        ferr("metadata.name===b"),
        "invalid field selector: unescaped character in value: 61"
    );
}

#[test]
fn field_selector_errors_use_go_text() {
    assert_eq!(
        ferr("spec.nodeName=x"),
        "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    // The field is not trimmed, and is quoted with %q.
    assert_eq!(
        ferr("metadata.name =x"),
        "\"metadata.name \" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    assert_eq!(
        ferr("=x"),
        "\"\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    assert_eq!(
        ferr("metadata.name"),
        "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
    );
    // Terms are handled in sorted order, and syntax errors come before unknown fields.
    assert_eq!(
        ferr("zzz,yyy"),
        "invalid selector: 'zzz,yyy'; can't understand 'yyy'"
    );
    assert_eq!(
        ferr("spec.x=1,zzz"),
        "invalid selector: 'spec.x=1,zzz'; can't understand 'zzz'"
    );
    assert_eq!(
        ferr(r"spec.x=1,metadata.name=a\q"),
        r"invalid field selector: invalid escape sequence: \q"
    );
    assert_eq!(
        ferr("b.x=1,a.x=1"),
        "\"a.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
}

#[test]
fn field_selector_namespace_on_cluster_scoped_objects() {
    let eq = FieldSelector::parse("metadata.namespace=x").unwrap();
    let ne = FieldSelector::parse("metadata.namespace!=x").unwrap();
    assert!(!eq.matches("node-1", None) && ne.matches("node-1", None));
    assert!(eq.matches("pod", Some("x")) && !ne.matches("pod", Some("x")));
    // Go reads a missing field as "": an empty namespace value selects nodes.
    assert!(
        FieldSelector::parse("metadata.namespace=")
            .unwrap()
            .matches("node-1", None)
    );
    assert!(
        !FieldSelector::parse("metadata.namespace!=")
            .unwrap()
            .matches("node-1", None)
    );
    let both =
        FieldSelector::parse("metadata.name=node-1,metadata.namespace!=kube-system").unwrap();
    assert!(both.matches("node-1", None) && !both.matches("node-2", None));
}
