//! The built binary, run for real against a Lambda Runtime API served by the test.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use common::runtime_api::{Answer, RuntimeApi};
use common::*;

/// The built binary against `api` and the S3 server at `endpoint`, without a bucket.
fn function(api: &RuntimeApi, endpoint: &str) -> Command {
    let mut cmd = testkit::function::command(env!("CARGO_BIN_EXE_image-ingest"), api);
    cmd.env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(testkit::function::s3_env(endpoint, REGION, ACCESS_KEY, SECRET_KEY))
        .env("KEY_PREFIX", "images/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test]
async fn built_binary_stores_an_object_through_the_runtime_api() {
    let server = S3Server::start().await;
    let mut api = RuntimeApi::start().await;
    let mut child = function(&api, &server.endpoint).env("BUCKET_NAME", BUCKET).spawn().unwrap();
    api.push(fixture("apigw-v2-raw-png.json").to_string());
    let answer = api.json_answer().await;
    api.push(fixture("direct-unrecognised.json").to_string());
    let error = api.json_answer().await;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();

    let Answer::Response(response) = answer else { panic!("expected a response, got {answer:?}") };
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(server.keys(), ["images/2026/11/24/203015/tabby.png"]);
    let Answer::Error(error) = error else { panic!("expected an error, got {error:?}") };
    assert_eq!(error["errorType"], "invalid_request", "{error}");

    // Logs are JSON lines, one per object, without the object's bytes.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stored: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "object stored")
        .collect();
    assert_eq!(stored.len(), 1, "{stdout}");
    assert_eq!(stored[0]["fields"]["key"], "images/2026/11/24/203015/tabby.png");
    assert!(!stdout.contains("iVBOR"), "object bytes leaked into the logs");
}

#[tokio::test]
async fn an_upload_ticket_lists_exactly_the_headers_it_signed_inside_a_traced_invocation() {
    let server = S3Server::start().await;
    let mut api = RuntimeApi::start().await;
    let mut child = function(&api, &server.endpoint).env("BUCKET_NAME", BUCKET).spawn().unwrap();
    // The runtime API sends a trace id, so the SDK's recursion detection adds x-amzn-trace-id.
    api.push(fixture("apigw-v2-upload-presign.json").to_string());
    let answer = api.json_answer().await;
    child.kill().unwrap();
    child.wait().unwrap();

    let Answer::Response(response) = answer else { panic!("expected a response, got {answer:?}") };
    assert_eq!(response["statusCode"], 200, "{response}");
    let ticket: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let mut headers: Vec<&str> = ticket["headers"].as_object().unwrap().keys().map(String::as_str).collect();
    headers.sort_unstable();
    assert_eq!(headers, ["content-length", "content-type", "if-none-match"], "{ticket}");
    let url = url::Url::parse(ticket["url"].as_str().unwrap()).unwrap();
    let signed = url.query_pairs().find(|(k, _)| k == "X-Amz-SignedHeaders").unwrap().1.into_owned();
    assert_eq!(signed, "content-length;content-type;host;if-none-match");
}

#[tokio::test]
async fn missing_bucket_name_stops_start_up_naming_it() {
    let api = RuntimeApi::start().await;
    let output = function(&api, "http://127.0.0.1:9").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BUCKET_NAME"), "{stderr}");
}

/// The function's peak resident memory, from the kernel's own count.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib / 1024.0
}

#[tokio::test]
async fn a_one_gib_staged_upload_is_promoted_with_flat_memory() {
    let server = S3Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panorama.png");
    let size = png::write_black(&path, 16_384, 21_846);
    assert!(size >= 1 << 30, "{size}");
    let staged = "incoming/2026/11/25/101500/panorama.png";
    let body = aws_sdk_s3::primitives::ByteStream::from_path(&path).await.unwrap();
    server.client().put_object().bucket(BUCKET).key(staged).body(body).send().await.unwrap();
    drop(dir);

    // Hashing a GiB in a debug build on a busy 2-core runner can take longer than 30 s.
    let mut api = RuntimeApi::with_timeout(Duration::from_secs(300)).await;
    let mut child = function(&api, &server.endpoint)
        .env("BUCKET_NAME", BUCKET)
        .env("MAX_OBJECT_BYTES", (2u64 << 30).to_string())
        // 358 million pixels: a GiB of raw RGB is over the default cap, which is not under test.
        .env("MAX_PIXELS", "400000000")
        .spawn()
        .unwrap();
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(staged);
    api.push(notice.to_string());
    let answer = api.json_answer().await;
    let peak = peak_rss_mib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();

    let Answer::Response(response) = answer else { panic!("expected a response, got {answer:?}") };
    assert_eq!(response["stored"][0]["key"], "images/2026/11/25/101500/panorama.png", "{response}");
    assert_eq!(response["stored"][0]["size"], size);
    assert_eq!((&response["stored"][0]["width"], &response["stored"][0]["height"]), (&json!(16_384), &json!(21_846)));
    assert_eq!(server.keys(), ["images/2026/11/25/101500/panorama.png"]);
    assert!(peak <= 64.0, "peak RSS {peak:.1} MiB for a {size}-byte object");
    eprintln!("peak RSS {peak:.1} MiB for a {size}-byte staged object");
}

/// The contract's bound: a rendition of a 100-megapixel baseline JPEG or PNG costs at most
/// 64 MiB above the function's baseline (its peak after one small image, renditions on).
#[tokio::test]
async fn a_100_megapixel_jpeg_and_png_are_rendered_within_64_mib_of_the_baseline() {
    use base64::Engine;
    let server = S3Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("survey.png");
    let png_size = png::write_black(&path, 10_000, 10_000);
    let staged = "incoming/2026/11/25/101500/survey.png";
    let body = aws_sdk_s3::primitives::ByteStream::from_path(&path).await.unwrap();
    server.client().put_object().bucket(BUCKET).key(staged).body(body).send().await.unwrap();
    drop(dir);
    let jpeg = testkit::jpeg::flat(10_000, 10_000);

    let mut api = RuntimeApi::with_timeout(Duration::from_secs(300)).await;
    let mut child = function(&api, &server.endpoint)
        .env("BUCKET_NAME", BUCKET)
        .env("RENDITIONS", "320")
        .env("MAX_OBJECT_BYTES", (1u64 << 30).to_string())
        .spawn()
        .unwrap();
    api.push(fixture("apigw-v2-raw-png.json").to_string());
    let Answer::Response(first) = api.json_answer().await else { panic!("the small image") };
    assert_eq!(first["statusCode"], 201, "{first}");
    let baseline = peak_rss_mib(child.id());

    let data = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    api.push(json!({"data": data, "file_name": "aerial.jpg", "posted_at": "2026-11-25T10:15:00Z"}).to_string());
    let jpeg_answer = api.json_answer().await;
    let after_jpeg = peak_rss_mib(child.id());
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(staged);
    api.push(notice.to_string());
    let png_answer = api.json_answer().await;
    let after_png = peak_rss_mib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();

    for (answer, name, size) in [(jpeg_answer, "aerial", jpeg.len() as u64), (png_answer, "survey", png_size)] {
        let Answer::Response(response) = answer else { panic!("{name}: expected a response, got {answer:?}") };
        let stored = &response["stored"][0];
        assert_eq!(stored["size"], size, "{response}");
        assert_eq!((&stored["width"], &stored["height"]), (&json!(10_000), &json!(10_000)), "{response}");
        let rendition = &stored["renditions"][0];
        assert_eq!((&rendition["width"], &rendition["height"]), (&json!(320), &json!(320)), "{response}");
        assert!(rendition["key"].as_str().unwrap().starts_with(&format!("renditions/320/2026/11/25/101500/{name}")));
    }
    let (jpeg_cost, png_cost) = (after_jpeg - baseline, after_png - baseline);
    eprintln!("baseline {baseline:.1} MiB; a 100 MP JPEG +{jpeg_cost:.1} MiB, a 100 MP PNG +{png_cost:.1} MiB");
    assert!(jpeg_cost <= 64.0, "a 100-megapixel JPEG cost {jpeg_cost:.1} MiB above the baseline");
    assert!(png_cost <= 64.0, "a 100-megapixel PNG cost {png_cost:.1} MiB above the baseline");
}

#[tokio::test]
async fn built_binary_refuses_bombs_without_allocating_their_declared_size() {
    use base64::Engine;
    let server = S3Server::start().await;
    let mut api = RuntimeApi::start().await;
    let mut child = function(&api, &server.endpoint).env("BUCKET_NAME", BUCKET).spawn().unwrap();
    let bombs = images::bombs();
    for bomb in &bombs {
        let data = base64::engine::general_purpose::STANDARD.encode(&bomb.bytes);
        api.push(json!({"data": data, "file_name": format!("{}.{}", bomb.name, bomb.ext)}).to_string());
    }
    let mut answers = Vec::new();
    for _ in &bombs {
        answers.push(api.json_answer().await);
    }
    let peak = peak_rss_mib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();

    for (images::Sample { name, .. }, answer) in bombs.iter().zip(answers) {
        let Answer::Error(error) = answer else { panic!("{name}: expected an error, got {answer:?}") };
        assert_eq!(error["errorType"], "too_many_pixels", "{name}: {error}");
    }
    assert_eq!(server.keys(), Vec::<String>::new());
    // Decoding the smallest of them (16,384 x 16,384 RGBA) would take a GiB.
    assert!(peak < 64.0, "peak RSS {peak:.1} MiB refusing bombs");
    eprintln!("peak RSS {peak:.1} MiB refusing {} bombs", bombs.len());
}

/// The JSON log lines of a finished run whose message is `message`.
fn log_lines(stdout: &str, message: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

#[tokio::test]
async fn refused_backfill_items_are_logged_whole_one_line_each() {
    use std::io::Read;
    let server = S3Server::start().await;
    let mut api = RuntimeApi::start().await;
    let mut child = function(&api, &server.endpoint).env("BUCKET_NAME", BUCKET).spawn().unwrap();
    // The logs outgrow a pipe's buffer: read them as they come, or the function blocks on them.
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut logs = String::new();
        out.read_to_string(&mut logs).map(|_| logs)
    });
    // Refused URLs long enough that the answer cannot echo them all, and inline bytes.
    let mut items: Vec<serde_json::Value> = (0..36)
        .map(|i| json!({"url": format!("ftp://example.com/{i}/{}", "p".repeat(7150)), "file_name": format!("{i}.png")}))
        .collect();
    items.push(json!({"data": "bm90IGFuIGltYWdl", "file_name": "text.png"}));
    api.push(json!({"Items": items, "BatchInput": {"run_started_at": "2026-11-24T20:30:15.123Z"}}).to_string());
    let answer = api.json_answer().await;
    child.kill().unwrap();
    child.wait().unwrap();
    let stdout = reader.join().unwrap().unwrap();

    let Answer::Response(answer) = answer else { panic!("expected a response, got {answer:?}") };
    assert_eq!(answer["items_shortened"], true);
    assert_eq!(answer["failed"].as_array().unwrap().len(), 37);
    let logged = log_lines(&stdout, "backfill item refused");
    let indices: Vec<u64> = logged.iter().map(|l| l["fields"]["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, (0..37).collect::<Vec<u64>>(), "one line per refused item");
    for line in &logged[..36] {
        let item: serde_json::Value = serde_json::from_str(line["fields"]["item"].as_str().unwrap()).unwrap();
        assert_eq!(item, items[line["fields"]["index"].as_u64().unwrap() as usize], "logged whole");
        assert_eq!(line["fields"]["code"], "url_not_allowed");
    }
    let inline: serde_json::Value = serde_json::from_str(logged[36]["fields"]["item"].as_str().unwrap()).unwrap();
    assert_eq!(inline, json!({"data": "<16 base64 characters, not logged>", "file_name": "text.png"}));
    assert!(!stdout.contains("bm90IGFuIGltYWdl"), "object bytes leaked into the logs");
}

#[tokio::test]
async fn an_sqs_record_with_a_url_over_8_kib_fails_as_invalid_request() {
    let server = S3Server::start().await;
    let mut api = RuntimeApi::start().await;
    let mut child = function(&api, &server.endpoint).env("BUCKET_NAME", BUCKET).spawn().unwrap();
    let mut event = fixture("sqs-redelivery.json");
    let url = format!("https://example.com/cam.png?session={}", "q".repeat(9 * 1024));
    event["Records"][0]["body"] = json!(json!({"url": url}).to_string());
    let id = event["Records"][0]["messageId"].clone();
    api.push(event.to_string());
    let answer = api.json_answer().await;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();

    let Answer::Response(answer) = answer else { panic!("expected a response, got {answer:?}") };
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": id}]));
    let failed = log_lines(&String::from_utf8_lossy(&output.stdout), "record failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["fields"]["code"], "invalid_request");
    let error = failed[0]["fields"]["error"].as_str().unwrap();
    assert_eq!(error, format!("url is {} bytes; at most 8192 are accepted", url.len()));
}
