//! The S3 adapter: HeadBucket with its cache, conditional puts with checksums.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, MetadataDirective};
use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use super::{
    BucketCheck, Identity, ListedObject, Listing, NewObject, ObjectStore, Presigned, PutOutcome, RECHECK_AFTER,
    UploadedPart,
};
use crate::config::Config;
use crate::error::{IngestError, Result};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};

/// SDK attempts per call (standard mode), and the bounds that keep a dead S3 within the Lambda timeout.
const MAX_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);
/// Tries of a conditional put that S3 answered with 409 ConditionalRequestConflict.
const CONFLICT_TRIES: u32 = 3;

/// [`ObjectStore`] on one S3 bucket.
#[derive(Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    expected_owner: Option<String>,
    check: BucketCheck,
}

impl S3Store {
    /// Builds the S3 client from the shared SDK config with this function's retry and timeout bounds.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(config.force_path_style)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(2)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(s3_config),
            bucket: config.bucket.clone(),
            expected_owner: config.expected_bucket_owner.clone(),
            check: BucketCheck::new(RECHECK_AFTER),
        }
    }

    /// The underlying client, for read paths that need it.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn head_bucket(&self) -> Result<()> {
        let result = self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => Err(match status(&err) {
                Some(404) => IngestError::BucketNotFound(self.bucket.clone()),
                Some(403) => IngestError::BucketAccessDenied(self.bucket.clone()),
                _ => storage_error("HeadBucket", &self.bucket, &err),
            }),
        }
    }

    /// Maps a write failure: a missing bucket invalidates the cached check.
    fn write_error<E>(&self, operation: &str, key: &str, err: &SdkError<E, HttpResponse>) -> IngestError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match (status(err), err.code()) {
            (_, Some("NoSuchBucket")) => {
                self.check.invalidate();
                IngestError::BucketNotFound(self.bucket.clone())
            }
            // Other 403s (a KMS key, a skewed clock, a bad signature) are not about the bucket.
            (_, Some("AccessDenied")) => IngestError::BucketAccessDenied(self.bucket.clone()),
            _ => storage_error(operation, key, err),
        }
    }

    async fn put_once(
        &self,
        object: &NewObject,
    ) -> std::result::Result<PutOutcome, SdkError<PutObjectError, HttpResponse>> {
        let checksum =
            base64::engine::general_purpose::STANDARD.encode(hex::decode(&object.sha256_hex).unwrap_or_default());
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .body(ByteStream::from(object.body.clone()))
            .content_type(&object.content_type)
            .checksum_sha256(checksum)
            .if_none_match("*")
            .metadata("sha256", &object.sha256_hex)
            .set_expected_bucket_owner(self.expected_owner.clone());
        for (k, v) in &object.metadata {
            request = request.metadata(k, v);
        }
        match request.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(err) if status(&err) == Some(412) || err.code() == Some("PreconditionFailed") => {
                Ok(PutOutcome::KeyTaken)
            }
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn ensure_bucket(&self) -> Result<()> {
        self.check
            .ensure(|| async {
                let result = self.head_bucket().await;
                let answer = result.as_ref().map_or_else(|e| e.code(), |()| "usable");
                crate::metrics::Record::by("Result", answer).count("BucketChecks", 1).emit();
                result
            })
            .await
    }

    async fn put_if_absent(&self, object: &NewObject) -> Result<PutOutcome> {
        let mut tries = 0;
        loop {
            tries += 1;
            let err = match self.put_once(object).await {
                Ok(outcome) => return Ok(outcome),
                Err(err) => err,
            };
            let conflict = status(&err) == Some(409) || err.code() == Some("ConditionalRequestConflict");
            if conflict && tries < CONFLICT_TRIES {
                // Another writer holds the key; give it time to finish before asking again.
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
                continue;
            }
            return Err(self.write_error("PutObject", &object.key, &err));
        }
    }

    async fn identify(&self, key: &str) -> Result<Option<Identity>> {
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await;
        match result {
            Ok(head) => Ok(Some(Identity {
                sha256: head.metadata().and_then(|m| m.get("sha256")).cloned(),
                etag: head.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            })),
            Err(err) if status(&err) == Some(404) => Ok(None),
            Err(err) => Err(storage_error("HeadObject", key, &err)),
        }
    }

    async fn start_upload(&self, key: &str, content_type: &str, metadata: &BTreeMap<String, String>) -> Result<String> {
        let mut request = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_expected_bucket_owner(self.expected_owner.clone());
        for (k, v) in metadata {
            request = request.metadata(k, v);
        }
        let created = request.send().await.map_err(|e| self.write_error("CreateMultipartUpload", key, &e))?;
        created
            .upload_id
            .ok_or_else(|| IngestError::Storage(format!("CreateMultipartUpload {key} returned no upload id")))
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Bytes) -> Result<UploadedPart> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body));
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_sha256(&checksum)
            .body(ByteStream::from(body))
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| self.write_error("UploadPart", key, &e))?;
        Ok(UploadedPart { number, etag: uploaded.e_tag.unwrap_or_default(), checksum_sha256: checksum })
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[UploadedPart]) -> Result<PutOutcome> {
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
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .if_none_match("*")
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(err) if status(&err) == Some(412) || err.code() == Some("PreconditionFailed") => {
                Ok(PutOutcome::KeyTaken)
            }
            Err(err) => Err(self.write_error("CompleteMultipartUpload", key, &err)),
        }
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| storage_error("AbortMultipartUpload", key, &e))
    }

    async fn list(&self, prefix: &str, delimiter: Option<&str>, limit: u32, token: Option<&str>) -> Result<Listing> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .max_keys(limit as i32)
            .set_continuation_token(token.map(str::to_owned))
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("InvalidArgument") => IngestError::InvalidRequest("next_token is not valid".into()),
                _ => self.write_error("ListObjectsV2", prefix, &e),
            })?;
        let objects = page
            .contents()
            .iter()
            .map(|o| ListedObject {
                key: o.key().unwrap_or_default().to_owned(),
                size: o.size().unwrap_or_default().max(0) as u64,
                last_modified: o
                    .last_modified()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                    .unwrap_or_default(),
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            })
            .collect();
        let prefixes = page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)).collect();
        let next_token =
            page.next_continuation_token().filter(|_| page.is_truncated() == Some(true)).map(str::to_owned);
        Ok(Listing { objects, prefixes, next_token })
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<Presigned> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| storage_error("presign GetObject", key, &e))?;
        Ok(to_presigned(&presigned))
    }

    async fn presign_put(&self, key: &str, content_type: &str, length: u64, ttl: Duration) -> Result<Presigned> {
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length as i64)
            .if_none_match("*")
            .set_expected_bucket_owner(self.expected_owner.clone())
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| storage_error("presign PutObject", key, &e))?;
        Ok(to_presigned(&presigned))
    }

    async fn record_sha256(&self, object: &NewObject) -> Result<()> {
        let source = format!("{}/{}", self.bucket, urlencode_key(&object.key));
        let mut request = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .copy_source(source)
            .metadata_directive(MetadataDirective::Replace)
            .content_type(&object.content_type)
            .metadata("sha256", &object.sha256_hex)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .set_expected_source_bucket_owner(self.expected_owner.clone());
        for (k, v) in &object.metadata {
            request = request.metadata(k, v);
        }
        request.send().await.map(|_| ()).map_err(|e| self.write_error("CopyObject", &object.key, &e))
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig> {
    PresigningConfig::expires_in(ttl).map_err(|e| IngestError::Storage(format!("cannot presign for {ttl:?}: {e}")))
}

fn to_presigned(request: &PresignedRequest) -> Presigned {
    Presigned {
        url: request.uri().to_owned(),
        headers: request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    }
}

/// Copy sources are `bucket/key` with the key URL-encoded, `/` kept.
fn urlencode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn storage_error<E>(operation: &str, target: &str, err: &SdkError<E, HttpResponse>) -> IngestError
where
    E: std::error::Error + 'static,
{
    IngestError::Storage(format!("{operation} {target} failed: {}", DisplayErrorContext(err)))
}
