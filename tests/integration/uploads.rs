//! Verified uploads: objects staged under UPLOAD_PREFIX are read through every check, promoted
//! by a conditional copy, and removed from the staging area; refusals are deleted, never retried.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use common::faults::{Fault, FaultProxy};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const STAGED: &str = "incoming/2026/11/25/101500/panorama.png";
const FINAL: &str = "images/2026/11/25/101500/panorama.png";

fn app(server: &S3Server) -> image_ingest::App {
    server.app(&[("KEY_PREFIX", "images/")])
}

/// S3's notification for `key` in the test bucket, the key encoded as S3 encodes it.
fn notice(key: &str) -> Value {
    let mut event = fixture("s3-object-created.json");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    event["Records"][0]["s3"]["object"]["key"] = json!(form_encode(key));
    event
}

/// Form encoding as S3 notifications use it: space as `+`, `/` kept, the rest percent-encoded.
fn form_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b'/' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
            b if b.is_ascii_alphanumeric() => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

async fn stage(server: &S3Server, key: &str, bytes: &[u8]) {
    let put = server.client().put_object().bucket(BUCKET).key(key).body(ByteStream::from(bytes.to_vec()));
    put.send().await.unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn a_staged_image_is_verified_promoted_by_copy_and_unstaged() {
    let server = S3Server::start().await;
    let bytes = png::small(1);
    stage(&server, STAGED, &bytes).await;
    let answer = invoke(&app(&server), notice(STAGED)).await.unwrap();
    assert_eq!(
        answer["stored"][0],
        json!({"key": FINAL, "bucket": BUCKET, "size": bytes.len(), "content_type": "image/png",
               "sha256": sha256(&bytes), "status": "created", "width": 1, "height": 1}),
        "{answer}"
    );
    assert_eq!(server.keys(), [FINAL], "the staging object is gone");
    let client = server.client();
    let head = client.head_object().bucket(BUCKET).key(FINAL).send().await.unwrap();
    assert_eq!(head.content_type(), Some("image/png"));
    let metadata = head.metadata().unwrap();
    assert_eq!(metadata["sha256"], sha256(&bytes));
    assert_eq!((metadata["width"].as_str(), metadata["height"].as_str()), ("1", "1"));
    // S3 computes the copy's checksum when asked; s3s-fs does not, so the ask itself is checked.
    let copies = server.copies.lock().unwrap().clone();
    assert_eq!(copies.len(), 1, "one server-side copy, no upload of the bytes");
    assert_eq!(copies[0]["x-amz-checksum-algorithm"], "SHA256");
    assert_eq!(copies[0]["x-amz-metadata-directive"], "REPLACE");
    assert_eq!(copies[0]["if-none-match"], "*");
}

#[tokio::test]
async fn every_notification_shape_promotes_and_keys_are_decoded_exactly() {
    let server = S3Server::start().await;
    let app = app(&server);
    let keys = ["incoming/red flower.png", "incoming/c++ notes.png", "incoming/日本 café.png"];
    for (i, key) in keys.iter().enumerate() {
        stage(&server, key, &png::small(i as u8)).await;
    }
    // Straight from S3, through an SQS queue, and through EventBridge (raw key).
    invoke(&app, notice(keys[0])).await.unwrap();
    let mut queued = fixture("sqs-s3-object-created.json");
    queued["Records"][0]["body"] = json!(notice(keys[1]).to_string());
    queued["Records"][1]["body"] =
        json!(queued["Records"][1]["body"].as_str().unwrap().replace("image-ingest-demo", BUCKET));
    assert_eq!(failed_ids(&invoke(&app, queued).await.unwrap()), Vec::<String>::new());
    let mut bridged = fixture("eventbridge-s3-object-created.json");
    bridged["detail"]["bucket"]["name"] = json!(BUCKET);
    bridged["detail"]["object"]["key"] = json!(keys[2]);
    invoke(&app, bridged).await.unwrap();
    let stored = server.keys();
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(stored.iter().all(|k| k.starts_with("images/")), "every staging object promoted: {stored:?}");
}

#[tokio::test]
async fn refusals_delete_the_staging_object_and_store_nothing() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/"), ("MAX_OBJECT_BYTES", "1000")]);
    stage(&server, "incoming/page.jpg", b"<html>not a picture</html>").await;
    stage(&server, "incoming/big.png", &[png::small(2), vec![0; 2000]].concat()).await;
    stage(&server, "incoming/empty.png", b"").await;
    for (key, code) in [
        ("incoming/page.jpg", "unsupported_media_type"),
        ("incoming/big.png", "too_large"),
        ("incoming/empty.png", "empty_object"),
    ] {
        let answer = invoke(&app, notice(key)).await.unwrap();
        assert_eq!(answer["stored"], json!([]), "{key}");
        assert_eq!(answer["refused"][0]["error"]["code"], code, "{key}: {answer}");
    }
    assert_eq!(server.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn the_refused_sample_removes_an_html_page_staged_as_jpeg() {
    let server = S3Server::start().await;
    stage(&server, "incoming/2026/11/25/101500/page.jpg", b"<html><body>not a picture</body></html>").await;
    let mut event = fixture("s3-object-created-html-as-jpeg.json");
    event["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    let answer = invoke(&app(&server), event).await.unwrap();
    assert_eq!(answer["refused"][0]["error"]["code"], "unsupported_media_type", "{answer}");
    assert_eq!(server.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn collisions_follow_the_rules_of_every_item() {
    let server = S3Server::start().await;
    let app = app(&server);
    // Other bytes already at the final key: the copy moves aside to {stem}-{sha8}.
    stage(&server, FINAL, &png::small(9)).await;
    stage(&server, STAGED, &png::small(1)).await;
    let answer = invoke(&app, notice(STAGED)).await.unwrap();
    let moved = format!("images/2026/11/25/101500/panorama-{}.png", &sha256(&png::small(1))[..8]);
    assert_eq!(answer["stored"][0]["key"], moved.as_str(), "{answer}");
    let kept = server.client().get_object().bucket(BUCKET).key(FINAL).send().await.unwrap();
    assert_eq!(&kept.body.collect().await.unwrap().into_bytes()[..], &png::small(9)[..], "never overwritten");
    // The same bytes staged again: existing, and the staging object goes.
    stage(&server, STAGED, &png::small(1)).await;
    let again = invoke(&app, notice(STAGED)).await.unwrap();
    assert_eq!(
        (again["stored"][0]["key"].as_str(), again["stored"][0]["status"].as_str()),
        (Some(moved.as_str()), Some("existing"))
    );
    assert_eq!(server.keys(), [moved, FINAL.to_owned()]);
}

#[tokio::test]
async fn a_duplicate_notification_is_a_success() {
    let server = S3Server::start().await;
    let app = app(&server);
    stage(&server, STAGED, &png::small(1)).await;
    invoke(&app, notice(STAGED)).await.unwrap();
    let duplicate = invoke(&app, notice(STAGED)).await.unwrap();
    assert_eq!((duplicate["stored"].clone(), duplicate["gone"].clone()), (json!([]), json!(1)));
    assert_eq!(server.keys(), [FINAL]);
}

#[tokio::test]
async fn a_crash_between_copy_and_delete_is_healed_by_the_redelivery() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let config = config(&[("KEY_PREFIX", "images/")]);
    let app = image_ingest::App::new(&config, &sdk_config(&proxy.endpoint, SECRET_KEY));
    stage(&server, STAGED, &png::small(1)).await;
    // HeadBucket, GetObject and CopyObject pass; DeleteObject fails on every attempt.
    proxy.schedule(&[
        Fault::Pass,
        Fault::Pass,
        Fault::Pass,
        Fault::ResetBefore,
        Fault::ResetBefore,
        Fault::ResetBefore,
    ]);
    let failed = invoke(&app, notice(STAGED)).await.unwrap_err();
    assert_eq!(failed.error_type, "storage_error", "a storage failure is retried by the source");
    assert_eq!(server.keys(), [FINAL.to_owned(), STAGED.to_owned()]);
    proxy.schedule(&[]);
    let redelivered = invoke(&app, notice(STAGED)).await.unwrap();
    assert_eq!(redelivered["stored"][0]["status"], "existing", "{redelivered}");
    assert_eq!(server.keys(), [FINAL]);
}

#[tokio::test]
async fn sample_notifications_outside_the_staging_prefix_are_acknowledged_and_ignored() {
    let server = S3Server::start().await;
    let app = app(&server);
    stage(&server, "images/2026/11/25/101500/own-write.png", &png::small(3)).await;
    for sample in ["s3-sam-generated-put.json", "eventbridge-s3-documented-example.json"] {
        let answer = invoke(&app, fixture(sample)).await.unwrap();
        assert_eq!((answer["stored"].clone(), answer["ignored"].clone()), (json!([]), json!(1)), "{sample}");
    }
    // The function's own write, notified by a bucket-wide configuration: never read again.
    let own = invoke(&app, notice("images/2026/11/25/101500/own-write.png")).await.unwrap();
    assert_eq!(own["ignored"], 1);
    assert_eq!(server.keys(), ["images/2026/11/25/101500/own-write.png"]);
}

#[tokio::test]
async fn a_staged_object_larger_than_a_range_is_read_in_ranges_and_promoted_intact() {
    let server = S3Server::start().await;
    // Two whole 8 MiB ranges and a part of a third.
    let bytes = png::sized(4, 20 * 1024 * 1024 + 12_345);
    stage(&server, STAGED, &bytes).await;
    let answer = invoke(&app(&server), notice(STAGED)).await.unwrap();
    assert_eq!(answer["stored"][0]["sha256"], sha256(&bytes), "{answer}");
    assert_eq!(answer["stored"][0]["size"], bytes.len());
    let object = server.client().get_object().bucket(BUCKET).key(FINAL).send().await.unwrap();
    assert_eq!(object.metadata().unwrap()["sha256"], sha256(&bytes));
    assert!(object.body.collect().await.unwrap().into_bytes() == bytes, "every byte promoted in order");
    assert_eq!(server.keys(), [FINAL]);
}

#[tokio::test]
async fn a_staged_object_replaced_after_its_check_is_never_promoted_unchecked() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = image_ingest::App::new(&config(&[("KEY_PREFIX", "images/")]), &sdk_config(&proxy.endpoint, SECRET_KEY));
    let (checked, replacement) = (png::small(1), png::small(2));
    stage(&server, STAGED, &checked).await;
    // HeadBucket and GetObject pass; the CopyObject waits while another writer replaces the
    // staged object (the drop folder lets any tool write there).
    proxy.schedule(&[Fault::Pass, Fault::Pass, Fault::Hold]);
    let (result, ()) = tokio::join!(invoke(&app, notice(STAGED)), async {
        proxy.held().await;
        stage(&server, STAGED, &replacement).await;
        proxy.release();
    });
    let failed = result.unwrap_err();
    assert_eq!(failed.error_type, "storage_error", "retried, so the new bytes get checked: {failed:?}");
    assert!(failed.error_message.contains("changed after it was checked"), "{}", failed.error_message);
    assert_eq!(server.keys(), [STAGED], "nothing promoted; the new version waits for the retry");
    // The retry (or the replacement's own notification) checks and promotes the new bytes.
    let answer = invoke(&app, notice(STAGED)).await.unwrap();
    assert_eq!(answer["stored"][0]["sha256"], sha256(&replacement), "{answer}");
    assert_eq!(server.keys(), [FINAL]);
}
