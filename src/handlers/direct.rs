//! Direct invocations (`aws lambda invoke`, Step Functions, a rule's constant input).

use serde_json::{Value, json};

use crate::error::IngestError;
use crate::ingest::{Batch, Ingestor, Source};
use crate::request::parse_request;

/// Stores the request's items; any failure makes the invocation fail, naming the codes.
pub async fn handle(ingestor: &Ingestor, payload: Value) -> Result<Value, Vec<(usize, IngestError)>> {
    let items = parse_request(payload).map_err(|e| vec![(0, e)])?;
    let results =
        ingestor.ingest(Batch { items, event_time: None, source: Source::Direct }).await.map_err(|e| vec![(0, e)])?;
    let mut stored = Vec::new();
    let mut failed = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(object) => stored.push(object),
            Err(err) => failed.push((index, err)),
        }
    }
    if failed.is_empty() { Ok(json!({ "stored": stored })) } else { Err(failed) }
}
