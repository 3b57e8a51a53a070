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

/// Serves a PNG of `size` bytes (at least 1 MiB) at every path: a 1x1 image whose size is in
/// filler chunks of one block each, generated once and sent again and again.
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
        let layout = Layout::new(size);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let _ = socket.set_nodelay(true);
                let layout = layout.clone();
                let service = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let layout = layout.clone();
                    async move { Ok::<_, Infallible>(body(layout)) }
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

/// The pieces of a [`BigOrigin`] body: head, `blocks` whole filler chunks, one filler chunk of
/// the remainder, tail.
#[derive(Clone)]
struct Layout {
    head: Bytes,
    block: Bytes,
    blocks: u64,
    last: Bytes,
    tail: Bytes,
    size: u64,
}

impl Layout {
    fn new(size: u64) -> Self {
        let overhead = crate::png::OVERHEAD as u64;
        assert!(size >= BLOCK as u64, "a BigOrigin body is at least {BLOCK} bytes");
        // The last filler chunk takes what whole blocks leave, at least its 12 bytes of framing.
        let blocks = (size - overhead - 12) / BLOCK as u64;
        let last = (size - overhead - blocks * BLOCK as u64) as usize;
        Self {
            head: Bytes::from(crate::png::head()),
            block: Bytes::from(crate::png::filler(BLOCK, 1)),
            blocks,
            last: Bytes::from(crate::png::filler(last, 2)),
            tail: Bytes::from(crate::png::tail()),
            size,
        }
    }
}

fn body(layout: Layout) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    let size = layout.size;
    let Layout { head, block, blocks, last, tail, .. } = layout;
    let pieces = std::iter::once(head)
        .chain((0..blocks).map(move |_| block.clone()))
        .chain([last, tail])
        .map(|piece| Ok::<_, Infallible>(Frame::data(piece)));
    Response::builder()
        .header("content-type", "image/png")
        .header("content-length", size.to_string())
        .body(BodyExt::boxed(StreamBody::new(futures::stream::iter(pieces))))
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
