//! The invocation's deadline, kept with a margin so that every source answers in time.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Time kept in hand before the invocation's deadline: no work starts after that point, and
/// work still running then is reported as not attempted.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// The point at which an invocation stops working and answers; `none()` for no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline.
    pub fn none() -> Self {
        Self(None)
    }

    /// Stops at `at`.
    pub fn at(at: Instant) -> Self {
        Self(Some(at))
    }

    /// From the invocation's deadline in epoch milliseconds, less the margin.
    pub fn from_epoch_ms(deadline_epoch_ms: u64) -> Self {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Self::from_epoch_ms_at(deadline_epoch_ms, now_ms, Instant::now())
    }

    /// [`Deadline::from_epoch_ms`] with the clock passed in. A value too small to be an epoch
    /// time (before 2001) is no deadline: `cargo lambda watch` sends its timeout (600000) there.
    pub fn from_epoch_ms_at(deadline_epoch_ms: u64, now_epoch_ms: u64, now: Instant) -> Self {
        const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
        if deadline_epoch_ms < PLAUSIBLE_EPOCH_MS {
            return Self::none();
        }
        let remaining = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_epoch_ms));
        Self::at(now + remaining.saturating_sub(DEADLINE_MARGIN))
    }

    /// The instant, if there is a deadline.
    pub fn instant(&self) -> Option<Instant> {
        self.0
    }

    /// True once the stop point is reached.
    pub fn passed(&self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }

    /// Runs `work` until the stop point; `None` when the deadline came first (and `work`
    /// was dropped, which abandons whatever it had started).
    pub async fn run<F: Future>(&self, work: F) -> Option<F::Output> {
        match self.0 {
            None => Some(work.await),
            Some(at) => {
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(at) => None,
                    output = work => Some(output),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_point_keeps_the_margin() {
        let now = Instant::now();
        let t = 1_795_552_215_000;
        assert_eq!(Deadline::from_epoch_ms_at(0, t, now), Deadline::none());
        assert_eq!(Deadline::from_epoch_ms_at(600_000, t, now), Deadline::none(), "a duration, not an epoch time");
        assert_eq!(Deadline::from_epoch_ms_at(t + 10_000, t, now), Deadline::at(now + Duration::from_secs(8)));
        assert_eq!(Deadline::from_epoch_ms_at(t + 500, t, now), Deadline::at(now), "less than the margin: stop now");
        assert_eq!(Deadline::from_epoch_ms_at(t - 500, t, now), Deadline::at(now), "already past");
    }

    #[tokio::test(start_paused = true)]
    async fn work_past_the_stop_point_is_dropped_and_later_work_never_starts() {
        let deadline = Deadline::at(Instant::now() + Duration::from_secs(1));
        let slow = tokio::time::sleep(Duration::from_secs(5));
        assert_eq!(deadline.run(async { 7 }).await, Some(7));
        assert_eq!(deadline.run(slow).await, None);
        assert!(deadline.passed());
        let mut started = false;
        assert_eq!(deadline.run(async { started = true }).await, None);
        assert!(!started, "nothing starts after the stop point");
        assert_eq!(Deadline::none().run(async { 1 }).await, Some(1));
    }
}
