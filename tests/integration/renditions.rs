//! Renditions through the whole function, on every path: inline bytes, URLs (held and streamed),
//! verified uploads. What is stored is read back through the SDK and decoded; the pixels are
//! compared with the original downscaled by the `image` crate (another resampler), with a
//! tolerance. The pixel pipeline's own accuracy against Pillow is in `tests/integration/rendition.rs`.

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use common::images::image_fixture;
use common::origin::{Origin, Reply};
use common::*;
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const POSTED: &str = "2026-11-24T20:30:15Z";
const DAY: &str = "2026/11/24/203015";
const ON: [(&str, &str); 2] = [("RENDITIONS", "320,1280"), ("KEY_PREFIX", "images/")];

/// A smooth picture with edges, as a photo has: gradients and a disc.
fn picture(width: u32, height: u32) -> RgbImage {
    let (cx, cy, r) = (width as f32 * 0.6, height as f32 * 0.4, height as f32 * 0.25);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let inside = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) < r * r;
        if inside {
            image::Rgb([230, 60 + (fy * 100.0) as u8, 40])
        } else {
            image::Rgb([(fx * 200.0) as u8, (fy * 180.0) as u8 + 40, 120])
        }
    })
}

fn encoded(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.clone()).write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn item(name: &str, bytes: &[u8]) -> Value {
    json!({"data": B64.encode(bytes), "file_name": name, "posted_at": POSTED})
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn read_back(server: &S3Server, key: &str) -> Vec<u8> {
    let object = server.client().get_object().bucket(BUCKET).key(key).send().await.unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn head(server: &S3Server, key: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    server.client().head_object().bucket(BUCKET).key(key).send().await.unwrap()
}

/// Worst-channel mean absolute difference between two images of one size.
fn mae(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut sums = [0u64; 3];
    for (p, q) in a.pixels().zip(b.pixels()) {
        for c in 0..3 {
            sums[c] += u64::from(p[c].abs_diff(q[c]));
        }
    }
    let n = u64::from(a.width() * a.height()) as f64;
    sums.iter().map(|&s| s as f64 / n).fold(0.0, f64::max)
}

/// Checks a stored rendition against the original scaled by `image`'s Lanczos3.
async fn assert_rendition(server: &S3Server, entry: &Value, original: &RgbImage, source_key: &str, mime: &str) {
    let key = entry["key"].as_str().unwrap();
    let bytes = read_back(server, key).await;
    assert_eq!(entry["size"], bytes.len(), "{entry}");
    let head = head(server, key).await;
    assert_eq!(head.content_type(), Some(mime));
    let meta = head.metadata().unwrap();
    assert_eq!(meta["source-key"], source_key);
    assert_eq!(meta["source-sha256"], sha256(&read_back(server, source_key).await));
    assert_eq!(meta["width"], entry["width"].to_string());
    assert_eq!(meta["height"], entry["height"].to_string());
    let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let (w, h) = (entry["width"].as_u64().unwrap() as u32, entry["height"].as_u64().unwrap() as u32);
    assert_eq!(decoded.dimensions(), (w, h));
    let reference = image::imageops::resize(original, w, h, image::imageops::FilterType::Lanczos3);
    let difference = mae(&decoded, &reference);
    assert!(difference <= 6.0, "{key}: MAE {difference:.2} against the original downscaled by image-rs");
}

// ---------------------------------------------------------------- inline bytes

#[tokio::test]
async fn an_inline_photo_gets_each_smaller_size_and_its_dhash() {
    let server = S3Server::start().await;
    let original = picture(1000, 750);
    let jpeg = encoded(&original, ImageFormat::Jpeg);
    let answer = invoke(&server.app(&ON), item("photo.jpg", &jpeg)).await.unwrap();
    let entry = &answer["stored"][0];
    let key = format!("images/{DAY}/photo.jpg");
    assert_eq!(entry["key"], key, "{answer}");
    let renditions = entry["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 1, "1000 px is not larger than 1280: {answer}");
    assert_eq!(renditions[0]["key"], format!("renditions/320/{DAY}/photo.webp"));
    assert_eq!((&renditions[0]["width"], &renditions[0]["height"]), (&json!(320), &json!(240)));
    assert!(entry.get("renditions_skipped").is_none(), "{answer}");
    assert_rendition(&server, &renditions[0], &original, &key, "image/webp").await;
    let dhash = head(&server, &key).await.metadata().unwrap()["dhash"].clone();
    assert!(dhash.len() == 16 && dhash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{dhash}");
    assert_eq!(server.keys(), [format!("images/{DAY}/photo.jpg"), format!("renditions/320/{DAY}/photo.webp")]);
}

#[tokio::test]
async fn jpeg_renditions_flatten_alpha_on_white() {
    let server = S3Server::start().await;
    let mut rgba = image::RgbaImage::from_pixel(800, 400, image::Rgba([0, 0, 255, 255]));
    for x in 0..400 {
        for y in 0..400 {
            rgba.put_pixel(x, y, image::Rgba([0, 0, 0, 0])); // the left half transparent
        }
    }
    let mut png = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(rgba).write_to(&mut png, ImageFormat::Png).unwrap();
    let app = server.app(&[("RENDITIONS", "200"), ("RENDITION_FORMAT", "jpeg")]);
    let answer = invoke(&app, item("half.png", &png.into_inner())).await.unwrap();
    let rendition = &answer["stored"][0]["renditions"][0];
    assert_eq!(rendition["key"], format!("renditions/200/{DAY}/half.jpg"), "{answer}");
    let bytes = read_back(&server, rendition["key"].as_str().unwrap()).await;
    assert_eq!(head(&server, rendition["key"].as_str().unwrap()).await.content_type(), Some("image/jpeg"));
    let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(decoded.dimensions(), (200, 100));
    let (left, right) = (decoded.get_pixel(20, 50), decoded.get_pixel(180, 50));
    assert!(left.0.iter().all(|&c| c > 240), "transparent becomes white: {left:?}");
    assert!(right[2] > 220 && right[0] < 30, "opaque blue stays blue: {right:?}");
}

#[tokio::test]
async fn a_redelivery_finds_everything_existing_and_writes_nothing() {
    let server = S3Server::start().await;
    let jpeg = encoded(&picture(1600, 900), ImageFormat::Jpeg);
    let app = server.app(&ON);
    let first = invoke(&app, item("wide.jpg", &jpeg)).await.unwrap();
    let puts = server.puts.lock().unwrap().len();
    assert_eq!(puts, 3, "the original and two renditions: {first}");
    // Each carries a SHA-256 checksum that the server verifies.
    assert!(server.puts.lock().unwrap().iter().all(|h| h.contains_key("x-amz-checksum-sha256")));
    let again = invoke(&app, item("wide.jpg", &jpeg)).await.unwrap();
    assert_eq!(again["stored"][0]["status"], "existing", "{again}");
    assert_eq!(again["stored"][0]["renditions"], first["stored"][0]["renditions"]);
    let sizes: Vec<_> = again["stored"][0]["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["width"].clone(), r["height"].clone()))
        .collect();
    assert_eq!(sizes, [(json!(320), json!(180)), (json!(1280), json!(720))]);
    // Every conditional write of the redelivery was refused by the server: nothing replaced.
    let headers = server.puts.lock().unwrap();
    assert!(headers[puts..].iter().all(|h| h.get("if-none-match").is_some_and(|v| v == "*")));
    assert_eq!(server.keys().len(), 3);
}

#[tokio::test]
async fn an_image_no_larger_than_every_size_gets_no_rendition_but_a_dhash() {
    let server = S3Server::start().await;
    let png = encoded(&picture(320, 200), ImageFormat::Png);
    let answer = invoke(&server.app(&ON), item("small.png", &png)).await.unwrap();
    assert_eq!(answer["stored"][0]["renditions"], json!([]), "{answer}");
    assert!(answer["stored"][0].get("renditions_skipped").is_none());
    let key = format!("images/{DAY}/small.png");
    assert_eq!(head(&server, &key).await.metadata().unwrap()["dhash"].len(), 16);
    assert_eq!(server.keys(), [key]);
}

#[tokio::test]
async fn without_renditions_nothing_is_decoded_or_added() {
    let server = S3Server::start().await;
    // Pixels that cannot be decoded behind a valid header pass when nothing decodes them.
    let items = json!({"items": [item("broken.png", &undecodable_png()), item("broken.jpg", &undecodable_jpeg())]});
    let answer = invoke(&server.app(&[]), items).await.unwrap();
    for entry in answer["stored"].as_array().unwrap() {
        assert!(entry.get("renditions").is_none() && entry.get("renditions_skipped").is_none(), "{answer}");
        let key = entry["key"].as_str().unwrap();
        assert!(!head(&server, key).await.metadata().unwrap().contains_key("dhash"));
    }
    assert_eq!(server.keys().len(), 2, "{answer}");
}

/// A JPEG whose scan stops halfway, then ends with its EOI marker: every structural check
/// passes, and only decoding finds half the pixels missing.
fn undecodable_jpeg() -> Vec<u8> {
    let jpeg = encoded(&picture(640, 480), ImageFormat::Jpeg);
    let mut cut = jpeg[..jpeg.len() / 2].to_vec();
    cut.extend_from_slice(&[0xff, 0xd9]);
    cut
}

/// A PNG whose header, chunks and end are whole but whose compressed pixels are not zlib.
fn undecodable_png() -> Vec<u8> {
    let mut png = common::png::SIGNATURE.to_vec();
    png.extend(common::png::ihdr(64, 64, common::png::Colour::Rgb));
    png.extend(common::png::chunk(b"IDAT", &[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0x00, 0x11, 0x22, 0x33]));
    png.extend(common::png::chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn an_image_that_does_not_decode_is_refused_and_nothing_is_stored() {
    let server = S3Server::start().await;
    for (name, bytes) in [("broken.png", undecodable_png()), ("broken.jpg", undecodable_jpeg())] {
        let (status, body) = invoke_api(&server.app(&ON), api_raw(name, &bytes)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_image")), "{name}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("cannot be decoded"), "{name}: {body}");
    }
    assert!(server.keys().is_empty(), "{:?}", server.keys());
}

/// An HTTP API POST of raw bytes to `/images/{name}`.
fn api_raw(name: &str, bytes: &[u8]) -> Value {
    let mut event = fixture("apigw-v2-raw-png.json");
    event["body"] = json!(B64.encode(bytes));
    event["rawPath"] = json!(format!("/images/{name}"));
    event["requestContext"]["http"]["path"] = json!(format!("/images/{name}"));
    event
}

#[tokio::test]
async fn types_not_decoded_and_svg_say_why_they_have_none() {
    let server = S3Server::start().await;
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600"><rect width="800" height="600"/></svg>"#;
    let app = server.app(&[("RENDITIONS", "320"), ("ALLOWED_CONTENT_TYPES", "image/*,image/svg+xml")]);
    let items = json!({"items": [item("logo.svg", svg), item("phone.heic", &image_fixture("image.heic")),
                                  item("still.avif", &image_fixture("image.avif"))]});
    let answer = invoke(&app, items).await.unwrap();
    let stored = answer["stored"].as_array().unwrap();
    assert_eq!(stored.len(), 3, "{answer}");
    for entry in stored {
        assert_eq!(entry["renditions"], json!([]), "{entry}");
        let reason = entry["renditions_skipped"].as_str().unwrap_or_else(|| panic!("a reason: {entry}"));
        assert!(!reason.is_empty());
    }
    assert!(stored[0]["renditions_skipped"].as_str().unwrap().contains("SVG"));
    assert!(stored[1]["renditions_skipped"].as_str().unwrap().contains("HEI"), "{}", stored[1]);
    assert_eq!(server.keys().len(), 3, "{:?}", server.keys());
}

// ---------------------------------------------------------------- URLs and uploads

/// A photo-like PNG larger than one part (8 MiB), so a URL serving it streams.
fn streamed_png() -> (RgbImage, Vec<u8>) {
    let original = picture(1800, 1800);
    let rows: Vec<u8> = original.rows().flat_map(|row| std::iter::once(0u8).chain(row.flat_map(|p| p.0))).collect();
    let png = common::png::stored(1800, 1800, common::png::Colour::Rgb, &rows, &[]);
    assert!(png.len() > 8 * 1024 * 1024);
    (original, png)
}

#[tokio::test]
async fn a_streamed_url_is_rendered_as_it_passes_and_its_dhash_recorded_at_the_end() {
    let server = S3Server::start().await;
    let (original, png) = streamed_png();
    let served = Bytes::from(png.clone());
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let answer = invoke(&server.app(&ON), json!({"url": origin.url("/big.png"), "posted_at": POSTED})).await.unwrap();
    let entry = &answer["stored"][0];
    let key = format!("images/{DAY}/big.png");
    assert_eq!(entry["key"], key, "{answer}");
    let renditions = entry["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 2, "{answer}");
    assert_rendition(&server, &renditions[0], &original, &key, "image/webp").await;
    assert_rendition(&server, &renditions[1], &original, &key, "image/webp").await;
    let meta = head(&server, &key).await.metadata().cloned().unwrap();
    assert_eq!(meta["sha256"], sha256(&png));
    assert_eq!(meta["dhash"].len(), 16, "{meta:?}");
    assert!(server.open_uploads().is_empty());
}

#[tokio::test]
async fn a_streamed_url_that_does_not_decode_aborts_its_upload() {
    let server = S3Server::start().await;
    let (_, mut png) = streamed_png();
    // Zlib's stored-block length no longer matches its complement, midway through the pixels.
    let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
    png[idat + 4 + 2] ^= 0xff;
    let served = Bytes::from(png);
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let item = json!({"url": origin.url("/big.png"), "posted_at": POSTED});
    let err = invoke(&server.app(&ON), item.clone()).await.unwrap_err();
    assert!(err.error_message.contains("invalid_image"), "{err:?}");
    assert!(server.keys().is_empty(), "{:?}", server.keys());
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
    // Only the decoder refuses it: its header, chunks and end pass every other check.
    invoke(&server.app(&[("KEY_PREFIX", "images/")]), item).await.unwrap();
    assert_eq!(server.keys(), [format!("images/{DAY}/big.png")]);
}

#[tokio::test]
async fn a_verified_upload_is_rendered_when_it_is_promoted() {
    let server = S3Server::start().await;
    let original = picture(900, 1200);
    let jpeg = encoded(&original, ImageFormat::Jpeg);
    let staged = format!("incoming/{DAY}/portrait.jpg");
    let put = server.client().put_object().bucket(BUCKET).key(&staged).body(ByteStream::from(jpeg.clone()));
    put.send().await.unwrap();
    let mut event = fixture("s3-object-created.json");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    event["Records"][0]["s3"]["object"]["key"] = json!(staged);
    invoke(&server.app(&ON), event).await.unwrap();
    let key = format!("images/{DAY}/portrait.jpg");
    let rendition = format!("renditions/320/{DAY}/portrait.webp");
    assert_eq!(server.keys(), [key.clone(), rendition.clone()]);
    assert_eq!(head(&server, &key).await.metadata().unwrap()["dhash"].len(), 16);
    let entry =
        json!({"key": rendition, "width": 240, "height": 320, "size": read_back(&server, &rendition).await.len()});
    assert_rendition(&server, &entry, &original, &key, "image/webp").await;
}

// ---------------------------------------------------------------- decoding off the executor

/// On a single-threaded runtime, a decode on the executor would stop every fetch while it runs:
/// the slow URLs are made as slow as the decode, so overlapping takes about one of them, and
/// running one after the other about two.
#[tokio::test]
async fn a_large_decode_runs_beside_slow_urls_not_before_them() {
    let server = S3Server::start().await;
    let app = server.app(&[("RENDITIONS", "320")]);
    let large = encoded(&picture(3000, 2000), ImageFormat::Png);
    let started = Instant::now();
    invoke(&app, json!({"items": [item("a.png", &large)]})).await.unwrap();
    let decode = started.elapsed().max(Duration::from_millis(500));

    let small = Bytes::from(encoded(&picture(64, 48), ImageFormat::Png));
    let origin = Origin::start(move |_| Reply::Delayed(decode, "image/png", small.clone())).await;
    let mut items = vec![item("b.png", &large)];
    items.extend((0..4).map(|i| json!({"url": origin.url(&format!("/slow{i}.png")), "posted_at": POSTED})));
    let started = Instant::now();
    let answer = invoke(&app, json!({ "items": items })).await.unwrap();
    let together = started.elapsed();
    assert_eq!(answer["stored"].as_array().unwrap().len(), 5, "{answer}");
    assert!(together < decode * 3 / 2, "a decode of {decode:?} and fetches of {decode:?} took {together:?} together");
}

// ---------------------------------------------------------------- rendering the archive

/// A re-render batch as a Distributed Map's ItemReader over ListObjectsV2 sends it.
fn listing(keys: &[&str]) -> Value {
    let mut batch = fixture("stepfunctions-batch-listing.json");
    let template = batch["Items"][0].clone();
    batch["Items"] = keys
        .iter()
        .map(|key| {
            let mut entry = template.clone();
            entry["Key"] = json!(key);
            entry
        })
        .collect();
    batch
}

#[tokio::test]
async fn a_listing_batch_makes_the_missing_renditions_and_changes_nothing_else() {
    let server = S3Server::start().await;
    let original = picture(1600, 1000);
    let jpeg = encoded(&original, ImageFormat::Jpeg);
    let small = encoded(&picture(200, 100), ImageFormat::Png);
    let items = json!({"items": [item("old.jpg", &jpeg), item("small.png", &small)]});
    invoke(&server.app(&[("KEY_PREFIX", "images/")]), items).await.unwrap();
    let key = format!("images/{DAY}/old.jpg");
    let before = head(&server, &key).await;
    assert!(!before.metadata().unwrap().contains_key("dhash"));

    let app = server.app(&ON);
    let small_key = format!("images/{DAY}/small.png");
    let answer = invoke(&app, listing(&[&key, &small_key])).await.unwrap();
    assert_eq!(answer["failed"], json!([]), "{answer}");
    let entry = &answer["stored"][0];
    assert_eq!(
        (&entry["key"], &entry["status"], &entry["sha256"]),
        (&json!(key), &json!("existing"), &json!(sha256(&jpeg)))
    );
    let renditions = entry["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 2, "{answer}");
    for rendition in renditions {
        assert_rendition(&server, rendition, &original, &key, "image/webp").await;
    }
    assert_eq!(answer["stored"][1]["renditions"], json!([]), "nothing is upscaled: {answer}");
    let after = head(&server, &key).await;
    assert_eq!((after.e_tag(), after.metadata()), (before.e_tag(), before.metadata()), "the original is untouched");
    assert_eq!(read_back(&server, &key).await, jpeg);

    let puts = server.puts.lock().unwrap().len();
    let again = invoke(&app, listing(&[&key])).await.unwrap();
    assert_eq!(again["stored"][0]["renditions"], entry["renditions"], "{again}");
    assert_eq!(server.keys().len(), 4, "{:?}", server.keys());
    let headers = server.puts.lock().unwrap();
    assert!(
        headers[puts..].iter().all(|h| h.get("if-none-match").is_some_and(|v| v == "*")),
        "only conditional writes"
    );
}

#[tokio::test]
async fn listing_entries_outside_the_originals_are_refused_one_by_one() {
    let server = S3Server::start().await;
    let png = encoded(&picture(400, 300), ImageFormat::Png);
    invoke(&server.app(&ON), item("tabby.png", &png)).await.unwrap();
    let answer = invoke(&server.app(&ON), fixture("stepfunctions-batch-listing.json")).await.unwrap();
    assert_eq!(answer["stored"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(failed_items(&answer), [(1, "not_found"), (2, "invalid_request")], "{answer}");

    let err = invoke(&server.app(&[("KEY_PREFIX", "images/")]), listing(&[&format!("images/{DAY}/tabby.png")]))
        .await
        .unwrap_err();
    assert!(err.error_message.contains("RENDITIONS is not set"), "{err:?}");
}

// ---------------------------------------------------------------- the other ways in

#[tokio::test]
async fn multipart_parts_and_backfill_items_get_renditions_too() {
    let server = S3Server::start().await;
    let app = server.app(&ON);
    let original = picture(800, 600);
    let png = encoded(&original, ImageFormat::Png);

    let boundary = "renditions-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"part.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut event = fixture("apigw-v2-multipart.json");
    event["headers"]["content-type"] = json!(format!("multipart/form-data; boundary={boundary}"));
    event["isBase64Encoded"] = json!(true);
    event["body"] = json!(B64.encode(&body));
    let (status, answer) = invoke_api(&app, event).await;
    assert_eq!(status, 201, "{answer}");
    let part = &answer["stored"][0];
    assert_rendition(&server, &part["renditions"][0], &original, part["key"].as_str().unwrap(), "image/webp").await;

    let mut batch = fixture("stepfunctions-batch-jsonl.json");
    batch["Items"] = json!([{"data": B64.encode(&png), "file_name": "crawled.png"}]);
    let answer = invoke(&app, batch).await.unwrap();
    let item = &answer["stored"][0];
    assert_eq!(item["renditions"][0]["key"], "renditions/320/2026/11/24/203015/crawled.webp", "{answer}");
    assert_rendition(&server, &item["renditions"][0], &original, item["key"].as_str().unwrap(), "image/webp").await;
}
