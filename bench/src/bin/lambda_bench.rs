//! `make bench`: image-ingest side by side with the bare-SDK floor (our build settings and the
//! SDK's defaults) and the boto3 handler users write today, each driven as Lambda drives it,
//! through a Runtime API served here, against the local S3 server on tmpfs, over plain HTTP
//! and over HTTPS (stunnel in front). Contenders run in alternating rounds; the report gives
//! medians over the rounds and the ratios between contenders. Then, in one warm image-ingest with
//! renditions on, a gallery day page of 100 tiles against the JSON listing of the same day.
//!
//! Settings (environment): BENCH_ROUNDS (5), BENCH_WARM (100 invocations per round),
//! BENCH_PROFILE (`release`; `debug` for the smoke run), BENCH_TLS_DIR (from bench/setup.sh),
//! BENCH_PYTHON (the interpreter with awslambdaric and boto3), BENCH_OUT (where RESULTS.md and
//! the chart go; unset: print only), BENCH_ONLY (run only the named contenders), BENCH_WRAP (run
//! the Rust contenders under a profiler command), BENCH_GALLERY_PAIRS (gallery pages and listings
//! timed; BENCH_ROUNDS x BENCH_WARM).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bench::processes::{LocalS3, Running, Tls, binaries};
use bench::s3::{ACCESS_KEY, REGION, S3Server, SECRET_KEY};
use bench::{median, mib, ms, peak_rss, percentile, verdict};
use bytes::Bytes;
use serde_json::{Value, json};
use testkit::origin::{Origin, Reply};
use testkit::runtime_api::{Answer, MAX_TIMEOUT, RuntimeApi};

const BUCKET: &str = "bench";
const PAYLOAD_BYTES: usize = 64 * 1024;

/// One way of running a function process.
struct Contender {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    dir: Option<PathBuf>,
}

/// What one contender measured on one leg.
#[derive(Default)]
struct Samples {
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    rss: Vec<u64>,
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() {
    let rounds: usize = setting("BENCH_ROUNDS", "5").parse().expect("BENCH_ROUNDS is a number");
    let warm: usize = setting("BENCH_WARM", "100").parse().expect("BENCH_WARM is a number");
    let profile = setting("BENCH_PROFILE", "release");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let bin = binaries(&profile);
    // make bench builds floor-default with `--target-dir <target dir>/bench-default`.
    let default_bin = bench::target_dir().join("bench-default").join(&profile);
    let python = setting("BENCH_PYTHON", "python3");

    let contenders = vec![
        Contender { name: "image-ingest", program: bin.join("image-ingest"), args: vec![], dir: None },
        Contender { name: "floor", program: bin.join("floor"), args: vec![], dir: None },
        Contender { name: "floor-default", program: default_bin.join("floor"), args: vec![], dir: None },
        Contender {
            name: "peer (boto3)",
            program: PathBuf::from(&python),
            args: vec!["-m".into(), "awslambdaric".into(), "app.handler".into()],
            dir: Some(root.join("bench/peer")),
        },
    ];
    // BENCH_ONLY=name,name runs a subset (for looking into one contender): `floor` is the floor
    // alone, `peer` the boto3 handler.
    let only = std::env::var("BENCH_ONLY").ok();
    let contenders: Vec<Contender> = contenders
        .into_iter()
        .filter(|c| only.as_deref().is_none_or(|o| o.split(',').any(|n| c.name.split(' ').next() == Some(n))))
        .collect();
    for c in &contenders {
        if c.dir.is_none() {
            assert!(c.program.is_file(), "{} is not built: run make bench", c.program.display());
        }
    }

    let s3 = LocalS3::start(&bin.join("local-s3"), BUCKET);
    let tls = std::env::var("BENCH_TLS_DIR").ok().and_then(|dir| Tls::start(Path::new(&dir), s3.port));
    let mut legs = vec![("http", format!("http://127.0.0.1:{}", s3.port))];
    match &tls {
        Some(tls) => legs.push(("https", format!("https://127.0.0.1:{}", tls.port))),
        None => println!("HTTPS leg skipped: no stunnel or no bench CA (bench/setup.sh makes both)"),
    }
    let payload = png_payload();
    println!(
        "{rounds} rounds x {} contenders x {} legs; {warm} warm invocations per round",
        contenders.len(),
        legs.len()
    );

    let mut results: Vec<Vec<Samples>> = Vec::new();
    for (leg, endpoint) in &legs {
        let mut leg_samples: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
        for round in 0..rounds {
            for (contender, samples) in contenders.iter().zip(leg_samples.iter_mut()) {
                measure(contender, endpoint, &payload, warm, &format!("{leg}-{round}"), samples).await;
            }
            s3.clear(BUCKET);
            println!("  {leg} round {} done", round + 1);
        }
        results.push(leg_samples);
    }

    let ours = contenders.iter().find(|c| c.name == "image-ingest");
    let sqs = match ours {
        Some(ours) => sqs_concurrency(ours, &legs[0].1).await,
        None => None,
    };
    let gallery = match ours {
        Some(ours) => {
            let pairs = setting("BENCH_GALLERY_PAIRS", &(rounds * warm).to_string());
            Some(gallery_against_listing(ours, pairs.parse().expect("BENCH_GALLERY_PAIRS is a number")).await)
        }
        None => None,
    };
    let sizes = binary_sizes(&contenders);
    let mut report = report(&legs, &contenders, &results, sqs, rounds, warm);
    if let Some(gallery) = &gallery {
        gallery_report(&mut report, gallery);
    }
    sizes_report(&mut report, &sizes);
    println!("\n{report}");
    if let Ok(out) = std::env::var("BENCH_OUT") {
        let out = PathBuf::from(out);
        std::fs::write(out.join("RESULTS.md"), results_page(&report)).unwrap();
        std::fs::write(out.join("warm-latency.svg"), chart(&legs, &contenders, &results)).unwrap();
        println!("written: {}, {}", out.join("RESULTS.md").display(), out.join("warm-latency.svg").display());
    }
}

/// A 64 KiB PNG, base64 as API Gateway v2 sends binary.
fn png_payload() -> String {
    base64::engine::general_purpose::STANDARD.encode(testkit::png::sized(1, PAYLOAD_BYTES))
}

fn api_event(payload: &str, name: &str) -> Bytes {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let path = format!("/images/{name}.png");
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "image/png", "host": "bench.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": name, "routeKey": "$default", "stage": "$default", "timeEpoch": now},
        "body": payload, "isBase64Encoded": true
    });
    Bytes::from(event.to_string())
}

fn spawn(contender: &Contender, endpoint: &str, api: &RuntimeApi) -> Running {
    // BENCH_WRAP runs the Rust contenders under a profiler, for example
    // `BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p"`.
    let wrap = std::env::var("BENCH_WRAP").ok().filter(|_| contender.dir.is_none());
    let mut wrap = wrap.as_deref().unwrap_or_default().split_whitespace();
    let mut command = match wrap.next() {
        Some(profiler) => {
            let mut command = testkit::function::command(profiler, api);
            command.args(wrap).arg(&contender.program);
            command
        }
        None => testkit::function::command(&contender.program, api),
    };
    command
        .args(&contender.args)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .envs(testkit::function::s3_env(endpoint, REGION, ACCESS_KEY, SECRET_KEY))
        .env("BUCKET_NAME", BUCKET)
        // botocore does not read the system trust store by itself.
        .env("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        .stdout(if std::env::var("BENCH_VERBOSE").is_ok() { Stdio::inherit() } else { Stdio::null() })
        .stderr(if std::env::var("BENCH_VERBOSE").is_ok() { Stdio::inherit() } else { Stdio::null() });
    if let Some(dir) = &contender.dir {
        command.current_dir(dir).env("PYTHONPATH", dir);
    }
    if std::env::var("BENCH_VERBOSE").is_ok() {
        eprintln!("spawning {command:?}");
    }
    Running(command.spawn().unwrap_or_else(|e| panic!("{} starts: {e}", contender.name)))
}

fn check(contender: &Contender, answer: Answer) {
    let ok = match &answer {
        Answer::Response(body) => {
            serde_json::from_slice::<Value>(body).ok().and_then(|v| v["statusCode"].as_u64()) == Some(201)
        }
        Answer::Error(_) | Answer::InitError(_) => false,
    };
    assert!(ok, "{} did not store the object: {answer:?}", contender.name);
}

/// One process: the cold start, then `warm` invocations. Each process gets a Runtime API of its
/// own, so a long-poll left over from a killed process can never take its events.
async fn measure(contender: &Contender, endpoint: &str, payload: &str, warm: usize, tag: &str, samples: &mut Samples) {
    let api = &mut RuntimeApi::with_timeout(MAX_TIMEOUT).await;
    api.push(api_event(payload, &format!("cold-{tag}")));
    let started = Instant::now();
    let process = spawn(contender, endpoint, api);
    let answer = tokio::time::timeout(Duration::from_secs(60), api.answer())
        .await
        .unwrap_or_else(|_| panic!("{} answered within 60 s (BENCH_VERBOSE=1 shows its stderr)", contender.name));
    samples.cold.push(started.elapsed());
    check(contender, answer);
    for i in 0..warm {
        api.push(api_event(payload, &format!("warm-{tag}-{i}")));
        let started = Instant::now();
        let answer = api.answer().await;
        samples.warm.push(started.elapsed());
        check(contender, answer);
    }
    samples.rss.push(peak_rss(process.0.id()).unwrap_or(0));
    finish(process);
}

/// Stops a contender. Under BENCH_WRAP it gets SIGTERM and time to exit, so that the profiler
/// writes its output (a SIGKILL would lose it).
fn finish(mut process: Running) {
    if std::env::var("BENCH_WRAP").is_ok() {
        let _ = Command::new("kill").arg("-TERM").arg(process.0.id().to_string()).status();
        let _ = process.0.wait();
    }
    drop(process);
}

/// How many times the SQS batches are timed; the report gives the medians.
const SQS_REPEATS: usize = 5;
/// How long the bench's origin waits before it answers each URL.
const ORIGIN_DELAY: Duration = Duration::from_millis(200);
/// The records in the large batch: SQS's default batch size, and `BATCH_CONCURRENCY`'s default.
const SQS_BATCH: usize = 10;

/// Ten SQS records whose URLs answer after 200 ms, against a batch of one, alternating, in one
/// process with the function's default `BATCH_CONCURRENCY`.
async fn sqs_concurrency(ours: &Contender, endpoint: &str) -> Option<SqsTimes> {
    let api = &mut RuntimeApi::with_timeout(MAX_TIMEOUT).await;
    let png = Bytes::from(testkit::png::sized(2, 1024));
    let origin = Origin::start(move |_| Reply::Delayed(ORIGIN_DELAY, "image/png", png.clone())).await;
    let process = spawn_with_private(ours, endpoint, api);
    let batch = |count: usize, tag: &str| {
        let records: Vec<Value> = (0..count)
            .map(|i| {
                json!({"messageId": format!("{tag}-{i}"), "receiptHandle": "x", "eventSource": "aws:sqs",
                       "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench", "awsRegion": REGION,
                       "attributes": {"SentTimestamp": "1795552215000"},
                       "body": json!({"url": origin.url(&format!("/{tag}/{i}.png"))}).to_string()})
            })
            .collect();
        Bytes::from(json!({ "Records": records }).to_string())
    };
    let (warmup, _) = timed(api, batch(1, "warmup")).await;
    let ok = |answer: &Answer| matches!(answer, Answer::Response(b) if b.as_ref() == br#"{"batchItemFailures":[]}"#);
    if !ok(&warmup) {
        println!("SQS figure skipped: the warm-up batch failed: {warmup:?}");
        return None;
    }
    let mut times = SqsTimes::default();
    for repeat in 0..SQS_REPEATS {
        let (one, single) = timed(api, batch(1, &format!("one-{repeat}"))).await;
        let (ten, batch_of_ten) = timed(api, batch(SQS_BATCH, &format!("ten-{repeat}"))).await;
        assert!(ok(&one) && ok(&ten), "SQS batches stored every record: {one:?} {ten:?}");
        times.one.push(single);
        times.ten.push(batch_of_ten);
    }
    drop(process);
    Some(times)
}

/// Wall times of the SQS batches, one entry per repeat.
#[derive(Default)]
struct SqsTimes {
    one: Vec<Duration>,
    ten: Vec<Duration>,
}

async fn timed(api: &mut RuntimeApi, event: Bytes) -> (Answer, Duration) {
    api.push(event);
    let started = Instant::now();
    (api.answer().await, started.elapsed())
}

/// Our function with FETCH_ALLOW_PRIVATE=loopback, because the bench's origin is on loopback.
fn spawn_with_private(ours: &Contender, endpoint: &str, api: &RuntimeApi) -> Running {
    spawn_with(ours, endpoint, api, &["FETCH_ALLOW_PRIVATE=loopback"])
}

/// Our function with settings (`NAME=value`) beyond the ones every contender gets.
fn spawn_with(ours: &Contender, endpoint: &str, api: &RuntimeApi, settings: &[&str]) -> Running {
    let wrapper = Contender { name: ours.name, program: PathBuf::from("env"), args: vec![], dir: None };
    let mut args: Vec<String> = settings.iter().map(|s| (*s).to_owned()).collect();
    args.push(ours.program.to_string_lossy().into_owned());
    args.extend(ours.args.iter().cloned());
    spawn(&Contender { args, ..wrapper }, endpoint, api)
}

/// The day the gallery figure stocks and pages through.
const GALLERY_DAY: &str = "2026/11/24";
/// Originals on that day: one full page of tiles (the gallery's `TILES_PER_PAGE`, and the
/// listing's default `limit`).
const GALLERY_TILES: usize = 100;
/// Originals per direct invocation when stocking the day.
const STOCK_BATCH: usize = 10;

/// A gallery day page against the listing of the same day, in one warm process.
struct GalleryTimes {
    page: Vec<Duration>,
    listing: Vec<Duration>,
    /// S3 requests one gallery page sent, and one listing, by method.
    page_requests: BTreeMap<String, u64>,
    listing_requests: BTreeMap<String, u64>,
    /// HEAD requests during every timed call together.
    heads: u64,
}

/// Stocks one day with 100 JPEGs through the function itself, with `RENDITIONS=320` and
/// `FACTS_PREFIX=facts/` as the template sets them (so each has a rendition and the facts marker
/// naming it), then times `GET /gallery/Y/M/D` and
/// `GET /images?date=Y/M/D` in `pairs` alternating pairs, who goes first alternating too, against
/// the same warm process. Its own S3 server counts the requests by method.
async fn gallery_against_listing(ours: &Contender, pairs: usize) -> GalleryTimes {
    let s3 = S3Server::start(&[BUCKET]).await;
    let api = &mut RuntimeApi::with_timeout(MAX_TIMEOUT).await;
    let process = spawn_with(ours, &s3.endpoint, api, &["RENDITIONS=320", "FACTS_PREFIX=facts/"]);
    let posted_at = format!("{}T20:30:15Z", GALLERY_DAY.replace('/', "-"));
    for batch in 0..GALLERY_TILES / STOCK_BATCH {
        let items: Vec<Value> = (0..STOCK_BATCH)
            .map(|i| {
                let n = batch * STOCK_BATCH + i;
                // A different width each, so no two originals are the same bytes.
                let jpeg = testkit::jpeg::flat(800 + n as u16, 600);
                json!({"data": base64::engine::general_purpose::STANDARD.encode(jpeg),
                       "file_name": format!("photo-{n:03}.jpg"), "posted_at": posted_at})
            })
            .collect();
        let (answer, _) = timed(api, Bytes::from(json!({ "items": items }).to_string())).await;
        let stored = match &answer {
            Answer::Response(body) => serde_json::from_slice::<Value>(body).ok().map(|v| v["stored"].clone()),
            _ => None,
        };
        let count = stored.as_ref().and_then(Value::as_array).map_or(0, Vec::len);
        assert_eq!(count, STOCK_BATCH, "the gallery's day was stocked: {answer:?}");
    }
    let page = http_event("/gallery/".to_owned() + GALLERY_DAY, None);
    let listing = http_event("/images".to_owned(), Some(GALLERY_DAY));
    let (first_page, _) = timed(api, page.clone()).await;
    check_page(&first_page);
    let (first_listing, _) = timed(api, listing.clone()).await;
    check_listing(&first_listing);
    let before = s3.requests.snapshot();
    timed(api, page.clone()).await;
    let after_page = s3.requests.snapshot();
    timed(api, listing.clone()).await;
    let after_listing = s3.requests.snapshot();
    let mut times = GalleryTimes {
        page: Vec::new(),
        listing: Vec::new(),
        page_requests: difference(&after_page, &before),
        listing_requests: difference(&after_listing, &after_page),
        heads: 0,
    };
    let heads = |counts: &BTreeMap<String, u64>| counts.get("HEAD").copied().unwrap_or(0);
    let heads_before = heads(&s3.requests.snapshot());
    for pair in 0..pairs {
        let mut order = [(&page, &mut times.page), (&listing, &mut times.listing)];
        if pair % 2 == 1 {
            order.reverse();
        }
        for (event, samples) in order {
            let (answer, took) = timed(api, event.clone()).await;
            assert!(status(&answer) == Some(200), "a timed call answered 200: {answer:?}");
            samples.push(took);
        }
    }
    times.heads = heads(&s3.requests.snapshot()) - heads_before;
    drop(process);
    times
}

/// An API Gateway v2 GET of `path`, with `date` as its query.
fn http_event(path: String, date: Option<&str>) -> Bytes {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let (raw_query, params) = match date {
        Some(date) => (format!("date={date}"), json!({ "date": date })),
        None => (String::new(), Value::Null),
    };
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": raw_query,
        "queryStringParameters": params,
        "headers": {"host": "bench.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "gallery", "routeKey": "$default", "stage": "$default", "timeEpoch": now},
        "isBase64Encoded": false
    });
    Bytes::from(event.to_string())
}

fn response(answer: &Answer) -> Option<Value> {
    match answer {
        Answer::Response(body) => serde_json::from_slice(body).ok(),
        Answer::Error(_) | Answer::InitError(_) => None,
    }
}

fn status(answer: &Answer) -> Option<u64> {
    response(answer).and_then(|v| v["statusCode"].as_u64())
}

/// The page measured is the real thing: 100 tiles, each showing its rendition.
fn check_page(answer: &Answer) {
    let body = response(answer).and_then(|v| v["body"].as_str().map(str::to_owned)).unwrap_or_default();
    let tiles = body.matches("<figure>").count();
    let renditions = body
        .split(" src=\"")
        .skip(1)
        .filter(|src| src.split('"').next().unwrap_or("").contains("/renditions/"))
        .count();
    assert!(
        status(answer) == Some(200) && tiles == GALLERY_TILES && renditions == GALLERY_TILES,
        "the gallery page shows {GALLERY_TILES} tiles of renditions (got {tiles} tiles, {renditions} renditions): {answer:?}"
    );
}

/// The listing measured lists the whole day: 100 objects, the default `limit`.
fn check_listing(answer: &Answer) {
    let body = response(answer).and_then(|v| v["body"].as_str().and_then(|b| serde_json::from_str::<Value>(b).ok()));
    let objects = body.as_ref().and_then(|b| b["objects"].as_array()).map_or(0, Vec::len);
    assert!(
        status(answer) == Some(200) && objects == GALLERY_TILES,
        "the listing lists {GALLERY_TILES} objects (got {objects}): {answer:?}"
    );
}

/// Requests counted in `after` and not in `before`, by method.
fn difference(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(method, n)| (method.clone(), n - before.get(method).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn binary_sizes(contenders: &[Contender]) -> Vec<(String, Option<u64>)> {
    let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
    let mut sizes: Vec<(String, Option<u64>)> = contenders
        .iter()
        .filter(|c| c.dir.is_none())
        .map(|c| (format!("{} (x86_64)", c.name), size(&c.program)))
        .collect();
    sizes.push((
        "image-ingest (arm64, cargo lambda build)".into(),
        size(&bench::target_dir().join("lambda/image-ingest/bootstrap")),
    ));
    sizes
}

fn report(
    legs: &[(&str, String)],
    contenders: &[Contender],
    results: &[Vec<Samples>],
    sqs: Option<SqsTimes>,

    rounds: usize,
    warm: usize,
) -> String {
    let mut out = String::new();
    for ((leg, _), samples) in legs.iter().zip(results) {
        let _ = writeln!(
            out,
            "### {} leg ({rounds} rounds, {} warm invocations each)\n",
            leg.to_uppercase(),
            warm * rounds
        );
        let _ = writeln!(out, "| contender | cold start | warm median | warm p99 | peak RSS |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (c, s) in contenders.iter().zip(samples) {
            let rss = s.rss.iter().copied().max().unwrap_or(0);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                c.name,
                ms(median(&s.cold)),
                ms(median(&s.warm)),
                ms(percentile(&s.warm, 99.0)),
                mib(rss)
            );
        }
        // BENCH_ONLY may leave contenders out: their rows are left out too.
        let find = |name: &str| contenders.iter().position(|c| c.name == name).map(|i| &samples[i]);
        let Some(ours) = find("image-ingest") else { continue };
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let rss = |s: &Samples| s.rss.iter().copied().max().unwrap_or(1) as f64;
        let _ = writeln!(out);
        let _ = writeln!(out, "| ratio (image-ingest / other) | measured | target |");
        let _ = writeln!(out, "|---|---|---|");
        if let Some(floor) = find("floor") {
            let cold_floor = ratio(median(&ours.cold), median(&floor.cold));
            let warm_floor = ratio(median(&ours.warm), median(&floor.warm));
            let rss_floor = rss(ours) / rss(floor);
            let _ = writeln!(
                out,
                "| cold start / floor | {cold_floor:.2} | at most 1.30: {} |",
                verdict(cold_floor <= 1.3)
            );
            let _ = writeln!(
                out,
                "| warm median / floor | {warm_floor:.2} | at most 1.15: {} |",
                verdict(warm_floor <= 1.15)
            );
            let _ =
                writeln!(out, "| peak RSS / floor | {rss_floor:.2} | at most 1.50: {} |", verdict(rss_floor <= 1.5));
        }
        if let Some(default) = find("floor-default") {
            let cold_default = ratio(median(&ours.cold), median(&default.cold));
            if *leg == "https" {
                let _ = writeln!(
                    out,
                    "| cold start / floor-default | {cold_default:.2} | at most 0.50: {} |",
                    verdict(cold_default <= 0.5)
                );
            } else {
                let _ = writeln!(out, "| cold start / floor-default | {cold_default:.2} | (HTTPS leg only) |");
            }
        }
        if let Some(peer) = find("peer (boto3)") {
            let rss_peer = rss(ours) / rss(peer);
            let _ =
                writeln!(out, "| peak RSS / peer | {rss_peer:.2} | at most 0.33: {} |", verdict(rss_peer <= 1.0 / 3.0));
            let _ = writeln!(out, "| cold start / peer | {:.2} | |", ratio(median(&ours.cold), median(&peer.cold)));
            let _ = writeln!(out, "| warm median / peer | {:.2} | |", ratio(median(&ours.warm), median(&peer.warm)));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "### SQS batch concurrency (image-ingest, plain HTTP, default BATCH_CONCURRENCY, medians of {SQS_REPEATS})\n"
    );
    match sqs {
        Some(times) => {
            let (one, ten) = (median(&times.one), median(&times.ten));
            let waits = ORIGIN_DELAY.as_millis();
            let _ = writeln!(out, "| batch | wall time |\n|---|---|");
            let _ = writeln!(out, "| 1 URL record (origin waits {waits} ms) | {} |", ms(one));
            let _ = writeln!(out, "| {SQS_BATCH} URL records (origin waits {waits} ms each) | {} |\n", ms(ten));
            let batch_one = ten.as_secs_f64() / one.as_secs_f64();
            let _ = writeln!(out, "| ratio | measured | target |\n|---|---|---|");
            let _ = writeln!(
                out,
                "| {SQS_BATCH} records / 1 record | {batch_one:.2} | at most 1.50: {} |\n",
                verdict(batch_one <= 1.5)
            );
        }
        None => {
            let _ = writeln!(out, "skipped (see the message above)\n");
        }
    }
    out
}

fn sizes_report(out: &mut String, sizes: &[(String, Option<u64>)]) {
    let _ = writeln!(out, "### Binary size (stripped)\n\n| binary | size |\n|---|---|");
    for (name, size) in sizes {
        let shown = size.map_or_else(|| "not built (make build)".to_owned(), mib);
        let _ = writeln!(out, "| {name} | {shown} |");
    }
}

fn gallery_report(out: &mut String, times: &GalleryTimes) {
    let requests = |counts: &BTreeMap<String, u64>| {
        let listed: Vec<String> = counts.iter().map(|(method, n)| format!("{n} {method}")).collect();
        listed.join(", ")
    };
    let _ = writeln!(
        out,
        "### Gallery day page against the listing (image-ingest, plain HTTP, RENDITIONS=320, FACTS_PREFIX=facts/, {} pairs)\n",
        times.page.len()
    );
    let _ = writeln!(out, "| request | median | p90 | S3 requests per call |\n|---|---|---|---|");
    let _ = writeln!(
        out,
        "| GET /gallery/{GALLERY_DAY} ({GALLERY_TILES} tiles of renditions) | {} | {} | {} |",
        ms(median(&times.page)),
        ms(percentile(&times.page, 90.0)),
        requests(&times.page_requests)
    );
    let _ = writeln!(
        out,
        "| GET /images?date={GALLERY_DAY} ({GALLERY_TILES} objects) | {} | {} | {} |\n",
        ms(median(&times.listing)),
        ms(percentile(&times.listing, 90.0)),
        requests(&times.listing_requests)
    );
    let ratio = median(&times.page).as_secs_f64() / median(&times.listing).as_secs_f64();
    let _ = writeln!(out, "| ratio | measured | target |\n|---|---|---|");
    let _ =
        writeln!(out, "| gallery page / listing (medians) | {ratio:.2} | at most 1.50: {} |", verdict(ratio <= 1.5));
    let _ = writeln!(
        out,
        "| HEAD requests during the {} timed pages and listings | {} | none: {} |\n",
        times.page.len(),
        times.heads,
        verdict(times.heads == 0)
    );
}

fn results_page(report: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = Command::new("uname")
        .arg("-sr")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let findings =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("FINDINGS.md")).unwrap_or_default();
    format!(
        "# Benchmark results\n\nMeasured by `make bench` on {date}: {cores} cores ({cpu}), {kernel}.\n\
         Absolute times on these shared machines are noise; the ratios were measured side by side in one run.\n\n\
         ![warm latency](warm-latency.svg)\n\n{report}\n{findings}"
    )
}

/// The warm latency distributions as cumulative curves, one panel per leg.
fn chart(legs: &[(&str, String)], contenders: &[Contender], results: &[Vec<Samples>]) -> String {
    let colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"];
    let (panel_w, panel_h, margin) = (460.0, 300.0, 50.0);
    let width = margin + legs.len() as f64 * (panel_w + margin);
    let height = panel_h + 2.0 * margin + 20.0 * contenders.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (panel, ((leg, _), samples)) in legs.iter().zip(results).enumerate() {
        let x0 = margin + panel as f64 * (panel_w + margin);
        let y0 = margin;
        let max =
            samples.iter().map(|s| percentile(&s.warm, 99.0)).max().unwrap_or(Duration::from_millis(1)).as_secs_f64()
                * 1000.0;
        let max = max.max(0.1) * 1.1;
        let _ = writeln!(
            svg,
            "<text x=\"{x0}\" y=\"{}\" font-weight=\"bold\">warm invocation latency, {leg} (cumulative share)</text>",
            y0 - 15.0
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{panel_w}\" height=\"{panel_h}\" fill=\"none\" stroke=\"#888\"/>"
        );
        for tick in 0..=4 {
            let v = max * tick as f64 / 4.0;
            let x = x0 + panel_w * tick as f64 / 4.0;
            let _ =
                writeln!(svg, "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{v:.1} ms</text>", y0 + panel_h + 15.0);
        }
        for (i, (c, s)) in contenders.iter().zip(samples).enumerate() {
            let mut sorted: Vec<f64> = s.warm.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len().max(1) as f64;
            let points: Vec<String> = sorted
                .iter()
                .enumerate()
                .filter(|(_, v)| **v <= max)
                .map(|(k, v)| {
                    format!("{:.1},{:.1}", x0 + panel_w * v / max, y0 + panel_h - panel_h * (k as f64 + 1.0) / n)
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                colours[i % 4],
                points.join(" ")
            );
            let ly = y0 + panel_h + 35.0 + 18.0 * i as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{x0}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>",
                ly - 10.0,
                colours[i % 4]
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{ly}\">{} (median {})</text>",
                x0 + 18.0,
                c.name,
                ms(median(&s.warm))
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}
