//! API Gateway and direct invocations through the public handler, against s3s-fs over HTTP.

use crate::common;

use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Reads an object back and checks bytes, type, sha256 metadata and the verified checksum.
async fn assert_stored(server: &S3Server, key: &str, bytes: &[u8], content_type: &str) {
    let object = server
        .client()
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key} readable: {e:?}"));
    let digest = Sha256::digest(bytes);
    assert_eq!(object.content_type(), Some(content_type), "{key}");
    assert_eq!(object.metadata().unwrap()["sha256"], hex::encode(digest), "{key}");
    assert_eq!(object.checksum_sha256(), Some(B64.encode(digest).as_str()), "{key}");
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], bytes, "{key}");
}

fn fixture_bytes(name: &str, pointer: &str) -> Vec<u8> {
    B64.decode(fixture(name).pointer(pointer).unwrap().as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn raw_png_is_stored_under_its_date_path() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/")]);
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!(status, 201, "{body}");
    let key = "images/2026/11/24/203015/tabby.png";
    let png = fixture_bytes("apigw-v2-raw-png.json", "/body");
    assert_eq!(
        body["stored"][0],
        json!({"key": key, "bucket": BUCKET, "size": png.len(), "content_type": "image/png",
               "sha256": hex::encode(Sha256::digest(&png)), "status": "created", "width": 4, "height": 4})
    );
    assert_stored(&server, key, &png, "image/png").await;
    assert_eq!(server.keys(), [key]);
    let puts = server.puts.lock().unwrap().clone();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0]["x-amz-content-sha256"], "UNSIGNED-PAYLOAD", "hashed once, checked by S3 via its checksum");
    assert!(puts[0]["authorization"].to_str().unwrap().contains("x-amz-checksum-sha256"));
}

#[tokio::test]
async fn name_comes_from_the_query_and_the_stage_is_ignored() {
    let server = S3Server::start().await;
    let (status, body) = invoke_api(&server.app(&[]), fixture("apigw-v2-raw-query-name.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.keys(), ["2026/11/24/203015/dog.png"]);
}

#[tokio::test]
async fn rest_api_json_items_keep_metadata_and_posted_at() {
    let server = S3Server::start().await;
    let (status, body) = invoke_api(&server.app(&[]), fixture("apigw-v1-json-items.json")).await;
    assert_eq!(status, 201, "{body}");
    let request: Value = serde_json::from_str(fixture("apigw-v1-json-items.json")["body"].as_str().unwrap()).unwrap();
    let tabby = B64.decode(request["items"][0]["data"].as_str().unwrap()).unwrap();
    let gif = B64.decode(request["items"][1]["data"].as_str().unwrap()).unwrap();
    assert_stored(&server, "2026/11/24/203015/tabby.png", &tabby, "image/png").await;
    assert_stored(&server, "2026/11/20/080000/pixel.gif", &gif, "image/gif").await;
    let head = server.client().head_object().bucket(BUCKET).key("2026/11/24/203015/tabby.png").send().await.unwrap();
    assert_eq!(head.metadata().unwrap()["source"], "crawler-7");
}

#[tokio::test]
async fn rest_api_with_a_custom_domain_base_path_routes_by_name() {
    let server = S3Server::start().await;
    let (status, body) = invoke_api(&server.app(&[]), fixture("apigw-v1-raw-base-path.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.keys(), ["2026/11/24/203015/dog.png"]);
}

#[tokio::test]
async fn multipart_stores_one_object_per_file_part() {
    let server = S3Server::start().await;
    let (status, body) = invoke_api(&server.app(&[]), fixture("apigw-v2-multipart.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["stored"].as_array().unwrap().len(), 2);
    assert_eq!(server.keys(), ["2026/11/24/203015/pixel.gif", "2026/11/24/203015/tabby.png"]);
}

#[tokio::test]
async fn a_bad_item_does_not_take_down_the_others() {
    let server = S3Server::start().await;
    let (status, body) = invoke_api(&server.app(&[]), fixture("apigw-v2-json-partial.json")).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["stored"][0]["key"], "2026/11/24/203015/dog.png");
    assert_eq!(body["failed"][0]["index"], 1);
    assert_eq!(body["failed"][0]["error"]["code"], "invalid_base64");
    assert_eq!(server.keys(), ["2026/11/24/203015/dog.png"]);
}

#[tokio::test]
async fn path_traversal_names_are_flattened() {
    let server = S3Server::start().await;
    let (status, body) = invoke_api(&server.app(&[]), fixture("apigw-v2-path-traversal.json")).await;
    assert_eq!(status, 201, "{body}");
    let key = body["stored"][0]["key"].as_str().unwrap();
    assert!(key.ends_with("/passwd.png") && !key.contains(".."), "{key}");
    assert_eq!(server.keys(), [key]);
}

#[tokio::test]
async fn bad_requests_get_their_code_and_write_nothing() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    for (name, status, code) in [
        ("apigw-v2-invalid-base64.json", 400, "invalid_base64"),
        ("apigw-v2-truncated-json.json", 400, "invalid_json"),
        ("apigw-v2-empty-body.json", 400, "empty_object"),
        ("apigw-v2-not-image.json", 415, "unsupported_media_type"),
        ("apigw-v2-unknown-route.json", 404, "not_found"),
        ("apigw-v2-wrong-method.json", 405, "method_not_allowed"),
    ] {
        let (got, body) = invoke_api(&app, fixture(name)).await;
        assert_eq!((got, body["error"]["code"].as_str().unwrap()), (status, code), "{name}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    assert!(server.keys().is_empty(), "{:?}", server.keys());
}

#[tokio::test]
async fn over_the_limit_is_413_before_decoding() {
    let server = S3Server::start().await;
    let app = server.app(&[("MAX_OBJECT_BYTES", "20")]);
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
    let (status, body) = invoke_api(&app, fixture("apigw-v1-json-items.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn allowed_content_types_are_enforced_on_the_sniffed_type() {
    let server = S3Server::start().await;
    let app = server.app(&[("ALLOWED_CONTENT_TYPES", "image/gif")]);
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!(status, 415, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("image/png"));
    let (status, _) =
        invoke_api(&server.app(&[("ALLOWED_CONTENT_TYPES", "*/*")]), fixture("apigw-v2-not-image.json")).await;
    assert_eq!(status, 201);
    assert_eq!(server.keys(), ["2026/11/24/203015/notes.bin"]);
}

#[tokio::test]
async fn same_bytes_are_idempotent_and_different_bytes_move_aside() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let item =
        |bytes: &[u8]| json!({"data": B64.encode(bytes), "file_name": "cat.png", "posted_at": "2026-11-24T20:30:15Z"});
    let (first, second) = (png::small(1), png::small(2));

    let stored = invoke(&app, item(&first)).await.unwrap();
    assert_eq!(stored["stored"][0]["status"], "created");
    let again = invoke(&app, item(&first)).await.unwrap();
    assert_eq!(again["stored"][0]["status"], "existing");
    assert_eq!(again["stored"][0]["key"], "2026/11/24/203015/cat.png");

    let other = invoke(&app, item(&second)).await.unwrap();
    let sha8 = &hex::encode(Sha256::digest(&second))[..8];
    let moved = format!("2026/11/24/203015/cat-{sha8}.png");
    assert_eq!(other["stored"][0]["key"], moved.as_str());
    assert_eq!(other["stored"][0]["status"], "created");
    assert_stored(&server, "2026/11/24/203015/cat.png", &first, "image/png").await;
    assert_stored(&server, &moved, &second, "image/png").await;

    let moved_again = invoke(&app, item(&second)).await.unwrap();
    assert_eq!(
        moved_again["stored"][0],
        json!({"key": moved, "bucket": BUCKET, "size": second.len(),
        "content_type": "image/png", "sha256": hex::encode(Sha256::digest(&second)), "status": "existing",
        "width": 1, "height": 1})
    );
    assert_eq!(server.keys().len(), 2);
}

#[tokio::test]
async fn missing_bucket_fails_the_request_and_writes_nothing() {
    let server = S3Server::start().await;
    let app = server.app(&[("BUCKET_NAME", "no-such-bucket")]);
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "bucket_not_found");
    assert_eq!(body["error"]["message"], "bucket no-such-bucket does not exist");
    let err = invoke(&app, fixture("direct-bare-item.json")).await.unwrap_err();
    assert_eq!(err.error_type, "bucket_not_found");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn access_denied_is_503_bucket_access_denied() {
    let server = S3Server::start().await;
    let app = image_ingest::App::new(&config(&[]), &server.sdk("the-wrong-secret"));
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_access_denied")), "{body}");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn unreachable_s3_is_storage_error_within_a_bound() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = image_ingest::App::new(&config(&[]), &sdk_config(&endpoint, SECRET_KEY));
    let started = std::time::Instant::now();
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("storage_error")), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn direct_invocations_store_or_fail_naming_the_codes() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let stored = invoke(&app, fixture("direct-bare-item.json")).await.unwrap();
    assert_eq!(stored["stored"][0]["key"], "2026/11/24/203015/dog.png");
    assert_stored(&server, "2026/11/24/203015/dog.png", &fixture_bytes("direct-bare-item.json", "/data"), "image/png")
        .await;

    let stored = invoke(&app, fixture("direct-items.json")).await.unwrap();
    let gif_key = stored["stored"][1]["key"].as_str().unwrap();
    assert!(gif_key.starts_with("2026/11/24/203015/") && gif_key.ends_with(".gif"), "{gif_key}");

    let err = invoke(&app, fixture("direct-invalid-item.json")).await.unwrap_err();
    assert_eq!(err.error_type, "unsupported_media_type");
    assert!(err.error_message.contains("item 1: unsupported_media_type"), "{}", err.error_message);

    let err = invoke(&app, fixture("direct-unrecognised.json")).await.unwrap_err();
    assert_eq!(err.error_type, "invalid_request");
    assert!(err.error_message.contains("unrecognised event"), "{}", err.error_message);
}
