//! Test support: an s3s-fs server on 127.0.0.1, SDK config pointing at it, fixtures.
#![allow(dead_code)]

pub mod faults;
pub mod moto;
pub mod origin;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use testkit::{images, png, runtime_api};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use image_ingest::{App, Config};
use lambda_runtime::{Context, LambdaEvent};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::Value;
use tokio::net::TcpListener;

pub const ACCESS_KEY: &str = "image-ingest-test";
pub const SECRET_KEY: &str = "image-ingest-test-secret";
pub const REGION: &str = "eu-west-1";
pub const BUCKET: &str = "pics";
/// `FACTS_PREFIX`'s default: where the gallery's facts markers go.
pub const FACTS: &str = "facts/";

/// An s3s-fs server over real HTTP on a loopback port, serving a temporary folder.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    /// The headers of every CopyObject request the server received.
    pub copies: Arc<Mutex<Vec<http::HeaderMap>>>,
    /// The headers of every other PUT (PutObject, UploadPart) the server received, but for
    /// the gallery's facts markers (under `facts/`, which `tests/integration/gallery.rs` checks).
    pub puts: Arc<Mutex<Vec<http::HeaderMap>>>,
    /// Every request the server received, in order.
    pub requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    /// Starts the server with `bucket` created.
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (copies, objects) = (Arc::new(Mutex::new(Vec::new())), root.path().to_owned());
        let seen = copies.clone();
        let puts: Arc<Mutex<Vec<http::HeaderMap>>> = Arc::default();
        let put_seen = puts.clone();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let logged = requests.clone();
        let locks = testkit::key_locks::KeyLocks::default();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let (service, objects, seen) = (service.clone(), objects.clone(), seen.clone());
                let (put_seen, logged, locks) = (put_seen.clone(), logged.clone(), locks.clone());
                let conditional = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let marker = request.uri().path().starts_with(&format!("/{BUCKET}/{FACTS}"));
                    if request.method() == http::Method::PUT
                        && !request.headers().contains_key("x-amz-copy-source")
                        && !marker
                    {
                        put_seen.lock().unwrap().push(request.headers().clone());
                    }
                    logged.lock().unwrap().push(Request::of(&request));
                    let lock = locks.for_request(&request);
                    let (service, objects, seen) = (service.clone(), objects.clone(), seen.clone());
                    async move {
                        // Check and write in one step per key, as S3 decides conditional writes.
                        let _held = match lock {
                            Some(lock) => Some(lock.lock_owned().await),
                            None => None,
                        };
                        match refuse_copy_onto_existing(&request, &objects, &seen) {
                            Some(refusal) => Ok(refusal),
                            None => hyper::service::Service::call(&service, request).await,
                        }
                    }
                });
                tokio::spawn(http.serve_connection(TokioIo::new(socket), conditional).into_owned());
            }
        });
        Self { endpoint, root, copies, puts, requests, task }
    }

    /// How many requests the server has received so far.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The requests received after the first `from`, as `METHOD path?query` lines.
    pub fn requests_since(&self, from: usize) -> Vec<String> {
        self.requests.lock().unwrap()[from..].iter().map(|r| r.to_string()).collect()
    }

    /// Multipart uploads s3s-fs still holds (it keeps them as `.upload*` files at its root).
    pub fn open_uploads(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(".upload") || name.contains(".upload-"))
            .collect()
    }

    /// The function with a test fetcher: loopback-only guard, names from `lookup`, and
    /// `trusted` letting the origin's 127.0.0.1 past the policy.
    pub fn app_fetching(&self, vars: &[(&str, &str)], lookup: origin::TestLookup, trusted: bool) -> App {
        let config = config(vars);
        let fetcher = origin::fetcher(&config, lookup, trusted);
        App::with_fetcher(&config, &self.sdk(SECRET_KEY), std::sync::Arc::new(fetcher))
    }

    /// Objects stored in the bucket, as keys, sorted; the gallery's facts markers are left
    /// out (see [`S3Server::markers`]).
    pub fn keys(&self) -> Vec<String> {
        self.all_keys().into_iter().filter(|k| !k.starts_with(FACTS)).collect()
    }

    /// The gallery's facts markers, sorted.
    pub fn markers(&self) -> Vec<String> {
        self.all_keys().into_iter().filter(|k| k.starts_with(FACTS)).collect()
    }

    fn all_keys(&self) -> Vec<String> {
        let dir = self.root.path().join(BUCKET);
        let mut keys = Vec::new();
        walk(&dir, &dir, &mut keys);
        keys.sort();
        keys
    }

    /// SDK config for this server with the right (or wrong) secret.
    pub fn sdk(&self, secret: &str) -> SdkConfig {
        sdk_config(&self.endpoint, secret)
    }

    /// A plain S3 client for reading back what the function stored.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk(SECRET_KEY)).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The function wired to this server, with extra settings on top of the defaults. The
    /// address policy is on, with the test origins' 127.0.0.1 trusted; nothing else is reachable.
    pub fn app(&self, vars: &[(&str, &str)]) -> App {
        self.app_fetching(vars, origin::TestLookup(vec![]), true)
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: http::Method,
    /// Percent-decoded, `/bucket/key`.
    pub path: String,
    pub query: String,
}

impl Request {
    fn of<B>(request: &http::Request<B>) -> Self {
        let path = percent_encoding::percent_decode_str(request.uri().path()).decode_utf8_lossy().into_owned();
        Self { method: request.method().clone(), path, query: request.uri().query().unwrap_or_default().to_owned() }
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SDK's `x-id=PutObject` and the like say nothing a count needs.
        let query: Vec<&str> = self.query.split('&').filter(|q| !q.is_empty() && !q.starts_with("x-id=")).collect();
        match query.is_empty() {
            true => write!(f, "{} {}", self.method, self.path),
            false => write!(f, "{} {}?{}", self.method, self.path, query.join("&")),
        }
    }
}

/// s3s-fs 0.14 copies over an existing key whatever `If-None-Match` says, while S3 answers
/// 412: the conditional copy is enforced here, in front of it, as S3 does.
fn refuse_copy_onto_existing<B>(
    request: &http::Request<B>,
    objects: &Path,
    copies: &Mutex<Vec<http::HeaderMap>>,
) -> Option<http::Response<s3s::Body>> {
    let headers = request.headers();
    if request.method() != http::Method::PUT || !headers.contains_key("x-amz-copy-source") {
        return None;
    }
    copies.lock().unwrap().push(headers.clone());
    let path = percent_encoding::percent_decode_str(request.uri().path()).decode_utf8().ok()?;
    let exists = objects.join(path.trim_start_matches('/')).is_file();
    if !(exists && headers.get("if-none-match").is_some_and(|v| v == "*")) {
        return None;
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PreconditionFailed</Code>\
                <Message>At least one of the pre-conditions you specified did not hold</Message></Error>";
    let response = http::Response::builder().status(412).header("content-type", "application/xml");
    Some(response.body(s3s::Body::from(body.to_owned())).unwrap())
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(base, &path, out);
        } else {
            out.push(path.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

pub fn sdk_config(endpoint: &str, secret: &str) -> SdkConfig {
    sdk_config_as(endpoint, Credentials::new(ACCESS_KEY, secret, None, None, "tests"))
}

/// [`sdk_config`] with the tests' secret and a session token, when one is given.
pub fn sdk_config_with_token(endpoint: &str, token: Option<&str>) -> SdkConfig {
    sdk_config_as(endpoint, Credentials::new(ACCESS_KEY, SECRET_KEY, token.map(str::to_owned), None, "tests"))
}

fn sdk_config_as(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(image_ingest::sdk::https_client())
        .build()
}

/// The function with `vars` on top of the defaults, talking to the S3 (or proxy) at `endpoint`,
/// with the tests' loopback-only fetcher.
pub fn app_at(endpoint: &str, vars: &[(&str, &str)]) -> App {
    let config = config(vars);
    let fetcher = origin::fetcher(&config, origin::TestLookup(vec![]), true);
    App::with_fetcher(&config, &sdk_config(endpoint, SECRET_KEY), std::sync::Arc::new(fetcher))
}

/// Config with BUCKET_NAME=pics, path style, and `vars` on top.
pub fn config(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<&str, &str> = HashMap::from([("BUCKET_NAME", BUCKET), ("S3_FORCE_PATH_STYLE", "true")]);
    map.extend(vars.iter().copied());
    Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap()
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(name)
}

pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_path(name)).unwrap()).unwrap()
}

/// Invokes the function as the runtime would.
pub async fn invoke(app: &App, payload: Value) -> Result<Value, lambda_runtime::Diagnostic> {
    app.handle(LambdaEvent::new(payload, Context::default())).await
}

/// Invokes with a context whose deadline is `remaining` from now.
pub async fn invoke_with_deadline(
    app: &App,
    payload: Value,
    remaining: std::time::Duration,
) -> Result<Value, lambda_runtime::Diagnostic> {
    let mut context = Context::default();
    context.deadline = (chrono::Utc::now() + remaining).timestamp_millis() as u64;
    app.handle(LambdaEvent::new(payload, context)).await
}

/// The message ids an SQS response reports as failed, sorted.
pub fn failed_ids(response: &Value) -> Vec<String> {
    let mut ids: Vec<String> = response["batchItemFailures"]
        .as_array()
        .expect("an SQS batch response")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The items an answer reports as failed: (index, error code), in its order.
pub fn failed_items(answer: &Value) -> Vec<(u64, &str)> {
    answer["failed"]
        .as_array()
        .expect("an answer with failed items")
        .iter()
        .map(|f| (f["index"].as_u64().unwrap(), f["error"]["code"].as_str().unwrap()))
        .collect()
}

/// Invokes with an API Gateway event and returns (status, parsed body).
pub async fn invoke_api(app: &App, payload: Value) -> (u16, Value) {
    let response = invoke(app, payload).await.expect("API events always get a response");
    let status = response["statusCode"].as_u64().unwrap() as u16;
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (status, body)
}
