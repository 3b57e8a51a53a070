//! Pieces every benchmark here shares: an S3 server on tmpfs, child processes, process memory
//! readings and summary statistics. The Lambda Runtime API, the origins and the PNGs are the
//! tests' own, from `testkit`. Every socket is on 127.0.0.1 and sets TCP_NODELAY (a missing one
//! costs 40 ms per request, see FIELD-NOTES).

pub mod cpu_share;
pub mod processes;
pub mod s3;

use std::time::Duration;

/// Peak resident set size (VmHWM) of a process, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The median of some durations.
pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

/// The nearest-rank percentile of some durations.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How a target fared. Debug builds (the smoke run) prove the harness, not the targets.
pub fn verdict(met: bool) -> &'static str {
    if std::env::var("BENCH_PROFILE").is_ok_and(|p| p != "release") {
        "not judged (debug build)"
    } else if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Mebibytes with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The folder cargo builds this workspace into, wherever `CARGO_TARGET_DIR` or `build.target-dir`
/// put it: the harness itself runs from `<target dir>/<profile>/`, so its own path says where.
pub fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the harness knows its own path");
    exe.parent().and_then(std::path::Path::parent).expect("the harness runs from <target dir>/<profile>/").to_path_buf()
}

/// What `uptime` prints (the load averages), for the results pages.
pub fn uptime() -> String {
    command_output("uptime", &[]).unwrap_or_else(|| "unknown".into())
}

/// The time now, as `2026-11-27 09:45 UTC`.
pub fn utc_now() -> String {
    command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default()
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program).args(args).output().ok()?;
    String::from_utf8(output.stdout).ok().map(|s| s.trim().to_owned())
}
