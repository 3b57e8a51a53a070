//! A Lambda Runtime API (`next`, `response`, `error`, `init/error`) for driving a function
//! process as Lambda does, with TCP_NODELAY on every socket.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// What a function sent back for one invocation.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `/response` with its body.
    Response(Bytes),
    /// `/error` or `/init/error` with its body.
    Error(Bytes),
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: Arc<Mutex<VecDeque<(u64, Bytes)>>>,
    ready: Arc<Notify>,
    answers: mpsc::UnboundedReceiver<Answer>,
    next_id: u64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let events: Arc<Mutex<VecDeque<(u64, Bytes)>>> = Arc::default();
        let ready = Arc::new(Notify::new());
        let (sender, answers) = mpsc::unbounded_channel();
        let (queue, signal) = (events.clone(), ready.clone());
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let _ = socket.set_nodelay(true);
                let (queue, signal, sender) = (queue.clone(), signal.clone(), sender.clone());
                let service =
                    hyper::service::service_fn(move |req| serve(req, queue.clone(), signal.clone(), sender.clone()));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { address, events, ready, answers, next_id: 0 }
    }

    /// Queues one event for the next `/next`.
    pub fn push(&mut self, event: impl Into<Bytes>) {
        self.next_id += 1;
        self.events.lock().unwrap().push_back((self.next_id, event.into()));
        self.ready.notify_one();
    }

    /// Waits for the function's answer to the oldest outstanding event.
    pub async fn answer(&mut self) -> Answer {
        self.answers.recv().await.expect("runtime API running")
    }
}

async fn serve(
    req: Request<hyper::body::Incoming>,
    events: Arc<Mutex<VecDeque<(u64, Bytes)>>>,
    ready: Arc<Notify>,
    answers: mpsc::UnboundedSender<Answer>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        loop {
            let next = events.lock().unwrap().pop_front();
            if let Some((id, event)) = next {
                let deadline =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 900_000;
                return Ok(Response::builder()
                    .header("Lambda-Runtime-Aws-Request-Id", format!("bench-{id}"))
                    .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    )
                    .header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                    // awslambdaric 4.x's client crashes (SIGSEGV) on a `next` answer without
                    // these, which Lambda itself always sends.
                    .header("Lambda-Runtime-Invocation-Id", format!("bench-{id}"))
                    .header("Lambda-Runtime-Aws-Tenant-Id", "bench")
                    .header("Content-Type", "application/json")
                    .body(Full::new(event))
                    .unwrap());
            }
            ready.notified().await;
        }
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let answer = if path.ends_with("/response") { Answer::Response(body) } else { Answer::Error(body) };
    let _ = answers.send(answer);
    Ok(Response::builder().status(202).body(Full::new(Bytes::new())).unwrap())
}
