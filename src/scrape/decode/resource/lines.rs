//! Numbered lines of a body, split with `memchr` and never copied.

use memchr::memchr;

/// Splits a body into numbered lines with `memchr`, without copying.
pub(super) struct Lines<'a> {
    rest: &'a [u8],
    line_no: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    pub(super) fn new(body: &'a [u8]) -> Self {
        Lines {
            rest: body,
            line_no: 0,
            done: body.is_empty(),
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.line_no += 1;
        let line = match memchr(b'\n', self.rest) {
            Some(nl) => {
                let (line, rest) = self.rest.split_at(nl);
                self.rest = rest.get(1..).unwrap_or_default();
                if self.rest.is_empty() {
                    self.done = true;
                }
                line
            }
            None => {
                self.done = true;
                self.rest
            }
        };
        Some((self.line_no, line))
    }
}
