//! The S3 adapter: HeadBucket with its cache, conditional writes with checksums, and the
//! checks that tell "already there" from "someone else's" and "lost answer" from "failed".

mod index;
mod multipart;
mod presign;
mod read;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, MetadataDirective};
use base64::Engine;
use tokio::sync::watch;
use tracing::warn;

pub use multipart::{PART_SIZE, PARTS_IN_FLIGHT};

use super::{
    Bucket, BucketCheck, Description, Gate, Identity, ListedObject, Listing, ObjectLister, ObjectLookup, ObjectWriter,
    Placement, Presigned, Presigner, RECHECK_AFTER, Staging, StoredBytes, WriteOutcome, Written,
};
use crate::body::{Blob, Body, Staged};
use crate::config::Config;
use crate::error::{IngestError, Result};

/// SDK attempts per call (standard mode), and the bounds that keep a dead S3 within the Lambda timeout.
const MAX_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);
/// The look at the key after a write whose answer was lost: short, so a dead S3 fails fast.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of a conditional write that S3 answered with 409 ConditionalRequestConflict.
const CONFLICT_TRIES: u32 = 3;

/// The object store on one S3 bucket: every capability of [`crate::store`].
#[derive(Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    expected_owner: Option<String>,
    /// The SDK config's credentials, for the URLs signed without the SDK (`presign_gets`).
    credentials: presign::SigningCredentials,
    check: BucketCheck,
    cleanups: Cleanups,
}

/// What HeadObject tells about an object's bytes.
struct Head {
    sha256: Option<String>,
    /// Quotes removed; for a multipart object `{md5 of the part md5s}-{parts}`.
    etag: String,
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
            credentials: presign::SigningCredentials::new(sdk.credentials_provider()),
            check: BucketCheck::new(RECHECK_AFTER),
            cleanups: Cleanups::default(),
        }
    }

    /// The underlying client, for tests that inspect its settings.
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
                _ => sdk_error("HeadBucket", &self.bucket, err),
            }),
        }
    }

    /// Maps a write failure: a missing bucket invalidates the cached check.
    fn write_error<E>(&self, operation: &str, key: &str, err: SdkError<E, HttpResponse>) -> IngestError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err.code() {
            Some("NoSuchBucket") => {
                self.check.invalidate();
                IngestError::BucketNotFound(self.bucket.clone())
            }
            // Other 403s (a KMS key, a skewed clock, a bad signature) are not about the bucket.
            Some("AccessDenied") => IngestError::BucketAccessDenied(self.bucket.clone()),
            _ => sdk_error(operation, key, err),
        }
    }

    /// HeadObject, `None` for a missing key. `quick` bounds it tightly, for the look after a
    /// lost answer, when S3 may well be down.
    async fn head(&self, key: &str, quick: bool) -> Result<Option<Head>> {
        let mut request = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .customize();
        if quick {
            request = request.config_override(
                aws_sdk_s3::config::Builder::default()
                    .retry_config(RetryConfig::standard().with_max_attempts(2))
                    .timeout_config(TimeoutConfig::builder().operation_timeout(CHECK_TIMEOUT).build()),
            );
        }
        match request.send().await {
            Ok(head) => Ok(Some(Head {
                sha256: head.metadata().and_then(|m| m.get("sha256")).cloned(),
                etag: head.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            })),
            Err(err) if status(&err) == Some(404) => Ok(None),
            Err(err) => Err(sdk_error("HeadObject", key, err)),
        }
    }

    /// Whether the object at the key holds the bytes with `sha256_hex`: by its `sha256`
    /// metadata, or, for a multipart object whose digest was never recorded (an earlier run
    /// stopped, or a server lost the answer), by the ETag `parts_etag` those parts give; the
    /// digest is then recorded now.
    async fn holds(&self, place: &Placement, sha256_hex: &str, parts_etag: Option<&str>, quick: bool) -> Result<bool> {
        let Some(found) = self.head(&place.key, quick).await? else { return Ok(false) };
        match found.sha256 {
            Some(sha256) => Ok(sha256 == sha256_hex),
            None if parts_etag.is_some_and(|etag| !etag.is_empty() && etag == found.etag) => {
                self.record_sha256(place, sha256_hex).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Settles a conditional write's answer: taken keys are told apart by their bytes, and a
    /// failure is checked at the key before it is reported, since S3 may have completed the
    /// write and only the answer was lost.
    async fn settle_write<E>(
        &self,
        operation: &str,
        place: &Placement,
        sha256_hex: &str,
        parts_etag: Option<&str>,
        result: std::result::Result<(), SdkError<E, HttpResponse>>,
    ) -> Result<WriteOutcome>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let err = match result {
            Ok(()) => return Ok(WriteOutcome::Created),
            Err(err) => err,
        };
        if is_precondition_failed(&err) {
            let same = self.holds(place, sha256_hex, parts_etag, false).await?;
            return Ok(if same { WriteOutcome::Existing } else { WriteOutcome::Occupied });
        }
        // Any other failure may hide a completed write: an answer lost to a timeout or a reset,
        // a 5xx, an answer the SDK could not read, or a retried completion whose upload is
        // already gone (S3 says NoSuchUpload, s3s-fs AccessDenied). Only our own bytes at the
        // key turn it into a success, so looking costs one short HeadObject on failure paths.
        if err.code() != Some("NoSuchBucket")
            && matches!(self.holds(place, sha256_hex, parts_etag, true).await, Ok(true))
        {
            warn!(key = %place.key, operation, error = %aws_sdk_s3::error::DisplayErrorContext(&err),
                "the write's answer was lost, but the object is stored intact");
            return Ok(WriteOutcome::Created);
        }
        Err(self.write_error(operation, &place.key, err))
    }

    async fn write_gated(&self, place: &Placement, body: Body, gate: Option<&dyn Gate>) -> Result<Written> {
        match body {
            Body::Whole(blob) => {
                let (sha256_hex, size) = (blob.sha256_hex().to_owned(), blob.size());
                let outcome = match admitted(gate, &sha256_hex).await? {
                    true => self.put_blob(place, &blob).await?,
                    false => WriteOutcome::Declined,
                };
                Ok(Written { outcome, sha256_hex, size })
            }
            Body::Stream(stream) => self.write_stream(place, stream, gate).await,
            Body::Staged(staged) => {
                let outcome = match admitted(gate, &staged.sha256_hex).await? {
                    true => self.copy_staged(place, &staged).await?,
                    false => WriteOutcome::Declined,
                };
                Ok(Written { outcome, sha256_hex: staged.sha256_hex, size: staged.size })
            }
        }
    }

    /// One conditional PutObject with the whole body and its checksum.
    async fn put_blob(&self, place: &Placement, blob: &Blob) -> Result<WriteOutcome> {
        let checksum = base64_of_hex(blob.sha256_hex());
        let result = retry_conflicts(|| {
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&place.key)
                .body(ByteStream::from(blob.bytes().clone()))
                .content_type(&place.content_type)
                // Both: S3 verifies the value, and servers that keep checksums only for a
                // named algorithm (moto) then keep it for HeadObject's ChecksumMode.
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&checksum)
                .if_none_match("*")
                .set_metadata(Some(metadata_with_digest(&place.metadata_now(), blob.sha256_hex())))
                .set_expected_bucket_owner(self.expected_owner.clone())
                // The body's SHA-256 travels in the signed checksum header, which S3 checks
                // against the bytes: signing the payload as well would hash every byte twice.
                .customize()
                .disable_payload_signing();
            async move { request.send().await.map(|_| ()) }
        })
        .await;
        self.settle_write("PutObject", place, blob.sha256_hex(), None, result).await
    }

    /// One conditional CopyObject from the staging area: no bytes through the function, the
    /// metadata replaced (the sniffed type, the digest), and a SHA-256 checksum computed by S3.
    async fn copy_staged(&self, place: &Placement, staged: &Staged) -> Result<WriteOutcome> {
        let source = format!("{}/{}", self.bucket, urlencode_key(&staged.key));
        let result = retry_conflicts(|| {
            let copy = self.client.copy_object().bucket(&self.bucket).key(&place.key).copy_source(&source);
            let request = copy
                .if_none_match("*")
                .metadata_directive(MetadataDirective::Replace)
                .content_type(&place.content_type)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .set_copy_source_if_match(staged.version.clone())
                .set_metadata(Some(metadata_with_digest(&place.metadata_now(), &staged.sha256_hex)))
                .set_expected_bucket_owner(self.expected_owner.clone())
                .set_expected_source_bucket_owner(self.expected_owner.clone());
            async move { request.send().await.map(|_| ()) }
        })
        .await;
        // 412 says the key is taken, or that the staged object is no longer the version that
        // was checked (replaced meanwhile): then nothing is at the key, and the retry reads
        // the new version through every check.
        if let Err(err) = &result
            && is_precondition_failed(err)
            && staged.version.is_some()
            && self.head(&place.key, false).await?.is_none()
        {
            return Err(IngestError::storage(format!(
                "{} changed after it was checked; it is read again on the retry",
                staged.key
            )));
        }
        self.settle_write("CopyObject", place, &staged.sha256_hex, None, result).await
    }

    /// Adds the `sha256` metadata to an object made by multipart upload, whose digest was
    /// only known at the end: a copy onto itself that keeps the bytes and replaces the
    /// metadata. A failure fails the write, although the bytes are stored: every stored
    /// object carries its digest, and a retry finds the object by its parts' ETag and records
    /// it then.
    async fn record_sha256(&self, place: &Placement, sha256_hex: &str) -> Result<()> {
        let result = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&place.key)
            .copy_source(format!("{}/{}", self.bucket, urlencode_key(&place.key)))
            .metadata_directive(MetadataDirective::Replace)
            .content_type(&place.content_type)
            .set_metadata(Some(metadata_with_digest(&place.metadata_now(), sha256_hex)))
            .set_expected_bucket_owner(self.expected_owner.clone())
            .set_expected_source_bucket_owner(self.expected_owner.clone())
            .send()
            .await;
        result.map(|_| ()).map_err(|err| {
            let err = self.write_error("CopyObject", &place.key, err);
            warn!(key = %place.key, code = err.code(), error = %err.report(), "could not record sha256 metadata");
            err
        })
    }
}

#[async_trait]
impl Bucket for S3Store {
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
}

#[async_trait]
impl ObjectWriter for S3Store {
    async fn write_if_absent(&self, place: &Placement, body: Body) -> Result<Written> {
        self.write_gated(place, body, None).await
    }

    async fn write_if_admitted(&self, place: &Placement, body: Body, gate: &dyn Gate) -> Result<Written> {
        self.write_gated(place, body, Some(gate)).await
    }

    async fn settle(&self, limit: Duration) {
        self.cleanups.wait(limit).await;
    }
}

#[async_trait]
impl Staging for S3Store {
    async fn read(&self, key: &str) -> Result<Option<StoredBytes>> {
        let target = read::ReadTarget {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            expected_owner: self.expected_owner.clone(),
        };
        match target.first().await {
            Ok(Some(first)) => {
                let (size, version) = (first.size, first.etag.clone());
                Ok(Some(StoredBytes { size, version, body: target.stream(first) }))
            }
            Ok(None) => Ok(None),
            Err(err) => Err(self.write_error("GetObject", key, err)),
        }
    }

    async fn discard(&self, key: &str) -> Result<()> {
        let request = self.client.delete_object().bucket(&self.bucket).key(key);
        let result = request.set_expected_bucket_owner(self.expected_owner.clone()).send().await;
        result.map(|_| ()).map_err(|e| self.write_error("DeleteObject", key, e))
    }
}

#[async_trait]
impl ObjectLookup for S3Store {
    async fn identify(&self, key: &str) -> Result<Option<Identity>> {
        Ok(self.head(key, false).await?.map(|head| Identity { sha256: head.sha256 }))
    }

    async fn describe(&self, key: &str) -> Result<Option<Description>> {
        let request = self.client.head_object().bucket(&self.bucket).key(key);
        match request.set_expected_bucket_owner(self.expected_owner.clone()).send().await {
            Ok(head) => Ok(Some(Description {
                content_type: head.content_type().map(str::to_owned),
                metadata: head
                    .metadata()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })),
            Err(err) if status(&err) == Some(404) => Ok(None),
            Err(err) => Err(sdk_error("HeadObject", key, err)),
        }
    }
}

#[async_trait]
impl ObjectLister for S3Store {
    async fn list(&self, prefix: &str, delimiter: Option<&str>, limit: u32, token: Option<&str>) -> Result<Listing> {
        let request = self.client.list_objects_v2().set_delimiter(delimiter.map(str::to_owned));
        self.list_page(request.set_continuation_token(token.map(str::to_owned)), prefix, limit).await
    }

    async fn list_after(&self, prefix: &str, limit: u32, start_after: Option<&str>) -> Result<Listing> {
        let request = self.client.list_objects_v2().set_start_after(start_after.map(str::to_owned));
        self.list_page(request, prefix, limit).await
    }
}

impl S3Store {
    async fn list_page(
        &self,
        request: aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder,
        prefix: &str,
        limit: u32,
    ) -> Result<Listing> {
        let page = request
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(limit as i32)
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("InvalidArgument") => IngestError::InvalidRequest("next_token is not valid".into()),
                _ => self.write_error("ListObjectsV2", prefix, e),
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
}

impl S3Store {
    /// The SDK's presigned GET of `key`, signed at `start`. It signs no expected owner: a
    /// browser follows these URLs and cannot send the header, so S3 would refuse them. The
    /// owner is checked on the function's own request (the HEAD or listing) before it signs.
    async fn presign_get_at(&self, key: &str, ttl: Duration, start: SystemTime) -> Result<Presigned> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(ttl, start)?)
            .await
            .map_err(|e| sdk_error("presign GetObject", key, e))?;
        Ok(to_presigned(&presigned))
    }

    /// How the URLs after `first` (the SDK's, for `key`) are signed locally; `None` sends
    /// them to the SDK too.
    async fn template(&self, first: &Presigned, key: &str) -> Option<presign::Template> {
        let credentials = self.credentials.get(self.now()).await?;
        let template = presign::Template::from_first(first, key, &credentials);
        if template.is_none() {
            warn!(url_base = %first.url.split('?').next().unwrap_or_default(), "presigned URL of an unexpected form; the SDK signs every URL");
        }
        template
    }

    /// Now, by the client's clock (a test's may be fixed).
    fn now(&self) -> SystemTime {
        self.client.config().time_source().map_or_else(SystemTime::now, |clock| clock.now())
    }
}

#[async_trait]
impl Presigner for S3Store {
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<Presigned> {
        self.presign_get_at(key, ttl, self.now()).await
    }

    /// The SDK signs the first key; the rest are signed locally in its form, all at one time.
    async fn presign_gets(&self, keys: &[String], ttl: Duration) -> Result<Vec<Presigned>> {
        let Some((first_key, rest)) = keys.split_first() else { return Ok(Vec::new()) };
        let start = self.now();
        let first = self.presign_get_at(first_key, ttl, start).await?;
        let template = if rest.is_empty() { None } else { self.template(&first, first_key).await };
        let mut all = Vec::with_capacity(keys.len());
        all.push(first);
        for key in rest {
            let local = template.as_ref().and_then(|t| t.sign(key, ttl, start));
            all.push(match local {
                Some(presigned) => presigned,
                None => self.presign_get_at(key, ttl, start).await?,
            });
        }
        Ok(all)
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
            .presigned(presigning(ttl, self.now())?)
            .await
            .map_err(|e| sdk_error("presign PutObject", key, e))?;
        Ok(to_presigned(&presigned))
    }
}

/// Clean-ups running on their own (aborts of uploads whose writer was dropped), counted so
/// that an invocation can wait for them before it answers.
#[derive(Debug, Clone)]
struct Cleanups(Arc<watch::Sender<usize>>);

impl Default for Cleanups {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Cleanups {
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.0.send_modify(|n| *n += 1);
        let count = self.0.clone();
        tokio::spawn(async move {
            work.await;
            count.send_modify(|n| *n -= 1);
        });
    }

    async fn wait(&self, limit: Duration) {
        let mut running = self.0.subscribe();
        if tokio::time::timeout(limit, running.wait_for(|n| *n == 0)).await.is_err() {
            warn!(running = *running.borrow(), "clean-ups still running when the invocation answered");
        }
    }
}

/// Runs a conditional write again while S3 answers 409 ConditionalRequestConflict: another
/// writer holds the key, so give it time to finish before asking again.
async fn retry_conflicts<E, F, Fut>(mut attempt: F) -> std::result::Result<(), SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<(), SdkError<E, HttpResponse>>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(err) if is_conflict(&err) && tries < CONFLICT_TRIES => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}

/// Whether `gate` (if any) lets the bytes with this digest be written.
async fn admitted(gate: Option<&dyn Gate>, sha256_hex: &str) -> Result<bool> {
    match gate {
        Some(gate) => gate.admit(sha256_hex).await,
        None => Ok(true),
    }
}

fn metadata_with_digest(
    metadata: &BTreeMap<String, String>,
    sha256_hex: &str,
) -> std::collections::HashMap<String, String> {
    let mut all: std::collections::HashMap<String, String> = metadata.clone().into_iter().collect();
    all.insert("sha256".to_owned(), sha256_hex.to_owned());
    all
}

fn base64_of_hex(hex_digest: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_digest).unwrap_or_default())
}

fn presigning(ttl: Duration, start: SystemTime) -> Result<PresigningConfig> {
    let config = PresigningConfig::builder().start_time(start).expires_in(ttl).build();
    config.map_err(|e| IngestError::storage_from(format!("cannot presign for {ttl:?}"), e))
}

/// The URL and the headers it signed. The SDK's request may carry others (the recursion
/// detection's `x-amzn-trace-id` inside Lambda), which are not the client's to send.
fn to_presigned(request: &PresignedRequest) -> Presigned {
    let url = request.uri().to_owned();
    let signed = signed_headers(&url);
    let headers = request
        .headers()
        .filter(|(name, _)| signed.iter().any(|s| s.eq_ignore_ascii_case(name)))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Presigned { url, headers }
}

/// The header names listed in a presigned URL's `X-Amz-SignedHeaders`, less `host`, which the
/// client's HTTP library sends from the URL itself.
fn signed_headers(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else { return Vec::new() };
    let list = parsed.query_pairs().find(|(k, _)| k == "X-Amz-SignedHeaders").map(|(_, v)| v.into_owned());
    list.unwrap_or_default().split(';').filter(|h| !h.is_empty() && *h != "host").map(str::to_owned).collect()
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

fn is_precondition_failed<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    status(err) == Some(412) || err.code() == Some("PreconditionFailed")
}

fn is_conflict<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    status(err) == Some(409) || err.code() == Some("ConditionalRequestConflict")
}

fn sdk_error<E>(operation: &str, target: &str, err: SdkError<E, HttpResponse>) -> IngestError
where
    E: std::error::Error + Send + Sync + 'static,
{
    IngestError::storage_from(format!("{operation} {target} failed"), err)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use aws_sdk_s3::config::{Credentials, Region};

    use super::{S3Store, signed_headers};

    const HOSTILE: [&str; 7] =
        ["a b.png", "\"><img src=x onerror=alert(1)>.png", "a+b", "ü.png", "x!1x1!-", "%41", "d/./..//e"];

    fn store(endpoint: &str, token: Option<&str>, vars: &[(&str, &str)]) -> S3Store {
        let credentials = Credentials::new("AKID", "SECRET", token.map(str::to_owned), None, "test");
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(credentials))
            .build();
        let vars: std::collections::HashMap<&str, &str> =
            [("BUCKET_NAME", "pics")].into_iter().chain(vars.iter().copied()).collect();
        S3Store::new(&sdk, &crate::config::Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap())
    }

    /// The local signer takes every form here, and signs each key exactly as the SDK does.
    #[tokio::test]
    async fn local_signing_reproduces_the_sdk_for_every_form() {
        let cases = [
            store("http://127.0.0.1:9000", None, &[("S3_FORCE_PATH_STYLE", "true")]),
            store("http://127.0.0.1:9000", None, &[]),
            store("https://s3.example", None, &[("EXPECTED_BUCKET_OWNER", "111122223333")]),
            store("http://127.0.0.1:9000", Some("tok+en/="), &[("S3_FORCE_PATH_STYLE", "true")]),
        ];
        let (ttl, start) = (Duration::from_secs(300), SystemTime::now());
        for store in cases {
            let first = store.presign_get_at("first.png", ttl, start).await.unwrap();
            let template = store.template(&first, "first.png").await.expect("a template");
            for key in HOSTILE {
                let sdk = store.presign_get_at(key, ttl, start).await.unwrap();
                assert_eq!(template.sign(key, ttl, start), Some(sdk), "{key}");
            }
        }
    }

    /// A browser opens presigned GETs and sends no headers of its own: with an expected owner
    /// set, the URL still signs `host` alone. An upload ticket's client sends the listed headers,
    /// so its PUT keeps the owner.
    #[tokio::test]
    async fn a_presigned_get_signs_no_header_a_browser_would_not_send() {
        let store = store("https://s3.example", None, &[("EXPECTED_BUCKET_OWNER", "111122223333")]);
        let get = store.presign_get_at("k.png", Duration::from_secs(60), SystemTime::now()).await.unwrap();
        assert!(get.url.contains("X-Amz-SignedHeaders=host&"), "{}", get.url);
        assert!(get.headers.is_empty(), "{:?}", get.headers);
        let put = crate::store::Presigner::presign_put(&store, "k.png", "image/png", 3, Duration::from_secs(60));
        let put = put.await.unwrap();
        assert!(put.headers.iter().any(|(k, v)| k == "x-amz-expected-bucket-owner" && v == "111122223333"));
    }

    #[tokio::test]
    async fn a_url_of_another_form_gets_no_template() {
        let store = store("http://127.0.0.1:9000", None, &[]);
        let first = store.presign_get_at("k.png", Duration::from_secs(60), SystemTime::now()).await.unwrap();
        assert!(store.template(&first, "other.png").await.is_none(), "the key is not where it was put");
        let mut odd = first.clone();
        odd.url.push_str("&X-Amz-Unknown=1");
        assert!(store.template(&odd, "k.png").await.is_none());
        let mut unsigned_header = first.clone();
        unsigned_header.headers.push(("x-amz-extra".into(), "1".into()));
        assert!(store.template(&unsigned_header, "k.png").await.is_none());
        let mut unscoped = first.clone();
        unscoped.url = unscoped.url.replace("X-Amz-Credential", "X-Credential");
        assert!(store.template(&unscoped, "k.png").await.is_none());
    }

    #[test]
    fn signed_headers_are_read_from_the_url_without_host() {
        let url = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match&X-Amz-Signature=ab";
        assert_eq!(signed_headers(url), ["content-length", "content-type", "if-none-match"]);
        assert!(signed_headers("https://b.s3.amazonaws.com/k?X-Amz-Signature=ab").is_empty());
    }
}
