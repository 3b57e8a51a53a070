//! Reading a staged object back: ranged GetObjects, the first streamed and the rest fetched a
//! few ahead, all pinned to the first one's ETag.
//!
//! One GetObject stream is as fast as one connection: S3 serves about 100 MB/s per
//! connection, and its performance guide recommends byte-range reads in parallel for large
//! objects. Fetching ahead also lets the network work while the function hashes and checks
//! the range before, with the memory held bounded by [`RANGES_AHEAD`] ranges.

use std::ops::Range;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use bytes::Bytes;
use futures::{FutureExt, StreamExt, TryStreamExt, stream};

use super::{is_precondition_failed, status};
use crate::body::ByteStream;
use crate::error::{IngestError, Result};

/// Bytes per ranged read: small enough that [`RANGES_AHEAD`] of them stay well within the
/// memory of a 128 MB function, large enough that a request's latency is a small share of it.
pub(super) const RANGE_BYTES: u64 = 4 * 1024 * 1024;
/// Ranged reads in flight beyond the one being consumed.
pub(super) const RANGES_AHEAD: usize = 4;

/// Where a read starts: the object's size and version, and its first range as a stream.
pub(super) struct FirstRange {
    pub size: u64,
    /// The ETag every later range (and the promotion's copy) must match.
    pub etag: Option<String>,
    pub body: aws_sdk_s3::primitives::ByteStream,
}

/// Which bytes one request asks for, and of which version of the object.
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
        let size = object
            .content_range()
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse().ok())
            .unwrap_or_else(|| object.content_length().unwrap_or_default().max(0) as u64);
        Ok(Some(FirstRange { size, etag: object.e_tag().map(str::to_owned), body: object.body }))
    }

    /// Every byte of the object: `first` streamed, then the remaining ranges, each fetched on a
    /// task of its own up to [`RANGES_AHEAD`] ahead of the consumer. Dropping the stream
    /// cancels the reads in flight, so a type refused from the first bytes reads no further.
    pub fn stream(self, first: FirstRange) -> ByteStream {
        let key = self.key.clone();
        let head = chunks(first.body, key.clone());
        let (size, etag) = (first.size, first.etag);
        let starts = (RANGE_BYTES..size).step_by(RANGE_BYTES as usize);
        let rest = stream::iter(starts)
            .map(move |start| {
                let (target, etag) = (self.clone(), etag.clone());
                let range = start..(start + RANGE_BYTES).min(size);
                let (read, handle) = async move { target.whole_range(range, etag.as_deref()).await }.remote_handle();
                tokio::spawn(read);
                handle
            })
            .buffered(RANGES_AHEAD)
            .map_ok(|segments| stream::iter(segments.into_iter().map(Ok)))
            .try_flatten();
        head.chain(rest).fuse().boxed()
    }

    /// One range, held whole; fails if the object is no longer the version first read.
    async fn whole_range(&self, range: Range<u64>, etag: Option<&str>) -> Result<Vec<Bytes>> {
        let failed = |what: &str| format!("reading {} (bytes {}..{}) {what}", self.key, range.start, range.end);
        let object = match self.get(Some(range.clone()), etag).await {
            Ok(object) => object,
            Err(err) if is_precondition_failed(&err) => {
                return Err(IngestError::storage(failed("failed: the object changed while it was read")));
            }
            Err(err) => return Err(IngestError::storage_from(failed("failed"), err)),
        };
        let bytes = object.body.collect().await.map_err(|e| IngestError::storage_from(failed("failed"), e))?;
        let segments: Vec<Bytes> = bytes.into_segments().collect();
        let got: usize = segments.iter().map(Bytes::len).sum();
        if got as u64 != range.end - range.start {
            return Err(IngestError::storage(failed(&format!("returned {got} bytes"))));
        }
        Ok(segments)
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
