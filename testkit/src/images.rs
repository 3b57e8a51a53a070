//! Test images: one sample of every raster type the function reads facts from, decompression
//! bombs, and EXIF blocks with and without GPS. Encoded here with the `image` and `jpeg-encoder`
//! crates, or read from the small fixtures made by real encoders in `fixtures/images/` (see its
//! README).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, RgbImage};

use crate::png;

/// One test image: its sniffed type, the extension its key gets, its bytes and its size (for a
/// bomb, the size its header declares).
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: &'static str,
    pub mime: &'static str,
    pub ext: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The folder of the image fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images")
}

/// The bytes of `fixtures/images/{name}`.
pub fn image_fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `width` × `height` RGB pattern: other pixels in every row and column.
pub fn rgb(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]))
}

/// [`rgb`] encoded by the `image` crate (its WebP encoder is lossless).
pub fn encode(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(rgb(width, height)).write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// [`rgb`] as a JPEG from `jpeg-encoder`, which writes progressive scans and APP segments
/// (`(n, data)` is an APPn segment).
pub fn jpeg(width: u16, height: u16, progressive: bool, apps: Vec<(u8, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    encoder.set_progressive(progressive);
    for (n, data) in apps {
        encoder.add_app_segment(n, data).expect("app segment");
    }
    let pixels = rgb(width.into(), height.into()).into_raw();
    encoder.encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

/// A progressive JPEG whose SOF comes after two APP segments of 60 KiB: 120 KiB of metadata
/// before the size, more than one APP segment can hold.
pub fn jpeg_late_sof() -> Vec<u8> {
    let bytes = jpeg(64, 40, true, vec![(15, vec![0x5A; 60 * 1024]), (14, vec![0xA5; 60 * 1024])]);
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC2]).expect("SOF2");
    assert!(sof > 64 * 1024, "SOF at {sof}");
    bytes
}

/// One of every raster type (and of each JPEG, WebP and JPEG XL variant), each with its true
/// size.
pub fn samples() -> Vec<Sample> {
    let s = |name, mime, ext, bytes, width, height| Sample { name, mime, ext, bytes, width, height };
    vec![
        s("png", "image/png", "png", encode(97, 61, ImageFormat::Png), 97, 61),
        s("jpeg-baseline", "image/jpeg", "jpg", jpeg(80, 45, false, vec![]), 80, 45),
        s("jpeg-progressive", "image/jpeg", "jpg", jpeg(83, 47, true, vec![]), 83, 47),
        s("jpeg-late-sof", "image/jpeg", "jpg", jpeg_late_sof(), 64, 40),
        s("gif", "image/gif", "gif", encode(33, 21, ImageFormat::Gif), 33, 21),
        s("webp-lossless", "image/webp", "webp", encode(45, 27, ImageFormat::WebP), 45, 27),
        s("webp-lossy", "image/webp", "webp", image_fixture("lossy.webp"), 67, 41),
        s("webp-extended", "image/webp", "webp", image_fixture("extended.webp"), 53, 29),
        s("avif", "image/avif", "avif", image_fixture("image.avif"), 67, 41),
        s("heic", "image/heif", "heif", image_fixture("image.heic"), 67, 41),
        s("tiff", "image/tiff", "tif", encode(31, 17, ImageFormat::Tiff), 31, 17),
        s("bmp", "image/bmp", "bmp", encode(29, 13, ImageFormat::Bmp), 29, 13),
        s("ico", "image/vnd.microsoft.icon", "ico", encode(48, 32, ImageFormat::Ico), 48, 32),
        s("jxl-codestream", "image/jxl", "jxl", image_fixture("image.jxl"), 67, 41),
        s("jxl-container", "image/jxl", "jxl", image_fixture("image-container.jxl"), 67, 41),
    ]
}

/// Headers laid out in the other ways a reader must follow: a top-down BMP (a negative height)
/// and a JPEG whose SOF comes after one APP segment of 60 KiB.
pub fn layout_variants() -> Vec<Sample> {
    let mut top_down_bmp = encode(29, 13, ImageFormat::Bmp);
    top_down_bmp[22..26].copy_from_slice(&(-13i32).to_le_bytes());
    let late_sof = jpeg(64, 40, true, vec![(15, vec![0x5A; 60 * 1024])]);
    vec![
        Sample { name: "bmp-top-down", mime: "image/bmp", ext: "bmp", bytes: top_down_bmp, width: 29, height: 13 },
        Sample {
            name: "jpeg-sof-after-60-kib-app",
            mime: "image/jpeg",
            ext: "jpg",
            bytes: late_sof,
            width: 64,
            height: 40,
        },
    ]
}

/// 60,000 × 60,000 pixels declared, one deflate block of zeros, IEND.
pub fn png_bomb() -> Vec<u8> {
    let idat = [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01];
    let ihdr = png::ihdr(60_000, 60_000, png::Colour::Grey);
    [&png::SIGNATURE[..], &ihdr, &png::chunk(b"IDAT", &idat), &png::chunk(b"IEND", &[])].concat()
}

/// A 65,535 × 65,535 logical screen with one 1 × 1 frame.
pub fn gif_bomb() -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0]);
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]);
    gif.push(0x3B);
    gif
}

/// A VP8X canvas of 16,384 × 16,384 around a tiny lossless bitstream.
pub fn webp_bomb() -> Vec<u8> {
    let mut body = b"WEBPVP8X".to_vec();
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    body.extend_from_slice(&16_383u32.to_le_bytes()[..3]);
    body.extend_from_slice(&16_383u32.to_le_bytes()[..3]);
    body.extend_from_slice(b"VP8L");
    body.extend_from_slice(&6u32.to_le_bytes());
    body.extend_from_slice(&[0x2F, 0, 0, 0, 0x10, 0]);
    riff(&body)
}

/// A real small JPEG whose SOF is patched to 65,000 × 65,000.
pub fn jpeg_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 10);
    encoder.encode(&[0; 8 * 8], 8, 8, jpeg_encoder::ColorType::Luma).expect("encode");
    let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
    out[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    out
}

/// The four bombs, each with the size its header declares. Each is a few hundred bytes at most.
pub fn bombs() -> Vec<Sample> {
    let s = |name, mime, ext, bytes, side| Sample { name, mime, ext, bytes, width: side, height: side };
    let bombs = vec![
        s("png-bomb", "image/png", "png", png_bomb(), 60_000),
        s("gif-bomb", "image/gif", "gif", gif_bomb(), 65_535),
        s("webp-bomb", "image/webp", "webp", webp_bomb(), 16_384),
        s("jpeg-bomb", "image/jpeg", "jpg", jpeg_bomb(), 65_000),
    ];
    for bomb in &bombs {
        assert!(bomb.bytes.len() < 1024, "{} is {} bytes", bomb.name, bomb.bytes.len());
        assert_eq!(infer::get(&bomb.bytes).map(|k| k.mime_type()), Some(bomb.mime), "{}", bomb.name);
    }
    bombs
}

/// An EXIF (TIFF) block from kamadak-exif's writer: orientation 6, a make, a date in the Exif
/// IFD and, with `gps`, a GPS IFD with latitude, longitude and altitude (whose rationals are out
/// of line).
pub fn exif(little_endian: bool, gps: bool) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value};
    let field = |tag, value| Field { tag, ifd_num: In::PRIMARY, value };
    let dms = |d, m, s| Value::Rational(vec![Rational::from((d, 1)), Rational::from((m, 1)), Rational::from((s, 1))]);
    let mut fields = vec![
        field(Tag::Orientation, Value::Short(vec![6])),
        field(Tag::Make, Value::Ascii(vec![b"image-ingest".to_vec()])),
        field(Tag::DateTimeOriginal, Value::Ascii(vec![b"2026:11:24 20:30:15".to_vec()])),
    ];
    if gps {
        fields.extend([
            field(Tag::GPSLatitudeRef, Value::Ascii(vec![b"N".to_vec()])),
            field(Tag::GPSLatitude, dms(48, 51, 29)),
            field(Tag::GPSLongitudeRef, Value::Ascii(vec![b"E".to_vec()])),
            field(Tag::GPSLongitude, dms(2, 17, 40)),
            field(Tag::GPSAltitude, Value::Rational(vec![Rational::from((35, 1))])),
        ]);
    }
    let mut writer = exif::experimental::Writer::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, little_endian).expect("exif");
    out.into_inner()
}

/// The bytes of [`exif`]'s latitude rationals, to show they are gone after stripping.
pub fn latitude_bytes(little_endian: bool) -> Vec<u8> {
    [48u32, 1, 51, 1, 29, 1]
        .iter()
        .flat_map(|v| if little_endian { v.to_le_bytes() } else { v.to_be_bytes() })
        .collect()
}

/// A 40 × 24 baseline JPEG with `exif` in an APP1 segment.
pub fn jpeg_with_exif(exif: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(exif);
    jpeg(40, 24, false, vec![(1, app1)])
}

/// An extended WebP (VP8X, EXIF flag) around the lossy fixture's VP8 chunk (67 × 41), with an
/// EXIF chunk at the end.
pub fn webp_with_exif(exif: &[u8]) -> Vec<u8> {
    let simple = image_fixture("lossy.webp");
    let mut body = b"WEBP".to_vec();
    body.extend_from_slice(b"VP8X");
    body.extend_from_slice(&10u32.to_le_bytes());
    body.extend_from_slice(&[0x08, 0, 0, 0]);
    body.extend_from_slice(&(67u32 - 1).to_le_bytes()[..3]);
    body.extend_from_slice(&(41u32 - 1).to_le_bytes()[..3]);
    body.extend_from_slice(&simple[12..]);
    body.extend_from_slice(b"EXIF");
    body.extend_from_slice(&(exif.len() as u32).to_le_bytes());
    body.extend_from_slice(exif);
    if exif.len() % 2 == 1 {
        body.push(0);
    }
    riff(&body)
}

/// What kamadak-exif reads from an image's EXIF: whether any GPS field or the GPSInfo pointer
/// is there, and the orientation.
pub fn read_exif(bytes: &[u8]) -> (bool, Option<u32>) {
    let exif = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).expect("readable EXIF");
    let gps = exif.fields().any(|f| f.tag.context() == exif::Context::Gps || f.tag == exif::Tag::GPSInfoIFDPointer);
    let orientation = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0));
    (gps, orientation)
}

/// The decoded pixels, as RGBA.
pub fn pixels(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes).expect("decodable").to_rgba8()
}

/// A RIFF file around `body` (which starts with its form type).
fn riff(body: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pngs_made_chunk_by_chunk_decode() {
        let grey = |png: &[u8]| pixels(png).get_pixel(0, 0).0;
        assert_eq!(grey(&png::small(200)), [200, 200, 200, 255]);
        assert_eq!(grey(&png::sized(17, 5000)), [17, 17, 17, 255]);
        assert_eq!(pixels(&png::numbered(3, 4096)).dimensions(), (32, 32));
        assert_eq!(pixels(&png::sized_pieces(1, 300_000, 4096).concat()).dimensions(), (1, 1));
    }

    #[test]
    fn samples_decode_to_their_size() {
        // The `image` crate reads none of these (its ICO decoder wants the RGBA PNG inside that its
        // encoder does not write): the function's own tests check them.
        let unread = ["avif", "heic", "ico", "jxl-codestream", "jxl-container"];
        for s in samples().into_iter().chain(layout_variants()).filter(|s| !unread.contains(&s.name)) {
            assert_eq!(pixels(&s.bytes).dimensions(), (s.width, s.height), "{}", s.name);
        }
    }

    #[test]
    fn exif_blocks_carry_gps_only_when_asked() {
        for little_endian in [true, false] {
            assert_eq!(read_exif(&jpeg_with_exif(&exif(little_endian, true))), (true, Some(6)));
            assert_eq!(read_exif(&webp_with_exif(&exif(little_endian, false))), (false, Some(6)));
        }
        assert_eq!(bombs().len(), 4);
    }
}
