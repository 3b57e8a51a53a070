//! A verified upload of a large staged object through the function (the release binary,
//! driven through the Runtime API with the notification S3 sends), side by side with the floor
//! of "verify by reading": a bare GetObject that reads the same bytes and does nothing else.
//! Alternating rounds; reports the time ratio and the function's peak RSS.
//! `BENCH_UPLOAD_BYTES` (default 1 GiB) and `BENCH_ROUNDS` (default 3) tune it.

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use bench::processes::image_ingest;
use bench::s3::S3Server;
use bench::{median, mib, peak_rss, uptime, utc_now, verdict};
use testkit::runtime_api::{Answer, MAX_TIMEOUT, RuntimeApi};

const BUCKET: &str = "bench";
const STAGED: &str = "incoming/2026/11/25/101500/panorama.png";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let load_before = uptime();
    let wanted = env_number("BENCH_UPLOAD_BYTES", 1 << 30);
    let rounds = env_number("BENCH_ROUNDS", 3) as usize;
    let s3 = S3Server::start(&[BUCKET]).await;
    let source = tempfile::NamedTempFile::new().unwrap();
    let size = write_png(source.path(), wanted);
    let mut api = RuntimeApi::with_timeout(MAX_TIMEOUT).await;
    let profile = std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    let mut function = image_ingest(&profile, &api, &s3)
        .env("BUCKET_NAME", BUCKET)
        .env("KEY_PREFIX", "images/")
        .env("MAX_OBJECT_BYTES", (size * 2).min(5 << 30).to_string())
        // A GiB of raw RGB declares more pixels than the default cap, which is not measured here.
        .env("MAX_PIXELS", "10000000000")
        .stdout(Stdio::null())
        .spawn()
        .expect("the image-ingest binary is built (make bench-upload builds it)");
    let client = s3.client();
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    println!("upload-verify: {} staged in s3s-fs on {}, {rounds} rounds", mib(size), s3.root.path().display());
    for round in 0..rounds {
        stage(&client, source.path()).await;
        let notice = serde_json::json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "eventTime": "2026-11-25T10:15:02.117Z",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": STAGED, "size": size}}}]});
        api.push(notice.to_string());
        let started = Instant::now();
        match api.answer().await {
            Answer::Response(body) => {
                let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(answer["stored"][0]["size"], size, "image-ingest promoted every byte: {answer}");
            }
            other => panic!("image-ingest failed: {other:?}"),
        }
        ours.push(started.elapsed());
        s3.empty(BUCKET);

        stage(&client, source.path()).await;
        let started = Instant::now();
        let object = client.get_object().bucket(BUCKET).key(STAGED).send().await.unwrap();
        let mut body = object.body;
        let mut read = 0u64;
        while let Some(chunk) = body.try_next().await.unwrap() {
            read += chunk.len() as u64;
        }
        assert_eq!(read, size);
        bare.push(started.elapsed());
        s3.empty(BUCKET);
        println!(
            "  round {}: image-ingest {:.2} s, bare GetObject {:.2} s",
            round + 1,
            ours[round].as_secs_f64(),
            bare[round].as_secs_f64()
        );
    }
    let rss = peak_rss(function.id()).unwrap_or(0);
    let _ = function.kill();
    let _ = function.wait();
    let split = split(&client, source.path(), size).await;
    s3.empty(BUCKET);

    let (ours_median, bare_median) = (median(&ours), median(&bare));
    let ratio = ours_median.as_secs_f64() / bare_median.as_secs_f64();
    let throughput = |d: Duration| size as f64 / d.as_secs_f64() / (1024.0 * 1024.0);
    let seconds =
        |runs: &[Duration]| runs.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(", ");
    let mut report = String::new();
    let _ = writeln!(report, "| verified upload of {} | median time | throughput | rounds (s) |", mib(size));
    let _ = writeln!(report, "|---|---|---|---|");
    let _ = writeln!(
        report,
        "| bare GetObject, read only | {:.2} s | {:.0} MiB/s | {} |",
        bare_median.as_secs_f64(),
        throughput(bare_median),
        seconds(&bare)
    );
    let _ = writeln!(
        report,
        "| image-ingest: read, sniff, hash, conditional copy, delete | {:.2} s | {:.0} MiB/s | {} |",
        ours_median.as_secs_f64(),
        throughput(ours_median),
        seconds(&ours)
    );
    let _ = writeln!(report, "\nWhere the time goes: each step alone, from this harness, once:\n");
    let _ = writeln!(report, "| step | time |");
    let _ = writeln!(report, "|---|---|");
    for (step, took) in split {
        let _ = writeln!(report, "| {step} | {:.2} s |", took.as_secs_f64());
    }
    let _ = writeln!(report);
    let _ = writeln!(report, "| target | measured |");
    let _ = writeln!(report, "|---|---|");
    let _ = writeln!(report, "| time at most 1.25x the bare read's | {ratio:.2}x: {} |", verdict(ratio <= 1.25));
    let _ = writeln!(report, "| peak RSS at most 64 MiB | {}: {} |", mib(rss), verdict(rss <= 64 << 20));
    println!("\n{report}");
    if let Ok(out) = std::env::var("BENCH_OUT") {
        let path = std::path::PathBuf::from(out).join("RESULTS-upload.md");
        let page = format!(
            "# `make bench-upload` results\n\n\
             Written by `make bench-upload` (`bench/src/bin/upload_verify.rs`); the method is in \
             [`docs/benchmarks.md`](../docs/benchmarks.md#make-bench-upload-verified-uploads). Measured on {}, \
             {profile} build, {rounds} alternating rounds, s3s-fs on `{}`. Ratios measured side by side in one \
             run hold; absolute numbers are noise.\n\nLoad before: `{load_before}`\n\nLoad after: `{}`\n\n{report}",
            utc_now(),
            s3.root.path().parent().map(|p| p.display().to_string()).unwrap_or_default(),
            uptime()
        );
        std::fs::write(&path, page).unwrap();
        println!("written: {}", path.display());
    }
}

/// Times the function's steps one by one on the same staged object: a read that hashes every
/// chunk as it arrives, the conditional copy the function sends, and the delete.
async fn split(client: &aws_sdk_s3::Client, path: &std::path::Path, size: u64) -> Vec<(&'static str, Duration)> {
    use sha2::Digest;
    stage(client, path).await;
    let started = Instant::now();
    let mut body = client.get_object().bucket(BUCKET).key(STAGED).send().await.unwrap().body;
    let (mut hasher, mut read) = (sha2::Sha256::new(), 0u64);
    while let Some(chunk) = body.try_next().await.unwrap() {
        hasher.update(&chunk);
        read += chunk.len() as u64;
    }
    assert_eq!(read, size);
    let sha256 = hex(&hasher.finalize());
    let read_and_hash = started.elapsed();

    let started = Instant::now();
    client
        .copy_object()
        .bucket(BUCKET)
        .key("images/2026/11/25/101500/panorama.png")
        .copy_source(format!("{BUCKET}/{STAGED}"))
        .if_none_match("*")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("image/png")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .metadata("sha256", sha256)
        .send()
        .await
        .unwrap();
    let copy = started.elapsed();

    let started = Instant::now();
    client.delete_object().bucket(BUCKET).key(STAGED).send().await.unwrap();
    let delete = started.elapsed();
    vec![
        ("GetObject, SHA-256 of each chunk as it arrives", read_and_hash),
        ("conditional CopyObject", copy),
        ("DeleteObject", delete),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn stage(client: &aws_sdk_s3::Client, path: &std::path::Path) {
    let body = ByteStream::from_path(path).await.unwrap();
    client.put_object().bucket(BUCKET).key(STAGED).body(body).send().await.unwrap();
}

/// A PNG of about `size` bytes (its true size is returned): black rows 4,096 pixels wide, so the
/// function sees a real image's structure.
fn write_png(path: &std::path::Path, size: u64) -> u64 {
    const WIDTH: u32 = 4096;
    let row = 1 + 3 * u64::from(WIDTH);
    testkit::png::write_black(path, WIDTH, (size / row).max(1) as u32)
}
