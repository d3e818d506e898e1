//! Label and field selectors with the Kubernetes grammar and Go's error messages.
//!
//! The label parser is a transcription of `k8s.io/apimachinery/pkg/labels/selector.go` (lexer,
//! parser and `NewRequirement` validation), and the field parser of `pkg/fields/selector.go`
//! plus `runtime.DefaultMetaV1FieldSelectorConversion`, so clients see the same 400 messages a Go
//! server (apimachinery 1.32) would send.

use std::fmt;

/// Parse failure; the Display text is the message the API returns in a 400 Status, matching Go's wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector whose requirement list is malformed (stray or trailing comma, junk
    /// after a requirement); Go reports these without the "unable to parse requirement" prefix.
    #[error("{0}")]
    LabelSyntax(String),
    /// A label requirement that does not parse or whose key or values are invalid.
    #[error("unable to parse requirement: {0}")]
    LabelRequirement(String),
    /// A field selector term with none of `=`, `==`, `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole selector, as sent.
        selector: String,
        /// The term that has no operator.
        term: String,
    },
    /// A backslash in a field value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    FieldEscape(String),
    /// A bare `=` or `,` in a field value; Go prints the code point as a number (`61`).
    #[error("invalid field selector: unescaped character in value: {0}")]
    FieldUnescaped(u32),
    /// A field other than the two every metrics object exposes.
    #[error(
        "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        go_quote(.0)
    )]
    UnknownField(String),
}

// ---------------------------------------------------------------------------------------------
// Go formatting and validation helpers
// ---------------------------------------------------------------------------------------------

/// Approximates Go's `strconv.IsPrint` (letters, marks, numbers, punctuation, symbols and the
/// ASCII space) without Unicode tables: controls, non-ASCII spaces, format characters, private
/// use and non-characters are non-printable; unassigned code points count as printable.
fn go_is_print(c: char) -> bool {
    let u = u32::from(c);
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(
            u,
            0xad | 0x600..=0x605
                | 0x61c
                | 0x6dd
                | 0x70f
                | 0x890..=0x891
                | 0x8e2
                | 0x180e
                | 0x200b..=0x200f
                | 0x202a..=0x202e
                | 0x2060..=0x206f
                | 0xd800..=0xf8ff
                | 0xfeff
                | 0xfff9..=0xfffb
                | 0xfffe..=0xffff
                | 0x110bd
                | 0x110cd
                | 0x13430..=0x1343f
                | 0x1bca0..=0x1bca3
                | 0x1d173..=0x1d17a
                | 0xe0001..=0xe007f
                | 0xf0000..
        )
        || u & 0xfffe == 0xfffe)
}

/// Go's `strconv.Quote` (what `%q` prints), used inside the error texts.
fn go_quote(s: &str) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// `validation.RegexError`, including its odd double spaces (`'MyName',  or 'my.name'`).
fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    let mut out = msg.to_string();
    if examples.is_empty() {
        out.push_str(" (regex used for validation is '");
    } else {
        out.push_str(" (e.g. ");
        for (i, e) in examples.iter().enumerate() {
            if i > 0 {
                out.push_str(" or ");
            }
            out.push('\'');
            out.push_str(e);
            out.push_str("', ");
        }
        out.push_str("regex used for validation is '");
    }
    out.push_str(re);
    out.push_str("')");
    out
}

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`.
fn matches_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`.
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        b.first().is_some_and(alnum)
            && b.last().is_some_and(alnum)
            && b.iter().all(|c| alnum(c) || *c == b'-')
    })
}

/// `validation.IsQualifiedName` (1.32 wording): the reasons a label key is invalid.
fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    errs.push(format!("prefix part {}", max_len_error(253)));
                }
                if !matches_dns1123_subdomain(prefix) {
                    errs.push(format!(
                        "prefix part {}",
                        regex_error(
                            DNS1123_SUBDOMAIN_ERR,
                            DNS1123_SUBDOMAIN_FMT,
                            &["example.com"]
                        )
                    ));
                }
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_qualified_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `validation.IsValidLabelValue`: the reasons a label value is invalid.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !matches_qualified_name(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A `field.Invalid(path, value, detail)` error rendered as Go's `field.Error.Error()`.
fn field_invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {}: {detail}", go_quote(value))
}

/// `utilerrors.NewAggregate(...).Error()`: one message as is, several as `[a, b]`, deduplicated.
fn aggregate(errs: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        seen.pop().unwrap_or_default()
    } else {
        format!("[{}]", seen.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// Label selector
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Sorted and deduplicated, as Go's `sets.String.List()` leaves them.
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match self.op {
            Op::Equals | Op::DoubleEquals | Op::In => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| self.values.iter().all(|x| x != v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt | Op::Lt => {
                let (Some(have), [bound]) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.as_slice(),
                ) else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.op == Op::Gt {
                    have > bound
                } else {
                    have < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// Go's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Op::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Op::Equals => "=",
            Op::DoubleEquals => "==",
            Op::NotEquals => "!=",
            Op::In => " in ",
            Op::NotIn => " notin ",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Exists | Op::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.op, Op::In | Op::NotIn);
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    /// Sorted by key (stable), as Go's parser leaves them.
    reqs: Vec<Requirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    Close,
    Comma,
    Not,
    DoubleEq,
    Eq,
    Gt,
    Ident,
    In,
    Lt,
    NotEq,
    NotIn,
    Open,
}

fn symbol_token(s: &[u8]) -> Option<Tok> {
    Some(match s {
        b")" => Tok::Close,
        b"," => Tok::Comma,
        b"!" => Tok::Not,
        b"==" => Tok::DoubleEq,
        b"=" => Tok::Eq,
        b">" => Tok::Gt,
        b"<" => Tok::Lt,
        b"!=" => Tok::NotEq,
        b"(" => Tok::Open,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Go's byte lexer, including its quirk that a NUL byte reads as end of input.
struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.s.as_bytes().get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn text(&self, start: usize, end: usize) -> String {
        match self.s.get(start..end) {
            Some(t) => t.to_string(),
            None => String::from_utf8_lossy(self.s.as_bytes().get(start..end).unwrap_or(&[]))
                .into_owned(),
        }
    }

    fn scan_ident(&mut self) -> (Tok, String) {
        let start = self.pos;
        let mut end = start;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            end = self.pos;
        }
        let lit = self.text(start, end);
        let tok = match lit.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident,
        };
        (tok, lit)
    }

    fn scan_special(&mut self) -> (Tok, String) {
        let start = self.pos;
        let mut last: Option<(Tok, usize)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special(ch) {
                self.unread();
                break;
            }
            let buf = self.s.as_bytes().get(start..self.pos).unwrap_or(&[]);
            if let Some(t) = symbol_token(buf) {
                last = Some((t, self.pos));
            } else if last.is_some() {
                self.unread();
                break;
            }
        }
        match last {
            Some((tok, end)) => (tok, self.text(start, end)),
            // Unreachable: every special byte is a token on its own.
            None => (Tok::End, String::new()),
        }
    }

    fn lex(&mut self) -> (Tok, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Tok::End, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special()
        } else {
            self.scan_ident()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Tok, String)>,
    pos: usize,
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl Parser {
    fn new(s: &str) -> Self {
        let mut lexer = Lexer { s, pos: 0 };
        let mut items = Vec::new();
        loop {
            let (tok, lit) = lexer.lex();
            items.push((tok, lit));
            if tok == Tok::End {
                break;
            }
        }
        Parser { items, pos: 0 }
    }

    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        let (tok, lit) = self
            .items
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::End, String::new()));
        match (ctx, tok) {
            (Ctx::Values, Tok::In | Tok::NotIn) => (Tok::Ident, lit),
            _ => (tok, lit),
        }
    }

    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let item = self.lookahead(ctx);
        self.pos += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Ident | Tok::Not => {
                    reqs.push(
                        self.requirement()
                            .map_err(SelectorError::LabelRequirement)?,
                    );
                    let (t, l) = self.consume(Ctx::Values);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, l2) = self.lookahead(Ctx::Values);
                            if t2 != Tok::Ident && t2 != Tok::Not {
                                return Err(SelectorError::LabelSyntax(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::LabelSyntax(format!(
                                "found '{l}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Tok::End => return Ok(reqs),
                _ => {
                    return Err(SelectorError::LabelSyntax(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (key, inferred) = self.key_and_inferred_operator()?;
        if let Some(op) = inferred {
            return Ok(Requirement {
                key,
                op,
                values: Vec::new(),
            });
        }
        let op = self.operator()?;
        let mut values = match op {
            Op::In | Op::NotIn => self.set_values()?,
            _ => vec![self.exact_value()?],
        };
        values.sort_unstable();
        values.dedup();
        new_requirement(key, op, values)
    }

    /// Returns the key and, for `!key` and bare `key`, the unary operator.
    fn key_and_inferred_operator(&mut self) -> Result<(String, Option<Op>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        if tok == Tok::Not {
            op = Some(Op::DoesNotExist);
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Ident {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let errs = qualified_name_errors(&lit);
        if !errs.is_empty() {
            return Err(field_invalid("<nil>", &lit, &errs.join("; ")));
        }
        let (next, _) = self.lookahead(Ctx::Values);
        if (next == Tok::End || next == Tok::Comma) && op.is_none() {
            op = Some(Op::Exists);
        }
        Ok((lit, op))
    }

    fn operator(&mut self) -> Result<Op, String> {
        let (tok, lit) = self.consume(Ctx::KeyAndOperator);
        Ok(match tok {
            Tok::In => Op::In,
            Tok::Eq => Op::Equals,
            Tok::DoubleEq => Op::DoubleEquals,
            Tok::Gt => Op::Gt,
            Tok::Lt => Op::Lt,
            Tok::NotIn => Op::NotIn,
            Tok::NotEq => Op::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    fn set_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::Open {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Ident | Tok::Comma => {
                let values = self.identifiers_list()?;
                let (tok, _) = self.consume(Ctx::Values);
                if tok != Tok::Close {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Tok::Close => {
                self.consume(Ctx::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Ident => {
                    values.push(lit);
                    let (tok2, lit2) = self.lookahead(Ctx::Values);
                    match tok2 {
                        Tok::Comma => continue,
                        Tok::Close => return Ok(values),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let (tok2, _) = self.lookahead(Ctx::Values);
                    if tok2 == Tok::Close {
                        values.push(String::new());
                        return Ok(values);
                    }
                    if tok2 == Tok::Comma {
                        self.consume(Ctx::Values);
                        values.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<String, String> {
        let (tok, _) = self.lookahead(Ctx::Values);
        if tok == Tok::End || tok == Tok::Comma {
            return Ok(String::new());
        }
        let (tok, lit) = self.consume(Ctx::Values);
        if tok == Tok::Ident {
            Ok(lit)
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// Go's `NewRequirement` value checks (the key was validated by the parser already).
fn new_requirement(key: String, op: Op, values: Vec<String>) -> Result<Requirement, String> {
    let mut errs = Vec::new();
    if matches!(op, Op::Gt | Op::Lt) {
        for (i, v) in values.iter().enumerate() {
            if v.parse::<i64>().is_err() {
                errs.push(field_invalid(
                    &format!("values[{i}]"),
                    v,
                    "for 'Gt', 'Lt' operators, the value must be an integer",
                ));
            }
        }
    }
    for (i, v) in values.iter().enumerate() {
        let reasons = label_value_errors(v);
        if !reasons.is_empty() {
            errs.push(field_invalid(
                &format!("values[{i}][{key}]"),
                v,
                &reasons.join("; "),
            ));
        }
    }
    if errs.is_empty() {
        Ok(Requirement { key, op, values })
    } else {
        Err(aggregate(errs))
    }
}

impl LabelSelector {
    /// Parses the full Kubernetes grammar (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, `>`,
    /// `<`); used for `labelSelector` and for `--node-selector`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Parser::new(s).parse()?;
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { reqs })
    }

    /// True when it selects everything, so callers can skip filtering.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Matches against label pairs (any iterator of (&str,&str)), so callers need not build a map.
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
            r.matches(value)
        })
    }

    /// The literal equality pairs `key=value` that every match must carry (lets callers pre-filter); empty if none.
    pub fn required_equalities(&self) -> Vec<(&str, &str)> {
        self.reqs
            .iter()
            .filter(|r| matches!(r.op, Op::Equals | Op::DoubleEquals | Op::In))
            .filter_map(|r| match r.values.as_slice() {
                [v] => Some((r.key.as_str(), v.as_str())),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for LabelSelector {
    /// Go's canonical `String()`: requirements sorted by key, set values sorted; what client-go
    /// sends, so a re-serialised selector round-trips.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reqs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Field selector
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Namespace,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn m(sel: &str, labels: &[(&str, &str)]) -> bool {
        LabelSelector::parse(sel)
            .unwrap_or_else(|e| panic!("{sel:?}: {e}"))
            .matches(labels.iter().copied())
    }

    fn err(sel: &str) -> String {
        match LabelSelector::parse(sel) {
            Ok(s) => panic!("{sel:?} parsed as {s}"),
            Err(e) => e.to_string(),
        }
    }

    fn ferr(sel: &str) -> String {
        match FieldSelector::parse(sel) {
            Ok(s) => panic!("{sel:?} parsed as {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    const KEY_REGEX_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

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
}
