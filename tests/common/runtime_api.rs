//! A minimal Lambda Runtime API: serves queued events and records the answers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// What the function answered for one invocation.
#[derive(Debug)]
pub enum Answer {
    Response(Value),
    Error(Value),
    InitError(Value),
}

pub struct RuntimeApi {
    pub address: String,
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    ready: Arc<Notify>,
    answers: mpsc::UnboundedReceiver<Answer>,
    timeout: Duration,
}

impl RuntimeApi {
    /// A runtime API whose invocations may run 30 s, as `template.yaml` sets.
    pub async fn start() -> Self {
        Self::with_timeout(Duration::from_secs(30)).await
    }

    /// A runtime API whose invocations may run `timeout` (Lambda allows up to 15 minutes).
    pub async fn with_timeout(timeout: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let events = Arc::new(Mutex::new(VecDeque::new()));
        let ready = Arc::new(Notify::new());
        let (tx, answers) = mpsc::unbounded_channel();
        let (ev, rd) = (events.clone(), ready.clone());
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                socket.set_nodelay(true).unwrap();
                let (ev, rd, tx) = (ev.clone(), rd.clone(), tx.clone());
                let service =
                    hyper::service::service_fn(move |req| serve(req, ev.clone(), rd.clone(), tx.clone(), timeout));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { address, events, ready, answers, timeout }
    }

    pub fn push(&self, request_id: &str, event: Value) {
        self.events.lock().unwrap().push_back((request_id.to_owned(), event));
        self.ready.notify_one();
    }

    pub async fn answer(&mut self) -> Answer {
        tokio::time::timeout(self.timeout * 2, self.answers.recv())
            .await
            .expect("the function answered within twice its timeout")
            .expect("runtime API running")
    }
}

async fn serve(
    req: Request<hyper::body::Incoming>,
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    ready: Arc<Notify>,
    answers: mpsc::UnboundedSender<Answer>,
    timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        loop {
            if let Some((id, event)) = events.lock().unwrap().pop_front() {
                let deadline = chrono::Utc::now().timestamp_millis() + timeout.as_millis() as i64;
                return Ok(Response::builder()
                    .header("Lambda-Runtime-Aws-Request-Id", id)
                    .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:eu-west-1:123456789012:function:image-ingest",
                    )
                    .header("Lambda-Runtime-Trace-Id", "Root=1-67891233-abcdef012345678912345678;Sampled=1")
                    .body(Full::new(Bytes::from(event.to_string())))
                    .unwrap());
            }
            ready.notified().await;
        }
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = if path.ends_with("/init/error") {
        Answer::InitError(value)
    } else if path.ends_with("/error") {
        Answer::Error(value)
    } else {
        Answer::Response(value)
    };
    let _ = answers.send(answer);
    Ok(Response::builder().status(202).body(Full::new(Bytes::new())).unwrap())
}
