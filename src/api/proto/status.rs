//! `metav1.Status`: what an `ERROR` event of a protobuf watch carries.

use crate::api::status::{ApiError, Cause, Details};

use super::wire::{int_len, msg_len, put_int, put_msg, put_str, str_len};

/// Length of an optional string field: nothing when absent.
fn opt_str_len(s: Option<&str>) -> usize {
    s.map_or(0, str_len)
}

/// Writes an optional string field when present.
fn put_opt_str(buf: &mut Vec<u8>, tag: u32, s: Option<&str>) {
    if let Some(s) = s {
        put_str(buf, tag, s);
    }
}

/// `metav1.StatusCause` is written with its reason and message always, its field when set.
fn cause_len(c: &Cause) -> usize {
    str_len(c.reason) + str_len(&c.message) + opt_str_len(c.field)
}

/// Go's int32 `retryAfterSeconds`: a larger value wraps as Go's conversion would.
fn retry_after(s: u32) -> i64 {
    i64::from(s as i32)
}

/// `metav1.StatusDetails`.
fn details_len(d: &Details) -> usize {
    opt_str_len(d.name.as_deref())
        + opt_str_len(d.group)
        + opt_str_len(d.kind)
        + d.causes
            .iter()
            .map(|c| msg_len(cause_len(c)))
            .sum::<usize>()
        + d.retry_after_seconds.map_or(0, |s| int_len(retry_after(s)))
}

/// The Status message of an API error: `metadata` (empty but for the continue token of an expired
/// one), `Failure`, message, reason, details when the error has them, and the HTTP code.
pub fn status(e: &ApiError) -> Vec<u8> {
    let code = i64::from(e.code);
    let token = e.continue_token.as_deref();
    let metadata = opt_str_len(token);
    let len = msg_len(metadata)
        + str_len("Failure")
        + str_len(&e.message)
        + str_len(e.reason)
        + e.details.as_deref().map_or(0, |d| msg_len(details_len(d)))
        + int_len(code);
    let mut buf = Vec::with_capacity(len);
    put_msg(&mut buf, 1, metadata);
    put_opt_str(&mut buf, 3, token);
    put_str(&mut buf, 2, "Failure");
    put_str(&mut buf, 3, &e.message);
    put_str(&mut buf, 4, e.reason);
    if let Some(d) = e.details.as_deref() {
        put_msg(&mut buf, 5, details_len(d));
        put_opt_str(&mut buf, 1, d.name.as_deref());
        put_opt_str(&mut buf, 2, d.group);
        put_opt_str(&mut buf, 3, d.kind);
        for c in &d.causes {
            put_msg(&mut buf, 4, cause_len(c));
            put_str(&mut buf, 1, c.reason);
            put_str(&mut buf, 2, &c.message);
            put_opt_str(&mut buf, 3, c.field);
        }
        if let Some(s) = d.retry_after_seconds {
            put_int(&mut buf, 5, retry_after(s));
        }
    }
    put_int(&mut buf, 6, code);
    buf
}
