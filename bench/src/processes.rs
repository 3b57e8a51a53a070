//! Child processes the benchmarks start: the local S3 server, stunnel, and contenders.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::runtime_api::RuntimeApi;

use crate::s3::S3Server;

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The local S3 dev server (`tools/local-s3`, s3s-fs) on a fresh tmpfs folder.
pub struct LocalS3 {
    pub port: u16,
    pub root: tempfile::TempDir,
    _process: Running,
}

impl LocalS3 {
    pub fn start(binary: &Path, bucket: &str) -> Self {
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        let port = free_port();
        let process = Command::new(binary)
            .args(["--root", &root.path().to_string_lossy(), "--port", &port.to_string(), "--bucket", bucket])
            .args(["--access-key", crate::s3::ACCESS_KEY, "--secret-key", crate::s3::SECRET_KEY])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs: {e}", binary.display()));
        wait_for_port(port, Duration::from_secs(10));
        Self { port, root, _process: Running(process) }
    }

    /// Deletes every stored object, to keep tmpfs small between rounds.
    pub fn clear(&self, bucket: &str) {
        crate::s3::empty_bucket(self.root.path(), bucket);
    }
}

/// stunnel terminating TLS on `port` in front of a plain-HTTP `target` port.
pub struct Tls {
    pub port: u16,
    _dir: tempfile::TempDir,
    _process: Running,
}

impl Tls {
    /// `tls_dir` holds `server.pem` (certificate and key) signed by a CA in the system trust store.
    pub fn start(tls_dir: &Path, target: u16) -> Option<Self> {
        let stunnel = ["stunnel4", "stunnel"].into_iter().find(|b| Command::new(b).arg("-version").output().is_ok())?;
        let pem = tls_dir.join("server.pem");
        if !pem.is_file() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("stunnel.conf");
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = 3\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n\
                 [s3]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{target}\ncert = {}\n",
                pem.display()
            ),
        )
        .unwrap();
        let process = Command::new(stunnel).arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
        wait_for_port(port, Duration::from_secs(10));
        Some(Self { port, _dir: dir, _process: Running(process) })
    }
}

/// The folder with the release (or, for smoke runs, debug) binaries of this workspace.
pub fn binaries(profile: &str) -> PathBuf {
    crate::target_dir().join(profile)
}

/// This workspace's image-ingest binary of `profile` as Lambda runs a 128 MB function, against
/// `api` and the S3 server `s3`, logging warnings only. Callers add its settings.
pub fn image_ingest(profile: &str, api: &RuntimeApi, s3: &S3Server) -> Command {
    let mut command = testkit::function::command(binaries(profile).join("image-ingest"), api);
    command.envs(s3.env()).env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128").env("AWS_LAMBDA_LOG_LEVEL", "WARN");
    command
}
