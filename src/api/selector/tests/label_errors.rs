//! Label selector errors, word for word as Go's parser and validation write them.

use super::{err, m};

const KEY_REGEX_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn label_syntax_errors_use_go_text() {
    // The four cases quoted in the wire-protocol note.
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
    // More of the parser's messages.
    let table = [
        ("a,,b", "found ',', expected: identifier after ','"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=b)", "found ')', expected: ',' or 'end of string'"),
        (
            "=a",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        (
            "!=a",
            "found '!=', expected: !, identifier, or 'end of string'",
        ),
        (
            "(a)",
            "found '(', expected: !, identifier, or 'end of string'",
        ),
        (
            "!",
            "unable to parse requirement: found '', expected: identifier",
        ),
        (
            "!,a",
            "unable to parse requirement: found ',', expected: identifier",
        ),
        (
            "a (",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "a !x",
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "a=(",
            "unable to parse requirement: found '(', expected: identifier",
        ),
        (
            "a in (x",
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        (
            "a in (x y)",
            "unable to parse requirement: found 'y', expected: ',' or ')'",
        ),
        (
            "a in (x,",
            "unable to parse requirement: found '', expected: ',', or identifier",
        ),
        (
            "a in",
            "unable to parse requirement: found '' expected: '('",
        ),
        (
            "a in (=",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        ),
        (
            "a notin (x))",
            "found ')', expected: ',' or 'end of string'",
        ),
    ];
    for (sel, want) in table {
        assert_eq!(err(sel), want, "{sel:?}");
    }
}

#[test]
fn label_key_and_value_validation_errors() {
    assert_eq!(
        err("app=a@b"),
        format!(
            "unable to parse requirement: values[0][app]: Invalid value: \"a@b\": {VALUE_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("-bad=x"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"-bad\": name part {KEY_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("app:monolith"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part {KEY_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("a/b/c=x"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name {KEY_REGEX_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    );
    assert_eq!(
        err("/a"),
        "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
    );
    assert_eq!(
        err("a/"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; name part {KEY_REGEX_MSG}"
        )
    );
    assert_eq!(
        err("App.io/x"),
        "unable to parse requirement: <nil>: Invalid value: \"App.io/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    let long = "k".repeat(64);
    assert_eq!(
        err(&long),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"
        )
    );
    let z = "z".repeat(64);
    assert_eq!(
        err(&format!("good-key={z}")),
        format!(
            "unable to parse requirement: values[0][good-key]: Invalid value: \"{z}\": must be no more than 63 characters"
        )
    );
    // Gt/Lt need integers; empty values count as non-integers.
    assert_eq!(
        err("n>x"),
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        err("n<"),
        "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    // A negative bound is an integer but not a valid label value.
    assert_eq!(
        err("n>-1"),
        format!(
            "unable to parse requirement: values[0][n]: Invalid value: \"-1\": {VALUE_REGEX_MSG}"
        )
    );
    // Several errors aggregate as Go's `[a, b]`, values indexed in sorted order.
    assert_eq!(
        err("a in (z@, y@)"),
        format!(
            "unable to parse requirement: [values[0][a]: Invalid value: \"y@\": {VALUE_REGEX_MSG}, values[1][a]: Invalid value: \"z@\": {VALUE_REGEX_MSG}]"
        )
    );
    assert_eq!(
        err("n>x@"),
        format!(
            "unable to parse requirement: [values[0]: Invalid value: \"x@\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][n]: Invalid value: \"x@\": {VALUE_REGEX_MSG}]"
        )
    );
    // Values are quoted with Go's %q.
    assert!(err("a=x\u{b}y").contains("Invalid value: \"x\\vy\""));
    assert!(err("a=\u{1}").contains("Invalid value: \"\\x01\""));
    assert!(err("a=é").contains("Invalid value: \"é\""));
    assert!(err("a=\u{a0}").contains("Invalid value: \"\\u00a0\""));
    assert!(err("a=\"").contains("Invalid value: \"\\\"\""));
}

#[test]
fn label_lexer_quirks_follow_go() {
    // A NUL at the start of a token ends the input; inside an identifier it only ends it.
    assert!(m("a \u{0}garbage", &[("a", "1")]));
    assert_eq!(
        err("a=b\u{0}c"),
        "found 'c', expected: ',' or 'end of string'"
    );
    // Greedy two-byte operators: "!==" is "!=" then "=".
    assert_eq!(
        err("a!==b"),
        "unable to parse requirement: found '=', expected: identifier"
    );
    assert_eq!(
        err("a=!b"),
        "unable to parse requirement: found '!', expected: identifier"
    );
    // Vertical tab is not whitespace for the lexer, so it stays in the identifier.
    assert!(err("a\u{b}=b").contains("Invalid value: \"a\\v\""));
}
