//! Event recognition and request decoding: any bytes as a Lambda payload must give a
//! recognised event or a clear error, never a panic.
#![no_main]

use image_ingest::event::{Event, recognise};
use image_ingest::ingest::decode_base64;
use image_ingest::request::{Payload, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_base64(text, 1 << 20);
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    match recognise(value) {
        Ok(Event::Direct(request)) => {
            let Ok(items) = parse_request(request) else { return };
            for item in items.into_iter().flatten() {
                if let Payload::Base64(text) = item.payload {
                    let _ = decode_base64(&text, 1 << 20);
                }
            }
        }
        Ok(_) | Err(_) => {}
    }
});
