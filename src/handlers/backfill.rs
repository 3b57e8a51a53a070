//! Step Functions Distributed Map batches. Permanent failures are answered item by item, for
//! the map run's ResultWriter; any transient one fails the invocation, so the state machine's
//! Retry runs the batch again and what was stored comes back `existing`.

use lambda_runtime::Diagnostic;
use serde_json::Value;
use tracing::warn;

use super::invocation_error;
use crate::answer::{BACKFILL_ANSWER_LIMIT, Refused, backfill_answer};
use crate::deadline::Deadline;
use crate::error::IngestError;
use crate::ingest::{Batch, Ingestor, Source, split_results};
use crate::request::{is_listing_batch, parse_backfill, parse_listing};

/// The error type a batch with a transient failure ends with: the name the state machine's
/// Retry matches.
pub const TRANSIENT_ERROR: &str = "ImageIngest.Transient";

/// Stores the batch's items: `{"stored":[...],"failed":[...]}` within Step Functions' limit on
/// a state's output, unless a failure is transient. Each refused item is logged whole.
///
/// A batch of S3 listing entries (the re-render state machine's) makes the missing renditions
/// of those originals instead, answered the same way.
pub async fn handle(ingestor: &Ingestor, payload: Value, deadline: Deadline) -> Result<Value, Diagnostic> {
    let (raw, results) = if is_listing_batch(&payload) {
        let listing = parse_listing(payload).map_err(|e| invocation_error(&[(0, e)]))?;
        let (raw, keys): (Vec<Value>, Vec<_>) = listing.into_iter().unzip();
        (raw, ingestor.rerender(keys, deadline).await)
    } else {
        let backfill = parse_backfill(payload).map_err(|e| invocation_error(&[(0, e)]))?;
        let (raw, items): (Vec<Value>, Vec<_>) = backfill.items.into_iter().unzip();
        let batch = Batch { items, event_time: Some(backfill.run_started_at), source: Source::Backfill, deadline };
        (raw, ingestor.ingest(batch).await)
    };
    let results = results.map_err(|e| failed_batch(&[(0, e)]))?;
    let (stored, failed) = split_results(results);
    if failed.iter().any(|(_, err)| err.is_transient()) {
        return Err(failed_batch(&failed));
    }
    let refused: Vec<Refused<'_>> =
        failed.iter().map(|(index, error)| Refused { index: *index, item: &raw[*index], error }).collect();
    for r in &refused {
        // The answer may shorten the item; the log keeps it, less any object bytes.
        warn!(index = r.index, code = r.error.code(), item = %loggable(r.item), "backfill item refused");
    }
    Ok(backfill_answer(&stored, &refused, BACKFILL_ANSWER_LIMIT))
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

/// An item as its log line shows it: whole, except that inline `data` (object bytes, which are
/// never logged) is replaced by its length.
fn loggable(item: &Value) -> Value {
    let mut shown = item.clone();
    if let Some(data) = shown.get_mut("data").filter(|d| d.is_string()) {
        let chars = data.as_str().map_or(0, str::len);
        *data = Value::String(format!("<{chars} base64 characters, not logged>"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn logged_items_keep_everything_but_object_bytes() {
        let item = json!({"url": "https://x.example/a.png?t=1", "file_name": "a.png", "metadata": {"k": "v"}});
        assert_eq!(loggable(&item), item);
        let inline = json!({"data": "aGVsbG8=", "file_name": "b.png"});
        assert_eq!(loggable(&inline), json!({"data": "<8 base64 characters, not logged>", "file_name": "b.png"}));
        assert_eq!(loggable(&json!("a row")), json!("a row"));
        assert_eq!(loggable(&json!({"data": 5})), json!({"data": 5}));
    }
}
