//! Reading a staged object back: ranged GetObjects, the first streamed and the rest fetched a
//! few ahead, all pinned to the first one's ETag.
//!
//! One GetObject stream is as fast as one connection; S3's performance guide recommends
//! byte-range fetches over concurrent connections for a higher aggregate throughput. Fetching
//! ahead also lets the network work while the function hashes and checks the range before,
//! with the memory held bounded by [`RANGES_AHEAD`] ranges.

use std::ops::Range;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use bytes::{Bytes, BytesMut};
use futures::{FutureExt, StreamExt, stream};

use super::{is_precondition_failed, status};
use crate::body::ByteStream;
use crate::error::{IngestError, Result};

/// Bytes per ranged read. The guide's typical sizes are 8 and 16 MB; half of the smaller keeps
/// the ranges held (16 MiB) small beside a 128 MB function's memory.
pub(super) const RANGE_BYTES: u64 = 4 * 1024 * 1024;
/// Ranged reads in flight beyond the one being consumed.
pub(super) const RANGES_AHEAD: usize = 3;

/// Where a read starts: the object's size and version, and its first range as a stream.
pub(super) struct FirstRange {
    pub size: u64,
    /// Bytes in `body`: the first range, or the whole object from a server that ignored it.
    pub len: u64,
    /// The ETag every later range (and the promotion's copy) must match.
    pub etag: Option<String>,
    pub body: aws_sdk_s3::primitives::ByteStream,
}

/// The object a read is of.
#[derive(Clone)]
pub(super) struct ReadTarget {
    pub client: Client,
    pub bucket: String,
    pub key: String,
    pub expected_owner: Option<String>,
}

impl ReadTarget {
    async fn get(
        &self,
        range: Option<Range<u64>>,
        etag: Option<&str>,
    ) -> std::result::Result<GetObjectOutput, SdkError<GetObjectError, HttpResponse>> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end - 1)))
            .set_if_match(etag.map(str::to_owned))
            .set_expected_bucket_owner(self.expected_owner.clone())
            .send()
            .await
    }

    /// The object's first range; `Ok(None)` when there is no object.
    pub async fn first(&self) -> std::result::Result<Option<FirstRange>, SdkError<GetObjectError, HttpResponse>> {
        let object = match self.get(Some(0..RANGE_BYTES), None).await {
            Ok(object) => object,
            Err(err) if status(&err) == Some(404) => return Ok(None),
            // An empty object has no byte 0 to range over.
            Err(err) if status(&err) == Some(416) => match self.get(None, None).await {
                Ok(object) => object,
                Err(err) if status(&err) == Some(404) => return Ok(None),
                Err(err) => return Err(err),
            },
            Err(err) => return Err(err),
        };
        let len = object.content_length().unwrap_or_default().max(0) as u64;
        let size = object
            .content_range()
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse().ok())
            .unwrap_or(len);
        Ok(Some(FirstRange { size, len, etag: object.e_tag().map(str::to_owned), body: object.body }))
    }

    /// Every byte of the object: `first` streamed, then the remaining ranges, each fetched on a
    /// task of its own up to [`RANGES_AHEAD`] ahead of the consumer. Dropping the stream
    /// cancels the reads in flight, so a type refused from the first bytes reads no further.
    pub fn stream(self, first: FirstRange) -> ByteStream {
        let head = chunks(first.body, self.key.clone());
        let (size, etag) = (first.size, first.etag);
        let starts = (first.len..size).step_by(RANGE_BYTES as usize);
        let rest = stream::iter(starts)
            .map(move |start| {
                let (target, etag) = (self.clone(), etag.clone());
                let range = start..(start + RANGE_BYTES).min(size);
                let (read, handle) = async move { target.whole_range(range, etag.as_deref()).await }.remote_handle();
                tokio::spawn(read);
                handle
            })
            .buffered(RANGES_AHEAD);
        head.chain(rest).fuse().boxed()
    }

    /// One range, held whole; fails if the object is no longer the version first read.
    async fn whole_range(&self, range: Range<u64>, etag: Option<&str>) -> Result<Bytes> {
        let failed = |what: &str| format!("reading {} (bytes {}..{}) {what}", self.key, range.start, range.end);
        let object = match self.get(Some(range.clone()), etag).await {
            Ok(object) => object,
            Err(err) if is_precondition_failed(&err) => {
                return Err(IngestError::storage(failed("failed: the object changed while it was read")));
            }
            Err(err) => return Err(IngestError::storage_from(failed("failed"), err)),
        };
        // Copied into one buffer of the range's size as it arrives: each chunk the connection
        // hands over keeps its whole read buffer alive, about twice the data when held.
        let expected = range.end - range.start;
        let mut bytes = BytesMut::with_capacity(expected as usize);
        let mut body = object.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| IngestError::storage_from(failed("failed"), e))? {
            if (bytes.len() + chunk.len()) as u64 > expected {
                return Err(IngestError::storage(failed("returned more bytes than asked for")));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() as u64 != expected {
            return Err(IngestError::storage(failed(&format!("returned {} bytes", bytes.len()))));
        }
        Ok(bytes.freeze())
    }
}

/// An SDK body as the ingest path's stream of chunks.
fn chunks(body: aws_sdk_s3::primitives::ByteStream, key: String) -> ByteStream {
    stream::unfold(Some((body, key)), |state| async move {
        let (mut body, key) = state?;
        match body.try_next().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some((body, key)))),
            Ok(None) => None,
            Err(err) => Some((Err(IngestError::storage_from(format!("reading {key} failed"), err)), None)),
        }
    })
    .boxed()
}
