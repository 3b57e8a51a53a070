//! Duplicates (`DEDUPE=true`) on moto_server, an independent S3: the contract's sentences and
//! the parallel race again (`dedupe.rs` has them on s3s-fs). moto answers `If-Match` on a
//! missing key with 404 NoSuchKey where s3s-fs says 412; both are a lost claim. A missing
//! moto_server fails the test.

use crate::common;

use std::sync::Arc;

use super::dedupe::{AT, DAY, item, race_round, sha256};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use common::moto::Moto;
use common::origin::{Origin, Reply};
use common::*;
use image_ingest::store::{ContentIndex, S3Store};
use serde_json::{Value, json};

async fn started() -> (Moto, image_ingest::App) {
    let moto = Moto::start().await;
    moto.create_bucket().await;
    let app = moto.app_with(&[("DEDUPE", "true")]);
    (moto, app)
}

/// Every key in the bucket, sorted.
async fn keys(moto: &Moto) -> Vec<String> {
    let listed = moto.client().list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let mut keys: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    keys.sort();
    keys
}

async fn objects(moto: &Moto) -> Vec<String> {
    keys(moto).await.into_iter().filter(|k| !k.starts_with("index/")).collect()
}

/// The key the entry for `bytes` names.
async fn entry(moto: &Moto, bytes: &[u8]) -> Option<String> {
    let got = moto.client().get_object().bucket(BUCKET).key(format!("index/sha256/{}", sha256(bytes))).send().await;
    let body = got.ok()?.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice::<Value>(&body).unwrap()["key"].as_str().unwrap().to_owned())
}

fn status_and_key(answer: &Value) -> (String, String) {
    let stored = &answer["stored"][0];
    (stored["status"].as_str().unwrap().to_owned(), stored["key"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn moto_duplicates_existing_and_a_stale_entry_taken_over() {
    let (moto, app) = started().await;
    let tabby = png::small(3);
    let key = format!("{DAY}/tabby.png");
    assert_eq!(
        status_and_key(&invoke(&app, item("tabby.png", &tabby)).await.unwrap()),
        ("created".into(), key.clone())
    );
    assert_eq!(entry(&moto, &tabby).await, Some(key.clone()));
    let copy = invoke(&app, item("copy.png", &tabby)).await.unwrap();
    assert_eq!(status_and_key(&copy), ("duplicate".into(), key.clone()), "{copy}");
    let again = invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    assert_eq!(status_and_key(&again), ("existing".into(), key.clone()));
    assert_eq!(objects(&moto).await, [key.as_str()]);

    // The object is deleted (an expiry rule): the next writer takes the entry over.
    moto.client().delete_object().bucket(BUCKET).key(&key).send().await.unwrap();
    let next = invoke(&app, item("next.png", &tabby)).await.unwrap();
    let next_key = format!("{DAY}/next.png");
    assert_eq!(status_and_key(&next), ("created".into(), next_key.clone()), "{next}");
    assert_eq!(entry(&moto, &tabby).await, Some(next_key.clone()));
    assert_eq!(objects(&moto).await, [next_key.as_str()]);

    // Off, every key is independent.
    let plain = moto.app();
    assert_eq!(status_and_key(&invoke(&plain, item("plain.png", &tabby)).await.unwrap()).0, "created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moto_parallel_invocations_and_one_request_leave_one_object_per_content() {
    const ROUNDS: u64 = 10;
    const RACERS: usize = 6;
    let (moto, app) = started().await;
    let apps: Vec<Arc<image_ingest::App>> =
        (0..RACERS).map(|_| Arc::new(moto.app_with(&[("DEDUPE", "true")]))).collect();
    for round in 0..ROUNDS {
        let content = png::numbered(round, 3000);
        let answers = race_round(&apps, round, &content).await;
        let winner = entry(&moto, &content).await.expect("one entry");
        let prefix = format!("/r{round}-");
        let mine: Vec<String> = objects(&moto).await.into_iter().filter(|k| k.contains(&prefix)).collect();
        assert_eq!(mine, [winner.as_str()], "round {round}: exactly one object");
        let created = answers.iter().filter(|a| a["stored"][0]["status"] == "created").count();
        assert_eq!(created, 1, "round {round}: {answers:?}");
        assert!(answers.iter().all(|a| a["stored"][0]["key"] == winner.as_str()), "round {round}");
    }
    let entries = keys(&moto).await.into_iter().filter(|k| k.starts_with("index/")).count();
    assert_eq!(entries, ROUNDS as usize);

    let tabby = png::small(3);
    let items: Vec<Value> = (0..8).map(|i| item(&format!("n{i}.png"), &tabby)).collect();
    let answer = invoke(&app, json!({ "items": items })).await.unwrap();
    let winner = entry(&moto, &tabby).await.unwrap();
    assert!(answer["stored"].as_array().unwrap().iter().all(|s| s["key"] == winner.as_str()), "{answer}");
    assert_eq!(objects(&moto).await.iter().filter(|k| k.contains("/n")).count(), 1);
}

#[tokio::test]
async fn moto_a_streamed_duplicate_is_aborted_and_a_staged_one_deleted() {
    let (moto, app) = started().await;
    let body = Bytes::from(png::sized(5, 9 * 1024 * 1024));
    let origin = Origin::start(move |_| Reply::Bytes("image/png", body.clone())).await;
    let first = invoke(&app, json!({"url": origin.url("/big.png"), "posted_at": AT})).await.unwrap();
    let key = format!("{DAY}/big.png");
    assert_eq!(status_and_key(&first), ("created".into(), key.clone()));
    let second = invoke(&app, json!({"url": origin.url("/again.png"), "posted_at": AT})).await.unwrap();
    assert_eq!(status_and_key(&second), ("duplicate".into(), key.clone()), "{second}");
    let uploads = moto.client().list_multipart_uploads().bucket(BUCKET).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "no upload left open: {:?}", uploads.uploads());
    assert_eq!(objects(&moto).await, [key.as_str()]);

    let tabby = png::small(3);
    invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    let staged = "incoming/2026/11/25/101500/upload.png";
    moto.client().put_object().bucket(BUCKET).key(staged).body(ByteStream::from(tabby)).send().await.unwrap();
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(staged);
    let answer = invoke(&app, notice).await.unwrap();
    assert_eq!(status_and_key(&answer), ("duplicate".into(), format!("{DAY}/tabby.png")), "{answer}");
    assert_eq!(objects(&moto).await, [key.clone(), format!("{DAY}/tabby.png")], "the staging object is gone");
}

/// moto answers `If-Match` on a missing key with 404 NoSuchKey: a lost claim, like a 412.
#[tokio::test]
async fn moto_replacing_an_entry_that_is_gone_is_a_lost_claim() {
    let moto = Moto::start().await;
    moto.create_bucket().await;
    let store = S3Store::new(&sdk_config(&moto.endpoint, SECRET_KEY), &config(&[]));
    let stale = Some("\"0123456789abcdef0123456789abcdef\"");
    assert!(!store.write_entry("index/sha256/00", "a.png", stale).await.unwrap());
    assert!(store.write_entry("index/sha256/00", "a.png", None).await.unwrap());
    assert!(!store.write_entry("index/sha256/00", "b.png", None).await.unwrap(), "If-None-Match: one creator");
    let read = store.read_entry("index/sha256/00").await.unwrap().unwrap();
    assert_eq!(read.key, "a.png");
    assert!(store.write_entry("index/sha256/00", "b.png", Some(&read.version)).await.unwrap());
    assert!(!store.write_entry("index/sha256/00", "c.png", Some(&read.version)).await.unwrap(), "one taker");
}
