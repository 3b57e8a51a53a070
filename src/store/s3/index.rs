//! The content index on S3: one small JSON object per entry, created with `If-None-Match: *`
//! and replaced only with `If-Match` on the version read, so S3 decides every race.

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::warn;

use super::{S3Store, is_precondition_failed, retry_conflicts, status};
use crate::error::{IngestError, Result};
use crate::store::{ContentIndex, IndexEntry};

/// What an entry holds.
#[derive(Serialize, Deserialize)]
struct Body {
    key: String,
}

#[async_trait]
impl ContentIndex for S3Store {
    async fn read_entry(&self, entry_key: &str) -> Result<Option<IndexEntry>> {
        let request = self.client.get_object().bucket(&self.bucket).key(entry_key);
        let got = match request.set_expected_bucket_owner(self.expected_owner.clone()).send().await {
            Ok(got) => got,
            Err(err) if status(&err) == Some(404) && err.code() != Some("NoSuchBucket") => return Ok(None),
            Err(err) => return Err(self.write_error("GetObject", entry_key, err)),
        };
        let version = got.e_tag().unwrap_or_default().to_owned();
        let bytes =
            got.body.collect().await.map_err(|e| IngestError::storage_from(format!("GetObject {entry_key}"), e))?;
        // An entry that is not one (written by hand, cut off) names no key: it is replaced.
        let key = serde_json::from_slice::<Body>(&bytes.into_bytes()).map(|b| b.key).unwrap_or_default();
        Ok(Some(IndexEntry { key, version }))
    }

    async fn write_entry(&self, entry_key: &str, key: &str, replacing: Option<&str>) -> Result<bool> {
        let body = serde_json::to_vec(&Body { key: key.to_owned() }).unwrap_or_default();
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body));
        let result = retry_conflicts(|| {
            let put = self.client.put_object().bucket(&self.bucket).key(entry_key);
            let put = match replacing {
                Some(version) => put.if_match(version),
                None => put.if_none_match("*"),
            };
            let request = put
                .body(ByteStream::from(body.clone()))
                .content_type("application/json")
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&checksum)
                .set_expected_bucket_owner(self.expected_owner.clone());
            async move { request.send().await.map(|_| ()) }
        })
        .await;
        let err = match result {
            Ok(()) => return Ok(true),
            Err(err) => err,
        };
        // 412: another writer created or replaced it first. 404 on `If-Match`: the entry is
        // gone (moto answers so, S3 leaves it unsaid, s3s-fs says 412): lost all the same.
        if is_precondition_failed(&err) || (replacing.is_some() && err.code() == Some("NoSuchKey")) {
            return Ok(false);
        }
        // The answer may have been lost after S3 wrote it: our entry there is a win.
        if err.code() != Some("NoSuchBucket")
            && let Ok(Some(entry)) = self.read_entry(entry_key).await
            && entry.key == key
        {
            warn!(entry = entry_key, error = %aws_sdk_s3::error::DisplayErrorContext(&err),
                "the index write's answer was lost, but the entry is written");
            return Ok(true);
        }
        Err(self.write_error("PutObject", entry_key, err))
    }

    async fn discard_copy(&self, key: &str, sha256_hex: &str) -> Result<()> {
        let Some(head) = self.head(key, false).await? else { return Ok(()) };
        if head.sha256.as_deref() != Some(sha256_hex) {
            return Ok(());
        }
        // If-Match: only the version that holds these bytes; the role allows no other delete
        // under KEY_PREFIX (template.yaml).
        let request = self.client.delete_object().bucket(&self.bucket).key(key).if_match(format!("\"{}\"", head.etag));
        match request.set_expected_bucket_owner(self.expected_owner.clone()).send().await {
            Ok(_) => Ok(()),
            Err(err) if is_precondition_failed(&err) || status(&err) == Some(404) => Ok(()),
            Err(err) => Err(self.write_error("DeleteObject", key, err)),
        }
    }
}
