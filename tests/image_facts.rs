//! Decompression bombs: headers of a few hundred bytes that declare more than `MAX_PIXELS`, refused
//! from the header alone, with no allocation proportional to the declared size (counted here by a
//! global allocator, per thread, so parallel tests do not disturb each other).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use image_ingest::image::{Completeness, Facts, ImageError, check_pixels, read_facts};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MAX_PIXELS: u64 = 100_000_000;

fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

/// 60,000 × 60,000 pixels declared, one deflate block of zeros, IEND.
fn png_bomb() -> Vec<u8> {
    let mut ihdr = 60_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let idat = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01];
    [&b"\x89PNG\r\n\x1a\n"[..], &png_chunk(b"IHDR", &ihdr), &png_chunk(b"IDAT", &idat), &png_chunk(b"IEND", &[])]
        .concat()
}

/// A 65,535 × 65,535 logical screen with one 1 × 1 frame.
fn gif_bomb() -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0]);
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]);
    gif.push(0x3B);
    gif
}

/// A VP8X canvas of 16,384 × 16,384 around a tiny lossless bitstream.
fn webp_bomb() -> Vec<u8> {
    let mut body = b"WEBPVP8X".to_vec();
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(&16_383u32.to_le_bytes()[..3]);
    body.extend_from_slice(&16_383u32.to_le_bytes()[..3]);
    body.extend_from_slice(b"VP8L");
    body.extend_from_slice(&6u32.to_le_bytes());
    body.extend_from_slice(&[0x2F, 0, 0, 0, 0x10, 0]);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A real small JPEG whose SOF is patched to 65,000 × 65,000.
fn jpeg_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 10);
    encoder.encode(&[0; 8 * 8], 8, 8, jpeg_encoder::ColorType::Luma).expect("encode");
    let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
    out[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    out
}

#[test]
fn bombs_are_refused_from_their_header_without_allocating() {
    let bombs = [
        ("image/png", png_bomb(), 60_000, 60_000),
        ("image/gif", gif_bomb(), 65_535, 65_535),
        ("image/webp", webp_bomb(), 16_384, 16_384),
        ("image/jpeg", jpeg_bomb(), 65_000, 65_000),
    ];
    for (mime, bytes, width, height) in bombs {
        assert!(bytes.len() < 1024, "{mime} bomb is {} bytes", bytes.len());
        assert_eq!(infer::get(&bytes).map(|k| k.mime_type()), Some(mime));
        let (facts, allocated) = allocated_by(|| read_facts(mime, &bytes));
        assert_eq!(facts.unwrap(), Some(Facts { width, height }), "{mime}");
        assert!(allocated < 4096, "{mime}: {allocated} bytes allocated reading the header");
        let err = check_pixels(&Facts { width, height }, MAX_PIXELS).unwrap_err();
        assert!(matches!(err, ImageError::TooManyPixels { max: MAX_PIXELS, .. }), "{mime}");
        assert_eq!(err.code(), "too_many_pixels");
        let (whole, allocated) = allocated_by(|| {
            let mut checker = Completeness::new(mime);
            checker.update(&bytes);
            checker.finish()
        });
        assert!(whole.is_ok(), "{mime}: {whole:?}");
        assert_eq!(allocated, 0, "{mime}: the completeness walk allocated");
    }
}
