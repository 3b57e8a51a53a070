//! The once-per-environment bucket check, with re-checks for a missing bucket.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{IngestError, Result};

/// How long a "missing" or "denied" answer is trusted before HeadBucket runs again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum State {
    Unknown,
    Usable,
    Refused { error: IngestError, at: Instant },
}

/// Caches the result of HeadBucket: a usable bucket until a write says otherwise,
/// a refusal for at most `recheck_after`. Transient failures are not cached. Concurrent
/// invocations share one probe, and a probe that started before an `invalidate` is not cached.
#[derive(Debug)]
pub struct BucketCheck {
    /// The answer, and a generation that `invalidate` moves on.
    state: Mutex<(State, u64)>,
    probing: tokio::sync::Mutex<()>,
    recheck_after: Duration,
}

impl BucketCheck {
    /// A check that trusts a refusal for `recheck_after`.
    pub fn new(recheck_after: Duration) -> Self {
        Self { state: Mutex::new((State::Unknown, 0)), probing: tokio::sync::Mutex::new(()), recheck_after }
    }

    /// Returns the cached answer, or runs `probe` and caches what it says about the bucket.
    pub async fn ensure<F, Fut>(&self, probe: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        if let Some(answer) = self.cached() {
            return answer;
        }
        let _probing = self.probing.lock().await;
        if let Some(answer) = self.cached() {
            return answer; // another invocation probed while this one waited
        }
        let generation = self.lock().1;
        let result = probe().await;
        let next = match &result {
            Ok(()) => Some(State::Usable),
            Err(e) if e.is_bucket_error() => Some(State::Refused { error: e.clone(), at: Instant::now() }),
            Err(_) => None,
        };
        let mut state = self.lock();
        if let Some(next) = next
            && state.1 == generation
        {
            state.0 = next;
        }
        result
    }

    /// Forgets the cached answer, e.g. after a write said `NoSuchBucket`.
    pub fn invalidate(&self) {
        let mut state = self.lock();
        *state = (State::Unknown, state.1 + 1);
    }

    fn cached(&self) -> Option<Result<()>> {
        match &self.lock().0 {
            State::Usable => Some(Ok(())),
            State::Refused { error, at } if at.elapsed() < self.recheck_after => Some(Err(error.clone())),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (State, u64)> {
        // The state stays valid even if a holder panicked.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn probe_with(check: &BucketCheck, calls: &AtomicUsize, answer: Result<()>) -> Result<()> {
        check
            .ensure(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                answer
            })
            .await
    }

    #[tokio::test]
    async fn usable_bucket_is_checked_once() {
        let (check, calls) = (BucketCheck::new(RECHECK_AFTER), AtomicUsize::new(0));
        for _ in 0..3 {
            probe_with(&check, &calls, Ok(())).await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    fn code(result: Result<()>) -> Result<(), &'static str> {
        result.map_err(|e| e.code())
    }

    #[tokio::test(start_paused = true)]
    async fn missing_bucket_is_rechecked_after_the_interval() {
        let (check, calls) = (BucketCheck::new(RECHECK_AFTER), AtomicUsize::new(0));
        let missing = || Err(IngestError::BucketNotFound("b".into()));
        assert_eq!(code(probe_with(&check, &calls, missing()).await), Err("bucket_not_found"));
        tokio::time::advance(RECHECK_AFTER - Duration::from_millis(1)).await;
        assert_eq!(code(probe_with(&check, &calls, Ok(())).await), Err("bucket_not_found"), "cached refusal");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        probe_with(&check, &calls, Ok(())).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_first_events_share_one_probe() {
        let (check, calls) = (BucketCheck::new(RECHECK_AFTER), AtomicUsize::new(0));
        let slow_probe = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        };
        let results = futures::future::join_all((0..8).map(|_| check.ensure(slow_probe))).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_probe_that_started_before_invalidate_is_not_cached() {
        let check = BucketCheck::new(RECHECK_AFTER);
        check
            .ensure(|| async {
                check.invalidate(); // a write said NoSuchBucket while HeadBucket was in flight
                Ok(())
            })
            .await
            .unwrap();
        let calls = AtomicUsize::new(0);
        probe_with(&check, &calls, Ok(())).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the stale answer was not kept");
    }

    #[tokio::test]
    async fn transient_failures_are_not_cached_and_invalidate_forgets() {
        let (check, calls) = (BucketCheck::new(RECHECK_AFTER), AtomicUsize::new(0));
        let down = Err(IngestError::storage("timeout"));
        assert_eq!(probe_with(&check, &calls, down).await.unwrap_err().code(), "storage_error");
        probe_with(&check, &calls, Ok(())).await.unwrap();
        check.invalidate();
        let missing = Err(IngestError::BucketNotFound("b".into()));
        assert_eq!(probe_with(&check, &calls, missing).await.unwrap_err().code(), "bucket_not_found");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
