//! One large URL object through the function (the release binary, driven through the Runtime
//! API), side by side with a bare multipart upload of the same bytes, same part size and same
//! parts in flight, in alternating rounds. Reports the function's peak RSS and the throughput
//! ratio. `BENCH_URL_BYTES` (default 1 GiB) and `BENCH_ROUNDS` (default 3) tune it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bench::processes::image_ingest;
use bench::s3::S3Server;
use bench::{median, mib, peak_rss, verdict};
use bytes::BytesMut;
use futures::StreamExt;
use image_ingest::store::{PART_SIZE, PARTS_IN_FLIGHT};
use testkit::origin::{Origin, Reply};
use testkit::runtime_api::{Answer, MAX_TIMEOUT, RuntimeApi};
use tokio::task::JoinSet;

const BUCKET: &str = "bench";
/// The origin's body is filler chunks of this size, all one buffer, sent again and again.
const FILLER_BLOCK: usize = 1024 * 1024;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let size = env_number("BENCH_URL_BYTES", 1 << 30);
    let rounds = env_number("BENCH_ROUNDS", 3) as usize;
    let s3 = S3Server::start(&[BUCKET]).await;
    // A PNG of `size` bytes at every path, served from a few buffers however large it is.
    let pieces = testkit::png::sized_pieces(0, size, FILLER_BLOCK);
    let origin = Origin::start(move |_| Reply::Pieces("image/png", pieces.clone())).await;
    let mut api = RuntimeApi::with_timeout(MAX_TIMEOUT).await;
    let profile = std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "release".into());
    let mut function = image_ingest(&profile, &api, &s3)
        // MALLOC_* tunes glibc; AWS_LAMBDA_MAX_CONCURRENCY > 1 gives the function its multi-thread runtime.
        .envs(std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_") || k == "AWS_LAMBDA_MAX_CONCURRENCY"))
        .env("BUCKET_NAME", BUCKET)
        .env("FETCH_ALLOW_PRIVATE", "loopback") // the origin is on loopback; nothing private opens
        .env("FETCH_TIMEOUT_MS", "900000")
        .env("MAX_OBJECT_BYTES", (size * 2).to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("target/release/image-ingest is built (make bench builds it)");
    let client = s3.client();
    let http = reqwest::Client::new();
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    println!(
        "url-stream: {} from a local origin into s3s-fs on {}, {rounds} rounds",
        mib(size),
        s3.root.path().display()
    );
    for round in 0..rounds {
        api.push(serde_json::json!({"url": origin.url(&format!("/round-{round}/big.png"))}).to_string());
        let started = Instant::now();
        let elapsed = match api.answer().await {
            Answer::Response(body) => {
                let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(answer["stored"][0]["size"], size, "image-ingest stored every byte: {answer}");
                started.elapsed()
            }
            other => panic!("image-ingest failed: {other:?}"),
        };
        ours.push(elapsed);
        s3.empty(BUCKET);

        let started = Instant::now();
        bare_multipart(&client, &http, &origin.url(&format!("/round-{round}/bare.png")), &format!("bare-{round}"))
            .await;
        bare.push(started.elapsed());
        s3.empty(BUCKET);
        println!(
            "  round {}: image-ingest {:.2} s, bare multipart {:.2} s",
            round + 1,
            secs(ours[round]),
            secs(bare[round])
        );
    }
    let rss = peak_rss(function.id()).unwrap_or(0);
    let _ = function.kill();
    let _ = function.wait();

    let (ours_median, bare_median) = (median(&ours), median(&bare));
    let throughput = |d: Duration| size as f64 / d.as_secs_f64() / (1024.0 * 1024.0);
    let ratio = bare_median.as_secs_f64() / ours_median.as_secs_f64();
    println!();
    println!("| URL ingest of {} | median time | throughput |", mib(size));
    println!("|---|---|---|");
    println!(
        "| bare multipart upload (8 MiB parts, {PARTS_IN_FLIGHT} in flight) | {:.2} s | {:.0} MiB/s |",
        secs(bare_median),
        throughput(bare_median)
    );
    println!("| image-ingest | {:.2} s | {:.0} MiB/s |", secs(ours_median), throughput(ours_median));
    println!();
    println!("throughput ratio image-ingest / bare: {ratio:.2} (target >= 0.8: {})", verdict(ratio >= 0.8));
    println!("image-ingest peak RSS: {} (target <= 64 MiB: {})", mib(rss), verdict(rss <= 64 << 20));
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The same bytes, the plainest way: GET, cut into parts, upload, complete.
async fn bare_multipart(client: &aws_sdk_s3::Client, http: &reqwest::Client, url: &str, key: &str) {
    let upload = client.create_multipart_upload().bucket(BUCKET).key(key).send().await.unwrap();
    let id = upload.upload_id.unwrap();
    let mut body = http.get(url).send().await.unwrap().bytes_stream();
    let mut buffer = BytesMut::with_capacity(PART_SIZE);
    let mut in_flight = JoinSet::new();
    let mut parts = Vec::new();
    let mut number = 0;
    loop {
        let chunk = body.next().await.transpose().unwrap();
        if let Some(chunk) = &chunk {
            buffer.extend_from_slice(chunk);
        }
        while buffer.len() >= PART_SIZE || (chunk.is_none() && !buffer.is_empty()) {
            let part = buffer.split_to(buffer.len().min(PART_SIZE)).freeze();
            buffer.reserve(PART_SIZE);
            if in_flight.len() == PARTS_IN_FLIGHT {
                parts.push(in_flight.join_next().await.unwrap().unwrap());
            }
            number += 1;
            let (client, key, id) = (client.clone(), key.to_owned(), id.clone());
            in_flight.spawn(async move {
                let done = client
                    .upload_part()
                    .bucket(BUCKET)
                    .key(&key)
                    .upload_id(&id)
                    .part_number(number)
                    .body(ByteStream::from(part))
                    .send()
                    .await
                    .unwrap();
                CompletedPart::builder().part_number(number).set_e_tag(done.e_tag).build()
            });
        }
        if chunk.is_none() {
            break;
        }
    }
    while let Some(done) = in_flight.join_next().await {
        parts.push(done.unwrap());
    }
    parts.sort_by_key(|p| p.part_number);
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
}
