//! Byte-level reading of one line: character classes by table lookup and a bounds-checked cursor,
//! so no input can make the decoder panic.

use memchr::memchr2;

pub(super) const NAME_START: u8 = 1;
pub(super) const NAME_CONT: u8 = 2;
pub(super) const LABEL_START: u8 = 4;
pub(super) const LABEL_CONT: u8 = 8;

/// Character classes of metric names (`[a-zA-Z_:][a-zA-Z0-9_:]*`) and label
/// names (`[a-zA-Z_][a-zA-Z0-9_]*`), as one table lookup per byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut c = 0;
        if alpha || b == b':' {
            c |= NAME_START | NAME_CONT;
        }
        if digit {
            c |= NAME_CONT | LABEL_CONT;
        }
        if alpha {
            c |= LABEL_START | LABEL_CONT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

pub(super) fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A read position in one line; every access is bounds-checked, so no input can
/// make it panic.
pub(super) struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// At the start of `line`.
    pub(super) fn new(line: &'a [u8]) -> Self {
        Cursor { s: line, i: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.s.get(self.i..).unwrap_or_default()
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.i += 1;
        }
        hit
    }

    /// Skips blanks and says whether there were any.
    pub(super) fn blanks(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_blank) {
            self.i += 1;
        }
        self.i > start
    }

    pub(super) fn take_class(&mut self, class: u8) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|b| is(b, class)) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    pub(super) fn take_token(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|b| !is_blank(b)) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    /// Reads a label value after its opening quote; returns the raw bytes and
    /// whether they contain escapes that still need undoing.
    pub(super) fn quoted(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        let mut escaped = false;
        let mut j = start;
        loop {
            let at = j + memchr2(b'"', b'\\', self.s.get(j..)?)?;
            if self.s.get(at) == Some(&b'"') {
                self.i = at + 1;
                return Some((self.s.get(start..at)?, escaped));
            }
            escaped = true;
            j = at + 2;
        }
    }
}

/// Trims blanks and a CR on both ends.
pub(super) fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if is_blank(*last) || *last == b'\r' {
            line = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = line {
        if is_blank(*first) {
            line = rest;
        } else {
            break;
        }
    }
    line
}
