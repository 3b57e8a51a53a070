//! Object bytes as the domain hands them around: held whole with their digest, or streamed.

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Result};

/// A body read chunk by chunk; an `Err` ends it.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// Bytes in hand with their SHA-256, computed once.
#[derive(Debug, Clone)]
pub struct Blob {
    bytes: Bytes,
    sha256_hex: String,
}

impl Blob {
    /// Hashes `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        let sha256_hex = hex::encode(Sha256::digest(&bytes));
        Self { bytes, sha256_hex }
    }

    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Lowercase hex SHA-256 of the bytes.
    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// What a store is asked to write.
pub enum Body {
    /// Bytes in hand.
    Whole(Blob),
    /// Bytes still arriving; the store hashes and counts them on the way.
    Stream(ByteStream),
    /// Bytes already in the bucket, verified: the store copies them without reading them.
    Staged(Staged),
}

/// An object in the bucket's staging area whose bytes were read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// Its key, under `UPLOAD_PREFIX`.
    pub key: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256_hex: String,
    /// Its size in bytes.
    pub size: u64,
    /// The version that was read and hashed (S3's ETag), which the copy must match.
    pub version: Option<String>,
}

/// The first bytes of a stream, and the rest of it if it goes on.
pub struct Head {
    /// Up to the requested number of bytes.
    pub bytes: Bytes,
    /// The remainder, `None` when `bytes` is the whole body.
    pub rest: Option<ByteStream>,
}

impl Head {
    /// The whole body again, head first.
    pub fn into_stream(self) -> ByteStream {
        let head = stream::once(async move { Ok(self.bytes) });
        match self.rest {
            Some(rest) => head.chain(rest).boxed(),
            None => head.boxed(),
        }
    }
}

/// Reads up to `max` bytes into one buffer (never grown past `max`), then one more chunk to
/// learn whether the body goes on.
pub async fn read_head(mut body: ByteStream, max: usize) -> Result<Head> {
    let mut filled = BytesMut::new();
    while let Some(chunk) = body.try_next().await? {
        let room = max - filled.len();
        if chunk.len() > room {
            extend_capped(&mut filled, &chunk[..room], max);
            let pending = chunk.slice(room..);
            let rest = stream::once(async move { Ok(pending) }).chain(body).boxed();
            return Ok(Head { bytes: filled.freeze(), rest: Some(rest) });
        }
        extend_capped(&mut filled, &chunk, max);
        if filled.len() == max {
            return Ok(match body.try_next().await? {
                Some(next) => {
                    let rest = stream::once(async move { Ok(next) }).chain(body).boxed();
                    Head { bytes: filled.freeze(), rest: Some(rest) }
                }
                None => Head { bytes: filled.freeze(), rest: None },
            });
        }
    }
    Ok(Head { bytes: filled.freeze(), rest: None })
}

/// Appends, growing the buffer by doubling but never past `max` (a plain extend would double
/// an 8 MiB buffer to 16 MiB for the last few bytes).
pub fn extend_capped(buffer: &mut BytesMut, data: &[u8], max: usize) {
    let needed = buffer.len() + data.len();
    if needed > buffer.capacity() {
        let capacity = (buffer.capacity() * 2).clamp(needed, max.max(needed));
        let mut grown = BytesMut::with_capacity(capacity);
        grown.extend_from_slice(buffer);
        *buffer = grown;
    }
    buffer.extend_from_slice(data);
}

/// Ends the stream with `too_large` as soon as it passes `limit` bytes.
pub fn limited(body: ByteStream, limit: u64) -> ByteStream {
    stream::unfold(Some((body, 0u64)), move |state| async move {
        let (mut body, seen) = state?;
        match body.next().await? {
            Ok(chunk) => {
                let seen = seen + chunk.len() as u64;
                if seen > limit {
                    Some((Err(IngestError::TooLarge { size: seen, limit }), None))
                } else {
                    Some((Ok(chunk), Some((body, seen))))
                }
            }
            Err(err) => Some((Err(err), None)),
        }
    })
    .fuse()
    .boxed()
}

/// Ends the stream with `fetch_failed` unless its bytes hash to `sha256_hex`: for a body
/// read again, which must be the one hashed before.
pub fn verified(body: ByteStream, sha256_hex: String) -> ByteStream {
    stream::unfold(Some((body, Sha256::new())), move |state| {
        let expected = sha256_hex.clone();
        async move {
            let (mut body, mut hasher) = state?;
            match body.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    Some((Ok(chunk), Some((body, hasher))))
                }
                Some(Err(err)) => Some((Err(err), None)),
                None if hex::encode(hasher.finalize()) == expected => None,
                None => Some((Err(IngestError::fetch_failed("the content changed between two reads of it")), None)),
            }
        }
    })
    .fuse()
    .boxed()
}

/// Reads the whole body and returns its SHA-256 hex and its size.
pub async fn digest(mut body: ByteStream) -> Result<(String, u64)> {
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    while let Some(chunk) = body.try_next().await? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}
