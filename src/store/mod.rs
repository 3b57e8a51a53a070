//! Where bytes leave: the storage capabilities the domain uses, and their S3 adapter.
//!
//! Each capability is one narrow trait; [`S3Store`] implements them all.

mod bucket_check;
mod s3;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

pub use bucket_check::{BucketCheck, RECHECK_AFTER};
pub use s3::{PART_SIZE, PARTS_IN_FLIGHT, S3Store};

use crate::body::Body;
use crate::error::Result;

/// Where an object goes and what it is stored with; its bytes travel separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Full object key.
    pub key: String,
    /// The sniffed content type.
    pub content_type: String,
    /// User metadata from the request (the store adds `sha256`).
    pub metadata: BTreeMap<String, String>,
    /// Metadata a streamed body gives only at its end (the original's `dhash`).
    pub trailer: Trailer,
}

impl Placement {
    /// An empty object whose key is all it says (the gallery's facts markers).
    pub fn marker(key: String) -> Self {
        let content_type = "application/octet-stream".to_owned();
        Self { key, content_type, metadata: BTreeMap::new(), trailer: Trailer::default() }
    }

    /// The metadata with the trailer's entries, once the body has ended.
    pub fn metadata_now(&self) -> BTreeMap<String, String> {
        let mut all = self.metadata.clone();
        if let Some(late) = self.trailer.0.get() {
            all.extend(late.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        all
    }
}

/// Metadata known only once a stream has been read to its end; set at most once, by the
/// stream, before it ends, so a store reading it after the body sees it.
#[derive(Debug, Clone, Default)]
pub struct Trailer(Arc<OnceLock<BTreeMap<String, String>>>);

impl Trailer {
    /// Sets the entries; a second call is ignored.
    pub fn set(&self, entries: BTreeMap<String, String>) {
        let _ = self.0.set(entries);
    }
}

impl PartialEq for Trailer {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for Trailer {}

/// What a conditional write found at the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The object was written now.
    Created,
    /// The key already held these same bytes; nothing was written.
    Existing,
    /// The key holds other bytes; nothing was written.
    Occupied,
    /// The [`Gate`] turned the bytes away once their digest was known; nothing was written
    /// (a stream's upload was aborted).
    Declined,
}

/// The answer of a write, with the digest and size of the bytes the store saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// What happened at the key.
    pub outcome: WriteOutcome,
    /// Lowercase hex SHA-256 of the body.
    pub sha256_hex: String,
    /// Size of the body in bytes.
    pub size: u64,
}

/// The bucket every capability works on.
#[async_trait]
pub trait Bucket: Send + Sync {
    /// The bucket's name, for responses and logs.
    fn bucket(&self) -> &str;

    /// Fails with `bucket_not_found` / `bucket_access_denied` unless the bucket is usable.
    /// Cached per execution environment.
    async fn ensure_bucket(&self) -> Result<()>;
}

/// Writing objects that must never overwrite another.
#[async_trait]
pub trait ObjectWriter: Bucket {
    /// Writes `body` at `place.key` unless the key exists, with a checksum the server
    /// verifies and the digest kept as `sha256` metadata. A stream is read to its end (or its
    /// first error, which abandons the write and leaves nothing behind); staged bytes are
    /// copied inside the bucket.
    async fn write_if_absent(&self, place: &Placement, body: Body) -> Result<Written>;

    /// Like [`ObjectWriter::write_if_absent`], asking `gate` once the body's digest is known and
    /// before anything is stored (for a stream: after its last byte, before the upload is
    /// completed); a refusal stores nothing and answers [`WriteOutcome::Declined`].
    async fn write_if_admitted(&self, place: &Placement, body: Body, gate: &dyn Gate) -> Result<Written>;

    /// Waits, at most `limit`, for the clean-ups of writes abandoned midway (a write whose
    /// future was dropped at a deadline) so that nothing is left behind when the invocation ends.
    async fn settle(&self, limit: Duration);
}

/// An object's bytes as they are read back.
pub struct StoredBytes {
    /// Its size, as the store reports it.
    pub size: u64,
    /// The bytes, chunk by chunk.
    pub body: crate::body::ByteStream,
    /// The version read (S3's ETag): a promotion copies only this version.
    pub version: Option<String>,
}

/// What verified uploads need from the staging area.
#[async_trait]
pub trait Staging: Bucket {
    /// Reads the object at `key` as a stream; `None` when there is none.
    async fn read(&self, key: &str) -> Result<Option<StoredBytes>>;

    /// Deletes the object at `key`; a missing one is no error.
    async fn discard(&self, key: &str) -> Result<()>;
}

/// Decides, from a body's digest, whether it is written at all.
#[async_trait]
pub trait Gate: Send + Sync {
    /// `false` turns the bytes with this digest away.
    async fn admit(&self, sha256_hex: &str) -> Result<bool>;
}

/// One entry of the content index, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The key it names; empty when the entry could not be read as one (it is then replaced).
    pub key: String,
    /// The version read (S3's ETag), which a replacement must match.
    pub version: String,
}

/// The content index's entries: small objects, each naming the key that holds some bytes.
#[async_trait]
pub trait ContentIndex: Bucket {
    /// The entry at `entry_key`, `None` if there is none.
    async fn read_entry(&self, entry_key: &str) -> Result<Option<IndexEntry>>;

    /// Writes the entry at `entry_key` naming `key`: only if there is none (`replacing` is
    /// `None`), or only over that version. `false` when another writer got there first.
    async fn write_entry(&self, entry_key: &str, key: &str, replacing: Option<&str>) -> Result<bool>;

    /// Deletes the object at `key` only while it holds the bytes with `sha256_hex` (the version
    /// looked at, and no other): the copy a writer stored before it lost the claim.
    async fn discard_copy(&self, key: &str, sha256_hex: &str) -> Result<()>;
}

/// What the ingest core needs: writing, the staging area, and the content index with the
/// look at the key an entry names.
pub trait IngestStore: ObjectWriter + Staging + ContentIndex + ObjectLookup {}

impl<T: ObjectWriter + Staging + ContentIndex + ObjectLookup> IngestStore for T {}

/// What tells one stored object's bytes from another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sha256` metadata, if the object has it.
    pub sha256: Option<String>,
}

/// What an object was stored with, as a HEAD gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Its content type, as stored.
    pub content_type: Option<String>,
    /// Its user metadata (`sha256`, `width`, `height`, ...).
    pub metadata: BTreeMap<String, String>,
}

/// Looking up one object.
#[async_trait]
pub trait ObjectLookup: Bucket {
    /// What identifies the object at `key`, or `None` if there is none.
    async fn identify(&self, key: &str) -> Result<Option<Identity>>;

    /// Its content type and metadata, or `None` if there is none.
    async fn describe(&self, key: &str) -> Result<Option<Description>>;
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

/// Listing stored keys.
#[async_trait]
pub trait ObjectLister: Bucket {
    /// Lists keys under `prefix`, one page of at most `limit`.
    async fn list(&self, prefix: &str, delimiter: Option<&str>, limit: u32, token: Option<&str>) -> Result<Listing>;

    /// Lists keys under `prefix` that sort after `start_after`, one page of at most `limit`.
    async fn list_after(&self, prefix: &str, limit: u32, start_after: Option<&str>) -> Result<Listing>;
}

/// A presigned request a client sends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// The URL, signature included.
    pub url: String,
    /// Headers the client must send exactly as given.
    pub headers: Vec<(String, String)>,
}

/// Signing requests that clients send to the bucket themselves.
#[async_trait]
pub trait Presigner: Bucket {
    /// A presigned GET for `key`.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<Presigned>;

    /// Presigned GETs for `keys`, in their order, as [`Presigner::presign_get`] gives them but
    /// made for a whole page at once (S3 signs all but the first without the SDK, which costs
    /// several times as much per URL).
    async fn presign_gets(&self, keys: &[String], ttl: Duration) -> Result<Vec<Presigned>> {
        let mut all = Vec::with_capacity(keys.len());
        for key in keys {
            all.push(self.presign_get(key, ttl).await?);
        }
        Ok(all)
    }

    /// A presigned conditional PUT for `key` whose content type and length are signed.
    async fn presign_put(&self, key: &str, content_type: &str, length: u64, ttl: Duration) -> Result<Presigned>;
}

/// What the read paths (listing, downloads, upload tickets) need.
pub trait CatalogStore: ObjectLister + ObjectLookup + Presigner {}

impl<T: ObjectLister + ObjectLookup + Presigner> CatalogStore for T {}

/// What the gallery needs: the read paths, and writing the facts markers it repairs.
pub trait GalleryStore: CatalogStore + ObjectWriter {}

impl<T: CatalogStore + ObjectWriter> GalleryStore for T {}
