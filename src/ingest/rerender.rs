//! Rendering what is already archived: a Distributed Map batch of S3 listing entries makes the
//! missing renditions of those originals, read back from the bucket, and changes nothing else.

use super::{Ingestor, Source, Status, StoredObject, not_attempted, outcome};
use crate::body::{digest, read_head};
use crate::content::sniff;
use crate::deadline::Deadline;
use crate::error::{IngestError, Result};
use crate::ingest::ImageRules;
use crate::key;
use crate::store::PART_SIZE;

impl Ingestor {
    /// Renders each listed original, a bounded number at once, until the deadline; results in
    /// order. The outer error refuses the whole batch: `RENDITIONS` unset, or the bucket check.
    pub async fn rerender(&self, keys: Vec<Result<String>>, deadline: Deadline) -> Result<Vec<Result<StoredObject>>> {
        if self.renderer.is_none() {
            return Err(IngestError::InvalidRequest(
                "RENDITIONS is not set: a listing batch has no renditions to make".into(),
            ));
        }
        deadline.run(self.check_bucket()).await.unwrap_or_else(|| Err(not_attempted()))?;
        let work = |key| self.rerender_one(key);
        Ok(self.each(keys, self.rules.concurrency, deadline, Source::Rerender, work).await)
    }

    async fn rerender_one(&self, key: String) -> Result<StoredObject> {
        if !key::is_original_key(&self.rules.key_prefix, &key) {
            return Err(IngestError::InvalidRequest(format!(
                "{key} is not an archived original ({:?} followed by a date path and a name)",
                self.rules.key_prefix
            )));
        }
        let Some(stored) = self.store.read(&key).await? else {
            return Err(IngestError::NotFound(format!("no object {key}")));
        };
        let head = read_head(stored.body, PART_SIZE).await?;
        if head.bytes.is_empty() {
            return Err(IngestError::EmptyObject);
        }
        let sniffed = sniff(&head.bytes);
        // The stored bytes as they are: checked for their facts and end, never changed.
        let as_stored = ImageRules { strip_location: false, ..self.rules.image };
        let (body, image) = as_stored.stream(sniffed.mime, head)?;
        let (body, pending) = self.tap(sniffed.mime, body, None);
        let (sha256, size) = digest(body).await?;
        let original = StoredObject {
            key,
            bucket: self.store.bucket().to_owned(),
            size,
            content_type: sniffed.mime.to_owned(),
            sha256,
            status: Status::Existing,
            width: image.facts.map(|f| f.width),
            height: image.facts.map(|f| f.height),
            renditions: None,
            renditions_skipped: None,
        };
        self.finish(original, outcome(pending).await?).await
    }
}
