//! Renditions: downscaled copies of an image, made from its bytes in one sequential pass.
//!
//! Pure and blocking: [`render`] reads the original from any [`std::io::Read`] (bytes in hand, or
//! a stream bridged from the async side), decodes at a reduced scale where the format allows it,
//! and returns encoded renditions plus the original's difference hash. It does no I/O of its own
//! and runs on a blocking thread; the ingest core decides what to store.

mod dhash;
mod encode;
mod finish;
mod gif;
mod jpeg;
mod png;
mod shrink;
mod small;
mod webp;

use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};

use crate::image::Format;
use shrink::Frame;

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
///
/// `source` is read once, front to back, and only as far as the image goes. A panic in a codec
/// (mozjpeg reports corrupt data by unwinding) is caught here and becomes
/// [`RenderError::Undecodable`].
pub fn render(format: Format, source: &mut dyn Read, plan: &Plan) -> Result<Outcome, RenderError> {
    if let Some(reason) = not_decoded(format) {
        return Ok(Outcome::Skipped(reason.to_owned()));
    }
    let undecodable = |reason: String| RenderError::Undecodable { format: format.name(), reason };
    let decoded = panic::catch_unwind(AssertUnwindSafe(|| decode(format, source, plan)))
        .map_err(|payload| undecodable(panic_message(payload.as_ref())))?;
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(Failure::Corrupt(reason)) => return Err(undecodable(reason)),
        Err(Failure::Read(e)) => return Err(RenderError::Read(e)),
        Err(Failure::OverCap(reason)) => return Ok(Outcome::Skipped(reason)),
    };
    panic::catch_unwind(AssertUnwindSafe(|| renditions(decoded, plan)))
        .map_err(|payload| undecodable(panic_message(payload.as_ref())))
        .map(Outcome::Rendered)
}

/// The reason an image type gets no renditions, for the types this function does not decode.
fn not_decoded(format: Format) -> Option<&'static str> {
    match format {
        Format::Avif => Some("AVIF images are stored without renditions: AVIF is not decoded"),
        Format::Heif => {
            Some("HEIF/HEIC images are stored without renditions: their decoder is a patent-encumbered C++ library")
        }
        Format::Tiff => Some("TIFF images are stored without renditions: TIFF is not decoded"),
        Format::Jxl => Some("JPEG XL images are stored without renditions: JPEG XL is not decoded"),
        Format::Png | Format::Jpeg | Format::Gif | Format::WebP | Format::Bmp | Format::Ico => None,
    }
}

fn decode(format: Format, source: &mut dyn Read, plan: &Plan) -> Result<Decoded, Failure> {
    let edge = |longest: u32| work_edge(longest, &plan.sizes);
    match format {
        Format::Jpeg => jpeg::decode(source, &edge),
        Format::Png => png::decode(source, &edge),
        Format::Gif => gif::decode(source, &edge),
        Format::WebP => webp::decode(source, &edge),
        Format::Bmp | Format::Ico => small::decode(format, source, &edge),
        Format::Avif | Format::Heif | Format::Tiff | Format::Jxl => {
            unreachable!("not_decoded answers for {}", format.name())
        }
    }
}

/// Makes every planned rendition from the decoded frame.
fn renditions(decoded: Decoded, plan: &Plan) -> Rendered {
    let (frames, dhash) = frames(decoded, &plan.sizes);
    let renditions = frames
        .into_iter()
        .map(|(size, frame)| Rendition {
            size,
            width: frame.width,
            height: frame.height,
            bytes: encode::encode(&frame, plan.format),
        })
        .collect();
    Rendered { renditions, dhash }
}

/// The upright sRGB pixels of every size the image is larger than (ascending), and the dhash.
/// The largest is made from the decoded frame, each smaller one from the next larger; the hash
/// comes from the largest (or, with none planned, from a frame made for the hash alone).
fn frames(decoded: Decoded, sizes: &[u32]) -> (Vec<(u32, Frame)>, u64) {
    let (width, height) = decoded.size;
    let longest = width.max(height);
    let (w, h) = fit(width, height, work_edge(longest, sizes));
    let base = shrink::resize(decoded.frame, decoded.extent, w, h);
    let base = finish::upright_srgb(base, decoded.orientation, decoded.icc.as_deref());
    let dhash = dhash::dhash(&base);
    // Sizes come from the upright original, so a chain of roundings never drifts.
    let (width, height) = if decoded.orientation >= 5 { (height, width) } else { (width, height) };
    let mut wanted = sizes.iter().rev().copied().filter(|&size| size < longest);
    // The base was made at the largest size the image exceeds: it is that rendition.
    let Some(largest) = wanted.next() else { return (Vec::new(), dhash) };
    let mut frames = vec![(largest, base)];
    for size in wanted {
        let (w, h) = fit(width, height, size);
        let previous = &frames.last().expect("the base is there").1;
        let extent = (f64::from(previous.width), f64::from(previous.height));
        let frame = shrink::lanczos(previous, extent, w, h);
        frames.push((size, frame));
    }
    frames.reverse();
    (frames, dhash)
}

/// The longer edge the decoders must deliver at least: the largest planned size the image is
/// larger than, or (with none) the image itself, held to [`DHASH_EDGE`] for the hash.
fn work_edge(longest: u32, sizes: &[u32]) -> u32 {
    sizes.iter().copied().filter(|&s| s < longest).max().unwrap_or(longest.min(DHASH_EDGE))
}

/// The longer edge of the frame the hash is made from when no rendition is: large enough that
/// the 9×8 Lanczos sees what it would see on the original.
const DHASH_EDGE: u32 = 512;

/// `width × height` scaled so its longer edge is `size`: aspect kept, the other edge rounded,
/// at least 1 px.
fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let other = |short: u32, long: u32| {
        ((u64::from(short) * u64::from(size) * 2 + u64::from(long)) / (2 * u64::from(long))).max(1) as u32
    };
    if width >= height { (size, other(height, width)) } else { (other(width, height), size) }
}

/// What a decoder hands on: pixels at a reduced scale, and what is needed to finish them.
struct Decoded {
    /// The original's size, as stored (before orientation).
    size: (u32, u32),
    /// The pixels, at least as large as the work edge asks (or the whole image when smaller).
    frame: Frame,
    /// How much of `frame` the original covers, in frame pixels: a scaled decode's last column
    /// and row stand for a fraction of a pixel.
    extent: (f64, f64),
    /// EXIF Orientation, 1 to 8.
    orientation: u16,
    /// The embedded ICC profile.
    icc: Option<Vec<u8>>,
}

/// Why a decoder stopped.
#[derive(Debug)]
enum Failure {
    Corrupt(String),
    Read(io::Error),
    OverCap(String),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the decoder failed".to_owned())
}

#[cfg(test)]
mod tests;
