//! The rendition contract through the public API: sizes, encodings decoded again, corrupt data,
//! streams read once and not to their end, and the memory caps. The memory a 100-MP image costs
//! is measured on the built binary (`tests/integration/binary.rs`).

use std::io::{self, Read};
use std::path::PathBuf;

use image::{DynamicImage, GenericImageView};
use image_ingest::image::Format;
use image_ingest::rendition::{Outcome, Plan, RenderError, Rendered, RenditionFormat, render};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testkit/fixtures/renditions").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn plan(sizes: &[u32], format: RenditionFormat) -> Plan {
    Plan { sizes: sizes.to_vec(), format }
}

fn rendered(format: Format, bytes: &[u8], plan: &Plan) -> Rendered {
    match render(format, &mut &bytes[..], plan) {
        Ok(Outcome::Rendered(rendered)) => rendered,
        other => panic!("not rendered: {other:?}"),
    }
}

/// A PNG of `width × height` (RGB, a diagonal ramp), made with the png crate.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().unwrap();
    let data: Vec<u8> =
        (0..height).flat_map(|y| (0..width).flat_map(move |x| [(x % 256) as u8, (y % 256) as u8, 90])).collect();
    writer.write_image_data(&data).unwrap();
    writer.finish().unwrap();
    out
}

/// Worst-channel mean absolute error over RGB.
fn mae(ours: &DynamicImage, reference: &DynamicImage) -> f64 {
    assert_eq!(ours.dimensions(), reference.dimensions());
    let (a, b) = (ours.to_rgb8(), reference.to_rgb8());
    let mut sums = [0f64; 3];
    for (p, q) in a.pixels().zip(b.pixels()) {
        for c in 0..3 {
            sums[c] += f64::from(p[c].abs_diff(q[c]));
        }
    }
    let n = f64::from(a.width() * a.height());
    sums.iter().fold(0f64, |m, &s| m.max(s / n))
}

#[test]
fn an_image_smaller_than_every_size_gets_no_rendition_but_a_dhash() {
    let out = rendered(Format::Png, &png(100, 50), &plan(&[320], RenditionFormat::Webp));
    assert!(out.renditions.is_empty());
    // A ramp brightening left to right in every row.
    assert_ne!(out.dhash, 0);
}

#[test]
fn each_size_the_image_exceeds_gets_one_rendition_and_no_upscale() {
    let out = rendered(Format::Png, &png(1000, 500), &plan(&[320, 1280], RenditionFormat::Jpeg));
    let sizes: Vec<_> = out.renditions.iter().map(|r| (r.size, r.width, r.height)).collect();
    assert_eq!(sizes, [(320, 320, 160)]);
    let decoded = image::load_from_memory(&out.renditions[0].bytes).unwrap();
    assert_eq!(decoded.dimensions(), (320, 160));
}

#[test]
fn an_extreme_aspect_keeps_at_least_one_pixel() {
    let out = rendered(Format::Png, &png(5000, 3), &plan(&[320], RenditionFormat::Webp));
    let sizes: Vec<_> = out.renditions.iter().map(|r| (r.width, r.height)).collect();
    assert_eq!(sizes, [(320, 1)]);
    let out = rendered(Format::Png, &png(3, 5000), &plan(&[100, 320], RenditionFormat::Jpeg));
    let sizes: Vec<_> = out.renditions.iter().map(|r| (r.size, r.width, r.height)).collect();
    assert_eq!(sizes, [(100, 1, 100), (320, 1, 320)]);
}

#[test]
fn encoded_renditions_decode_close_to_pillows_reference() {
    let cases = [
        (Format::Png, "gradient.png", 320, "gradient.png.ref320.png"),
        (Format::Jpeg, "coffee.jpg", 240, "coffee.jpg.ref240.png"),
        (Format::Jpeg, "orient6.jpg", 60, "orient6.jpg.ref60.png"),
        (Format::Png, "prophoto.png", 150, "prophoto.png.ref150.png"),
        (Format::WebP, "coffee.webp", 160, "coffee.webp.ref160.png"),
    ];
    for (format, name, size, reference) in cases {
        let reference = image::load_from_memory(&fixture(reference)).unwrap();
        for output in [RenditionFormat::Webp, RenditionFormat::Jpeg] {
            let out = rendered(format, &fixture(name), &plan(&[size], output));
            let ours = image::load_from_memory(&out.renditions[0].bytes).unwrap();
            let error = mae(&ours, &reference);
            eprintln!("{name} as {output:?}: MAE {error:.2}");
            // Quality 80 alone costs 1.8–5.2 (research); the pipeline adds at most 1.5.
            assert!(error <= 6.0, "{name} as {output:?}: MAE {error:.2}");
        }
    }
}

#[test]
fn webp_keeps_alpha_and_jpeg_flattens_it_on_white() {
    let webp = rendered(Format::Png, &fixture("alpha.png"), &plan(&[200], RenditionFormat::Webp));
    let ours = image::load_from_memory(&webp.renditions[0].bytes).unwrap();
    assert!(ours.color().has_alpha());
    let reference = image::load_from_memory(&fixture("alpha.png.ref200.png")).unwrap();
    let alpha_error = ours
        .to_rgba8()
        .pixels()
        .zip(reference.to_rgba8().pixels())
        .map(|(p, q)| f64::from(p[3].abs_diff(q[3])))
        .sum::<f64>()
        / f64::from(ours.width() * ours.height());
    assert!(alpha_error <= 3.0, "alpha MAE {alpha_error}");
    let jpeg = rendered(Format::Png, &fixture("alpha.png"), &plan(&[200], RenditionFormat::Jpeg));
    let ours = image::load_from_memory(&jpeg.renditions[0].bytes).unwrap();
    let white = image::load_from_memory(&fixture("alpha.png.ref200.white.png")).unwrap();
    assert!(mae(&ours, &white) <= 6.0);
}

#[test]
fn renditions_carry_no_orientation_tag() {
    for output in [RenditionFormat::Jpeg, RenditionFormat::Webp] {
        let out = rendered(Format::Jpeg, &fixture("orient6.jpg"), &plan(&[60], output));
        let bytes = &out.renditions[0].bytes;
        assert!(!bytes.windows(6).any(|w| w == b"Exif\0\0") && !bytes.windows(4).any(|w| w == b"EXIF"));
        // Upright: orient6 is stored 160 wide and 240 high... rotated, so upright it is 60 × 40.
        assert_eq!((out.renditions[0].width, out.renditions[0].height), (60, 40));
    }
}

fn undecodable(format: Format, bytes: &[u8]) -> String {
    match render(format, &mut &bytes[..], &plan(&[32], RenditionFormat::Webp)) {
        Err(RenderError::Undecodable { reason, .. }) => reason,
        other => panic!("{format:?}: expected Undecodable, got {other:?}"),
    }
}

/// The offset of the first byte after `marker`'s segment header (JPEG SOS) in `jpeg`.
fn after_sos(jpeg: &[u8]) -> usize {
    let at = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    at + 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]))
}

#[test]
fn a_jpeg_with_broken_entropy_data_is_undecodable() {
    let mut jpeg = fixture("coffee.jpg");
    let start = after_sos(&jpeg);
    for (i, b) in jpeg[start + 2000..start + 6000].iter_mut().enumerate() {
        *b = (i * 37 % 251) as u8 & 0x7F;
    }
    let reason = undecodable(Format::Jpeg, &jpeg);
    assert!(reason.to_lowercase().contains("corrupt") || reason.contains("Huffman"), "{reason}");
}

#[test]
fn a_jpeg_cut_short_is_undecodable() {
    let jpeg = fixture("coffee.jpg");
    undecodable(Format::Jpeg, &jpeg[..jpeg.len() / 2]);
}

#[test]
fn a_png_with_bad_zlib_data_is_undecodable() {
    let mut png = fixture("gradient.png");
    let at = png.windows(4).position(|w| w == b"IDAT").unwrap();
    let len = u32::from_be_bytes(png[at - 4..at].try_into().unwrap()) as usize;
    for b in &mut png[at + 4 + 100..at + 4 + 400] {
        *b ^= 0x5A;
    }
    // A valid CRC, so the zlib stream itself is what fails.
    let crc = crc32fast::hash(&png[at..at + 4 + len]);
    png[at + 4 + len..at + 8 + len].copy_from_slice(&crc.to_be_bytes());
    undecodable(Format::Png, &png);
}

#[test]
fn the_first_frame_of_an_animation_is_rendered() {
    // anim.gif and anim.webp: a yellow square in the first frame, a green one in the second.
    for (format, name) in [(Format::Gif, "anim.gif"), (Format::WebP, "anim.webp")] {
        let out = rendered(format, &fixture(name), &plan(&[90], RenditionFormat::Jpeg));
        let image = image::load_from_memory(&out.renditions[0].bytes).unwrap().to_rgb8();
        let centre = image.get_pixel(45, 30);
        assert!(centre[0] > 200 && centre[1] > 200 && centre[2] < 80, "{name}: {centre:?}");
    }
}

/// The offset of the LZW minimum code size of the first image in `gif`.
fn first_image_data(gif: &[u8]) -> usize {
    let table = |flags: u8| if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
    let mut at = 13 + table(gif[10]);
    while gif[at] == 0x21 {
        at += 2;
        while gif[at] != 0 {
            at += 1 + usize::from(gif[at]);
        }
        at += 1;
    }
    assert_eq!(gif[at], 0x2C, "an image descriptor");
    at + 10 + table(gif[at + 9])
}

#[test]
fn a_gif_with_broken_image_data_is_undecodable() {
    let mut gif = fixture("anim.gif");
    // An LZW minimum code size of 12 or more is invalid.
    let at = first_image_data(&gif);
    gif[at] = 14;
    undecodable(Format::Gif, &gif);
    let gif = fixture("anim.gif");
    undecodable(Format::Gif, &gif[..gif.len() / 3]);
}

#[test]
fn a_webp_with_broken_data_is_undecodable() {
    let mut webp = fixture("alpha.webp");
    let n = webp.len();
    for b in &mut webp[40..n - 8] {
        *b = !*b;
    }
    undecodable(Format::WebP, &webp);
    let webp = fixture("coffee.webp");
    undecodable(Format::WebP, &webp[..webp.len() / 2]);
}

#[test]
fn bmp_and_ico_render() {
    for (format, name, size) in [(Format::Bmp, "small.bmp", 60), (Format::Ico, "small.ico", 32)] {
        let out = rendered(format, &fixture(name), &plan(&[size], RenditionFormat::Webp));
        assert_eq!(out.renditions.len(), 1, "{name}");
    }
}

/// A reader that hands out `bytes` and then fails: reading past the image's end is an error.
struct ThenFail<'a>(&'a [u8]);

impl Read for ThenFail<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("read past the end of the image"));
        }
        let n = buf.len().min(self.0.len()).min(4096);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// One image of each format decoded from a stream, for the tests of how far the source is read.
const STREAMED: [(Format, &str); 4] = [
    (Format::Jpeg, "coffee.jpg"),
    (Format::Png, "gradient.png"),
    (Format::Gif, "anim.gif"),
    (Format::WebP, "coffee.webp"),
];

#[test]
fn the_source_is_read_only_as_far_as_the_image_goes() {
    for (format, name) in STREAMED {
        let bytes = fixture(name);
        let outcome = render(format, &mut ThenFail(&bytes), &plan(&[64], RenditionFormat::Jpeg));
        assert!(matches!(outcome, Ok(Outcome::Rendered(_))), "{name}: {outcome:?}");
    }
}

#[test]
fn a_failing_source_is_a_read_error() {
    for (format, name) in STREAMED {
        let bytes = fixture(name);
        let outcome = render(format, &mut ThenFail(&bytes[..bytes.len() / 2]), &plan(&[64], RenditionFormat::Jpeg));
        assert!(matches!(outcome, Err(RenderError::Read(_))), "{name}: {outcome:?}");
    }
}

/// A JPEG of `width × height` encoded by mozjpeg row by row (a smooth two-way ramp), baseline or
/// progressive.
fn jpeg(width: u32, height: u32, progressive: bool) -> Vec<u8> {
    use mozjpeg_sys::*;
    // SAFETY: the standard libjpeg compression sequence with the default (exiting) error manager;
    // the inputs are valid, so it does not fail.
    unsafe {
        let mut err: jpeg_error_mgr = std::mem::zeroed();
        let mut cinfo: jpeg_compress_struct = std::mem::zeroed();
        cinfo.common.err = jpeg_std_error(&mut err);
        jpeg_create_compress(&mut cinfo);
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut len: std::ffi::c_ulong = 0;
        jpeg_mem_dest(&mut cinfo, &mut out, &mut len);
        cinfo.image_width = width;
        cinfo.image_height = height;
        cinfo.input_components = 3;
        cinfo.in_color_space = J_COLOR_SPACE::JCS_RGB;
        jpeg_c_set_int_param(&mut cinfo, J_INT_PARAM::JINT_COMPRESS_PROFILE, JCP_FASTEST as i32);
        jpeg_set_defaults(&mut cinfo);
        jpeg_set_quality(&mut cinfo, 75, 1);
        if progressive {
            jpeg_simple_progression(&mut cinfo);
        }
        jpeg_start_compress(&mut cinfo, 1);
        let mut row: Vec<u8> = (0..width as usize).flat_map(|x| [(x * 255 / width as usize) as u8, 0, 128]).collect();
        for y in 0..height {
            let green = (y * 255 / height) as u8;
            (1..row.len()).step_by(3).for_each(|i| row[i] = green);
            let rows = [row.as_ptr()];
            jpeg_write_scanlines(&mut cinfo, rows.as_ptr(), 1);
        }
        jpeg_finish_compress(&mut cinfo);
        let bytes = std::slice::from_raw_parts(out, len as usize).to_vec();
        jpeg_destroy_compress(&mut cinfo);
        libc::free(out.cast());
        bytes
    }
}

#[test]
fn a_progressive_jpeg_over_the_coefficient_cap_is_skipped_and_one_under_renders() {
    // 5000 × 4000 at 4:2:0 holds about 57 MiB of coefficients.
    let big = jpeg(5000, 4000, true);
    match render(Format::Jpeg, &mut &big[..], &plan(&[320], RenditionFormat::Webp)) {
        Ok(Outcome::Skipped(reason)) => assert!(reason.contains("48 MiB"), "{reason}"),
        other => panic!("expected Skipped, got {other:?}"),
    }
    let small = jpeg(1200, 800, true);
    let out = rendered(Format::Jpeg, &small, &plan(&[320], RenditionFormat::Webp));
    assert_eq!((out.renditions[0].width, out.renditions[0].height), (320, 213));
}
