//! SQS batches through the public handler against s3s-fs: exact partial failures,
//! idempotent redelivery, FIFO order, the bucket check and the deadline.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;

const GOOD: &str = "059f36b4-87a3-44ab-83d2-661975830a7d";
const BAD_BASE64: &str = "2e1424d4-f796-459a-8184-9c92662be6da";
const NOT_JSON: &str = "3f1d9bb8-0c52-4bd8-9a3e-b1b4e2f0b6a1";
const REFUSED_URL: &str = "7c0c2f5e-51f3-4a8e-9d0c-2a5b8f1e6d4c";

#[tokio::test]
async fn mixed_batch_reports_exactly_the_records_not_stored() {
    let server = S3Server::start().await;
    let response = invoke(&server.app(&[]), fixture("sqs-batch-mixed.json")).await.unwrap();
    assert_eq!(failed_ids(&response), [BAD_BASE64, NOT_JSON, REFUSED_URL]);
    // The key time is the message's SentTimestamp.
    assert_eq!(server.keys(), ["2026/11/24/203015/tabby.png"]);
}

#[tokio::test]
async fn redelivered_records_are_idempotent() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    invoke(&app, fixture("sqs-batch-mixed.json")).await.unwrap();
    let path = server.root.path().join(BUCKET).join("2026/11/24/203015/tabby.png");
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();

    let response = invoke(&app, fixture("sqs-redelivery.json")).await.unwrap();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    let again = invoke(&app, fixture("sqs-batch-mixed.json")).await.unwrap();
    assert_eq!(failed_ids(&again), [BAD_BASE64, NOT_JSON, REFUSED_URL]);

    assert_eq!(server.keys(), ["2026/11/24/203015/tabby.png"], "no new object");
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), written, "no overwrite");
}

#[tokio::test]
async fn fifo_group_stops_at_its_first_failure_and_other_groups_go_on() {
    let server = S3Server::start().await;
    let response = invoke(&server.app(&[]), fixture("sqs-fifo-group-failure.json")).await.unwrap();
    assert_eq!(failed_ids(&response), ["a1000000-0000-4000-8000-000000000003", "a1000000-0000-4000-8000-000000000004"]);
    assert_eq!(
        server.keys(),
        ["2026/11/24/203015/cam-a-1.png", "2026/11/24/203015/cam-b-1.png", "2026/11/24/203015/cam-b-2.gif"]
    );
}

#[tokio::test]
async fn missing_bucket_fails_every_record() {
    let server = S3Server::start().await;
    let app = server.app(&[("BUCKET_NAME", "no-such-bucket")]);
    let response = invoke(&app, fixture("sqs-batch-mixed.json")).await.unwrap();
    assert_eq!(failed_ids(&response), [GOOD, BAD_BASE64, NOT_JSON, REFUSED_URL]);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn near_deadline_reports_unstarted_records_and_writes_nothing() {
    let server = S3Server::start().await;
    let response =
        invoke_with_deadline(&server.app(&[]), fixture("sqs-fifo-group-failure.json"), Duration::from_millis(500))
            .await
            .unwrap();
    assert_eq!(failed_ids(&response).len(), 5);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn with_time_left_the_whole_batch_runs() {
    let server = S3Server::start().await;
    let response =
        invoke_with_deadline(&server.app(&[]), fixture("sqs-batch-mixed.json"), Duration::from_secs(30)).await.unwrap();
    assert_eq!(failed_ids(&response), [BAD_BASE64, NOT_JSON, REFUSED_URL]);
}

#[tokio::test]
async fn a_record_without_message_id_fails_the_invocation() {
    let server = S3Server::start().await;
    let mut event = fixture("sqs-redelivery.json");
    event["Records"][0]["messageId"] = json!("");
    let err = invoke(&server.app(&[]), event).await.unwrap_err();
    assert_eq!(err.error_type, "invalid_request");
    assert!(err.error_message.contains("messageId"), "{}", err.error_message);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn bodies_that_are_not_requests_are_reported_not_dropped() {
    let server = S3Server::start().await;
    let mut event = fixture("sqs-redelivery.json");
    for (body, id) in
        [("", "empty"), ("[1,2]", "array"), ("{\"items\":[]}", "no-items"), ("{\"data\":5}", "wrong-type")]
    {
        let mut record = event["Records"][0].clone();
        record["body"] = json!(body);
        record["messageId"] = json!(id);
        event["Records"].as_array_mut().unwrap().push(record);
    }
    let response = invoke(&server.app(&[]), event).await.unwrap();
    assert_eq!(failed_ids(&response), ["array", "empty", "no-items", "wrong-type"]);
    assert_eq!(server.keys(), ["2026/11/24/203015/tabby.png"]);
}

mod with_urls {
    use super::*;
    use bytes::Bytes;
    use common::origin::{Origin, Reply};

    fn url_records(origin: &Origin, count: usize) -> serde_json::Value {
        let mut event = fixture("sqs-redelivery.json");
        let template = event["Records"][0].clone();
        let records: Vec<serde_json::Value> = (0..count)
            .map(|i| {
                let mut record = template.clone();
                record["messageId"] = json!(format!("url-{i}"));
                record["body"] = json!(json!({"url": origin.url(&format!("/cam/{i}.png"))}).to_string());
                record
            })
            .collect();
        event["Records"] = json!(records);
        event
    }

    #[tokio::test]
    async fn missing_bucket_fetches_nothing() {
        let server = S3Server::start().await;
        let origin = Origin::start(|_| Reply::Bytes("image/png", Bytes::from(png::small(1)))).await;
        let app = server.app(&[("BUCKET_NAME", "no-such-bucket")]);
        let response = invoke(&app, url_records(&origin, 3)).await.unwrap();
        assert_eq!(failed_ids(&response), ["url-0", "url-1", "url-2"]);
        assert_eq!(origin.hits(), 0);
    }

    #[tokio::test]
    async fn records_run_concurrently_up_to_the_limit() {
        let server = S3Server::start().await;
        let origin =
            Origin::start(|_| Reply::Delayed(Duration::from_millis(300), "image/png", Bytes::from(png::small(1))))
                .await;
        let response = invoke(&server.app(&[]), url_records(&origin, 10)).await.unwrap();
        assert_eq!(failed_ids(&response), Vec::<String>::new());
        assert_eq!(origin.peak_concurrency(), 10, "BATCH_CONCURRENCY defaults to 10: one wave for SQS's batch");
        assert_eq!(server.keys().len(), 10);

        let narrow = S3Server::start().await;
        let slow =
            Origin::start(|_| Reply::Delayed(Duration::from_millis(200), "image/png", Bytes::from(png::small(1))))
                .await;
        invoke(&narrow.app(&[("BATCH_CONCURRENCY", "2")]), url_records(&slow, 4)).await.unwrap();
        assert_eq!(slow.peak_concurrency(), 2);
        assert_eq!(narrow.keys().len(), 4);
    }

    #[tokio::test]
    async fn records_still_running_at_the_deadline_are_reported_not_half_written() {
        let server = S3Server::start().await;
        let origin = Origin::start(|path| {
            if path == "/cam/0.png" {
                Reply::Bytes("image/png", Bytes::from(png::small(1)))
            } else {
                Reply::Delayed(Duration::from_secs(20), "image/png", Bytes::from(png::small(2)))
            }
        })
        .await;
        let started = std::time::Instant::now();
        // 2.8 s left and a 2 s margin: the batch must answer after about 0.8 s.
        let response =
            invoke_with_deadline(&server.app(&[]), url_records(&origin, 3), Duration::from_millis(2800)).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "answered after {:?}", started.elapsed());
        assert_eq!(failed_ids(&response), ["url-1", "url-2"]);
        assert_eq!(server.keys(), ["2026/11/24/203015/0.png"]);
        assert!(server.open_uploads().is_empty());
    }
}
