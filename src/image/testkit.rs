//! Real images for the tests: encoded here with dev-dependency encoders, or small fixtures made by
//! real encoders (tests/fixtures/images/README.md).

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};

/// One test image: its sniffed type, its bytes and its true size.
pub struct Sample {
    pub name: &'static str,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/testkit/fixtures/images/", $name)).to_vec()
    };
}

pub fn rgb(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]))
}

pub fn encode(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(rgb(width, height)).write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A JPEG from `jpeg-encoder`, which can write progressive scans and APP segments.
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

/// Every type `read_facts` knows, each with its true size.
pub fn corpus() -> Vec<Sample> {
    let s = |name, mime, bytes, width, height| Sample { name, mime, bytes, width, height };
    let mut top_down_bmp = encode(29, 13, ImageFormat::Bmp);
    top_down_bmp[22..26].copy_from_slice(&(-13i32).to_le_bytes());
    vec![
        s("png", "image/png", encode(97, 61, ImageFormat::Png), 97, 61),
        s("jpeg baseline", "image/jpeg", jpeg(80, 45, false, vec![]), 80, 45),
        s("jpeg progressive", "image/jpeg", jpeg(83, 47, true, vec![]), 83, 47),
        s("jpeg sof after 60 KiB app", "image/jpeg", jpeg(64, 40, true, vec![(15, vec![0x5A; 60 * 1024])]), 64, 40),
        s("gif", "image/gif", encode(33, 21, ImageFormat::Gif), 33, 21),
        s("webp lossless", "image/webp", encode(45, 27, ImageFormat::WebP), 45, 27),
        s("webp lossy", "image/webp", fixture!("lossy.webp"), 67, 41),
        s("webp extended", "image/webp", fixture!("extended.webp"), 53, 29),
        s("avif", "image/avif", fixture!("image.avif"), 67, 41),
        s("heic", "image/heif", fixture!("image.heic"), 67, 41),
        s("tiff", "image/tiff", encode(31, 17, ImageFormat::Tiff), 31, 17),
        s("bmp", "image/bmp", encode(29, 13, ImageFormat::Bmp), 29, 13),
        s("bmp top-down", "image/bmp", top_down_bmp, 29, 13),
        s("ico", "image/vnd.microsoft.icon", encode(48, 32, ImageFormat::Ico), 48, 32),
        s("jxl codestream", "image/jxl", fixture!("image.jxl"), 67, 41),
        s("jxl container", "image/jxl", fixture!("image-container.jxl"), 67, 41),
    ]
}

/// The lossy WebP fixture, for building an extended one around its VP8 chunk.
pub fn lossy_webp() -> Vec<u8> {
    fixture!("lossy.webp")
}

/// An EXIF (TIFF) block from kamadak-exif's writer: orientation 6, a make, a date in the Exif IFD
/// and, with `gps`, a full GPS IFD (whose rationals are out of line).
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

/// The bytes of the latitude rationals, to show they are gone after stripping.
pub fn latitude_bytes(little_endian: bool) -> Vec<u8> {
    [48u32, 1, 51, 1, 29, 1]
        .iter()
        .flat_map(|v| if little_endian { v.to_le_bytes() } else { v.to_be_bytes() })
        .collect()
}

pub fn jpeg_with_exif(exif: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(exif);
    jpeg(40, 24, false, vec![(1, app1)])
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

/// `png` with `chunk` inserted before its first chunk of type `before`.
pub fn png_insert(png: &[u8], chunk: &[u8], before: &[u8; 4]) -> Vec<u8> {
    let mut i = 8;
    while &png[i + 4..i + 8] != before {
        i += 12 + u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
    }
    [&png[..i], chunk, &png[i..]].concat()
}

/// Whether every chunk's CRC is right.
pub fn png_crcs_valid(png: &[u8]) -> bool {
    let mut i = 8;
    while i < png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        let stored = &png[i + 8 + len..i + 12 + len];
        if crc32fast::hash(&png[i + 4..i + 8 + len]).to_be_bytes() != stored {
            return false;
        }
        i += 12 + len;
    }
    true
}

/// An extended WebP (VP8X) around the lossy fixture's VP8 chunk, with an EXIF chunk at the end.
pub fn webp_with_exif(exif: &[u8]) -> Vec<u8> {
    let simple = lossy_webp();
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
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}
