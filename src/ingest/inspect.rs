//! The image checks every item passes before a byte is stored, whatever its source: the pixel
//! size from the header, the pixel cap, the image's end, and GPS removal.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream;

use crate::body::{ByteStream, Head};
use crate::error::{IngestError, Result};
use crate::image::{Completeness, Facts, check_pixels, read_facts, strip_location};

/// What the checks learnt about an image, kept as metadata and reported when it is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inspected {
    /// Pixel size from the header; `None` for types without one (SVG, non-images).
    pub facts: Option<Facts>,
    /// GPS location was found and removed: the stored bytes differ from the original's.
    pub location_stripped: bool,
    /// The difference hash of its pixels, when it was rendered.
    pub dhash: Option<u64>,
}

impl Inspected {
    /// The metadata entries the function adds for these facts.
    pub fn annotate(&self, metadata: &mut BTreeMap<String, String>) {
        if let Some(facts) = self.facts {
            metadata.insert("width".into(), facts.width.to_string());
            metadata.insert("height".into(), facts.height.to_string());
        }
        if self.location_stripped {
            metadata.insert("location-stripped".into(), "true".into());
        }
        if let Some(dhash) = self.dhash {
            metadata.extend(super::render::dhash_metadata(dhash));
        }
    }

    /// The same facts with the difference hash of the pixels.
    pub fn with_dhash(self, dhash: Option<u64>) -> Self {
        Self { dhash, ..self }
    }
}

/// The image rules of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ImageRules {
    /// `MAX_PIXELS`.
    pub max_pixels: u64,
    /// `STRIP_LOCATION`.
    pub strip_location: bool,
}

impl ImageRules {
    /// Checks a whole object of sniffed type `mime`, and returns the bytes to store: the same,
    /// or with the GPS location removed.
    pub fn whole(&self, mime: &str, bytes: Bytes) -> Result<(Bytes, Inspected)> {
        let facts = self.facts(mime, &bytes)?;
        let mut end = Completeness::new(mime);
        end.update(&bytes);
        end.finish()?;
        let patched = self.strip(mime, bytes)?;
        Ok((patched.bytes, Inspected { facts, location_stripped: patched.removed, dhash: None }))
    }

    /// Checks the head of a streamed object before any byte is stored, and returns the stream to
    /// store: its head stripped of location when asked, and its end checked as it passes, so a
    /// cut-off image ends the stream with an error (and the store aborts the upload).
    pub fn stream(&self, mime: &'static str, head: Head) -> Result<(ByteStream, Inspected)> {
        let facts = self.facts(mime, &head.bytes)?;
        let head_len = head.bytes.len() as u64;
        let patched = self.strip(mime, head.bytes)?;
        // A location block the head did not reach would pass through unpatched: refuse then.
        let exif_within = (self.strip_location && patched.head_ended).then_some(head_len);
        let checked = checked_end(Head { bytes: patched.bytes, rest: head.rest }.into_stream(), mime, exif_within);
        Ok((checked, Inspected { facts, location_stripped: patched.removed, dhash: None }))
    }

    fn facts(&self, mime: &str, head: &[u8]) -> Result<Option<Facts>> {
        let facts = read_facts(mime, head)?;
        if let Some(facts) = &facts {
            check_pixels(facts, self.max_pixels)?;
        }
        Ok(facts)
    }

    /// The bytes with location removed when asked (no copy when they are not shared).
    fn strip(&self, mime: &str, bytes: Bytes) -> Result<Patched> {
        if !self.strip_location {
            return Ok(Patched { bytes, removed: false, head_ended: false });
        }
        let mut owned = bytes.try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        let stripped = strip_location(mime, &mut owned)?;
        Ok(Patched { bytes: owned.freeze(), removed: stripped.removed, head_ended: stripped.head_ended })
    }
}

/// Bytes after [`ImageRules::strip`].
struct Patched {
    bytes: Bytes,
    /// A GPS IFD was removed.
    removed: bool,
    /// The bytes ended before every place the format may keep EXIF.
    head_ended: bool,
}

/// Passes `body` through, feeding every chunk to the format's end check; at the end, a missing
/// end (or EXIF beyond `exif_within` bytes, when given) becomes the stream's last item, an error.
fn checked_end(body: ByteStream, mime: &'static str, exif_within: Option<u64>) -> ByteStream {
    stream::unfold(Some((body, Completeness::new(mime))), move |state| async move {
        let (mut body, mut end) = state?;
        match body.next().await {
            Some(Ok(chunk)) => {
                end.update(&chunk);
                Some((Ok(chunk), Some((body, end))))
            }
            Some(Err(err)) => Some((Err(err), None)),
            None => {
                let beyond = exif_within.is_some_and(|within| end.exif_beyond(within));
                let verdict = end.finish().map_err(IngestError::from).and_then(|()| {
                    if beyond { Err(location_beyond_head(exif_within.unwrap_or_default())) } else { Ok(()) }
                });
                verdict.err().map(|err| (Err(err), None))
            }
        }
    })
    .fuse()
    .boxed()
}

fn location_beyond_head(head_len: u64) -> IngestError {
    IngestError::InvalidImage {
        message: format!(
            "EXIF data lies beyond the first {head_len} bytes, where its location cannot be removed; \
             store it with STRIP_LOCATION=false or move the EXIF block before the image data"
        ),
        source: None,
    }
}
