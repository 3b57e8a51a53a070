use std::io::Cursor;

use proptest::prelude::*;

use testkit::images::*;
use testkit::png;

use super::*;

/// Every sample, and the header layouts the readers must also follow.
fn corpus() -> Vec<Sample> {
    samples().into_iter().chain(layout_variants()).collect()
}

fn facts(width: u32, height: u32) -> Option<Facts> {
    Some(Facts { width, height })
}

fn complete(mime: &str, bytes: &[u8], chunk: usize) -> Result<(), ImageError> {
    let mut checker = Completeness::new(mime);
    for part in bytes.chunks(chunk.max(1)) {
        checker.update(part);
    }
    checker.finish()
}

fn is_truncated(r: Result<(), ImageError>) -> bool {
    matches!(r, Err(ImageError::Truncated { .. }))
}

#[test]
fn infer_sniffs_each_sample_as_the_mime_it_is_read_by() {
    for s in corpus() {
        let sniffed = infer::get(&s.bytes).map(|k| k.mime_type());
        assert_eq!(sniffed, Some(s.mime), "{}", s.name);
        assert!(Format::from_mime(s.mime).is_some(), "{}", s.name);
    }
    assert_eq!(Format::from_mime("IMAGE/PNG; q=1"), Some(Format::Png));
    assert_eq!(Format::from_mime("image/x-icon"), Some(Format::Ico));
    assert_eq!(Format::from_mime("image/heic"), Some(Format::Heif));
}

#[test]
fn every_type_reports_its_true_size() {
    for s in corpus() {
        let got = read_facts(s.mime, &s.bytes).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(got, facts(s.width, s.height), "{}", s.name);
    }
}

#[test]
fn jpeg_sof_is_found_after_a_60_kib_app_segment() {
    let s = corpus().into_iter().find(|s| s.name == "jpeg-sof-after-60-kib-app").unwrap();
    let sof = s.bytes.windows(2).position(|w| w == [0xFF, 0xC2]).unwrap();
    assert!(sof > 60 * 1024, "SOF at {sof}");
    assert_eq!(read_facts(s.mime, &s.bytes).unwrap(), facts(64, 40));
}

#[test]
fn types_without_a_pixel_size_have_no_facts() {
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>";
    assert_eq!(read_facts("image/svg+xml", svg).unwrap(), None);
    assert_eq!(read_facts("application/pdf", b"%PDF-1.7").unwrap(), None);
    assert_eq!(read_facts("image/vnd.adobe.photoshop", b"8BPS").unwrap(), None);
}

#[test]
fn every_cut_header_is_unreadable_or_exact() {
    for s in corpus() {
        let mut unreadable = 0;
        for len in 0..s.bytes.len().min(4096) {
            match read_facts(s.mime, &s.bytes[..len]) {
                Err(ImageError::Unreadable { .. }) => unreadable += 1,
                Ok(got) => assert_eq!(got, facts(s.width, s.height), "{} cut at {len}", s.name),
                Err(e) => panic!("{} cut at {len}: {e}", s.name),
            }
        }
        assert!(unreadable >= 4, "{}: only {unreadable} cuts unreadable", s.name);
    }
}

#[test]
fn truncated_headers_of_every_type_are_unreadable() {
    for s in corpus() {
        // Before the size fields: inside the big APP segment, inside `meta`, or in the first bytes.
        let cut = match s.name {
            "jpeg-sof-after-60-kib-app" => 30_000,
            "avif" | "heic" => 100,
            _ => 5,
        };
        let err = read_facts(s.mime, &s.bytes[..cut]).unwrap_err();
        assert!(matches!(err, ImageError::Unreadable { .. }), "{}: {err}", s.name);
        assert_eq!(err.code(), "invalid_image");
    }
}

#[test]
fn garbage_and_zero_sizes_are_unreadable() {
    for s in corpus() {
        let err = read_facts(s.mime, &[0xA5; 64]).unwrap_err();
        assert!(matches!(err, ImageError::Unreadable { .. }), "{}: {err}", s.name);
    }
    let mut png = encode(3, 2, ImageFormat::Png);
    png[16..20].fill(0);
    let err = read_facts("image/png", &png).unwrap_err();
    assert_eq!(err.to_string(), "the PNG header cannot be read: it declares no pixels");
}

#[test]
fn the_pixel_cap_is_inclusive() {
    let f = Facts { width: 10_000, height: 10_000 };
    assert!(check_pixels(&f, 100_000_000).is_ok());
    let err = check_pixels(&f, 99_999_999).unwrap_err();
    assert!(matches!(err, ImageError::TooManyPixels { width: 10_000, height: 10_000, max: 99_999_999 }));
    assert_eq!(err.code(), "too_many_pixels");
    let huge = Facts { width: u32::MAX, height: u32::MAX };
    assert!(check_pixels(&huge, u64::MAX - 1).is_ok());
}

#[test]
fn an_ico_is_measured_by_the_png_it_holds() {
    let png = encode(300, 200, ImageFormat::Png);
    let mut ico = vec![0, 0, 1, 0, 1, 0];
    ico.extend_from_slice(&[0, 0, 0, 0, 1, 0, 32, 0]);
    ico.extend_from_slice(&(png.len() as u32).to_le_bytes());
    ico.extend_from_slice(&22u32.to_le_bytes());
    ico.extend_from_slice(&png);
    assert_eq!(read_facts("image/vnd.microsoft.icon", &ico).unwrap(), facts(300, 200));
    assert!(complete("image/vnd.microsoft.icon", &ico, 5).is_ok());
    assert!(is_truncated(complete("image/vnd.microsoft.icon", &ico[..ico.len() - 1], 5)));
}

use image::ImageFormat;

#[test]
fn whole_images_are_complete_in_any_chunking_and_with_trailing_bytes() {
    for s in corpus() {
        for chunk in [1, 2, 3, 7, 64, 4096, usize::MAX] {
            complete(s.mime, &s.bytes, chunk).unwrap_or_else(|e| panic!("{} in {chunk}s: {e}", s.name));
        }
        let mut trailed = s.bytes.clone();
        trailed.extend_from_slice(&[0; 64]);
        complete(s.mime, &trailed, 100).unwrap_or_else(|e| panic!("{} with trailer: {e}", s.name));
    }
}

#[test]
fn every_cut_body_is_truncated() {
    for s in corpus() {
        let step = (s.bytes.len() / 500).max(1);
        for len in (0..s.bytes.len()).step_by(step) {
            let r = complete(s.mime, &s.bytes[..len], 13);
            match s.mime {
                // Header only: documented.
                "image/tiff" | "image/jxl" => assert!(r.is_ok()),
                // A cut between two top-level boxes is not seen: documented.
                "image/avif" | "image/heif" => {
                    if !box_boundaries(&s.bytes).contains(&len) {
                        assert!(is_truncated(r), "{} cut at {len}", s.name);
                    }
                }
                _ => assert!(is_truncated(r), "{} cut at {len}", s.name),
            }
        }
    }
}

fn box_boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut at = vec![];
    let mut i = 0;
    while i + 8 <= bytes.len() {
        i += u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        at.push(i);
    }
    at
}

#[test]
fn cut_off_images_say_what_is_missing() {
    let png = encode(5, 5, ImageFormat::Png);
    let jpeg = jpeg(16, 16, true, vec![]);
    let gif = encode(5, 5, ImageFormat::Gif);
    let webp = image_fixture("lossy.webp");
    let avif = corpus().into_iter().find(|s| s.name == "avif").unwrap().bytes;
    let cases: [(&str, &[u8], &str); 5] = [
        ("image/png", &png[..png.len() - 12], "the PNG ends before its IEND chunk"),
        ("image/jpeg", &jpeg[..jpeg.len() - 2], "the JPEG ends before its EOI marker"),
        ("image/gif", &gif[..gif.len() - 1], "the GIF ends before its trailer"),
        ("image/webp", &webp[..webp.len() - 1], "the WebP is shorter than its RIFF size"),
        ("image/avif", &avif[..avif.len() - 1], "the AVIF ends inside a box"),
    ];
    for (mime, bytes, message) in cases {
        assert_eq!(complete(mime, bytes, 10).unwrap_err().to_string(), message);
    }
}

#[test]
fn an_eoi_inside_an_exif_thumbnail_does_not_complete_a_cut_jpeg() {
    let thumbnail = jpeg(8, 8, false, vec![]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&exif(true, false));
    app1.extend_from_slice(&thumbnail);
    let full = jpeg(64, 64, false, vec![(1, app1)]);
    assert!(complete("image/jpeg", &full, 100).is_ok());
    let scan = full.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    let cut = &full[..scan + (full.len() - scan) / 2];
    assert!(cut.windows(2).any(|w| w == [0xFF, 0xD9]), "the thumbnail's EOI is in the cut file");
    assert!(is_truncated(complete("image/jpeg", cut, 100)));
}

#[test]
fn broken_structure_is_malformed() {
    let mut avif = corpus().into_iter().find(|s| s.name == "avif").unwrap().bytes;
    avif[0..4].copy_from_slice(&3u32.to_be_bytes());
    let err = complete("image/avif", &avif, 100).unwrap_err();
    assert_eq!(err.to_string(), "the AVIF is malformed: a box size is below its header");
    let err = complete("image/jpeg", b"\x89PNG\r\n\x1a\n", 100).unwrap_err();
    assert_eq!(err.to_string(), "the JPEG is malformed: it does not start with SOI");
    let mut gif = encode(5, 5, ImageFormat::Gif);
    let last = gif.len() - 1;
    gif[last] = 0x99;
    assert!(matches!(complete("image/gif", &gif, 100), Err(ImageError::Malformed { .. })));
}

#[test]
fn unchecked_types_are_always_complete() {
    assert!(complete("image/svg+xml", b"<svg", 1).is_ok());
    assert!(complete("application/octet-stream", b"", 1).is_ok());
    assert!(is_truncated(complete("image/png", b"", 1)));
}

fn read_exif(bytes: &[u8]) -> ::exif::Exif {
    ::exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).expect("exif")
}

fn has_gps(e: &::exif::Exif) -> bool {
    e.fields().any(|f| f.tag == ::exif::Tag::GPSInfoIFDPointer || f.tag.context() == ::exif::Context::Gps)
}

fn orientation(e: &::exif::Exif) -> Option<u32> {
    e.get_field(::exif::Tag::Orientation, ::exif::In::PRIMARY).and_then(|f| f.value.get_uint(0))
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes).expect("decode").into_rgba8().into_raw()
}

/// Strips `original` and checks: same length, GPS gone (latitude bytes zeroed), orientation and
/// the Exif IFD's date kept, pixels identical.
fn assert_stripped(mime: &str, original: &[u8], little_endian: bool) -> Vec<u8> {
    assert!(has_gps(&read_exif(original)));
    let mut stripped = original.to_vec();
    let outcome = strip_location(mime, &mut stripped).unwrap();
    assert_eq!(outcome, Stripped { removed: true, head_ended: false });
    assert_eq!(stripped.len(), original.len());
    let e = read_exif(&stripped);
    assert!(!has_gps(&e), "{mime}: GPS still there");
    assert_eq!(orientation(&e), Some(6));
    assert!(e.get_field(::exif::Tag::DateTimeOriginal, ::exif::In::PRIMARY).is_some());
    let lat = latitude_bytes(little_endian);
    assert!(original.windows(lat.len()).any(|w| w == lat));
    assert!(!stripped.windows(lat.len()).any(|w| w == lat), "{mime}: latitude bytes left");
    assert_eq!(pixels(&stripped), pixels(original));
    assert!(complete(mime, &stripped, 33).is_ok());
    let mut again = stripped.clone();
    assert_eq!(strip_location(mime, &mut again).unwrap(), Stripped::default());
    assert_eq!(again, stripped);
    stripped
}

#[test]
fn jpeg_loses_its_gps_and_keeps_orientation_and_pixels() {
    for le in [true, false] {
        assert_stripped("image/jpeg", &jpeg_with_exif(&exif(le, true)), le);
    }
}

#[test]
fn webp_loses_its_gps_and_keeps_orientation_and_pixels() {
    for le in [true, false] {
        let webp = webp_with_exif(&exif(le, true));
        assert_eq!(read_facts("image/webp", &webp).unwrap(), facts(67, 41));
        assert_stripped("image/webp", &webp, le);
    }
}

#[test]
fn png_loses_its_gps_with_a_valid_crc() {
    for (le, before) in [(true, b"IDAT"), (false, b"IEND")] {
        let png = png::insert(&encode(20, 10, ImageFormat::Png), &png::chunk(b"eXIf", &exif(le, true)), before);
        assert!(png::crcs_valid(&png));
        let stripped = assert_stripped("image/png", &png, le);
        assert!(png::crcs_valid(&stripped));
    }
}

#[test]
fn images_without_gps_are_left_byte_for_byte() {
    let samples = [
        ("image/jpeg", jpeg_with_exif(&exif(true, false))),
        ("image/webp", webp_with_exif(&exif(false, false))),
        ("image/png", png::insert(&encode(4, 4, ImageFormat::Png), &png::chunk(b"eXIf", &exif(true, false)), b"IDAT")),
        ("image/jpeg", jpeg(8, 8, false, vec![])),
        ("image/gif", encode(4, 4, ImageFormat::Gif)),
    ];
    for (mime, original) in samples {
        let mut bytes = original.clone();
        assert_eq!(strip_location(mime, &mut bytes).unwrap(), Stripped::default(), "{mime}");
        assert_eq!(bytes, original);
    }
}

#[test]
fn unreadable_exif_is_refused_and_left_unchanged() {
    let mut broken = exif(true, true);
    broken[4..8].copy_from_slice(&0xFFFF_0000u32.to_le_bytes());
    let original = jpeg_with_exif(&broken);
    let mut bytes = original.clone();
    let err = strip_location("image/jpeg", &mut bytes).unwrap_err();
    assert_eq!(err.to_string(), "the location cannot be removed: the EXIF IFD0 lies outside the block");
    assert_eq!(bytes, original);
}

#[test]
fn a_png_exif_beyond_the_head_is_reported() {
    let big = encode(300, 300, ImageFormat::Png);
    let png = png::insert(&big, &png::chunk(b"eXIf", &exif(true, true)), b"IEND");
    let head_len = big.len() / 2;
    let mut head = png[..head_len].to_vec();
    let outcome = strip_location("image/png", &mut head).unwrap();
    assert_eq!(outcome, Stripped { removed: false, head_ended: true });
    assert_eq!(head, png[..head_len]);
    let mut checker = Completeness::new("image/png");
    checker.update(&head);
    checker.update(&png[head_len..]);
    assert!(checker.exif_beyond(head_len as u64));
    assert!(!checker.exif_beyond(png.len() as u64));
    checker.finish().unwrap();

    // An eXIf before IDAT is in the head, stripped there; nothing lies beyond.
    let png = png::insert(&big, &png::chunk(b"eXIf", &exif(true, true)), b"IDAT");
    let mut head = png[..head_len].to_vec();
    let outcome = strip_location("image/png", &mut head).unwrap();
    assert_eq!(outcome, Stripped { removed: true, head_ended: true });
    let mut checker = Completeness::new("image/png");
    checker.update(&png);
    assert!(!checker.exif_beyond(head_len as u64));
}

#[test]
fn jpeg_and_webp_exif_ends_are_tracked() {
    let jpeg = jpeg_with_exif(&exif(true, true));
    let mut checker = Completeness::new("image/jpeg");
    checker.update(&jpeg);
    assert!(checker.exif_beyond(20));
    assert!(!checker.exif_beyond(jpeg.len() as u64));
    let webp = webp_with_exif(&exif(true, true));
    let mut checker = Completeness::new("image/webp");
    checker.update(&webp);
    assert!(checker.exif_beyond(webp.len() as u64 - 10));
    assert!(!checker.exif_beyond(webp.len() as u64));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in 0usize..8,
        body in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..40,
    ) {
        let prefixes: [&[u8]; 8] = [
            b"\x89PNG\r\n\x1a\n", b"\xFF\xD8\xFF", b"GIF89a", b"RIFF\x00\x01\x00\x00WEBPVP8X",
            b"\x00\x00\x00\x18ftypheic", b"BM", b"\x00\x00\x01\x00", b"II*\x00",
        ];
        let bytes = [prefixes[prefix], &body].concat();
        for (mime, _) in super::MIME_TYPES {
            let _ = read_facts(mime, &bytes);
            let _ = complete(mime, &bytes, chunk);
            let mut patched = bytes.clone();
            let _ = strip_location(mime, &mut patched);
            prop_assert_eq!(patched.len(), bytes.len());
        }
    }

    #[test]
    fn mangled_exif_never_panics_and_keeps_its_length(
        le in any::<bool>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut tiff = exif(le, true);
        for (at, v) in flips {
            let n = tiff.len();
            tiff[at % n] = v;
        }
        let mut jpeg = jpeg_with_exif(&tiff);
        let len = jpeg.len();
        let _ = strip_location("image/jpeg", &mut jpeg);
        prop_assert_eq!(jpeg.len(), len);
    }
}
