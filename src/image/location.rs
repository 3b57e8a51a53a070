//! Lossless GPS removal from the EXIF of JPEG (APP1), PNG (eXIf) and WebP (EXIF chunk).

use super::exif::strip_gps;
use super::{Format, ImageError, PNG_SIGNATURE, be16, be32, le32};

/// What [`strip_location`] did to a head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stripped {
    /// A GPS IFD was found and removed.
    pub removed: bool,
    /// `head` ended before every place the format may keep EXIF had been seen (JPEG: before the
    /// first SOS; PNG: before IEND; WebP: before the RIFF's end), or an EXIF block runs past it.
    /// Location data may then lie beyond the head, unpatched: a caller that streams the rest
    /// asks [`super::Completeness::exif_beyond`] with the head's length at the end, and refuses
    /// the object when it says `true`. When `head` is the whole object this only happens for a
    /// cut-off image, which [`super::Completeness`] refuses anyway.
    pub head_ended: bool,
}

/// Removes GPS location from the EXIF in `head`, in place, without changing its length.
///
/// `head` is the object's first bytes (or all of them). In IFD0 the GPSInfo (0x8825) entry is
/// dropped (later entries and the next-IFD offset move left, the freed 12 bytes are zeroed, the
/// count drops by one) and the GPS IFD and its out-of-line values are zeroed; every other tag
/// (Orientation above all), every offset and all pixel data stay as they were. A PNG eXIf chunk's
/// CRC is recomputed. Other types are left alone (HEIF, AVIF and TIFF carry EXIF too, but are
/// not covered).
///
/// An EXIF block whose TIFF header or IFD0 cannot be read is refused with
/// [`ImageError::LocationUnremovable`] rather than passed through, since no one can then tell
/// whether it holds a location; `head` is unchanged then.
pub fn strip_location(mime: &str, head: &mut [u8]) -> Result<Stripped, ImageError> {
    match Format::from_mime(mime) {
        Some(Format::Jpeg) => jpeg(head),
        Some(Format::Png) => png(head),
        Some(Format::WebP) => webp(head),
        _ => Ok(Stripped::default()),
    }
}

fn strip(tiff: &mut [u8]) -> Result<bool, ImageError> {
    // Some writers keep the JPEG-style prefix in PNG and WebP too.
    let tiff = if tiff.starts_with(b"Exif\0\0") { &mut tiff[6..] } else { tiff };
    strip_gps(tiff).map_err(|reason| ImageError::LocationUnremovable { reason })
}

fn malformed(format: Format, reason: &'static str) -> ImageError {
    ImageError::Malformed { format: format.name(), reason }
}

/// Every APP1 "Exif" segment before the first SOS.
fn jpeg(h: &mut [u8]) -> Result<Stripped, ImageError> {
    if !h.starts_with(&[0xFF, 0xD8]) {
        return Err(malformed(Format::Jpeg, "it does not start with SOI"));
    }
    let mut out = Stripped::default();
    let mut i = 2;
    loop {
        let Some(&b) = h.get(i) else {
            out.head_ended = true;
            return Ok(out);
        };
        if b != 0xFF {
            i += 1;
            continue;
        }
        let Some(&marker) = h.get(i + 1) else {
            out.head_ended = true;
            return Ok(out);
        };
        match marker {
            0xFF => i += 1,
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2,
            0xD9 | 0xDA => return Ok(out),
            _ => {
                let Some(len) = be16(h, i + 2) else {
                    out.head_ended = true;
                    return Ok(out);
                };
                if len < 2 {
                    return Err(malformed(Format::Jpeg, "a segment length is below 2"));
                }
                let end = i + 2 + usize::from(len);
                if end > h.len() {
                    out.head_ended = true;
                    return Ok(out);
                }
                if marker == 0xE1 && h[i + 4..end].starts_with(b"Exif\0\0") {
                    out.removed |= strip(&mut h[i + 10..end])?;
                }
                i = end;
            }
        }
    }
}

/// The eXIf chunk, wherever it is (libpng writes it before or after IDAT).
fn png(h: &mut [u8]) -> Result<Stripped, ImageError> {
    if !h.starts_with(PNG_SIGNATURE) {
        return Err(malformed(Format::Png, "its signature is wrong"));
    }
    let mut out = Stripped::default();
    let mut i = 8usize;
    loop {
        let (Some(len), Some(kind)) = (be32(h, i), h.get(i + 4..i + 8)) else {
            out.head_ended = true;
            return Ok(out);
        };
        if len > 0x7FFF_FFFF {
            return Err(malformed(Format::Png, "a chunk length is out of range"));
        }
        let kind: [u8; 4] = kind.try_into().unwrap_or_default();
        let data = i + 8..i + 8 + len as usize;
        let end = data.end + 4;
        if &kind == b"IEND" {
            return Ok(out);
        }
        if end > h.len() {
            out.head_ended = true;
            return Ok(out);
        }
        if &kind == b"eXIf" && strip(&mut h[data.clone()])? {
            out.removed = true;
            let mut crc = crc32fast::Hasher::new();
            crc.update(&kind);
            crc.update(&h[data.clone()]);
            h[data.end..end].copy_from_slice(&crc.finalize().to_be_bytes());
        }
        i = end;
    }
}

/// The EXIF chunk of an extended WebP (after the image data, so possibly far from the start).
fn webp(h: &mut [u8]) -> Result<Stripped, ImageError> {
    if h.len() < 12 || !h.starts_with(b"RIFF") || &h[8..12] != b"WEBP" {
        return Err(malformed(Format::WebP, "its RIFF header is wrong"));
    }
    let riff_end = 8 + u64::from(le32(h, 4).unwrap_or_default());
    let mut out = Stripped::default();
    let mut i = 12u64;
    while i + 8 <= riff_end {
        let at = i as usize;
        let (Some(kind), Some(size)) = (h.get(at..at + 4), le32(h, at + 4)) else {
            out.head_ended = true;
            return Ok(out);
        };
        let data_end = i + 8 + u64::from(size);
        if kind == b"EXIF" {
            if data_end > h.len() as u64 {
                out.head_ended = true;
                return Ok(out);
            }
            out.removed |= strip(&mut h[at + 8..data_end as usize])?;
        }
        i = data_end + u64::from(size & 1);
    }
    Ok(out)
}
