//! URL items: small bodies are read whole and stored like inline data; larger ones are
//! streamed to S3 as a multipart upload, with memory bounded by the parts in flight.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tracing::warn;
use url::Url;

use super::{Ingestor, Status, StoredObject, Target, both_taken, check_size};
use crate::content::Sniffed;
use crate::error::{IngestError, Result};
use crate::key;
use crate::store::{NewObject, ObjectStore, PutOutcome, UploadedPart};

/// Bodies up to this size go in one PutObject; larger ones in parts of this size.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once while the next one is read.
pub const PARTS_IN_FLIGHT: usize = 3;

type Body = BoxStream<'static, Result<Bytes>>;

/// A multipart upload that has been streamed but not necessarily completed.
struct Streamed {
    outcome: PutOutcome,
    sha256_hex: String,
    size: u64,
}

impl Ingestor {
    pub(super) async fn store_url(&self, url: Url, target: Target) -> Result<StoredObject> {
        let limit = self.rules.max_object_bytes;
        let fetched = self.fetcher.fetch(&url).await?;
        if let Some(length) = fetched.content_length {
            check_size(length, limit)?;
        }
        let wanted_name = target.wanted_name.clone().or(fetched.file_name).or_else(|| last_segment(&url));
        let mut body = fetched.body;
        let head = read_head(&mut body, limit).await?;
        let target = Target { wanted_name, ..target };
        if head.len() <= PART_SIZE {
            return self.store_bytes(head.freeze(), target).await;
        }
        let sniffed = self.sniff_allowed(&head, target.declared_type.as_deref())?;
        let name = match target.wanted_name.as_deref().and_then(|w| key::usable_name(w, &sniffed)) {
            Some(name) => name,
            None => {
                // The name is the digest, known only at the end: hash once, then upload.
                let sha256_hex = digest_rest(head, body, limit).await?;
                let name = key::file_name(None, &sniffed, &sha256_hex);
                return self.refetch_to(&url, &target, &sniffed, &name, &sha256_hex).await;
            }
        };
        let object_key = key::object_key(&self.rules.key_prefix, target.at, &name);
        let streamed = self.stream_upload(&object_key, head, body, &sniffed, &target, None).await?;
        let object = self.new_object(object_key, &sniffed, &streamed.sha256_hex, &target);
        match streamed.outcome {
            PutOutcome::Created => Ok(self.created(&object, streamed.size).await),
            PutOutcome::KeyTaken => {
                if self.store.stored_sha256(&object.key).await?.as_deref() == Some(streamed.sha256_hex.as_str()) {
                    return Ok(self.stored(&object, streamed.size, Status::Existing));
                }
                let moved = key::collision_name(&name, &streamed.sha256_hex);
                self.refetch_to(&url, &target, &sniffed, &moved, &streamed.sha256_hex).await
            }
        }
    }

    /// Fetches `url` again and streams it under `name`, refusing bytes other than `sha256_hex`.
    async fn refetch_to(
        &self,
        url: &Url,
        target: &Target,
        sniffed: &Sniffed,
        name: &str,
        sha256_hex: &str,
    ) -> Result<StoredObject> {
        let object_key = key::object_key(&self.rules.key_prefix, target.at, name);
        let mut body = self.fetcher.fetch(url).await?.body;
        let head = read_head(&mut body, self.rules.max_object_bytes).await?;
        let streamed = self.stream_upload(&object_key, head, body, sniffed, target, Some(sha256_hex)).await?;
        let object = self.new_object(object_key, sniffed, sha256_hex, target);
        match streamed.outcome {
            PutOutcome::Created => Ok(self.created(&object, streamed.size).await),
            PutOutcome::KeyTaken if self.store.stored_sha256(&object.key).await?.as_deref() == Some(sha256_hex) => {
                Ok(self.stored(&object, streamed.size, Status::Existing))
            }
            PutOutcome::KeyTaken => Err(both_taken(&object.key)),
        }
    }

    /// Streams `head` then `body` into a multipart upload at `key`, at most
    /// [`PARTS_IN_FLIGHT`] parts at once. Any failure, or being dropped, aborts the upload.
    async fn stream_upload(
        &self,
        key: &str,
        head: BytesMut,
        body: Body,
        sniffed: &Sniffed,
        target: &Target,
        expected_sha256: Option<&str>,
    ) -> Result<Streamed> {
        let upload_id = self.store.start_upload(key, sniffed.mime, &target.metadata).await?;
        let mut upload = OpenUpload { store: self.store.clone(), key: key.to_owned(), upload_id: Some(upload_id) };
        let result = async {
            let (parts, sha256_hex, size) = self.send_parts(&upload, head, body).await?;
            if expected_sha256.is_some_and(|expected| expected != sha256_hex) {
                return Err(IngestError::FetchFailed("the content changed between two fetches of the URL".into()));
            }
            let outcome = self.store.complete_upload(key, upload.id(), &parts).await?;
            Ok(Streamed { outcome, sha256_hex, size })
        }
        .await;
        match &result {
            Ok(Streamed { outcome: PutOutcome::Created, .. }) => upload.completed(),
            _ => upload.abort().await,
        }
        result
    }

    async fn send_parts(
        &self,
        upload: &OpenUpload,
        mut buffer: BytesMut,
        mut body: Body,
    ) -> Result<(Vec<UploadedPart>, String, u64)> {
        let limit = self.rules.max_object_bytes;
        let mut hasher = Sha256::new();
        hasher.update(&buffer);
        let mut size = buffer.len() as u64;
        let mut in_flight = JoinSet::new();
        let mut parts = Vec::new();
        let mut number = 0;
        let mut finished = false;
        while !finished || !buffer.is_empty() {
            if !finished && buffer.len() < PART_SIZE {
                match body.next().await.transpose()? {
                    Some(chunk) => {
                        size += chunk.len() as u64;
                        check_size(size, limit)?;
                        hasher.update(&chunk);
                        buffer.extend_from_slice(&chunk);
                    }
                    None => finished = true,
                }
                continue;
            }
            let part = buffer.split_to(buffer.len().min(PART_SIZE)).freeze();
            buffer.reserve(PART_SIZE);
            if in_flight.len() == PARTS_IN_FLIGHT {
                parts.push(joined(in_flight.join_next().await)?);
            }
            number += 1;
            let (store, key, id) = (upload.store.clone(), upload.key.clone(), upload.id().to_owned());
            in_flight.spawn(async move { store.upload_part(&key, &id, number, part).await });
        }
        while let Some(done) = in_flight.join_next().await {
            parts.push(joined(Some(done))?);
        }
        parts.sort_by_key(|p| p.number);
        Ok((parts, hex::encode(hasher.finalize()), size))
    }

    fn new_object(&self, key: String, sniffed: &Sniffed, sha256_hex: &str, target: &Target) -> NewObject {
        NewObject {
            key,
            body: Bytes::new(),
            content_type: sniffed.mime.to_owned(),
            sha256_hex: sha256_hex.to_owned(),
            metadata: target.metadata.clone(),
        }
    }

    /// A streamed object is complete; its digest is recorded as metadata now that it is known.
    async fn created(&self, object: &NewObject, size: u64) -> StoredObject {
        if let Err(err) = self.store.record_sha256(object).await {
            // The bytes are stored and verified part by part; only the metadata is missing.
            warn!(key = %object.key, code = err.code(), error = %err, "could not record sha256 metadata");
        }
        self.stored(object, size, Status::Created)
    }
}

/// An upload that is aborted unless it completed, even when its future is dropped midway
/// (for example at a queue batch's deadline).
struct OpenUpload {
    store: Arc<dyn ObjectStore>,
    key: String,
    upload_id: Option<String>,
}

impl OpenUpload {
    fn id(&self) -> &str {
        self.upload_id.as_deref().unwrap_or_default()
    }

    fn completed(&mut self) {
        self.upload_id = None;
    }

    async fn abort(&mut self) {
        if let Some(id) = self.upload_id.take()
            && let Err(err) = self.store.abort_upload(&self.key, &id).await
        {
            warn!(key = %self.key, error = %err, "could not abort a multipart upload");
        }
    }
}

impl Drop for OpenUpload {
    fn drop(&mut self) {
        if let Some(id) = self.upload_id.take() {
            let (store, key) = (self.store.clone(), std::mem::take(&mut self.key));
            tokio::spawn(async move {
                if let Err(err) = store.abort_upload(&key, &id).await {
                    warn!(key = %key, error = %err, "could not abort a multipart upload");
                }
            });
        }
    }
}

fn joined(done: Option<std::result::Result<Result<UploadedPart>, tokio::task::JoinError>>) -> Result<UploadedPart> {
    match done {
        Some(Ok(part)) => part,
        Some(Err(join)) => Err(IngestError::Storage(format!("a part upload stopped: {join}"))),
        None => Err(IngestError::Storage("a part upload went missing".into())),
    }
}

/// Reads until more than [`PART_SIZE`] bytes are in hand or the body ends.
async fn read_head(body: &mut Body, limit: u64) -> Result<BytesMut> {
    let mut head = BytesMut::new();
    while head.len() <= PART_SIZE {
        let Some(chunk) = body.next().await.transpose()? else { break };
        check_size((head.len() + chunk.len()) as u64, limit)?;
        head.extend_from_slice(&chunk);
    }
    Ok(head)
}

async fn digest_rest(head: BytesMut, mut body: Body, limit: u64) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(&head);
    let mut size = head.len() as u64;
    while let Some(chunk) = body.next().await.transpose()? {
        size += chunk.len() as u64;
        check_size(size, limit)?;
        hasher.update(&chunk);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The URL's last path segment, percent-decoded, if it has one.
fn last_segment(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let decoded = percent_decode_str(segment).decode_utf8_lossy().into_owned();
    (!decoded.is_empty()).then_some(decoded)
}
