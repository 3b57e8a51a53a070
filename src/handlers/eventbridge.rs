//! EventBridge: a custom event's `detail` is an ingest request; a scheduled rule fetches
//! `SCHEDULE_URLS` under the event's time.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::Diagnostic;
use serde_json::Value;
use url::Url;

use super::store_all;
use crate::deadline::Deadline;
use crate::error::IngestError;
use crate::ingest::{Batch, Ingestor, Source};
use crate::request::{Item, parse_request};

const SCHEDULED: &str = "Scheduled Event";

/// Stores the event's items; any failure fails the invocation, naming the codes.
pub async fn handle(
    ingestor: &Ingestor,
    schedule: &[Url],
    event: EventBridgeEvent<Value>,
    deadline: Deadline,
) -> Result<Value, Diagnostic> {
    let carries_request = ["items", "url", "data"].iter().any(|k| event.detail.get(k).is_some());
    // Only EventBridge itself or the Scheduler sends scheduled events; PutEvents cannot use aws.* sources.
    let scheduled = event.detail_type == SCHEDULED && matches!(event.source.as_str(), "aws.events" | "aws.scheduler");
    let batch = if scheduled && !carries_request {
        if schedule.is_empty() {
            Err(IngestError::InvalidRequest(
                "a scheduled event without a request needs SCHEDULE_URLS, which is not set".into(),
            ))
        } else {
            let items = schedule.iter().cloned().map(|url| Ok(Item::from_url(url))).collect();
            Ok(Batch { items, event_time: event.time, source: Source::Schedule, deadline })
        }
    } else {
        parse_request(event.detail).map(|items| Batch {
            items,
            event_time: event.time,
            source: Source::EventBridge,
            deadline,
        })
    };
    store_all(ingestor, batch).await
}
