//! A fault-injecting HTTP proxy between the SDK and the in-process S3 server. Each request
//! takes the next fault from a schedule; an empty schedule forwards everything untouched.
//! Writes are forwarded one at a time: s3s-fs checks `If-None-Match` and then writes, so two
//! concurrent writes to one key could both pass, which S3 itself never lets happen.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Answer 503 SlowDown without forwarding.
    SlowDown,
    /// Answer 500 InternalError without forwarding.
    InternalError,
    /// Close the connection before forwarding: nothing reached S3.
    ResetBefore,
    /// Forward it, then close the connection instead of answering: S3 did the work.
    ResetAfter,
    /// Wait, then forward.
    Latency(u64),
    /// Answer 404 NoSuchBucket, as if the bucket had been deleted.
    NoSuchBucket,
    /// Park it until [`FaultProxy::release`], then forward it: a test acts in between.
    Hold,
    /// Answer 409 ConditionalRequestConflict without forwarding, as S3 does to a conditional
    /// write while another write to the key is in flight.
    Conflict,
}

/// Where a held request waits: `arrived` is signalled when one is parked, `release` lets it go.
#[derive(Default)]
struct Gate {
    arrived: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

/// Requests whose line contains `pattern` get `fault`, `times` more of them, ahead of the schedule.
struct Rule {
    pattern: String,
    fault: Fault,
    times: usize,
}

pub struct FaultProxy {
    pub endpoint: String,
    schedule: Arc<Mutex<VecDeque<Fault>>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// Multipart uploads S3 created whose CreateMultipartUpload answer the proxy dropped: the
    /// client never learned their ids, so only a lifecycle rule can clean them up.
    orphans: Arc<Mutex<Vec<String>>>,
    gate: Arc<Gate>,
    /// Every request, as `METHOD /path?query` (and `x-amz-target` for JSON APIs such as KMS).
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let schedule: Arc<Mutex<VecDeque<Fault>>> = Arc::default();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let matching = rules.clone();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let (queue, upstream) = (schedule.clone(), upstream.to_owned());
        let writes = Arc::new(tokio::sync::Mutex::new(()));
        let orphans: Arc<Mutex<Vec<String>>> = Arc::default();
        let lost = orphans.clone();
        let gate: Arc<Gate> = Arc::default();
        let held = gate.clone();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                socket.set_nodelay(true).unwrap();
                let (queue, client, upstream, writes, lost, held) =
                    (queue.clone(), client.clone(), upstream.clone(), writes.clone(), lost.clone(), held.clone());
                let (seen, matching) = (seen.clone(), matching.clone());
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    let line = format!("{} {path} {target}", req.method()).trim_end().to_owned();
                    let ruled =
                        matching.lock().unwrap().iter_mut().find(|r| r.times > 0 && line.contains(&r.pattern)).map(
                            |r| {
                                r.times -= 1;
                                r.fault
                            },
                        );
                    seen.lock().unwrap().push(line);
                    let fault = ruled.unwrap_or_else(|| queue.lock().unwrap().pop_front().unwrap_or(Fault::Pass));
                    let (client, upstream, writes, lost, held) =
                        (client.clone(), upstream.clone(), writes.clone(), lost.clone(), held.clone());
                    async move {
                        if fault == Fault::Hold {
                            held.arrived.notify_one();
                            held.release.notified().await;
                        }
                        let _one_at_a_time =
                            if req.method() == hyper::Method::GET || req.method() == hyper::Method::HEAD {
                                None
                            } else {
                                Some(writes.lock_owned().await)
                            };
                        handle(req, fault, client, upstream, lost).await
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { endpoint, schedule, rules, orphans, gate, log, task }
    }

    /// Every request so far, as `METHOD /path?query [x-amz-target]`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Ids of uploads whose creation answer was dropped.
    pub fn orphaned_uploads(&self) -> Vec<String> {
        self.orphans.lock().unwrap().clone()
    }

    /// Waits until a request scheduled as [`Fault::Hold`] is parked.
    pub async fn held(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.gate.arrived.notified())
            .await
            .expect("a request reached the proxy's Hold within 30 s");
    }

    /// Lets the parked request go on to S3.
    pub fn release(&self) {
        self.gate.release.notify_one();
    }

    /// Gives the next `times` requests whose `METHOD /path?query` contains `pattern` this
    /// `fault`, whatever the schedule says (which they do not use up).
    pub fn fail_matching(&self, pattern: &str, fault: Fault, times: usize) {
        self.rules.lock().unwrap().push(Rule { pattern: pattern.to_owned(), fault, times });
    }

    /// Replaces the schedule.
    pub fn schedule(&self, faults: &[Fault]) {
        *self.schedule.lock().unwrap() = faults.iter().copied().collect();
    }
}

fn error(status: u16, code: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    fault: Fault,
    client: reqwest::Client,
    upstream: String,
    orphans: Arc<Mutex<Vec<String>>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let reset = || Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset"));
    match fault {
        Fault::SlowDown => return Ok(error(503, "SlowDown")),
        Fault::InternalError => return Ok(error(500, "InternalError")),
        Fault::NoSuchBucket => return Ok(error(404, "NoSuchBucket")),
        Fault::Conflict => return Ok(error(409, "ConditionalRequestConflict")),
        Fault::ResetBefore => return reset(),
        Fault::Latency(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Fault::Pass | Fault::ResetAfter | Fault::Hold => {}
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
    let url = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut forward = client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let answer = forward.send().await.map_err(std::io::Error::other)?;
    if fault == Fault::ResetAfter {
        let body = answer.text().await.unwrap_or_default();
        if let Some(id) = body.split("<UploadId>").nth(1).and_then(|rest| rest.split("</UploadId>").next()) {
            orphans.lock().unwrap().push(id.to_owned());
        }
        return reset();
    }
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.map_err(std::io::Error::other)?;
    Ok(response.body(Full::new(bytes)).unwrap())
}
