//! Where bytes leave: the object store boundary and its S3 adapter.

mod bucket_check;
mod s3;

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;

pub use bucket_check::{BucketCheck, RECHECK_AFTER};
pub use s3::S3Store;

use crate::error::Result;

/// An object to create only if its key is free.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// Full object key.
    pub key: String,
    /// The whole body.
    pub body: Bytes,
    /// The sniffed content type.
    pub content_type: String,
    /// Lowercase hex sha256 of `body`, sent as a checksum and kept as metadata.
    pub sha256_hex: String,
    /// User metadata from the request.
    pub metadata: BTreeMap<String, String>,
}

/// What a conditional create found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was written.
    Created,
    /// Something already lives at that key; nothing was written.
    KeyTaken,
}

/// What tells one stored object's bytes from another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sha256` metadata, if the object has it.
    pub sha256: Option<String>,
    /// The ETag, quotes removed (for a multipart object, `{md5 of part md5s}-{parts}`).
    pub etag: String,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// 1-based part number.
    pub number: i32,
    /// The part's ETag.
    pub etag: String,
    /// Base64 SHA-256 of the part, verified by S3.
    pub checksum_sha256: String,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedObject {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// RFC 3339, UTC.
    pub last_modified: String,
    /// The ETag, quotes removed.
    pub etag: String,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects directly on this page.
    pub objects: Vec<ListedObject>,
    /// The next level of the tree, when listed with a delimiter.
    pub prefixes: Vec<String>,
    /// Where the next page starts, if there is one.
    pub next_token: Option<String>,
}

/// A presigned request a client sends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The URL, signature included.
    pub url: String,
    /// Headers the client must send exactly as given.
    pub headers: Vec<(String, String)>,
}

/// The storage capability the ingest core needs.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The bucket objects go to, for responses and logs.
    fn bucket(&self) -> &str;

    /// Fails with `bucket_not_found` / `bucket_access_denied` unless the bucket is usable.
    /// Cached per execution environment.
    async fn ensure_bucket(&self) -> Result<()>;

    /// Writes `object` unless its key exists (`If-None-Match: *`), with a verified checksum.
    async fn put_if_absent(&self, object: &NewObject) -> Result<PutOutcome>;

    /// What identifies the object at `key`, or `None` if there is none.
    async fn identify(&self, key: &str) -> Result<Option<Identity>>;

    /// Starts a multipart upload whose parts carry SHA-256 checksums.
    async fn start_upload(&self, key: &str, content_type: &str, metadata: &BTreeMap<String, String>) -> Result<String>;

    /// Uploads one part (at least 5 MiB unless it is the last).
    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Bytes) -> Result<UploadedPart>;

    /// Completes the upload unless the key exists (`If-None-Match: *`).
    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[UploadedPart]) -> Result<PutOutcome>;

    /// Aborts the upload so that no parts are left behind.
    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()>;

    /// Lists keys under `prefix`, one page of at most `limit`.
    async fn list(&self, prefix: &str, delimiter: Option<&str>, limit: u32, token: Option<&str>) -> Result<Listing>;

    /// A presigned GET for `key`.
    async fn presign_get(&self, key: &str, ttl: std::time::Duration) -> Result<Presigned>;

    /// A presigned conditional PUT for `key` whose content type and length are signed.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        ttl: std::time::Duration,
    ) -> Result<Presigned>;

    /// Adds the `sha256` metadata to an object made by multipart upload, whose digest was only
    /// known at the end (a copy onto itself that keeps the bytes and replaces the metadata).
    async fn record_sha256(&self, object: &NewObject) -> Result<()>;
}
