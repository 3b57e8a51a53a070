//! Name resolution behind a trait, so tests resolve names without DNS.

use std::net::IpAddr;

use async_trait::async_trait;

/// Turns a host name into addresses.
#[async_trait]
pub trait Lookup: Send + Sync {
    /// Every address `host` resolves to.
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (getaddrinfo).
#[derive(Debug, Default)]
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}
