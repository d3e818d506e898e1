//! Protobuf fields written by hand, each with the length it takes, so a message's size is known
//! before it is written and every nested message is written in place, never copied.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

/// A field key (every tag here is below 16: one byte).
const KEY: usize = 1;

/// Length of a string field.
pub(super) fn str_len(s: &str) -> usize {
    bytes_len(s.len())
}

/// Length of a bytes field holding `n` bytes.
pub(super) fn bytes_len(n: usize) -> usize {
    KEY + encoded_len_varint(n as u64) + n
}

/// Length of a message field whose body takes `inner` bytes.
pub(super) fn msg_len(inner: usize) -> usize {
    bytes_len(inner)
}

/// Length of a varint field (int32 and int64 alike: a negative one takes ten bytes, as in Go).
pub(super) fn int_len(v: i64) -> usize {
    KEY + encoded_len_varint(v as u64)
}

/// Writes a string field, even an empty one: Go writes its non-nullable strings always.
pub(super) fn put_str(buf: &mut Vec<u8>, tag: u32, s: &str) {
    put_bytes(buf, tag, s.as_bytes());
}

/// Writes a bytes field.
pub(super) fn put_bytes(buf: &mut Vec<u8>, tag: u32, b: &[u8]) {
    put_msg(buf, tag, b.len());
    buf.extend_from_slice(b);
}

/// Writes the key and length of a message field; its `inner` bytes of body follow.
pub(super) fn put_msg(buf: &mut Vec<u8>, tag: u32, inner: usize) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(inner as u64, buf);
}

/// Writes a varint field.
pub(super) fn put_int(buf: &mut Vec<u8>, tag: u32, v: i64) {
    encode_key(tag, WireType::Varint, buf);
    encode_varint(v as u64, buf);
}

/// Length of a `map<string, string>` entry (labels, annotations), key and value both written
/// even when empty, as Go writes them.
pub(super) fn str_entry_len(k: &str, v: &str) -> usize {
    msg_len(str_len(k) + str_len(v))
}

/// Writes a `map<string, string>` entry.
pub(super) fn put_str_entry(buf: &mut Vec<u8>, tag: u32, k: &str, v: &str) {
    put_msg(buf, tag, str_len(k) + str_len(v));
    put_str(buf, 1, k);
    put_str(buf, 2, v);
}
