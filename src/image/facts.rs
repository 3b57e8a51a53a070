//! Width and height from the header, never from decoding.
//!
//! `imagesize` reads PNG, JPEG (walking marker segments by their lengths, so SOF after large APP
//! segments and progressive SOF2 both work), GIF, WebP, AVIF/HEIF (`ispe`), TIFF and JPEG XL by
//! seeking in the head, with no allocation by a declared size. Around it, a few checks it leaves
//! out (signatures, PNG's IHDR, WebP's VP8 scale bits). Read here instead:
//! - AVIF/HEIF: `imagesize` takes the largest `ispe` of any item (a grid's tile can be larger than
//!   the image) and returns what it found so far when the head is cut; here the primary item's
//!   own `ispe` is found through `pitm` and `ipma`, and a cut `meta` is unreadable.
//! - BMP: it takes the height as unsigned (top-down BMPs store it negative).
//! - ICO: it reads the directory's bytes, not the PNG an entry may hold (where a bomb would hide).

use std::io::Cursor;

use imagesize::ImageType;

use super::{Format, ImageError, PNG_SIGNATURE, be16, be32, le16, le32};

/// The pixel size an image header declares (for ICO, its largest entry; for TIFF, its first IFD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub width: u32,
    pub height: u32,
}

impl Facts {
    /// Width × height, which cannot overflow.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Reads the pixel size from the first bytes of an object whose sniffed type is `mime`.
///
/// `Ok(None)` for types with no pixel size (SVG, non-images; see [`Format::from_mime`]). `head` is
/// the object's first bytes: at least the first 8 MiB, or the whole object when smaller. Only the
/// header is looked at; a header that is cut off, corrupt or declares zero width or height is
/// [`ImageError::Unreadable`].
pub fn read_facts(mime: &str, head: &[u8]) -> Result<Option<Facts>, ImageError> {
    let Some(format) = Format::from_mime(mime) else { return Ok(None) };
    let (width, height) = match format {
        Format::Bmp => bmp(head)?,
        Format::Ico => ico(head)?,
        Format::Avif | Format::Heif => heif(format, head)?,
        _ => {
            check_signature(format, head)?;
            // Where `imagesize`'s own type detection leaves the reader (its WebP reader relies on it).
            let mut reader = Cursor::new(head);
            reader.set_position(12);
            let size =
                imagesize_type(format).reader_size(&mut reader).map_err(|e| unreadable_by_imagesize(format, e))?;
            let width = u32::try_from(size.width).map_err(|_| unreadable(format, "the width is out of range"))?;
            let height = u32::try_from(size.height).map_err(|_| unreadable(format, "the height is out of range"))?;
            if format == Format::WebP && head.get(12..16) == Some(b"VP8 ") {
                // The top two bits of each 16-bit field are an upscaling hint, not size.
                (width & 0x3FFF, height & 0x3FFF)
            } else {
                (width, height)
            }
        }
    };
    if width == 0 || height == 0 {
        return Err(unreadable(format, "it declares no pixels"));
    }
    Ok(Some(Facts { width, height }))
}

/// Refuses a header that declares more than `max_pixels` pixels (`MAX_PIXELS`).
pub fn check_pixels(facts: &Facts, max_pixels: u64) -> Result<(), ImageError> {
    if facts.pixels() > max_pixels {
        return Err(ImageError::TooManyPixels { width: facts.width, height: facts.height, max: max_pixels });
    }
    Ok(())
}

fn unreadable(format: Format, reason: &'static str) -> ImageError {
    ImageError::Unreadable { format: format.name(), reason, source: None }
}

fn unreadable_by_imagesize(format: Format, e: imagesize::ImageError) -> ImageError {
    let reason = match &e {
        imagesize::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => "it ends too early",
        imagesize::ImageError::NotSupported => "this variant is not supported",
        _ => "it is corrupt",
    };
    ImageError::Unreadable { format: format.name(), reason, source: Some(e) }
}

fn imagesize_type(format: Format) -> ImageType {
    match format {
        Format::Png => ImageType::Png,
        Format::Jpeg => ImageType::Jpeg,
        Format::Gif => ImageType::Gif,
        Format::WebP => ImageType::Webp,
        Format::Tiff => ImageType::Tiff,
        Format::Jxl => ImageType::Jxl,
        Format::Avif | Format::Heif | Format::Bmp | Format::Ico => unreachable!("read by hand"),
    }
}

/// The signature checks `imagesize` skips when told the type, so that garbage is not measured.
fn check_signature(format: Format, head: &[u8]) -> Result<(), ImageError> {
    let ok = match format {
        Format::Png => {
            if head.len() < 24 {
                return Err(unreadable(format, "it ends too early"));
            }
            head.starts_with(PNG_SIGNATURE) && &head[12..16] == b"IHDR"
        }
        Format::Jpeg => head.starts_with(&[0xFF, 0xD8]),
        Format::Gif => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        Format::WebP => {
            if head.len() < 30 {
                return Err(unreadable(format, "it ends too early"));
            }
            head.starts_with(b"RIFF")
                && &head[8..12] == b"WEBP"
                && match &head[12..16] {
                    b"VP8 " => head[23..26] == [0x9D, 0x01, 0x2A],
                    b"VP8L" => head[20] == 0x2F,
                    b"VP8X" => true,
                    _ => false,
                }
        }
        Format::Tiff | Format::Jxl | Format::Avif | Format::Heif | Format::Bmp | Format::Ico => true,
    };
    if ok { Ok(()) } else { Err(unreadable(format, "its signature is wrong")) }
}

/// BITMAPFILEHEADER (14 bytes) then a DIB header: OS/2's 12-byte core header with 16-bit sizes,
/// or any later one with signed 32-bit sizes (a negative height means top-down rows).
fn bmp(head: &[u8]) -> Result<(u32, u32), ImageError> {
    let format = Format::Bmp;
    if head.len() >= 2 && !head.starts_with(b"BM") {
        return Err(unreadable(format, "its signature is wrong"));
    }
    let short = || unreadable(format, "it ends too early");
    let dib = le32(head, 14).ok_or_else(short)?;
    match dib {
        12 => {
            let w = le16(head, 18).ok_or_else(short)?;
            let h = le16(head, 20).ok_or_else(short)?;
            Ok((w.into(), h.into()))
        }
        16..=1024 => {
            let w = le32(head, 18).ok_or_else(short)? as i32;
            let h = le32(head, 22).ok_or_else(short)? as i32;
            if w <= 0 {
                return Err(unreadable(format, "its width is not positive"));
            }
            Ok((w.unsigned_abs(), h.unsigned_abs()))
        }
        _ => Err(unreadable(format, "its DIB header size is unknown")),
    }
}

/// The largest entry of an ICO/CUR directory. An entry that holds a PNG is measured by that PNG's
/// IHDR (when it lies within `head`), since the directory's one-byte sizes cannot say more than 256.
fn ico(head: &[u8]) -> Result<(u32, u32), ImageError> {
    let format = Format::Ico;
    let short = || unreadable(format, "it ends too early");
    let reserved = le16(head, 0).ok_or_else(short)?;
    let kind = le16(head, 2).ok_or_else(short)?;
    let count = le16(head, 4).ok_or_else(short)?;
    if reserved != 0 || !(kind == 1 || kind == 2) {
        return Err(unreadable(format, "its signature is wrong"));
    }
    if count == 0 {
        return Err(unreadable(format, "its directory is empty"));
    }
    let mut best = (0u32, 0u32);
    for i in 0..usize::from(count) {
        let entry = head.get(6 + 16 * i..6 + 16 * (i + 1)).ok_or_else(short)?;
        let mut size = (u32::from(entry[0].wrapping_sub(1)) + 1, u32::from(entry[1].wrapping_sub(1)) + 1);
        let offset = le32(entry, 12).unwrap_or_default() as usize;
        if let Some(data) = head.get(offset..)
            && data.starts_with(PNG_SIGNATURE)
        {
            if data.get(12..16) != Some(b"IHDR") {
                return Err(unreadable(format, "an entry's PNG header cannot be read"));
            }
            let w = be32(data, 16).ok_or_else(short)?;
            let h = be32(data, 20).ok_or_else(short)?;
            size = (w, h);
        }
        if u64::from(size.0) * u64::from(size.1) > u64::from(best.0) * u64::from(best.1) {
            best = size;
        }
    }
    Ok(best)
}

/// The primary item's size in an ISO-BMFF image: `meta` → `pitm` names the item, `iprp` → `ipma`
/// lists its properties by index into `ipco`, whose `ispe` holds the size (and `irot` may turn it).
fn heif(format: Format, head: &[u8]) -> Result<(u32, u32), ImageError> {
    let err = |reason| unreadable(format, reason);
    let mut meta = None;
    for (i, b) in boxes(head).enumerate() {
        let (kind, body) = b.map_err(err)?;
        if i == 0 && kind != *b"ftyp" {
            return Err(err("its signature is wrong"));
        }
        if kind == *b"meta" {
            meta = Some(body.get(4..).ok_or_else(|| err("its meta box is too short"))?);
            break;
        }
    }
    let meta = meta.ok_or_else(|| err("it ends too early"))?;
    let (mut primary, mut ipco, mut ipma) = (None, None, None);
    for b in boxes(meta) {
        let (kind, body) = b.map_err(err)?;
        match &kind {
            b"pitm" => {
                let id = match body.first() {
                    Some(0) => be16(body, 4).map(u32::from),
                    _ => be32(body, 4),
                };
                primary = Some(id.ok_or_else(|| err("its pitm box is too short"))?);
            }
            b"iprp" => {
                for b in boxes(body) {
                    let (kind, body) = b.map_err(err)?;
                    match &kind {
                        b"ipco" => ipco = Some(body),
                        b"ipma" if ipma.is_none() => ipma = Some(body),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (Some(primary), Some(ipco), Some(ipma)) = (primary, ipco, ipma) else {
        return Err(err("it has no primary item properties"));
    };
    let mut size = None;
    let mut turned = false;
    for index in associations(ipma, primary).ok_or_else(|| err("its ipma box is corrupt"))? {
        let Some(Ok((kind, body))) = boxes(ipco).nth(usize::from(index).wrapping_sub(1)) else { continue };
        match &kind {
            b"ispe" => size = be32(body, 4).zip(be32(body, 8)),
            b"irot" => turned = body.first().is_some_and(|a| a & 1 == 1),
            _ => {}
        }
    }
    let (w, h) = size.ok_or_else(|| err("its primary item has no ispe"))?;
    Ok(if turned { (h, w) } else { (w, h) })
}

/// The property indices (1-based, 0 = none) `ipma` associates with `item`.
fn associations(ipma: &[u8], item: u32) -> Option<impl Iterator<Item = u16> + '_> {
    let version = *ipma.first()?;
    let wide = ipma.get(3)? & 1 == 1;
    let entries = be32(ipma, 4)?;
    let mut at = 8usize;
    for _ in 0..entries {
        let (id, id_len) = if version < 1 { (u32::from(be16(ipma, at)?), 2) } else { (be32(ipma, at)?, 4) };
        let count = usize::from(*ipma.get(at + id_len)?);
        let list = at + id_len + 1;
        let unit = if wide { 2 } else { 1 };
        let end = list + count * unit;
        let slice = ipma.get(list..end)?;
        if id == item {
            return Some(
                slice.chunks_exact(unit).map(move |c| {
                    if wide { u16::from_be_bytes([c[0], c[1]]) & 0x7FFF } else { u16::from(c[0] & 0x7F) }
                }),
            );
        }
        at = end;
    }
    None
}

/// ISO-BMFF boxes laid end to end in `data`, as (type, body); a box running past `data` is an error.
fn boxes(data: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), &'static str>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= data.len() {
            return None;
        }
        let item = (|| {
            let size = be32(data, at).ok_or("it ends too early")?;
            let kind: [u8; 4] = data.get(at + 4..at + 8).ok_or("it ends too early")?.try_into().unwrap_or_default();
            let (header, size) = match size {
                0 => (8, (data.len() - at) as u64),
                1 => {
                    let large = data.get(at + 8..at + 16).ok_or("it ends too early")?;
                    (16, u64::from_be_bytes(large.try_into().unwrap_or_default()))
                }
                n => (8, u64::from(n)),
            };
            if size < header {
                return Err("a box size is below its header");
            }
            let end = (at as u64).checked_add(size).filter(|&e| e <= data.len() as u64).ok_or("it ends too early")?;
            let body = &data[at + header as usize..end as usize];
            at = end as usize;
            Ok((kind, body))
        })();
        failed = item.is_err();
        Some(item)
    })
}
