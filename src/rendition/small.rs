//! BMP and ICO through `image`: neither streams, so the file and its pixels are held whole,
//! under caps.

use std::io::{Cursor, Read};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::shrink::Frame;
use super::{Decoded, Failure};
use crate::image::Format;

/// The most file bytes held.
pub(crate) const MAX_BYTES: u64 = 24 << 20;
/// The most pixels decoded (held as RGBA: 24 MiB).
pub(crate) const MAX_PIXELS: u64 = 6_000_000;

pub(super) fn decode(format: Format, source: &mut dyn Read, _: &dyn Fn(u32) -> u32) -> Result<Decoded, Failure> {
    let name = format.name();
    let mut bytes = Vec::new();
    source.take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(Failure::Read)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Failure::OverCap(format!(
            "{name} too large for renditions: more than the {} MiB held for decoding",
            MAX_BYTES >> 20
        )));
    }
    let kind = if format == Format::Bmp { ImageFormat::Bmp } else { ImageFormat::Ico };
    let reader = ImageReader::with_format(Cursor::new(&bytes), kind);
    let decoder = reader.into_decoder().map_err(|e| Failure::Corrupt(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Failure::OverCap(format!(
            "{name} too large for renditions: {width} x {height} pixels exceed the {} MP cap",
            MAX_PIXELS / 1_000_000
        )));
    }
    let image = DynamicImage::from_decoder(decoder).map_err(|e| Failure::Corrupt(e.to_string()))?;
    drop(bytes);
    let frame = if image.color().has_alpha() {
        Frame { width, height, alpha: true, data: image.into_rgba8().into_raw() }
    } else {
        Frame { width, height, alpha: false, data: image.into_rgb8().into_raw() }
    };
    let extent = (f64::from(width), f64::from(height));
    Ok(Decoded { size: (width, height), frame, extent, orientation: 1, icc: None })
}
