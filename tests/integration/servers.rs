//! The core paths against two S3 implementations we did not write: s3s-fs in-process and
//! moto_server. Each check runs once per server; a missing server fails, never skips.

use crate::common;

use aws_sdk_s3::types::ChecksumMode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use common::moto::Moto;
use common::origin::{Origin, Reply};
use common::*;
use image_ingest::App;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

enum Server {
    S3s(S3Server),
    Moto(Moto),
}

impl Server {
    async fn s3s_fs() -> Self {
        Self::S3s(S3Server::start().await)
    }

    async fn moto() -> Self {
        let moto = Moto::start().await;
        moto.create_bucket().await;
        Self::Moto(moto)
    }

    fn app(&self) -> App {
        match self {
            Self::S3s(server) => server.app(&[]),
            Self::Moto(moto) => moto.app(),
        }
    }

    fn client(&self) -> aws_sdk_s3::Client {
        match self {
            Self::S3s(server) => server.client(),
            Self::Moto(moto) => moto.client(),
        }
    }

    async fn keys(&self) -> Vec<String> {
        let listed = self.client().list_objects_v2().bucket(BUCKET).send().await.unwrap();
        let mut keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .filter(|k| !k.starts_with(FACTS))
            .collect();
        keys.sort();
        keys
    }

    async fn open_uploads(&self) -> Vec<String> {
        match self {
            Self::S3s(server) => server.open_uploads(),
            Self::Moto(moto) => {
                let listed = moto.client().list_multipart_uploads().bucket(BUCKET).send().await.unwrap();
                listed.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect()
            }
        }
    }

    /// Reads `key` back and checks that its bytes hash to its `sha256` metadata; returns the
    /// bytes, the digest and the checksum HeadObject reports with ChecksumMode enabled.
    async fn read_back(&self, key: &str) -> (Bytes, String, Option<String>) {
        let client = self.client();
        let object = client.get_object().bucket(BUCKET).key(key).send().await.unwrap();
        let sha256 = object.metadata().and_then(|m| m.get("sha256")).cloned().unwrap_or_default();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha256, "{key}: the bytes match their sha256 metadata");
        let head =
            client.head_object().bucket(BUCKET).key(key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        (bytes, sha256, head.checksum_sha256().map(str::to_owned))
    }
}

/// Runs one check against each server, as two tests.
macro_rules! on_both_servers {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test]
            async fn s3s_fs() {
                super::$check(super::Server::s3s_fs().await).await;
            }

            #[tokio::test]
            async fn moto() {
                super::$check(super::Server::moto().await).await;
            }
        }
    )*};
}

on_both_servers!(sample_events_store_objects_that_read_back_with_their_checksums, a_20_mib_url_object_streams_in_parts);

/// The sample events whose items are stored, and the keys they make together.
const SAMPLES: [&str; 11] = [
    "apigw-v2-raw-png.json",
    "apigw-v2-raw-query-name.json",
    "apigw-v1-json-items.json",
    "apigw-v1-raw-base-path.json",
    "apigw-v2-multipart.json",
    "apigw-v2-path-traversal.json",
    "direct-bare-item.json",
    "direct-items.json",
    "eventbridge-custom.json",
    "stepfunctions-batch-jsonl.json",
    "stepfunctions-batch-csv.json",
];

async fn sample_events_store_objects_that_read_back_with_their_checksums(server: Server) {
    let app = server.app();
    let mut reported = Vec::new();
    for sample in SAMPLES {
        let answer = invoke(&app, fixture(sample)).await.unwrap_or_else(|e| panic!("{sample}: {e:?}"));
        let body = match answer.get("statusCode") {
            Some(status) => {
                assert_eq!(status, 201, "{sample}: {answer}");
                serde_json::from_str::<Value>(answer["body"].as_str().unwrap()).unwrap()
            }
            None => answer,
        };
        for stored in body["stored"].as_array().unwrap() {
            assert_eq!(stored["bucket"], BUCKET, "{sample}");
            reported.push(stored.clone());
        }
    }
    let mut keys: Vec<String> = reported.iter().map(|s| s["key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(server.keys().await, keys, "every stored entry is in the bucket, and nothing else");
    for stored in &reported {
        let key = stored["key"].as_str().unwrap();
        let (bytes, sha256, checksum) = server.read_back(key).await;
        assert_eq!(stored["sha256"], sha256.as_str(), "{key}");
        assert_eq!(stored["size"], bytes.len(), "{key}");
        let expected = B64.encode(Sha256::digest(&bytes));
        assert_eq!(checksum.as_deref(), Some(expected.as_str()), "{key}: the verified checksum is kept");
    }
}

async fn a_20_mib_url_object_streams_in_parts(server: Server) {
    let body = Bytes::from(png::sized(4, 20 * 1024 * 1024 + 100));
    let served = body.clone();
    let origin = Origin::start(move |_| Reply::Bytes("image/png", served.clone())).await;
    let item = json!({"url": origin.url("/scans/page.png"), "posted_at": "2026-11-24T20:30:15Z"});
    let app = server.app();
    let answer = invoke(&app, item.clone()).await.unwrap_or_else(|e| panic!("{e:?}"));
    let stored = &answer["stored"][0];
    let key = "2026/11/24/203015/page.png";
    let sha256 = hex::encode(Sha256::digest(&body));
    assert_eq!(stored["key"], key);
    assert_eq!(stored["status"], "created");
    assert_eq!(stored["size"], body.len());
    assert_eq!(stored["sha256"], sha256.as_str());
    let (read, recorded, _) = server.read_back(key).await;
    assert!(read == body, "the object read back differs");
    assert_eq!(recorded, sha256);
    assert_eq!(server.open_uploads().await, Vec::<String>::new());

    let again = invoke(&app, item).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(again["stored"][0]["status"], "existing");
    assert_eq!(server.keys().await, [key]);
    assert_eq!(server.open_uploads().await, Vec::<String>::new());
}
