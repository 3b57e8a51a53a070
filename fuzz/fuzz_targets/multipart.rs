//! The multipart path: any body under a fixed boundary gives items or a clear error.
#![no_main]

use bytes::Bytes;
use image_ingest::handlers::apigw::parse_multipart;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let result = futures::executor::block_on(parse_multipart(body, "multipart/form-data; boundary=XyZ"));
    if let Ok(items) = result {
        assert!(!items.is_empty(), "an accepted multipart body has at least one file part");
    }
});
