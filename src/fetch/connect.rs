//! The one place where the fetcher opens sockets. Every address, whether a name resolved to
//! it or the URL spelled it, passes the address policy and the destination guard right before
//! its socket is opened: on the first request, on every redirect hop, and for every address
//! a name has.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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
    pub(super) connect_timeout: Duration,
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
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
    async fn connect(self, dst: Uri) -> Result<TokioIo<TcpStream>, BoxError> {
        let host = dst.host().ok_or_else(|| io::Error::other("the URL has no host"))?;
        let default_port = if dst.scheme() == Some(&Scheme::HTTPS) { 443 } else { 80 };
        let addrs = self.addresses(host, dst.port_u16().unwrap_or(default_port)).await?;
        let mut last = None;
        for addr in addrs {
            self.admit(addr)?;
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(TokioIo::new(stream));
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
