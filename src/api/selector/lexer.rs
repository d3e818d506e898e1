//! The label selector's byte lexer (`labels.Lexer`).

/// The token kinds of `labels.Token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok {
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

/// The operator or punctuation a run of special bytes spells, if any (Go's `string2token`).
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
pub(super) struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `s`.
    pub(super) fn new(s: &'a str) -> Self {
        Lexer { s, pos: 0 }
    }

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

    /// The next token and its literal text; `Tok::End` once the input (or a NUL) is reached.
    pub(super) fn lex(&mut self) -> (Tok, String) {
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
