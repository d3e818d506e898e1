//! A `{...}` label set: every label is syntax-checked, only namespace, pod and container are
//! kept, and a value is copied only when it has escapes to undo.

use std::borrow::Cow;

use super::scan::{Cursor, LABEL_CONT, LABEL_START, is};

/// A key label's raw value.
#[derive(Clone, Copy)]
struct Raw<'a> {
    bytes: &'a [u8],
    escaped: bool,
}

/// The key labels of one series as found; judged only when its family is kept.
#[derive(Default)]
pub(super) struct KeyLabels<'a> {
    namespace: Option<Raw<'a>>,
    pod: Option<Raw<'a>>,
    container: Option<Raw<'a>>,
}

/// (namespace, pod, container) of a container series, or why it has none.
pub(super) fn container_key<'a>(keys: &KeyLabels<'a>) -> Result<[Cow<'a, str>; 3], &'static str> {
    Ok([
        key_label(keys.namespace, Key::Namespace)?,
        key_label(keys.pod, Key::Pod)?,
        key_label(keys.container, Key::Container)?,
    ])
}

/// One key label's value, or why the series has none.
fn key_label<'a>(raw: Option<Raw<'a>>, label: Key) -> Result<Cow<'a, str>, &'static str> {
    let [missing, empty, not_utf8] = match label {
        Key::Namespace => [
            "missing label namespace",
            "empty label namespace",
            "label namespace is not UTF-8",
        ],
        Key::Pod => [
            "missing label pod",
            "empty label pod",
            "label pod is not UTF-8",
        ],
        Key::Container => [
            "missing label container",
            "empty label container",
            "label container is not UTF-8",
        ],
    };
    match raw {
        None => Err(missing),
        Some(r) if r.bytes.is_empty() => Err(empty),
        Some(r) => label_value(r).ok_or(not_utf8),
    }
}

#[derive(Clone, Copy)]
enum Key {
    Namespace,
    Pod,
    Container,
}

/// Parses `{...}` after the opening brace. Only the three key labels are kept,
/// and only when `want` is set; the rest are checked and dropped.
pub(super) fn labels<'a>(
    c: &mut Cursor<'a>,
    want: bool,
    keys: &mut KeyLabels<'a>,
) -> Result<(), (&'static str, &'a [u8])> {
    loop {
        c.blanks();
        if c.eat(b'}') {
            return Ok(());
        }
        let at = c.rest();
        let name = c.take_class(LABEL_CONT);
        if !name.first().is_some_and(|&b| is(b, LABEL_START)) {
            return Err(("expected a label name or '}'", at));
        }
        c.blanks();
        if !c.eat(b'=') {
            return Err(("expected '=' after label name", c.rest()));
        }
        c.blanks();
        if !c.eat(b'"') {
            return Err(("expected '\"' to open the label value", c.rest()));
        }
        let Some((bytes, escaped)) = c.quoted() else {
            return Err(("unterminated label value", at));
        };
        if want {
            let slot = match name {
                b"namespace" => Some(&mut keys.namespace),
                b"pod" => Some(&mut keys.pod),
                b"container" => Some(&mut keys.container),
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return Err(("duplicate label", at));
                }
                *slot = Some(Raw { bytes, escaped });
            }
        }
        c.blanks();
        if c.eat(b'}') {
            return Ok(());
        }
        if !c.eat(b',') {
            return Err(("expected ',' or '}' after a label value", c.rest()));
        }
    }
}

/// Borrows the value when it has no escapes; otherwise undoes `\\`, `\"` and
/// `\n` (other escapes are kept verbatim, as Prometheus does).
fn label_value(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    if !raw.escaped {
        return std::str::from_utf8(raw.bytes).ok().map(Cow::Borrowed);
    }
    let mut out = Vec::with_capacity(raw.bytes.len());
    let mut it = raw.bytes.iter().copied();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => out.push(b'\n'),
            Some(e @ (b'\\' | b'"')) => out.push(e),
            Some(other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}
