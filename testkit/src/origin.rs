//! A local HTTP origin on 127.0.0.1 for URL items: a router says what each path gets, and the
//! origin counts requests, requests answered at once, and connections open at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the origin answers for a path.
pub enum Reply {
    /// 200 with these bytes and this content type.
    Bytes(&'static str, Bytes),
    /// 200 with a Content-Disposition header naming the file.
    Named(&'static str, Bytes, &'static str),
    /// 200 with these pieces one after another, announcing their total Content-Length: a body
    /// of GiBs from a few shared buffers (see `png::sized_pieces`).
    Pieces(&'static str, Vec<Bytes>),
    /// An error status.
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// 200, `chunks` chunks of `chunk` with no Content-Length (chunked).
    Chunked(Bytes, usize),
    /// 200 announcing this Content-Length, then a few bytes.
    Announced(u64),
    /// 200, the first bytes, then nothing for this long.
    Stalled(Bytes, Duration),
    /// Sleeps, then 200 with these bytes.
    Delayed(Duration, &'static str, Bytes),
    /// Waits for the future, then 200 with these bytes.
    After(futures::future::BoxFuture<'static, ()>, &'static str, Bytes),
}

type Router = dyn Fn(&str) -> Reply + Send + Sync;

/// The origin; it stops listening when it is dropped.
pub struct Origin {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    hits: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    connections: Arc<(AtomicUsize, AtomicUsize)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    /// Serves what `router` says for each request's path.
    pub async fn start(router: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let (current, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let router: Arc<Router> = Arc::new(router);
        let counter = hits.clone();
        let gauge = (current, peak.clone());
        let connections: Arc<(AtomicUsize, AtomicUsize)> = Arc::default();
        let open = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                // Without it every answer waits out delayed ACKs: 40 ms a request.
                socket.set_nodelay(true).unwrap();
                let now = open.0.fetch_add(1, Ordering::SeqCst) + 1;
                open.1.fetch_max(now, Ordering::SeqCst);
                let closed = open.clone();
                let (router, counter, gauge) = (router.clone(), counter.clone(), gauge.clone());
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let now = gauge.0.fetch_add(1, Ordering::SeqCst) + 1;
                    gauge.1.fetch_max(now, Ordering::SeqCst);
                    let reply = router(req.uri().path());
                    let current = gauge.0.clone();
                    async move {
                        let response = respond(reply).await;
                        current.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(response)
                    }
                });
                let connection =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service);
                tokio::spawn(async move {
                    let _ = connection.await;
                    closed.0.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { base, hits, peak, connections, task }
    }

    /// The URL of `path` (which starts with `/`) on this origin.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The requests received (since the last [`Origin::take_counts`]).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The most requests that were being answered at the same time (since the last
    /// [`Origin::take_counts`]).
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The most connections that were open at the same time (idle kept-alive ones included).
    pub fn peak_connections(&self) -> usize {
        self.connections.1.load(Ordering::SeqCst)
    }

    /// [`Origin::hits`] and [`Origin::peak_concurrency`], both counted again from zero after
    /// this: for rounds measured one after another.
    pub fn take_counts(&self) -> (usize, usize) {
        (self.hits.swap(0, Ordering::SeqCst), self.peak.swap(0, Ordering::SeqCst))
    }
}

async fn respond(reply: Reply) -> Response<BoxBody<Bytes, Infallible>> {
    let full = |b: Bytes| Full::new(b).boxed();
    let builder = Response::builder();
    match reply {
        Reply::Bytes(ct, body) => builder.header("content-type", ct).body(full(body)),
        Reply::Named(ct, body, name) => builder
            .header("content-type", ct)
            .header("content-disposition", format!("attachment; filename=\"{name}\""))
            .body(full(body)),
        Reply::Pieces(ct, pieces) => {
            let length: usize = pieces.iter().map(Bytes::len).sum();
            let stream = futures::stream::iter(pieces.into_iter().map(|piece| Ok::<_, Infallible>(Frame::data(piece))));
            builder
                .header("content-type", ct)
                .header("content-length", length.to_string())
                .body(BodyExt::boxed(StreamBody::new(stream)))
        }
        Reply::Status(code) => builder.status(code).body(full(Bytes::from_static(b"nope"))),
        Reply::Redirect(to) => builder.status(302).header("location", to).body(full(Bytes::new())),
        Reply::Chunked(chunk, count) => {
            let stream =
                futures::stream::iter((0..count).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))));
            builder.header("content-type", "image/png").body(BodyExt::boxed(StreamBody::new(stream)))
        }
        Reply::Announced(length) => {
            // The rest never comes: the client must refuse on the header alone.
            let first =
                futures::stream::once(async { Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"\x89PNG"))) })
                    .chain(futures::stream::pending());
            builder
                .header("content-type", "image/png")
                .header("content-length", length.to_string())
                .body(BodyExt::boxed(StreamBody::new(first)))
        }
        Reply::Stalled(first, pause) => {
            let stream = futures::stream::once(async move { Ok::<_, Infallible>(Frame::data(first)) }).chain(
                futures::stream::once(async move {
                    tokio::time::sleep(pause).await;
                    Ok(Frame::data(Bytes::from_static(b"late")))
                }),
            );
            builder.header("content-type", "image/png").body(BodyExt::boxed(StreamBody::new(stream)))
        }
        Reply::Delayed(pause, ct, body) => {
            tokio::time::sleep(pause).await;
            builder.header("content-type", ct).body(full(body))
        }
        Reply::After(gate, ct, body) => {
            gate.await;
            builder.header("content-type", ct).body(full(body))
        }
    }
    .unwrap()
}
