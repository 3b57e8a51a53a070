//! Every source answers before the invocation's deadline: items still running then are
//! reported as `not_attempted`, and the multipart uploads they started are aborted first.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::origin::{Origin, Reply};
use common::*;
use serde_json::{Value, json};

/// Time left when the invocation starts: with the 2 s margin, the function stops after 1.5 s.
const LEFT: Duration = Duration::from_millis(3500);

/// `/fast.png` answers at once, `/slow.png` after 20 s, and `/big.png` sends 9 MiB (so a
/// multipart upload is open) and then nothing for 20 s.
async fn stalling_origin() -> Origin {
    Origin::start(|path| match path {
        "/fast.png" => Reply::Bytes("image/png", Bytes::from(png::small(1))),
        "/slow.png" => Reply::Delayed(Duration::from_secs(20), "image/png", Bytes::from(png::small(2))),
        _ => {
            let mut big = png::small(3);
            big.resize(9 * 1024 * 1024, 7);
            Reply::Stalled(Bytes::from(big), Duration::from_secs(20))
        }
    })
    .await
}

fn request(origin: &Origin) -> Value {
    json!({"items": [
        {"url": origin.url("/fast.png"), "posted_at": "2026-11-24T20:30:15Z"},
        {"url": origin.url("/slow.png"), "posted_at": "2026-11-24T20:30:15Z"},
        {"url": origin.url("/big.png"), "posted_at": "2026-11-24T20:30:15Z"},
    ]})
}

/// Invokes with the deadline, and checks on the way that the big item's multipart upload
/// really was open before the answer; returns the answer and how long it took.
async fn invoke_until_deadline(
    server: &S3Server,
    payload: Value,
) -> (Result<Value, lambda_runtime::Diagnostic>, Duration) {
    let app = server.app(&[]);
    let started = Instant::now();
    let invocation = tokio::spawn(async move { invoke_with_deadline(&app, payload, LEFT).await });
    while server.open_uploads().is_empty() {
        assert!(started.elapsed() < LEFT, "the big item never started its multipart upload");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = invocation.await.unwrap();
    (answer, started.elapsed())
}

fn assert_cut_off(server: &S3Server, took: Duration) {
    assert!(took < LEFT, "answered after {took:?}, past the deadline");
    assert_eq!(server.keys(), ["2026/11/24/203015/fast.png"]);
    assert_eq!(server.open_uploads(), Vec::<String>::new(), "the cut-off upload was aborted before the answer");
}

#[tokio::test]
async fn api_answers_207_with_unfinished_items_not_attempted() {
    let (server, origin) = (S3Server::start().await, stalling_origin().await);
    let mut event = fixture("apigw-v2-json-partial.json");
    event["body"] = json!(request(&origin).to_string());
    let (answer, took) = invoke_until_deadline(&server, event).await;
    let answer = answer.unwrap();
    assert_eq!(answer["statusCode"], 207);
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["stored"].as_array().unwrap().len(), 1);
    let failed = failed_items(&body);
    assert_eq!(failed, [(1, "not_attempted"), (2, "not_attempted")]);
    assert_cut_off(&server, took);
}

#[tokio::test]
async fn direct_invocation_fails_naming_the_unfinished_items() {
    let (server, origin) = (S3Server::start().await, stalling_origin().await);
    let (answer, took) = invoke_until_deadline(&server, request(&origin)).await;
    let error = answer.unwrap_err();
    assert_eq!(error.error_type, "not_attempted");
    assert!(error.error_message.starts_with("2 items failed: item 1: not_attempted"), "{}", error.error_message);
    assert!(error.error_message.contains("item 2: not_attempted"), "{}", error.error_message);
    assert_cut_off(&server, took);
}

#[tokio::test]
async fn eventbridge_event_fails_naming_the_unfinished_items() {
    let (server, origin) = (S3Server::start().await, stalling_origin().await);
    let mut event = fixture("eventbridge-custom.json");
    event["detail"] = request(&origin);
    let (answer, took) = invoke_until_deadline(&server, event).await;
    let error = answer.unwrap_err();
    assert_eq!(error.error_type, "not_attempted");
    assert!(error.error_message.contains("item 1: not_attempted"), "{}", error.error_message);
    assert!(error.error_message.contains("item 2: not_attempted"), "{}", error.error_message);
    assert_cut_off(&server, took);
}

#[tokio::test]
async fn sqs_reports_the_records_still_running() {
    let (server, origin) = (S3Server::start().await, stalling_origin().await);
    let mut event = fixture("sqs-batch-mixed.json");
    let template = event["Records"][0].clone();
    let records: Vec<Value> = ["/fast.png", "/slow.png", "/big.png"]
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let mut record = template.clone();
            record["messageId"] = json!(format!("m{i}"));
            record["body"] = json!(json!({"url": origin.url(path), "posted_at": "2026-11-24T20:30:15Z"}).to_string());
            record
        })
        .collect();
    event["Records"] = json!(records);
    let (answer, took) = invoke_until_deadline(&server, event).await;
    assert_eq!(failed_ids(&answer.unwrap()), ["m1", "m2"]);
    assert_cut_off(&server, took);
}
