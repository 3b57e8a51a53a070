//! Verified uploads: an object created under `UPLOAD_PREFIX` (by a presigned PUT or any other
//! tool) is read as a stream through every check of an ingest item, then promoted to its
//! date-path key by a copy inside the bucket, and the staging object is deleted.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::info;

use super::{Ingestor, Origin, Source, StoredObject, Target, check_size, dhash, log_outcome, not_attempted, outcome};
use crate::body::{Body, Staged, digest, limited, read_head, verified};
use crate::deadline::Deadline;
use crate::error::{IngestError, Result};
use crate::image::Format;
use crate::key;
use crate::metrics::Record;
use crate::notification::CreatedObject;
use crate::store::{PART_SIZE, StoredBytes, Trailer};

/// Bytes read before the type is known: a refused type costs no more than this.
const HEAD_BYTES: usize = 256 * 1024;

/// What became of one notified object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promotion {
    /// Verified and stored under its date-path key; the staging object is gone.
    Promoted(StoredObject),
    /// Outside `UPLOAD_PREFIX` or in another bucket: never touched (so the function's own
    /// writes, notified by a bucket-wide configuration, cannot loop).
    Ignored,
    /// Already promoted (or removed): a duplicate notification.
    Gone,
}

impl Ingestor {
    /// Verifies and promotes each notified object, a bounded number at once, until the
    /// deadline. The outer error is a bucket failure that refuses the whole notification.
    /// A refused object (bad type, too large, ...) is deleted from the staging area and its
    /// failure returned; a transient failure leaves it in place for the retry.
    pub async fn promote_all(&self, objects: Vec<CreatedObject>, deadline: Deadline) -> Result<Vec<Result<Promotion>>> {
        let ours = |o: &CreatedObject| o.bucket == self.store.bucket() && o.key.starts_with(&self.rules.upload_prefix);
        if objects.iter().any(ours) {
            deadline.run(self.check_bucket()).await.unwrap_or_else(|| Err(not_attempted()))?;
        }
        let now = Utc::now();
        let results = futures::stream::iter(objects.into_iter().enumerate())
            .map(|(index, object)| async move {
                if !ours(&object) {
                    info!(index, bucket = %object.bucket, key = %object.key, "notification outside UPLOAD_PREFIX ignored");
                    Record::plain().count("NotificationsIgnored", 1).emit();
                    return Ok(Promotion::Ignored);
                }
                let started = Instant::now();
                let result = deadline.run(self.promote(object, now)).await.unwrap_or_else(|| Err(not_attempted()));
                match &result {
                    Ok(Promotion::Promoted(stored)) => log_outcome(index, Source::Upload, &Ok(stored.clone()), started),
                    Ok(_) => info!(index, "staging object already gone: a duplicate notification"),
                    Err(err) => log_outcome(index, Source::Upload, &Err(err.clone()), started),
                }
                result
            })
            .buffered(self.rules.concurrency)
            .collect()
            .await;
        self.settle_if_cut(deadline).await;
        Ok(results)
    }

    async fn promote(&self, object: CreatedObject, now: DateTime<Utc>) -> Result<Promotion> {
        let Some((key, stored)) = self.read_staged(&object).await? else { return Ok(Promotion::Gone) };
        let result = self.verify_and_promote(&key, stored, object.time, now).await;
        if matches!(&result, Err(err) if err.is_transient()) {
            return result.map(Promotion::Promoted); // left in place for the retry
        }
        // Promoted, or refused for good: either way the staging object has done its work.
        self.store.discard(&key).await?;
        result.map(Promotion::Promoted)
    }

    /// The staged object under the notified key (or its other spelling), if it still exists.
    async fn read_staged(&self, object: &CreatedObject) -> Result<Option<(String, StoredBytes)>> {
        for key in std::iter::once(&object.key).chain(&object.also) {
            if key.starts_with(&self.rules.upload_prefix)
                && let Some(stored) = self.store.read(key).await?
            {
                return Ok(Some((key.clone(), stored)));
            }
        }
        Ok(None)
    }

    async fn verify_and_promote(
        &self,
        key: &str,
        stored: StoredBytes,
        event_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<StoredObject> {
        let limit = self.rules.max_object_bytes;
        check_size(stored.size, limit)?;
        let version = stored.version;
        let head = read_head(limited(stored.body, limit), HEAD_BYTES).await?;
        let sniffed = self.sniff_allowed(&head.bytes, None)?;
        // An image's header may sit after large metadata: read as much as a URL item's head.
        let head = match head.rest {
            Some(_) if Format::from_mime(sniffed.mime).is_some() => read_head(head.into_stream(), PART_SIZE).await?,
            _ => head,
        };
        let (body, image) = self.rules.image.stream(sniffed.mime, head)?;
        let (body, pending) = self.tap(sniffed.mime, body, None);
        let (sha256_hex, size) = digest(body).await?;
        let outcome = outcome(pending).await?;
        let image = image.with_dhash(dhash(&outcome));
        let (dated, wanted) = key::staged_parts(&self.rules.upload_prefix, key);
        let at = dated.unwrap_or_else(|| key::key_time(None, event_time, now));
        if !key::plausible_time(at, now) {
            return Err(IngestError::InvalidRequest(format!(
                "the staging key's date {} is before 1970 or more than a day ahead of now",
                at.to_rfc3339()
            )));
        }
        let name = key::file_name(Some(wanted), &sniffed, &sha256_hex);
        let target = Target {
            wanted_name: Some(name.clone()),
            declared_type: None,
            at,
            metadata: BTreeMap::new(),
            image,
            trailer: Trailer::default(),
        };
        let stored = if image.location_stripped {
            // A copy cannot change bytes: the stripped ones are uploaded, streamed like a URL's.
            // With DEDUPE, bytes stored elsewhere are not read and uploaded again.
            let claim = self.claim(&target, &sniffed, &name);
            let item = (&target, &sniffed, name.as_str());
            if let Some(duplicate) = self.held_elsewhere(claim.as_ref(), item, &sha256_hex, size).await? {
                return Ok(duplicate);
            }
            let _stream = self.streams.acquire().await.map_err(|_| IngestError::storage("shutting down"))?;
            let body = self.restage(key, sniffed.mime, sha256_hex).await?;
            let origin = Origin::Restaged(key.to_owned());
            self.write_claimed(&target, &sniffed, &name, body, origin, claim.as_ref()).await?
        } else {
            let staged = Staged { key: key.to_owned(), sha256_hex, size, version };
            self.write(&target, &sniffed, &name, Body::Staged(staged.clone()), Origin::Staged(staged)).await?
        };
        self.finish(stored, outcome).await
    }

    /// The staging object's bytes again, checked and stripped as the first time (its type is
    /// `mime`), and refused unless the result hashes to `sha256_hex`.
    pub(super) async fn restage(&self, key: &str, mime: &'static str, sha256_hex: String) -> Result<Body> {
        let Some(stored) = self.store.read(key).await? else {
            return Err(IngestError::storage(format!("{key} disappeared while it was promoted")));
        };
        let body = read_head(limited(stored.body, self.rules.max_object_bytes), PART_SIZE).await?;
        let (body, _) = self.rules.image.stream(mime, body)?;
        Ok(Body::Stream(verified(body, sha256_hex)))
    }
}
