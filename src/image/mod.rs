//! What an image is, from its bytes alone: pixel size from the header, whether the whole image
//! arrived, and lossless removal of its GPS location.
//!
//! Pure and streaming-friendly: nothing here does I/O, decodes pixels or allocates by a size an
//! image declares.
//! - [`read_facts`] reads width and height from the first bytes (callers pass at least the first
//!   8 MiB, or the whole object when it is smaller); [`check_pixels`] applies `MAX_PIXELS`.
//! - [`Completeness`] is fed the object chunk by chunk and says at the end whether the image
//!   reached the end its format marks (O(1) memory whatever the object's size).
//! - [`strip_location`] removes the GPS IFD from EXIF in place, without changing the length, so a
//!   stream can be patched in its first part and the rest passed through.
//!
//! Every function takes the sniffed MIME type (`infer`'s strings); [`Format::from_mime`] says
//! which ones are raster images with a pixel size.

mod complete;
mod exif;
mod facts;
mod location;

pub use complete::Completeness;
pub(crate) use exif::orientation as exif_orientation;
pub use facts::{Facts, check_pixels, read_facts};
pub use location::{Stripped, strip_location};

/// The raster formats whose facts are read, by sniffed MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    WebP,
    Avif,
    Heif,
    Tiff,
    Bmp,
    Ico,
    Jxl,
}

/// MIME types as `infer` 0.19 returns them, plus the common aliases a declared type may carry.
const MIME_TYPES: &[(&str, Format)] = &[
    ("image/png", Format::Png),
    ("image/apng", Format::Png),
    ("image/jpeg", Format::Jpeg),
    ("image/gif", Format::Gif),
    ("image/webp", Format::WebP),
    ("image/avif", Format::Avif),
    ("image/heif", Format::Heif),
    ("image/heic", Format::Heif),
    ("image/heif-sequence", Format::Heif),
    ("image/heic-sequence", Format::Heif),
    ("image/tiff", Format::Tiff),
    ("image/bmp", Format::Bmp),
    ("image/x-ms-bmp", Format::Bmp),
    ("image/vnd.microsoft.icon", Format::Ico),
    ("image/x-icon", Format::Ico),
    ("image/jxl", Format::Jxl),
];

impl Format {
    /// The format of a sniffed MIME type (case-insensitive, parameters ignored); `None` for types
    /// with no pixel size (SVG, non-images) and for image types not listed above.
    pub fn from_mime(mime: &str) -> Option<Format> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        MIME_TYPES.iter().find(|(m, _)| m.eq_ignore_ascii_case(essence)).map(|&(_, f)| f)
    }

    /// The name used in messages to clients.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
            Format::Gif => "GIF",
            Format::WebP => "WebP",
            Format::Avif => "AVIF",
            Format::Heif => "HEIF",
            Format::Tiff => "TIFF",
            Format::Bmp => "BMP",
            Format::Ico => "ICO",
            Format::Jxl => "JPEG XL",
        }
    }
}

/// Why an image is refused. Messages are short and meant for the client.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The header is truncated, corrupt or declares no pixels.
    #[error("the {format} header cannot be read: {reason}")]
    Unreadable {
        format: &'static str,
        reason: &'static str,
        #[source]
        source: Option<imagesize::ImageError>,
    },
    /// The header declares more pixels than allowed (a decompression bomb).
    #[error("the image declares {width} x {height} pixels, more than the {max} allowed")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    /// The bytes end before the end the format marks (a cut-off download).
    #[error("{reason}")]
    Truncated { reason: &'static str },
    /// The structure after the header is broken (a segment, chunk or block that cannot be).
    #[error("the {format} is malformed: {reason}")]
    Malformed { format: &'static str, reason: &'static str },
    /// An EXIF block is there but cannot be read, so its location cannot be shown to be removed.
    #[error("the location cannot be removed: {reason}")]
    LocationUnremovable { reason: &'static str },
}

impl ImageError {
    /// The stable client code of the contract: `too_many_pixels` or `invalid_image`.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::TooManyPixels { .. } => "too_many_pixels",
            _ => "invalid_image",
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

#[cfg(test)]
mod tests;
