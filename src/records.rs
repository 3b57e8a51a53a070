//! Queue batches: records processed concurrently within a bound, FIFO groups in order,
//! and a deadline that is met by reporting rather than by being killed.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::time::Instant;
use tracing::{Instrument, info_span, warn};

use crate::error::{IngestError, Result};
use crate::ingest::{Batch, Ingestor, Source};
use crate::request::Item;

/// Time kept in hand before the invocation's deadline: no record starts after that point,
/// and records still running then are reported as failures.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// One queue message, translated from its event.
#[derive(Debug)]
pub struct Record {
    /// The message id, reported back when the record fails.
    pub id: String,
    /// The FIFO message group, if the queue is FIFO.
    pub group: Option<String>,
    /// The message's items, or why its body was refused.
    pub items: Result<Vec<Result<Item>>>,
    /// When the message was first sent, for the key.
    pub sent_at: Option<DateTime<Utc>>,
}

/// A record that was not fully stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFailure {
    /// The message id.
    pub id: String,
    /// Why (the first failed item's error, or why it was not attempted).
    pub error: IngestError,
}

/// The instant to stop at, from the invocation's deadline in epoch milliseconds (0: none).
pub fn stop_at(deadline_epoch_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    stop_at_from(deadline_epoch_ms, now_ms, Instant::now())
}

/// [`stop_at`] with the clock passed in. A value too small to be an epoch time (before
/// 2001) is no deadline: `cargo lambda watch` sends its timeout (600000) there.
pub fn stop_at_from(deadline_epoch_ms: u64, now_epoch_ms: u64, now: Instant) -> Option<Instant> {
    const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
    if deadline_epoch_ms < PLAUSIBLE_EPOCH_MS {
        return None;
    }
    let remaining = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_epoch_ms));
    Some(now + remaining.saturating_sub(DEADLINE_MARGIN))
}

/// Stores every record's items and returns the records that were not fully stored, in
/// record order. `fifo` keeps each message group in order and stops a group at its first
/// failure. Nothing is started at or after `stop`, and whatever is unfinished then fails.
pub async fn process(
    ingestor: &Ingestor,
    records: Vec<Record>,
    fifo: bool,
    stop: Option<Instant>,
) -> Vec<RecordFailure> {
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let outcomes: Mutex<Vec<Option<Result<()>>>> = Mutex::new(vec![None; records.len()]);
    let set =
        |index: usize, outcome: Result<()>| outcomes.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(outcome);

    if let Err(err) = ingestor.check_bucket().await {
        for (index, record) in records.iter().enumerate() {
            let error = match &record.items {
                Err(invalid) => invalid.clone(),
                Ok(_) => err.clone(),
            };
            set(index, Err(error));
        }
    } else {
        let work =
            futures::stream::iter(groups(records, fifo)).for_each_concurrent(ingestor.concurrency(), |group| async {
                let mut blocked: Option<String> = None;
                for (index, record) in group {
                    if let Some(first) = &blocked {
                        set(
                            index,
                            Err(IngestError::NotAttempted(format!("message {first} of the same group failed first"))),
                        );
                        continue;
                    }
                    if stop.is_some_and(|s| Instant::now() >= s) {
                        set(index, Err(deadline_error()));
                        continue;
                    }
                    let span = info_span!("record", message_id = %record.id);
                    let id = record.id.clone();
                    let outcome = store_record(ingestor, record).instrument(span).await;
                    if fifo && outcome.is_err() {
                        blocked = Some(id);
                    }
                    set(index, outcome);
                }
            });
        match stop {
            Some(stop) => {
                tokio::select! {
                    () = work => {}
                    () = tokio::time::sleep_until(stop) => {}
                }
            }
            None => work.await,
        }
    }

    let outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    ids.into_iter()
        .zip(outcomes)
        .filter_map(|(id, outcome)| match outcome.unwrap_or_else(|| Err(deadline_error())) {
            Ok(()) => None,
            Err(error) => {
                warn!(message_id = %id, code = error.code(), error = %error, "record failed");
                Some(RecordFailure { id, error })
            }
        })
        .collect()
}

async fn store_record(ingestor: &Ingestor, record: Record) -> Result<()> {
    let batch = Batch { items: record.items?, event_time: record.sent_at, source: Source::Sqs };
    let results = ingestor.ingest_in_order(batch).await?;
    results.into_iter().find_map(Result::err).map_or(Ok(()), Err)
}

/// Standard queues: every record on its own. FIFO: records of one group together, in order.
fn groups(records: Vec<Record>, fifo: bool) -> Vec<Vec<(usize, Record)>> {
    let mut groups: Vec<Vec<(usize, Record)>> = Vec::new();
    let mut by_name: Vec<Option<String>> = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let name = record.group.clone().filter(|_| fifo);
        match name.as_ref().and_then(|n| by_name.iter().position(|g| g.as_ref() == Some(n))) {
            Some(position) => groups[position].push((index, record)),
            None => {
                by_name.push(name);
                groups.push(vec![(index, record)]);
            }
        }
    }
    groups
}

fn deadline_error() -> IngestError {
    IngestError::NotAttempted("the invocation's deadline was near; the record will be retried".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, group: Option<&str>) -> Record {
        Record { id: id.into(), group: group.map(Into::into), items: Ok(vec![]), sent_at: None }
    }

    #[test]
    fn fifo_groups_keep_order_and_standard_records_stand_alone() {
        let records = || vec![record("1", Some("a")), record("2", Some("b")), record("3", Some("a"))];
        let fifo: Vec<Vec<usize>> =
            groups(records(), true).iter().map(|g| g.iter().map(|(i, _)| *i).collect()).collect();
        assert_eq!(fifo, [vec![0, 2], vec![1]]);
        assert_eq!(groups(records(), false).len(), 3);
    }

    #[test]
    fn the_stop_point_keeps_the_margin() {
        let now = Instant::now();
        let t = 1_795_552_215_000;
        assert_eq!(stop_at_from(0, t, now), None);
        assert_eq!(stop_at_from(600_000, t, now), None, "a duration, not an epoch time");
        assert_eq!(stop_at_from(t + 10_000, t, now), Some(now + Duration::from_secs(8)));
        assert_eq!(stop_at_from(t + 500, t, now), Some(now), "less than the margin left: stop now");
        assert_eq!(stop_at_from(t - 500, t, now), Some(now), "already past");
    }
}
