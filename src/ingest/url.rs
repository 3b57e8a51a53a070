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
/// Large bodies streamed at once per process, so memory stays bounded however many items or
/// records arrive together: about 32 MiB each, plus an 8 MiB head per body waiting its turn.
pub const MAX_STREAMS: usize = 2;

type Body = BoxStream<'static, Result<Bytes>>;

/// A multipart upload that has been streamed but not necessarily completed.
struct Streamed {
    outcome: PutOutcome,
    sha256_hex: String,
    size: u64,
    /// The ETag S3 gives these parts once completed: `{md5 of the part md5s}-{parts}`.
    etag: String,
}

impl Ingestor {
    pub(super) async fn store_url(&self, url: Url, target: Target) -> Result<StoredObject> {
        let limit = self.rules.max_object_bytes;
        let started = std::time::Instant::now();
        let fetched = self.fetcher.fetch(&url).await;
        crate::metrics::Record::plain().millis("FetchLatency", started.elapsed()).emit();
        let fetched = fetched?;
        if let Some(length) = fetched.content_length {
            check_size(length, limit)?;
        }
        let wanted_name = target.wanted_name.clone().or(fetched.file_name).or_else(|| last_segment(&url));
        let mut body = fetched.body;
        let head = read_head(&mut body, limit).await?;
        let target = Target { wanted_name, ..target };
        if head.is_whole() {
            return self.store_bytes(head.filled.freeze(), target).await;
        }
        let sniffed = self.sniff_allowed(&head.filled, target.declared_type.as_deref())?;
        let _stream = self.streams.acquire().await.map_err(|_| IngestError::Storage("shutting down".into()))?;
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
                if self.same_bytes(&object, &streamed).await? {
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
            PutOutcome::KeyTaken if self.same_bytes(&object, &streamed).await? => {
                Ok(self.stored(&object, streamed.size, Status::Existing))
            }
            PutOutcome::KeyTaken => Err(both_taken(&object.key)),
        }
    }

    /// Whether the object already at the key holds these bytes: by its `sha256` metadata, or,
    /// when an earlier run completed the upload but never recorded that metadata, by the
    /// multipart ETag of the same parts (and then the metadata is recorded now).
    async fn same_bytes(&self, object: &NewObject, streamed: &Streamed) -> Result<bool> {
        let Some(found) = self.store.identify(&object.key).await? else { return Ok(false) };
        match found.sha256 {
            Some(sha256) => Ok(sha256 == streamed.sha256_hex),
            None if !streamed.etag.is_empty() && found.etag == streamed.etag => {
                if let Err(err) = self.store.record_sha256(object).await {
                    warn!(key = %object.key, code = err.code(), error = %err, "could not record sha256 metadata");
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Streams `head` then `body` into a multipart upload at `key`, at most
    /// [`PARTS_IN_FLIGHT`] parts at once. Any failure, or being dropped, aborts the upload.
    async fn stream_upload(
        &self,
        key: &str,
        head: Head,
        body: Body,
        sniffed: &Sniffed,
        target: &Target,
        expected_sha256: Option<&str>,
    ) -> Result<Streamed> {
        let upload_id = self.store.start_upload(key, sniffed.mime, &target.metadata).await?;
        let mut upload = OpenUpload {
            store: self.store.clone(),
            key: key.to_owned(),
            upload_id: Some(upload_id),
            parts: JoinSet::new(),
        };
        let result = async {
            let (parts, sha256_hex, size) = self.send_parts(&mut upload, head, body).await?;
            if expected_sha256.is_some_and(|expected| expected != sha256_hex) {
                return Err(IngestError::FetchFailed("the content changed between two fetches of the URL".into()));
            }
            let outcome = self.store.complete_upload(key, upload.id(), &parts).await?;
            Ok(Streamed { outcome, sha256_hex, size, etag: multipart_etag(&parts) })
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
        upload: &mut OpenUpload,
        head: Head,
        mut body: Body,
    ) -> Result<(Vec<UploadedPart>, String, u64)> {
        let limit = self.rules.max_object_bytes;
        let mut hasher = Sha256::new();
        hasher.update(&head.filled);
        let mut size = head.filled.len() as u64;
        // Chunks are counted and hashed once, when they arrive; `pending` holds the part of one
        // that did not fit the current part.
        if let Some(pending) = &head.pending {
            hasher.update(pending);
            size += pending.len() as u64;
        }
        let mut buffer = head.filled;
        let mut pending = head.pending;
        let mut parts = Vec::new();
        let mut number = 0;
        loop {
            // Fill the part exactly, so no buffer ever grows past PART_SIZE.
            while buffer.len() < PART_SIZE {
                let chunk = match pending.take() {
                    Some(chunk) => chunk,
                    None => match body.next().await.transpose()? {
                        Some(chunk) => {
                            size += chunk.len() as u64;
                            check_size(size, limit)?;
                            hasher.update(&chunk);
                            chunk
                        }
                        None => break,
                    },
                };
                let room = PART_SIZE - buffer.len();
                if chunk.len() > room {
                    buffer.extend_from_slice(&chunk[..room]);
                    pending = Some(chunk.slice(room..));
                } else {
                    buffer.extend_from_slice(&chunk);
                }
            }
            if buffer.is_empty() {
                break;
            }
            let last = buffer.len() < PART_SIZE;
            let part =
                std::mem::replace(&mut buffer, BytesMut::with_capacity(if last { 0 } else { PART_SIZE })).freeze();
            if upload.parts.len() == PARTS_IN_FLIGHT {
                parts.push(joined(upload.parts.join_next().await)?);
            }
            number += 1;
            let (store, key, id) = (upload.store.clone(), upload.key.clone(), upload.id().to_owned());
            upload.parts.spawn(async move { store.upload_part(&key, &id, number, part).await });
            if last {
                break;
            }
        }
        while let Some(done) = upload.parts.join_next().await {
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
/// (for example at a queue batch's deadline). Parts still uploading are waited for first: a
/// part that lands after the abort would be kept, and billed.
struct OpenUpload {
    store: Arc<dyn ObjectStore>,
    key: String,
    upload_id: Option<String>,
    parts: JoinSet<Result<UploadedPart>>,
}

impl OpenUpload {
    fn id(&self) -> &str {
        self.upload_id.as_deref().unwrap_or_default()
    }

    fn completed(&mut self) {
        self.upload_id = None;
    }

    async fn abort(&mut self) {
        // The id is cleared only once the abort is done, so a drop midway still aborts.
        if let Some(id) = self.upload_id.clone() {
            abort_after(&mut self.parts, self.store.clone(), &self.key, &id).await;
            self.upload_id = None;
        }
    }
}

impl Drop for OpenUpload {
    fn drop(&mut self) {
        if let Some(id) = self.upload_id.take() {
            let (store, key, mut parts) =
                (self.store.clone(), std::mem::take(&mut self.key), std::mem::take(&mut self.parts));
            tokio::spawn(async move { abort_after(&mut parts, store, &key, &id).await });
        }
    }
}

async fn abort_after(parts: &mut JoinSet<Result<UploadedPart>>, store: Arc<dyn ObjectStore>, key: &str, id: &str) {
    while parts.join_next().await.is_some() {}
    if let Err(err) = store.abort_upload(key, id).await {
        warn!(key = %key, error = %err, "could not abort a multipart upload");
    }
}

fn joined(done: Option<std::result::Result<Result<UploadedPart>, tokio::task::JoinError>>) -> Result<UploadedPart> {
    match done {
        Some(Ok(part)) => part,
        Some(Err(join)) => Err(IngestError::Storage(format!("a part upload stopped: {join}"))),
        None => Err(IngestError::Storage("a part upload went missing".into())),
    }
}

/// The first [`PART_SIZE`] bytes of a body, and the chunk after them if there is one.
struct Head {
    filled: BytesMut,
    pending: Option<Bytes>,
}

impl Head {
    /// True when the whole body is in `filled`.
    fn is_whole(&self) -> bool {
        self.pending.is_none()
    }
}

/// Reads exactly up to [`PART_SIZE`] bytes into one buffer of that capacity, then one more
/// chunk to learn whether the body goes on.
async fn read_head(body: &mut Body, limit: u64) -> Result<Head> {
    let mut filled = BytesMut::new();
    let mut pending = None;
    while let Some(chunk) = body.next().await.transpose()? {
        check_size((filled.len() + chunk.len()) as u64, limit)?;
        let room = PART_SIZE - filled.len();
        if chunk.len() > room {
            extend_capped(&mut filled, &chunk[..room]);
            pending = Some(chunk.slice(room..));
            break;
        }
        extend_capped(&mut filled, &chunk);
        if filled.len() == PART_SIZE {
            pending = body.next().await.transpose()?;
            if let Some(next) = &pending {
                check_size((filled.len() + next.len()) as u64, limit)?;
            }
            break;
        }
    }
    Ok(Head { filled, pending })
}

/// Appends, growing the buffer by doubling but never past [`PART_SIZE`] (a plain extend
/// would double an 8 MiB buffer to 16 MiB for the last few bytes).
fn extend_capped(buffer: &mut BytesMut, data: &[u8]) {
    let needed = buffer.len() + data.len();
    if needed > buffer.capacity() {
        let capacity = (buffer.capacity() * 2).clamp(needed, PART_SIZE.max(needed));
        let mut grown = BytesMut::with_capacity(capacity);
        grown.extend_from_slice(buffer);
        *buffer = grown;
    }
    buffer.extend_from_slice(data);
}

async fn digest_rest(head: Head, mut body: Body, limit: u64) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(&head.filled);
    let mut size = head.filled.len() as u64;
    if let Some(pending) = &head.pending {
        hasher.update(pending);
        size += pending.len() as u64;
    }
    while let Some(chunk) = body.next().await.transpose()? {
        size += chunk.len() as u64;
        check_size(size, limit)?;
        hasher.update(&chunk);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// S3's ETag for an object assembled from `parts`; empty when a part's ETag is not an MD5
/// (SSE-KMS), so it never matches.
fn multipart_etag(parts: &[UploadedPart]) -> String {
    use md5::{Digest as _, Md5};
    let mut whole = Md5::new();
    for part in parts {
        match hex::decode(part.etag.trim_matches('"')) {
            Ok(md5) if md5.len() == 16 => whole.update(&md5),
            _ => return String::new(),
        }
    }
    format!("{}-{}", hex::encode(whole.finalize()), parts.len())
}

/// The URL's last path segment, percent-decoded, if it has one.
fn last_segment(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let decoded = percent_decode_str(segment).decode_utf8_lossy().into_owned();
    (!decoded.is_empty()).then_some(decoded)
}
