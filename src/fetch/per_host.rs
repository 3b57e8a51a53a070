//! `FETCH_MAX_PER_HOST`: at most so many fetches, and so many open connections, to one host
//! at once in this process, so a batch of a crawl's URLs is polite to each site while other
//! sites proceed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hosts remembered before idle ones are forgotten (a long crawl meets millions of hosts).
const REMEMBERED_HOSTS: usize = 1024;

/// One semaphore per host and port, created on first use.
pub struct PerHost {
    max: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl PerHost {
    /// At most `max` fetches to one host at once.
    pub fn new(max: usize) -> Self {
        Self { max: max.max(1), hosts: Mutex::new(HashMap::new()) }
    }

    /// Waits for a turn on `host` and `port`; the turn lasts as long as the permit.
    pub async fn turn(&self, host: &str, port: u16) -> OwnedSemaphorePermit {
        let host = format!("{}:{port}", host.to_ascii_lowercase());
        let semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if hosts.len() >= REMEMBERED_HOSTS {
                // Only the map holds an idle host's semaphore: a waiter or a permit holds another.
                hosts.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
            }
            hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(self.max))).clone()
        };
        semaphore.acquire_owned().await.expect("the semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    async fn turn(limit: &PerHost, url: &str) -> OwnedSemaphorePermit {
        let url = Url::parse(url).unwrap();
        limit.turn(url.host_str().unwrap(), url.port_or_known_default().unwrap()).await
    }

    #[tokio::test]
    async fn one_host_waits_while_another_proceeds() {
        let limit = PerHost::new(2);
        let first = turn(&limit, "http://a.example/1.png").await;
        let _second = turn(&limit, "http://A.example:80/2.png").await;
        let third = turn(&limit, "http://a.example/3.png");
        tokio::pin!(third);
        assert!(futures::poll!(third.as_mut()).is_pending(), "a third fetch to a.example waits");
        let _other = turn(&limit, "http://b.example/1.png").await;
        let _other_port = turn(&limit, "http://a.example:8080/1.png").await;
        drop(first);
        let _third = third.await;
    }

    #[tokio::test]
    async fn idle_hosts_are_forgotten_and_busy_ones_kept() {
        let limit = PerHost::new(1);
        let busy = turn(&limit, "http://busy.example/").await;
        for i in 0..REMEMBERED_HOSTS + 1 {
            drop(turn(&limit, &format!("http://h{i}.example/")).await);
        }
        let hosts = limit.hosts.lock().unwrap();
        assert!(hosts.len() < REMEMBERED_HOSTS, "{}", hosts.len());
        assert!(hosts.contains_key("busy.example:80"));
        drop(busy);
    }
}
