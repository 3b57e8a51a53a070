//! Renditions: downscaled copies of an image, made from its bytes in one sequential pass.
//!
//! Pure and blocking: [`render`] reads the original from any [`std::io::Read`] (bytes in hand, or
//! a stream bridged from the async side), decodes at a reduced scale where the format allows it,
//! and returns encoded renditions plus the original's difference hash. It does no I/O of its own
//! and runs on a blocking thread; the ingest core decides what to store.

use std::io::Read;

use crate::image::Format;

/// `RENDITION_FORMAT`: how renditions are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionFormat {
    /// Lossy WebP, quality 80, alpha kept.
    Webp,
    /// JPEG, quality 80, alpha flattened on white.
    Jpeg,
}

impl RenditionFormat {
    /// Parses `webp` or `jpeg` (case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "webp" => Some(Self::Webp),
            "jpeg" | "jpg" => Some(Self::Jpeg),
            _ => None,
        }
    }

    /// The file extension renditions get.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Webp => "webp",
            Self::Jpeg => "jpg",
        }
    }

    /// The content type renditions are stored with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Webp => "image/webp",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// What to make of every image: `RENDITIONS` and `RENDITION_FORMAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Longest-edge sizes in pixels, ascending, without repeats, each at least 1.
    pub sizes: Vec<u32>,
    /// The output encoding.
    pub format: RenditionFormat,
}

/// One encoded rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The size `S` of the plan it was made for: its longer edge.
    pub size: u32,
    /// Pixel width, upright.
    pub width: u32,
    /// Pixel height, upright.
    pub height: u32,
    /// The encoded image.
    pub bytes: Vec<u8>,
}

/// What rendering one image gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One per planned size smaller than the image's longer edge, in the plan's order.
    pub renditions: Vec<Rendition>,
    /// The 64-bit difference hash of the upright sRGB pixels (grey 9×8, row-major, MSB first).
    pub dhash: u64,
}

/// Whether an image was rendered, or why it gets no rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Decoded whole; renditions made for every size it is larger than.
    Rendered(Rendered),
    /// Not decoded (a type the function does not decode, or over a memory cap), with the reason
    /// kept in the stored entry as `renditions_skipped`.
    Skipped(String),
}

/// Why an image could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The pixels cannot be decoded: the image is refused with `invalid_image`.
    #[error("the {format} cannot be decoded: {reason}")]
    Undecodable {
        /// The format's name.
        format: &'static str,
        /// What the decoder said, short, for the client.
        reason: String,
    },
    /// Reading the source failed (the stream it comes from ended with an error).
    #[error("reading the image failed: {0}")]
    Read(#[source] std::io::Error),
}

/// Renders the image of `format` read from `source` as `plan` asks.
pub fn render(format: Format, source: &mut dyn Read, plan: &Plan) -> Result<Outcome, RenderError> {
    let _ = (format, source, plan);
    unimplemented!("the pixel pipeline")
}
