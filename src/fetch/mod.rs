//! URL fetching: the address policy, enforced where sockets are opened (`connect`), redirects
//! followed and re-checked hop by hop, one timeout for the whole fetch, and the body handed on
//! as a stream.

mod connect;
mod disposition;
mod per_host;
mod policy;
mod resolver;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::header::{ACCEPT, CONTENT_DISPOSITION, LOCATION, USER_AGENT};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{OnceCell, OwnedSemaphorePermit};
use tokio::time::Instant;
use url::Url;

pub use disposition::file_name_from_disposition;
pub use policy::{AddressPolicy, is_public, redacted};
pub use resolver::{Lookup, SystemLookup};

use crate::config::Config;
use crate::error::{IngestError, Result};
use connect::GuardedConnector;
use per_host::PerHost;

/// A response whose body has not been read yet.
pub struct Fetched {
    /// The declared length, if any; checked against the limit before reading.
    pub content_length: Option<u64>,
    /// The name from `Content-Disposition`, if any.
    pub file_name: Option<String>,
    /// The body, chunk by chunk.
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl fmt::Debug for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetched")
            .field("content_length", &self.content_length)
            .field("file_name", &self.file_name)
            .finish()
    }
}

/// Gets the bytes behind a URL.
#[async_trait]
pub trait Fetcher: Send + Sync {
    /// Starts fetching `url`; `url_not_allowed` if the policy refuses it, `fetch_failed` if the
    /// upstream does not answer with a success.
    async fn fetch(&self, url: &Url) -> Result<Fetched>;
}

/// A last check on every destination address, asked right before its socket is opened;
/// `false` refuses it. Tests install one that lets only loopback through, so a broken policy
/// fails without a packet being sent.
pub type DestinationGuard = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// The error a refused address carries out of the connector.
#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

type HttpsClient = Client<HttpsConnector<GuardedConnector>, Empty<Bytes>>;

/// [`Fetcher`] over HTTP/1.1 with hyper and rustls, connecting only through the address checks.
pub struct HttpFetcher {
    policy: AddressPolicy,
    timeout: Duration,
    max_redirects: usize,
    lookup: Arc<dyn Lookup>,
    guard: Option<DestinationGuard>,
    /// Fetches under way per host; waiting for a turn does not count against the timeout.
    fetches: PerHost,
    /// Connections open per host, kept-alive ones included, whatever the pool does.
    connections: Arc<PerHost>,
    // Built on the first URL, so events without URLs never load the certificate store.
    client: OnceCell<HttpsClient>,
}

impl HttpFetcher {
    /// A fetcher with the settings of `config` and the system resolver.
    pub fn new(config: &Config) -> Self {
        Self {
            policy: config.fetch_allow_private,
            timeout: config.fetch_timeout,
            max_redirects: config.fetch_max_redirects as usize,
            lookup: Arc::new(SystemLookup),
            guard: None,
            fetches: PerHost::new(config.fetch_max_per_host),
            connections: Arc::new(PerHost::new(config.fetch_max_per_host)),
            client: OnceCell::new(),
        }
    }

    /// Resolves names through `lookup` instead of the system resolver.
    pub fn with_lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// Asks `guard` about every destination address right before connecting to it.
    pub fn with_destination_guard(mut self, guard: DestinationGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    async fn client(&self) -> Result<&HttpsClient> {
        self.client.get_or_try_init(|| async { self.build_client() }).await
    }

    fn build_client(&self) -> Result<HttpsClient> {
        // No proxy, on purpose: a proxy would connect on our behalf, past the address checks.
        let connector = GuardedConnector {
            lookup: self.lookup.clone(),
            policy: self.policy,
            guard: self.guard.clone(),
            connections: self.connections.clone(),
            connect_timeout: self.timeout.min(Duration::from_secs(5)),
        };
        let https =
            crate::sdk::tls_over(connector).map_err(|e| IngestError::fetch_failed_from("cannot set up TLS", e))?;
        Ok(Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).build(https))
    }

    /// Sends one GET and returns its response head, within the whole fetch's `deadline`.
    async fn get(&self, url: &Url, deadline: Instant) -> Result<Response<Incoming>> {
        let uri =
            to_uri(url).ok_or_else(|| IngestError::fetch_refused(format!("{}: not a valid URI", redacted(url))))?;
        let request = Request::get(uri)
            .header(USER_AGENT, concat!("image-ingest/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "*/*")
            .body(Empty::new())
            .map_err(|e| IngestError::fetch_failed_from(format!("{}: {e}", redacted(url)), e))?;
        let client = self.client().await?;
        match tokio::time::timeout_at(deadline, client.request(request)).await {
            Err(_) => Err(timed_out(url, self.timeout)),
            Ok(response) => response.map_err(|e| classify(e, url)),
        }
    }
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, url: &Url) -> Result<Fetched> {
        self.policy.check_url(url)?;
        // Waiting for a turn on a busy host does not count against the fetch's timeout.
        let mut turn = self.fetches.turn(url.host_str().unwrap_or_default(), port(url)).await;
        let deadline = Instant::now() + self.timeout;
        let mut current = url.clone();
        let mut redirects = 0;
        let response = loop {
            // Every hop is checked before it is requested; its addresses again at connect.
            self.policy.check_url(&current)?;
            let response = self.get(&current, deadline).await?;
            let Some(next) = redirect_target(&response, &current) else { break response };
            redirects += 1;
            if redirects > self.max_redirects {
                return Err(IngestError::fetch_refused(format!(
                    "{}: more than {} redirects",
                    redacted(url),
                    self.max_redirects
                )));
            }
            drop(turn);
            turn = self.fetches.turn(next.host_str().unwrap_or_default(), port(&next)).await;
            current = next;
        };
        let status = response.status();
        if !status.is_success() {
            let why = if status.is_redirection() {
                format!("upstream answered {status} with a location that cannot be followed")
            } else {
                format!("upstream answered {status}")
            };
            let message = format!("{}: {why}", redacted(url));
            // A server error or "try later" may pass; any other refusal is the origin's answer.
            let passing = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
            return Err(if passing { IngestError::fetch_failed(message) } else { IngestError::fetch_refused(message) });
        }
        let file_name = response
            .headers()
            .get(CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(file_name_from_disposition);
        let body = response.into_body();
        let content_length = body.size_hint().exact();
        let body = body_stream(body, redacted(url), deadline, self.timeout, turn);
        Ok(Fetched { content_length, file_name, body })
    }
}

/// Where a redirect response points, if it is one that can be followed.
fn redirect_target(response: &Response<Incoming>, current: &Url) -> Option<Url> {
    let followed = [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ];
    if !followed.contains(&response.status()) {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let next = current.join(location).ok()?;
    // A location that is no request URI (file:///..., no host) cannot be followed.
    to_uri(&next).map(|_| next)
}

fn port(url: &Url) -> u16 {
    url.port_or_known_default().unwrap_or(0)
}

/// The request URI of `url`: the fragment is never sent.
fn to_uri(url: &Url) -> Option<Uri> {
    let mut sent = url.clone();
    sent.set_fragment(None);
    let uri: Uri = sent.as_str().parse().ok()?;
    uri.host().is_some().then_some(uri)
}

/// The body as a stream of chunks, cut off at the whole fetch's `deadline`, holding the host's
/// `turn` until it ends or is dropped.
fn body_stream(
    body: Incoming,
    shown: String,
    deadline: Instant,
    timeout: Duration,
    turn: OwnedSemaphorePermit,
) -> BoxStream<'static, Result<Bytes>> {
    futures::stream::unfold(Some((body, turn)), move |state| {
        let shown = shown.clone();
        async move {
            let (mut body, turn) = state?;
            loop {
                let failed = |why: String| format!("{shown}: reading the body failed: {why}");
                match tokio::time::timeout_at(deadline, body.frame()).await {
                    Err(_) => {
                        let message = failed(format!("timed out after {timeout:?}"));
                        return Some((Err(IngestError::fetch_failed(message)), None));
                    }
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => {
                        return Some((Err(IngestError::fetch_failed_from(failed(innermost(&e)), e)), None));
                    }
                    Ok(Some(Ok(frame))) => {
                        // Trailers carry no bytes of the object.
                        if let Ok(data) = frame.into_data() {
                            return Some((Ok(data), Some((body, turn))));
                        }
                    }
                }
            }
        }
    })
    .boxed()
}

fn timed_out(url: &Url, timeout: Duration) -> IngestError {
    IngestError::fetch_failed(format!("{}: timed out after {timeout:?}", redacted(url)))
}

fn classify(err: hyper_util::client::legacy::Error, url: &Url) -> IngestError {
    let shown = redacted(url);
    if let Some(refused) = find_source::<Refused>(&err) {
        return IngestError::UrlNotAllowed(format!("{shown}: {refused}"));
    }
    let why = if err.is_connect() { format!("cannot connect: {}", innermost(&err)) } else { innermost(&err) };
    IngestError::fetch_failed_from(format!("{shown}: {why}"), err)
}

fn find_source<'a, T: std::error::Error + 'static>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
