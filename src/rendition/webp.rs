//! WebP through libwebp: the demuxer finds the first frame and the ICCP and EXIF chunks, and the
//! decoder scales while it decodes. libwebp needs the whole file in memory (and lossless
//! pictures or alpha planes at full size), so both are capped.

use std::ffi::c_int;
use std::io::{self, Read};
use std::mem::MaybeUninit;

use libwebp_sys as webp;

use super::shrink::Frame;
use super::{Decoded, Failure, fit};

/// The most file bytes held for decoding.
pub(crate) const MAX_BYTES: u64 = 24 << 20;
/// The most pixels of a picture libwebp holds whole while decoding: lossless (4 B/px of ARGB)
/// and animated frames (composited on a canvas). 8 MP is 32 MiB.
pub(crate) const MAX_WHOLE_PIXELS: u64 = 8_000_000;
/// The most pixels of a lossy picture with alpha: its alpha plane is decoded whole (1 B/px).
pub(crate) const MAX_ALPHA_PIXELS: u64 = 24_000_000;

pub(super) fn decode(source: &mut dyn Read, edge: &dyn Fn(u32) -> u32) -> Result<Decoded, Failure> {
    let bytes = read_riff(source)?;
    let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
    // SAFETY: the demuxer borrows `bytes`, which outlives it; `Demux` deletes it on every path.
    let demux = Demux(unsafe {
        webp::WebPDemuxInternal(&data, 0, std::ptr::null_mut(), webp::WEBP_DEMUX_ABI_VERSION as c_int)
    });
    if demux.0.is_null() {
        return Err(Failure::Corrupt("the WebP container cannot be parsed".into()));
    }
    // SAFETY: a valid demuxer; iterators are released before it is deleted.
    let (canvas, frame_iter) = unsafe {
        let canvas = (
            webp::WebPDemuxGetI(demux.0, webp::WebPFormatFeature::WEBP_FF_CANVAS_WIDTH),
            webp::WebPDemuxGetI(demux.0, webp::WebPFormatFeature::WEBP_FF_CANVAS_HEIGHT),
        );
        let mut iter = MaybeUninit::<webp::WebPIterator>::zeroed().assume_init();
        if webp::WebPDemuxGetFrame(demux.0, 1, &mut iter) == 0 {
            return Err(Failure::Corrupt("the WebP has no frame".into()));
        }
        let frame = (iter.x_offset, iter.y_offset, iter.width, iter.height, iter.fragment);
        webp::WebPDemuxReleaseIterator(&mut iter);
        (canvas, frame)
    };
    let icc = chunk(&demux, b"ICCP\0");
    let orientation = chunk(&demux, b"EXIF\0")
        .and_then(|exif| {
            let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(&exif);
            crate::image::exif_orientation(tiff)
        })
        .unwrap_or(1);
    let (x, y, w, h, fragment) = frame_iter;
    // SAFETY: the fragment lies within `bytes`.
    let fragment = unsafe { std::slice::from_raw_parts(fragment.bytes, fragment.size) };
    let features = features(fragment)?;
    let (cw, ch) = canvas;
    let pixels = u64::from(cw) * u64::from(ch);
    let whole = features.format == 2 || (x, y, w as u32, h as u32) != (0, 0, cw, ch);
    if whole && pixels > MAX_WHOLE_PIXELS {
        return Err(over_cap(cw, ch, MAX_WHOLE_PIXELS, "lossless or animated"));
    }
    if features.has_alpha != 0 && pixels > MAX_ALPHA_PIXELS {
        return Err(over_cap(cw, ch, MAX_ALPHA_PIXELS, "with alpha"));
    }
    let alpha = features.has_alpha != 0 || (x, y, w as u32, h as u32) != (0, 0, cw, ch);
    let (frame, extent) = if (x, y, w as u32, h as u32) == (0, 0, cw, ch) {
        // libwebp's rescaler averages areas: ask for at most twice the work size, so Lanczos
        // still has at least 2 source pixels per output pixel.
        let target = fit(cw, ch, edge(cw.max(ch)));
        let scale = (f64::from(cw) / f64::from(target.0 * 2)).min(f64::from(ch) / f64::from(target.1 * 2));
        let size = if scale > 1.0 {
            ((f64::from(cw) / scale).round().max(1.0) as u32, (f64::from(ch) / scale).round().max(1.0) as u32)
        } else {
            (cw, ch)
        };
        let frame = decode_picture(fragment, features.has_alpha != 0, size)?;
        let extent = (f64::from(frame.width), f64::from(frame.height));
        (frame, extent)
    } else {
        // The first frame of an animation may cover part of the canvas: the rest is transparent.
        let picture = decode_picture(fragment, true, (w as u32, h as u32))?;
        let mut canvas = Frame::new(cw, ch, true);
        for row in 0..picture.height {
            let dst_y = y as u32 + row;
            if dst_y >= ch {
                break;
            }
            let n = picture.width.min(cw.saturating_sub(x as u32)) as usize * 4;
            let src = row as usize * picture.width as usize * 4;
            let dst = (dst_y as usize * cw as usize + x as usize) * 4;
            canvas.data[dst..dst + n].copy_from_slice(&picture.data[src..src + n]);
        }
        let extent = (f64::from(cw), f64::from(ch));
        (canvas, extent)
    };
    debug_assert_eq!(frame.alpha, alpha);
    Ok(Decoded { size: (cw, ch), frame, extent, orientation, icc })
}

fn over_cap(w: u32, h: u32, cap: u64, kind: &str) -> Failure {
    Failure::OverCap(format!(
        "WebP {kind} too large for renditions: {w} x {h} pixels exceed the {} MP cap",
        cap / 1_000_000
    ))
}

/// The RIFF file: its header says how long it is, so reading stops at its end, not at EOF.
fn read_riff(source: &mut dyn Read) -> Result<Vec<u8>, Failure> {
    let mut header = [0u8; 12];
    source.read_exact(&mut header).map_err(read_error)?;
    if &header[..4] != b"RIFF" || &header[8..] != b"WEBP" {
        return Err(Failure::Corrupt("the RIFF header is missing".into()));
    }
    let len = 8 + u64::from(u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")));
    if len > MAX_BYTES {
        return Err(Failure::OverCap(format!(
            "WebP too large for renditions: its {} MiB exceed the {} MiB held for decoding",
            len >> 20,
            MAX_BYTES >> 20
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend_from_slice(&header);
    source.take(len - 12).read_to_end(&mut bytes).map_err(Failure::Read)?;
    if (bytes.len() as u64) < len {
        return Err(Failure::Corrupt("the WebP data ends before the image does".into()));
    }
    Ok(bytes)
}

fn read_error(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Failure::Corrupt("the WebP data ends in its header".into())
    } else {
        Failure::Read(e)
    }
}

fn features(fragment: &[u8]) -> Result<webp::WebPBitstreamFeatures, Failure> {
    // SAFETY: libwebp reads only the fragment's bytes.
    unsafe {
        let mut features = MaybeUninit::<webp::WebPBitstreamFeatures>::zeroed().assume_init();
        let status = webp::WebPGetFeaturesInternal(
            fragment.as_ptr(),
            fragment.len(),
            &mut features,
            webp::WEBP_DECODER_ABI_VERSION as c_int,
        );
        if status != webp::VP8StatusCode::VP8_STATUS_OK {
            return Err(Failure::Corrupt(format!("the WebP bitstream cannot be read: {status:?}")));
        }
        Ok(features)
    }
}

/// Decodes a whole VP8/VP8L bitstream to RGB(A), scaled to `size`.
fn decode_picture(fragment: &[u8], alpha: bool, size: (u32, u32)) -> Result<Frame, Failure> {
    let mut config = webp::WebPDecoderConfig::new().map_err(|()| Failure::Corrupt("libwebp's ABI differs".into()))?;
    config.output.colorspace = if alpha { webp::WEBP_CSP_MODE::MODE_RGBA } else { webp::WEBP_CSP_MODE::MODE_RGB };
    let features = features(fragment)?;
    if (features.width as u32, features.height as u32) != size {
        config.options.use_scaling = 1;
        config.options.scaled_width = size.0 as c_int;
        config.options.scaled_height = size.1 as c_int;
    }
    // SAFETY: libwebp allocates the output buffer; it is copied out and freed.
    unsafe {
        let status = webp::WebPDecode(fragment.as_ptr(), fragment.len(), &mut config);
        if status != webp::VP8StatusCode::VP8_STATUS_OK {
            webp::WebPFreeDecBuffer(&mut config.output);
            return Err(Failure::Corrupt(format!("the WebP pixels cannot be decoded: {status:?}")));
        }
        let out = config.output;
        let rgba = out.u.RGBA;
        let mut frame = Frame::new(out.width as u32, out.height as u32, alpha);
        let row = frame.width as usize * frame.channels();
        for (y, dst) in frame.data.chunks_exact_mut(row).enumerate() {
            let src = std::slice::from_raw_parts(rgba.rgba.add(y * rgba.stride as usize), row);
            dst.copy_from_slice(src);
        }
        webp::WebPFreeDecBuffer(&mut config.output);
        Ok(frame)
    }
}

/// The payload of the first chunk named `fourcc` (NUL-terminated).
fn chunk(demux: &Demux, fourcc: &[u8; 5]) -> Option<Vec<u8>> {
    // SAFETY: a valid demuxer; the chunk's bytes are copied before the iterator is released.
    unsafe {
        let mut iter = MaybeUninit::<webp::WebPChunkIterator>::zeroed().assume_init();
        if webp::WebPDemuxGetChunk(demux.0, fourcc.as_ptr().cast(), 1, &mut iter) == 0 {
            return None;
        }
        let bytes = std::slice::from_raw_parts(iter.chunk.bytes, iter.chunk.size).to_vec();
        webp::WebPDemuxReleaseChunkIterator(&mut iter);
        Some(bytes)
    }
}

struct Demux(*mut webp::WebPDemuxer);

impl Drop for Demux {
    fn drop(&mut self) {
        // SAFETY: made by WebPDemuxInternal (null is accepted).
        unsafe { webp::WebPDemuxDelete(self.0) };
    }
}
