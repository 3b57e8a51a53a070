//! Image facts through the whole function: real files of every type stored with their true size
//! (read back through the SDK), decompression bombs refused on every path, cut-off images
//! refused, and GPS removed from EXIF losslessly. Origins are on 127.0.0.1 only.

use crate::common;

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use common::faults::{Fault, FaultProxy};
use common::images::*;
use common::origin::{Origin, Reply, TestLookup};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const POSTED: &str = "2026-11-24T20:30:15Z";
const DAY: &str = "2026/11/24/203015";
/// A body larger than one part (8 MiB) streams through a multipart upload.
const STREAMED: usize = 9 * 1024 * 1024;

fn item(name: &str, bytes: &[u8]) -> Value {
    json!({"data": B64.encode(bytes), "file_name": name, "posted_at": POSTED})
}

fn url_item(url: &str) -> Value {
    json!({"url": url, "posted_at": POSTED})
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A direct invocation that must fail: its (error type, message).
async fn refused(app: &image_ingest::App, payload: Value) -> (String, String) {
    let err = invoke(app, payload).await.expect_err("a refusal");
    (err.error_type, err.error_message)
}

async fn read_back(server: &S3Server, key: &str) -> Vec<u8> {
    let object = server.client().get_object().bucket(BUCKET).key(key).send().await.unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn metadata(server: &S3Server, key: &str) -> std::collections::HashMap<String, String> {
    let head = server.client().head_object().bucket(BUCKET).key(key).send().await.unwrap();
    head.metadata().cloned().unwrap_or_default()
}

async fn stage(server: &S3Server, key: &str, bytes: &[u8]) {
    let put = server.client().put_object().bucket(BUCKET).key(key).body(ByteStream::from(bytes.to_vec()));
    put.send().await.unwrap();
}

/// S3's notification for `key` (plain ASCII, no encoding needed) in the test bucket.
fn notice(key: &str) -> Value {
    let mut event = fixture("s3-object-created.json");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    event["Records"][0]["s3"]["object"]["key"] = json!(key);
    event
}

/// An HTTP API (v2) POST of a multipart/form-data body with one file part per `(name, mime, bytes)`.
fn multipart_event(parts: &[(String, &str, Vec<u8>)]) -> Value {
    let boundary = "image-facts-boundary";
    let mut body = Vec::new();
    for (name, mime, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n").as_bytes(),
        );
        body.extend_from_slice(format!("Content-Type: {mime}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut event = fixture("apigw-v2-multipart.json");
    event["headers"]["content-type"] = json!(format!("multipart/form-data; boundary={boundary}"));
    event["isBase64Encoded"] = json!(true);
    event["body"] = json!(B64.encode(&body));
    event
}

// ---------------------------------------------------------------- every type, its true size

#[tokio::test]
async fn every_type_is_stored_with_its_true_size_in_the_answer_and_the_metadata() {
    let server = S3Server::start().await;
    let samples = samples();
    let items: Vec<Value> = samples.iter().map(|s| item(&format!("{}.{}", s.name, s.ext), &s.bytes)).collect();
    let answer = invoke(&server.app(&[]), json!({ "items": items })).await.unwrap();
    let stored = answer["stored"].as_array().unwrap();
    assert_eq!(stored.len(), samples.len(), "{answer}");
    for (s, entry) in samples.iter().zip(stored) {
        let key = format!("{DAY}/{}.{}", s.name, s.ext);
        assert_eq!(
            *entry,
            json!({"key": key, "bucket": BUCKET, "size": s.bytes.len(), "content_type": s.mime,
                   "sha256": sha256(&s.bytes), "status": "created", "width": s.width, "height": s.height}),
            "{}",
            s.name
        );
        let head = server.client().head_object().bucket(BUCKET).key(&key).send().await.unwrap();
        assert_eq!(head.content_type(), Some(s.mime), "{}", s.name);
        let meta = head.metadata().unwrap();
        assert_eq!(meta["width"], s.width.to_string(), "{}", s.name);
        assert_eq!(meta["height"], s.height.to_string(), "{}", s.name);
        assert_eq!(meta["sha256"], sha256(&s.bytes), "{}", s.name);
        assert!(!meta.contains_key("location-stripped"), "{}", s.name);
        assert_eq!(read_back(&server, &key).await, s.bytes, "{}: stored unchanged", s.name);
    }
    assert_eq!(server.keys().len(), samples.len());
}

#[tokio::test]
async fn a_large_png_streamed_from_a_url_keeps_its_size_in_the_metadata() {
    let server = S3Server::start().await;
    let big = Bytes::from(png::insert(
        &encode(123, 45, image::ImageFormat::Png),
        &png::chunk(b"prVt", &vec![7; STREAMED]),
        b"IDAT",
    ));
    let served = big.clone();
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let answer = invoke(&server.app(&[]), url_item(&origin.url("/wide.png"))).await.unwrap();
    let key = format!("{DAY}/wide.png");
    assert_eq!((&answer["stored"][0]["width"], &answer["stored"][0]["height"]), (&json!(123), &json!(45)), "{answer}");
    assert_eq!(answer["stored"][0]["size"], big.len());
    let meta = metadata(&server, &key).await;
    assert_eq!((meta["width"].as_str(), meta["height"].as_str()), ("123", "45"));
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
}

// ---------------------------------------------------------------- bombs

#[tokio::test]
async fn bombs_inline_are_refused_with_too_many_pixels() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    for Sample { name, ext, bytes, .. } in bombs() {
        let (code, message) = refused(&app, item(&format!("{name}.{ext}"), &bytes)).await;
        assert_eq!(code, "too_many_pixels", "{name}: {message}");
        assert!(message.contains("100000000"), "{name}: the message names the cap: {message}");
    }
    // Through API Gateway too, as a raw body: 422 with the code.
    let mut event = fixture("apigw-v2-raw-png.json");
    event["body"] = json!(B64.encode(png_bomb()));
    let (status, body) = invoke_api(&app, event).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("too_many_pixels")), "{body}");
    assert_eq!(server.keys(), Vec::<String>::new());
    assert!(server.open_uploads().is_empty());
}

#[tokio::test]
async fn bombs_as_multipart_form_parts_are_refused_and_a_good_part_beside_them_is_stored() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let parts: Vec<(String, &str, Vec<u8>)> = bombs()
        .into_iter()
        .map(|Sample { name, mime, ext, bytes, .. }| (format!("{name}.{ext}"), mime, bytes))
        .collect();
    let (status, body) = invoke_api(&app, multipart_event(&parts)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "too_many_pixels", "{body}");
    assert_eq!(server.keys(), Vec::<String>::new(), "no bomb stored");

    let mut mixed = parts.clone();
    mixed.insert(1, ("good.png".into(), "image/png", png::small(4)));
    let (status, body) = invoke_api(&app, multipart_event(&mixed)).await;
    assert_eq!(status, 207, "{body}");
    let failed = failed_items(&body);
    assert_eq!(
        failed,
        [(0, "too_many_pixels"), (2, "too_many_pixels"), (3, "too_many_pixels"), (4, "too_many_pixels")],
        "{body}"
    );
    assert_eq!((&body["stored"][0]["width"], &body["stored"][0]["height"]), (&json!(1), &json!(1)));
    assert_eq!(server.keys(), [format!("{DAY}/good.png")]);
}

#[tokio::test]
async fn bombs_from_urls_small_or_streamed_are_refused_before_anything_is_written() {
    let server = S3Server::start().await;
    // Every S3 request after the bucket check fails: a refusal that started writing (a PutObject,
    // a CreateMultipartUpload) would come back storage_error instead of too_many_pixels.
    let proxy = FaultProxy::start(&server.endpoint).await;
    let mut schedule = vec![Fault::Pass];
    schedule.extend([Fault::InternalError; 64]);
    proxy.schedule(&schedule);
    let config = config(&[]);
    let fetcher = origin::fetcher(&config, TestLookup(vec![]), true);
    let app = image_ingest::App::with_fetcher(&config, &sdk_config(&proxy.endpoint, SECRET_KEY), Arc::new(fetcher));
    let bombs = bombs();
    let served: Vec<(String, Bytes)> = bombs
        .iter()
        .flat_map(|Sample { name, ext, bytes, .. }| {
            let mut padded = bytes.clone();
            padded.resize(STREAMED, 0);
            [
                (format!("/small/{name}.{ext}"), Bytes::from(bytes.clone())),
                (format!("/large/{name}.{ext}"), Bytes::from(padded)),
            ]
        })
        .collect();
    let routes = served.clone();
    let origin = Origin::start(move |path| {
        let body = routes.iter().find(|(p, _)| p == path).map(|(_, b)| b.clone()).expect("a known path");
        Reply::Bytes("application/octet-stream", body)
    })
    .await;
    for (path, body) in &served {
        let (code, message) = refused(&app, url_item(&origin.url(path))).await;
        assert_eq!(code, "too_many_pixels", "{path} ({} bytes): {message}", body.len());
    }
    assert_eq!(origin.hits(), served.len(), "each fetched once, never again to be hashed");
    assert_eq!(server.keys(), Vec::<String>::new());
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
}

#[tokio::test]
async fn bombs_uploaded_to_the_staging_area_are_refused_and_removed() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/")]);
    for Sample { name, ext, bytes, .. } in bombs() {
        let staged = format!("incoming/2026/11/25/101500/{name}.{ext}");
        stage(&server, &staged, &bytes).await;
        let answer = invoke(&app, notice(&staged)).await.unwrap();
        assert_eq!(answer["stored"], json!([]), "{name}: {answer}");
        assert_eq!(answer["refused"][0]["error"]["code"], "too_many_pixels", "{name}: {answer}");
    }
    assert_eq!(server.keys(), Vec::<String>::new(), "refused and deleted from the staging area");
    assert!(server.copies.lock().unwrap().is_empty(), "nothing copied");
}

// ---------------------------------------------------------------- cut-off images

/// Where each sample's header is cut before its size fields (still sniffed as its type).
fn header_cut(name: &str) -> usize {
    match name {
        "png" => 20,
        "jpeg-late-sof" => 30_000,
        n if n.starts_with("jpeg") => 20,
        "gif" => 8,
        n if n.starts_with("webp") => 20,
        "avif" | "heic" => 100,
        "tiff" => 12,
        "bmp" => 10,
        "ico" => 10,
        "jxl-codestream" => 5,
        "jxl-container" => 20,
        other => panic!("no cut for {other}"),
    }
}

/// How many bytes to drop from the end so the end the format marks is missing; `None` for types
/// that mark none (TIFF, JPEG XL).
fn end_cut(name: &str) -> Option<usize> {
    match name {
        "png" => Some(12),                     // IEND
        n if n.starts_with("jpeg") => Some(2), // EOI
        "gif" => Some(1),                      // the trailer
        n if n.starts_with("webp") => Some(3), // the RIFF size runs past the bytes
        "avif" | "heic" => Some(10),           // mdat runs past the bytes
        "bmp" | "ico" => Some(3),              // bfSize / the directory's image end
        _ => None,
    }
}

#[tokio::test]
async fn cut_off_images_of_every_type_are_invalid_image() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let mut tried = 0;
    for s in samples() {
        let mut cuts = vec![("header", s.bytes[..header_cut(s.name)].to_vec())];
        if let Some(end) = end_cut(s.name) {
            cuts.push(("end", s.bytes[..s.bytes.len() - end].to_vec()));
        }
        for (which, bytes) in cuts {
            assert_eq!(infer::get(&bytes).map(|k| k.mime_type()), Some(s.mime), "{} {which} cut", s.name);
            let (code, message) = refused(&app, item(&format!("{}.{}", s.name, s.ext), &bytes)).await;
            assert_eq!(code, "invalid_image", "{} {which} cut to {} bytes: {message}", s.name, bytes.len());
            tried += 1;
        }
    }
    assert_eq!(tried, 15 + 12);
    assert_eq!(server.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn bytes_after_a_complete_image_are_kept() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let trailer = b"\0\0camera trailer: a second frame, padding\xFF\xD9";
    // ISO-BMFF marks no end: bytes after its last box are read as another box, so AVIF and HEIC
    // are left out (a box running past the bytes is a cut-off file).
    let marked = samples().into_iter().filter(|s| end_cut(s.name).is_some() && !["avif", "heic"].contains(&s.name));
    for s in marked {
        let bytes = [&s.bytes[..], &trailer[..]].concat();
        let answer = invoke(&app, item(&format!("{}.{}", s.name, s.ext), &bytes)).await;
        let answer = answer.unwrap_or_else(|e| panic!("{}: {} {}", s.name, e.error_type, e.error_message));
        let entry = &answer["stored"][0];
        assert_eq!(entry["size"], bytes.len(), "{}", s.name);
        assert_eq!((&entry["width"], &entry["height"]), (&json!(s.width), &json!(s.height)), "{}", s.name);
    }
    assert_eq!(server.keys().len(), 10);
}

#[tokio::test]
async fn a_streamed_png_without_iend_is_refused_and_its_upload_aborted() {
    let server = S3Server::start().await;
    let whole = png::sized(7, STREAMED);
    let cut = Bytes::from(whole[..whole.len() - 12].to_vec());
    let origin = Origin::start(move |_| Reply::Bytes("image/png", cut.clone())).await;
    let (code, message) = refused(&server.app(&[]), url_item(&origin.url("/cut.png"))).await;
    assert_eq!(code, "invalid_image", "{message}");
    assert_eq!(server.keys(), Vec::<String>::new());
    assert!(server.open_uploads().is_empty(), "aborted: {:?}", server.open_uploads());
}

// ---------------------------------------------------------------- GPS removal

#[tokio::test]
async fn gps_is_removed_from_jpeg_and_webp_and_the_orientation_kept() {
    let server = S3Server::start().await;
    let app = server.app(&[("STRIP_LOCATION", "true")]);
    let with_gps = exif(true, true);
    for (name, original, (width, height)) in
        [("photo.jpg", jpeg_with_exif(&with_gps), (40, 24)), ("photo.webp", webp_with_exif(&with_gps), (67, 41))]
    {
        assert_eq!(read_exif(&original), (true, Some(6)), "{name}: the original carries GPS");
        let answer = invoke(&app, item(name, &original)).await.unwrap();
        let entry = &answer["stored"][0];
        let key = format!("{DAY}/{name}");
        assert_eq!(entry["key"], key.as_str(), "{answer}");
        let stored = read_back(&server, &key).await;
        assert_eq!(read_exif(&stored), (false, Some(6)), "{name}: no GPS IFD, orientation 6");
        let exif = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&stored)).unwrap();
        let make = exif.get_field(exif::Tag::Make, exif::In::PRIMARY).expect("Make kept");
        assert_eq!(make.display_value().to_string(), "\"image-ingest\"", "{name}");
        assert_ne!(stored, original, "{name}");
        assert_eq!(stored.len(), original.len(), "{name}: removed in place");
        assert!(pixels(&stored) == pixels(&original), "{name}: the pixels decode identically");
        assert_eq!(
            (entry["sha256"].as_str(), entry["size"].as_u64()),
            (Some(sha256(&stored).as_str()), Some(stored.len() as u64))
        );
        assert_eq!((&entry["width"], &entry["height"]), (&json!(width), &json!(height)));
        let meta = metadata(&server, &key).await;
        assert_eq!(meta["location-stripped"], "true", "{name}");
        assert_eq!(meta["sha256"], sha256(&stored), "{name}");
        // The same original again maps to the stored, stripped object.
        let again = invoke(&app, item(name, &original)).await.unwrap();
        assert_eq!(again["stored"][0]["status"], "existing", "{name}: {again}");
        assert_eq!(again["stored"][0]["key"], key.as_str());
    }
    assert_eq!(server.keys().len(), 2);
}

#[tokio::test]
async fn without_strip_location_the_bytes_are_stored_unchanged() {
    let server = S3Server::start().await;
    let app = server.app(&[("STRIP_LOCATION", "false")]);
    let with_gps = exif(true, true);
    for (name, original) in [("photo.jpg", jpeg_with_exif(&with_gps)), ("photo.webp", webp_with_exif(&with_gps))] {
        let answer = invoke(&app, item(name, &original)).await.unwrap();
        assert_eq!(answer["stored"][0]["sha256"], sha256(&original).as_str(), "{name}");
        let key = format!("{DAY}/{name}");
        assert_eq!(read_back(&server, &key).await, original, "{name}");
        let meta = metadata(&server, &key).await;
        assert!(!meta.contains_key("location-stripped"), "{name}: {meta:?}");
    }
    // With STRIP_LOCATION=true, an image without GPS is stored unchanged and not marked.
    let app = server.app(&[("STRIP_LOCATION", "true")]);
    let plain = jpeg_with_exif(&exif(true, false));
    let answer = invoke(&app, item("plain.jpg", &plain)).await.unwrap();
    assert_eq!(answer["stored"][0]["sha256"], sha256(&plain).as_str());
    assert!(!metadata(&server, &format!("{DAY}/plain.jpg")).await.contains_key("location-stripped"));
}

#[tokio::test]
async fn a_verified_upload_with_gps_is_uploaded_stripped_not_copied() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/"), ("STRIP_LOCATION", "true")]);
    let original = jpeg_with_exif(&exif(true, true));
    let staged = "incoming/2026/11/25/101500/trip.jpg";
    let key = "images/2026/11/25/101500/trip.jpg";
    stage(&server, staged, &original).await;
    let answer = invoke(&app, notice(staged)).await.unwrap();
    assert_eq!(answer["stored"][0]["key"], key, "{answer}");
    assert_eq!(server.keys(), [key], "the staging object is gone");
    assert!(server.copies.lock().unwrap().is_empty(), "uploaded, not copied");
    let stored = read_back(&server, key).await;
    assert_eq!(read_exif(&stored), (false, Some(6)));
    assert!(pixels(&stored) == pixels(&original));
    assert_eq!(answer["stored"][0]["sha256"], sha256(&stored).as_str());
    let meta = metadata(&server, key).await;
    assert_eq!(
        (meta["location-stripped"].as_str(), meta["width"].as_str(), meta["height"].as_str()),
        ("true", "40", "24")
    );
}

/// A 40 × 24 PNG with `filler` bytes of a private chunk, then an eXIf chunk holding GPS, before
/// its pixels.
fn png_with_late_exif(filler: usize) -> Vec<u8> {
    let before = [png::chunk(b"prVt", &vec![3; filler]), png::chunk(b"eXIf", &exif(true, true))].concat();
    png::insert(&encode(40, 24, image::ImageFormat::Png), &before, b"IDAT")
}

#[tokio::test]
async fn a_png_whose_exif_lies_past_the_first_part_is_refused_when_stripping() {
    let server = S3Server::start().await;
    let body = Bytes::from(png_with_late_exif(STREAMED));
    let served = body.clone();
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let url = origin.url("/late-exif.png");
    let (code, message) = refused(&server.app(&[("STRIP_LOCATION", "true")]), url_item(&url)).await;
    assert_eq!(code, "invalid_image", "{message}");
    assert!(message.contains("EXIF") && message.contains("location"), "{message}");
    assert_eq!(server.keys(), Vec::<String>::new());
    assert!(server.open_uploads().is_empty(), "aborted: {:?}", server.open_uploads());

    let answer = invoke(&server.app(&[("STRIP_LOCATION", "false")]), url_item(&url)).await.unwrap();
    assert_eq!(answer["stored"][0]["sha256"], sha256(&body).as_str(), "{answer}");
    assert_eq!((&answer["stored"][0]["width"], &answer["stored"][0]["height"]), (&json!(40), &json!(24)));
    assert_eq!(server.keys(), [format!("{DAY}/late-exif.png")]);
    assert!(server.open_uploads().is_empty());
}

#[tokio::test]
async fn a_streamed_png_whose_exif_is_in_the_first_part_is_stripped_in_the_stream() {
    let server = S3Server::start().await;
    let exif = png::chunk(b"eXIf", &exif(true, true));
    let original = png::insert(
        &encode(40, 24, image::ImageFormat::Png),
        &[exif, png::chunk(b"prVt", &vec![3; STREAMED])].concat(),
        b"IDAT",
    );
    let served = Bytes::from(original.clone());
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let answer =
        invoke(&server.app(&[("STRIP_LOCATION", "true")]), url_item(&origin.url("/early-exif.png"))).await.unwrap();
    let key = format!("{DAY}/early-exif.png");
    let stored = read_back(&server, &key).await;
    assert_eq!(read_exif(&stored), (false, Some(6)));
    assert!(pixels(&stored) == pixels(&original));
    assert_eq!(answer["stored"][0]["sha256"], sha256(&stored).as_str(), "{answer}");
    assert_eq!(metadata(&server, &key).await["location-stripped"], "true");
    assert!(server.open_uploads().is_empty());
}

// ---------------------------------------------------------------- types without a pixel size

const SVG: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/></svg>";

#[tokio::test]
async fn an_svg_allowed_by_name_is_stored_without_width_or_height() {
    let server = S3Server::start().await;
    let app = server.app(&[("ALLOWED_CONTENT_TYPES", "image/png,image/svg+xml")]);
    let mut payload = item("logo.svg", SVG);
    payload["content_type"] = json!("image/svg+xml");
    let answer = invoke(&app, payload).await.unwrap_or_else(|e| panic!("{} {}", e.error_type, e.error_message));
    let entry = answer["stored"][0].as_object().unwrap();
    assert_eq!(entry["content_type"], "image/svg+xml");
    assert!(!entry.contains_key("width") && !entry.contains_key("height"), "{answer}");
    let key = format!("{DAY}/logo.svg");
    let meta = metadata(&server, &key).await;
    assert!(!meta.contains_key("width") && !meta.contains_key("height"), "{meta:?}");
}

#[tokio::test]
async fn an_svg_is_refused_unless_the_allow_list_names_it() {
    let server = S3Server::start().await;
    let err = invoke(&server.app(&[]), item("logo.svg", SVG)).await.expect_err("image/* does not cover SVG");
    assert_eq!(err.error_type, "unsupported_media_type");
    assert!(err.error_message.contains("SVG must be listed by name"), "{}", err.error_message);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn a_type_without_a_pixel_size_is_stored_without_width_or_height() {
    let server = S3Server::start().await;
    let app = server.app(&[("ALLOWED_CONTENT_TYPES", "application/pdf")]);
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let answer = invoke(&app, item("doc.pdf", pdf)).await.unwrap();
    let entry = answer["stored"][0].as_object().unwrap();
    assert_eq!(entry["content_type"], "application/pdf");
    assert!(!entry.contains_key("width") && !entry.contains_key("height"), "{answer}");
    let meta = metadata(&server, &format!("{DAY}/doc.pdf")).await;
    assert!(!meta.contains_key("width") && !meta.contains_key("height"), "{meta:?}");
    assert_eq!(meta["sha256"], sha256(pdf));
}
