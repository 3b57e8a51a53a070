//! URL items against local origins on 127.0.0.1: fetching, limits, redirects, streaming
//! multipart uploads, and the address policy. No test reaches anything but loopback: the
//! fetcher's destination guard panics before connecting anywhere else.

use crate::common;

use std::time::Duration;

use aws_sdk_s3::types::ChecksumMode;
use bytes::Bytes;
use common::origin::{Origin, Reply, TestLookup};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn tabby() -> Bytes {
    Bytes::from(png::small(3))
}

/// A real PNG of `len` bytes.
fn big_png(len: usize) -> Bytes {
    Bytes::from(png::sized(5, len))
}

fn url_item(url: &str) -> Value {
    json!({"url": url, "posted_at": "2026-11-24T20:30:15Z"})
}

async fn failure(app: &image_ingest::App, url: &str) -> (String, String) {
    let err = invoke(app, url_item(url)).await.expect_err(url);
    (err.error_type, err.error_message)
}

#[tokio::test]
async fn small_url_is_stored_under_its_last_segment() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", tabby())).await;
    let stored = invoke(&server.app(&[]), url_item(&origin.url("/cats/tabby%20cat.png?size=large"))).await.unwrap();
    assert_eq!(stored["stored"][0]["key"], "2026/11/24/203015/tabby_cat.png");
    let object =
        server.client().get_object().bucket(BUCKET).key("2026/11/24/203015/tabby_cat.png").send().await.unwrap();
    assert_eq!(object.metadata().unwrap()["sha256"], hex::encode(Sha256::digest(tabby())));
    assert_eq!(object.body.collect().await.unwrap().into_bytes(), tabby());
}

#[tokio::test]
async fn content_disposition_names_the_file_unless_the_item_does() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Named("image/png", tabby(), "from-header.png")).await;
    let app = server.app(&[]);
    let stored = invoke(&app, url_item(&origin.url("/download"))).await.unwrap();
    assert_eq!(stored["stored"][0]["key"], "2026/11/24/203015/from-header.png");
    let named = json!({"url": origin.url("/download"), "file_name": "chosen.png", "posted_at": "2026-11-24T20:30:15Z"});
    assert_eq!(invoke(&app, named).await.unwrap()["stored"][0]["key"], "2026/11/24/203015/chosen.png");
}

#[tokio::test]
async fn forty_mib_streams_through_multipart_and_reads_back() {
    let server = S3Server::start().await;
    let body = big_png(40 * 1024 * 1024);
    let served = body.clone();
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let stored = invoke(&server.app(&[]), url_item(&origin.url("/big/photo.png"))).await.unwrap();
    let key = "2026/11/24/203015/photo.png";
    assert_eq!(stored["stored"][0]["key"], key);
    assert_eq!(stored["stored"][0]["size"], body.len());
    let sha = hex::encode(Sha256::digest(&body));
    assert_eq!(stored["stored"][0]["sha256"], sha.as_str());
    let object =
        server.client().get_object().bucket(BUCKET).key(key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(object.metadata().unwrap()["sha256"], sha);
    assert_eq!(object.content_type(), Some("image/png"));
    let read = object.body.collect().await.unwrap().into_bytes();
    assert!(read == body, "the object read back differs");
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
    // Each part is hashed once, by us: its checksum header is signed and checked by S3, so
    // the payload itself is sent unsigned rather than hashed again by the SDK.
    let puts = server.puts.lock().unwrap().clone();
    assert_eq!(puts.len(), 5, "five parts of 8 MiB");
    for put in puts {
        assert_eq!(put["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        assert!(put["authorization"].to_str().unwrap().contains("x-amz-checksum-sha256"), "the checksum is signed");
    }

    // The same URL again: the same bytes are already there.
    let again = invoke(&server.app(&[]), url_item(&origin.url("/big/photo.png"))).await.unwrap();
    assert_eq!(again["stored"][0]["status"], "existing");
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
}

#[tokio::test]
async fn large_bodies_that_collide_move_aside_and_unnamed_ones_take_their_digest() {
    let server = S3Server::start().await;
    let (first, second) = (big_png(9 * 1024 * 1024), big_png(9 * 1024 * 1024 + 1));
    let (a, b) = (first.clone(), second.clone());
    let origin = Origin::start(move |path| match path {
        "/v1/cam.png" => Reply::Bytes("image/png", a.clone()),
        "/v2/cam.png" => Reply::Bytes("image/png", b.clone()),
        _ => Reply::Bytes("image/png", a.clone()),
    })
    .await;
    let app = server.app(&[]);
    invoke(&app, url_item(&origin.url("/v1/cam.png"))).await.unwrap();
    let moved = invoke(&app, url_item(&origin.url("/v2/cam.png"))).await.unwrap();
    let sha = hex::encode(Sha256::digest(&second));
    assert_eq!(moved["stored"][0]["key"], format!("2026/11/24/203015/cam-{}.png", &sha[..8]));
    let unnamed = invoke(&app, url_item(&origin.url("/"))).await.unwrap();
    let sha = hex::encode(Sha256::digest(&first));
    assert_eq!(unnamed["stored"][0]["key"], format!("2026/11/24/203015/{}.png", &sha[..16]));
    assert_eq!(server.keys().len(), 3);
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
}

#[tokio::test]
async fn upstream_errors_are_fetch_failed_with_the_status() {
    let server = S3Server::start().await;
    let origin = Origin::start(|path| Reply::Status(if path == "/missing.png" { 404 } else { 500 })).await;
    let app = server.app(&[]);
    let (code, message) = failure(&app, &origin.url("/missing.png")).await;
    assert_eq!(code, "fetch_failed");
    assert!(message.contains("404"), "{message}");
    let (code, message) = failure(&app, &origin.url("/broken.png")).await;
    assert_eq!(code, "fetch_failed");
    assert!(message.contains("500"), "{message}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, _) = failure(&app, &format!("http://{closed}/gone.png")).await;
    assert_eq!(code, "fetch_failed");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn https_goes_through_tls_on_the_same_connect_path() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", tabby())).await;
    // The origin speaks plain HTTP: the TLS handshake fails after the guarded connect.
    let (code, message) = failure(&server.app(&[]), &origin.url("/a.png").replacen("http:", "https:", 1)).await;
    assert_eq!(code, "fetch_failed", "{message}");
    assert!(message.contains("https://127.0.0.1:") && message.contains("cannot connect"), "{message}");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn a_slow_body_hits_the_whole_fetch_timeout() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Stalled(tabby(), Duration::from_secs(30))).await;
    let started = std::time::Instant::now();
    let (code, message) = failure(&server.app(&[("FETCH_TIMEOUT_MS", "500")]), &origin.url("/slow.png")).await;
    assert_eq!(code, "fetch_failed");
    assert!(message.contains("timed out"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_cut_off_and_leave_no_parts() {
    let server = S3Server::start().await;
    let chunk = Bytes::from(big_png(1024 * 1024).to_vec());
    let origin = Origin::start(move |path| match path {
        "/announced.png" => Reply::Announced(50 * 1024 * 1024),
        _ => Reply::Chunked(chunk.clone(), 12),
    })
    .await;
    let app = server.app(&[("MAX_OBJECT_BYTES", "10485760")]);
    // No Content-Length: cut off by the bytes received, after the multipart upload began.
    let (code, message) = failure(&app, &origin.url("/endless.png")).await;
    assert_eq!(code, "too_large", "{message}");
    // A Content-Length over the limit is refused before reading.
    let (code, message) = failure(&app, &origin.url("/announced.png")).await;
    assert_eq!(code, "too_large", "{message}");
    assert!(server.keys().is_empty());
    // The abort waited for the parts in flight, so none can land after it.
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
}

#[tokio::test]
async fn text_served_as_png_is_415() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", Bytes::from_static(b"<html>not a picture</html>"))).await;
    let (code, message) = failure(&server.app(&[]), &origin.url("/fake.png")).await;
    assert_eq!(code, "unsupported_media_type");
    assert_eq!(
        message,
        "1 item failed: item 0: unsupported_media_type: the bytes are text/html, which is not an allowed content type"
    );
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let server = S3Server::start().await;
    let origin = Origin::start(|path| {
        let hops: u32 = path.trim_start_matches("/hop/").trim_end_matches(".png").parse().unwrap_or(0);
        if hops == 0 { Reply::Bytes("image/png", tabby()) } else { Reply::Redirect(format!("/hop/{}.png", hops - 1)) }
    })
    .await;
    let app = server.app(&[("FETCH_MAX_REDIRECTS", "2")]);
    let stored = invoke(&app, url_item(&origin.url("/hop/2.png"))).await.unwrap();
    assert_eq!(stored["stored"][0]["key"], "2026/11/24/203015/2.png");
    let (code, message) = failure(&app, &origin.url("/hop/3.png")).await;
    assert_eq!(code, "fetch_failed");
    assert!(message.contains("redirects"), "{message}");
}

#[tokio::test]
async fn redirects_to_refused_addresses_are_refused() {
    let server = S3Server::start().await;
    let origin = Origin::start(|path| match path {
        "/to-metadata" => Reply::Redirect("http://169.254.169.254/latest/meta-data/".into()),
        "/to-name" => Reply::Redirect("http://metadata.test/latest/".into()),
        "/to-file" => Reply::Redirect("file:///etc/passwd".into()),
        _ => Reply::Redirect("http://[::ffff:10.0.0.1]/x".into()),
    })
    .await;
    let lookup = TestLookup(vec![("metadata.test", "169.254.169.254".parse().unwrap())]);
    let app = server.app_fetching(&[], lookup, true);
    for path in ["/to-metadata", "/to-name", "/to-mapped"] {
        assert_eq!(failure(&app, &origin.url(path)).await.0, "url_not_allowed", "{path}");
    }
    assert_eq!(failure(&app, &origin.url("/to-file")).await.0, "fetch_failed");
    assert_eq!(origin.hits(), 4, "only the first hop of each reached the origin");
}

#[tokio::test]
async fn every_ssrf_spelling_is_refused_without_a_request() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", tabby())).await;
    let port = origin.base.rsplit(':').next().unwrap().to_owned();
    let lookup = TestLookup(vec![
        ("loopback.test", "127.0.0.1".parse().unwrap()),
        ("localhost", "127.0.0.1".parse().unwrap()),
        ("metadata.test", "169.254.169.254".parse().unwrap()),
        ("private.test", "10.0.0.7".parse().unwrap()),
        ("mapped.test", "::ffff:127.0.0.1".parse().unwrap()),
        ("ula.test", "fd00:ec2::254".parse().unwrap()),
        ("mixed.test", "127.0.0.1".parse().unwrap()),
    ]);
    // Loopback not opened: the origin's own 127.0.0.1 is as refused as the rest.
    let app = server.app_fetching(&[("FETCH_ALLOW_PRIVATE", "false")], lookup, false);
    let urls = [
        format!("http://127.0.0.1:{port}/a.png"),
        format!("http://2130706433:{port}/a.png"),
        format!("http://0x7f000001:{port}/a.png"),
        format!("http://0177.0.0.1:{port}/a.png"),
        format!("http://127.1:{port}/a.png"),
        format!("http://[::1]:{port}/a.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/a.png"),
        format!("http://localhost:{port}/a.png"),
        format!("http://LocalHost.:{port}/a.png"),
        format!("http://loopback.test:{port}/a.png"),
        format!("http://mapped.test:{port}/a.png"),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
        "http://[fd00:ec2::254]/latest/meta-data/".into(),
        "http://metadata.test/latest/".into(),
        "http://private.test/a.png".into(),
        "http://ula.test/a.png".into(),
        "http://10.0.0.1/a.png".into(),
        "http://172.16.0.1/a.png".into(),
        "http://192.168.0.1/a.png".into(),
        "http://100.64.0.1/a.png".into(),
        "http://0.0.0.0/a.png".into(),
        "http://[::]/a.png".into(),
        "http://224.0.0.1/a.png".into(),
        "http://255.255.255.255/a.png".into(),
        "http://[fe80::1]/a.png".into(),
        "file:///etc/passwd".into(),
        "ftp://example.com/a.png".into(),
        format!("http://user:secret@127.0.0.1:{port}/a.png"),
    ];
    for url in &urls {
        let (code, message) = failure(&app, url).await;
        assert_eq!(code, "url_not_allowed", "{url}: {message}");
        assert!(!message.contains("secret"), "{message}");
    }
    assert_eq!(origin.hits(), 0, "a refused URL reached the origin");
}

#[tokio::test]
async fn fetch_allow_private_loopback_reaches_loopback_and_nothing_else() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", tabby())).await;
    let port = origin.base.rsplit(':').next().unwrap().to_owned();
    let lookup = TestLookup(vec![
        ("localhost", "127.0.0.1".parse().unwrap()),
        ("cam.test", "127.0.0.1".parse().unwrap()),
        ("metadata.test", "169.254.169.254".parse().unwrap()),
        ("private.test", "10.0.0.7".parse().unwrap()),
        ("mixed.test", "127.0.0.1".parse().unwrap()),
        ("mixed.test", "10.0.0.7".parse().unwrap()),
    ]);
    // Opened by the setting itself, as demos and local runs do, not by a test hook.
    let app = server.app_fetching(&[("FETCH_ALLOW_PRIVATE", "loopback")], lookup, false);
    for (i, host) in ["127.0.0.1", "localhost", "cam.test"].into_iter().enumerate() {
        let stored = invoke(&app, url_item(&format!("http://{host}:{port}/cam/{i}.png"))).await.unwrap();
        assert_eq!(stored["stored"][0]["key"], format!("2026/11/24/203015/{i}.png"), "{host}");
    }
    assert_eq!(origin.hits(), 3);
    for url in [
        "http://10.0.0.1/a.png".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "http://metadata.test/latest/".to_owned(),
        "http://private.test/a.png".to_owned(),
        format!("http://mixed.test:{port}/a.png"),
        "http://0.0.0.0/a.png".to_owned(),
    ] {
        let (code, message) = failure(&app, &url).await;
        assert_eq!(code, "url_not_allowed", "{url}: {message}");
    }
    assert_eq!(origin.hits(), 3, "a refused URL reached the origin");
}

#[tokio::test]
async fn urls_work_through_the_api_with_a_mix_of_items() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", tabby())).await;
    let body = json!({"items": [{"url": origin.url("/cats/a.png")}, {"url": "http://10.1.2.3/b.png"}]}).to_string();
    let mut event = fixture("apigw-v2-json-partial.json");
    event["body"] = json!(body);
    let (status, response) = invoke_api(&server.app(&[]), event).await;
    assert_eq!(status, 207, "{response}");
    assert_eq!(response["stored"][0]["key"], "2026/11/24/203015/a.png");
    assert_eq!(response["failed"][0]["error"]["code"], "url_not_allowed");
}

#[tokio::test]
async fn a_large_object_whose_sha256_was_never_recorded_is_still_recognised() {
    let server = S3Server::start().await;
    let body = big_png(9 * 1024 * 1024);
    let served = body.clone();
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let app = server.app(&[]);
    let key = "2026/11/24/203015/cam.png";
    invoke(&app, url_item(&origin.url("/big/cam.png"))).await.unwrap();

    // As if the run that completed the upload had died before recording the digest.
    let client = server.client();
    client
        .copy_object()
        .bucket(BUCKET)
        .key(key)
        .copy_source(format!("{BUCKET}/{key}"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("image/png")
        .send()
        .await
        .unwrap();
    let head = client.head_object().bucket(BUCKET).key(key).send().await.unwrap();
    assert!(head.metadata().is_none_or(|m| !m.contains_key("sha256")));

    // The redelivery recognises its bytes by the multipart ETag, and repairs the metadata.
    let again = invoke(&app, url_item(&origin.url("/big/cam.png"))).await.unwrap();
    assert_eq!(again["stored"][0]["key"], key);
    assert_eq!(again["stored"][0]["status"], "existing");
    assert_eq!(server.keys(), [key]);
    let head = client.head_object().bucket(BUCKET).key(key).send().await.unwrap();
    assert_eq!(head.metadata().unwrap()["sha256"], hex::encode(Sha256::digest(&body)));
    assert!(server.open_uploads().is_empty());
}

/// A URL of exactly `len` bytes on `origin`, long in its query as a crawl's URLs are.
fn url_of_len(origin: &Origin, len: usize) -> String {
    let base = origin.url("/cams/1.png?session=");
    format!("{base}{}", "q".repeat(len - base.len()))
}

#[tokio::test]
async fn a_url_over_8_kib_is_refused_on_every_source_before_any_fetch() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Bytes("image/png", tabby())).await;
    let app = server.app(&[]);
    let request = json!({"items": [{"url": url_of_len(&origin, 9 * 1024)}]});

    for name in ["apigw-v1-json-items.json", "apigw-v2-json-partial.json"] {
        let mut event = fixture(name);
        event["body"] = json!(request.to_string());
        let (status, body) = invoke_api(&app, event).await;
        assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid_request")), "{name}: {body}");
        assert_eq!(body["error"]["message"], "url is 9216 bytes; at most 8192 are accepted");
    }
    let mut custom = fixture("eventbridge-custom.json");
    custom["detail"] = request.clone();
    for (source, event) in [("eventbridge", custom), ("direct", request.clone())] {
        let err = invoke(&app, event).await.expect_err(source);
        assert_eq!(err.error_type, "invalid_request", "{source}: {}", err.error_message);
        assert!(err.error_message.contains("url is 9216 bytes"), "{source}: {}", err.error_message);
    }
    let batch = json!({"Items": request["items"], "BatchInput": {"run_started_at": "2026-11-24T20:30:15.123Z"}});
    let answer = invoke(&app, batch).await.unwrap();
    assert_eq!(answer["failed"][0]["error"]["code"], "invalid_request", "{answer}");
    // An SQS answer names only the record; its code is in the logs (tests/integration/binary.rs).
    let mut queued = fixture("sqs-redelivery.json");
    queued["Records"][0]["body"] = json!(request.to_string());
    let id = queued["Records"][0]["messageId"].as_str().unwrap().to_owned();
    assert_eq!(failed_ids(&invoke(&app, queued).await.unwrap()), [id]);

    assert_eq!(origin.hits(), 0, "nothing was fetched");
    assert!(server.keys().is_empty());
    let longest = invoke(&app, url_item(&url_of_len(&origin, 8 * 1024))).await.unwrap();
    assert_eq!(longest["stored"][0]["key"], "2026/11/24/203015/1.png", "8 KiB is still accepted");
    assert_eq!(origin.hits(), 1);
}
