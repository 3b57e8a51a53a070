//! Encoding a finished rendition: WebP (alpha kept) or JPEG (flattened on white), quality 80.

use std::ffi::c_int;
use std::mem::MaybeUninit;

use libwebp_sys as webp;

use super::RenditionFormat;
use super::finish::flatten_on_white;
use super::jpeg;
use super::shrink::Frame;

const QUALITY: u8 = 80;

/// libwebp's effort (0 fastest, 6 best). Method 4 is libwebp's and sharp's default; the encoder
/// is most of a WebP rendition's time, and at quality 80 method 2 gave 1.3× the images per second
/// of method 4 at 320 px for a few percent more bytes, with the same quality setting (its
/// trellis and partition-search savings are in size, not in how the picture looks). Method 3
/// would be the next step back should the size matter more.
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
