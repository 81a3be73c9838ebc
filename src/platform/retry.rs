//! The one retry policy for calls to Google Cloud and the emulators: exponential backoff
//! with full jitter (each wait is drawn uniformly between zero and the exponential
//! bound, so many workers retrying at once spread out), within a time budget, retrying
//! only what [`Error::is_transient`] says is worth it. A permanent error (a 400, a 403, a
//! missing resource) fails at once with its cause.
//!
//! The loop is `backon`'s; this module supplies the schedule (its own jitter adds to the
//! delay rather than drawing it whole, and its total-delay limit counts sleeps only, not
//! the time the attempts themselves took) and the one place that logs a retry.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, Retryable};
use rand::Rng;
use tokio::time::Instant;

use crate::platform::error::{Error, Result};

/// Backoff between attempts, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Upper bound of the first wait.
    pub initial: Duration,
    /// Largest upper bound of any wait.
    pub max: Duration,
    /// No retry starts once this much time has passed since the first attempt began.
    pub budget: Duration,
}

impl RetryPolicy {
    /// Writes of rows to BigQuery: long enough to ride out an outage of a minute or two
    /// while Pub/Sub holds the messages.
    pub(crate) const WRITE: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(10),
        budget: Duration::from_secs(120),
    };

    /// Control calls (pull, ack, metadata, uploads, job polls): short, so a failure is
    /// reported while it is still news.
    pub(crate) const CONTROL: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
        budget: Duration::from_secs(20),
    };

    /// The same policy with another budget.
    pub const fn with_budget(self, budget: Duration) -> Self {
        RetryPolicy { budget, ..self }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::WRITE
    }
}

/// The waits of one call: full jitter over an exponential bound, cut off by the budget.
#[derive(Debug)]
pub struct Schedule {
    bound: Duration,
    max: Duration,
    deadline: Instant,
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = rand::rng().random_range(Duration::ZERO..=self.bound);
        if Instant::now() + wait >= self.deadline {
            return None;
        }
        self.bound = (self.bound * 2).min(self.max);
        Some(wait)
    }
}

impl BackoffBuilder for RetryPolicy {
    type Backoff = Schedule;

    fn build(self) -> Schedule {
        Schedule {
            bound: self.initial.min(self.max),
            max: self.max,
            deadline: Instant::now() + self.budget,
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, or the budget is spent; each retry is
/// logged (`what` names the call) and reported to `on_retry`.
pub async fn retry<T, F, Fut>(
    policy: RetryPolicy,
    what: &'static str,
    op: F,
    mut on_retry: impl FnMut(&Error),
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    op.retry(policy)
        .sleep(tokio::time::sleep)
        .when(Error::is_transient)
        .notify(|error: &Error, wait: Duration| {
            tracing::warn!(message = "call failed, retrying", call = what, error = %error.report(), wait_ms = wait.as_millis() as u64);
            on_retry(error);
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

    use super::*;
    use crate::platform::error::Status;

    fn fail(status: Status) -> Error {
        Error::remote("BigQuery", "insertAll", "t", status, "boom")
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let mut retries = 0;
        let out = retry(
            RetryPolicy::CONTROL,
            "test",
            || async {
                match calls.fetch_add(1, SeqCst) {
                    0 => Err(fail(Status::Http(503))),
                    1 => Err(fail(Status::Transport)),
                    _ => Ok(7),
                }
            },
            |_| retries += 1,
        )
        .await
        .unwrap();
        assert_eq!((out, calls.load(SeqCst), retries), (7, 3, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_fails_at_once_with_its_cause() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let err = retry(
            RetryPolicy::WRITE,
            "test",
            || async {
                calls.fetch_add(1, SeqCst);
                Err::<(), _>(fail(Status::Http(400)))
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(SeqCst), 1);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(err.status(), Some(Status::Http(400)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_the_time_spent() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let policy = RetryPolicy::CONTROL.with_budget(Duration::from_secs(5));
        let err = retry(
            policy,
            "test",
            || async {
                calls.fetch_add(1, SeqCst);
                Err::<(), _>(fail(Status::Grpc(tonic::Code::Unavailable)))
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(err.is_transient());
        assert!(started.elapsed() <= Duration::from_secs(5), "{:?}", started.elapsed());
        assert!(calls.load(SeqCst) > 2, "retried within the budget");
    }

    #[test]
    fn waits_are_jittered_under_an_exponential_bound() {
        let policy = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            budget: Duration::from_secs(3600),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut bounds = vec![];
            let mut s = policy.build();
            for _ in 0..6 {
                bounds.push(s.bound);
                let w = s.next().unwrap();
                assert!(w <= *bounds.last().unwrap());
            }
            let ms: Vec<u128> = bounds.iter().map(Duration::as_millis).collect();
            assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
            // Jitter: 200 draws under a 1 s bound are not all the same.
            let draws: std::collections::HashSet<Duration> = (0..200).map(|_| s.next().unwrap()).collect();
            assert!(draws.len() > 100);
        });
    }
}
