//! Reading facts must be nearly free: a header read stays under 50 µs whatever the file's size,
//! and the completeness walk (which does scan) is reported as throughput. `make bench-facts`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_ingest::image::{Completeness, read_facts};

fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A progressive JPEG of noise, about 5 MB, with a 60 KiB APP segment before its SOF.
fn big_progressive_jpeg() -> Vec<u8> {
    let (w, h) = (1640u16, 1640u16);
    let pixels = noise(usize::from(w) * usize::from(h) * 3);
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_progressive(true);
    encoder.add_app_segment(15, vec![0x5A; 60 * 1024]).expect("app segment");
    encoder.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

/// A PNG of about 64 KiB of noise.
fn png_64k() -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    let pixels = noise(128 * 128 * 4);
    image::ImageEncoder::write_image(encoder, &pixels, 128, 128, image::ExtendedColorType::Rgba8).expect("png");
    out
}

fn facts(c: &mut Criterion) {
    let jpeg = big_progressive_jpeg();
    let png = png_64k();
    let heic = testkit::images::image_fixture("image.heic");
    eprintln!("sizes: jpeg {} bytes, png {} bytes, heic {} bytes", jpeg.len(), png.len(), heic.len());

    let mut group = c.benchmark_group("read_facts");
    group.measurement_time(Duration::from_secs(3));
    for (name, mime, bytes) in
        [("jpeg_5mb_progressive", "image/jpeg", &jpeg), ("png_64k", "image/png", &png), ("heic", "image/heif", &heic)]
    {
        assert!(read_facts(mime, bytes).expect("facts").is_some());
        group.bench_function(name, |b| b.iter(|| read_facts(black_box(mime), black_box(bytes))));
    }
    group.finish();

    let mut group = c.benchmark_group("completeness");
    group.throughput(Throughput::Bytes(jpeg.len() as u64));
    group.sample_size(20);
    group.bench_function("jpeg_5mb_progressive_64k_chunks", |b| {
        b.iter(|| {
            let mut checker = Completeness::new("image/jpeg");
            for chunk in black_box(&jpeg).chunks(64 * 1024) {
                checker.update(chunk);
            }
            checker.finish().expect("complete")
        })
    });
    group.finish();
}

criterion_group!(benches, facts);
criterion_main!(benches);
