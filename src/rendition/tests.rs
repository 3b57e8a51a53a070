use super::*;

#[test]
fn fit_keeps_aspect_rounds_and_keeps_a_pixel() {
    assert_eq!(fit(1000, 500, 320), (320, 160));
    assert_eq!(fit(500, 1000, 320), (160, 320));
    assert_eq!(fit(5000, 3, 320), (320, 1));
    assert_eq!(fit(3, 5000, 320), (1, 320));
    // 333 × 320/1000 = 106.56 rounds up; 1000×999 keeps 320×320 (319.68).
    assert_eq!(fit(1000, 333, 320), (320, 107));
    assert_eq!(fit(1000, 999, 320), (320, 320));
}

#[test]
fn the_work_edge_is_the_largest_size_the_image_exceeds() {
    assert_eq!(work_edge(1000, &[320, 1280]), 320);
    assert_eq!(work_edge(2000, &[320, 1280]), 1280);
    assert_eq!(work_edge(100, &[320]), 100);
    assert_eq!(work_edge(4000, &[]), DHASH_EDGE);
}

#[test]
fn types_not_decoded_are_skipped_with_a_reason_naming_them() {
    let plan = Plan { sizes: vec![320], format: RenditionFormat::Webp };
    for (format, name) in
        [(Format::Avif, "AVIF"), (Format::Heif, "HEIC"), (Format::Tiff, "TIFF"), (Format::Jxl, "JPEG XL")]
    {
        let outcome = render(format, &mut std::io::empty(), &plan).unwrap();
        let Outcome::Skipped(reason) = outcome else { panic!("{name} rendered") };
        assert!(reason.contains(name), "{reason}");
        assert!(!reason.contains('\n'));
    }
}
