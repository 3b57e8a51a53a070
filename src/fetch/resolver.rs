//! Name resolution that checks every address before reqwest may connect to it. reqwest
//! connects to exactly the addresses returned here, so there is no second lookup to rebind.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::policy::AddressPolicy;
use super::{DestinationGuard, Refused};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Turns a host name into addresses.
#[async_trait]
pub trait Lookup: Send + Sync {
    /// Every address `host` resolves to.
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (getaddrinfo), as reqwest would use by default.
#[derive(Debug, Default)]
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}

/// A reqwest resolver that refuses a name if any of its addresses is refused by the policy.
pub(super) struct GuardedResolver {
    pub(super) lookup: Arc<dyn Lookup>,
    pub(super) policy: AddressPolicy,
    pub(super) guard: Option<DestinationGuard>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (lookup, policy, guard) = (self.lookup.clone(), self.policy, self.guard.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = lookup.lookup(&host).await?;
            if ips.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            for ip in &ips {
                if policy.check_ip(*ip).is_err() {
                    // The address itself is not told: callers could map an internal network.
                    let refused: BoxError = Box::new(Refused(format!("{host} resolves to a non-public address")));
                    return Err(refused);
                }
            }
            if let Some(guard) = guard {
                ips.iter().for_each(|ip| guard(*ip));
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
