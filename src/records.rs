//! Queue batches: records processed concurrently within a bound, FIFO groups in order,
//! and a deadline that is met by reporting rather than by being killed.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{Instrument, info_span, warn};

use crate::deadline::Deadline;
use crate::error::{IngestError, Result};
use crate::ingest::{Batch, Ingestor, Source};
use crate::notification::Notice;
use crate::request::Item;

/// One queue message, translated from its event.
#[derive(Debug)]
pub struct Record {
    /// The message id, reported back when the record fails.
    pub id: String,
    /// The FIFO message group, if the queue is FIFO.
    pub group: Option<String>,
    /// What the message asks for, or why its body was refused.
    pub work: Result<Work>,
    /// When the message was first sent, for the key.
    pub sent_at: Option<DateTime<Utc>>,
}

/// What one queue message carries.
#[derive(Debug)]
pub enum Work {
    /// An ingest request's items.
    Items(Vec<Result<Item>>),
    /// An S3 notification delivered through the queue (verified uploads).
    Upload(Notice),
}

/// A record that was not fully stored.
#[derive(Debug, Clone)]
pub struct RecordFailure {
    /// The message id.
    pub id: String,
    /// Why (the first failed item's error, or why it was not attempted).
    pub error: IngestError,
}

/// Stores every record's items and returns the records that were not fully stored, in
/// record order. `fifo` keeps each message group in order and stops a group at its first
/// failure. Nothing is started at or after the deadline, and whatever is unfinished then fails.
pub async fn process(ingestor: &Ingestor, records: Vec<Record>, fifo: bool, deadline: Deadline) -> Vec<RecordFailure> {
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let outcomes: Mutex<Vec<Option<Result<()>>>> = Mutex::new(vec![None; records.len()]);
    let set =
        |index: usize, outcome: Result<()>| outcomes.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(outcome);

    let checked = deadline.run(ingestor.check_bucket()).await.unwrap_or_else(|| Err(deadline_error()));
    if let Err(err) = checked {
        for (index, record) in records.iter().enumerate() {
            let error = match &record.work {
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
                    if deadline.passed() {
                        set(index, Err(deadline_error()));
                        continue;
                    }
                    let span = info_span!("record", message_id = %record.id);
                    let id = record.id.clone();
                    let outcome = store_record(ingestor, record, deadline).instrument(span).await;
                    if fifo && outcome.is_err() {
                        blocked = Some(id);
                    }
                    set(index, outcome);
                }
            });
        // Each record's items stop at the deadline themselves (and clean up what they started).
        work.await;
    }

    let outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    ids.into_iter()
        .zip(outcomes)
        .filter_map(|(id, outcome)| match outcome.unwrap_or_else(|| Err(deadline_error())) {
            Ok(()) => None,
            Err(error) => {
                warn!(message_id = %id, code = error.code(), error = %error.report(), "record failed");
                Some(RecordFailure { id, error })
            }
        })
        .collect()
}

async fn store_record(ingestor: &Ingestor, record: Record, deadline: Deadline) -> Result<()> {
    match record.work? {
        Work::Items(items) => {
            let batch = Batch { items, event_time: record.sent_at, source: Source::Sqs, deadline };
            let results = ingestor.ingest_in_order(batch).await?;
            results.into_iter().find_map(Result::err).map_or(Ok(()), Err)
        }
        Work::Upload(Notice::Test) => Ok(()),
        // A refused upload is deleted and answered; only a transient failure asks for a retry.
        Work::Upload(Notice::Created(objects)) => {
            let results = ingestor.promote_all(objects, deadline).await?;
            results.into_iter().filter_map(Result::err).find(IngestError::is_transient).map_or(Ok(()), Err)
        }
    }
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
        Record { id: id.into(), group: group.map(Into::into), work: Ok(Work::Items(vec![])), sent_at: None }
    }

    #[test]
    fn fifo_groups_keep_order_and_standard_records_stand_alone() {
        let records = || vec![record("1", Some("a")), record("2", Some("b")), record("3", Some("a"))];
        let fifo: Vec<Vec<usize>> =
            groups(records(), true).iter().map(|g| g.iter().map(|(i, _)| *i).collect()).collect();
        assert_eq!(fifo, [vec![0, 2], vec![1]]);
        assert_eq!(groups(records(), false).len(), 3);
    }
}
