//! `make bench-renditions`: sharp's published benchmark task (decode a 2725x2225 JPEG photo,
//! resize it to 720x588 with a Lanczos-class filter, encode it as JPEG quality 80), then the same
//! with WebP output, and WebP at the function's default size of 320 px, done by the function's
//! rendition code (`render-loop`, [`image_ingest::rendition::render`]), by sharp (npm, prebuilt
//! libvips, `bench/peer/renditions_sharp.js`) and by Pillow (PyPI, `draft` + `thumbnail`,
//! `bench/peer/renditions_pillow.py`).
//!
//! For each task every contender is a process of its own that reads the photos into memory and
//! renders one (warm-up, not timed), then is moved into a cgroup of its own whose CPU quota is
//! the share Lambda gives 1,769 MB, one vCPU ([`bench::cpu_share`]); the contenders then take
//! turns, round after round, each rendering every photo a few times and printing the time its
//! loop took. Images/s is images over the sum of those loop times; peak RSS is the process's
//! VmHWM after the last round. Without a cgroup the bench refuses to run rather than measure
//! unconfined.
//!
//! Settings (environment): BENCH_PHOTOS (the folder bench/setup-renditions.sh fills),
//! BENCH_SHARP_DIR (the node_modules holding sharp), BENCH_PILLOW_PYTHON (the venv's
//! interpreter), BENCH_NODE (`node`), BENCH_ROUNDS (5), BENCH_RENDITION_PASSES (passes over the
//! photos per round, 5), BENCH_RENDITION_PHOTOS (how many of the photos, all), BENCH_RENDITION_TASKS
//! (`jpeg:720,webp:720,webp:320`), BENCH_RENDITION_CONTENDERS (`image-ingest,sharp,pillow`),
//! BENCH_PROFILE (`release`; `debug` for the smoke run), BENCH_OUT (folder for
//! RESULTS-renditions.md; unset: print only).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use bench::cpu_share::{self, CpuShare, Hierarchy, Throttling};
use bench::processes::{Running, binaries};
use bench::{mib, peak_rss, uptime, utc_now, verdict};

/// The size of the photo in sharp's published benchmark, which the prepared photos have.
const PHOTO: (u32, u32) = (2725, 2225);
/// Lambda gives a function one vCPU's worth of CPU time at 1,769 MB; `bench-backfill`'s share.
const MB_PER_VCPU: f64 = 1769.0;
const MEMORY_MB: f64 = 1769.0;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Contender {
    Ours,
    Sharp,
    Pillow,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Ours => "image-ingest",
            Contender::Sharp => "sharp",
            Contender::Pillow => "pillow",
        }
    }

    fn parse(name: &str) -> Self {
        [Contender::Ours, Contender::Sharp, Contender::Pillow]
            .into_iter()
            .find(|c| c.name() == name.trim().to_ascii_lowercase())
            .unwrap_or_else(|| panic!("BENCH_RENDITION_CONTENDERS: {name:?} is not image-ingest, sharp or pillow"))
    }
}

/// One task: the output format and the longest edge.
#[derive(Clone, Copy)]
struct Task {
    format: &'static str,
    size: u32,
}

impl Task {
    fn parse(spec: &str) -> Self {
        let (format, size) = spec.trim().split_once(':').expect("BENCH_RENDITION_TASKS: format:size, comma-separated");
        let format = match format {
            "jpeg" => "jpeg",
            "webp" => "webp",
            other => panic!("BENCH_RENDITION_TASKS: {other:?} is not jpeg or webp"),
        };
        Self { format, size: size.parse().expect("BENCH_RENDITION_TASKS: the size is a number") }
    }

    fn label(self) -> String {
        let (w, h) = self.output();
        format!("{} {w}x{h}", if self.format == "jpeg" { "JPEG" } else { "WebP" })
    }

    /// The rendition's size: the photo's longer edge scaled to `size`, the other in proportion.
    fn output(self) -> (u32, u32) {
        let (w, h) = PHOTO;
        (self.size, (h as f64 * self.size as f64 / w as f64).round() as u32)
    }

    /// Whether `magic` (the first output bytes, in hex) starts the format asked for.
    fn magic_fits(self, magic: &str) -> bool {
        match self.format {
            "jpeg" => magic.starts_with("ffd8ff"),
            _ => magic.starts_with("52494646") && magic.get(16..24) == Some("57454250"),
        }
    }
}

/// What the harness needs to start each contender.
struct Programs {
    ours: PathBuf,
    node: String,
    sharp_dir: String,
    pillow: String,
    peer_dir: PathBuf,
}

/// One contender running one task, confined to its CPU share.
struct Worker {
    contender: Contender,
    pid: u32,
    /// Owns the process: dropping it ends the process, then removes the cgroup.
    share: CpuShare,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What it said it is on its `ready` line (versions).
    banner: String,
}

/// One round's loop, as the contender timed it.
struct Round {
    images: u64,
    elapsed: Duration,
    width: u32,
    height: u32,
    bytes: u64,
    magic: String,
}

/// One contender's task: every round, its peak RSS, its cgroup's counters; or why it did not answer.
struct Outcome {
    contender: Contender,
    result: Result<Measured, String>,
}

struct Measured {
    banner: String,
    rounds: Vec<Round>,
    rss: u64,
    hierarchy: Hierarchy,
    throttling: Throttling,
}

impl Measured {
    fn images(&self) -> u64 {
        self.rounds.iter().map(|r| r.images).sum()
    }

    fn rate(&self) -> f64 {
        self.images() as f64 / self.rounds.iter().map(|r| r.elapsed).sum::<Duration>().as_secs_f64()
    }

    fn round_rate(&self, i: usize) -> f64 {
        self.rounds[i].images as f64 / self.rounds[i].elapsed.as_secs_f64()
    }

    fn bytes_per_image(&self) -> f64 {
        self.rounds.iter().map(|r| r.bytes).sum::<u64>() as f64 / self.images() as f64
    }
}

fn main() {
    let rounds: usize = setting("BENCH_ROUNDS", "5").parse().expect("BENCH_ROUNDS is a number");
    let passes: usize = setting("BENCH_RENDITION_PASSES", "5").parse().expect("BENCH_RENDITION_PASSES is a number");
    let profile = setting("BENCH_PROFILE", "release");
    let tasks: Vec<Task> =
        setting("BENCH_RENDITION_TASKS", "jpeg:720,webp:720,webp:320").split(',').map(Task::parse).collect();
    let contenders: Vec<Contender> =
        setting("BENCH_RENDITION_CONTENDERS", "image-ingest,sharp,pillow").split(',').map(Contender::parse).collect();
    assert!(rounds > 0 && passes > 0 && !tasks.is_empty() && !contenders.is_empty(), "something to measure");

    let photo_dir =
        PathBuf::from(std::env::var("BENCH_PHOTOS").expect("BENCH_PHOTOS is set (bench/setup-renditions.sh)"));
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&photo_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", photo_dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    photos.sort();
    if let Ok(n) = std::env::var("BENCH_RENDITION_PHOTOS") {
        photos.truncate(n.parse().expect("BENCH_RENDITION_PHOTOS is a number"));
    }
    assert!(!photos.is_empty(), "{} holds the photos (bench/setup-renditions.sh)", photo_dir.display());
    let sources = std::fs::read_to_string(photo_dir.join("SOURCES.md")).unwrap_or_default();

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let programs = Programs {
        ours: binaries(&profile).join("render-loop"),
        node: setting("BENCH_NODE", "node"),
        sharp_dir: std::env::var("BENCH_SHARP_DIR").unwrap_or_default(),
        pillow: setting("BENCH_PILLOW_PYTHON", "python3"),
        peer_dir: root.join("bench/peer"),
    };
    if contenders.contains(&Contender::Ours) {
        assert!(programs.ours.is_file(), "{} is not built: run make bench-renditions", programs.ours.display());
    }
    // The contenders are measured on the CPU share or not at all.
    if let Err(why) = CpuShare::new(MEMORY_MB / MB_PER_VCPU) {
        eprintln!("bench-renditions: the contenders run only confined to Lambda's CPU share, and {why}");
        std::process::exit(2);
    }

    let load_before = uptime();
    println!(
        "renditions: {} photo(s) of {}x{}, {rounds} rounds of {passes} passes per contender and task, each \
         contender on Lambda's CPU share at {MEMORY_MB} MB, {profile} build",
        photos.len(),
        PHOTO.0,
        PHOTO.1
    );
    println!("load: {load_before}");
    let mut results = Vec::new();
    for &task in &tasks {
        results.push((task, run_task(&programs, task, &contenders, &photos, rounds, passes)));
    }
    let load_after = uptime();
    let node = Command::new(&programs.node)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let report = report(&results, photos.len(), rounds, passes, &profile, &node);
    println!("\n{report}");
    println!("load: {load_after}");
    if let Ok(out) = std::env::var("BENCH_OUT") {
        let path = PathBuf::from(out).join("RESULTS-renditions.md");
        std::fs::write(&path, results_page(&report, &sources, &load_before, &load_after)).unwrap();
        println!("written: {}", path.display());
    }
    let silent: Vec<String> = results
        .iter()
        .flat_map(|(task, outcomes)| {
            outcomes
                .iter()
                .filter(|o| o.result.is_err())
                .map(move |o| format!("{} on {}", o.contender.name(), task.label()))
        })
        .collect();
    if !silent.is_empty() {
        eprintln!("bench-renditions: not every contender answered: {}", silent.join(", "));
        std::process::exit(1);
    }
}

/// Every contender on one task, in interleaved rounds; the first of each round turns around.
fn run_task(
    programs: &Programs,
    task: Task,
    contenders: &[Contender],
    photos: &[PathBuf],
    rounds: usize,
    passes: usize,
) -> Vec<Outcome> {
    let mut workers: Vec<Result<Worker, String>> =
        contenders.iter().map(|&c| start(programs, c, task, photos)).collect();
    let mut measured: Vec<Vec<Round>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut line = format!("  {}, round {}/{rounds}:", task.label(), round + 1);
        for k in 0..workers.len() {
            let i = (round + k) % workers.len();
            let Ok(worker) = &mut workers[i] else { continue };
            match run_round(worker, passes, task) {
                Ok(r) => {
                    let _ =
                        write!(line, " {} {:.1}/s", worker.contender.name(), r.images as f64 / r.elapsed.as_secs_f64());
                    measured[i].push(r);
                }
                Err(why) => {
                    let _ = write!(line, " {} failed", worker.contender.name());
                    workers[i] = Err(why);
                }
            }
        }
        println!("{line}");
    }
    workers
        .into_iter()
        .zip(measured)
        .zip(contenders)
        .map(|((worker, rounds), &contender)| Outcome {
            contender,
            result: worker.map(|w| Measured {
                banner: w.banner.clone(),
                rounds,
                // Read while the process still runs: dropping the worker ends it.
                rss: peak_rss(w.pid).unwrap_or(0),
                hierarchy: w.share.hierarchy(),
                throttling: w.share.throttling(),
            }),
        })
        .collect()
}

/// Starts `contender` on `task`, waits for its `ready` (photos read, one rendered), then moves it
/// into a cgroup of its own at Lambda's CPU share.
fn start(programs: &Programs, contender: Contender, task: Task, photos: &[PathBuf]) -> Result<Worker, String> {
    let share = CpuShare::new(MEMORY_MB / MB_PER_VCPU)?;
    let mut command = match contender {
        Contender::Ours => Command::new(&programs.ours),
        Contender::Sharp => {
            let mut command = Command::new(&programs.node);
            command.arg(programs.peer_dir.join("renditions_sharp.js")).env("NODE_PATH", &programs.sharp_dir);
            command
        }
        Contender::Pillow => {
            let mut command = Command::new(&programs.pillow);
            command.arg(programs.peer_dir.join("renditions_pillow.py"));
            command
        }
    };
    let mut child = command
        .arg(task.format)
        .arg(task.size.to_string())
        .args(photos)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{} does not start: {e}", contender.name()))?;
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let pid = child.id();
    let mut process = Running(child);
    let mut banner = String::new();
    let _ = stdout.read_line(&mut banner);
    let Some(banner) = banner.trim().strip_prefix("ready").map(|b| b.trim().to_owned()) else {
        let status = process.0.wait().map(|s| s.to_string()).unwrap_or_default();
        return Err(format!("did not get ready (said {:?}, {status})", banner.trim()));
    };
    let mut share = share;
    share.confine(process)?;
    Ok(Worker { contender, pid, share, stdin, stdout, banner })
}

/// One round: every photo `passes` times, as the contender timed it; checks the output.
fn run_round(worker: &mut Worker, passes: usize, task: Task) -> Result<Round, String> {
    writeln!(worker.stdin, "{passes}")
        .and_then(|()| worker.stdin.flush())
        .map_err(|e| format!("stopped listening: {e}"))?;
    let mut line = String::new();
    worker.stdout.read_line(&mut line).map_err(|e| format!("stopped answering: {e}"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let ["done", images, nanos, width, height, bytes, magic] = fields[..] else {
        return Err(format!("answered {:?} instead of a round's times (it died, or its stderr says why)", line.trim()));
    };
    let number = |s: &str| s.parse::<u64>().map_err(|_| format!("answered {:?}", line.trim()));
    let round = Round {
        images: number(images)?,
        elapsed: Duration::from_nanos(number(nanos)?),
        width: number(width)? as u32,
        height: number(height)? as u32,
        bytes: number(bytes)?,
        magic: magic.to_owned(),
    };
    if (round.width, round.height) != task.output() {
        return Err(format!("made {}x{} for {}", round.width, round.height, task.label()));
    }
    if !task.magic_fits(&round.magic) {
        return Err(format!("made something that is not {} (starts {})", task.format, round.magic));
    }
    Ok(round)
}

fn report(
    results: &[(Task, Vec<Outcome>)],
    photos: usize,
    rounds: usize,
    passes: usize,
    profile: &str,
    node: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{photos} photo(s) of {}x{}, each contender rendering every photo {passes} times per round, {rounds} \
         interleaved rounds per task, one process per contender and task, each confined by a cgroup to \
         {MEMORY_MB} MB / {MB_PER_VCPU} MB = {:.2} of one CPU (quota {:.0} ms per {} ms), {profile} build.\n",
        PHOTO.0,
        PHOTO.1,
        MEMORY_MB / MB_PER_VCPU,
        MEMORY_MB / MB_PER_VCPU * cpu_share::PERIOD.as_secs_f64() * 1000.0,
        cpu_share::PERIOD.as_millis()
    );
    let mut versions: Vec<String> = Vec::new();
    for o in results.iter().flat_map(|(_, o)| o) {
        if let Ok(m) = &o.result {
            let v = match o.contender {
                Contender::Sharp => format!("{} on node {node}", m.banner),
                _ => m.banner.clone(),
            };
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    let _ = writeln!(out, "Contenders: {}.\n", versions.join("; "));

    let _ = writeln!(
        out,
        "| task | contender | images/s | per round | peak RSS | output per image | cgroup periods throttled |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (task, outcomes) in results {
        for o in outcomes {
            match &o.result {
                Ok(m) => {
                    let (low, high) = (0..m.rounds.len())
                        .map(|i| m.round_rate(i))
                        .fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(r), h.max(r)));
                    let t = m.throttling;
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.1} | {low:.1} to {high:.1} | {} | {:.1} KiB | {} of {} ({:.1} s stopped, cgroup {}) |",
                        task.label(),
                        o.contender.name(),
                        m.rate(),
                        mib(m.rss),
                        m.bytes_per_image() / 1024.0,
                        t.throttled,
                        t.periods,
                        t.throttled_for.as_secs_f64(),
                        match m.hierarchy {
                            Hierarchy::V1 => "v1",
                            Hierarchy::V2 => "v2",
                        }
                    );
                }
                Err(why) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | **did not answer**: {why} | | | | |",
                        task.label(),
                        o.contender.name()
                    );
                }
            }
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| task | images/s, image-ingest / sharp (per round) | at least 1.0x | images/s, image-ingest / Pillow \
         (per round) | at least 2x | peak RSS, image-ingest / sharp | no higher than sharp's |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut missed = Vec::new();
    let mut unmeasured = Vec::new();
    for (task, outcomes) in results {
        let find = |c: Contender| outcomes.iter().find(|o| o.contender == c).and_then(|o| o.result.as_ref().ok());
        let ours = find(Contender::Ours);
        let ratio = |peer: Option<&Measured>, target: f64, what: &str, missed: &mut Vec<String>| -> (String, String) {
            let (Some(ours), Some(peer)) = (ours, peer) else {
                return ("not measured".into(), "not measured".into());
            };
            let ratio = ours.rate() / peer.rate();
            let n = ours.rounds.len().min(peer.rounds.len());
            let (low, high) = (0..n)
                .map(|i| ours.round_rate(i) / peer.round_rate(i))
                .fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(r), h.max(r)));
            let met = ratio >= target;
            if !met {
                missed.push(format!("{} on {}: {ratio:.2}x, under {target}x", what, task.label()));
            }
            (format!("{ratio:.2}x ({low:.2} to {high:.2})"), verdict(met).into())
        };
        let (sharp, sharp_verdict) = ratio(find(Contender::Sharp), 1.0, "images/s against sharp", &mut missed);
        let (pillow, pillow_verdict) = ratio(find(Contender::Pillow), 2.0, "images/s against Pillow", &mut missed);
        let (rss, rss_verdict): (String, String) = match (ours, find(Contender::Sharp)) {
            (Some(ours), Some(sharp)) => {
                let met = ours.rss <= sharp.rss;
                let lower = if ours.rss < sharp.rss {
                    "image-ingest's is lower"
                } else if ours.rss > sharp.rss {
                    "sharp's is lower"
                } else {
                    "the same"
                };
                if !met {
                    missed.push(format!(
                        "peak RSS on {}: {} against sharp's {}",
                        task.label(),
                        mib(ours.rss),
                        mib(sharp.rss)
                    ));
                }
                (
                    format!(
                        "{:.2}x ({} vs {}; {lower})",
                        ours.rss as f64 / sharp.rss as f64,
                        mib(ours.rss),
                        mib(sharp.rss)
                    ),
                    verdict(met).into(),
                )
            }
            _ => ("not measured".into(), "not measured".into()),
        };
        if [&sharp, &pillow, &rss].iter().any(|s| *s == "not measured") {
            unmeasured.push(task.label());
        }
        let _ = writeln!(
            out,
            "| {} | {sharp} | {sharp_verdict} | {pillow} | {pillow_verdict} | {rss} | {rss_verdict} |",
            task.label()
        );
    }
    let _ = writeln!(out);
    let judged = verdict(true) == "met";
    let _ = if !judged {
        writeln!(out, "In plain words: a {profile} build proves the harness, not the targets; none is judged.")
    } else if !unmeasured.is_empty() {
        writeln!(
            out,
            "In plain words: **not every target was measured** ({}): a contender was left out \
             (BENCH_RENDITION_CONTENDERS) or did not answer (see the first table).",
            unmeasured.join(", ")
        )
    } else if missed.is_empty() {
        writeln!(
            out,
            "In plain words: every target is met on every task: image-ingest renders at least as many images per \
             second as sharp and at least twice as many as Pillow, with a peak RSS no higher than sharp's."
        )
    } else {
        writeln!(out, "In plain words: **targets missed**: {}. The others are met.", missed.join("; "))
    };
    let _ = writeln!(
        out,
        "\nImages/s: the images a contender rendered over the sum of its own loop times (each contender times its \
         loop over photos already in memory, outputs kept in memory; process start, reading the photos and one \
         warm-up render are not counted). A ratio is of the totals; in brackets, the lowest and highest ratio of \
         one round, in which the contenders ran one after another. Peak RSS: the process's VmHWM after its last \
         round (node's, Python's or render-loop's whole process, the photos in memory included). Periods \
         throttled: the cgroup's cpu.stat, the {} ms periods in which the contender used up its quota.",
        cpu_share::PERIOD.as_millis()
    );
    out
}

fn results_page(report: &str, sources: &str, load_before: &str, load_after: &str) -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let sources = sources.lines().skip_while(|l| l.starts_with('#') || l.is_empty()).collect::<Vec<_>>().join("\n");
    format!(
        "# `make bench-renditions` results\n\n\
         Written by `make bench-renditions` (`bench/src/bin/renditions.rs`); the method is in \
         [`docs/renditions-bench.md`](../docs/renditions-bench.md). Measured on {}, {cpus} CPUs, shared with \
         other work: ratios measured side by side in one run hold, absolute numbers are noise.\n\n\
         Load before: `{load_before}`\n\nLoad after: `{load_after}`\n\n{report}\n\
         ## The photos\n\n\
         Real photographs, public domain or CC0, from scikit-image's wheel on PyPI; none is as large as sharp's \
         2725x2225 benchmark photo, so each was scaled up to it (bench/setup-renditions.sh, \
         bench/peer/renditions_photos.py):\n\n{sources}\n",
        utc_now()
    )
}
