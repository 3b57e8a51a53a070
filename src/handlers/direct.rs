//! Direct invocations (`aws lambda invoke`, Step Functions, a rule's constant input).

use lambda_runtime::Diagnostic;
use serde_json::Value;

use super::store_all;
use crate::deadline::Deadline;
use crate::ingest::{Batch, Ingestor, Source};
use crate::request::parse_request;

/// Stores the request's items; any failure fails the invocation, naming the codes.
pub async fn handle(ingestor: &Ingestor, payload: Value, deadline: Deadline) -> Result<Value, Diagnostic> {
    let batch = parse_request(payload).map(|items| Batch { items, event_time: None, source: Source::Direct, deadline });
    store_all(ingestor, batch).await
}
