//! S3 notifications of created objects (straight from S3, or through EventBridge): verified
//! uploads. Refusals are answered, not retried; a transient failure fails the invocation so
//! that the source retries.

use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

use super::invocation_error;
use crate::answer::error_body;
use crate::deadline::Deadline;
use crate::error::Result;
use crate::ingest::{Ingestor, Promotion};
use crate::notification::Notice;

/// Promotes the notified objects: `{"stored":[...],"refused":[...],"ignored":N,"gone":N}`,
/// or an invocation error naming the transient failures.
pub async fn handle(ingestor: &Ingestor, notice: Result<Notice>, deadline: Deadline) -> Result<Value, Diagnostic> {
    let objects = match notice.map_err(|e| invocation_error(&[(0, e)]))? {
        Notice::Test => return Ok(json!({ "stored": [], "acknowledged": "s3:TestEvent" })),
        Notice::Created(objects) => objects,
    };
    let results = ingestor.promote_all(objects, deadline).await.map_err(|e| invocation_error(&[(0, e)]))?;
    let (mut stored, mut refused, mut transient) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ignored, mut gone) = (0, 0);
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(Promotion::Promoted(object)) => stored.push(object),
            Ok(Promotion::Ignored) => ignored += 1,
            Ok(Promotion::Gone) => gone += 1,
            Err(err) if err.is_transient() => transient.push((index, err)),
            Err(err) => refused.push(json!({"index": index, "error": error_body(&err)})),
        }
    }
    if !transient.is_empty() {
        return Err(invocation_error(&transient));
    }
    Ok(json!({ "stored": stored, "refused": refused, "ignored": ignored, "gone": gone }))
}
