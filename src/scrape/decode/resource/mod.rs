//! Zero-copy decoder of the kubelet's `/metrics/resource` (Prometheus text 0.0.4).
//!
//! Why not a general parser: prometheus-parse 0.2.5 allocates a `String` per line
//! plus a `HashMap` and two `String`s per label, runs up to three regexes per line
//! (about 46 MB/s, 15 allocations per sample), never unescapes label values,
//! drops samples with `,` or `=` in a value, and turns a missing timestamp into
//! `now()`. The scrape path runs for every node every cycle, so this decoder
//! reads only the five families metrics-server consumes, splits lines with
//! `memchr`, scans labels quote-aware, borrows names from the body and allocates
//! only to unescape a label value (or to describe a skipped line).
//!
//! Measured here it is about 12 times faster than prometheus-parse (see
//! `benches/decode.rs`). Every non-comment line is syntax-checked; only the five
//! families metrics-server reads are kept and sanity-checked (finite,
//! non-negative values; non-negative timestamps; the three key labels present).
//! A bad line is reported and costs only itself. A last line without its `\n`
//! is accepted, as other parsers do.
//!
//! Layout: `lines` splits the body, `scan` reads bytes by character class, `labels` parses a label
//! set and its key labels, `numbers` values and timestamps, `family` names the kept families, and
//! `sample` turns one line into a kept series, a skip or nothing.

mod family;
mod labels;
mod lines;
mod numbers;
mod sample;
mod scan;
#[cfg(test)]
mod tests;

use crate::scrape::decode::{ContainerField, ContainerIndex, DecodeError, Decoded, Skips};
use family::NodeField;
use lines::Lines;
use sample::{Outcome, Series, classify};

/// Decodes one `/metrics/resource` body, borrowing names from it.
///
/// Works on bytes so that a stray non-UTF-8 byte costs only the series whose key
/// label holds it. Errors only for a gzip body or a body none of whose lines
/// parses (see [`DecodeError`]); an empty body is an empty, valid result.
pub fn decode_resource(body: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(DecodeError::Compressed);
    }
    let mut out = Decoded::default();
    let mut skips = Skips::default();
    let mut index = ContainerIndex::default();
    let mut content_lines = 0usize;
    let mut parsed_lines = 0usize;
    for (line_no, line) in Lines::new(body) {
        let outcome = classify(line);
        if !matches!(outcome, Outcome::Blank) {
            content_lines += 1;
        }
        match outcome {
            Outcome::Blank => {}
            Outcome::Other => parsed_lines += 1,
            Outcome::Series(s) => {
                parsed_lines += 1;
                merge(&mut out, &mut index, s);
            }
            Outcome::Rejected(p) => {
                parsed_lines += 1;
                skips.push(line_no, || p.to_string());
            }
            Outcome::Malformed(p) => skips.push(line_no, || p.to_string()),
        }
    }
    if parsed_lines == 0
        && content_lines > 0
        && let Some(first) = skips.first().cloned()
    {
        return Err(DecodeError::NotText {
            lines: content_lines,
            first,
        });
    }
    out.skipped = skips.finish();
    Ok(out)
}

fn merge<'a>(out: &mut Decoded<'a>, index: &mut ContainerIndex, s: Series<'a>) {
    match s {
        Series::Node { field, point } => match field {
            NodeField::Cpu => out.node.cpu = Some(point),
            NodeField::Memory => out.node.memory = Some(point),
            NodeField::Swap => out.node.swap = Some(point),
        },
        Series::Container {
            field,
            namespace,
            pod,
            container,
            point,
        } => {
            let c = index.slot(&mut out.containers, field, namespace, pod, container);
            match field {
                ContainerField::Cpu => c.cpu = Some(point),
                ContainerField::Memory => c.memory = Some(point),
                ContainerField::Start => c.start_time_s = Some(point.value),
                ContainerField::Swap => c.swap = Some(point),
            }
        }
    }
}
