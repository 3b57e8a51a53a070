//! A share of one CPU enforced on a process by a cgroup's CFS quota, the way a Lambda function
//! gets memory / 1,769 MB of one vCPU: so the benchmarks can measure under that share instead
//! of modelling it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::processes::Running;

/// The CFS period: the quota is `share` x this, refilled every period.
pub const PERIOD: Duration = Duration::from_millis(100);

/// Which cgroup interface holds the cpu controller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hierarchy {
    /// cgroup2: `cpu.max` = "quota period".
    V2,
    /// cgroup v1: `cpu.cfs_quota_us` and `cpu.cfs_period_us`.
    V1,
}

/// What the cgroup's `cpu.stat` says: evidence that the quota bit, not just that it was set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Throttling {
    /// Periods in which the cgroup had something to run.
    pub periods: u64,
    /// Of those, the periods in which it used up its quota and was stopped until the next.
    pub throttled: u64,
    /// Time its threads spent stopped that way.
    pub throttled_for: Duration,
}

/// A uniquely named cgroup holding one process at `share` of one CPU. Dropping it ends the
/// process (kill, wait) and then removes the cgroup, which the kernel refuses while any task is
/// still in it.
pub struct CpuShare {
    dir: PathBuf,
    hierarchy: Hierarchy,
    share: f64,
    process: Option<Running>,
}

impl CpuShare {
    /// Creates the cgroup with a quota of `share` (0 < share <= number of CPUs) x [`PERIOD`].
    /// Prefers cgroup2 when its cpu controller is enabled for child groups, else the v1 cpu
    /// controller. The error says why neither could be used (not mounted, not root, refused).
    pub fn new(share: f64) -> Result<Self, String> {
        assert!(share > 0.0, "a CPU share is positive");
        let (hierarchy, root) = cpu_controller()?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("bench-cpu-share-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = root.join(name);
        std::fs::create_dir(&dir).map_err(|e| {
            let hint =
                if e.kind() == std::io::ErrorKind::PermissionDenied { " (creating cgroups needs root)" } else { "" };
            format!("cannot create the cgroup {}: {e}{hint}", dir.display())
        })?;
        // From here on, dropping `created` removes the directory again if a write fails.
        let created = Self { dir, hierarchy, share, process: None };
        let period = PERIOD.as_micros() as u64;
        // The kernel's smallest quota is 1 ms.
        let quota = ((share * period as f64).round() as u64).max(1000);
        match hierarchy {
            Hierarchy::V2 => created.write("cpu.max", &format!("{quota} {period}"))?,
            Hierarchy::V1 => {
                // The period first: the kernel checks the quota against the period in force.
                created.write("cpu.cfs_period_us", &period.to_string())?;
                created.write("cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        Ok(created)
    }

    /// Moves `process` into the cgroup, all its threads (`cgroup.procs` moves a thread group;
    /// threads and processes it starts later are born in the cgroup), and checks every thread
    /// arrived. The share owns the process from now on, also when this fails.
    pub fn confine(&mut self, process: Running) -> Result<(), String> {
        let pid = process.0.id();
        self.process = Some(process);
        self.write("cgroup.procs", &pid.to_string())?;
        let inside = self.dir.file_name().unwrap().to_string_lossy().into_owned();
        let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("process {pid}: {e}"))?;
        for thread in threads.flatten() {
            let cgroups = std::fs::read_to_string(thread.path().join("cgroup")).unwrap_or_default();
            let moved = cgroups.lines().any(|line| {
                let mut fields = line.splitn(3, ':');
                let (_, controllers, path) = (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
                let ours = match self.hierarchy {
                    Hierarchy::V2 => controllers.is_empty(),
                    Hierarchy::V1 => controllers.split(',').any(|c| c == "cpu"),
                };
                ours && path.rsplit('/').next() == Some(inside.as_str())
            });
            if !moved {
                return Err(format!(
                    "thread {:?} of process {pid} is not in {}",
                    thread.file_name(),
                    self.dir.display()
                ));
            }
        }
        Ok(())
    }

    /// The share of one CPU this cgroup allows.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// Which cgroup interface enforces it.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    /// The cgroup's throttling counters so far.
    pub fn throttling(&self) -> Throttling {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let field = |name: &str| {
            stat.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok()).unwrap_or(0)
        };
        Throttling {
            periods: field("nr_periods"),
            throttled: field("nr_throttled"),
            throttled_for: match self.hierarchy {
                Hierarchy::V2 => Duration::from_micros(field("throttled_usec")),
                Hierarchy::V1 => Duration::from_nanos(field("throttled_time")),
            },
        }
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        use std::io::Write as _;
        let path = self.dir.join(file);
        // Never create the file: a missing one means this is no cgroup, whatever is mounted here.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|e| format!("cannot write {value:?} to {}: {e}", path.display()))
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        // Kill and reap first: rmdir fails with EBUSY while a task is in the cgroup.
        drop(self.process.take());
        // The kernel can take a moment to let go of an exited task.
        for _ in 0..50 {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        eprintln!("warning: could not remove the cgroup {}", self.dir.display());
    }
}

/// The cgroup directory to create CPU shares under, from `/proc/self/mounts`.
fn cpu_controller() -> Result<(Hierarchy, PathBuf), String> {
    let mounts =
        std::fs::read_to_string("/proc/self/mounts").map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
    let mut v1 = None;
    let mut v2_why = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, at, kind, options, ..] = fields[..] else { continue };
        let at = Path::new(at);
        match kind {
            "cgroup2" => {
                // Usable only when the root hands the cpu controller to its children; enabling
                // it would change the machine's set-up, which a benchmark must not do.
                let enabled = std::fs::read_to_string(at.join("cgroup.subtree_control")).unwrap_or_default();
                if enabled.split_whitespace().any(|c| c == "cpu") {
                    return Ok((Hierarchy::V2, at.to_path_buf()));
                }
                v2_why = Some(format!("cgroup2 at {} does not enable the cpu controller", at.display()));
            }
            "cgroup" if options.split(',').any(|o| o == "cpu") => v1 = Some(at.to_path_buf()),
            _ => {}
        }
    }
    v1.map(|at| (Hierarchy::V1, at)).ok_or_else(|| match v2_why {
        Some(why) => format!("{why}, and no cgroup v1 cpu controller is mounted"),
        None => "no cgroup cpu controller is mounted (neither cgroup2 nor v1)".into(),
    })
}
