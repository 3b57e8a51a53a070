//! Under faults nothing is lost and nothing is overwritten: random SQS batches against random
//! fault schedules between the SDK and S3, then a redrive of what was reported once the faults
//! stop.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::faults::{Fault, FaultProxy};
use common::origin::{Origin, Reply};
use common::*;
use image_ingest::store::{Bucket, S3Store};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
enum Record {
    /// A good image, named `cam-{name}.png`; names repeat, so collisions happen.
    Good {
        name: u8,
    },
    /// The same, fetched from a URL ending in `cam-{name}.png` on a local origin.
    Url {
        name: u8,
    },
    /// A 9 MiB body from a URL: streamed as a multipart upload.
    BigUrl {
        name: u8,
    },
    BadBase64,
    NotJson,
}

impl Record {
    fn is_good(&self) -> bool {
        matches!(self, Record::Good { .. } | Record::Url { .. } | Record::BigUrl { .. })
    }
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        3 => (0u8..3).prop_map(|name| Record::Good { name }),
        2 => (0u8..3).prop_map(|name| Record::Url { name }),
        1 => (0u8..3).prop_map(|name| Record::BigUrl { name }),
        1 => Just(Record::BadBase64),
        1 => Just(Record::NotJson),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        4 => Just(Fault::Pass),
        1 => Just(Fault::SlowDown),
        1 => Just(Fault::InternalError),
        1 => Just(Fault::ResetBefore),
        1 => Just(Fault::ResetAfter),
        1 => (1u64..40).prop_map(Fault::Latency),
    ]
}

/// The bytes of record `index`: different for every record.
fn bytes_of(index: usize) -> Vec<u8> {
    let mut bytes = png::small(index as u8);
    bytes.extend_from_slice(format!("record {index}").as_bytes());
    bytes
}

/// The bytes of a big record: more than one multipart part.
fn big_bytes_of(index: usize) -> Vec<u8> {
    let mut bytes = bytes_of(index);
    bytes.resize(9 * 1024 * 1024 + index, index as u8);
    bytes
}

fn expected_bytes(index: usize, record: &Record) -> Vec<u8> {
    if matches!(record, Record::BigUrl { .. }) { big_bytes_of(index) } else { bytes_of(index) }
}

fn batch(records: &[(usize, &Record)], origin: &Origin) -> Value {
    let template = fixture("sqs-redelivery.json")["Records"][0].clone();
    let records: Vec<Value> = records
        .iter()
        .map(|(index, record)| {
            let body = match record {
                Record::Good { name } => {
                    json!({"data": B64.encode(bytes_of(*index)), "file_name": format!("cam-{name}.png")}).to_string()
                }
                Record::Url { name } => json!({"url": origin.url(&format!("/{index}/cam-{name}.png"))}).to_string(),
                Record::BigUrl { name } => {
                    json!({"url": origin.url(&format!("/{index}/big/cam-{name}.png"))}).to_string()
                }
                Record::BadBase64 => json!({"data": "%% not base64 %%"}).to_string(),
                Record::NotJson => "not json".to_owned(),
            };
            let mut r = template.clone();
            r["messageId"] = json!(format!("m-{index}"));
            r["body"] = json!(body);
            r
        })
        .collect();
    json!({ "Records": records })
}

async fn check(records: Vec<Record>, faults: Vec<Fault>) -> Result<(), String> {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = app_behind(&proxy);
    let origin = origin_of_records().await;
    let indexed: Vec<(usize, &Record)> = records.iter().enumerate().collect();

    proxy.schedule(&faults);
    let first = invoke(&app, batch(&indexed, &origin)).await.map_err(|e| format!("invocation failed: {e:?}"))?;
    let reported: BTreeSet<String> = failed_ids(&first).into_iter().collect();
    let good: Vec<(usize, &Record)> = indexed.iter().copied().filter(|(_, r)| r.is_good()).collect();

    // Every record is stored or reported. (A reported record may have left its object without
    // the sha256 metadata yet, when the run broke between completing and recording; the
    // redrive must repair that.)
    let stored_now: BTreeSet<Vec<u8>> = stored_bytes(&server, false).await?.into_iter().map(|(_, b)| b).collect();
    for (index, record) in &good {
        if !reported.contains(&format!("m-{index}")) && !stored_now.contains(&expected_bytes(*index, record)) {
            return Err(format!("record {index} was neither stored nor reported"));
        }
    }
    for (index, record) in &indexed {
        if !record.is_good() && !reported.contains(&format!("m-{index}")) {
            return Err(format!("bad record {index} was not reported"));
        }
    }

    // Redrive what was reported, with the faults gone.
    proxy.schedule(&[]);
    let again: Vec<(usize, &Record)> =
        indexed.iter().copied().filter(|(i, _)| reported.contains(&format!("m-{i}"))).collect();
    let mut redrive = Value::Null;
    if !again.is_empty() {
        redrive = invoke(&app, batch(&again, &origin)).await.map_err(|e| format!("redrive failed: {e:?}"))?;
    }

    // Every good record is stored exactly once, intact, with its sha256; nothing else is there.
    let stored = stored_bytes(&server, true).await?;
    let mut expected: Vec<Vec<u8>> = good.iter().map(|(i, r)| expected_bytes(*i, r)).collect();
    let mut found: Vec<Vec<u8>> = stored.iter().map(|(_, b)| b.clone()).collect();
    expected.sort();
    found.sort();
    if expected != found {
        return Err(format!(
            "stored {} objects for {} good records: {:?}; first answer {first}, redrive answer {redrive}",
            found.len(),
            expected.len(),
            stored.iter().map(|(k, _)| k).collect::<Vec<_>>()
        ));
    }
    // No upload the function knew of is left open, unless S3 refused every attempt to abort it.
    // Two kinds are left to the bucket's lifecycle rule: one whose CreateMultipartUpload answer
    // was lost (its id never reached the function), and one whose abort failed on each of the
    // client's attempts.
    let orphans = proxy.orphaned_uploads();
    let requests = proxy.requests();
    let aborts_of = |file: &str| {
        requests
            .iter()
            .filter(|r| r.contains("AbortMultipartUpload") && upload_id_in(file).is_some_and(|id| r.contains(id)))
            .count()
    };
    let open: Vec<String> = server
        .open_uploads()
        .into_iter()
        .filter(|file| !orphans.iter().any(|id| file.contains(id.as_str())))
        .filter(|file| aborts_of(file) < ABORT_ATTEMPTS)
        .collect();
    if !open.is_empty() {
        let multipart: Vec<&String> =
            requests.iter().filter(|r| r.contains("uploadId") || r.contains("?uploads")).collect();
        return Err(format!("open multipart uploads: {open:?}; multipart requests: {multipart:#?}"));
    }
    Ok(())
}

/// The S3 client's attempts per request (see `the_s3_client_retries_within_the_lambda_timeout`).
const ABORT_ATTEMPTS: usize = 3;

/// The upload id in one of s3s-fs's upload files (`.upload_id-{id}.part-1`, `.upload-{id}.json`).
fn upload_id_in(file: &str) -> Option<&str> {
    let rest = file.split("upload_id-").nth(1).or_else(|| file.split(".upload-").nth(1))?;
    rest.get(..36)
}

/// The lifecycle rule's case, made certain: the origin stalls after one part, so the upload
/// fails at the fetch timeout, and the proxy fails the aborts alone. With every abort refused
/// the upload stays open (which `check` allows); with one let through, nothing does.
#[tokio::test]
async fn an_upload_stays_open_only_when_every_abort_failed() {
    let origin = Origin::start(|_| {
        let mut big = png::small(3);
        big.resize(9 * 1024 * 1024, 7);
        Reply::Stalled(bytes::Bytes::from(big), Duration::from_secs(20))
    })
    .await;
    for (refused, left_open) in [(ABORT_ATTEMPTS, 1), (ABORT_ATTEMPTS - 1, 0)] {
        let server = S3Server::start().await;
        let proxy = FaultProxy::start(&server.endpoint).await;
        proxy.fail_matching("AbortMultipartUpload", Fault::InternalError, refused);
        let app = app_at(&proxy.endpoint, &[("FETCH_TIMEOUT_MS", "1000")]);
        let item = json!({"url": origin.url("/big.png"), "posted_at": "2026-11-24T20:30:15Z"});
        let _ = invoke(&app, item).await;
        let requests = proxy.requests();
        let aborts = requests.iter().filter(|r| r.contains("AbortMultipartUpload")).count();
        assert_eq!(aborts, ABORT_ATTEMPTS, "{refused} refused: {requests:#?}");
        let uploads = server.open_uploads();
        let open: BTreeSet<&str> = uploads.iter().filter_map(|file| upload_id_in(file)).collect();
        assert_eq!(open.len(), left_open, "{refused} aborts refused");
        assert!(server.keys().is_empty(), "nothing stored: {:?}", server.keys());
    }
}

/// The function with its S3 traffic through `proxy` and its fetcher reaching the test origins.
fn app_behind(proxy: &FaultProxy) -> image_ingest::App {
    app_at(&proxy.endpoint, &[])
}

/// Serves record `i`'s bytes at `/{i}/...`.
async fn origin_of_records() -> Origin {
    Origin::start(|path| {
        let index: usize = path.trim_start_matches('/').split('/').next().unwrap_or("0").parse().unwrap_or(0);
        let bytes = if path.contains("/big/") { big_bytes_of(index) } else { bytes_of(index) };
        Reply::Bytes("image/png", bytes::Bytes::from(bytes))
    })
    .await
}

/// Every stored object's key and bytes, after checking its sha256 metadata where present
/// (and, when `complete`, that it is present).
async fn stored_bytes(server: &S3Server, complete: bool) -> Result<Vec<(String, Vec<u8>)>, String> {
    let client = server.client();
    let mut out = Vec::new();
    for key in server.keys() {
        let object = client.get_object().bucket(BUCKET).key(&key).send().await.map_err(|e| format!("{key}: {e:?}"))?;
        let sha = object.metadata().and_then(|m| m.get("sha256")).cloned();
        let bytes = object.body.collect().await.map_err(|e| format!("{key}: reading: {e:?}"))?.into_bytes().to_vec();
        let wrong = match &sha {
            Some(sha) => *sha != hex::encode(Sha256::digest(&bytes)),
            None => complete,
        };
        if wrong {
            return Err(format!("{key}: sha256 metadata does not match its bytes"));
        }
        out.push((key, bytes));
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn faults_lose_nothing_and_overwrite_nothing(
        records in proptest::collection::vec(record(), 1..7),
        faults in proptest::collection::vec(fault(), 0..20),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let outcome = runtime.block_on(check(records, faults));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

#[tokio::test]
async fn a_bucket_deleted_mid_run_fails_the_records_and_nothing_is_lost() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = app_behind(&proxy);
    let origin = origin_of_records().await;
    let records = [Record::Good { name: 0 }, Record::Url { name: 1 }];
    let indexed: Vec<(usize, &Record)> = records.iter().enumerate().collect();
    // HeadBucket passes, then every write and the re-check say NoSuchBucket.
    proxy.schedule(&[Fault::Pass, Fault::NoSuchBucket, Fault::NoSuchBucket, Fault::NoSuchBucket, Fault::NoSuchBucket]);
    let first = invoke(&app, batch(&indexed, &origin)).await.unwrap();
    assert_eq!(failed_ids(&first), ["m-0", "m-1"]);
    assert!(server.keys().is_empty());
    proxy.schedule(&[]);
    // The cache was invalidated, and the bucket is back: the redrive stores both.
    let again = invoke(&app, batch(&indexed, &origin)).await.unwrap();
    assert_eq!(failed_ids(&again), Vec::<String>::new());
    assert_eq!(server.keys().len(), 2);
}

#[tokio::test]
async fn the_s3_client_retries_within_the_lambda_timeout() {
    let store = S3Store::new(&sdk_config("http://127.0.0.1:9", SECRET_KEY), &config(&[]));
    let s3 = store.client().config();
    let retry = s3.retry_config().unwrap();
    assert_eq!(retry.mode(), aws_sdk_s3::config::retry::RetryMode::Standard);
    assert_eq!(retry.max_attempts(), 3);
    assert!(retry.max_backoff() <= Duration::from_secs(2));
    let timeouts = s3.timeout_config().unwrap();
    let operation = timeouts.operation_timeout().unwrap();
    assert!(operation < Duration::from_secs(30), "an operation ends before the 30 s function timeout");
    assert!(timeouts.connect_timeout().unwrap() <= Duration::from_secs(2));
    assert_eq!(store.bucket(), BUCKET);
}

/// Invokes a direct request for one URL item through `proxy` and returns its `stored` entry.
async fn store_url_through(proxy: &FaultProxy, origin: &Origin, path: &str) -> serde_json::Value {
    let item = serde_json::json!({"url": origin.url(path), "posted_at": "2026-11-24T20:30:15Z"});
    let answer = invoke(&app_behind(proxy), item).await.unwrap_or_else(|e| panic!("{e:?}"));
    answer["stored"][0].clone()
}

#[tokio::test]
async fn a_completed_upload_whose_answer_was_lost_is_stored_not_failed() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let origin = origin_of_records().await;
    // HeadBucket, CreateMultipartUpload and the two parts pass; S3 completes the upload but
    // the connection drops before the answer (and the SDK's retry finds the upload gone).
    proxy.schedule(&[Fault::Pass, Fault::Pass, Fault::Pass, Fault::Pass, Fault::ResetAfter]);
    let stored = store_url_through(&proxy, &origin, "/3/big/photo.png").await;
    let bytes = big_bytes_of(3);
    assert_eq!(stored["status"], "created");
    assert_eq!(stored["sha256"], hex::encode(Sha256::digest(&bytes)).as_str());
    let objects = stored_bytes(&server, true).await.unwrap();
    assert_eq!(objects, [("2026/11/24/203015/photo.png".to_owned(), bytes)]);
    assert!(server.open_uploads().is_empty(), "{:?}", server.open_uploads());
}

#[tokio::test]
async fn a_put_whose_every_answer_was_lost_is_checked_at_the_key() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let origin = origin_of_records().await;
    // HeadBucket passes; the first PutObject is stored and each of the SDK's three attempts
    // loses its answer; the look at the key that follows finds the bytes intact.
    proxy.schedule(&[Fault::Pass, Fault::ResetAfter, Fault::ResetAfter, Fault::ResetAfter]);
    let stored = store_url_through(&proxy, &origin, "/4/small.png").await;
    assert_eq!(stored["status"], "created");
    let objects = stored_bytes(&server, true).await.unwrap();
    assert_eq!(objects, [("2026/11/24/203015/small.png".to_owned(), bytes_of(4))]);
}

#[tokio::test]
async fn a_digest_that_could_not_be_recorded_fails_the_write_and_the_retry_records_it() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let origin = origin_of_records().await;
    // HeadBucket, CreateMultipartUpload, both parts and the completion pass; all three attempts
    // at the digest's copy fail. The bytes are stored, but without their sha256.
    let mut faults = vec![Fault::Pass; 5];
    faults.extend([Fault::InternalError; 3]);
    proxy.schedule(&faults);
    let item = json!({"url": origin.url("/3/big/photo.png"), "posted_at": "2026-11-24T20:30:15Z"});
    let failed = invoke(&app_behind(&proxy), item.clone()).await;
    assert!(failed.is_err(), "a stored object without its digest is not a success: {failed:?}");
    let copies = proxy.requests().iter().filter(|r| r.contains("CopyObject")).count();
    assert_eq!(copies, ABORT_ATTEMPTS, "the client's attempts at the copy");

    proxy.schedule(&[]);
    let stored = store_url_through(&proxy, &origin, "/3/big/photo.png").await;
    let bytes = big_bytes_of(3);
    assert_eq!(stored["status"], "existing", "{stored}");
    assert_eq!(stored["sha256"], hex::encode(Sha256::digest(&bytes)).as_str());
    let objects = stored_bytes(&server, true).await.unwrap();
    assert_eq!(objects, [("2026/11/24/203015/photo.png".to_owned(), bytes)]);
}
