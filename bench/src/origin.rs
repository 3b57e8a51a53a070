//! An HTTP origin on 127.0.0.1 serving a large body generated on the fly.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Size of the repeated block the body is made of.
const BLOCK: usize = 1024 * 1024;

/// Serves `size` bytes that sniff as PNG at every path.
pub struct BigOrigin {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BigOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BigOrigin {
    pub async fn start(size: u64) -> Self {
        let mut block = vec![0u8; BLOCK];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        block[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
        let block = Bytes::from(block);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let _ = socket.set_nodelay(true);
                let block = block.clone();
                let service = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let block = block.clone();
                    async move { Ok::<_, Infallible>(body(block, size)) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { base, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn body(block: Bytes, size: u64) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    let chunks = size.div_ceil(BLOCK as u64);
    let stream = futures::stream::iter((0..chunks).map(move |i| {
        let len = (size - i * BLOCK as u64).min(BLOCK as u64) as usize;
        Ok::<_, Infallible>(Frame::data(block.slice(..len)))
    }));
    Response::builder()
        .header("content-type", "image/png")
        .header("content-length", size.to_string())
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

/// Serves a small PNG at every path after waiting `delay`, counting requests at once.
pub struct SlowOrigin {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SlowOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlowOrigin {
    pub async fn start(delay: std::time::Duration, png: Bytes) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let _ = socket.set_nodelay(true);
                let png = png.clone();
                let service = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let png = png.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        let body = http_body_util::Full::new(png).map_err(|never| match never {}).boxed();
                        Ok::<_, Infallible>(Response::builder().header("content-type", "image/png").body(body).unwrap())
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { base, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
