//! A Lambda Runtime API on 127.0.0.1 (`next`, `response`, `error`, `init/error`), for driving a
//! function process as Lambda drives it: it serves queued events and hands back the answers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// The invocation timeout `template.yaml` sets.
pub const TEMPLATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest invocation timeout Lambda allows.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The ARN every invocation names.
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:image-ingest";

/// What a function sent back for one invocation (or for its start-up), with the body as sent
/// or, after [`Answer::json`], parsed.
#[derive(Debug, Clone)]
pub enum Answer<B = Bytes> {
    /// `/response`.
    Response(B),
    /// `/error`.
    Error(B),
    /// `/init/error`: start-up failed.
    InitError(B),
}

impl Answer {
    /// The same answer with its body parsed as JSON (`null` where it is not JSON).
    pub fn json(self) -> Answer<Value> {
        let parse = |body: Bytes| serde_json::from_slice(&body).unwrap_or(Value::Null);
        match self {
            Answer::Response(body) => Answer::Response(parse(body)),
            Answer::Error(body) => Answer::Error(parse(body)),
            Answer::InitError(body) => Answer::InitError(parse(body)),
        }
    }
}

/// The Runtime API; its listener stops when it is dropped.
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    queue: Arc<Queue>,
    answers: mpsc::UnboundedReceiver<Answer>,
    timeout: Duration,
    task: tokio::task::JoinHandle<()>,
}

/// Events not yet taken by a `next`, and how many were ever queued (for their request ids).
#[derive(Default)]
struct Queue {
    events: Mutex<(u64, VecDeque<(String, Bytes)>)>,
    ready: Notify,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// A Runtime API whose invocations may run [`TEMPLATE_TIMEOUT`].
    pub async fn start() -> Self {
        Self::with_timeout(TEMPLATE_TIMEOUT).await
    }

    /// A Runtime API whose invocations may run `timeout`: each event's deadline is `timeout`
    /// after the function takes it.
    pub async fn with_timeout(timeout: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let queue = Arc::new(Queue::default());
        let (sender, answers) = mpsc::unbounded_channel();
        let served = queue.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                // Without it every answer waits out delayed ACKs: 40 ms a request.
                let _ = socket.set_nodelay(true);
                let (queue, sender) = (served.clone(), sender.clone());
                let service = hyper::service::service_fn(move |req| serve(req, queue.clone(), sender.clone(), timeout));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { address, queue, answers, timeout, task }
    }

    /// Queues one event for the next `next`, under a request id of its own (`req-1`, `req-2`, …).
    pub fn push(&self, event: impl Into<Bytes>) {
        let mut events = self.queue.events.lock().unwrap();
        events.0 += 1;
        let id = format!("req-{}", events.0);
        events.1.push_back((id, event.into()));
        self.queue.ready.notify_one();
    }

    /// The function's next answer, as sent. Panics when none comes within twice the invocation
    /// timeout.
    pub async fn answer(&mut self) -> Answer {
        tokio::time::timeout(self.timeout * 2, self.answers.recv())
            .await
            .expect("the function answered within twice its timeout")
            .expect("runtime API running")
    }

    /// The function's next answer, its body parsed as JSON.
    pub async fn json_answer(&mut self) -> Answer<Value> {
        self.answer().await.json()
    }
}

async fn serve(
    req: Request<hyper::body::Incoming>,
    queue: Arc<Queue>,
    answers: mpsc::UnboundedSender<Answer>,
    timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        loop {
            let next = queue.events.lock().unwrap().1.pop_front();
            if let Some((id, event)) = next {
                let deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + timeout).as_millis();
                return Ok(Response::builder()
                    .header("Lambda-Runtime-Aws-Request-Id", &id)
                    .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                    .header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                    .header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                    // awslambdaric 4.x's client crashes (SIGSEGV) on a `next` answer without
                    // these, which Lambda itself always sends.
                    .header("Lambda-Runtime-Invocation-Id", &id)
                    .header("Lambda-Runtime-Aws-Tenant-Id", "testkit")
                    .header("Content-Type", "application/json")
                    .body(Full::new(event))
                    .unwrap());
            }
            queue.ready.notified().await;
        }
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let answer = if path.ends_with("/init/error") {
        Answer::InitError(body)
    } else if path.ends_with("/error") {
        Answer::Error(body)
    } else {
        Answer::Response(body)
    };
    let _ = answers.send(answer);
    Ok(Response::builder().status(202).body(Full::new(Bytes::new())).unwrap())
}
