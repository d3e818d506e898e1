//! Flags of the scrape and serving policy this module owns: averaging window, staleness bound,
//! the relaxed-pod rule, and retry/backoff of failing kubelets.
//!
//! They live in one clap [`Args`] struct, flattened into the server's arguments, so the policy can
//! grow without touching the rest of the configuration.

use std::time::Duration;

use clap::Args;

use crate::config::{parse_go_bool, parse_go_duration};

fn duration(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).map_err(|e| e.to_string())
}

/// Scrape and serving policy flags (ours; metrics-server has none of them).
#[derive(Debug, Clone, Args)]
pub struct ScrapeArgs {
    /// How much history a CPU rate covers: usage is the rate over the newest samples spanning at
    /// least this long (default: one `--metric-resolution`). While less history is held, the
    /// longest available span is used, and `window` says what was covered.
    #[arg(long, value_parser = duration)]
    pub window: Option<Duration>,
    /// How long a node whose scrapes fail keeps serving its last good metrics (with their honest
    /// timestamp and window) before they are removed (default: twice `--metric-resolution`).
    #[arg(long, value_parser = duration)]
    pub metric_staleness: Option<Duration>,
    /// Serve a pod whose containers do not all have a rate yet, with the containers that do.
    /// Off by default: the HPA expects a pod's sum to cover every container, as metrics-server
    /// serves it.
    #[arg(long)]
    pub allow_partial_pods: bool,
    /// Serve `usage.swap` (a BinarySI quantity, as `kubectl top --show-swap` reads it) where the
    /// kubelet reports swap. `--serve-swap=false` leaves only cpu and memory, for readers that
    /// reject other keys.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_go_bool)]
    pub serve_swap: bool,
    /// Read `/stats/summary` from a kubelet whose `/metrics/resource` answers 404 (kubelets before
    /// 1.18). `--kubelet-summary-fallback=false` never asks for it, so the RBAC role needs no
    /// `nodes/stats` (the `no-summary-fallback` overlay).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true", value_parser = parse_go_bool)]
    pub kubelet_summary_fallback: bool,
    /// Retries of a failed kubelet request inside the same period (with doubling backoff).
    #[arg(long, default_value_t = 2)]
    pub kubelet_retries: u32,
    /// First retry delay; each further retry waits twice as long, within half a period.
    #[arg(long, default_value = "250ms", value_parser = duration)]
    pub kubelet_retry_backoff: Duration,
    /// Consecutive failed periods after which a node counts as failing and is scraped less often
    /// (every 2, 4, … up to 8 periods) until it answers again.
    #[arg(long, default_value_t = 3)]
    pub kubelet_failing_after: u32,
}

impl Default for ScrapeArgs {
    fn default() -> Self {
        ScrapeArgs {
            window: None,
            metric_staleness: None,
            allow_partial_pods: false,
            serve_swap: true,
            kubelet_summary_fallback: true,
            kubelet_retries: 2,
            kubelet_retry_backoff: Duration::from_millis(250),
            kubelet_failing_after: 3,
        }
    }
}

/// The scraper's retry and backoff policy, resolved from the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries inside one period.
    pub retries: u32,
    /// First retry delay.
    pub backoff: Duration,
    /// Consecutive failed periods before a node is scraped less often.
    pub failing_after: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        ScrapeArgs::default().retry_policy()
    }
}

impl ScrapeArgs {
    /// The averaging window for `resolution`.
    pub fn window_for(&self, resolution: Duration) -> Duration {
        self.window.unwrap_or(resolution)
    }

    /// The staleness bound for `resolution`.
    pub fn staleness_for(&self, resolution: Duration) -> Duration {
        self.metric_staleness.unwrap_or(resolution * 2)
    }

    /// The store's serving policy for `resolution`.
    pub fn serve_policy(&self, resolution: Duration) -> crate::store::ServePolicy {
        crate::store::ServePolicy {
            window_ms: self.window_for(resolution).as_millis() as i64,
            partial_pods: self.allow_partial_pods,
            swap: self.serve_swap,
        }
    }

    /// The scraper's retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.kubelet_retries,
            backoff: self.kubelet_retry_backoff,
            failing_after: self.kubelet_failing_after.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        s: ScrapeArgs,
    }

    #[test]
    fn defaults_follow_the_resolution() {
        let t = T::try_parse_from(["x"]).unwrap();
        let r = Duration::from_secs(15);
        assert_eq!(t.s.window_for(r), r);
        assert_eq!(t.s.staleness_for(r), Duration::from_secs(30));
        assert!(!t.s.allow_partial_pods);
        assert_eq!(t.s.retry_policy(), RetryPolicy::default());
        let t = T::try_parse_from([
            "x",
            "--window=1m",
            "--metric-staleness=45s",
            "--allow-partial-pods",
            "--kubelet-retries=0",
        ])
        .unwrap();
        assert_eq!(t.s.window_for(r), Duration::from_secs(60));
        assert_eq!(t.s.staleness_for(r), Duration::from_secs(45));
        assert!(t.s.serve_policy(r).partial_pods);
        assert_eq!(t.s.retry_policy().retries, 0);
        assert!(T::try_parse_from(["x", "--window=soon"]).is_err());
    }
}
