//! A small S3 server for local development: s3s-fs serving a folder on 127.0.0.1.
//!
//! `local-s3 --root DIR [--port 9090] [--bucket NAME]... [--access-key K --secret-key S]`

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

struct Options {
    root: PathBuf,
    port: u16,
    buckets: Vec<String>,
    keys: Option<(String, String)>,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut root, mut port, mut buckets) = (None, 9090, Vec::new());
    let (mut access, mut secret) = (None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(value()?)),
            "--port" => port = value()?.parse().map_err(|_| "--port needs a number".to_owned())?,
            "--bucket" => buckets.push(value()?),
            "--access-key" => access = Some(value()?),
            "--secret-key" => secret = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let keys = match (access, secret) {
        (Some(a), Some(s)) => Some((a, s)),
        (None, None) => None,
        _ => return Err("--access-key and --secret-key go together".into()),
    };
    Ok(Options { root: root.ok_or("--root DIR is required")?, port, buckets, keys })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args().map_err(|e| format!("{e}\nusage: local-s3 --root DIR [--port N] [--bucket NAME]..."))?;
    std::fs::create_dir_all(&options.root)?;
    for bucket in &options.buckets {
        std::fs::create_dir_all(options.root.join(bucket))?;
    }
    let fs = s3s_fs::FileSystem::new(&options.root)
        .map_err(|e| format!("cannot serve {}: {e:?}", options.root.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    if let Some((access, secret)) = options.keys {
        builder.set_auth(SimpleAuth::from_single(access, secret));
    }
    let service = builder.build();
    let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
    println!("local-s3 serving {} on http://{}", options.root.display(), listener.local_addr()?);
    let http = ConnBuilder::new(TokioExecutor::new());
    let locks = testkit::key_locks::KeyLocks::default();
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let (service, locks) = (service.clone(), locks.clone());
        let serve = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let (service, lock) = (service.clone(), locks.for_request(&request));
            async move {
                let _held = match lock {
                    Some(lock) => Some(lock.lock_owned().await),
                    None => None,
                };
                hyper::service::Service::call(&service, request).await
            }
        });
        tokio::spawn(http.serve_connection(TokioIo::new(socket), serve).into_owned());
    }
}
