//! The origins of the URL tests (`testkit::origin`), and the fetcher that reaches them: names
//! resolved without DNS, and a guard that lets nothing but loopback be opened.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use image_ingest::fetch::{AddressPolicy, HttpFetcher, Lookup};
// Each test binary uses some of these.
#[allow(unused_imports)]
pub use testkit::origin::{Origin, Reply};

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
