//! Signed gallery links: an expiry and an HMAC-SHA256 over it, with a key derived once per
//! execution environment from a KMS HMAC key.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use tokio::sync::OnceCell;

use crate::error::{IngestError, Result};
use crate::kms::Kms;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What `GenerateMac` signs to give the link key: fixed, so every environment derives the same.
pub const KEY_LABEL: &[u8] = b"image-ingest/gallery-links/v1";
/// The message a link's signature covers is this, then its expiry in Unix seconds.
const SIGNED_PREFIX: &str = "gallery-link:v1:";
/// A link's lifetime when `POST /gallery/links` gives none (12 hours).
pub const DEFAULT_TTL_SECS: u64 = 43_200;
/// The longest lifetime a link may ask for (7 days).
pub const MAX_TTL_SECS: u64 = 604_800;

/// The two query parameters every gallery link carries in signed mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Unix seconds after which the link stops working.
    pub expires: i64,
    /// Base64url HMAC-SHA256 of [`SIGNED_PREFIX`] and `expires`.
    pub signature: String,
}

impl Grant {
    /// `expires=…&signature=…`, to append to a gallery URL.
    pub fn query(&self) -> String {
        format!("expires={}&signature={}", self.expires, self.signature)
    }
}

/// Signs `expires` with `key`.
pub fn sign(key: &[u8], expires: i64) -> Grant {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{SIGNED_PREFIX}{expires}").as_bytes());
    Grant { expires, signature: URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()) }
}

/// Checks a link's `expires` and `signature` as given in its query: present, unexpired at
/// `now`, and signed with `key` (compared in constant time).
pub fn verify(key: &[u8], expires: Option<&str>, signature: Option<&str>, now: DateTime<Utc>) -> Result<Grant> {
    let forbidden = |why: &str| IngestError::Forbidden(format!("this gallery link {why}; ask for a new one"));
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(forbidden("is not signed"));
    };
    let at: i64 = expires
        .parse()
        .ok()
        .filter(|_| expires.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| forbidden("is not valid"))?;
    let claimed = URL_SAFE_NO_PAD.decode(signature).map_err(|_| forbidden("is not valid"))?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{SIGNED_PREFIX}{at}").as_bytes());
    mac.verify_slice(&claimed).map_err(|_| forbidden("is not valid"))?;
    if now.timestamp() >= at {
        return Err(forbidden("has expired"));
    }
    Ok(Grant { expires: at, signature: signature.to_owned() })
}

/// Who may see the gallery: anyone who reaches its routes, or holders of a signed link.
#[derive(Clone)]
pub enum Access {
    /// `GALLERY_KMS_KEY_ID` unset: the API's own access control is all there is.
    Open,
    /// Links must be signed with the key derived from this KMS key.
    Signed(Arc<KmsKey>),
}

/// A KMS HMAC key and the link key derived from it, once, on first use.
pub struct KmsKey {
    sdk: aws_config::SdkConfig,
    key_id: String,
    derived: OnceCell<[u8; 32]>,
}

impl Access {
    /// Open without a key id; signed with one. Builds no client until a link is checked.
    pub fn new(key_id: Option<String>, sdk: &aws_config::SdkConfig) -> Self {
        match key_id {
            None => Self::Open,
            Some(key_id) => Self::Signed(Arc::new(KmsKey { sdk: sdk.clone(), key_id, derived: OnceCell::new() })),
        }
    }

    /// The grant a request's query carries, checked before anything is listed: `None` when
    /// the gallery is open.
    pub async fn check(
        &self,
        expires: Option<&str>,
        signature: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>> {
        match self {
            Self::Open => Ok(None),
            Self::Signed(kms) => verify(kms.key().await?, expires, signature, now).map(Some),
        }
    }

    /// A new grant valid for `ttl_secs` from `now`; `None` when the gallery is open.
    pub async fn grant(&self, ttl_secs: u64, now: DateTime<Utc>) -> Result<Option<Grant>> {
        match self {
            Self::Open => Ok(None),
            Self::Signed(kms) => Ok(Some(sign(kms.key().await?, now.timestamp() + ttl_secs as i64))),
        }
    }
}

impl KmsKey {
    /// The link key: `GenerateMac(KEY_LABEL)` the first time, then from memory. Concurrent
    /// first requests make one call; a failure is not kept, so the next request tries again.
    async fn key(&self) -> Result<&[u8; 32]> {
        self.derived
            .get_or_try_init(|| async {
                let failed = |source| IngestError::SigningKey {
                    message: format!("the gallery's signing key could not be derived from KMS key {}", self.key_id),
                    source: Some(Arc::new(source)),
                };
                let mac =
                    Kms::new(&self.sdk).map_err(failed)?.generate_mac(&self.key_id, KEY_LABEL).await.map_err(failed)?;
                <[u8; 32]>::try_from(mac.as_slice()).map_err(|_| IngestError::SigningKey {
                    message: format!("KMS key {} did not give a 32-byte HMAC-SHA256", self.key_id),
                    source: None,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let key = [7u8; 32];
        let grant = sign(&key, 2_000);
        let ok = verify(&key, Some("2000"), Some(&grant.signature), at(1_999)).unwrap();
        assert_eq!(ok, grant);
        assert_eq!(grant.query(), format!("expires=2000&signature={}", grant.signature));
        let refused = |e: Option<&str>, s: Option<&str>, now| verify(&key, e, s, at(now)).unwrap_err();
        assert_eq!(
            refused(Some("2000"), Some(&grant.signature), 2_000).to_string(),
            "this gallery link has expired; ask for a new one"
        );
        for (expires, signature) in [
            (Some("2001"), Some(grant.signature.as_str())),
            (Some("+2000"), Some(grant.signature.as_str())),
            (Some("2000"), Some("AAAA")),
            (Some("2000"), Some("not base64!")),
            (Some("2000"), None),
            (None, Some(grant.signature.as_str())),
        ] {
            let err = refused(expires, signature, 1_000);
            assert_eq!((err.code(), err.http_status()), ("forbidden", 403), "{expires:?} {signature:?}");
        }
        let other = sign(&[8u8; 32], 2_000);
        assert_ne!(other.signature, grant.signature);
        assert!(verify(&key, Some("2000"), Some(&other.signature), at(1_000)).is_err());
    }

    #[test]
    fn the_signature_is_plain_hmac_sha256_of_the_expiry() {
        // A known key and expiry, checked against Python's hmac module.
        let grant = sign(b"Jefe", 1_767_225_600);
        assert_eq!(grant.signature, "HtoczztlzDDx2OvFM5tL-hm8RdQbAux2OfolSzhgU84");
    }
}
