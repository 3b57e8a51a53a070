//! HTTP origins on 127.0.0.1: a large body generated on the fly, a small PNG after a delay, and
//! many distinct PNGs after a delay.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A valid PNG of exactly `size` bytes, different for every `index`: an 8-bit greyscale 32x32
/// image (a stored, uncompressed zlib stream in its IDAT), padded by a private ancillary `fiLl`
/// chunk of pseudo-random bytes before the IDAT. Every chunk has its CRC.
pub fn png_image(index: u64, size: usize) -> Vec<u8> {
    const SIDE: u32 = 32;
    let mut raw = Vec::with_capacity((SIDE * (SIDE + 1)) as usize);
    for y in 0..SIDE {
        raw.push(0); // filter: none
        raw.extend((0..SIDE).map(|x| (index as u32).wrapping_mul(31).wrapping_add(x * 7 + y * 13) as u8));
    }
    let mut idat = vec![0x78, 0x01, 0x01];
    idat.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    idat.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    idat.extend_from_slice(&raw);
    idat.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // depth 8, greyscale, deflate, adaptive, no interlace

    let fixed = 8 + (12 + ihdr.len()) + (12 + idat.len()) + 12 + 12;
    assert!(size >= fixed, "a PNG of {size} bytes is too small for its chunks");
    let mut filler = vec![0u8; size - fixed];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    for bytes in filler.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.copy_from_slice(&state.to_le_bytes()[..bytes.len()]);
    }

    let mut png = Vec::with_capacity(size);
    png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"fiLl", &filler[..]), (b"IDAT", &idat[..]), (b"IEND", &[][..])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    debug_assert_eq!(png.len(), size);
    png
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Serves [`png_image`] number N at `/img/N.png`, after waiting `delay`, and 404 elsewhere.
/// Counts the requests it served and the most it had in flight at once.
pub struct ImageOrigin {
    pub base: String,
    pub in_flight: std::sync::Arc<Gauge>,
    task: tokio::task::JoinHandle<()>,
}

/// Requests served, in flight, and the most in flight at once since the last [`Gauge::reset`].
#[derive(Default)]
pub struct Gauge {
    served: AtomicU64,
    now: AtomicU64,
    peak: AtomicU64,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
    }

    /// (requests served, most in flight at once) since the last reset, and resets both.
    pub fn reset(&self) -> (u64, u64) {
        (self.served.swap(0, Ordering::SeqCst), self.peak.swap(0, Ordering::SeqCst))
    }
}

impl Drop for ImageOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ImageOrigin {
    pub async fn start(delay: std::time::Duration, size: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let in_flight = std::sync::Arc::new(Gauge::default());
        let gauge = in_flight.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let _ = socket.set_nodelay(true);
                let gauge = gauge.clone();
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let gauge = gauge.clone();
                    async move {
                        gauge.enter();
                        tokio::time::sleep(delay).await;
                        let index = req.uri().path().strip_prefix("/img/").and_then(|p| p.strip_suffix(".png"));
                        let response = match index.and_then(|i| i.parse::<u64>().ok()) {
                            Some(index) => Response::builder()
                                .header("content-type", "image/png")
                                .body(http_body_util::Full::new(Bytes::from(png_image(index, size)))),
                            None => Response::builder().status(404).body(http_body_util::Full::new(Bytes::new())),
                        };
                        gauge.leave();
                        Ok::<_, Infallible>(response.unwrap())
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service),
                );
            }
        });
        Self { base, in_flight, task }
    }

    /// The URL of image number `index`.
    pub fn url(&self, index: u64) -> String {
        format!("{}/img/{index}.png", self.base)
    }
}
