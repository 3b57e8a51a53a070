//! Streamed writes: a body read part by part into a multipart upload, with memory bounded
//! by the parts in flight, completed only if the key is free, and aborted on every other path.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::stream::Fuse;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tracing::warn;

use super::{Cleanups, S3Store, admitted, retry_conflicts, sdk_error};
use crate::body::{Blob, ByteStream, extend_capped};
use crate::error::{IngestError, Result};
use crate::store::{Gate, Placement, WriteOutcome, Written};

/// Bodies up to this size go in one PutObject; larger ones in parts of this size.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once while the next one is read.
pub const PARTS_IN_FLIGHT: usize = 3;

/// One uploaded part.
#[derive(Debug, Clone)]
struct UploadedPart {
    number: i32,
    etag: String,
    checksum_sha256: String,
}

impl S3Store {
    /// Writes a stream: one PutObject when it ends within the first part, else a multipart
    /// upload completed with `If-None-Match: *`. `gate` is asked at the end, before the write
    /// or the completion; turned away, the upload is aborted.
    pub(super) async fn write_stream(
        &self,
        place: &Placement,
        body: ByteStream,
        gate: Option<&dyn Gate>,
    ) -> Result<Written> {
        let mut reader = PartReader::new(body);
        let first = reader.next_part().await?.unwrap_or_default();
        if first.len() < PART_SIZE {
            let blob = Blob::new(first);
            let outcome = match admitted(gate, blob.sha256_hex()).await? {
                true => self.put_blob(place, &blob).await?,
                false => WriteOutcome::Declined,
            };
            return Ok(Written { outcome, sha256_hex: blob.sha256_hex().to_owned(), size: blob.size() });
        }
        let mut upload = self.start_upload(place).await?;
        let result = async {
            let mut next = Some(first);
            while let Some(part) = next {
                upload.send(part).await?;
                next = reader.next_part().await?;
            }
            let parts = upload.finish_parts().await?;
            let (sha256_hex, size) = reader.digest();
            let outcome = match admitted(gate, &sha256_hex).await? {
                true => self.complete(place, &upload, &parts, &sha256_hex).await?,
                false => WriteOutcome::Declined, // aborted below: no object, no parts
            };
            Ok(Written { outcome, sha256_hex, size })
        }
        .await;
        match &result {
            Ok(Written { outcome: WriteOutcome::Created, .. }) => upload.completed(),
            _ => upload.abort().await,
        }
        result
    }

    async fn start_upload(&self, place: &Placement) -> Result<Upload> {
        // The digest is known only at the end: it is recorded once the upload completes.
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&place.key)
            .content_type(&place.content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_metadata(Some(place.metadata.clone().into_iter().collect()))
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.write_error("CreateMultipartUpload", &place.key, e))?;
        let id = created.upload_id.ok_or_else(|| {
            IngestError::storage(format!("CreateMultipartUpload {} returned no upload id", place.key))
        })?;
        Ok(Upload {
            target: Target {
                client: self.client.clone(),
                bucket: self.bucket.clone(),
                owner: self.expected_owner.clone(),
                key: place.key.clone(),
            },
            id: Some(id),
            next_number: 1,
            in_flight: JoinSet::new(),
            done: Vec::new(),
            cleanups: self.cleanups.clone(),
        })
    }

    /// Completes the upload unless the key exists, then records the digest.
    async fn complete(
        &self,
        place: &Placement,
        upload: &Upload,
        parts: &[UploadedPart],
        sha256_hex: &str,
    ) -> Result<WriteOutcome> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.number)
                            .e_tag(&p.etag)
                            .checksum_sha256(&p.checksum_sha256)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let result = retry_conflicts(|| {
            let complete = self.client.complete_multipart_upload().bucket(&self.bucket).key(&place.key);
            let request = complete
                .upload_id(upload.id())
                .multipart_upload(completed.clone())
                .if_none_match("*")
                .set_expected_bucket_owner(self.expected_owner.clone());
            async move { request.send().await.map(|_| ()) }
        })
        .await;
        let answered = result.is_ok();
        let etag = multipart_etag(parts);
        let outcome = self.settle_write("CompleteMultipartUpload", place, sha256_hex, Some(&etag), result).await?;
        // A lost answer found the object by its parts' ETag and recorded the digest already.
        if answered && outcome == WriteOutcome::Created {
            self.record_sha256(place, sha256_hex).await?;
        }
        Ok(outcome)
    }
}

/// Reads a body in parts of exactly [`PART_SIZE`] (the last may be shorter), hashing and
/// counting every byte once.
struct PartReader {
    body: Fuse<ByteStream>,
    pending: Option<Bytes>,
    hasher: Sha256,
    size: u64,
}

impl PartReader {
    fn new(body: ByteStream) -> Self {
        Self { body: body.fuse(), pending: None, hasher: Sha256::new(), size: 0 }
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        if let Some(pending) = self.pending.take() {
            return Ok(Some(pending));
        }
        let chunk = self.body.try_next().await?;
        if let Some(chunk) = &chunk {
            self.hasher.update(chunk);
            self.size += chunk.len() as u64;
        }
        Ok(chunk)
    }

    /// The next part, `None` at the end of the body.
    async fn next_part(&mut self) -> Result<Option<Bytes>> {
        let mut part = BytesMut::new();
        while part.len() < PART_SIZE {
            let Some(chunk) = self.next_chunk().await? else { break };
            if part.is_empty() && chunk.len() == PART_SIZE {
                return Ok(Some(chunk)); // a head read whole by the caller: no copy
            }
            let room = PART_SIZE - part.len();
            if chunk.len() > room {
                extend_capped(&mut part, &chunk[..room], PART_SIZE);
                self.pending = Some(chunk.slice(room..));
            } else {
                extend_capped(&mut part, &chunk, PART_SIZE);
            }
        }
        Ok((!part.is_empty()).then(|| part.freeze()))
    }

    fn digest(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.size)
    }
}

/// Where one upload goes.
#[derive(Debug, Clone)]
struct Target {
    client: Client,
    bucket: String,
    owner: Option<String>,
    key: String,
}

/// An upload that is aborted unless it completed, even when its future is dropped midway
/// (at a deadline). Parts still uploading are waited for first: a part that lands after the
/// abort would be kept, and billed.
struct Upload {
    target: Target,
    id: Option<String>,
    next_number: i32,
    in_flight: JoinSet<Result<UploadedPart>>,
    done: Vec<UploadedPart>,
    cleanups: Cleanups,
}

impl Upload {
    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// Starts uploading `part`, after waiting for a slot among [`PARTS_IN_FLIGHT`].
    async fn send(&mut self, part: Bytes) -> Result<()> {
        if self.in_flight.len() == PARTS_IN_FLIGHT {
            let done = joined(self.in_flight.join_next().await)?;
            self.done.push(done);
        }
        let (target, id, number) = (self.target.clone(), self.id().to_owned(), self.next_number);
        self.next_number += 1;
        self.in_flight.spawn(async move { upload_part(&target, &id, number, part).await });
        Ok(())
    }

    /// Waits for every part, and returns them in order.
    async fn finish_parts(&mut self) -> Result<Vec<UploadedPart>> {
        while let Some(done) = self.in_flight.join_next().await {
            self.done.push(joined(Some(done))?);
        }
        let mut parts = std::mem::take(&mut self.done);
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    fn completed(&mut self) {
        self.id = None;
    }

    async fn abort(&mut self) {
        // The id is cleared only once the abort is done, so a drop midway still aborts.
        if let Some(id) = self.id.clone() {
            abort_after(&mut self.in_flight, &self.target, &id).await;
            self.id = None;
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let (target, mut parts) = (self.target.clone(), std::mem::take(&mut self.in_flight));
            self.cleanups.spawn(async move { abort_after(&mut parts, &target, &id).await });
        }
    }
}

async fn upload_part(target: &Target, upload_id: &str, number: i32, body: Bytes) -> Result<UploadedPart> {
    let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body));
    let uploaded = target
        .client
        .upload_part()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(upload_id)
        .part_number(number)
        .checksum_sha256(&checksum)
        .body(SdkByteStream::from(body))
        .set_expected_bucket_owner(target.owner.clone())
        // Integrity comes from the signed checksum header S3 verifies; see `put_blob`.
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| sdk_error("UploadPart", &target.key, e))?;
    Ok(UploadedPart { number, etag: uploaded.e_tag.unwrap_or_default(), checksum_sha256: checksum })
}

async fn abort_after(parts: &mut JoinSet<Result<UploadedPart>>, target: &Target, id: &str) {
    while parts.join_next().await.is_some() {}
    let abort = target.client.abort_multipart_upload().bucket(&target.bucket).key(&target.key).upload_id(id);
    let result = abort.set_expected_bucket_owner(target.owner.clone()).send().await;
    if let Err(err) = result {
        let err = sdk_error("AbortMultipartUpload", &target.key, err);
        warn!(key = %target.key, error = %err.report(), "could not abort a multipart upload");
    }
}

fn joined(done: Option<std::result::Result<Result<UploadedPart>, tokio::task::JoinError>>) -> Result<UploadedPart> {
    match done {
        Some(Ok(part)) => part,
        Some(Err(join)) => Err(IngestError::storage_from("a part upload stopped", join)),
        None => Err(IngestError::storage("a part upload went missing")),
    }
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
