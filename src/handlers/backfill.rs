//! Step Functions Distributed Map batches. Permanent failures are answered item by item, for
//! the map run's ResultWriter; any transient one fails the invocation, so the state machine's
//! Retry runs the batch again and what was stored comes back `existing`.

use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

use super::invocation_error;
use crate::answer::error_body;
use crate::deadline::Deadline;
use crate::error::IngestError;
use crate::ingest::{Batch, Ingestor, Source, split_results};
use crate::request::parse_backfill;

/// The error type a batch with a transient failure ends with: the name the state machine's
/// Retry matches.
pub const TRANSIENT_ERROR: &str = "ImageIngest.Transient";

/// Stores the batch's items: `{"stored":[...],"failed":[...]}` unless a failure is transient.
pub async fn handle(ingestor: &Ingestor, payload: Value, deadline: Deadline) -> Result<Value, Diagnostic> {
    let backfill = parse_backfill(payload).map_err(|e| invocation_error(&[(0, e)]))?;
    let (raw, items): (Vec<Value>, Vec<_>) = backfill.items.into_iter().unzip();
    let batch = Batch { items, event_time: Some(backfill.run_started_at), source: Source::Backfill, deadline };
    let results = ingestor.ingest(batch).await.map_err(|e| failed_batch(&[(0, e)]))?;
    let (stored, failed) = split_results(results);
    if failed.iter().any(|(_, err)| err.is_transient()) {
        return Err(failed_batch(&failed));
    }
    let failed: Vec<Value> = failed
        .into_iter()
        .map(|(index, err)| json!({"index": index, "item": raw[index], "error": error_body(&err)}))
        .collect();
    Ok(json!({ "stored": stored, "failed": failed }))
}

/// The invocation error of a batch to be retried: [`TRANSIENT_ERROR`] when any failure is
/// transient, else the first failure's code (a refused batch, which no retry mends).
fn failed_batch(failed: &[(usize, IngestError)]) -> Diagnostic {
    let mut error = invocation_error(failed);
    if failed.iter().any(|(_, err)| err.is_transient()) {
        error.error_type = TRANSIENT_ERROR.into();
    }
    error
}
