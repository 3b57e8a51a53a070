//! The key sanitiser: any name becomes a safe file name with a fitting extension.
#![no_main]

use image_ingest::content::{Sniffed, extension_fits};
use image_ingest::key::{MAX_FILE_NAME_BYTES, collision_name, file_name};
use libfuzzer_sys::fuzz_target;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    for sniffed in [Sniffed { mime: "image/png", extension: "png" }, Sniffed { mime: "image/jpeg", extension: "jpg" }] {
        let name = file_name(Some(&raw), &sniffed, SHA);
        for name in [collision_name(&name, SHA), name] {
            assert!(!name.is_empty() && !name.starts_with('.') && !name.contains('/'), "{name:?}");
            assert!(name.len() <= MAX_FILE_NAME_BYTES, "{name:?}");
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{name:?}");
            let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
            assert!(extension_fits(ext, &sniffed), "{name:?}");
        }
    }
});
