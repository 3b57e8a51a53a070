//! A gallery page's 200 presigned GETs: one SDK presign per key against one `presign_gets`
//! batch (the SDK for the first, aws-sigv4 for the rest). `make bench-presign`.
//! On the 2-core dev box (2026-12-05): 5.59 ms (28 µs a URL) against 1.17 ms (5.8 µs).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_ingest::Config;
use image_ingest::store::{Presigner, S3Store};

/// URLs on a full day page: 100 tiles, each an image and its original.
const URLS: usize = 200;
const TTL: Duration = Duration::from_secs(300);

/// A store as Lambda builds one: temporary credentials, a regional virtual-hosted endpoint.
fn store() -> S3Store {
    let credentials = Credentials::new("ASIAEXAMPLE", "secret", Some("session-token".into()), None, "bench");
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build();
    let config = Config::from_lookup(|k| (k == "BUCKET_NAME").then(|| "pics".to_owned())).expect("config");
    S3Store::new(&sdk, &config)
}

fn keys() -> Vec<String> {
    (0..URLS).map(|i| format!("images/2026/11/24/12{:04}/photo {i}.jpg", i % 6000)).collect()
}

fn presign(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (store, keys) = (store(), keys());
    let mut group = c.benchmark_group("presign_200");
    group.throughput(Throughput::Elements(URLS as u64));
    group.bench_function("sdk_each", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for key in &keys {
                    store.presign_get(key, TTL).await.expect("presign");
                }
            })
        })
    });
    group.bench_function("presign_gets", |b| {
        b.iter(|| runtime.block_on(store.presign_gets(&keys, TTL)).expect("presign"))
    });
    group.finish();
}

criterion_group!(benches, presign);
criterion_main!(benches);
