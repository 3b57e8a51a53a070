//! `make bench-backfill`: a backfill of distinct 64 KiB PNGs from a local origin that answers
//! each request after 50 ms, sent as a Step Functions Distributed Map sends it (batches of 100
//! items with `BatchInput.run_started_at`), through the function's release binary and through a
//! Python handler written the way teams do today (asyncio + aiohttp, boto3 in a thread pool,
//! `bench/peer/backfill.py`, under awslambdaric). Each is one instance, driven through a Runtime
//! API of its own, processing batches one after another, at the same concurrency, into the same
//! S3 (s3s-fs in this process, on tmpfs) from the same origin, in alternating rounds.
//!
//! Reports images per second per instance, peak RSS, CPU time per image, the Lambda memory size
//! each needs and the cost per million images at Lambda's arm64 price, with the two targets:
//! throughput at least 1.5x the Python reference's, cost per million at most a third of it.
//!
//! Settings (environment): BENCH_BACKFILL_URLS (10000 images per contender and concurrency),
//! BENCH_BACKFILL_BATCH (100 items per batch), BENCH_BACKFILL_CONCURRENCY (`10,50`: the
//! concurrencies compared, each with fresh processes), BENCH_ROUNDS (5), BENCH_PROFILE
//! (`release`; `debug` for the smoke run), BENCH_PYTHON (the venv's interpreter, from
//! bench/setup.sh), BENCH_OUT (folder for RESULTS-backfill.md; unset: print only),
//! BENCH_VERBOSE (show the contenders' output).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench::origin::{ImageOrigin, png_image};
use bench::processes::{Running, binaries};
use bench::runtime_api::{Answer, RuntimeApi};
use bench::s3::S3Server;
use bench::{mib, peak_rss, verdict};
use bytes::Bytes;
use serde_json::{Value, json};

const BUCKET: &str = "bench";
const IMAGE_BYTES: usize = 64 * 1024;
const ORIGIN_DELAY: Duration = Duration::from_millis(50);

/// AWS Lambda, arm64, us-east-1: the published list price per GB-second (first duration tier)
/// and per request, used as of [`PRICE_DATE`]. This machine reaches no AWS site, so the pricing
/// page itself was not re-read that day; secondary sources quoting it agree.
const ARM64_GB_SECOND: f64 = 0.000_013_333_4;
const PRICE_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
const PRICE_DATE: &str = "2026-11-27";
/// Lambda gives a function one vCPU's worth of CPU time at 1,769 MB, in proportion below it.
const MB_PER_VCPU: f64 = 1769.0;
/// Peak RSS plus this share, rounded up to a multiple of [`MEMORY_STEP_MB`], at least 128 MB.
const HEADROOM: f64 = 0.25;
const MEMORY_STEP_MB: u64 = 64;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Function,
    Python,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Function => "image-ingest",
            Kind::Python => "python (aiohttp + boto3)",
        }
    }

    /// Each contender keys its items at a time of its own, so their keys never meet.
    fn run_started_at(self) -> &'static str {
        match self {
            Kind::Function => "2026-11-27T08:00:00.000Z",
            Kind::Python => "2026-11-27T09:00:00.000Z",
        }
    }
}

/// One running instance of a contender and what it measured.
struct Instance {
    kind: Kind,
    process: Running,
    api: RuntimeApi,
    cold_start: Duration,
    images: u64,
    busy: Duration,
    round_rates: Vec<f64>,
    peak_in_flight: u64,
    cpu_start: f64,
    cpu: f64,
    rss: u64,
}

/// What the report needs of one contender at one concurrency.
struct Outcome {
    kind: Kind,
    concurrency: usize,
    images: u64,
    busy: Duration,
    round_rates: Vec<f64>,
    cold_start: Duration,
    peak_in_flight: u64,
    cpu: f64,
    rss: u64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.images as f64 / self.busy.as_secs_f64()
    }

    fn cpu_per_image(&self) -> f64 {
        self.cpu / self.images as f64
    }

    /// The Lambda memory size for this peak RSS, in MB (Lambda's MB are MiB).
    fn memory_mb(&self) -> u64 {
        let wanted = (self.rss as f64 / (1024.0 * 1024.0)) * (1.0 + HEADROOM);
        ((wanted / MEMORY_STEP_MB as f64).ceil() as u64 * MEMORY_STEP_MB).max(128)
    }

    /// Images per second on Lambda at [`Self::memory_mb`] when the CPU share caps it: at most
    /// the rate measured here, at most the share's CPU seconds over the CPU time per image.
    fn lambda_rate(&self) -> f64 {
        let share = self.memory_mb() as f64 / MB_PER_VCPU;
        self.rate().min(share / self.cpu_per_image())
    }
}

/// Dollars per million images for one instance at `rate` images per second.
fn cost_per_million(rate: f64, memory_mb: u64, batch: usize) -> f64 {
    let seconds = 1_000_000.0 / rate;
    seconds * (memory_mb as f64 / 1024.0) * ARM64_GB_SECOND + (1_000_000.0 / batch as f64) * PRICE_PER_REQUEST
}

#[tokio::main]
async fn main() {
    let urls: u64 = setting("BENCH_BACKFILL_URLS", "10000").parse().expect("BENCH_BACKFILL_URLS is a number");
    let batch: usize = setting("BENCH_BACKFILL_BATCH", "100").parse().expect("BENCH_BACKFILL_BATCH is a number");
    let rounds: u64 = setting("BENCH_ROUNDS", "5").parse().expect("BENCH_ROUNDS is a number");
    let concurrencies: Vec<usize> = setting("BENCH_BACKFILL_CONCURRENCY", "10,50")
        .split(',')
        .map(|c| c.trim().parse().expect("BENCH_BACKFILL_CONCURRENCY is a list of numbers"))
        .collect();
    let profile = setting("BENCH_PROFILE", "release");
    let python = setting("BENCH_PYTHON", "python3");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let function = binaries(&profile).join("image-ingest");
    assert!(function.is_file(), "{} is not built: run make bench-backfill", function.display());
    assert!(urls >= rounds && rounds > 0 && batch > 0, "at least one URL per round");
    check_png();

    let load_before = uptime();
    let s3 = S3Server::start(&[BUCKET]).await;
    let origin = ImageOrigin::start(ORIGIN_DELAY, IMAGE_BYTES).await;
    println!(
        "backfill: {urls} distinct {} KiB PNGs per contender and concurrency, origin latency {} ms, \
         batches of {batch}, {rounds} alternating rounds, concurrency {concurrencies:?}, {profile} build",
        IMAGE_BYTES / 1024,
        ORIGIN_DELAY.as_millis()
    );
    println!("load: {load_before}");

    let mut outcomes = Vec::new();
    for &concurrency in &concurrencies {
        let mut instances = Vec::new();
        for kind in [Kind::Function, Kind::Python] {
            instances.push(start(kind, concurrency, &function, &python, &root, &s3, &origin).await);
        }
        let per_round = urls.div_ceil(rounds);
        for round in 0..rounds {
            let range = (round * per_round)..((round + 1) * per_round).min(urls);
            // Alternate who goes first, so that a drift in the machine's load favours neither.
            let order: Vec<usize> = if round % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
            let mut line = format!("  concurrency {concurrency}, round {}/{rounds}:", round + 1);
            for i in order {
                let instance = &mut instances[i];
                let (count, elapsed) = run_round(instance, &s3, &origin, range.clone(), batch).await;
                instance.images += count;
                instance.busy += elapsed;
                let rate = count as f64 / elapsed.as_secs_f64();
                instance.round_rates.push(rate);
                let _ = write!(line, " {} {rate:.0}/s", instance.kind.name());
                s3.empty(BUCKET);
            }
            println!("{line}");
        }
        for mut instance in instances {
            instance.rss = peak_rss(instance.process.0.id()).unwrap_or(0);
            instance.cpu = cpu_seconds(instance.process.0.id()) - instance.cpu_start;
            outcomes.push(Outcome {
                kind: instance.kind,
                concurrency,
                images: instance.images,
                busy: instance.busy,
                round_rates: instance.round_rates,
                cold_start: instance.cold_start,
                peak_in_flight: instance.peak_in_flight,
                cpu: instance.cpu,
                rss: instance.rss,
            });
        }
    }
    let load_after = uptime();

    let report = report(&outcomes, urls, batch, rounds, &profile);
    println!("\n{report}");
    println!("load: {load_after}");
    if let Ok(out) = std::env::var("BENCH_OUT") {
        let path = PathBuf::from(out).join("RESULTS-backfill.md");
        std::fs::write(&path, results_page(&report, &load_before, &load_after)).unwrap();
        println!("written: {}", path.display());
    }
}

/// The origin's images are real PNGs: the png crate decodes one, CRCs checked.
fn check_png() {
    let bytes = png_image(7, IMAGE_BYTES);
    assert_eq!(bytes.len(), IMAGE_BYTES);
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("the origin's PNG has a header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("the PNG's size fits")];
    let frame = reader.next_frame(&mut pixels).expect("the origin's PNG decodes");
    assert_eq!((frame.width, frame.height), (32, 32));
    assert_ne!(png_image(8, IMAGE_BYTES), png_image(7, IMAGE_BYTES), "every image is different");
}

/// Starts one instance and answers its cold start with a batch of one image (not counted).
async fn start(
    kind: Kind,
    concurrency: usize,
    function: &Path,
    python: &str,
    root: &Path,
    s3: &S3Server,
    origin: &ImageOrigin,
) -> Instance {
    let api = RuntimeApi::start().await;
    let mut command = match kind {
        Kind::Function => Command::new(function),
        Kind::Python => {
            let mut command = Command::new(python);
            let dir = root.join("bench/peer");
            command.args(["-m", "awslambdaric", "backfill.handler"]).current_dir(&dir).env("PYTHONPATH", &dir);
            command
        }
    };
    let verbose = std::env::var("BENCH_VERBOSE").is_ok();
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(s3.env())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .env("BUCKET_NAME", BUCKET)
        .env("BATCH_CONCURRENCY", concurrency.to_string())
        // The origin is one host: the per-host bound must not be the tighter one.
        .env("FETCH_MAX_PER_HOST", concurrency.to_string())
        .env("FETCH_ALLOW_PRIVATE", "loopback") // the origin is on loopback; nothing private opens
        .stdout(if verbose { Stdio::inherit() } else { Stdio::null() })
        .stderr(if verbose { Stdio::inherit() } else { Stdio::null() });
    let started = Instant::now();
    let process = Running(command.spawn().unwrap_or_else(|e| panic!("{} starts: {e}", kind.name())));
    let mut instance = Instance {
        kind,
        process,
        api,
        cold_start: Duration::ZERO,
        images: 0,
        busy: Duration::ZERO,
        round_rates: Vec::new(),
        peak_in_flight: 0,
        cpu_start: 0.0,
        cpu: 0.0,
        rss: 0,
    };
    instance.api.push(event(kind, origin, u64::MAX - 1..u64::MAX));
    let answer = tokio::time::timeout(Duration::from_secs(60), instance.api.answer())
        .await
        .unwrap_or_else(|_| panic!("{} answered its first batch within 60 s (BENCH_VERBOSE=1 shows why)", kind.name()));
    instance.cold_start = started.elapsed();
    check(kind, &answer, 1);
    origin.in_flight.reset();
    s3.empty(BUCKET);
    // The steady state only: the cold start's CPU time is not counted per image.
    instance.cpu_start = cpu_seconds(instance.process.0.id());
    instance
}

/// A batch of the images numbered `range`, as a Distributed Map's ItemBatcher sends it.
fn event(kind: Kind, origin: &ImageOrigin, range: std::ops::Range<u64>) -> Bytes {
    let items: Vec<Value> = range.map(|i| json!({"url": origin.url(i)})).collect();
    Bytes::from(json!({"Items": items, "BatchInput": {"run_started_at": kind.run_started_at()}}).to_string())
}

/// Sends the images numbered `range` in batches of `batch`, one after another; the images and
/// the time taken. Checks every answer and that one stored object holds the origin's bytes.
async fn run_round(
    instance: &mut Instance,
    s3: &S3Server,
    origin: &ImageOrigin,
    range: std::ops::Range<u64>,
    batch: usize,
) -> (u64, Duration) {
    let kind = instance.kind;
    let mut last_key = None;
    let started = Instant::now();
    let mut at = range.start;
    while at < range.end {
        let end = (at + batch as u64).min(range.end);
        instance.api.push(event(kind, origin, at..end));
        let answer = tokio::time::timeout(Duration::from_secs(600), instance.api.answer())
            .await
            .unwrap_or_else(|_| panic!("{} answered a batch within 600 s", kind.name()));
        let stored = check(kind, &answer, (end - at) as usize);
        last_key = Some((end - 1, stored));
        at = end;
    }
    let elapsed = started.elapsed();
    let (served, peak) = origin.in_flight.reset();
    assert_eq!(served, range.end - range.start, "{} fetched every image once", kind.name());
    instance.peak_in_flight = instance.peak_in_flight.max(peak);
    if let Some((index, key)) = last_key {
        let object = s3.client().get_object().bucket(BUCKET).key(&key).send().await.expect("the object is stored");
        let body = object.body.collect().await.unwrap().into_bytes();
        assert!(body[..] == png_image(index, IMAGE_BYTES)[..], "{} stored image {index} intact", kind.name());
    }
    (range.end - range.start, elapsed)
}

/// Checks that an answer stored all `count` items; the key of the last one.
fn check(kind: Kind, answer: &Answer, count: usize) -> String {
    let body = match answer {
        Answer::Response(body) => body,
        Answer::Error(body) => panic!("{} failed a batch: {}", kind.name(), String::from_utf8_lossy(body)),
    };
    let answer: Value = serde_json::from_slice(body).expect("the answer is JSON");
    let stored = answer["stored"].as_array().map(Vec::len).unwrap_or(0);
    let failed = answer["failed"].as_array().map(Vec::len).unwrap_or(0);
    assert!(stored == count && failed == 0, "{} stored all {count} items: {answer}", kind.name());
    answer["stored"][count - 1]["key"].as_str().expect("stored items have keys").to_owned()
}

/// User and system CPU time of a process so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn uptime() -> String {
    Command::new("uptime")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn report(outcomes: &[Outcome], urls: u64, batch: usize, rounds: u64, profile: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{urls} distinct {} KiB PNGs per contender and concurrency from an origin answering after {} ms, \
         batches of {batch} items, {rounds} alternating rounds, {profile} build.\n",
        IMAGE_BYTES / 1024,
        ORIGIN_DELAY.as_millis()
    );
    let _ = writeln!(
        out,
        "| contender | concurrency | images/s per instance | per round | peak RSS | Lambda memory | \
         CPU per image | cost per million images | on Lambda, CPU-capped: images/s | cost per million |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let (low, high) = o.round_rates.iter().fold((f64::MAX, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {low:.0} to {high:.0} | {} | {} MB | {:.2} ms | ${:.3} | {:.0} | ${:.3} |",
            o.kind.name(),
            o.concurrency,
            o.rate(),
            mib(o.rss),
            o.memory_mb(),
            o.cpu_per_image() * 1000.0,
            cost_per_million(o.rate(), o.memory_mb(), batch),
            o.lambda_rate(),
            cost_per_million(o.lambda_rate(), o.memory_mb(), batch),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "| concurrency | cold start (not counted) | most requests in flight at the origin |");
    let _ = writeln!(out, "|---|---|---|");
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} at {} | {:.0} ms | {} |",
            o.kind.name(),
            o.concurrency,
            o.cold_start.as_secs_f64() * 1000.0,
            o.peak_in_flight
        );
    }
    let _ = writeln!(out);
    for pair in outcomes.chunks(2) {
        let [ours, peer] = pair else { continue };
        assert!(ours.kind == Kind::Function && peer.kind == Kind::Python);
        let throughput = ours.rate() / peer.rate();
        let cost = cost_per_million(ours.rate(), ours.memory_mb(), batch)
            / cost_per_million(peer.rate(), peer.memory_mb(), batch);
        let lambda_throughput = ours.lambda_rate() / peer.lambda_rate();
        let lambda_cost = cost_per_million(ours.lambda_rate(), ours.memory_mb(), batch)
            / cost_per_million(peer.lambda_rate(), peer.memory_mb(), batch);
        let _ = writeln!(out, "Concurrency {}:\n", ours.concurrency);
        let _ = writeln!(out, "| target | measured here | on Lambda, CPU-capped |");
        let _ = writeln!(out, "|---|---|---|");
        let _ = writeln!(
            out,
            "| throughput at least 1.5x Python's | {throughput:.2}x: {} | {lambda_throughput:.2}x: {} |",
            verdict(throughput >= 1.5),
            verdict(lambda_throughput >= 1.5)
        );
        let _ = writeln!(
            out,
            "| cost per million at most 1/3 of Python's | {cost:.2}x: {} | {lambda_cost:.2}x: {} |",
            verdict(cost <= 1.0 / 3.0),
            verdict(lambda_cost <= 1.0 / 3.0)
        );
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "Prices: AWS Lambda arm64 in us-east-1, ${ARM64_GB_SECOND} per GB-second and ${:.2} per million \
         requests (first duration tier, no free tier): the published list price used as of {PRICE_DATE}, \
         not re-read on the AWS Lambda pricing page from this machine, which reaches no AWS site. Cost per million images = (10^6 / images per second) x memory \
         in GB x the GB-second price + (10^6 / {batch}) invocations x the request price.",
        PRICE_PER_REQUEST * 1_000_000.0
    );
    let _ = writeln!(
        out,
        "\nLambda memory = peak RSS plus {:.0}%, rounded up to a multiple of {MEMORY_STEP_MB} MB, at least 128 MB.",
        HEADROOM * 100.0
    );
    let _ = writeln!(
        out,
        "\nOn Lambda, CPU-capped: this machine gave each contender all the CPU it asked for; Lambda gives \
         memory / {MB_PER_VCPU} MB of one vCPU. That column is min(the rate measured here, that share / \
         the CPU time per image measured here)."
    );
    out
}

fn results_page(report: &str, load_before: &str, load_after: &str) -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "# `make bench-backfill` results\n\n\
         Written by `make bench-backfill` (`bench/src/bin/backfill.rs`); the method is in \
         [`docs/benchmarks.md`](../docs/benchmarks.md#make-bench-backfill-a-distributed-map-backfill). \
         Measured on {}, {cpus} CPUs, shared with other work: ratios measured side by side in one run \
         hold, absolute numbers are noise.\n\n\
         Load before: `{load_before}`\n\nLoad after: `{load_after}`\n\n{report}",
        date.trim()
    )
}
