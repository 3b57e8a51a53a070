//! The one place where the fetcher opens sockets. Every address, whether a name resolved to
//! it or the URL spelled it, passes the address policy and the destination guard right before
//! its socket is opened: on the first request, on every redirect hop, and for every address
//! a name has. Each open connection holds one of its host's `FETCH_MAX_PER_HOST` places until
//! it closes, kept-alive ones too.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::per_host::PerHost;
use super::policy::AddressPolicy;
use super::resolver::Lookup;
use super::{DestinationGuard, Refused};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A hyper connector that resolves through [`Lookup`] and connects only to admitted
/// addresses. TLS, when the URL asks for it, is layered on top by hyper-rustls.
#[derive(Clone)]
pub(super) struct GuardedConnector {
    pub(super) lookup: Arc<dyn Lookup>,
    pub(super) policy: AddressPolicy,
    pub(super) guard: Option<DestinationGuard>,
    pub(super) connections: Arc<PerHost>,
    pub(super) connect_timeout: Duration,
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<HeldStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(dst).await })
    }
}

impl GuardedConnector {
    async fn connect(self, dst: Uri) -> Result<TokioIo<HeldStream>, BoxError> {
        let host = dst.host().ok_or_else(|| io::Error::other("the URL has no host"))?;
        let default_port = if dst.scheme() == Some(&Scheme::HTTPS) { 443 } else { 80 };
        let port = dst.port_u16().unwrap_or(default_port);
        let addrs = self.addresses(host, port).await?;
        let place = self.connections.turn(host, port).await;
        let mut last = None;
        for addr in addrs {
            self.admit(addr)?;
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(TokioIo::new(HeldStream { stream, _place: place }));
                }
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    let why = format!("connecting timed out after {:?}", self.connect_timeout);
                    last = Some(io::Error::new(io::ErrorKind::TimedOut, why));
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no address to connect to")).into())
    }

    /// The addresses `host` stands for. A name is refused as a whole when any of its
    /// addresses is, so the order a resolver returns them in cannot matter.
    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, BoxError> {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let ips = self.lookup.lookup(host).await?;
        if ips.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")).into());
        }
        if ips.iter().any(|ip| self.policy.check_ip(*ip).is_err()) {
            // The address itself is not told: callers could map an internal network.
            return Err(Refused(format!("{host} resolves to a non-public address")).into());
        }
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    /// The last word on `addr`, asked right before its socket is opened.
    fn admit(&self, addr: SocketAddr) -> Result<(), Refused> {
        self.policy.check_ip(addr.ip()).map_err(Refused)?;
        match &self.guard {
            Some(guard) if !guard(addr) => Err(Refused("the destination guard refused the address".to_owned())),
            _ => Ok(()),
        }
    }
}

/// A connection that keeps its host's place until it is closed.
pub(super) struct HeldStream {
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
}

impl Connection for HeldStream {
    fn connected(&self) -> Connected {
        self.stream.connected()
    }
}

impl AsyncRead for HeldStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HeldStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
