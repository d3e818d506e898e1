//! The NodeMetrics and PodMetrics messages, written straight from the served objects, sizes first,
//! so nothing is copied into owned message structs.

use crate::api::quantity::{format_cpu_nanocores, format_memory_bytes};
use crate::store::{NodeObject, PodObject, Usage};

use super::wire::{
    int_len, msg_len, put_int, put_msg, put_str, put_str_entry, str_entry_len, str_len,
};

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

/// Length of a map entry whose value takes `v_len` bytes.
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
                .map(|(k, v)| str_entry_len(k, v))
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
            put_str_entry(buf, 11, k, v);
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
