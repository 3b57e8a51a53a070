//! Duplicates (`DEDUPE=true`) on s3s-fs: the content index, every path, the races, the crash
//! points and the requests each item costs. The same sentences on moto are in `dedupe_moto.rs`.
//!
//! s3s-fs checks a condition and then writes, so the harness (`common::S3Server`) serves the
//! requests on one key one at a time, as S3 decides conditional writes.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use common::faults::{Fault, FaultProxy};
use common::origin::{Origin, Reply, TestLookup};
use common::*;
use image_ingest::body::Body;
use image_ingest::deadline::Deadline;
use image_ingest::error::Result;
use image_ingest::ingest::{Batch, Ingestor, Rules, Source, Status};
use image_ingest::request::Item;
use image_ingest::store::{
    Bucket, ContentIndex, Description, Gate, Identity, IndexEntry, ObjectLookup, ObjectWriter, Placement, S3Store,
    Staging, StoredBytes, Written,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub(super) const DAY: &str = "2026/11/24/203015";
pub(super) const AT: &str = "2026-11-24T20:30:15Z";

pub(super) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A direct item of `bytes` named `name`, dated [`AT`].
pub(super) fn item(name: &str, bytes: &[u8]) -> Value {
    json!({"data": B64.encode(bytes), "file_name": name, "posted_at": AT})
}

fn dedupe(server: &S3Server) -> image_ingest::App {
    server.app(&[("DEDUPE", "true")])
}

/// The key the index entry for `bytes` names, read from the server's folder.
fn entry(server: &S3Server, bytes: &[u8]) -> Option<String> {
    let path = server.root.path().join(BUCKET).join("index/sha256").join(sha256(bytes));
    let text = std::fs::read(path).ok()?;
    Some(serde_json::from_slice::<Value>(&text).unwrap()["key"].as_str().unwrap().to_owned())
}

/// Stored objects (not index entries), sorted.
fn objects(server: &S3Server) -> Vec<String> {
    server.keys().into_iter().filter(|k| !k.starts_with("index/")).collect()
}

fn entries(server: &S3Server) -> Vec<String> {
    server.keys().into_iter().filter(|k| k.starts_with("index/")).collect()
}

#[tokio::test]
async fn same_bytes_under_another_key_answer_duplicate_and_store_nothing() {
    let server = S3Server::start().await;
    let app = dedupe(&server);
    let tabby = png::small(3);
    let first = invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    let key = format!("{DAY}/tabby.png");
    assert_eq!(first["stored"][0]["status"], "created", "{first}");
    assert_eq!(entry(&server, &tabby).as_deref(), Some(key.as_str()), "the index names the stored key");

    // Another name, the same bytes: nothing stored, the answer names the key that holds them.
    let second = invoke(&app, item("copy.png", &tabby)).await.unwrap();
    let stored = &second["stored"][0];
    assert_eq!((stored["status"].as_str(), stored["key"].as_str()), (Some("duplicate"), Some(key.as_str())));
    assert_eq!(stored["sha256"], sha256(&tabby).as_str());
    assert_eq!(stored["size"], tabby.len());
    assert_eq!((stored["width"].as_u64(), stored["height"].as_u64()), (Some(1), Some(1)));
    // The same bytes at the same key are still `existing`.
    let again = invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    assert_eq!(again["stored"][0]["status"], "existing", "{again}");
    assert_eq!(objects(&server), [key.as_str()]);
    assert_eq!(entries(&server), [format!("index/sha256/{}", sha256(&tabby))]);

    // Over API Gateway, a duplicate is a success: 201 alone, and inside a 207 beside a failure.
    let raw = fixture("apigw-v2-raw-png.json");
    let (status, body) = invoke_api(&app, raw.clone()).await;
    assert_eq!(status, 201, "{body}");
    let mut renamed = raw;
    renamed["rawPath"] = json!("/images/renamed.png");
    let (status, body) = invoke_api(&app, renamed).await;
    assert_eq!((status, body["stored"][0]["status"].as_str()), (201, Some("duplicate")), "{body}");
    let mixed = json!({"version": "2.0", "routeKey": "POST /images", "rawPath": "/images", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/images"}, "timeEpoch": 1_795_000_000_000u64},
        "isBase64Encoded": false,
        "body": json!({"items": [item("third.png", &tabby), {"data": "bm90IGFuIGltYWdl"}]}).to_string()});
    let (status, body) = invoke_api(&app, mixed).await;
    assert_eq!((status, body["stored"][0]["status"].as_str()), (207, Some("duplicate")), "{body}");
    assert_eq!(body["stored"][0]["key"], key.as_str());
}

#[tokio::test]
async fn without_dedupe_every_key_is_independent() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let tabby = png::small(3);
    for name in ["a.png", "b.png"] {
        assert_eq!(invoke(&app, item(name, &tabby)).await.unwrap()["stored"][0]["status"], "created");
    }
    assert_eq!(server.keys(), [format!("{DAY}/a.png"), format!("{DAY}/b.png")], "no index either");
}

/// Requests per item, counted at the server: a new object costs the lookup (a GET that finds
/// nothing) and one extra PUT (the entry); a duplicate one GET and one HEAD, and no write.
#[tokio::test]
async fn requests_per_item_are_one_put_more_for_a_new_object_and_a_get_and_a_head_for_a_duplicate() {
    let server = S3Server::start().await;
    let app = dedupe(&server);
    invoke(&app, item("warm.png", &png::small(1))).await.unwrap(); // HeadBucket, once
    let tabby = png::small(3);
    let (entry_path, key) = (format!("/pics/index/sha256/{}", sha256(&tabby)), format!("/pics/{DAY}/tabby.png"));

    let from = server.request_count();
    invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    let new = server.requests_since(from);
    assert_eq!(new, [format!("GET {entry_path}"), format!("PUT {key}"), format!("PUT {entry_path}")]);

    let from = server.request_count();
    let answer = invoke(&app, item("copy.png", &tabby)).await.unwrap();
    assert_eq!(answer["stored"][0]["status"], "duplicate");
    let duplicate = server.requests_since(from);
    assert_eq!(duplicate, [format!("GET {entry_path}"), format!("HEAD {key}")]);

    // Redelivery at the same key: the entry names it, so the write alone decides (412, HEAD).
    let from = server.request_count();
    invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    let existing = server.requests_since(from);
    assert_eq!(existing, [format!("GET {entry_path}"), format!("PUT {key}"), format!("HEAD {key}")]);

    // For comparison, DEDUPE off: the object's PUT alone.
    let plain = server.app(&[]);
    invoke(&plain, item("warm2.png", &png::small(2))).await.unwrap();
    let from = server.request_count();
    invoke(&plain, item("other.png", &png::small(4))).await.unwrap();
    assert_eq!(server.requests_since(from), [format!("PUT /pics/{DAY}/other.png")]);
    println!("new object: {new:?}\nduplicate: {duplicate:?}\nexisting: {existing:?}");
}

#[tokio::test]
async fn items_of_one_request_with_the_same_bytes_leave_one_object() {
    let server = S3Server::start().await;
    let app = dedupe(&server);
    let tabby = png::small(3);
    let items: Vec<Value> = (0..8).map(|i| item(&format!("n{i}.png"), &tabby)).collect();
    let answer = invoke(&app, json!({ "items": items })).await.unwrap();
    let stored = answer["stored"].as_array().unwrap();
    assert_eq!(stored.len(), 8, "{answer}");
    let winner = entry(&server, &tabby).unwrap();
    assert_eq!(objects(&server), [winner.as_str()], "exactly one object");
    assert_eq!(stored.iter().filter(|s| s["status"] == "created").count(), 1, "{answer}");
    for s in stored {
        assert_eq!(s["key"], winner.as_str(), "every item names the one object: {answer}");
    }
}

/// One round of a race: each app stores `content` at once, as `r{round}-{i}.png`; their answers.
pub(super) async fn race_round(apps: &[Arc<image_ingest::App>], round: u64, content: &[u8]) -> Vec<Value> {
    let tasks: Vec<_> = apps
        .iter()
        .enumerate()
        .map(|(i, app)| {
            let (app, racer) = (app.clone(), item(&format!("r{round}-{i}.png"), content));
            tokio::spawn(async move { invoke(&app, racer).await.unwrap() })
        })
        .collect();
    futures::future::join_all(tasks).await.into_iter().map(|a| a.unwrap()).collect()
}

/// Parallel invocations (each its own function instance, as Lambda runs them) on a
/// multi-threaded runtime, many rounds, each round a new content stored under as many keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_invocations_with_the_same_bytes_leave_one_object_and_one_entry() {
    const ROUNDS: u64 = 25;
    const RACERS: usize = 8;
    let server = S3Server::start().await;
    let apps: Vec<Arc<image_ingest::App>> = (0..RACERS).map(|_| Arc::new(dedupe(&server))).collect();
    for round in 0..ROUNDS {
        let content = png::numbered(round, 3000);
        let answers = race_round(&apps, round, &content).await;
        let winner = entry(&server, &content).expect("one entry");
        let mine: Vec<String> = objects(&server).into_iter().filter(|k| k.contains(&format!("/r{round}-"))).collect();
        assert_eq!(mine, [winner.as_str()], "round {round}: exactly one object, the one the entry names");
        let statuses: Vec<&str> = answers.iter().map(|a| a["stored"][0]["status"].as_str().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == "created").count(), 1, "round {round}: {statuses:?}");
        assert!(answers.iter().all(|a| a["stored"][0]["key"] == winner.as_str()), "round {round}: {answers:?}");
    }
    assert_eq!(entries(&server).len(), ROUNDS as usize, "one entry per content");
    assert!(server.open_uploads().is_empty());
}

/// The store the race below runs on: s3s-fs (behind the per-key lock), with every racer's
/// first look at the index held until all racers have looked, so all of them find the same
/// entry (none, or a stale one) and all of them write an object: the worst interleaving, every
/// round. `conditional: false` writes the entry with a plain PutObject instead, the negative
/// control: the same race then leaves an object per racer.
struct Racing {
    inner: Arc<S3Store>,
    raw: aws_sdk_s3::Client,
    barrier: tokio::sync::Barrier,
    looks: AtomicUsize,
    racers: usize,
    conditional: bool,
}

#[async_trait]
impl Bucket for Racing {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }
    async fn ensure_bucket(&self) -> Result<()> {
        self.inner.ensure_bucket().await
    }
}

#[async_trait]
impl ObjectWriter for Racing {
    async fn write_if_absent(&self, place: &Placement, body: Body) -> Result<Written> {
        self.inner.write_if_absent(place, body).await
    }
    async fn write_if_admitted(&self, place: &Placement, body: Body, gate: &dyn Gate) -> Result<Written> {
        self.inner.write_if_admitted(place, body, gate).await
    }
    async fn settle(&self, limit: std::time::Duration) {
        self.inner.settle(limit).await
    }
}

#[async_trait]
impl Staging for Racing {
    async fn read(&self, key: &str) -> Result<Option<StoredBytes>> {
        self.inner.read(key).await
    }
    async fn discard(&self, key: &str) -> Result<()> {
        self.inner.discard(key).await
    }
}

#[async_trait]
impl ObjectLookup for Racing {
    async fn identify(&self, key: &str) -> Result<Option<Identity>> {
        self.inner.identify(key).await
    }
    async fn describe(&self, key: &str) -> Result<Option<Description>> {
        self.inner.describe(key).await
    }
}

#[async_trait]
impl ContentIndex for Racing {
    async fn read_entry(&self, entry_key: &str) -> Result<Option<IndexEntry>> {
        if self.looks.fetch_add(1, Ordering::SeqCst) < self.racers {
            self.barrier.wait().await;
        }
        self.inner.read_entry(entry_key).await
    }
    async fn discard_copy(&self, key: &str, sha256_hex: &str) -> Result<()> {
        self.inner.discard_copy(key, sha256_hex).await
    }
    async fn write_entry(&self, entry_key: &str, key: &str, replacing: Option<&str>) -> Result<bool> {
        if self.conditional {
            return self.inner.write_entry(entry_key, key, replacing).await;
        }
        let body = json!({ "key": key }).to_string();
        self.raw
            .put_object()
            .bucket(BUCKET)
            .key(entry_key)
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .unwrap();
        Ok(true)
    }
}

/// What a stale entry names before a race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    /// A key that is gone, and no racer's.
    Gone,
    /// The first racer's own key, gone: that racer finds the entry naming it, the others find
    /// it stale, and all of them write.
    Racer,
}

/// Runs `rounds` races of `racers` items with the same bytes under different keys, each
/// round's first looks held together (see [`Racing`]); with `stale`, the entry names a key
/// that no longer holds the bytes before the round starts (see [`Named`]), so the racers take
/// it over with `If-Match`. Returns the objects each round left.
async fn race(server: &S3Server, conditional: bool, stale: Option<Named>, rounds: u64, racers: usize) -> Vec<usize> {
    let config = config(&[("DEDUPE", "true")]);
    let fetcher = Arc::new(common::origin::fetcher(&config, TestLookup(vec![]), true));
    let inner = Arc::new(S3Store::new(&server.sdk(SECRET_KEY), &config));
    let mut left = Vec::new();
    for round in 0..rounds {
        let mode = match stale {
            None => 0,
            Some(Named::Gone) => 1,
            Some(Named::Racer) => 2,
        };
        let content = png::numbered(1000 + round + mode * 500 + u64::from(conditional) * 250, 3000);
        let dir = format!("race-{conditional}-{mode}-{round}");
        if let Some(named) = stale {
            // The entry names a key that is gone: elsewhere, or the first racer's own key.
            let named = if named == Named::Racer { format!("{DAY}/{dir}-0.png") } else { "gone/deleted.png".into() };
            let body = json!({ "key": named }).to_string();
            let entry_key = format!("index/sha256/{}", sha256(&content));
            server
                .client()
                .put_object()
                .bucket(BUCKET)
                .key(entry_key)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .unwrap();
        }
        let store = Arc::new(Racing {
            inner: inner.clone(),
            raw: server.client(),
            barrier: tokio::sync::Barrier::new(racers),
            looks: AtomicUsize::new(0),
            racers,
            conditional,
        });
        let ingestor = Ingestor::new(store, fetcher.clone(), Rules::from(&config));
        let tasks: Vec<_> = (0..racers)
            .map(|i| {
                let (ingestor, bytes, name) =
                    (ingestor.clone(), Bytes::from(content.clone()), format!("{dir}-{i}.png"));
                tokio::spawn(async move {
                    let batch = Batch {
                        items: vec![Ok(Item::from_bytes(bytes, Some(name), None))],
                        event_time: Some(Utc.with_ymd_and_hms(2026, 11, 24, 20, 30, 15).unwrap()),
                        source: Source::Direct,
                        deadline: Deadline::none(),
                    };
                    ingestor.ingest(batch).await.unwrap().remove(0).unwrap()
                })
            })
            .collect();
        let answers: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|a| a.unwrap()).collect();
        let mine = objects(server).into_iter().filter(|k| k.contains(&dir)).count();
        if conditional && stale == Some(Named::Racer) {
            // The restored key may have been named to others before the claim was decided, so
            // its writer keeps it even when it loses: no answer ever names a missing object.
            let winner = entry(server, &content).unwrap();
            assert!(objects(server).contains(&winner), "round {round}: the entry names a stored object");
            for answer in &answers {
                let path = server.root.path().join(BUCKET).join(&answer.key);
                assert_eq!(sha256(&std::fs::read(&path).unwrap()), sha256(&content), "round {round}: {}", answer.key);
            }
        } else if conditional {
            let winner = entry(server, &content).unwrap();
            assert!(answers.iter().all(|a| a.key == winner), "round {round}: every answer names {winner}");
            let created = answers.iter().filter(|a| a.status == Status::Created).count();
            assert_eq!(created, 1, "round {round}: one created, the others duplicate");
        }
        left.push(mine);
    }
    left
}

/// The race decided by the index's conditional write: however the racers interleave (here,
/// all of them past the lookup before any writes), exactly one object is left per content,
/// both when no entry exists (`If-None-Match: *`) and when a stale entry is taken over
/// (`If-Match` on its ETag). The negative control runs the same races with the entry written
/// unconditionally (the store wrapper above, not a switch in the function): every racer then
/// believes it won and keeps its object, and the "exactly one" check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_index_write_decides_every_race_and_an_unconditional_one_would_not() {
    const RACERS: usize = 6;
    let server = S3Server::start().await;
    for stale in [None, Some(Named::Gone), Some(Named::Racer)] {
        let left = race(&server, true, stale, 10, RACERS).await;
        if stale == Some(Named::Racer) {
            // One object, or two when a taker beat the restorer (docs/duplicates.md, "Limits").
            // No negative control here: whether a racer writes depends on whether it looked
            // at the restorer's key before or after the restorer wrote it.
            assert!(left.iter().all(|&n| n == 1 || n == 2), "{left:?}");
            println!("a stale entry naming a racer's own key left {left:?} objects per round");
            continue;
        }
        assert_eq!(left, vec![1; 10], "stale entry: {stale:?}: one object per round");
        let unconditional = race(&server, false, stale, 3, RACERS).await;
        assert!(
            unconditional.iter().all(|&n| n > 1),
            "stale entry: {stale:?}: without the condition, racers all keep their objects: {unconditional:?}"
        );
    }
}

#[tokio::test]
async fn an_entry_whose_key_no_longer_holds_the_bytes_is_taken_over() {
    let server = S3Server::start().await;
    let app = dedupe(&server);
    let tabby = png::small(3);
    invoke(&app, item("first.png", &tabby)).await.unwrap();
    // An expiry rule (or a person) removes the object; its entry stays.
    server.client().delete_object().bucket(BUCKET).key(format!("{DAY}/first.png")).send().await.unwrap();
    let answer = invoke(&app, item("second.png", &tabby)).await.unwrap();
    assert_eq!(answer["stored"][0]["status"], "created", "{answer}");
    assert_eq!(entry(&server, &tabby), Some(format!("{DAY}/second.png")));
    assert_eq!(objects(&server), [format!("{DAY}/second.png")]);
    // An entry that names a key now holding other bytes is stale too.
    let other = png::small(9);
    let cat = png::small(4);
    invoke(&app, item("cat.png", &cat)).await.unwrap();
    server.client().delete_object().bucket(BUCKET).key(format!("{DAY}/cat.png")).send().await.unwrap();
    invoke(&app, item("cat.png", &other)).await.unwrap(); // other bytes now at the entry's key
    let answer = invoke(&app, item("kitten.png", &cat)).await.unwrap();
    assert_eq!(
        (answer["stored"][0]["status"].as_str(), answer["stored"][0]["key"].as_str()),
        (Some("created"), Some(format!("{DAY}/kitten.png").as_str()))
    );
    assert_eq!(entry(&server, &cat), Some(format!("{DAY}/kitten.png")));
}

/// Crash point "after the object, before the entry", made by the fault proxy: the index write
/// fails (every attempt), the item fails as a storage error so its source retries, and the
/// object stays. The retry, the next writer of those bytes at that key, finds it `existing`
/// and writes the entry.
#[tokio::test]
async fn a_failed_index_write_leaves_the_object_and_the_next_writer_repairs_the_entry() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let vars = [("DEDUPE", "true"), ("S3_FORCE_PATH_STYLE", "true")];
    let app = image_ingest::App::with_fetcher(
        &config(&vars),
        &sdk_config(&proxy.endpoint, SECRET_KEY),
        Arc::new(common::origin::fetcher(&config(&vars), TestLookup(vec![]), true)),
    );
    let tabby = png::small(3);
    let key = format!("{DAY}/tabby.png");
    // HeadBucket, GET entry, PUT object pass; the entry's PUT fails on all three attempts.
    proxy.schedule(&[
        Fault::Pass,
        Fault::Pass,
        Fault::Pass,
        Fault::InternalError,
        Fault::InternalError,
        Fault::InternalError,
    ]);
    let err = invoke(&app, item("tabby.png", &tabby)).await.unwrap_err();
    assert!(err.error_message.contains("storage_error"), "{err:?}");
    assert_eq!(objects(&server), [key.as_str()], "the object is stored");
    assert_eq!(entry(&server, &tabby), None, "with no entry");

    let answer = invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    assert_eq!(answer["stored"][0]["status"], "existing", "{answer}");
    assert_eq!(entry(&server, &tabby), Some(key.clone()), "the retry wrote the entry");
    let copy = invoke(&app, item("copy.png", &tabby)).await.unwrap();
    assert_eq!(copy["stored"][0]["status"], "duplicate");
    assert_eq!(objects(&server), [key]);
}

/// S3 answers 409 ConditionalRequestConflict to a conditional write while another write to
/// the key is in flight (moto never does): the claim is asked again.
#[tokio::test]
async fn a_conflict_on_the_index_write_is_retried() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let vars = [("DEDUPE", "true")];
    let app = image_ingest::App::with_fetcher(
        &config(&vars),
        &sdk_config(&proxy.endpoint, SECRET_KEY),
        Arc::new(common::origin::fetcher(&config(&vars), TestLookup(vec![]), true)),
    );
    let tabby = png::small(3);
    proxy.schedule(&[Fault::Pass, Fault::Pass, Fault::Pass, Fault::Conflict]);
    let from = server.request_count();
    let answer = invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    assert_eq!(answer["stored"][0]["status"], "created", "{answer}");
    assert_eq!(entry(&server, &tabby), Some(format!("{DAY}/tabby.png")));
    let entry_put = format!("PUT /pics/index/sha256/{}", sha256(&tabby));
    assert_eq!(server.requests_since(from).iter().filter(|r| **r == entry_put).count(), 1, "the 409 never reached S3");
}

/// `If-Match` on an entry that is gone: s3s-fs answers 412, moto 404 NoSuchKey; both are a
/// lost claim (the `dedupe_moto` twin checks moto's).
#[tokio::test]
async fn replacing_an_entry_that_is_gone_is_a_lost_claim() {
    let server = S3Server::start().await;
    let store = S3Store::new(&server.sdk(SECRET_KEY), &config(&[]));
    let won = store.write_entry("index/sha256/00", "a.png", Some("\"0123456789abcdef0123456789abcdef\"")).await;
    assert!(!won.unwrap());
    assert!(store.write_entry("index/sha256/00", "a.png", None).await.unwrap());
    assert!(!store.write_entry("index/sha256/00", "b.png", None).await.unwrap(), "If-None-Match: one creator");
    let read = store.read_entry("index/sha256/00").await.unwrap().unwrap();
    assert_eq!(read.key, "a.png");
    assert!(store.write_entry("index/sha256/00", "b.png", Some(&read.version)).await.unwrap());
    assert!(!store.write_entry("index/sha256/00", "c.png", Some(&read.version)).await.unwrap(), "If-Match: one taker");
}

/// A body over one part streams through multipart upload; found a duplicate at its end, its
/// upload is aborted before it completes: no object, no parts.
#[tokio::test]
async fn a_streamed_duplicate_is_aborted_leaving_no_object_and_no_parts() {
    let server = S3Server::start().await;
    let body = Bytes::from(png::sized(5, 9 * 1024 * 1024));
    let origin = Origin::start(move |_| Reply::Bytes("image/png", body.clone())).await;
    let app = dedupe(&server);
    let first = json!({"url": origin.url("/big.png"), "posted_at": AT});
    assert_eq!(invoke(&app, first).await.unwrap()["stored"][0]["status"], "created");
    let from = server.request_count();
    let second = json!({"url": origin.url("/again.png"), "posted_at": AT});
    let answer = invoke(&app, second).await.unwrap();
    let stored = &answer["stored"][0];
    assert_eq!(
        (stored["status"].as_str(), stored["key"].as_str()),
        (Some("duplicate"), Some(format!("{DAY}/big.png").as_str()))
    );
    assert_eq!(objects(&server), [format!("{DAY}/big.png")]);
    assert!(server.open_uploads().is_empty(), "no parts left: {:?}", server.open_uploads());
    let requests = server.requests_since(from);
    let look = requests.iter().position(|r| r.starts_with("GET /pics/index/")).expect("looked up");
    let abort = requests.iter().position(|r| r.starts_with("DELETE") && r.contains("uploadId=")).expect("aborted");
    assert!(look < abort, "{requests:?}");
    assert!(
        !requests.iter().any(|r| r.starts_with("POST") && r.contains("uploadId=")),
        "never completed: {requests:?}"
    );

    // Unnamed, the body is hashed first to be named: a duplicate is not fetched a second time.
    let from = server.request_count();
    let unnamed = json!({"url": origin.url("/"), "posted_at": AT});
    assert_eq!(invoke(&app, unnamed).await.unwrap()["stored"][0]["status"], "duplicate");
    let requests = server.requests_since(from);
    assert_eq!(requests.len(), 2, "a GET and a HEAD: {requests:?}");
}

#[tokio::test]
async fn a_staged_upload_that_is_a_duplicate_is_deleted() {
    let server = S3Server::start().await;
    let app = server.app(&[("DEDUPE", "true"), ("KEY_PREFIX", "images/")]);
    let tabby = png::small(3);
    invoke(&app, item("tabby.png", &tabby)).await.unwrap();
    let staged = "incoming/2026/11/25/101500/upload.png";
    server.client().put_object().bucket(BUCKET).key(staged).body(ByteStream::from(tabby.clone())).send().await.unwrap();
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(staged);
    let answer = invoke(&app, notice).await.unwrap();
    let stored = &answer["stored"][0];
    assert_eq!(
        (stored["status"].as_str(), stored["key"].as_str()),
        (Some("duplicate"), Some(format!("images/{DAY}/tabby.png").as_str())),
        "{answer}"
    );
    assert_eq!(objects(&server), [format!("images/{DAY}/tabby.png")], "the staging object is gone, nothing promoted");
    assert!(server.copies.lock().unwrap().is_empty(), "no copy was made");
}

#[tokio::test]
async fn a_backfill_item_that_is_a_duplicate_is_a_success_and_a_redrive_answers_the_same() {
    let server = S3Server::start().await;
    let app = dedupe(&server);
    let (tabby, cat) = (png::small(3), png::small(4));
    let items = json!([
        {"data": B64.encode(&tabby), "file_name": "a.png"},
        {"data": B64.encode(&cat), "file_name": "b.png"},
        {"data": B64.encode(&tabby), "file_name": "c.png"},
    ]);
    let batch = json!({"Items": items, "BatchInput": {"run_started_at": AT}});
    let answer = invoke(&app, batch.clone()).await.unwrap();
    assert!(answer["failed"].as_array().is_none_or(|f| f.is_empty()), "{answer}");
    let statuses = |a: &Value| {
        a["stored"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    // a.png and c.png race inside the batch: one is stored, the other names it.
    let winner = entry(&server, &tabby).unwrap();
    let (loser, loser_name) = if winner.ends_with("/a.png") { (2, "c.png") } else { (0, "a.png") };
    let mut expected = vec!["created"; 3];
    expected[loser] = "duplicate";
    assert_eq!(statuses(&answer), expected, "{answer}");
    assert_eq!(answer["stored"][loser]["key"], winner.as_str());
    let redrive = invoke(&app, batch).await.unwrap();
    expected = vec!["existing"; 3];
    expected[loser] = "duplicate";
    assert_eq!(statuses(&redrive), expected, "the redrive answers the same: {redrive}");
    assert_eq!(redrive["stored"][loser]["key"], winner.as_str());
    assert!(!objects(&server).contains(&format!("{DAY}/{loser_name}")));
    assert_eq!(objects(&server).len(), 2);
}

#[tokio::test]
async fn with_strip_location_the_index_holds_the_stored_bytes_digest() {
    let server = S3Server::start().await;
    let app = server.app(&[("DEDUPE", "true"), ("STRIP_LOCATION", "true")]);
    let original = images::jpeg_with_exif(&images::exif(true, true));
    let answer = invoke(&app, item("trip.jpg", &original)).await.unwrap();
    let key = format!("{DAY}/trip.jpg");
    let stored_sha = answer["stored"][0]["sha256"].as_str().unwrap().to_owned();
    assert_ne!(stored_sha, sha256(&original), "the stored bytes are stripped");
    let stripped = server.client().get_object().bucket(BUCKET).key(&key).send().await.unwrap();
    let stripped = stripped.body.collect().await.unwrap().into_bytes();
    assert_eq!(sha256(&stripped), stored_sha);
    assert_eq!(entry(&server, &stripped), Some(key.clone()), "the entry is under the stripped bytes' digest");
    // The original again, and the stripped bytes themselves, under other names: duplicates.
    for (name, bytes) in [("again.jpg", &original[..]), ("stripped.jpg", &stripped[..])] {
        let answer = invoke(&app, item(name, bytes)).await.unwrap();
        assert_eq!(
            (answer["stored"][0]["status"].as_str(), answer["stored"][0]["key"].as_str()),
            (Some("duplicate"), Some(key.as_str())),
            "{name}"
        );
    }
    // A staged upload of the original, stripped on the way: found a duplicate before it is
    // read a second time and uploaded.
    let staged = "incoming/2026/11/25/101500/upload.jpg";
    server
        .client()
        .put_object()
        .bucket(BUCKET)
        .key(staged)
        .body(ByteStream::from(original.clone()))
        .send()
        .await
        .unwrap();
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(staged);
    let from = server.request_count();
    let answer = invoke(&app, notice).await.unwrap();
    assert_eq!(answer["stored"][0]["status"], "duplicate", "{answer}");
    assert_eq!(answer["stored"][0]["key"], key.as_str());
    let requests = server.requests_since(from);
    assert_eq!(requests.iter().filter(|r| r.starts_with("GET /pics/incoming/")).count(), 1, "read once: {requests:?}");
    assert!(!requests.iter().any(|r| r.starts_with("PUT /pics/2026") || r.starts_with("POST")), "{requests:?}");
    assert_eq!(objects(&server), [key]);
}

#[tokio::test]
async fn a_duplicate_makes_no_renditions() {
    let server = S3Server::start().await;
    let app = server.app(&[("DEDUPE", "true"), ("RENDITIONS", "8")]);
    let picture = png::numbered(7, 3000);
    let first = invoke(&app, item("pic.png", &picture)).await.unwrap();
    assert_eq!(first["stored"][0]["renditions"].as_array().map(Vec::len), Some(1), "{first}");
    let from = server.request_count();
    let second = invoke(&app, item("copy.png", &picture)).await.unwrap();
    assert_eq!(second["stored"][0]["status"], "duplicate");
    assert!(second["stored"][0].get("renditions").is_none(), "{second}");
    assert_eq!(server.requests_since(from).len(), 2, "no rendition written");
    assert_eq!(objects(&server), [format!("{DAY}/pic.png"), format!("renditions/8/{DAY}/pic.webp")]);
}
