//! `application/yaml` as kube-apiserver writes it: sigs.k8s.io/yaml turns the JSON into a map and
//! go-yaml v2 emits it, so keys are sorted, sequences sit at their key's indentation, and a string
//! that would read back as another type (`"1231"`, `"true"`, a timestamp) is double-quoted.
//!
//! Written here rather than taken from a crate: the shapes are a few JSON values, and Go's quoting
//! rules are what `kubectl -o yaml` users diff against.

use serde_json::Value;

/// The YAML document of a JSON value, ending in a newline.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, depth: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        // The first key of a sequence item continues the `- ` line.
        if i > 0 || !out.ends_with("- ") {
            indent(out, depth);
        }
        out.push_str(&string(k));
        out.push(':');
        value_after_key(out, &m[k], depth);
    }
}

fn value_after_key(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(out, m, depth + 2);
        }
        // go-yaml v2 writes a sequence under a key without extra indentation.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            seq(out, a, depth);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn seq(out: &mut String, a: &[Value], depth: usize) {
    for v in a {
        indent(out, depth);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => map(out, m, depth + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                seq(out, inner, depth + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Whether go-yaml v2 would resolve the plain scalar `s` to something other than a string.
fn resolves_to_other(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let num = s.strip_prefix(['-', '+']).unwrap_or(s);
    let numeric = !num.is_empty()
        && (num.replace('_', "").parse::<f64>().is_ok()
            || num
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || num
                .strip_prefix("0b")
                .is_some_and(|b| !b.is_empty() && b.chars().all(|c| c == '0' || c == '1')));
    // A float spelled without digits after an exponent parses in Rust but not in YAML; close enough.
    numeric && !num.ends_with(['e', 'E']) || is_timestamp(s)
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Whether the plain form would not parse back as the same string.
fn needs_syntax_quotes(s: &str) -> bool {
    s.is_empty()
        || s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`', ' ',
        ]) && !(s.starts_with('-') && s.len() > 1 && !s[1..].starts_with(' '))
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
}

fn string(s: &str) -> String {
    if s.contains(['\n', '\t', '\r']) || s.chars().any(char::is_control) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if s.is_empty() || resolves_to_other(s) {
        return format!("\"{s}\"");
    }
    if needs_syntax_quotes(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_render_as_kubectl_prints_them() {
        let v = serde_json::json!({
            "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"resourceVersion": "1231"},
            "items": [{"metadata": {"name": "p", "namespace": "ns", "labels": {"on": "true", "app": "x"},
                        "creationTimestamp": "2025-01-01T00:00:10Z"},
                       "window": "15s", "timestamp": "2025-01-01T00:00:00Z",
                       "containers": [{"name": "c", "usage": {"cpu": "250m", "memory": "1Gi"}}]}]
        });
        assert_eq!(
            to_yaml(&v),
            r#"apiVersion: metrics.k8s.io/v1beta1
items:
- containers:
  - name: c
    usage:
      cpu: 250m
      memory: 1Gi
  metadata:
    creationTimestamp: "2025-01-01T00:00:10Z"
    labels:
      app: x
      "on": "true"
    name: p
    namespace: ns
  timestamp: "2025-01-01T00:00:00Z"
  window: 15s
kind: PodMetricsList
metadata:
  resourceVersion: "1231"
"#
        );
        // `n` is a YAML 1.1 boolean, so go-yaml v2 quotes it even as a key.
        let empty = serde_json::json!({"items": [], "metadata": {}, "x": null, "n": 3, "e": ""});
        assert_eq!(
            to_yaml(&empty),
            "e: \"\"\nitems: []\nmetadata: {}\n\"n\": 3\nx: null\n"
        );
    }

    #[test]
    fn strings_are_quoted_only_when_go_quotes_them() {
        assert_eq!(string("12345678n"), "12345678n");
        assert_eq!(string("1"), "\"1\"");
        assert_eq!(string("0x1F"), "\"0x1F\"");
        assert_eq!(string("1.5"), "\"1.5\"");
        assert_eq!(string("yes"), "\"yes\"");
        assert_eq!(string("a: b"), "'a: b'");
        assert_eq!(string("*x"), "'*x'");
        assert_eq!(string("kube-system"), "kube-system");
        assert_eq!(string("-x"), "-x");
        assert_eq!(string("a\nb"), "\"a\\nb\"");
    }
}
