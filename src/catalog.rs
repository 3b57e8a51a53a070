//! Reading back and large uploads: listings by date path, presigned downloads, and presigned
//! uploads for objects too large for a request body.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::content::{ContentTypePolicy, declared};
use crate::error::{IngestError, Result};
use crate::ingest::{check_size, key_time};
use crate::key;
use crate::request::parse_posted_at;
use crate::store::{CatalogStore, ListedObject};

/// Listed when `limit` is not given, and the most a page holds.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u32 = 1000;

/// `GET /images` query parameters, as given.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// `YYYY`, `YYYY/MM`, `YYYY/MM/DD` or `YYYY/MM/DD/HHMMSS`.
    pub date: Option<String>,
    /// Any sub-prefix, relative to `KEY_PREFIX` (or already starting with it).
    pub prefix: Option<String>,
    /// Page size.
    pub limit: Option<String>,
    /// The previous page's `next_token`.
    pub next_token: Option<String>,
    /// Only `/` is supported: list the next level of the date tree.
    pub delimiter: Option<String>,
}

/// One page of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Objects on this page.
    pub objects: Vec<ListedObject>,
    /// The next level (only with `delimiter=/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    /// Opaque; pass it back as `next_token` for the next page. `null` on the last page.
    pub next_token: Option<String>,
}

/// `POST /uploads` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The name to store under (sanitised, extension fitted to `content_type`).
    pub file_name: String,
    /// The type the client will send; signed into the URL.
    pub content_type: String,
    /// The exact byte length the client will send; signed into the URL.
    pub size: u64,
    /// The time the keys are dated by (RFC 3339), as an ingest item's `posted_at`.
    #[serde(default)]
    pub posted_at: Option<String>,
}

/// Where and how to PUT a large object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadTicket {
    /// Where the object lands once verified (when its bytes are of the declared type and the
    /// key is free; otherwise the extension or a `-{sha8}` suffix differ).
    pub key: String,
    /// Where the client puts it: under `UPLOAD_PREFIX`, with the same date path and name.
    pub upload_key: String,
    /// The presigned URL.
    pub url: String,
    /// Always `PUT`.
    pub method: &'static str,
    /// Headers to send exactly as given.
    pub headers: BTreeMap<String, String>,
    /// When the URL stops working, RFC 3339.
    pub expires_at: String,
}

/// Read paths over the same bucket and prefix as ingest.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
    key_prefix: String,
    upload_prefix: String,
    ttl: Duration,
    max_object_bytes: u64,
    allowed: ContentTypePolicy,
}

impl Catalog {
    /// Read paths on `store` with the settings of `config`.
    pub fn new(store: Arc<dyn CatalogStore>, config: &Config) -> Self {
        Self {
            store,
            key_prefix: config.key_prefix.clone(),
            upload_prefix: config.upload_prefix.clone(),
            ttl: config.presign_ttl,
            max_object_bytes: config.max_object_bytes,
            allowed: config.allowed_content_types.clone(),
        }
    }

    /// Lists one page under a date path or prefix.
    pub async fn list(&self, query: ListQuery) -> Result<Page> {
        let prefix = match (&query.date, &query.prefix) {
            (Some(_), Some(_)) => return Err(invalid("give either date or prefix, not both")),
            (Some(date), None) => format!("{}{}", self.key_prefix, date_path(date)?),
            (None, Some(p)) if p.starts_with(&self.key_prefix) => p.clone(),
            (None, Some(p)) => format!("{}{p}", self.key_prefix),
            (None, None) => self.key_prefix.clone(),
        };
        let limit = match query.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| invalid(&format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?,
        };
        let delimiter = match query.delimiter.as_deref() {
            None | Some("") => None,
            Some("/") => Some("/"),
            Some(_) => return Err(invalid("only delimiter=/ is supported")),
        };
        self.store.ensure_bucket().await?;
        let listing = self.store.list(&prefix, delimiter, limit, query.next_token.as_deref()).await?;
        Ok(Page {
            objects: listing.objects,
            prefixes: delimiter.map(|_| listing.prefixes),
            next_token: listing.next_token,
        })
    }

    /// A presigned GET for a stored key; `not_found` for a missing key or one outside `KEY_PREFIX`.
    pub async fn download(&self, key: &str) -> Result<String> {
        if key.is_empty() || !key.starts_with(&self.key_prefix) {
            return Err(IngestError::NotFound(format!("no object {key}")));
        }
        self.store.ensure_bucket().await?;
        if self.store.identify(key).await?.is_none() {
            return Err(IngestError::NotFound(format!("no object {key}")));
        }
        Ok(self.store.presign_get(key, self.ttl).await?.url)
    }

    /// A presigned conditional PUT into the staging area, for the declared type and size. Its
    /// keys are dated as every key is: by `posted_at`, else `event_time` (the request's), else
    /// `now`, so the same request gets the same keys again. The URL is signed at `now`. The
    /// object is verified and promoted when S3 notifies its creation.
    pub async fn upload(
        &self,
        request: UploadRequest,
        event_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<UploadTicket> {
        let posted_at = request.posted_at.as_deref().map(parse_posted_at).transpose()?;
        let at = key_time(posted_at, event_time, now)?;
        let content_type = request.content_type.trim().to_ascii_lowercase();
        // The allow-list's own rule covers SVG: `image/*` does not allow it, a name does.
        if !self.allowed.allows(&content_type) {
            return Err(IngestError::UnsupportedMediaType(format!("content type {content_type} is not allowed")));
        }
        if request.size == 0 {
            return Err(IngestError::EmptyObject);
        }
        check_size(request.size, self.max_object_bytes)?;
        let kind = declared(&content_type)
            .ok_or_else(|| IngestError::UnsupportedMediaType(format!("content type {content_type} is not known")))?;
        let name =
            key::usable_name(&request.file_name, &kind).ok_or_else(|| invalid("file_name has no usable characters"))?;
        let upload_key = key::object_key(&self.upload_prefix, at, &name);
        self.store.ensure_bucket().await?;
        let presigned = self.store.presign_put(&upload_key, kind.mime, request.size, self.ttl).await?;
        let expires = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        Ok(UploadTicket {
            key: key::object_key(&self.key_prefix, at, &name),
            upload_key,
            url: presigned.url,
            method: "PUT",
            headers: presigned.headers.into_iter().collect(),
            expires_at: expires.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
    }
}

/// Validates `YYYY[/MM[/DD[/HHMMSS]]]` and returns it as a key prefix ending in `/`.
pub fn date_path(date: &str) -> Result<String> {
    let bad = || invalid(&format!("date {date:?} is not YYYY, YYYY/MM, YYYY/MM/DD or YYYY/MM/DD/HHMMSS"));
    let parts: Vec<&str> = date.trim_matches('/').split('/').collect();
    let widths = [4, 2, 2, 6];
    if parts.len() > widths.len()
        || parts.iter().zip(widths).any(|(p, w)| p.len() != w || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let number = |i: usize| parts.get(i).map(|p| p.parse::<u32>().unwrap_or(0));
    let year = number(0).ok_or_else(bad)? as i32;
    let month = number(1).unwrap_or(1);
    let day = number(2).unwrap_or(1);
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(bad)?;
    if let Some(time) = parts.get(3) {
        NaiveTime::parse_from_str(time, "%H%M%S").map_err(|_| bad())?;
    }
    Ok(format!("{}/", parts.join("/")))
}

fn invalid(message: &str) -> IngestError {
    IngestError::InvalidRequest(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_paths_are_validated() {
        assert_eq!(date_path("2026").unwrap(), "2026/");
        assert_eq!(date_path("2026/11").unwrap(), "2026/11/");
        assert_eq!(date_path("2026/11/24").unwrap(), "2026/11/24/");
        assert_eq!(date_path("2026/11/24/203015").unwrap(), "2026/11/24/203015/");
        assert_eq!(date_path("2028/02/29").unwrap(), "2028/02/29/");
        for bad in [
            "",
            "26",
            "2026/13",
            "2026/13/40",
            "2026/02/30",
            "2026/11/24/256060",
            "2026/1/2",
            "2026/11/24/20",
            "x",
            "2026/11/24/203015/1",
        ] {
            assert_eq!(date_path(bad).unwrap_err().code(), "invalid_request", "{bad:?}");
        }
    }
}
