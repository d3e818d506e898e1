//! The selectors' tests, by concept: label matching, label errors, field selectors; what crosses
//! them (robustness on odd input, Go's quoting) stays here.

mod field;
mod label_errors;
mod label_matching;

use super::go_text::go_quote;
use super::{FieldSelector, LabelSelector};

/// Whether `sel` parses and matches `labels`; panics on a parse error so a table row names it.
fn m(sel: &str, labels: &[(&str, &str)]) -> bool {
    LabelSelector::parse(sel)
        .unwrap_or_else(|e| panic!("{sel:?}: {e}"))
        .matches(labels.iter().copied())
}

/// The 400 text for a label selector that must not parse.
fn err(sel: &str) -> String {
    match LabelSelector::parse(sel) {
        Ok(s) => panic!("{sel:?} parsed as {s}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parsers_never_panic_on_odd_input() {
    let samples = [
        "",
        ",",
        "!",
        "=",
        "==",
        "!=",
        "(",
        ")",
        "<",
        ">",
        "in",
        "notin",
        "in in",
        "a in (",
        "a in ()",
        "a in (,)",
        "a in (,,",
        "\u{0}",
        "a\u{0}",
        "é=ü",
        "ß in (ñ)",
        "\\",
        "\\,",
        "=\\",
        "a=\\",
        "!!a",
        "a>>1",
        "a<=1",
        "a=>1",
        "a==",
        "a!=",
        "a in (x)) ,",
        "🙂=🙂",
        "a=b,\u{0},c",
        "x\u{0}=1",
        "\u{2028}",
        "a\u{a0}=b",
    ];
    for s in samples {
        let _ = LabelSelector::parse(s).map(|l| l.to_string());
        let _ = FieldSelector::parse(s);
        let _ = FieldSelector::parse(&format!("metadata.name={s}"));
    }
    // Every byte value at every position of a short template.
    for b in 0u8..=127 {
        let c = char::from(b);
        for t in [
            "{c}",
            "a{c}b",
            "a={c}",
            "a in ({c})",
            "{c}a",
            "a{c}",
            "a=b{c}c",
        ] {
            let s = t.replace("{c}", &c.to_string());
            let _ = LabelSelector::parse(&s);
            let _ = FieldSelector::parse(&s);
        }
    }
}

#[test]
fn go_quote_matches_strconv_quote() {
    let table = [
        ("", "\"\""),
        ("abc", "\"abc\""),
        ("a\"b", "\"a\\\"b\""),
        ("a\\b", "\"a\\\\b\""),
        ("\n\t\r\u{7}\u{8}\u{c}\u{b}", "\"\\n\\t\\r\\a\\b\\f\\v\""),
        ("\u{0}\u{1f}\u{7f}", "\"\\x00\\x1f\\x7f\""),
        ("é世🙂", "\"é世🙂\""),
        ("\u{85}\u{200b}\u{feff}", "\"\\u0085\\u200b\\ufeff\""),
        ("\u{e0001}", "\"\\U000e0001\""),
    ];
    for (s, want) in table {
        assert_eq!(go_quote(s), want, "{s:?}");
    }
}
