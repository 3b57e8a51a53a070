//! Step Functions Distributed Map batches, as an ItemBatcher sends them: JSON Lines items and
//! CSV rows, keys at the run's start, permanent failures answered item by item, transient ones
//! failing the batch for the state machine's Retry, and the per-host fetch bound.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::faults::{Fault, FaultProxy};
use common::origin::{Origin, Reply, TestLookup};
use common::*;
use serde_json::{Value, json};

const TRANSIENT: &str = "ImageIngest.Transient";
const RUN: &str = "2026-11-24T20:30:15.123Z";

fn batch(items: Vec<Value>) -> Value {
    json!({"Items": items, "BatchInput": {"run_started_at": RUN}})
}

fn data_item(seed: u8, name: &str) -> Value {
    use base64::Engine;
    json!({"data": base64::engine::general_purpose::STANDARD.encode(png::small(seed)), "file_name": name})
}

fn keys_of(answer: &Value) -> Vec<&str> {
    answer["stored"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect()
}

fn statuses(answer: &Value) -> Vec<&str> {
    let mut statuses: Vec<&str> =
        answer["stored"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    statuses.sort();
    statuses
}

#[tokio::test]
async fn json_lines_items_are_keyed_at_the_run_start_unless_posted() {
    let server = S3Server::start().await;
    let event = fixture("stepfunctions-batch-jsonl.json");
    let answer = invoke(&server.app(&[]), event.clone()).await.unwrap();
    assert_eq!(keys_of(&answer), ["2026/11/24/203015/tabby.png", "2026/11/20/080000/dog.png"], "{answer}");
    assert_eq!(answer["stored"][0]["width"], 4);
    assert_eq!(
        answer["failed"],
        json!([{"index": 2, "item": event["Items"][2], "error": {"code": "unsupported_media_type",
               "message": "the bytes are application/octet-stream, which is not an allowed content type"}}])
    );
    assert_eq!(server.keys(), ["2026/11/20/080000/dog.png", "2026/11/24/203015/tabby.png"]);
    let head = server.client().head_object().bucket(BUCKET).key("2026/11/20/080000/dog.png").send().await.unwrap();
    assert_eq!(head.metadata().unwrap()["source"], "crawl-42");
}

#[tokio::test]
async fn csv_rows_become_items_and_a_bad_row_fails_alone() {
    let server = S3Server::start().await;
    let event = fixture("stepfunctions-batch-csv.json");
    let answer = invoke(&server.app(&[]), event.clone()).await.unwrap();
    assert_eq!(keys_of(&answer), ["2026/11/24/203015/row-1.png"], "{answer}");
    let failed = answer["failed"].as_array().unwrap();
    let codes: Vec<(u64, &str)> =
        failed.iter().map(|f| (f["index"].as_u64().unwrap(), f["error"]["code"].as_str().unwrap())).collect();
    assert_eq!(codes, [(1, "invalid_request"), (2, "url_not_allowed")]);
    assert_eq!(failed[0]["item"], event["Items"][1], "the row is echoed as the manifest gave it");
    let head = server.client().head_object().bucket(BUCKET).key("2026/11/24/203015/row-1.png").send().await.unwrap();
    let metadata = head.metadata().unwrap();
    assert_eq!(metadata["source"], "crawl-42");
    assert_eq!(metadata["page"], "https://example.com/cats");
    assert!(!metadata.contains_key("metadata.source"));
}

#[tokio::test]
async fn rows_that_are_not_items_fail_with_invalid_request() {
    let server = S3Server::start().await;
    let rows = vec![
        json!({"url": "", "data": "", "colour": "red"}),
        json!({"data": "aGk=", "metadata": {"a": "b"}, "metadata.c": "d"}),
        json!({"url": "https://x.example/1.png", "posted_at": "last week"}),
        json!("https://x.example/1.png"),
        json!({"data": "aGk=", "metadata.bad key": "x"}),
    ];
    let answer = invoke(&server.app(&[]), batch(rows)).await.unwrap();
    let codes: Vec<&str> =
        answer["failed"].as_array().unwrap().iter().map(|f| f["error"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["invalid_request"; 5], "{answer}");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn a_redriven_batch_stores_nothing_new() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let items = vec![data_item(1, "a.png"), data_item(2, "b.png"), json!({"data": "aGVsbG8="})];
    let first = invoke(&app, batch(items.clone())).await.unwrap();
    assert_eq!(statuses(&first), ["created", "created"]);
    let keys = server.keys();
    let again = invoke(&app, batch(items)).await.unwrap();
    assert_eq!(statuses(&again), ["existing", "existing"]);
    assert_eq!(keys_of(&again), keys_of(&first));
    assert_eq!(again["failed"], first["failed"]);
    assert_eq!(server.keys(), keys);
}

/// An app whose S3 calls pass through the fault proxy in front of `server`.
fn app_behind(proxy: &FaultProxy) -> image_ingest::App {
    let config = config(&[]);
    let fetcher = common::origin::fetcher(&config, TestLookup(vec![]), true);
    image_ingest::App::with_fetcher(&config, &sdk_config(&proxy.endpoint, SECRET_KEY), Arc::new(fetcher))
}

#[tokio::test]
async fn duplicates_within_a_batch_are_stored_once() {
    let server = S3Server::start().await;
    // s3s-fs checks If-None-Match and then writes, so two concurrent writes to one key could
    // both pass; the proxy forwards writes one at a time, as S3 decides them.
    let proxy = FaultProxy::start(&server.endpoint).await;
    let item = data_item(7, "same.png");
    let answer = invoke(&app_behind(&proxy), batch(vec![item.clone(), item.clone(), item])).await.unwrap();
    assert_eq!(statuses(&answer), ["created", "existing", "existing"], "{answer}");
    assert_eq!(server.keys(), ["2026/11/24/203015/same.png"]);
}

#[tokio::test]
async fn a_batch_without_its_run_start_is_refused_whole() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    for event in [
        json!({"Items": [data_item(1, "a.png")]}),
        json!({"Items": [data_item(1, "a.png")], "BatchInput": {"run_started_at": "yesterday"}}),
        json!({"Items": [data_item(1, "a.png")], "BatchInput": {}}),
    ] {
        let err = invoke(&app, event.clone()).await.expect_err(&event.to_string());
        assert_eq!(err.error_type, "invalid_request", "{event}");
        assert!(err.error_message.contains("run_started_at"), "{}", err.error_message);
    }
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn origin_answers_decide_permanent_or_transient() {
    let server = S3Server::start().await;
    let origin = Origin::start(|path| match path {
        "/gone.png" => Reply::Status(404),
        "/forbidden.png" => Reply::Status(403),
        "/busy.png" => Reply::Status(503),
        "/later.png" => Reply::Status(429),
        _ => Reply::Bytes("image/png", Bytes::from(png::small(3))),
    })
    .await;
    let app = server.app(&[]);
    let url = |p: &str| json!({"url": origin.url(p)});
    let permanent = invoke(&app, batch(vec![url("/ok.png"), url("/gone.png"), url("/forbidden.png")])).await.unwrap();
    assert_eq!(keys_of(&permanent), ["2026/11/24/203015/ok.png"]);
    let codes: Vec<&str> =
        permanent["failed"].as_array().unwrap().iter().map(|f| f["error"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["fetch_failed", "fetch_failed"]);
    for transient in ["/busy.png", "/later.png"] {
        let err = invoke(&app, batch(vec![url("/ok.png"), url(transient)])).await.expect_err(transient);
        assert_eq!(err.error_type, TRANSIENT, "{transient}");
        assert!(err.error_message.contains("fetch_failed"), "{}", err.error_message);
    }
}

#[tokio::test]
async fn storage_failures_fail_the_batch_and_the_retry_completes_it() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = app_behind(&proxy);
    let items: Vec<Value> = (0..4).map(|i| data_item(i, &format!("{i}.png"))).collect();
    // HeadBucket passes; then S3 throttles for longer than the SDK retries.
    let mut faults = vec![Fault::Pass];
    faults.extend([Fault::SlowDown; 12]);
    proxy.schedule(&faults);
    let err = invoke(&app, batch(items.clone())).await.expect_err("S3 is throttling");
    assert_eq!(err.error_type, TRANSIENT);
    assert!(err.error_message.contains("storage_error"), "{}", err.error_message);
    let stored_before = server.keys().len();
    assert!(stored_before < 4, "some writes were refused");

    proxy.schedule(&[]);
    let retry = invoke(&app, batch(items)).await.unwrap();
    let statuses = statuses(&retry);
    assert_eq!(statuses.len(), 4, "{retry}");
    assert_eq!(statuses.iter().filter(|s| **s == "existing").count(), stored_before, "{retry}");
    assert_eq!(server.keys().len(), 4);
    assert_eq!(retry["failed"], json!([]));
}

#[tokio::test]
async fn a_missing_bucket_and_the_deadline_are_transient() {
    let server = S3Server::start().await;
    let elsewhere = server.app(&[("BUCKET_NAME", "no-such-bucket")]);
    let err = invoke(&elsewhere, batch(vec![data_item(1, "a.png")])).await.expect_err("no bucket");
    assert_eq!(err.error_type, TRANSIENT);
    assert!(err.error_message.contains("bucket_not_found"), "{}", err.error_message);

    let origin =
        Origin::start(|_| Reply::Delayed(Duration::from_secs(30), "image/png", Bytes::from(png::small(2)))).await;
    let items = vec![data_item(1, "quick.png"), json!({"url": origin.url("/slow.png")})];
    let err =
        invoke_with_deadline(&server.app(&[]), batch(items), Duration::from_millis(2_500)).await.expect_err("cut");
    assert_eq!(err.error_type, TRANSIENT);
    assert!(err.error_message.contains("item 1: not_attempted"), "{}", err.error_message);
    assert_eq!(server.keys(), ["2026/11/24/203015/quick.png"], "what could be stored was");
}

#[tokio::test]
async fn fetches_to_one_host_are_bounded_while_other_hosts_proceed() {
    let server = S3Server::start().await;
    let (open, opened) = tokio::sync::watch::channel(false);
    let open = Arc::new(open);
    let served = Arc::new(AtomicUsize::new(0));
    // The other host's five answers open the gate the busy host's answers wait behind: were
    // the bound shared across hosts, the other host would never be reached and this would hang.
    let other = Origin::start(move |path| {
        if served.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
            open.send_replace(true);
        }
        let seed = path.trim_start_matches('/').trim_end_matches(".png").parse().unwrap_or(0);
        Reply::Bytes("image/png", Bytes::from(png::small(seed)))
    })
    .await;
    let busy = Origin::start(move |path| {
        let mut opened = opened.clone();
        let seed = path.trim_start_matches('/').trim_end_matches(".png").parse().unwrap_or(0);
        let gate = async move {
            let _ = opened.wait_for(|open| *open).await;
        };
        Reply::After(Box::pin(gate), "image/png", Bytes::from(png::small(seed)))
    })
    .await;
    let mut items: Vec<Value> = (0..50).map(|i| json!({"url": busy.url(&format!("/{i}.png"))})).collect();
    items.extend((100..105).map(|i| json!({"url": other.url(&format!("/{i}.png"))})));
    let app = server.app(&[("FETCH_MAX_PER_HOST", "3"), ("BATCH_CONCURRENCY", "60")]);
    let answer = tokio::time::timeout(Duration::from_secs(60), invoke(&app, batch(items)))
        .await
        .expect("the other host was not held up by the busy one")
        .unwrap();
    assert_eq!(answer["stored"].as_array().unwrap().len(), 55, "{answer}");
    assert_eq!(busy.hits(), 50);
    assert_eq!(busy.peak_connections(), 3, "connections open at once to the busy host");
    assert_eq!(busy.peak_concurrency(), 3);
}

/// Step Functions' limit on a state's output, and on a batch (MaxInputBytesPerBatch's most).
const STATE_LIMIT: usize = 256 * 1024;

fn json_bytes(value: &Value) -> usize {
    serde_json::to_vec(value).unwrap().len()
}

/// A crawl's batch of `count` items whose URLs' query strings pad it to exactly `bytes`.
fn crawl_batch(origin: &Origin, count: usize, bytes: usize) -> Value {
    let item = |i: usize, pad: usize| {
        json!({"url": origin.url(&format!("/missing/{i}.png?session={}", "s".repeat(pad))), "file_name": format!("{i}.png"),
               "posted_at": "2026-11-20T08:00:00Z", "metadata": {"source": "crawl-42"}})
    };
    let bare = json_bytes(&batch((0..count).map(|i| item(i, 0)).collect()));
    let pad = bytes - bare;
    let items = (0..count).map(|i| item(i, pad / count + usize::from(i < pad % count))).collect();
    let batch = batch(items);
    assert_eq!(json_bytes(&batch), bytes);
    batch
}

#[tokio::test]
async fn a_full_batch_of_refused_items_is_answered_within_256_kib() {
    let server = S3Server::start().await;
    let origin = Origin::start(|_| Reply::Status(404)).await;
    let event = crawl_batch(&origin, 36, STATE_LIMIT - 40);
    let items = event["Items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["url"].as_str().unwrap().len() <= 8192));
    let answer = invoke(&server.app(&[]), event.clone()).await.unwrap();

    let failed = answer["failed"].as_array().unwrap();
    let mut echoed_whole = answer.clone();
    for (entry, item) in echoed_whole["failed"].as_array_mut().unwrap().iter_mut().zip(items) {
        entry["item"] = item.clone();
    }
    echoed_whole.as_object_mut().unwrap().remove("items_shortened");
    let (batch_bytes, answer_bytes, whole_bytes) = (json_bytes(&event), json_bytes(&answer), json_bytes(&echoed_whole));
    println!("batch {batch_bytes} bytes; answer {answer_bytes} bytes; with every item whole it would be {whole_bytes}");
    assert!(whole_bytes > STATE_LIMIT, "the batch must be one whose items cannot all be echoed");
    assert!(answer_bytes <= STATE_LIMIT, "{answer_bytes} bytes");

    assert_eq!(answer["items_shortened"], true);
    assert_eq!(answer["stored"], json!([]));
    assert_eq!(failed.len(), 36, "every failure is answered");
    for (i, entry) in failed.iter().enumerate() {
        assert_eq!(entry["index"], i);
        assert_eq!(entry["error"]["code"], "fetch_failed");
        let message = entry["error"]["message"].as_str().unwrap();
        assert!(message.ends_with(&format!("/missing/{i}.png: upstream answered 404 Not Found")), "{message}");
    }
    let whole = failed.iter().zip(items).take_while(|(entry, item)| entry["item"] == **item).count();
    assert!(whole > 0 && whole < 36, "items are echoed whole while they fit: {whole}");
    for (entry, item) in failed.iter().zip(items).skip(whole) {
        let url = item["url"].as_str().unwrap();
        assert_eq!(entry["item"], json!({"file_name": item["file_name"], "url": &url[..1024]}));
    }
    assert_eq!(origin.hits(), 36, "each item was fetched, and refused by the origin");
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn a_refused_inline_image_in_a_full_batch_comes_back_as_its_name() {
    use base64::Engine;
    let server = S3Server::start().await;
    let page = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 195_000]);
    let event = batch(vec![json!({"data": page, "file_name": "page.png", "metadata": {"source": "crawl-42"}})]);
    assert!(json_bytes(&event) < STATE_LIMIT);
    let answer = invoke(&server.app(&[]), event).await.unwrap();
    assert!(json_bytes(&answer) < 1024, "{answer}");
    assert_eq!(answer["items_shortened"], true);
    assert_eq!(answer["failed"][0]["index"], 0);
    assert_eq!(answer["failed"][0]["item"], json!({"file_name": "page.png"}));
    assert_eq!(answer["failed"][0]["error"]["code"], "unsupported_media_type");
}

#[tokio::test]
async fn a_batch_whose_answer_fits_is_echoed_whole() {
    let server = S3Server::start().await;
    let origin = Origin::start(|path| match path {
        "/ok.png" => Reply::Bytes("image/png", Bytes::from(png::small(4))),
        _ => Reply::Status(404),
    })
    .await;
    let long = format!("{}?session={}", origin.url("/gone.png"), "s".repeat(6000));
    let items = vec![
        json!({"url": origin.url("/ok.png")}),
        json!({"url": long, "file_name": "gone.png", "metadata": {"source": "crawl-42"}}),
        json!({"data": "not base64!", "file_name": "broken.png"}),
        json!({"url": "ftp://example.com/a.png", "posted_at": "2026-11-20T08:00:00Z"}),
        json!({"url": "", "file_name": "", "metadata.source": ""}),
    ];
    let answer = invoke(&server.app(&[]), batch(items.clone())).await.unwrap();
    assert_eq!(keys_of(&answer), ["2026/11/24/203015/ok.png"]);
    assert!(answer.get("items_shortened").is_none(), "{answer}");
    let failed = answer["failed"].as_array().unwrap();
    let echoed: Vec<(u64, &Value, &str)> = failed
        .iter()
        .map(|f| (f["index"].as_u64().unwrap(), &f["item"], f["error"]["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        echoed,
        [
            (1, &items[1], "fetch_failed"),
            (2, &items[2], "invalid_base64"),
            (3, &items[3], "url_not_allowed"),
            (4, &items[4], "invalid_request")
        ]
    );
}
