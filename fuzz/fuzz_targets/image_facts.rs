//! The image module on arbitrary bytes: read_facts, Completeness over an arbitrary chunking and
//! strip_location never panic, and strip_location never changes the length. No allocation
//! follows a declared size: scripts/fuzz.sh runs with -malloc_limit_mb=64.
#![no_main]

use image_ingest::image::{Completeness, read_facts, strip_location};
use libfuzzer_sys::fuzz_target;

const MIME_TYPES: [&str; 10] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/heif",
    "image/tiff",
    "image/bmp",
    "image/vnd.microsoft.icon",
    "image/jxl",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    // The low bits choose the type; the rest the chunk size, so every chunking gets explored.
    let mime = MIME_TYPES[usize::from(selector) % MIME_TYPES.len()];
    let chunk = usize::from(selector / 16) + 1;
    let _ = read_facts(mime, bytes);
    let mut checker = Completeness::new(mime);
    for part in bytes.chunks(chunk) {
        checker.update(part);
    }
    let _ = checker.exif_beyond(bytes.len() as u64 / 2);
    let _ = checker.finish();
    let mut patched = bytes.to_vec();
    let _ = strip_location(mime, &mut patched);
    assert_eq!(patched.len(), bytes.len());
});
