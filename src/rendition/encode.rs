//! Encoding a finished rendition: WebP (alpha kept) or JPEG (flattened on white), quality 80.

use std::ffi::c_int;
use std::mem::MaybeUninit;

use libwebp_sys as webp;

use super::RenditionFormat;
use super::finish::flatten_on_white;
use super::jpeg;
use super::shrink::Frame;

const QUALITY: u8 = 80;

/// libwebp's effort (0 fastest, 6 best; 4 is libwebp's and sharp's default). The encoder is most
/// of a WebP rendition's time, and method 2 is the fastest that keeps its quality on photos:
/// measured on the coffee photo at 320 px against method 4, 3% more bytes and 0.2 dB less PSNR
/// in half the time (method 3 was as slow as 4). Smooth synthetic gradients lose more (1.9 dB,
/// MAE 1.97 against 1.57), still inside the tests' bound. The research's prototype needed it
/// to reach twice Pillow's images per second (92.8/s against 71/s at method 4, 320 px).
const WEBP_METHOD: c_int = 2;

/// The encoded bytes of `frame`.
pub(crate) fn encode(frame: &Frame, format: RenditionFormat) -> Vec<u8> {
    match format {
        RenditionFormat::Jpeg => {
            let rgb = flatten_on_white(frame);
            jpeg::encode(&rgb, frame.width, frame.height, c_int::from(QUALITY))
        }
        RenditionFormat::Webp => encode_webp(frame),
    }
}

fn encode_webp(frame: &Frame) -> Vec<u8> {
    // SAFETY: libwebp's documented sequence: init config and picture, import, encode into a
    // memory writer, free both; the writer's bytes are copied out before it is cleared.
    unsafe {
        let mut config = MaybeUninit::<webp::WebPConfig>::uninit();
        let ok = webp::WebPConfigInitInternal(
            config.as_mut_ptr(),
            webp::WebPPreset::WEBP_PRESET_DEFAULT,
            f32::from(QUALITY),
            webp::WEBP_ENCODER_ABI_VERSION as c_int,
        );
        assert!(ok != 0, "libwebp's encoder ABI matches");
        let mut config = config.assume_init();
        config.method = WEBP_METHOD;
        let mut picture = MaybeUninit::<webp::WebPPicture>::zeroed().assume_init();
        assert!(webp::WebPPictureInit(&mut picture), "libwebp's picture ABI matches");
        picture.width = frame.width as c_int;
        picture.height = frame.height as c_int;
        let mut writer = MaybeUninit::<webp::WebPMemoryWriter>::zeroed().assume_init();
        webp::WebPMemoryWriterInit(&mut writer);
        picture.writer = Some(webp::WebPMemoryWrite);
        picture.custom_ptr = (&raw mut writer).cast();
        let stride = (frame.width as usize * frame.channels()) as c_int;
        let imported = if frame.alpha {
            webp::WebPPictureImportRGBA(&mut picture, frame.data.as_ptr(), stride)
        } else {
            webp::WebPPictureImportRGB(&mut picture, frame.data.as_ptr(), stride)
        };
        let encoded = imported != 0 && webp::WebPEncode(&config, &mut picture) != 0;
        let error = picture.error_code;
        let bytes = std::slice::from_raw_parts(writer.mem, writer.size).to_vec();
        webp::WebPPictureFree(&mut picture);
        webp::WebPMemoryWriterClear(&mut writer);
        assert!(encoded, "libwebp could not encode a {}×{} picture: {error:?}", frame.width, frame.height);
        bytes
    }
}
