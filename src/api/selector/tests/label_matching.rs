//! What label selectors select, and the canonical text they print.

use super::m;
use crate::api::selector::LabelSelector;

#[test]
fn label_operators_match_as_in_go() {
    let l = [("app", "web"), ("tier", "frontend"), ("n", "5"), ("e", "")];
    let table: &[(&str, bool)] = &[
        ("", true),
        ("   ", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("app!=db", true),
        ("app!=web", false),
        ("missing!=x", true),
        ("missing=x", false),
        ("app in (web,db)", true),
        ("app in (db)", false),
        ("missing in (x)", false),
        ("app notin (web)", false),
        ("app notin (db,x)", true),
        ("missing notin (x)", true),
        ("app", true),
        ("missing", false),
        ("!app", false),
        ("!missing", true),
        ("n>4", true),
        ("n>5", false),
        ("n<6", true),
        ("n<5", false),
    ];
    for (sel, want) in table {
        assert_eq!(m(sel, &l), *want, "{sel:?}");
    }
    // Gt/Lt on a non-integer or missing label never match.
    assert!(!m("app>1", &l) && !m("app<1", &l) && !m("missing>1", &l));
    // Conjunctions, whitespace everywhere, keywords as keys and values.
    assert!(m("app=web,tier=frontend", &l));
    assert!(!m("app=web,tier=backend", &l));
    assert!(m(" app = web , tier in ( frontend , x ) ,! missing ", &l));
    assert!(m("in in (in)", &[("in", "in")]));
    assert!(m("notin=notin", &[("notin", "notin")]));
    assert!(m("app\t==\nweb", &l));
    // Empty values: `a=`, `a in ()`, `(,x)`.
    assert!(m("e=", &l) && !m("app=", &l) && m("e==", &l) && !m("e!=", &l));
    assert!(m("e in ()", &l) && m("e in (,x)", &l) && m("e in (x,)", &l));
    assert!(m("e in (x,,y)", &l) && !m("e in (x)", &l));
    assert!(m("e,app", &l) && m("e=,app=web", &l));
    // Prefixed keys.
    let k = [("app.kubernetes.io/name", "x")];
    assert!(m("app.kubernetes.io/name=x", &k));
    assert!(m("app.kubernetes.io/name", &k));
    assert!(!m("app.kubernetes.io/name!=x", &k));
}

#[test]
fn label_matching_accepts_any_pair_iterator() {
    let s = LabelSelector::parse("a=1,b").unwrap();
    let owned = [("a".to_string(), "1".to_string()), ("b".into(), "".into())];
    assert!(s.matches(owned.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
    let map: std::collections::BTreeMap<&str, &str> = [("a", "1"), ("b", "2")].into();
    assert!(s.matches(map.iter().map(|(k, v)| (*k, *v))));
    assert!(!s.matches(std::iter::empty()));
    assert!(LabelSelector::default().matches(std::iter::empty()));
}

#[test]
fn canonical_display_sorts_by_key() {
    let table = [
        ("", ""),
        (
            "tier!=db,app in (y,x),!legacy",
            "app in (x,y),!legacy,tier!=db",
        ),
        ("b==2, a=1", "a=1,b==2"),
        ("x notin (b,a,b)", "x notin (a,b)"),
        ("x in ()", "x in ()"),
        ("x in (,b)", "x in (,b)"),
        ("x in ( b , , a )", "x in (,a,b)"),
        ("n>5,m<3", "m<3,n>5"),
        ("e=", "e="),
        ("k, !j", "!j,k"),
        ("app.kubernetes.io/name=x", "app.kubernetes.io/name=x"),
        // Same key: the parse order is kept (Go's insertion sort is stable for small n).
        ("a!=2,a=1", "a!=2,a=1"),
    ];
    for (sel, want) in table {
        let s = LabelSelector::parse(sel).unwrap();
        assert_eq!(s.to_string(), want, "{sel:?}");
        assert_eq!(LabelSelector::parse(&s.to_string()).unwrap(), s, "{sel:?}");
    }
    assert!(LabelSelector::parse(" ").unwrap().is_empty());
    assert!(!LabelSelector::parse("a").unwrap().is_empty());
}

#[test]
fn required_equalities_are_the_exact_pairs() {
    let s = LabelSelector::parse("b==2,a=1,c in (3),d in (4,5),e!=6,f,g=").unwrap();
    assert_eq!(
        s.required_equalities(),
        vec![("a", "1"), ("b", "2"), ("c", "3"), ("g", "")]
    );
    assert!(
        LabelSelector::parse("a!=1,!b")
            .unwrap()
            .required_equalities()
            .is_empty()
    );
}
