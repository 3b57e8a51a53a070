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
//! Each concurrency is measured twice: first with all the CPU this machine gives, then with
//! fresh instances each confined by a cgroup to the CPU share Lambda gives its memory size
//! (memory / 1,769 MB of one vCPU). The second decides the targets, which are about a function
//! instance on Lambda; when cgroups cannot be used, the report says so and judges nothing.
//!
//! Settings (environment): BENCH_BACKFILL_URLS (10000 images per contender and concurrency),
//! BENCH_BACKFILL_CAPPED_URLS (2000 more on Lambda's CPU share), BENCH_BACKFILL_BATCH (100
//! items per batch), BENCH_BACKFILL_CONCURRENCY (`10,50`: the concurrencies compared, each with
//! fresh processes), BENCH_ROUNDS (5), BENCH_PROFILE (`release`; `debug` for the smoke run),
//! BENCH_PYTHON (the venv's interpreter, from bench/setup.sh), BENCH_OUT (folder for
//! RESULTS-backfill.md; unset: print only), BENCH_VERBOSE (show the contenders' output).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench::cpu_share::{self, CpuShare, Hierarchy, Throttling};
use bench::processes::{Running, binaries};
use bench::s3::S3Server;
use bench::{mib, peak_rss, uptime, utc_now, verdict};
use bytes::Bytes;
use serde_json::{Value, json};
use testkit::origin::{Origin, Reply};
use testkit::runtime_api::{Answer, MAX_TIMEOUT, RuntimeApi};

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
    pid: u32,
    /// The process while it runs free; `None` once [`Self::confine`] handed it to `share`.
    process: Option<Running>,
    /// Holds the process once confined; dropping it ends the process, then removes the cgroup.
    share: Option<CpuShare>,
    api: RuntimeApi,
    cold_start: Duration,
    images: u64,
    busy: Duration,
    round_rates: Vec<f64>,
    peak_in_flight: u64,
    cpu_start: f64,
}

impl Instance {
    /// Moves the process into `share`'s cgroup; the share holds it from then on, also on error.
    fn confine(&mut self, mut share: CpuShare) -> Result<(), String> {
        let result = share.confine(self.process.take().expect("the process runs free until confined"));
        self.share = Some(share);
        result
    }

    /// What it measured so far, with its peak RSS and CPU time read now.
    fn outcome(&self, concurrency: usize) -> Outcome {
        Outcome {
            kind: self.kind,
            concurrency,
            images: self.images,
            busy: self.busy,
            round_rates: self.round_rates.clone(),
            cold_start: self.cold_start,
            peak_in_flight: self.peak_in_flight,
            cpu: cpu_seconds(self.pid) - self.cpu_start,
            rss: peak_rss(self.pid).unwrap_or(0),
        }
    }
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

    /// The lowest and highest round's rate.
    fn round_range(&self) -> (f64, f64) {
        self.round_rates.iter().fold((f64::MAX, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)))
    }
}

/// One contender measured on Lambda's CPU share: a fresh instance confined to the share of the
/// memory size its unconstrained run needs.
struct Capped {
    outcome: Outcome,
    /// From the unconstrained run's peak RSS: what the instance is priced at and its share is for.
    memory_mb: u64,
    share: f64,
    hierarchy: Hierarchy,
    throttling: Throttling,
}

impl Capped {
    /// Whether the peak RSS on the share still fits the memory size the share was set for.
    fn fits(&self) -> bool {
        self.outcome.rss <= self.memory_mb * 1024 * 1024
    }

    fn cost_per_million(&self, batch: usize) -> f64 {
        cost_per_million(self.outcome.rate(), self.memory_mb, batch)
    }
}

/// Both contenders at one concurrency (the function first): unconstrained, then on Lambda's CPU
/// share, or why that could not be measured.
struct Comparison {
    concurrency: usize,
    free: Vec<Outcome>,
    capped: Result<Vec<Capped>, String>,
}

/// Dollars per million images for one instance at `rate` images per second.
fn cost_per_million(rate: f64, memory_mb: u64, batch: usize) -> f64 {
    let seconds = 1_000_000.0 / rate;
    seconds * (memory_mb as f64 / 1024.0) * ARM64_GB_SECOND + (1_000_000.0 / batch as f64) * PRICE_PER_REQUEST
}

/// What every phase shares: the servers, the contenders' programs, the batches and rounds.
struct Bench {
    s3: S3Server,
    origin: Origin,
    function: PathBuf,
    python: String,
    root: PathBuf,
    batch: usize,
    rounds: u64,
}

#[tokio::main]
async fn main() {
    let urls: u64 = setting("BENCH_BACKFILL_URLS", "10000").parse().expect("BENCH_BACKFILL_URLS is a number");
    let capped_urls: u64 =
        setting("BENCH_BACKFILL_CAPPED_URLS", "2000").parse().expect("BENCH_BACKFILL_CAPPED_URLS is a number");
    let batch: usize = setting("BENCH_BACKFILL_BATCH", "100").parse().expect("BENCH_BACKFILL_BATCH is a number");
    let rounds: u64 = setting("BENCH_ROUNDS", "5").parse().expect("BENCH_ROUNDS is a number");
    let concurrencies: Vec<usize> = setting("BENCH_BACKFILL_CONCURRENCY", "10,50")
        .split(',')
        .map(|c| c.trim().parse().expect("BENCH_BACKFILL_CONCURRENCY is a list of numbers"))
        .collect();
    let profile = setting("BENCH_PROFILE", "release");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let function = binaries(&profile).join("image-ingest");
    assert!(function.is_file(), "{} is not built: run make bench-backfill", function.display());
    assert!(urls >= rounds && capped_urls >= rounds && rounds > 0 && batch > 0, "at least one URL per round");
    check_png();

    let load_before = uptime();
    let bench = Bench {
        s3: S3Server::start(&[BUCKET]).await,
        origin: image_origin().await,
        function,
        python: setting("BENCH_PYTHON", "python3"),
        root,
        batch,
        rounds,
    };
    println!(
        "backfill: {urls} distinct {} KiB PNGs per contender and concurrency, then {capped_urls} on Lambda's \
         CPU share, origin latency {} ms, batches of {batch}, {rounds} alternating rounds, concurrency \
         {concurrencies:?}, {profile} build",
        IMAGE_BYTES / 1024,
        ORIGIN_DELAY.as_millis()
    );
    println!("load: {load_before}");

    let mut comparisons = Vec::new();
    for &concurrency in &concurrencies {
        let free = bench.free_phase(concurrency, 0..urls).await;
        // Images the first phase did not fetch, so that every image stays distinct.
        let capped = bench.capped_phase(concurrency, &free, urls..urls + capped_urls).await;
        if let Err(why) = &capped {
            println!("  concurrency {concurrency}: the phase on Lambda's CPU share was NOT run: {why}");
        }
        comparisons.push(Comparison { concurrency, free, capped });
    }
    let load_after = uptime();

    let report = report(&comparisons, urls, capped_urls, batch, rounds, &profile);
    println!("\n{report}");
    println!("load: {load_after}");
    if let Ok(out) = std::env::var("BENCH_OUT") {
        let path = PathBuf::from(out).join("RESULTS-backfill.md");
        std::fs::write(&path, results_page(&report, &load_before, &load_after)).unwrap();
        println!("written: {}", path.display());
    }
}

impl Bench {
    /// Fresh instances of both contenders, with all the CPU this machine gives them, over `images`.
    async fn free_phase(&self, concurrency: usize, images: Range<u64>) -> Vec<Outcome> {
        let mut instances = Vec::new();
        for kind in [Kind::Function, Kind::Python] {
            instances.push(self.start(kind, concurrency).await);
        }
        self.run_rounds(&mut instances, concurrency, images, "").await;
        instances.iter().map(|i| i.outcome(concurrency)).collect()
    }

    /// Fresh instances of both contenders, each moved after its cold start into a cgroup of its
    /// own that allows the share of one CPU Lambda gives the memory size `free` says it needs,
    /// over `images`.
    async fn capped_phase(
        &self,
        concurrency: usize,
        free: &[Outcome],
        images: Range<u64>,
    ) -> Result<Vec<Capped>, String> {
        // Both cgroups first: when cgroups cannot be used, no process starts.
        let shares: Vec<CpuShare> =
            free.iter().map(|o| CpuShare::new(o.memory_mb() as f64 / MB_PER_VCPU)).collect::<Result<_, _>>()?;
        let mut instances = Vec::new();
        for (o, share) in free.iter().zip(shares) {
            let mut instance = self.start(o.kind, concurrency).await;
            instance.confine(share)?;
            instances.push(instance);
        }
        self.run_rounds(&mut instances, concurrency, images, " on Lambda's CPU share").await;
        // Read before the instances drop: dropping them removes their cgroups.
        Ok(instances
            .iter()
            .zip(free)
            .map(|(instance, o)| {
                let share = instance.share.as_ref().expect("confined");
                Capped {
                    outcome: instance.outcome(concurrency),
                    memory_mb: o.memory_mb(),
                    share: share.share(),
                    hierarchy: share.hierarchy(),
                    throttling: share.throttling(),
                }
            })
            .collect())
    }

    /// The images numbered `images` through every instance, in alternating rounds.
    async fn run_rounds(&self, instances: &mut [Instance], concurrency: usize, images: Range<u64>, phase: &str) {
        let rounds = self.rounds;
        let per_round = (images.end - images.start).div_ceil(rounds);
        for round in 0..rounds {
            let from = images.start + round * per_round;
            let range = from..(from + per_round).min(images.end);
            // Alternate who goes first, so that a drift in the machine's load favours neither.
            let order: Vec<usize> =
                if round % 2 == 0 { (0..instances.len()).collect() } else { (0..instances.len()).rev().collect() };
            let mut line = format!("  concurrency {concurrency}{phase}, round {}/{rounds}:", round + 1);
            for i in order {
                let instance = &mut instances[i];
                let (count, elapsed) = self.run_round(instance, range.clone()).await;
                instance.images += count;
                instance.busy += elapsed;
                let rate = count as f64 / elapsed.as_secs_f64();
                instance.round_rates.push(rate);
                let _ = write!(line, " {} {rate:.0}/s", instance.kind.name());
                self.s3.empty(BUCKET);
            }
            println!("{line}");
        }
    }

    /// Starts one instance and answers its cold start with a batch of one image (not counted).
    async fn start(&self, kind: Kind, concurrency: usize) -> Instance {
        let api = RuntimeApi::with_timeout(MAX_TIMEOUT).await;
        let mut command = match kind {
            Kind::Function => testkit::function::command(&self.function, &api),
            Kind::Python => {
                let mut command = testkit::function::command(&self.python, &api);
                let dir = self.root.join("bench/peer");
                command.args(["-m", "awslambdaric", "backfill.handler"]).current_dir(&dir).env("PYTHONPATH", &dir);
                command
            }
        };
        let verbose = std::env::var("BENCH_VERBOSE").is_ok();
        command
            .envs(self.s3.env())
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
            pid: process.0.id(),
            process: Some(process),
            share: None,
            api,
            cold_start: Duration::ZERO,
            images: 0,
            busy: Duration::ZERO,
            round_rates: Vec::new(),
            peak_in_flight: 0,
            cpu_start: 0.0,
        };
        instance.api.push(event(kind, &self.origin, u64::MAX - 1..u64::MAX));
        let answer = tokio::time::timeout(Duration::from_secs(60), instance.api.answer()).await.unwrap_or_else(|_| {
            panic!("{} answered its first batch within 60 s (BENCH_VERBOSE=1 shows why)", kind.name())
        });
        instance.cold_start = started.elapsed();
        check(kind, &answer, 1);
        self.origin.take_counts();
        self.s3.empty(BUCKET);
        // The steady state only: the cold start's CPU time is not counted per image.
        instance.cpu_start = cpu_seconds(instance.pid);
        instance
    }

    /// Sends the images numbered `range` in batches, one after another; the images and the
    /// time taken. Checks every answer and that one stored object holds the origin's bytes.
    async fn run_round(&self, instance: &mut Instance, range: Range<u64>) -> (u64, Duration) {
        let kind = instance.kind;
        let mut last_key = None;
        let started = Instant::now();
        let mut at = range.start;
        while at < range.end {
            let end = (at + self.batch as u64).min(range.end);
            instance.api.push(event(kind, &self.origin, at..end));
            let answer = tokio::time::timeout(Duration::from_secs(600), instance.api.answer())
                .await
                .unwrap_or_else(|_| panic!("{} answered a batch within 600 s", kind.name()));
            let stored = check(kind, &answer, (end - at) as usize);
            last_key = Some((end - 1, stored));
            at = end;
        }
        let elapsed = started.elapsed();
        let (served, peak) = self.origin.take_counts();
        assert_eq!(served as u64, range.end - range.start, "{} fetched every image once", kind.name());
        instance.peak_in_flight = instance.peak_in_flight.max(peak as u64);
        if let Some((index, key)) = last_key {
            let object =
                self.s3.client().get_object().bucket(BUCKET).key(&key).send().await.expect("the object is stored");
            let body = object.body.collect().await.unwrap().into_bytes();
            assert!(
                body[..] == testkit::png::numbered(index, IMAGE_BYTES)[..],
                "{} stored image {index} intact",
                kind.name()
            );
        }
        (range.end - range.start, elapsed)
    }
}

/// Serves image N ([`testkit::png::numbered`]) at `/img/N.png` after [`ORIGIN_DELAY`], and 404
/// elsewhere.
async fn image_origin() -> Origin {
    Origin::start(|path| {
        let index = path.strip_prefix("/img/").and_then(|p| p.strip_suffix(".png")).and_then(|i| i.parse().ok());
        match index {
            Some(index) => {
                Reply::Delayed(ORIGIN_DELAY, "image/png", Bytes::from(testkit::png::numbered(index, IMAGE_BYTES)))
            }
            None => Reply::Status(404),
        }
    })
    .await
}

/// The origin's images are real PNGs: the png crate decodes one, CRCs checked.
fn check_png() {
    let bytes = testkit::png::numbered(7, IMAGE_BYTES);
    assert_eq!(bytes.len(), IMAGE_BYTES);
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("the origin's PNG has a header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("the PNG's size fits")];
    let frame = reader.next_frame(&mut pixels).expect("the origin's PNG decodes");
    assert_eq!((frame.width, frame.height), (32, 32));
    assert_ne!(
        testkit::png::numbered(8, IMAGE_BYTES),
        testkit::png::numbered(7, IMAGE_BYTES),
        "every image is different"
    );
}

/// A batch of the images numbered `range`, as a Distributed Map's ItemBatcher sends it.
fn event(kind: Kind, origin: &Origin, range: Range<u64>) -> Bytes {
    let items: Vec<Value> = range.map(|i| json!({"url": origin.url(&format!("/img/{i}.png"))})).collect();
    Bytes::from(json!({"Items": items, "BatchInput": {"run_started_at": kind.run_started_at()}}).to_string())
}

/// Checks that an answer stored all `count` items; the key of the last one.
fn check(kind: Kind, answer: &Answer, count: usize) -> String {
    let body = match answer {
        Answer::Response(body) => body,
        Answer::Error(body) | Answer::InitError(body) => {
            panic!("{} failed a batch: {}", kind.name(), String::from_utf8_lossy(body))
        }
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

fn report(comparisons: &[Comparison], urls: u64, capped_urls: u64, batch: usize, rounds: u64, profile: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{urls} distinct {} KiB PNGs per contender and concurrency from an origin answering after {} ms, \
         then {capped_urls} more on Lambda's CPU share, batches of {batch} items, {rounds} alternating rounds \
         each, {profile} build.\n",
        IMAGE_BYTES / 1024,
        ORIGIN_DELAY.as_millis()
    );
    let _ = writeln!(
        out,
        "| contender | concurrency | images/s per instance | per round | peak RSS | Lambda memory | \
         CPU per image | cost per million images | on Lambda's CPU share, measured: images/s | cost per million |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for c in comparisons {
        for (i, o) in c.free.iter().enumerate() {
            let (low, high) = o.round_range();
            let capped = match &c.capped {
                Ok(capped) => {
                    format!("{:.0} | ${:.3}", capped[i].outcome.rate(), capped[i].cost_per_million(batch))
                }
                Err(_) => "not measured | not measured".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {low:.0} to {high:.0} | {} | {} MB | {:.2} ms | ${:.3} | {capped} |",
                o.kind.name(),
                o.concurrency,
                o.rate(),
                mib(o.rss),
                o.memory_mb(),
                o.cpu_per_image() * 1000.0,
                cost_per_million(o.rate(), o.memory_mb(), batch),
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "| concurrency | cold start (not counted) | most requests in flight at the origin |");
    let _ = writeln!(out, "|---|---|---|");
    for o in comparisons.iter().flat_map(|c| &c.free) {
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

    let _ = writeln!(out, "On Lambda's CPU share, measured:\n");
    let _ = writeln!(
        out,
        "| concurrency | CPU share (quota per {} ms) | images/s per round | CPU used while in batches | \
         CPU per image | peak RSS | periods throttled | most requests in flight |",
        cpu_share::PERIOD.as_millis()
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut not_run = Vec::new();
    for c in comparisons {
        let capped = match &c.capped {
            Ok(capped) => capped,
            Err(why) => {
                let _ = writeln!(out, "| concurrency {} | not run: {why} | | | | | | |", c.concurrency);
                not_run.push(c.concurrency);
                continue;
            }
        };
        for cap in capped {
            let o = &cap.outcome;
            let (low, high) = o.round_range();
            let t = cap.throttling;
            let _ = writeln!(
                out,
                "| {} at {} | {:.1}% of a CPU ({:.1} ms, cgroup {}) | {low:.0} to {high:.0} | {:.1}% of a CPU | \
                 {:.2} ms | {}, {} {} MB | {} of {} ({:.1} s stopped) | {} |",
                o.kind.name(),
                o.concurrency,
                cap.share * 100.0,
                cap.share * cpu_share::PERIOD.as_secs_f64() * 1000.0,
                match cap.hierarchy {
                    Hierarchy::V1 => "v1",
                    Hierarchy::V2 => "v2",
                },
                o.cpu / o.busy.as_secs_f64() * 100.0,
                o.cpu_per_image() * 1000.0,
                mib(o.rss),
                if cap.fits() { "fits" } else { "**EXCEEDS**" },
                cap.memory_mb,
                t.throttled,
                t.periods,
                t.throttled_for.as_secs_f64(),
                o.peak_in_flight,
            );
        }
    }
    let _ = writeln!(out);
    if !not_run.is_empty() {
        let _ = writeln!(
            out,
            "**The phase on Lambda's CPU share was not run** at concurrency {not_run:?} (reason in the table): \
             the verdicts there are \"not measured\".\n"
        );
    }
    for c in comparisons {
        for cap in c.capped.iter().flatten().filter(|cap| !cap.fits()) {
            let _ = writeln!(
                out,
                "**{} at {}: peak RSS on the CPU share, {}, exceeds the {} MB its share and price are for**: on \
                 Lambda that instance would run out of memory; it needs a larger size.\n",
                cap.outcome.kind.name(),
                c.concurrency,
                mib(cap.outcome.rss),
                cap.memory_mb
            );
        }
    }

    for c in comparisons {
        let [ours, peer] = &c.free[..] else { continue };
        assert!(ours.kind == Kind::Function && peer.kind == Kind::Python);
        let throughput = ours.rate() / peer.rate();
        let cost = cost_per_million(ours.rate(), ours.memory_mb(), batch)
            / cost_per_million(peer.rate(), peer.memory_mb(), batch);
        let (capped_throughput, capped_cost) = match &c.capped {
            Ok(capped) => {
                let [ours, peer] = &capped[..] else { unreachable!("two contenders") };
                let throughput = ours.outcome.rate() / peer.outcome.rate();
                let cost = ours.cost_per_million(batch) / peer.cost_per_million(batch);
                (
                    format!("{throughput:.2}x: {}", verdict(throughput >= 1.5)),
                    format!("{cost:.2}x: {}", verdict(cost <= 1.0 / 3.0)),
                )
            }
            Err(_) => ("not measured".into(), "not measured".into()),
        };
        let _ = writeln!(out, "Concurrency {}:\n", c.concurrency);
        let _ = writeln!(out, "| target | with all the CPU asked for | on Lambda's CPU share, measured: the verdict |");
        let _ = writeln!(out, "|---|---|---|");
        let _ = writeln!(
            out,
            "| throughput at least 1.5x Python's | {throughput:.2}x: {} | {capped_throughput} |",
            verdict(throughput >= 1.5)
        );
        let _ = writeln!(
            out,
            "| cost per million at most 1/3 of Python's | {cost:.2}x: {} | {capped_cost} |",
            verdict(cost <= 1.0 / 3.0)
        );
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "The verdict is the measurement on Lambda's CPU share: the targets are about one function instance on \
         Lambda, which gets memory / {MB_PER_VCPU} MB of one vCPU, not the whole machine the first column had."
    );
    let _ = writeln!(
        out,
        "\nPrices: AWS Lambda arm64 in us-east-1, ${ARM64_GB_SECOND} per GB-second and ${:.2} per million \
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
        "\nOn Lambda's CPU share, measured: after the rounds with all the CPU, fresh instances of both, each \
         moved after its cold start (not counted) into a cgroup of its own whose CPU quota is its Lambda memory \
         (from the first rounds' peak RSS) / {MB_PER_VCPU} MB of one CPU per {} ms period, ran {capped_urls} \
         more images in alternating rounds, priced at that memory. Periods throttled: the cgroup's cpu.stat, \
         the periods in which the instance used up its quota and was stopped until the next one.",
        cpu_share::PERIOD.as_millis()
    );
    out
}

fn results_page(report: &str, load_before: &str, load_after: &str) -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "# `make bench-backfill` results\n\n\
         Written by `make bench-backfill` (`bench/src/bin/backfill.rs`); the method is in \
         [`docs/benchmarks.md`](../docs/benchmarks.md#make-bench-backfill-a-distributed-map-backfill). \
         Measured on {}, {cpus} CPUs, shared with other work: ratios measured side by side in one run \
         hold, absolute numbers are noise.\n\n\
         Load before: `{load_before}`\n\nLoad after: `{load_after}`\n\n{report}",
        utc_now()
    )
}
