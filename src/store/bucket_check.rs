//! The once-per-environment bucket check, with re-checks for a missing bucket.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
/// a refusal for at most `recheck_after`. Transient failures are not cached.
#[derive(Debug)]
pub struct BucketCheck {
    state: Mutex<State>,
    recheck_after: Duration,
}

impl BucketCheck {
    /// A check that trusts a refusal for `recheck_after`.
    pub fn new(recheck_after: Duration) -> Self {
        Self { state: Mutex::new(State::Unknown), recheck_after }
    }

    /// Returns the cached answer, or runs `probe` and caches what it says about the bucket.
    pub async fn ensure<F, Fut>(&self, probe: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        match &*self.lock() {
            State::Usable => return Ok(()),
            State::Refused { error, at } if at.elapsed() < self.recheck_after => return Err(error.clone()),
            _ => {}
        }
        let result = probe().await;
        let next = match &result {
            Ok(()) => Some(State::Usable),
            Err(e) if e.is_bucket_error() => Some(State::Refused { error: e.clone(), at: Instant::now() }),
            Err(_) => None,
        };
        if let Some(next) = next {
            *self.lock() = next;
        }
        result
    }

    /// Forgets the cached answer, e.g. after a write said `NoSuchBucket`.
    pub fn invalidate(&self) {
        *self.lock() = State::Unknown;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
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

    #[tokio::test]
    async fn missing_bucket_is_rechecked_after_the_interval() {
        let (check, calls) = (BucketCheck::new(Duration::from_millis(50)), AtomicUsize::new(0));
        let missing = Err(IngestError::BucketNotFound("b".into()));
        assert_eq!(probe_with(&check, &calls, missing.clone()).await, missing);
        assert_eq!(probe_with(&check, &calls, Ok(())).await, missing, "cached refusal");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        probe_with(&check, &calls, Ok(())).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn transient_failures_are_not_cached_and_invalidate_forgets() {
        let (check, calls) = (BucketCheck::new(RECHECK_AFTER), AtomicUsize::new(0));
        let down = Err(IngestError::Storage("timeout".into()));
        assert_eq!(probe_with(&check, &calls, down).await.unwrap_err().code(), "storage_error");
        probe_with(&check, &calls, Ok(())).await.unwrap();
        check.invalidate();
        let missing = Err(IngestError::BucketNotFound("b".into()));
        assert_eq!(probe_with(&check, &calls, missing).await.unwrap_err().code(), "bucket_not_found");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
