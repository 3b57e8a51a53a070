//! Local HTTP origins on 127.0.0.1 for URL tests, with a request counter.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use image_ingest::fetch::{AddressPolicy, HttpFetcher, Lookup};
use tokio::net::TcpListener;

/// What the origin answers for a path.
pub enum Reply {
    /// 200 with these bytes and this content type.
    Bytes(&'static str, Bytes),
    /// 200 with a Content-Disposition header naming the file.
    Named(&'static str, Bytes, &'static str),
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

pub struct Origin {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The most requests that were being answered at the same time.
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The most connections that were open at the same time (idle kept-alive ones included).
    pub fn peak_connections(&self) -> usize {
        self.connections.1.load(Ordering::SeqCst)
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

/// Names the tests resolve, none of them through DNS.
pub struct TestLookup(pub Vec<(&'static str, IpAddr)>);

#[async_trait::async_trait]
impl Lookup for TestLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let found: Vec<IpAddr> = self.0.iter().filter(|(name, _)| *name == host).map(|(_, ip)| *ip).collect();
        if found.is_empty() {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host} is not a test name")))
        } else {
            Ok(found)
        }
    }
}

/// The destination guard of every test fetcher, asked by the fetcher's connector right
/// before it opens a socket: it panics on an address that is not loopback, so a broken
/// address policy fails the test without a packet leaving the machine.
pub fn loopback_only(addr: SocketAddr) -> bool {
    assert!(addr.ip().is_loopback(), "the fetcher was about to connect to {addr}");
    true
}

/// A fetcher for tests: names through `lookup`, the loopback-only guard, and the policy of
/// `config`, opened to loopback (`FETCH_ALLOW_PRIVATE=loopback`) when `loopback` is set so
/// the origins on 127.0.0.1 are reachable. Private and link-local addresses are never opened
/// for a test (`FETCH_ALLOW_PRIVATE=true` is refused here).
pub fn fetcher(config: &image_ingest::Config, lookup: TestLookup, loopback: bool) -> HttpFetcher {
    assert_ne!(config.fetch_allow_private, AddressPolicy::Any, "no test fetches with private addresses open");
    let mut config = config.clone();
    if loopback {
        config.fetch_allow_private = AddressPolicy::Loopback;
    }
    HttpFetcher::new(&config).with_lookup(Arc::new(lookup)).with_destination_guard(Arc::new(loopback_only))
}
