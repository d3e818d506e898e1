//! Fixed-depth history of samples for one node or container.

/// One measurement of a cumulative CPU counter and a memory gauge: 24 bytes, no map per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Kubelet measurement time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// Cumulative CPU time in nanocore-seconds (core-seconds × 1e9).
    pub cpu_ns: u64,
    /// Working-set memory in bytes.
    pub memory_bytes: u64,
}

/// A ring buffer of the newest `depth` samples, oldest overwritten first.
///
/// It is allocated once at its full depth, so steady-state scraping never allocates.
#[derive(Debug, Clone)]
pub struct Ring {
    buf: Box<[Sample]>,
    /// Index of the newest sample.
    head: u32,
    len: u32,
}

impl Ring {
    /// An empty ring holding at most `depth` samples (at least 2, so a rate can be formed).
    pub fn new(depth: usize) -> Self {
        let depth = depth.clamp(2, u32::MAX as usize);
        let zero = Sample {
            timestamp_ms: 0,
            cpu_ns: 0,
            memory_bytes: 0,
        };
        Ring {
            buf: vec![zero; depth].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Appends a sample, dropping the oldest when full.
    pub fn push(&mut self, s: Sample) {
        let cap = self.buf.len() as u32;
        if self.len > 0 {
            self.head = (self.head + 1) % cap;
        }
        self.buf[self.head as usize] = s;
        self.len = (self.len + 1).min(cap);
    }

    /// Forgets every sample (after a restart or counter reset) without freeing the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when no sample is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sample `back` steps before the newest (0 = newest).
    pub fn get_back(&self, back: usize) -> Option<&Sample> {
        if back >= self.len as usize {
            return None;
        }
        let cap = self.buf.len();
        let idx = (self.head as usize + cap - back) % cap;
        self.buf.get(idx)
    }

    /// The newest sample.
    pub fn newest(&self) -> Option<&Sample> {
        self.get_back(0)
    }

    /// Samples from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = &Sample> {
        (0..self.len()).rev().filter_map(|b| self.get_back(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64) -> Sample {
        Sample {
            timestamp_ms: t,
            cpu_ns: t as u64,
            memory_bytes: 1,
        }
    }

    #[test]
    fn sample_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Sample>(), 24);
    }

    #[test]
    fn keeps_newest_depth_samples_in_order() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        assert_eq!(r.newest(), None);
        for t in 1..=5 {
            r.push(s(t));
        }
        assert_eq!(r.len(), 3);
        let ts: Vec<i64> = r.iter().map(|x| x.timestamp_ms).collect();
        assert_eq!(ts, vec![3, 4, 5]);
        assert_eq!(r.get_back(1).map(|x| x.timestamp_ms), Some(4));
        assert_eq!(r.get_back(3), None);
        r.clear();
        assert!(r.is_empty());
        r.push(s(9));
        assert_eq!(
            r.iter().map(|x| x.timestamp_ms).collect::<Vec<_>>(),
            vec![9]
        );
    }

    #[test]
    fn depth_below_two_is_raised() {
        let mut r = Ring::new(0);
        r.push(s(1));
        r.push(s(2));
        assert_eq!(r.len(), 2);
    }
}
