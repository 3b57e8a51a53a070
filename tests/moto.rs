//! The same S3 paths against an independent implementation: moto_server, started per test.
//! Under CI a missing moto_server fails; elsewhere those tests say so and skip.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use image_ingest::App;
use serde_json::json;

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto_server on a free loopback port, or `None` outside CI when it is not installed.
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let spawned = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var("CI").is_err() => {
                eprintln!("skipping: moto_server not available ({e}); `make test` installs it");
                return None;
            }
            Err(e) => panic!("moto_server is required under CI: {e}"),
        };
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(moto)
    }

    fn client(&self) -> aws_sdk_s3::Client {
        let conf =
            aws_sdk_s3::config::Builder::from(&sdk_config(&self.endpoint, SECRET_KEY)).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    async fn create_bucket(&self) {
        self.client()
            .create_bucket()
            .bucket(BUCKET)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    fn app(&self) -> App {
        App::new(&config(&[]), &sdk_config(&self.endpoint, SECRET_KEY))
    }
}

#[tokio::test]
async fn moto_stores_checks_and_deduplicates() {
    let Some(moto) = Moto::start().await else { return };
    moto.create_bucket().await;
    let app = moto.app();
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!(status, 201, "{body}");
    let object = moto.client().get_object().bucket(BUCKET).key("2026/11/24/203015/tabby.png").send().await.unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    let sha = body["stored"][0]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(object.metadata().unwrap()["sha256"], sha);
    let tabby = B64.decode(fixture("apigw-v2-raw-png.json")["body"].as_str().unwrap()).unwrap();
    assert_eq!(&object.body.collect().await.unwrap().into_bytes()[..], &tabby[..]);

    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["stored"][0]["status"].as_str()), (201, Some("existing")), "{body}");

    let other = json!({"data": B64.encode(png(9)), "file_name": "tabby.png", "posted_at": "2026-11-24T20:30:15Z"});
    let moved = invoke(&app, other).await.unwrap();
    let key = moved["stored"][0]["key"].as_str().unwrap();
    assert!(key.starts_with("2026/11/24/203015/tabby-") && key.ends_with(".png"), "{key}");
}

#[tokio::test]
async fn moto_missing_bucket_and_bucket_deleted_mid_run() {
    let Some(moto) = Moto::start().await else { return };
    let app = moto.app();
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{body}");

    // A fresh environment sees the bucket once it exists.
    moto.create_bucket().await;
    let app = moto.app();
    assert_eq!(invoke_api(&app, fixture("apigw-v2-raw-png.json")).await.0, 201);
    let client = moto.client();
    client.delete_object().bucket(BUCKET).key("2026/11/24/203015/tabby.png").send().await.unwrap();
    client.delete_bucket().bucket(BUCKET).send().await.unwrap();

    // The cached check says yes, the write says NoSuchBucket and invalidates it...
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-query-name.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{body}");
    // ...so the next request is refused at HeadBucket, and an item is never written.
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{body}");
}
