//! URL items: a body that fits in one part is held and stored like inline data; a larger one
//! is streamed to the store, which never holds more than its parts in flight.

use percent_encoding::percent_decode_str;
use url::Url;

use super::{Ingestor, Origin, StoredObject, Target, check_size, dhash, outcome};
use crate::body::{Body, digest, limited, read_head, verified};
use crate::error::{IngestError, Result};
use crate::key;
use crate::metrics::Record;
use crate::store::{PART_SIZE, Trailer};

impl Ingestor {
    pub(super) async fn store_url(&self, url: Url, target: Target) -> Result<StoredObject> {
        let started = std::time::Instant::now();
        let fetched = self.fetcher.fetch(&url).await;
        Record::plain().millis("FetchLatency", started.elapsed()).emit();
        let fetched = fetched?;
        if let Some(length) = fetched.content_length {
            check_size(length, self.rules.max_object_bytes)?;
        }
        let wanted_name = target.wanted_name.clone().or(fetched.file_name).or_else(|| last_segment(&url));
        let target = Target { wanted_name, ..target };
        let head = read_head(limited(fetched.body, self.rules.max_object_bytes), PART_SIZE).await?;
        if head.rest.is_none() {
            return self.store_held(head.bytes, target).await;
        }
        let sniffed = self.sniff_allowed(&head.bytes, target.declared_type.as_deref())?;
        // Facts and the pixel cap from the head, before a byte is stored; the end as it passes.
        let (body, image) = self.rules.image.stream(sniffed.mime, head)?;
        let target = Target { image, ..target };
        let _stream = self.streams.acquire().await.map_err(|_| IngestError::storage("shutting down"))?;
        match target.wanted_name.as_deref().and_then(|w| key::usable_name(w, &sniffed)) {
            Some(name) => {
                // Rendered as it streams; the dhash reaches the metadata written at the end.
                let trailer = Trailer::default();
                let (body, pending) = self.tap(sniffed.mime, body, Some(trailer.clone()));
                let target = Target { trailer, ..target };
                let stored = self.write(&target, &sniffed, &name, Body::Stream(body), Origin::Url(url)).await?;
                self.finish(stored, outcome(pending).await?).await
            }
            None => {
                // The name is the digest, known only at the end: hash (and render) once, then write.
                let (body, pending) = self.tap(sniffed.mime, body, None);
                let (sha256_hex, size) = digest(body).await?;
                let outcome = outcome(pending).await?;
                let target = Target { image: target.image.with_dhash(dhash(&outcome)), ..target };
                let name = key::file_name(None, &sniffed, &sha256_hex);
                // With DEDUPE, bytes stored elsewhere are not fetched again.
                let claim = self.claim(&target, &sniffed, &name);
                let item = (&target, &sniffed, name.as_str());
                if let Some(duplicate) = self.held_elsewhere(claim.as_ref(), item, &sha256_hex, size).await? {
                    return Ok(duplicate);
                }
                let body = self.fetch_again(&url, sniffed.mime, sha256_hex).await?;
                let stored =
                    self.write_claimed(&target, &sniffed, &name, body, Origin::Url(url), claim.as_ref()).await?;
                self.finish(stored, outcome).await
            }
        }
    }

    /// The URL's body again, checked and stripped as the first time (its type is `mime`), and
    /// refused unless the result hashes to `sha256_hex`.
    pub(super) async fn fetch_again(&self, url: &Url, mime: &'static str, sha256_hex: String) -> Result<Body> {
        let body = limited(self.fetcher.fetch(url).await?.body, self.rules.max_object_bytes);
        let (body, _) = self.rules.image.stream(mime, read_head(body, PART_SIZE).await?)?;
        Ok(Body::Stream(verified(body, sha256_hex)))
    }
}

/// The URL's last path segment, percent-decoded, if it has one.
fn last_segment(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let decoded = percent_decode_str(segment).decode_utf8_lossy().into_owned();
    (!decoded.is_empty()).then_some(decoded)
}
