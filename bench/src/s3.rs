//! s3s-fs in the harness's process, on tmpfs where there is one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

pub const ACCESS_KEY: &str = "bench";
pub const SECRET_KEY: &str = "bench-secret";
pub const REGION: &str = "us-east-1";

/// A running S3 server; its folder goes when it is dropped.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    /// Every request it has answered, by method.
    pub requests: Requests,
    task: tokio::task::JoinHandle<()>,
}

/// Requests counted by HTTP method (`GET`, `HEAD`, ...), so a benchmark can say which kinds a
/// call sent: a counter bumped per request, nothing logged.
#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<BTreeMap<String, u64>>>);

impl Requests {
    fn record(&self, method: &hyper::Method) {
        *self.0.lock().unwrap().entry(method.as_str().to_owned()).or_default() += 1;
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    /// Serves a fresh folder (under /dev/shm when it exists) with `buckets` created.
    pub async fn start(buckets: &[&str]) -> Self {
        let shm = std::path::Path::new("/dev/shm");
        let root = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        for bucket in buckets {
            std::fs::create_dir(root.path().join(bucket)).unwrap();
        }
        let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let s3 = builder.build();
        let requests = Requests::default();
        let counts = requests.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            counts.record(request.method());
            hyper::service::Service::call(&s3, request)
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let locks = testkit::key_locks::KeyLocks::default();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let _ = socket.set_nodelay(true);
                let (service, locks) = (service.clone(), locks.clone());
                let serve = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (service, lock) = (service.clone(), locks.for_request(&request));
                    async move {
                        let _held = match lock {
                            Some(lock) => Some(lock.lock_owned().await),
                            None => None,
                        };
                        hyper::service::Service::call(&service, request).await
                    }
                });
                tokio::spawn(http.serve_connection(TokioIo::new(socket), serve).into_owned());
            }
        });
        Self { endpoint, root, requests, task }
    }

    /// The environment a function process needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        testkit::function::s3_env(&self.endpoint, REGION, ACCESS_KEY, SECRET_KEY)
    }

    /// A client for the harness's own requests.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "bench",
            )))
            .http_client(image_ingest::sdk::https_client())
            .build();
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }

    /// Removes everything stored in `bucket`, to keep tmpfs small between rounds.
    pub fn empty(&self, bucket: &str) {
        empty_bucket(self.root.path(), bucket);
    }
}

/// Removes every object s3s-fs stores in `bucket` under `root`, and the multipart uploads it
/// keeps as dot files at the root.
pub fn empty_bucket(root: &std::path::Path, bucket: &str) {
    let dir = root.join(bucket);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
