//! Kubelet request slots in two lanes, so a hanging kubelet never delays a healthy one.
//!
//! Healthy nodes share the main bound (`--scrape-concurrency`). Nodes in failure state (their
//! last period failed, or the request is a retry) share a small lane of their own: their requests
//! often run to the kubelet timeout, and in the main lane they would hold slots that healthy
//! nodes wait for. A request in the healthy lane that gets no answer within a grace period gives
//! its slot back and goes on in the failing lane if that has room, or is abandoned: a kubelet that
//! starts hanging costs the healthy ones at most the grace, once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Which slots a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The node answered its last period: the main bound.
    Healthy,
    /// The node is failing or this is a retry: the small bound of its own.
    Failing,
}

/// Why a request was not (or no longer) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The failing lane had no free slot before the period's deadline.
    #[error("no request slot free for failing kubelets this period")]
    NoSlot,
    /// No answer within the grace, and no room in the failing lane to wait longer.
    #[error("no answer within {0:?}, and no room to wait for slow kubelets")]
    Abandoned(Duration),
}

/// The two bounds and the grace after which a healthy-lane request moves lanes.
#[derive(Debug)]
pub struct Lanes {
    healthy: Semaphore,
    failing: Semaphore,
    grace: Duration,
}

/// Slots of the failing lane for a main bound of `concurrency`: a quarter, at least one.
pub fn failing_slots(concurrency: usize) -> usize {
    (concurrency / 4).max(1)
}

/// How long a healthy-lane request may hold its slot without an answer: a quarter of the kubelet
/// timeout, at least a second (a busy kubelet can take that long), at most the timeout.
pub fn grace_for(timeout: Duration) -> Duration {
    (timeout / 4).max(Duration::from_secs(1)).min(timeout)
}

impl Lanes {
    /// `concurrency` healthy slots, [`failing_slots`] failing ones, and the grace of `timeout`.
    pub fn new(concurrency: usize, timeout: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Lanes {
            healthy: Semaphore::new(concurrency),
            failing: Semaphore::new(failing_slots(concurrency)),
            grace: grace_for(timeout),
        }
    }

    /// Runs `request` (a lazy future, first polled once it has a slot) in `lane`. A failing-lane
    /// request waits for a slot until `deadline` at most.
    pub async fn run<T>(
        &self,
        lane: Lane,
        deadline: Instant,
        request: impl Future<Output = T>,
    ) -> Result<T, Refused> {
        match lane {
            Lane::Failing => {
                let Ok(Ok(_slot)) = tokio::time::timeout_at(deadline, self.failing.acquire()).await
                else {
                    return Err(Refused::NoSlot);
                };
                Ok(request.await)
            }
            Lane::Healthy => {
                let Ok(slot) = self.healthy.acquire().await else {
                    return Err(Refused::NoSlot);
                };
                let mut request = std::pin::pin!(request);
                if let Ok(v) = tokio::time::timeout(self.grace, &mut request).await {
                    return Ok(v);
                }
                drop(slot);
                match self.failing.try_acquire() {
                    Ok(_slow) => Ok(request.await),
                    Err(_) => Err(Refused::Abandoned(self.grace)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sizes_follow_the_bound_and_the_timeout() {
        assert_eq!(failing_slots(64), 16);
        assert_eq!(failing_slots(2), 1);
        assert_eq!(
            grace_for(Duration::from_secs(10)),
            Duration::from_millis(2500)
        );
        assert_eq!(grace_for(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(
            grace_for(Duration::from_millis(500)),
            Duration::from_millis(500)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn hanging_requests_never_hold_healthy_slots_past_the_grace() {
        let lanes = Arc::new(Lanes::new(2, Duration::from_secs(8)));
        let far = Instant::now() + Duration::from_secs(3600);
        // Three requests that never answer, more than the healthy bound.
        let hung: Vec<_> = (0..3)
            .map(|_| {
                let l = lanes.clone();
                tokio::spawn(async move {
                    l.run(Lane::Healthy, far, std::future::pending::<()>())
                        .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let start = Instant::now();
        let healthy = lanes
            .run(Lane::Healthy, far, async { Instant::now() })
            .await;
        let ran_at = healthy.unwrap();
        assert!(
            ran_at - start <= Duration::from_secs(2),
            "the healthy request waited at most the grace"
        );
        // One hung request moved to the failing lane; the others were abandoned, each after its
        // grace (the third waited for a healthy slot first).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut abandoned = 0;
        for h in hung {
            if h.is_finished() {
                assert_eq!(
                    h.await.unwrap(),
                    Err(Refused::Abandoned(Duration::from_secs(2)))
                );
                abandoned += 1;
            }
        }
        assert_eq!(abandoned, 2, "the failing lane holds one slot");
        // The failing lane is full: a failing node's request gives up at its deadline.
        let soon = Instant::now() + Duration::from_secs(1);
        assert_eq!(
            lanes.run(Lane::Failing, soon, async {}).await,
            Err(Refused::NoSlot)
        );
        // Healthy requests still run at once.
        let t = Instant::now();
        lanes.run(Lane::Healthy, far, async {}).await.unwrap();
        assert_eq!(Instant::now(), t);
    }
}
