//! Turning cumulative counters into usage: the rules that keep rates honest across restarts.

use super::ring::{Ring, Sample};

/// metrics-server serves a container after one scrape only when it started at least this long before
/// the sample; shorter windows give rates too noisy to act on.
pub const FRESH_CONTAINER_MIN_WINDOW_MS: i64 = 10_000;

/// Usage over one window, ready for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// End of the window (newest sample), Unix milliseconds.
    pub timestamp_ms: i64,
    /// Length of the window in milliseconds.
    pub window_ms: i64,
    /// Average CPU over the window, nanocores.
    pub cpu_nanocores: u64,
    /// Newest working set, bytes.
    pub memory_bytes: u64,
    /// Newest swap in use, bytes; `None` where the kubelet reports no swap (or it is not served).
    pub swap_bytes: Option<u64>,
}

/// What happened to a series when a sample was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// The sample was appended.
    Appended,
    /// The series restarted (new start time or counter went down); history was dropped first.
    Restarted,
    /// The sample was not newer than the newest one held; nothing changed.
    Stale,
}

/// Offers a sample to a series whose container start time is `start_ms` (0 when unknown).
///
/// A new start time or a counter that goes down means the process restarted: the old samples
/// describe another counter, so they are dropped and no rate ever spans the restart. A sample
/// without a start time (`new_start_ms == 0`: missing or rejected by the decoder) says nothing
/// about restarts and never replaces the known start time, so the next scrape that has one does
/// not look like a restart.
pub fn ingest(ring: &mut Ring, start_ms: &mut i64, new_start_ms: i64, sample: Sample) -> Ingest {
    let restarted = match ring.newest() {
        None => {
            if new_start_ms != 0 {
                *start_ms = new_start_ms;
            }
            ring.push(sample);
            return Ingest::Appended;
        }
        Some(newest) => {
            if sample.timestamp_ms <= newest.timestamp_ms {
                return Ingest::Stale;
            }
            let new_start = new_start_ms != 0 && *start_ms != 0 && new_start_ms != *start_ms;
            new_start || sample.cpu_ns < newest.cpu_ns
        }
    };
    if restarted {
        ring.clear();
    }
    if new_start_ms != 0 {
        *start_ms = new_start_ms;
    }
    ring.push(sample);
    if restarted {
        Ingest::Restarted
    } else {
        Ingest::Appended
    }
}

/// Rate between two samples; `None` if they do not form a valid window.
pub fn usage_between(prev: &Sample, last: &Sample) -> Option<Usage> {
    let window_ms = last.timestamp_ms.checked_sub(prev.timestamp_ms)?;
    if window_ms <= 0 || last.cpu_ns < prev.cpu_ns {
        return None;
    }
    let delta = u128::from(last.cpu_ns - prev.cpu_ns);
    let cpu = delta * 1000 / window_ms as u128;
    Some(Usage {
        timestamp_ms: last.timestamp_ms,
        window_ms,
        cpu_nanocores: u64::try_from(cpu).unwrap_or(u64::MAX),
        memory_bytes: last.memory_bytes,
        swap_bytes: None,
    })
}

/// Usage of a series over at least `window_ms` of history: the rate between the newest sample and
/// the newest older sample at least `window_ms` before it, or the oldest held when the ring spans
/// less (just after a start or a restart); `window` is then exactly the span covered. With
/// `window_ms == 0` this is the two newest samples, as metrics-server computes it.
///
/// A container seen once gets its start as a zero sample when it started between 10s and one
/// resolution ago (metrics-server's fresh-container rule).
pub fn usage(ring: &Ring, start_ms: i64, resolution_ms: i64, window_ms: i64) -> Option<Usage> {
    let last = ring.newest()?;
    if ring.len() >= 2 {
        let oldest = ring.get_back(ring.len() - 1)?;
        let prev = (1..ring.len())
            .filter_map(|back| ring.get_back(back))
            .find(|s| last.timestamp_ms - s.timestamp_ms >= window_ms)
            .unwrap_or(oldest);
        return usage_between(prev, last);
    }
    if start_ms <= 0 {
        return None;
    }
    let age = last.timestamp_ms - start_ms;
    if (FRESH_CONTAINER_MIN_WINDOW_MS..resolution_ms).contains(&age) {
        let zero = Sample {
            timestamp_ms: start_ms,
            cpu_ns: 0,
            memory_bytes: 0,
        };
        return usage_between(&zero, last);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn sample(t_ms: i64, cpu_core_s: f64, mem: u64) -> Sample {
        Sample {
            timestamp_ms: t_ms,
            cpu_ns: (cpu_core_s * 1e9) as u64,
            memory_bytes: mem,
        }
    }

    #[test]
    fn rate_is_counter_delta_over_window() {
        // metrics-server's example: 1 core-s at T+120s and 6 core-s at T+125s give 1 core over 5s.
        let mut r = Ring::new(4);
        let mut start = 0;
        assert_eq!(
            ingest(&mut r, &mut start, T, sample(T + 120_000, 1.0, 10)),
            Ingest::Appended
        );
        assert_eq!(
            ingest(&mut r, &mut start, T, sample(T + 125_000, 6.0, 20)),
            Ingest::Appended
        );
        let u = usage(&r, start, 15_000, 0).unwrap();
        assert_eq!(u.cpu_nanocores, 1_000_000_000);
        assert_eq!(u.window_ms, 5_000);
        assert_eq!(u.memory_bytes, 20);
        assert_eq!(u.timestamp_ms, T + 125_000);
    }

    #[test]
    fn restart_with_new_start_time_never_spans_the_restart() {
        let mut r = Ring::new(4);
        let mut start = 0;
        ingest(&mut r, &mut start, T, sample(T + 100_000, 50.0, 1));
        ingest(&mut r, &mut start, T, sample(T + 115_000, 51.5, 1));
        assert_eq!(
            usage(&r, start, 15_000, 0).unwrap().cpu_nanocores,
            100_000_000
        );
        // Restarted at T+118s; counter starts again from zero, 0.2 core-s by T+130s.
        let restarted = ingest(&mut r, &mut start, T + 118_000, sample(T + 130_000, 0.2, 1));
        assert_eq!(restarted, Ingest::Restarted);
        assert_eq!(r.len(), 1);
        // 12s since start is within [10s, 15s): the fresh rule gives 0.2/12 core.
        let u = usage(&r, start, 15_000, 0).unwrap();
        assert_eq!(u.window_ms, 12_000);
        assert_eq!(u.cpu_nanocores, 16_666_666);
    }

    #[test]
    fn counter_reset_without_start_time_drops_history() {
        // Nodes carry no start time; a reboot shows as a counter that went down.
        let mut r = Ring::new(4);
        let mut start = 0;
        ingest(&mut r, &mut start, 0, sample(T, 1000.0, 1));
        ingest(&mut r, &mut start, 0, sample(T + 15_000, 1015.0, 1));
        assert_eq!(
            ingest(&mut r, &mut start, 0, sample(T + 30_000, 3.0, 1)),
            Ingest::Restarted
        );
        assert_eq!(
            usage(&r, start, 15_000, 0),
            None,
            "one sample and no start time: no rate"
        );
        ingest(&mut r, &mut start, 0, sample(T + 45_000, 18.0, 1));
        assert_eq!(
            usage(&r, start, 15_000, 0).unwrap().cpu_nanocores,
            1_000_000_000
        );
    }

    #[test]
    fn stale_and_duplicate_samples_change_nothing() {
        let mut r = Ring::new(4);
        let mut start = 0;
        ingest(&mut r, &mut start, T, sample(T + 10_000, 1.0, 1));
        assert_eq!(
            ingest(&mut r, &mut start, T, sample(T + 10_000, 2.0, 1)),
            Ingest::Stale
        );
        assert_eq!(
            ingest(&mut r, &mut start, T, sample(T + 5_000, 2.0, 1)),
            Ingest::Stale
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn fresh_container_rule_bounds() {
        let one = |age_ms: i64| {
            let mut r = Ring::new(4);
            let mut start = 0;
            ingest(&mut r, &mut start, T, sample(T + age_ms, 0.5, 7));
            usage(&r, start, 15_000, 0)
        };
        assert_eq!(one(9_999), None, "younger than 10s: too noisy");
        let u = one(10_000).unwrap();
        assert_eq!(
            (u.window_ms, u.cpu_nanocores, u.memory_bytes),
            (10_000, 50_000_000, 7)
        );
        assert!(one(14_999).is_some());
        assert_eq!(
            one(15_000),
            None,
            "older than a resolution: wait for a second sample"
        );
        // Without a start time there is no zero sample to use.
        let mut r = Ring::new(4);
        let mut start = 0;
        ingest(&mut r, &mut start, 0, sample(T, 0.5, 7));
        assert_eq!(usage(&r, start, 15_000, 0), None);
    }

    #[test]
    fn windows_that_cannot_be_rates_are_rejected() {
        let a = sample(T, 5.0, 1);
        assert_eq!(usage_between(&a, &a), None);
        assert_eq!(usage_between(&sample(T + 1, 5.0, 1), &a), None);
        assert_eq!(usage_between(&a, &sample(T + 1000, 4.0, 1)), None);
        // Huge counters do not overflow.
        let big = Sample {
            timestamp_ms: T + 1,
            cpu_ns: u64::MAX,
            memory_bytes: 0,
        };
        let zero = Sample {
            timestamp_ms: T,
            cpu_ns: 0,
            memory_bytes: 0,
        };
        assert_eq!(usage_between(&zero, &big).unwrap().cpu_nanocores, u64::MAX);
    }

    #[test]
    fn missing_start_time_never_replaces_the_known_one() {
        let mut r = Ring::new(8);
        let mut start = 0;
        ingest(&mut r, &mut start, T, sample(T + 100_000, 10.0, 1));
        // A scrape without start times (or with a rejected one) is no restart...
        assert_eq!(
            ingest(&mut r, &mut start, 0, sample(T + 115_000, 11.0, 1)),
            Ingest::Appended
        );
        assert_eq!(start, T, "the known start time stays");
        // ...and neither is the next scrape that has the start time again.
        assert_eq!(
            ingest(&mut r, &mut start, T, sample(T + 130_000, 12.0, 1)),
            Ingest::Appended
        );
        assert_eq!(r.len(), 3);
        // A series first seen without a start time learns it later without a restart.
        let (mut r, mut start) = (Ring::new(4), 0);
        ingest(&mut r, &mut start, 0, sample(T + 100_000, 10.0, 1));
        assert_eq!(
            ingest(&mut r, &mut start, T, sample(T + 115_000, 11.0, 1)),
            Ingest::Appended
        );
        assert_eq!(
            ingest(&mut r, &mut start, T + 120_000, sample(T + 130_000, 0.5, 1)),
            Ingest::Restarted,
            "a genuinely new start time still is a restart"
        );
    }

    #[test]
    fn window_covers_at_least_the_chosen_span_or_all_that_is_held() {
        let mut r = Ring::new(16);
        let mut start = 0;
        // 1 core for 60s, then 3 cores: samples every 15s.
        let mut cpu = 0.0;
        for i in 0..=8 {
            let t = T + i * 15_000;
            ingest(&mut r, &mut start, 0, sample(t, cpu, 1));
            cpu += if i < 4 { 15.0 } else { 45.0 };
        }
        let u = usage(&r, start, 15_000, 60_000).unwrap();
        assert_eq!(u.window_ms, 60_000);
        assert_eq!(u.cpu_nanocores, 3_000_000_000, "last 60s all at 3 cores");
        let u = usage(&r, start, 15_000, 70_000).unwrap();
        assert_eq!(u.window_ms, 75_000, "the newest sample at least 70s back");
        assert_eq!(u.cpu_nanocores, 2_600_000_000, "(15 + 4*45) / 75");
        let u = usage(&r, start, 15_000, 600_000).unwrap();
        assert_eq!(u.window_ms, 120_000, "less history than asked: all of it");
        assert_eq!(usage(&r, start, 15_000, 0).unwrap().window_ms, 15_000);
        // A short first window is honest about its length.
        let (mut r, mut start) = (Ring::new(4), 0);
        ingest(&mut r, &mut start, 0, sample(T, 1.0, 1));
        ingest(&mut r, &mut start, 0, sample(T + 1_200, 2.2, 1));
        let u = usage(&r, start, 15_000, 60_000).unwrap();
        assert_eq!((u.window_ms, u.cpu_nanocores), (1_200, 1_000_000_000));
    }
}
