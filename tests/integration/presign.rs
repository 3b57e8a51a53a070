//! The gallery's batch presign: the URLs signed without the SDK are the SDK's own, and both
//! servers serve them (s3s-fs checks every signature; moto is an independent reading of S3).

use crate::common;

use std::time::Duration;

use aws_config::SdkConfig;
use common::moto::Moto;
use common::{BUCKET, S3Server, SECRET_KEY, config, sdk_config, sdk_config_with_token};
use image_ingest::store::{Presigned, Presigner, S3Store};

/// Keys that need every kind of encoding the SDK does in a path.
const HOSTILE: [&str; 7] = [
    "2026/11/24/120000/a b.png",
    "2026/11/24/120000/\"><img src=x onerror=alert(1)>.png",
    "a+b",
    "ü.png",
    "x!1x1!-",
    "%41",
    "deep/a=b&c;d,e:f@g$h'(i)*[j]{k}|l^m`n~o.png",
];

fn keys() -> Vec<String> {
    HOSTILE.iter().map(|k| k.to_string()).collect()
}

fn store(sdk: &SdkConfig, vars: &[(&str, &str)]) -> S3Store {
    S3Store::new(sdk, &config(vars))
}

/// Stores each key with its own name as its bytes.
async fn put_all(client: &aws_sdk_s3::Client) {
    for key in HOSTILE {
        client.put_object().bucket(BUCKET).key(key).body(key.as_bytes().to_vec().into()).send().await.unwrap();
    }
}

/// GETs a presigned URL with its headers: the status and the body.
async fn fetch(presigned: &Presigned) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new().get(&presigned.url);
    for (name, value) in &presigned.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

/// Each key's batch URL serves its bytes; the first is the SDK's, the rest are signed locally.
async fn assert_served(store: &S3Store) {
    let presigned = store.presign_gets(&keys(), Duration::from_secs(60)).await.unwrap();
    assert_eq!(presigned.len(), HOSTILE.len());
    for (key, presigned) in HOSTILE.iter().zip(&presigned) {
        assert_eq!(fetch(presigned).await, (200, key.as_bytes().to_vec()), "{key}: {}", presigned.url);
    }
}

/// A key signed twice in one batch: the SDK's URL, then the local one, at the same time.
async fn sdk_and_local(store: &S3Store, key: &str) -> (Presigned, Presigned) {
    let pair = store.presign_gets(&[key.to_owned(), key.to_owned()], Duration::from_secs(300)).await.unwrap();
    let [sdk, local] = <[Presigned; 2]>::try_from(pair).unwrap();
    (sdk, local)
}

/// s3s-fs takes any session token but signs the query as it came, so a token left out of the
/// local signature would be refused; a different token gives a different signature.
#[tokio::test]
async fn the_session_token_is_signed_into_the_query() {
    let server = S3Server::start().await;
    put_all(&server.client()).await;
    let store = store(&sdk_config_with_token(&server.endpoint, Some("tok+en/=")), &[]);
    assert_served(&store).await;
    let (_, local) = sdk_and_local(&store, "a b.png").await;
    assert!(local.url.ends_with("&X-Amz-Security-Token=tok%2Ben%2F%3D"), "{}", local.url);

    let other = sdk_and_local(&store_with_token(&server.endpoint, "another"), "a b.png").await.1;
    let signature = |url: &str| url.split("X-Amz-Signature=").nth(1).unwrap()[..64].to_owned();
    assert_ne!(signature(&local.url), signature(&other.url));
}

fn store_with_token(endpoint: &str, token: &str) -> S3Store {
    store(&sdk_config_with_token(endpoint, Some(token)), &[])
}

#[tokio::test]
async fn s3s_fs_serves_every_batch_url_and_refuses_a_wrong_secret() {
    let server = S3Server::start().await;
    put_all(&server.client()).await;
    assert_served(&store(&server.sdk(SECRET_KEY), &[])).await;

    let forged = store(&server.sdk("not-the-secret"), &[]).presign_gets(&keys(), Duration::from_secs(60)).await;
    for presigned in forged.unwrap() {
        assert_eq!(fetch(&presigned).await.0, 403, "{}", presigned.url);
    }
}

#[tokio::test]
async fn moto_serves_every_batch_url() {
    let moto = Moto::start().await;
    moto.create_bucket().await;
    put_all(&moto.client()).await;
    assert_served(&store(&sdk_config(&moto.endpoint, SECRET_KEY), &[])).await;
}

/// moto serves an expired URL (it checks no signatures unless IAM is on), so only s3s-fs
/// can show the expiry is signed as given.
#[tokio::test]
async fn an_expired_batch_url_is_refused() {
    let server = S3Server::start().await;
    put_all(&server.client()).await;
    let batch = store(&server.sdk(SECRET_KEY), &[]).presign_gets(&keys(), Duration::from_secs(1)).await.unwrap();
    assert!(batch.iter().all(|p| p.url.contains("&X-Amz-Expires=1&")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    for presigned in batch {
        assert_eq!(fetch(&presigned).await.0, 403, "{}", presigned.url);
    }
}
