//! SQS: every record's body is an ingest request; the answer lists the records not stored.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::DateTime;
use serde_json::Value;

use crate::deadline::Deadline;
use crate::error::{IngestError, Result};
use crate::ingest::Ingestor;
use crate::notification;
use crate::records::{self, Record, Work};
use crate::request::parse_request;

/// Processes the batch and reports exactly the records that were not fully stored.
/// A record without a message id cannot be reported, so it fails the whole invocation
/// and Lambda retries the batch.
pub async fn handle(ingestor: &Ingestor, event: SqsEvent, deadline: Deadline) -> Result<SqsBatchResponse> {
    let fifo = event.records.iter().any(|r| r.event_source_arn.as_deref().is_some_and(|a| a.ends_with(".fifo")));
    let records = event.records.into_iter().map(record).collect::<Result<Vec<_>>>()?;
    let failures = records::process(ingestor, records, fifo, deadline).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|failure| {
            let mut item = BatchItemFailure::default();
            item.item_identifier = failure.id;
            item
        })
        .collect();
    Ok(response)
}

fn record(message: SqsMessage) -> Result<Record> {
    let id = message.message_id.filter(|id| !id.is_empty()).ok_or_else(|| {
        IngestError::InvalidRequest("an SQS record has no messageId, so the whole batch is retried".into())
    })?;
    let sent_at = message
        .attributes
        .get("SentTimestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    let work = match message.body.as_deref().map(str::trim) {
        None | Some("") => Err(IngestError::InvalidJson { message: "the message body is empty".into(), source: None }),
        Some(body) => {
            serde_json::from_str::<Value>(body).map_err(|e| IngestError::invalid_json("the message body", e)).and_then(
                // S3 sends its notifications (and its test message) to a queue as the body.
                |body| match notification::from_s3(&body) {
                    Some(notice) => notice.map(Work::Upload),
                    None => parse_request(body).map(Work::Items),
                },
            )
        }
    };
    Ok(Record { id, group: message.attributes.get("MessageGroupId").cloned(), work, sent_at })
}
