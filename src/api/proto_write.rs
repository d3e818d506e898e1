//! The protobuf messages of NodeMetrics and PodMetrics written straight from the served objects,
//! sizes first, so nothing is copied into owned message structs: the bytes are those of
//! [`super::proto`]'s messages (its types stay the reference layout and decode them in tests),
//! with map entries always carrying both key and value, as Go writes them.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::store::{NodeObject, PodObject, Usage};

use super::quantity::{format_cpu_nanocores, format_memory_bytes};

/// A field key (every tag here is below 16: one byte).
const KEY: usize = 1;

fn str_len(s: &str) -> usize {
    KEY + encoded_len_varint(s.len() as u64) + s.len()
}

fn msg_len(inner: usize) -> usize {
    KEY + encoded_len_varint(inner as u64) + inner
}

fn int_len(v: i64) -> usize {
    KEY + encoded_len_varint(v as u64)
}

fn put_str(buf: &mut Vec<u8>, tag: u32, s: &str) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(s.len() as u64, buf);
    buf.extend_from_slice(s.as_bytes());
}

fn put_msg(buf: &mut Vec<u8>, tag: u32, inner: usize) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(inner as u64, buf);
}

fn put_int(buf: &mut Vec<u8>, tag: u32, v: i64) {
    encode_key(tag, WireType::Varint, buf);
    encode_varint(v as u64, buf);
}

/// `metav1.Time` of Unix milliseconds (0: Go's zero time).
fn time(ms: i64) -> (i64, i64) {
    if ms == 0 {
        return (-62_135_596_800, 0);
    }
    (ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000)
}

fn time_len(ms: i64) -> usize {
    let (s, n) = time(ms);
    int_len(s) + int_len(n)
}

fn put_time(buf: &mut Vec<u8>, tag: u32, ms: i64) {
    let (s, n) = time(ms);
    put_msg(buf, tag, time_len(ms));
    put_int(buf, 1, s);
    put_int(buf, 2, n);
}

/// What `ObjectMeta` is written from.
struct Meta<'a> {
    name: &'a str,
    namespace: Option<&'a str>,
    uid: &'a str,
    rv: String,
    created_ms: i64,
    labels: &'a [(Box<str>, Box<str>)],
}

fn entry_len(k: &str, v_len: usize) -> usize {
    str_len(k) + v_len
}

impl Meta<'_> {
    fn len(&self) -> usize {
        str_len(self.name)
            + self.namespace.map_or(0, str_len)
            + if self.uid.is_empty() {
                0
            } else {
                str_len(self.uid)
            }
            + str_len(&self.rv)
            + msg_len(time_len(self.created_ms))
            + self
                .labels
                .iter()
                .map(|(k, v)| msg_len(entry_len(k, str_len(v))))
                .sum::<usize>()
    }

    fn put(&self, buf: &mut Vec<u8>) {
        put_msg(buf, 1, self.len());
        put_str(buf, 1, self.name);
        if let Some(ns) = self.namespace {
            put_str(buf, 3, ns);
        }
        if !self.uid.is_empty() {
            put_str(buf, 5, self.uid);
        }
        put_str(buf, 6, &self.rv);
        put_time(buf, 8, self.created_ms);
        for (k, v) in self.labels {
            put_msg(buf, 11, entry_len(k, str_len(v)));
            put_str(buf, 1, k);
            put_str(buf, 2, v);
        }
    }
}

/// Usage as sorted (name, quantity) pairs, the map the messages carry.
fn cells(u: &Usage) -> Cells {
    let swap = u.swap_bytes.map(format_memory_bytes);
    Cells {
        len: 2 + usize::from(swap.is_some()),
        items: [
            ("cpu", format_cpu_nanocores(u.cpu_nanocores)),
            ("memory", format_memory_bytes(u.memory_bytes)),
            ("swap", swap.unwrap_or_default()),
        ],
    }
}

/// The usage map without a heap allocation per container: cpu, memory and, when `len` is 3, swap.
struct Cells {
    items: [(&'static str, String); 3],
    len: usize,
}

impl std::ops::Deref for Cells {
    type Target = [(&'static str, String)];
    fn deref(&self) -> &Self::Target {
        &self.items[..self.len]
    }
}

fn usage_len(cells: &[(&'static str, String)]) -> usize {
    cells
        .iter()
        .map(|(k, q)| msg_len(entry_len(k, msg_len(str_len(q)))))
        .sum()
}

fn put_usage(buf: &mut Vec<u8>, tag: u32, cells: &[(&'static str, String)]) {
    for (k, q) in cells {
        put_msg(buf, tag, entry_len(k, msg_len(str_len(q))));
        put_str(buf, 1, k);
        put_msg(buf, 2, str_len(q));
        put_str(buf, 1, q);
    }
}

fn window_len(ms: i64) -> usize {
    msg_len(int_len(ms.max(0) * 1_000_000))
}

fn put_window(buf: &mut Vec<u8>, ms: i64) {
    let ns = ms.max(0) * 1_000_000;
    put_msg(buf, 3, int_len(ns));
    put_int(buf, 1, ns);
}

/// The NodeMetrics message of `n` at `rv`.
pub fn node(n: &NodeObject, rv: u64) -> Vec<u8> {
    let meta = Meta {
        name: &n.name,
        namespace: None,
        uid: &n.meta.uid,
        rv: rv.to_string(),
        created_ms: n.meta.created_s * 1000,
        labels: &n.meta.labels,
    };
    let usage = cells(&n.usage);
    let len = msg_len(meta.len())
        + msg_len(time_len(n.usage.timestamp_ms))
        + window_len(n.usage.window_ms)
        + usage_len(&usage);
    let mut buf = Vec::with_capacity(len);
    meta.put(&mut buf);
    put_time(&mut buf, 2, n.usage.timestamp_ms);
    put_window(&mut buf, n.usage.window_ms);
    put_usage(&mut buf, 4, &usage);
    buf
}

/// The PodMetrics message of `p` at `rv`.
pub fn pod(p: &PodObject, rv: u64) -> Vec<u8> {
    let meta = Meta {
        name: &p.key.name,
        namespace: Some(&p.key.namespace),
        uid: &p.meta.uid,
        rv: rv.to_string(),
        created_ms: p.meta.created_s * 1000,
        labels: &p.meta.labels,
    };
    let containers: Vec<(&str, Cells)> = p
        .containers
        .iter()
        .map(|(name, u)| (name.as_ref(), cells(u)))
        .collect();
    let container_len = |(name, usage): &(&str, Cells)| str_len(name) + usage_len(usage);
    let len = msg_len(meta.len())
        + msg_len(time_len(p.timestamp_ms))
        + window_len(p.window_ms)
        + containers
            .iter()
            .map(|c| msg_len(container_len(c)))
            .sum::<usize>();
    let mut buf = Vec::with_capacity(len);
    meta.put(&mut buf);
    put_time(&mut buf, 2, p.timestamp_ms);
    put_window(&mut buf, p.window_ms);
    for c in &containers {
        put_msg(&mut buf, 4, container_len(c));
        put_str(&mut buf, 1, c.0);
        put_usage(&mut buf, 2, &c.1);
    }
    buf
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message;

    use super::*;
    use crate::api::proto;
    use crate::store::{ObjectMeta, PodKey};

    fn usage(cpu: u64, mem: u64) -> Usage {
        Usage {
            timestamp_ms: 1_764_000_015_123,
            window_ms: 15_012,
            cpu_nanocores: cpu,
            memory_bytes: mem,
            swap_bytes: None,
        }
    }

    #[test]
    fn direct_bytes_decode_as_the_reference_messages() {
        let labels: Vec<(Box<str>, Box<str>)> =
            vec![("a".into(), "1".into()), ("role".into(), "".into())];
        let meta = ObjectMeta {
            labels: labels.into(),
            uid: Arc::from("u-1"),
            created_s: 1_700_000_000,
        };
        let n = NodeObject {
            name: Arc::from("n1"),
            meta: meta.clone(),
            usage: usage(250_000_000, 1 << 30),
        };
        let got = proto::NodeMetrics::decode(node(&n, 42).as_slice()).unwrap();
        assert_eq!(got.metadata.as_ref().unwrap().name.as_deref(), Some("n1"));
        assert_eq!(got.metadata.as_ref().unwrap().uid.as_deref(), Some("u-1"));
        assert_eq!(
            got.metadata.as_ref().unwrap().resource_version.as_deref(),
            Some("42")
        );
        assert_eq!(got.metadata.as_ref().unwrap().labels["role"], "");
        assert_eq!(
            got.metadata.as_ref().unwrap().creation_timestamp,
            Some(proto::time_ms(1_700_000_000_000))
        );
        assert_eq!(got.timestamp, Some(proto::time_ms(1_764_000_015_123)));
        assert_eq!(got.window.unwrap().duration, Some(15_012_000_000));
        assert_eq!(got.usage["cpu"].string.as_deref(), Some("250m"));
        assert_eq!(got.usage["memory"].string.as_deref(), Some("1Gi"));
        let p = PodObject {
            key: PodKey::new("ns", "p"),
            meta: ObjectMeta {
                created_s: 0,
                ..meta
            },
            node: Arc::from("n1"),
            timestamp_ms: 1_764_000_015_123,
            window_ms: 15_012,
            containers: vec![
                (Arc::from("a"), usage(1, 1024)),
                (
                    Arc::from("b"),
                    Usage {
                        swap_bytes: Some(3 << 20),
                        ..usage(2, 2048)
                    },
                ),
            ]
            .into_boxed_slice(),
        };
        let got = proto::PodMetrics::decode(pod(&p, 7).as_slice()).unwrap();
        let m = got.metadata.unwrap();
        assert_eq!(m.namespace.as_deref(), Some("ns"));
        assert_eq!(m.creation_timestamp, Some(proto::time_ms(0)));
        assert_eq!(got.containers.len(), 2);
        assert_eq!(got.containers[1].name.as_deref(), Some("b"));
        assert_eq!(got.containers[1].usage["cpu"].string.as_deref(), Some("2n"));
        assert_eq!(
            got.containers[1].usage["memory"].string.as_deref(),
            Some("2Ki")
        );
        assert_eq!(
            got.containers[1].usage["swap"].string.as_deref(),
            Some("3Mi")
        );
        assert!(!got.containers[0].usage.contains_key("swap"));
        assert!(!got.containers[0].usage.is_empty());
    }
}
