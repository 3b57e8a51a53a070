//! URL fetching: the address policy, redirects re-checked hop by hop, one timeout for the
//! whole fetch, and the body handed on as a stream.

mod disposition;
mod policy;
mod resolver;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::redirect::{Attempt, Policy};
use tokio::sync::OnceCell;
use url::{Host, Url};

pub use disposition::file_name_from_disposition;
pub use policy::{AddressPolicy, is_public, redacted};
pub use resolver::{Lookup, SystemLookup};

use crate::config::Config;
use crate::error::{IngestError, Result};
use resolver::GuardedResolver;

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

/// A last check on every destination address right before connecting. Tests install one that
/// panics on anything but loopback, so a broken policy fails without a packet being sent.
pub type DestinationGuard = Arc<dyn Fn(IpAddr) + Send + Sync>;

/// The error a refused address or redirect carries through reqwest.
#[derive(Debug)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// [`Fetcher`] over HTTP(S) with reqwest and rustls.
pub struct HttpFetcher {
    policy: AddressPolicy,
    timeout: Duration,
    max_redirects: usize,
    lookup: Arc<dyn Lookup>,
    guard: Option<DestinationGuard>,
    // Built on the first URL, so events without URLs never load the certificate store.
    client: OnceCell<reqwest::Client>,
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
            client: OnceCell::new(),
        }
    }

    /// Resolves names through `lookup` instead of the system resolver.
    pub fn with_lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// Runs `guard` on every destination address before connecting.
    pub fn with_destination_guard(mut self, guard: DestinationGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    async fn client(&self) -> Result<&reqwest::Client> {
        self.client.get_or_try_init(|| async { self.build_client() }).await
    }

    fn build_client(&self) -> Result<reqwest::Client> {
        let resolver = GuardedResolver { lookup: self.lookup.clone(), policy: self.policy, guard: self.guard.clone() };
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("image-ingest/", env!("CARGO_PKG_VERSION")))
            .no_proxy() // a proxy would connect on our behalf, past the address checks
            .dns_resolver(Arc::new(resolver))
            .redirect(redirect_policy(self.policy, self.max_redirects, self.guard.clone()))
            .referer(false)
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)));
        if let Some(guard) = &self.guard {
            builder = builder.connector_layer(LiteralGuardLayer(guard.clone()));
        }
        builder.build().map_err(|e| IngestError::FetchFailed(format!("cannot set up the HTTP client: {e}")))
    }
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, url: &Url) -> Result<Fetched> {
        self.policy.check_url(url)?;
        let response =
            self.client().await?.get(url.clone()).send().await.map_err(|e| classify(&e, url, self.timeout))?;
        let status = response.status();
        if !status.is_success() {
            let why = if status.is_redirection() {
                format!("upstream answered {status} with a location that cannot be followed")
            } else {
                format!("upstream answered {status}")
            };
            return Err(IngestError::FetchFailed(format!("{}: {why}", redacted(url))));
        }
        let file_name = response
            .headers()
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(file_name_from_disposition);
        let content_length = response.content_length();
        let (shown, timeout) = (redacted(url), self.timeout);
        let body = response
            .bytes_stream()
            .map(move |chunk| {
                chunk.map_err(|e| {
                    let why = if e.is_timeout() { format!("timed out after {timeout:?}") } else { e.to_string() };
                    IngestError::FetchFailed(format!("{shown}: reading the body failed: {why}"))
                })
            })
            .boxed();
        Ok(Fetched { content_length, file_name, body })
    }
}

fn redirect_policy(policy: AddressPolicy, max: usize, guard: Option<DestinationGuard>) -> Policy {
    Policy::custom(move |attempt: Attempt| {
        if attempt.previous().len() > max {
            return attempt.error(TooManyRedirects(max));
        }
        let next = attempt.url().clone();
        match policy.check_url(&next) {
            Err(refusal) => attempt.error(Refused(refusal.to_string())),
            Ok(()) => {
                if let (Some(guard), Some(ip)) = (&guard, literal_ip(&next)) {
                    guard(ip);
                }
                attempt.follow()
            }
        }
    })
}

#[derive(Debug)]
struct TooManyRedirects(usize);

impl fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {} redirects", self.0)
    }
}

impl std::error::Error for TooManyRedirects {}

fn classify(err: &reqwest::Error, url: &Url, timeout: Duration) -> IngestError {
    let shown = redacted(url);
    if let Some(refused) = find_source::<Refused>(err) {
        return IngestError::UrlNotAllowed(refused.0.clone());
    }
    if let Some(too_many) = find_source::<TooManyRedirects>(err) {
        return IngestError::FetchFailed(format!("{shown}: {too_many}"));
    }
    let why = if err.is_timeout() {
        format!("timed out after {timeout:?}")
    } else if err.is_connect() {
        format!("cannot connect: {}", innermost(err))
    } else {
        innermost(err)
    };
    IngestError::FetchFailed(format!("{shown}: {why}"))
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

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// Runs the destination guard on IP-literal hosts, which reqwest connects to without asking
/// the resolver. Only installed together with a guard (tests).
#[derive(Clone)]
struct LiteralGuardLayer(DestinationGuard);

impl<S> tower_layer::Layer<S> for LiteralGuardLayer {
    type Service = LiteralGuard<S>;
    fn layer(&self, inner: S) -> LiteralGuard<S> {
        LiteralGuard { inner, guard: self.0.clone() }
    }
}

#[derive(Clone)]
struct LiteralGuard<S> {
    inner: S,
    guard: DestinationGuard,
}

impl<S, Req> tower_service::Service<Req> for LiteralGuard<S>
where
    S: tower_service::Service<Req>,
    Req: fmt::Debug,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> S::Future {
        // reqwest's connector request type is sealed; its Debug form carries the target URI.
        let shown = format!("{request:?}");
        let target = shown.split(['(', ')']).nth(1).and_then(|u| Url::parse(u).ok());
        if let Some(ip) = target.as_ref().and_then(literal_ip) {
            (self.guard)(ip);
        }
        self.inner.call(request)
    }
}
