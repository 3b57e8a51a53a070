//! EventBridge custom and scheduled events through the public handler against s3s-fs.

use crate::common;

use common::*;

#[tokio::test]
async fn custom_event_detail_is_stored_under_the_event_time() {
    let server = S3Server::start().await;
    let response = invoke(&server.app(&[]), fixture("eventbridge-custom.json")).await.unwrap();
    assert_eq!(response["stored"][0]["key"], "2026/11/24/203015/dog.png");
    let head = server.client().head_object().bucket(BUCKET).key("2026/11/24/203015/dog.png").send().await.unwrap();
    assert_eq!(head.metadata().unwrap()["source"], "crawler-7");
}

#[tokio::test]
async fn a_failed_item_fails_the_invocation_naming_the_code() {
    let server = S3Server::start().await;
    let err = invoke(&server.app(&[]), fixture("eventbridge-custom-invalid.json")).await.unwrap_err();
    assert_eq!(err.error_type, "unsupported_media_type");
    assert!(err.error_message.contains("item 0: unsupported_media_type"), "{}", err.error_message);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn scheduled_event_without_schedule_urls_is_a_clear_error() {
    let server = S3Server::start().await;
    let err = invoke(&server.app(&[]), fixture("eventbridge-scheduled.json")).await.unwrap_err();
    assert_eq!(err.error_type, "invalid_request");
    assert!(err.error_message.contains("SCHEDULE_URLS"), "{}", err.error_message);
}

#[tokio::test]
async fn missing_bucket_fails_an_eventbridge_invocation() {
    let server = S3Server::start().await;
    let app = server.app(&[("BUCKET_NAME", "no-such-bucket")]);
    let err = invoke(&app, fixture("eventbridge-custom.json")).await.unwrap_err();
    assert_eq!(err.error_type, "bucket_not_found");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn scheduled_event_stores_schedule_urls_under_the_event_time() {
    use common::origin::{Origin, Reply};
    let server = S3Server::start().await;
    let origin = Origin::start(|path| {
        let bytes = if path.ends_with("front.png") { png::small(1) } else { png::small(2) };
        Reply::Bytes("image/png", bytes::Bytes::from(bytes))
    })
    .await;
    let urls = format!("{} {}", origin.url("/cams/front.png"), origin.url("/cams/back.png"));
    let app = server.app(&[("SCHEDULE_URLS", &urls), ("KEY_PREFIX", "snapshots/")]);
    let response = invoke(&app, fixture("eventbridge-scheduled.json")).await.unwrap();
    assert_eq!(response["stored"].as_array().unwrap().len(), 2);
    assert_eq!(server.keys(), ["snapshots/2026/11/24/203000/back.png", "snapshots/2026/11/24/203000/front.png"]);

    // The next run of the same rule at the same time is idempotent.
    let again = invoke(&app, fixture("eventbridge-scheduled.json")).await.unwrap();
    assert_eq!(again["stored"][0]["status"], "existing");
}

#[tokio::test]
async fn a_failed_scheduled_fetch_fails_the_invocation_naming_fetch_failed() {
    use common::origin::{Origin, Reply};
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Status(503)).await;
    let app = server.app(&[("SCHEDULE_URLS", &origin.url("/cams/front.png"))]);
    let err = invoke(&app, fixture("eventbridge-scheduled.json")).await.unwrap_err();
    assert_eq!(err.error_type, "fetch_failed");
    assert!(err.error_message.contains("503"), "{}", err.error_message);
}
