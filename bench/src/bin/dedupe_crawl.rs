//! `make bench-backfill`, second part: a crawl in which 30 % of the URLs show an image already
//! seen under another name (a logo on every page, a photo reposted), stored by the function's
//! release binary as Distributed Map batches, once with `DEDUPE=false` and once with
//! `DEDUPE=true`, each into a bucket of its own. Reports the objects and bytes stored, the
//! index entries, and the answers' statuses.
//!
//! Two instances take the batches in turn, at once (parallel invocations), each storing
//! BATCH_CONCURRENCY items at once: repeats race inside a batch and across instances. The
//! in-process s3s-fs serves the requests on one key one at a time, as S3 decides conditional
//! writes.
//!
//! Settings (environment): BENCH_DEDUPE_URLS (1000), BENCH_DEDUPE_REPEATS (30, percent),
//! BENCH_BACKFILL_BATCH (100), BENCH_PROFILE (`release`), BENCH_OUT (folder for
//! RESULTS-dedupe.md; unset: print only), BENCH_VERBOSE.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bench::processes::{Running, binaries};
use bench::s3::S3Server;
use bench::{mib, utc_now};
use bytes::Bytes;
use serde_json::{Value, json};
use testkit::origin::{Origin, Reply};
use testkit::runtime_api::{Answer, MAX_TIMEOUT, RuntimeApi};

const IMAGE_BYTES: usize = 64 * 1024;
const INSTANCES: usize = 2;
const CONCURRENCY: usize = 10;
const RUN_STARTED_AT: &str = "2026-11-27T08:00:00.000Z";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The crawl: URL `i` shows image `content[i]`. Exactly `repeats_percent` % of the URLs
/// (spread evenly) are repeats, each showing an earlier image chosen by a fixed pseudo-random
/// sequence, so every run crawls the same.
fn crawl(urls: u64, repeats_percent: u64) -> Vec<u64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut contents: Vec<u64> = Vec::with_capacity(urls as usize);
    let mut distinct = 0;
    for i in 0..urls {
        if (i + 1) * repeats_percent / 100 > i * repeats_percent / 100 && distinct > 0 {
            contents.push(contents[(next() % contents.len() as u64) as usize]);
        } else {
            contents.push(distinct);
            distinct += 1;
        }
    }
    contents
}

/// Serves `/p/{i}-{n}.png` as image `n`: each URL has a name of its own.
async fn origin() -> Origin {
    Origin::start(|path| {
        let content = path
            .strip_prefix("/p/")
            .and_then(|p| p.strip_suffix(".png"))
            .and_then(|p| p.split_once('-'))
            .and_then(|(_, n)| n.parse().ok());
        match content {
            Some(n) => Reply::Bytes("image/png", Bytes::from(testkit::png::numbered(n, IMAGE_BYTES))),
            None => Reply::Status(404),
        }
    })
    .await
}

/// What one mode left in its bucket and answered.
struct Stored {
    dedupe: bool,
    objects: u64,
    bytes: u64,
    entries: u64,
    entry_bytes: u64,
    statuses: BTreeMap<String, u64>,
    elapsed: Duration,
}

async fn run(s3: &S3Server, origin: &Origin, bucket: &str, dedupe: bool, contents: &[u64], batch: usize) -> Stored {
    let function = binaries(&setting("BENCH_PROFILE", "release")).join("image-ingest");
    assert!(function.is_file(), "{} is not built: run make bench-backfill", function.display());
    let verbose = std::env::var("BENCH_VERBOSE").is_ok();
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        let api = RuntimeApi::with_timeout(MAX_TIMEOUT).await;
        let mut command = testkit::function::command(&function, &api);
        command
            .envs(s3.env())
            .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
            .env("BUCKET_NAME", bucket)
            .env("DEDUPE", dedupe.to_string())
            .env("BATCH_CONCURRENCY", CONCURRENCY.to_string())
            .env("FETCH_MAX_PER_HOST", CONCURRENCY.to_string())
            .env("FETCH_ALLOW_PRIVATE", "loopback")
            .stdout(if verbose { Stdio::inherit() } else { Stdio::null() })
            .stderr(if verbose { Stdio::inherit() } else { Stdio::null() });
        let process = Running(command.spawn().expect("the function starts"));
        instances.push((process, api));
    }
    let batches: Vec<Bytes> = contents
        .chunks(batch)
        .enumerate()
        .map(|(b, chunk)| {
            let items: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(j, n)| json!({"url": origin.url(&format!("/p/{}-{n}.png", b * batch + j))}))
                .collect();
            Bytes::from(json!({"Items": items, "BatchInput": {"run_started_at": RUN_STARTED_AT}}).to_string())
        })
        .collect();
    let mut statuses = BTreeMap::new();
    let started = Instant::now();
    for wave in batches.chunks(INSTANCES) {
        for ((_, api), event) in instances.iter().zip(wave) {
            api.push(event.clone());
        }
        for (_, api) in instances.iter_mut().take(wave.len()) {
            let answer = tokio::time::timeout(Duration::from_secs(600), api.answer()).await.expect("an answer");
            let Answer::Response(body) = answer else { panic!("a batch failed (BENCH_VERBOSE=1 shows why)") };
            let answer: Value = serde_json::from_slice(&body).expect("JSON");
            assert!(answer["failed"].as_array().is_none_or(Vec::is_empty), "every item stored: {answer}");
            for entry in answer["stored"].as_array().expect("stored") {
                *statuses.entry(entry["status"].as_str().unwrap_or("?").to_owned()).or_insert(0) += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    drop(instances);
    let (mut objects, mut bytes, mut entries, mut entry_bytes) = (0, 0, 0, 0);
    let dir = s3.root.path().join(bucket);
    for (key, size) in files(&dir, &dir) {
        if key.starts_with("index/") {
            (entries, entry_bytes) = (entries + 1, entry_bytes + size);
        } else {
            (objects, bytes) = (objects + 1, bytes + size);
        }
    }
    Stored { dedupe, objects, bytes, entries, entry_bytes, statuses, elapsed }
}

/// Every file under `dir`, as (key, size).
fn files(base: &Path, dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(base, &path));
        } else {
            let key = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            out.push((key, entry.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let urls: u64 = setting("BENCH_DEDUPE_URLS", "1000").parse().expect("BENCH_DEDUPE_URLS is a number");
    let repeats: u64 = setting("BENCH_DEDUPE_REPEATS", "30").parse().expect("BENCH_DEDUPE_REPEATS is a percent");
    let batch: usize = setting("BENCH_BACKFILL_BATCH", "100").parse().expect("BENCH_BACKFILL_BATCH is a number");
    let contents = crawl(urls, repeats);
    let distinct = contents.iter().max().map_or(0, |m| m + 1);
    let s3 = S3Server::start(&["dedupe-off", "dedupe-on"]).await;
    let origin = origin().await;
    let off = run(&s3, &origin, "dedupe-off", false, &contents, batch).await;
    let on = run(&s3, &origin, "dedupe-on", true, &contents, batch).await;

    assert_eq!(off.objects, urls, "DEDUPE off stores every URL under its own key");
    assert_eq!(on.objects, distinct, "DEDUPE on stores each distinct image once");
    assert_eq!(on.entries, distinct, "one index entry per stored image");
    let mut report = String::new();
    let repeated = urls - distinct;
    report += &format!(
        "## Duplicates: a crawl with {repeats} % repeats\n\n{urls} URLs of {} KiB PNGs, {distinct} distinct images \
         ({repeated} URLs, {:.1} %, show an image already seen under another name), as Distributed Map batches of \
         {batch}, {INSTANCES} instances at once, BATCH_CONCURRENCY={CONCURRENCY}, into s3s-fs on tmpfs. Measured \
         {}.\n\n| DEDUPE | objects stored | bytes stored | index entries (bytes) | answers | time |\n|---|---|---|---|---|---|\n",
        IMAGE_BYTES / 1024,
        100.0 * repeated as f64 / urls as f64,
        utc_now()
    );
    for stored in [&off, &on] {
        let answers: Vec<String> = stored.statuses.iter().map(|(s, n)| format!("{n} {s}")).collect();
        report += &format!(
            "| {} | {} | {} ({}) | {} ({} B) | {} | {:.2} s |\n",
            stored.dedupe,
            stored.objects,
            stored.bytes,
            mib(stored.bytes),
            stored.entries,
            stored.entry_bytes,
            answers.join(", "),
            stored.elapsed.as_secs_f64()
        );
    }
    report += &format!(
        "\nWith DEDUPE on, the bucket holds {:.1} % fewer objects and {:.1} % fewer bytes (the index adds {} B).\n",
        100.0 * (off.objects - on.objects) as f64 / off.objects as f64,
        100.0 * (off.bytes - on.bytes) as f64 / off.bytes as f64,
        on.entry_bytes
    );
    println!("{report}");
    if let Ok(out) = std::env::var("BENCH_OUT") {
        let path = Path::new(&out).join("RESULTS-dedupe.md");
        std::fs::write(&path, format!("# make bench-backfill: duplicates\n\n{report}"))
            .expect("the results are written");
        println!("written to {}", path.display());
    }
}
