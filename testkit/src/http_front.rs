//! An HTTP/1.1 front on 127.0.0.1 that plays API Gateway's HTTP API for a browser or an HTTP
//! client: each request becomes a payload format 2.0 event, a handler (the function, called in
//! process) answers it, and its response envelope becomes the HTTP response.
//!
//! The handler is any `Fn(Value) -> Future<Output = Value>`: this crate cannot name the
//! function's types (it is one of its dev-dependencies), so events and envelopes are JSON.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

type Handler = dyn Fn(Value) -> futures::future::BoxFuture<'static, Value> + Send + Sync;

/// The front; it stops listening when it is dropped.
pub struct HttpFront {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpFront {
    /// Serves every request through `handler`, which gets the API Gateway v2 event and returns
    /// the response envelope (`statusCode`, `headers`, `multiValueHeaders`, `cookies`, `body`,
    /// `isBase64Encoded`). Must be called inside a tokio runtime.
    pub async fn start<H, F>(handler: H) -> Self
    where
        H: Fn(Value) -> F + Send + Sync + 'static,
        F: Future<Output = Value> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handler: Arc<Handler> = Arc::new(move |event| Box::pin(handler(event)));
        let requests = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                // Without it every answer waits out delayed ACKs: 40 ms a request.
                let _ = socket.set_nodelay(true);
                let (handler, requests) = (handler.clone(), requests.clone());
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (handler, id) = (handler.clone(), requests.fetch_add(1, Ordering::Relaxed) + 1);
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let envelope = handler(event(&parts, &body, &format!("front-{id}"))).await;
                        Ok::<_, Infallible>(response(&envelope))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { base, task }
    }

    /// The URL of `path_and_query` (which starts with `/`) on this front.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }
}

/// The API Gateway HTTP API (payload 2.0) event for one request: header names lowercased and
/// repeats joined with `,`, the `cookie` header moved to `cookies`, query values percent-decoded
/// (`+` kept as sent) and repeats joined with `,`, and a body that is not UTF-8 sent as base64.
pub fn event(parts: &hyper::http::request::Parts, body: &[u8], request_id: &str) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned));
            continue;
        }
        join(&mut headers, name.as_str(), value);
    }
    let path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        join(&mut query, &percent_decode(name), percent_decode(value));
    }
    let host = headers.get("host").and_then(Value::as_str).unwrap_or("127.0.0.1").to_owned();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let method = parts.method.as_str();
    let user_agent = headers.get("user-agent").cloned().unwrap_or_else(|| "".into());
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "testkit",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": now,
        },
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = query.into();
    }
    if !cookies.is_empty() {
        event["cookies"] = cookies.into();
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = text.into(),
            Err(_) => {
                event["body"] = STANDARD.encode(body).into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    event
}

/// The HTTP response a response envelope stands for: its status (200 when absent, as API
/// Gateway assumes), `headers`, every value of `multiValueHeaders`, one `set-cookie` per entry of
/// `cookies`, and its body (base64-decoded when `isBase64Encoded`). An envelope that does not
/// hold together is a 502 saying why, as API Gateway answers a malformed Lambda response.
pub fn response(envelope: &Value) -> Response<Full<Bytes>> {
    build(envelope).unwrap_or_else(|why| {
        Response::builder()
            .status(502)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(format!("malformed Lambda response: {why}\n{envelope}"))))
            .unwrap()
    })
}

fn build(envelope: &Value) -> Result<Response<Full<Bytes>>, String> {
    let status = envelope.get("statusCode").map_or(Some(200), Value::as_u64).ok_or("statusCode")?;
    let mut builder = Response::builder().status(u16::try_from(status).map_err(|e| e.to_string())?);
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    for (name, value) in envelope["headers"].as_object().into_iter().flatten() {
        builder = builder.header(name, text(value));
    }
    for (name, values) in envelope["multiValueHeaders"].as_object().into_iter().flatten() {
        for value in values.as_array().into_iter().flatten() {
            builder = builder.header(name, text(value));
        }
    }
    for cookie in envelope["cookies"].as_array().into_iter().flatten() {
        builder = builder.header("set-cookie", text(cookie));
    }
    let body = envelope["body"].as_str().unwrap_or_default();
    let body = match envelope["isBase64Encoded"].as_bool().unwrap_or(false) {
        true => STANDARD.decode(body).map_err(|e| format!("body: {e}"))?,
        false => body.as_bytes().to_vec(),
    };
    builder.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())
}

/// Sets `name` to `value`, or appends `,value` to what it holds.
fn join(map: &mut Map<String, Value>, name: &str, value: String) {
    match map.get_mut(name) {
        Some(Value::String(held)) => {
            held.push(',');
            held.push_str(&value);
        }
        _ => drop(map.insert(name.to_owned(), value.into())),
    }
}

/// `%XX` escapes decoded (invalid ones kept as written); the bytes read as UTF-8, lossily.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Two hex digits exactly (from_str_radix alone would take "+1").
        let hex = bytes.get(i + 1..i + 3).filter(|h| bytes[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit));
        match hex.map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap()) {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
