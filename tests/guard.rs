//! The destination guard sits on the connect path itself: with the address policy switched
//! off (`FETCH_ALLOW_PRIVATE=true`), the guard alone still stops connections to private and
//! link-local addresses, whether the URL spells them or a name resolves to them, on the first
//! request and on a redirect hop, and it is asked before any socket is opened.
//!
//! Where the process may (root, as in CI), each test first moves its thread into a network
//! namespace of its own with only loopback up, so a broken guard cannot send a packet anywhere.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::origin::{Origin, Reply, TestLookup};
use image_ingest::fetch::{AddressPolicy, Fetcher, HttpFetcher};
use url::Url;

/// A guard that records every address it is asked about and lets only loopback through.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<SocketAddr>>>);

impl Recorder {
    fn fetcher(&self, allow_private: &str, lookup: TestLookup) -> HttpFetcher {
        let config = common::config(&[("FETCH_ALLOW_PRIVATE", allow_private)]);
        let asked = self.0.clone();
        HttpFetcher::new(&config).with_lookup(Arc::new(lookup)).with_destination_guard(Arc::new(move |addr| {
            asked.lock().unwrap().push(addr);
            addr.ip().is_loopback()
        }))
    }

    fn take(&self) -> Vec<SocketAddr> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn names() -> TestLookup {
    TestLookup(vec![
        ("inside.test", "10.0.0.7".parse().unwrap()),
        ("metadata.test", "169.254.169.254".parse().unwrap()),
    ])
}

/// Moves this thread (and the current-thread runtime driving the test on it) into a new
/// network namespace with loopback up. Returns false where the process may not.
fn isolate_network() -> bool {
    // SAFETY: plain syscalls on this thread's own namespace and a socket it closes.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return false;
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut request: libc::ifreq = std::mem::zeroed();
        for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *to = *from as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK) as libc::c_short;
        let up = libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &request);
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        assert_eq!(up, 0, "bringing lo up in the new namespace: {error}");
    }
    true
}

fn note_isolation(isolated: bool) {
    if !isolated {
        eprintln!("not root: the guard test runs in the machine's own network namespace");
    }
}

#[tokio::test]
async fn with_private_addresses_open_the_guard_alone_refuses_them_before_connecting() {
    note_isolation(isolate_network());
    let guard = Recorder::default();
    let fetcher = guard.fetcher("true", names());
    for (url, destination) in [
        ("http://10.0.0.1/a.png", "10.0.0.1:80"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254:80"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "[fd00:ec2::254]:443"),
        ("http://inside.test:8080/a.png", "10.0.0.7:8080"),
        ("http://metadata.test/latest/", "169.254.169.254:80"),
    ] {
        let err = fetcher.fetch(&Url::parse(url).unwrap()).await.expect_err(url);
        // Had a socket been opened, the error would be a connection failure (fetch_failed).
        assert_eq!(err.code(), "url_not_allowed", "{url}: {err}");
        assert!(err.to_string().contains("destination guard refused"), "{url}: {err}");
        assert_eq!(guard.take(), [destination.parse::<SocketAddr>().unwrap()], "{url}");
    }
}

#[tokio::test]
async fn a_refused_destination_gets_no_connection_attempt() {
    note_isolation(isolate_network());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let recorded = asked.clone();
    let config = common::config(&[("FETCH_ALLOW_PRIVATE", "loopback")]);
    assert_eq!(config.fetch_allow_private, AddressPolicy::Loopback);
    let fetcher = HttpFetcher::new(&config).with_destination_guard(Arc::new(move |addr| {
        recorded.lock().unwrap().push(addr);
        false
    }));
    let url = Url::parse(&format!("http://{target}/a.png")).unwrap();
    let err = fetcher.fetch(&url).await.expect_err("the guard refuses everything");
    assert_eq!(err.code(), "url_not_allowed", "{err}");
    assert_eq!(*asked.lock().unwrap(), [target]);
    // The policy let 127.0.0.1 through and the guard stopped it: the listener saw nothing.
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(accepted.is_err(), "a connection reached the listener after the guard refused it");
}

#[tokio::test]
async fn every_redirect_hop_meets_the_guard() {
    note_isolation(isolate_network());
    let origin = Origin::start(|path| match path {
        "/to-literal" => Reply::Redirect("http://10.0.0.1/x.png".into()),
        "/to-name" => Reply::Redirect("http://metadata.test/latest/".into()),
        _ => Reply::Bytes("image/png", Bytes::from_static(b"\x89PNG\r\n\x1a\n")),
    })
    .await;
    let served: SocketAddr = origin.base.trim_start_matches("http://").parse().unwrap();
    let guard = Recorder::default();
    for (path, next) in [("/to-literal", "10.0.0.1:80"), ("/to-name", "169.254.169.254:80")] {
        // A fetcher per case, so no pooled connection hides a connect from the guard.
        let fetcher = guard.fetcher("true", names());
        let err = fetcher.fetch(&Url::parse(&origin.url(path)).unwrap()).await.expect_err(path);
        assert_eq!(err.code(), "url_not_allowed", "{path}: {err}");
        assert_eq!(guard.take(), [served, next.parse().unwrap()], "{path}");
    }
    // The guard is asked about allowed destinations too: it is on every connect.
    let fetched = guard.fetcher("true", names()).fetch(&Url::parse(&origin.url("/ok.png")).unwrap()).await.unwrap();
    assert_eq!(fetched.content_length, Some(8));
    assert_eq!(guard.take(), [served]);
    assert_eq!(origin.hits(), 3);
}
