//! Configuration, read once from the environment at start-up.

use std::time::Duration;

use thiserror::Error;

use url::Url;

use crate::content::ContentTypePolicy;
use crate::fetch::AddressPolicy;
use crate::rendition::RenditionFormat;
use crate::request::parse_url;

/// Why the configuration could not be read. Start-up stops with this message.
#[derive(Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is required but not set")]
    Missing(&'static str),
    /// A variable is set but its value cannot be used.
    #[error("{name} has an invalid value {value:?}: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What it was set to.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
}

/// The function's settings; names match `template.yaml` and the contract.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BUCKET_NAME`: the one target bucket.
    pub bucket: String,
    /// `KEY_PREFIX`: prepended to every key as given.
    pub key_prefix: String,
    /// `MAX_OBJECT_BYTES`: hard cap per object.
    pub max_object_bytes: u64,
    /// `ALLOWED_CONTENT_TYPES`: which sniffed types are stored.
    pub allowed_content_types: ContentTypePolicy,
    /// `FETCH_TIMEOUT_MS`: whole-fetch timeout per URL.
    pub fetch_timeout: Duration,
    /// `FETCH_MAX_REDIRECTS`.
    pub fetch_max_redirects: u32,
    /// `FETCH_ALLOW_PRIVATE`: which destinations URLs may reach (`false`, `loopback`, `true`).
    pub fetch_allow_private: AddressPolicy,
    /// `FETCH_MAX_PER_HOST`: URL fetches to one host at once, per process.
    pub fetch_max_per_host: usize,
    /// `EXPECTED_BUCKET_OWNER`: sent on every S3 request the function makes, and signed into
    /// upload tickets; presigned GETs leave it out (a browser could not send it).
    pub expected_bucket_owner: Option<String>,
    /// `SCHEDULE_URLS`: fetched on a scheduled event that carries no request.
    pub schedule_urls: Vec<Url>,
    /// `S3_FORCE_PATH_STYLE`: path-style addressing for local S3 servers.
    pub force_path_style: bool,
    /// `BATCH_CONCURRENCY`: records or items processed at once.
    pub batch_concurrency: usize,
    /// `PRESIGN_TTL_SECS`: lifetime of presigned URLs.
    pub presign_ttl: Duration,
    /// `UPLOAD_PREFIX`: where presigned uploads and dropped files wait to be verified.
    pub upload_prefix: String,
    /// `MAX_PIXELS`: most pixels an image header may declare.
    pub max_pixels: u64,
    /// `STRIP_LOCATION`: remove GPS location from EXIF before storing.
    pub strip_location: bool,
    /// `RENDITIONS`: longest-edge sizes of the renditions made of every raster image,
    /// ascending; empty when unset (none are made).
    pub renditions: Vec<u32>,
    /// `RENDITION_FORMAT`: how renditions are encoded.
    pub rendition_format: RenditionFormat,
    /// `RENDITION_PREFIX`: where renditions go.
    pub rendition_prefix: String,
    /// `FACTS_PREFIX`: where the gallery's facts markers go (one empty object per original,
    /// its facts in its key); unset, none are written and gallery tiles are looked up.
    pub facts_prefix: Option<String>,
    /// `GALLERY_KMS_KEY_ID`: the HMAC key gallery links are signed with; unset, the gallery
    /// is open to whoever reaches its routes.
    pub gallery_kms_key_id: Option<String>,
    /// `DEDUPE`: keep each distinct content once, whatever its key.
    pub dedupe: bool,
    /// `INDEX_PREFIX`: where the content index lives.
    pub index_prefix: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let bucket = get("BUCKET_NAME").ok_or(ConfigError::Missing("BUCKET_NAME"))?;
        let key_prefix = get("KEY_PREFIX").unwrap_or_default();
        if key_prefix.starts_with('/') {
            return Err(invalid("KEY_PREFIX", &key_prefix, "S3 keys must not start with '/'"));
        }
        let allowed = get("ALLOWED_CONTENT_TYPES").unwrap_or_else(|| "image/*".into());
        let allowed_content_types =
            ContentTypePolicy::parse(&allowed).map_err(|reason| invalid("ALLOWED_CONTENT_TYPES", &allowed, &reason))?;
        let batch_concurrency: usize = number(&get, "BATCH_CONCURRENCY", 10)?;
        if batch_concurrency == 0 {
            return Err(invalid("BATCH_CONCURRENCY", "0", "must be at least 1"));
        }
        let max_object_bytes: u64 = number(&get, "MAX_OBJECT_BYTES", 100 * 1024 * 1024)?;
        // A streamed object's sha256 metadata is written by CopyObject, which stops at 5 GiB.
        if !(1..=5 << 30).contains(&max_object_bytes) {
            return Err(invalid(
                "MAX_OBJECT_BYTES",
                &max_object_bytes.to_string(),
                "must be from 1 to 5368709120 (5 GiB)",
            ));
        }
        let fetch_timeout_ms: u64 = number(&get, "FETCH_TIMEOUT_MS", 15_000)?;
        if fetch_timeout_ms == 0 {
            return Err(invalid("FETCH_TIMEOUT_MS", "0", "must be at least 1"));
        }
        let upload_prefix = get("UPLOAD_PREFIX").unwrap_or_else(|| "incoming/".into());
        if let Err(reason) = separate_prefixes(&upload_prefix, &key_prefix) {
            return Err(invalid("UPLOAD_PREFIX", &upload_prefix, &reason));
        }
        let presign_ttl_secs: u64 = number(&get, "PRESIGN_TTL_SECS", 300)?;
        if !(1..=604_800).contains(&presign_ttl_secs) {
            return Err(invalid(
                "PRESIGN_TTL_SECS",
                &presign_ttl_secs.to_string(),
                "must be from 1 to 604800 (7 days)",
            ));
        }
        let fetch_max_per_host: usize = number(&get, "FETCH_MAX_PER_HOST", 10)?;
        if fetch_max_per_host == 0 {
            return Err(invalid("FETCH_MAX_PER_HOST", "0", "must be at least 1"));
        }
        let max_pixels: u64 = number(&get, "MAX_PIXELS", 100_000_000)?;
        if max_pixels == 0 {
            return Err(invalid("MAX_PIXELS", "0", "must be at least 1"));
        }
        let renditions = match get("RENDITIONS") {
            Some(list) => rendition_sizes(&list).map_err(|reason| invalid("RENDITIONS", &list, &reason))?,
            None => Vec::new(),
        };
        let format = get("RENDITION_FORMAT").unwrap_or_else(|| "webp".into());
        let rendition_format = RenditionFormat::parse(&format)
            .ok_or_else(|| invalid("RENDITION_FORMAT", &format, "expected webp or jpeg"))?;
        let rendition_prefix = get("RENDITION_PREFIX").unwrap_or_else(|| "renditions/".into());
        if let Err(reason) = separate_prefixes(&rendition_prefix, &key_prefix) {
            return Err(invalid("RENDITION_PREFIX", &rendition_prefix, &reason));
        }
        if rendition_prefix.starts_with(&upload_prefix) || upload_prefix.starts_with(&rendition_prefix) {
            let reason = format!("must not overlap UPLOAD_PREFIX {upload_prefix:?}: renditions would be promoted");
            return Err(invalid("RENDITION_PREFIX", &rendition_prefix, &reason));
        }
        let facts_prefix = get("FACTS_PREFIX");
        if let Some(facts) = &facts_prefix {
            if let Err(reason) = separate_prefixes(facts, &key_prefix) {
                return Err(invalid("FACTS_PREFIX", facts, &reason));
            }
            for (name, other) in [("UPLOAD_PREFIX", &upload_prefix), ("RENDITION_PREFIX", &rendition_prefix)] {
                if facts.starts_with(other.as_str()) || other.starts_with(facts.as_str()) {
                    return Err(invalid("FACTS_PREFIX", facts, &format!("must not overlap {name} {other:?}")));
                }
            }
        }
        // The content index: apart from every other prefix, or its entries would be stored,
        // promoted or rendered as images (and images taken for entries).
        let index_prefix = get("INDEX_PREFIX").unwrap_or_else(|| "index/".into());
        if let Err(reason) = separate_prefixes(&index_prefix, &key_prefix) {
            return Err(invalid("INDEX_PREFIX", &index_prefix, &reason));
        }
        let others = [("UPLOAD_PREFIX", Some(&upload_prefix)), ("RENDITION_PREFIX", Some(&rendition_prefix))];
        for (name, other) in others.into_iter().chain([("FACTS_PREFIX", facts_prefix.as_ref())]) {
            let Some(other) = other else { continue };
            if index_prefix.starts_with(other.as_str()) || other.starts_with(&index_prefix) {
                let reason = format!("must not overlap {name} {other:?}");
                return Err(invalid("INDEX_PREFIX", &index_prefix, &reason));
            }
        }
        let dedupe = flag(&get, "DEDUPE")?;
        Ok(Self {
            bucket,
            key_prefix,
            max_object_bytes,
            allowed_content_types,
            fetch_timeout: Duration::from_millis(fetch_timeout_ms),
            fetch_max_redirects: number(&get, "FETCH_MAX_REDIRECTS", 5)?,
            fetch_allow_private: address_policy(&get, "FETCH_ALLOW_PRIVATE")?,
            fetch_max_per_host,
            expected_bucket_owner: get("EXPECTED_BUCKET_OWNER"),
            schedule_urls: get("SCHEDULE_URLS")
                .map(|v| {
                    v.split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(|u| parse_url(u).map_err(|e| invalid("SCHEDULE_URLS", u, &e.to_string())))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            force_path_style: flag(&get, "S3_FORCE_PATH_STYLE")?,
            batch_concurrency,
            presign_ttl: Duration::from_secs(presign_ttl_secs),
            upload_prefix,
            max_pixels,
            strip_location: flag(&get, "STRIP_LOCATION")?,
            renditions,
            rendition_format,
            rendition_prefix,
            facts_prefix,
            gallery_kms_key_id: get("GALLERY_KMS_KEY_ID"),
            dedupe,
            index_prefix,
        })
    }
}

/// The largest rendition size accepted: WebP's limit on an edge.
pub const MAX_RENDITION_SIZE: u32 = 16_383;

/// `320,1280` → `[320, 1280]`: sorted, repeats dropped, each from 1 to [`MAX_RENDITION_SIZE`].
fn rendition_sizes(list: &str) -> Result<Vec<u32>, String> {
    let mut sizes = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<u32>() {
            Ok(size) if (1..=MAX_RENDITION_SIZE).contains(&size) => Ok(size),
            _ => Err(format!("{s:?} is not a size in pixels from 1 to {MAX_RENDITION_SIZE}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    sizes.sort_unstable();
    sizes.dedup();
    Ok(sizes)
}

/// Staging keys (or renditions) and stored keys must never meet: a stored object under
/// `UPLOAD_PREFIX` would be verified and promoted again, in a loop, and a rendition under
/// `KEY_PREFIX` would be listed and rendered as an original. Stored keys are `KEY_PREFIX` + a
/// date path, so the other prefix may not contain the key prefix nor start like a date path
/// after it.
fn separate_prefixes(other_prefix: &str, key_prefix: &str) -> Result<(), String> {
    if other_prefix.starts_with('/') {
        return Err("S3 keys must not start with '/'".into());
    }
    let after_key_prefix = other_prefix.strip_prefix(key_prefix);
    if key_prefix.starts_with(other_prefix)
        || after_key_prefix.is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err(format!("must not overlap KEY_PREFIX {key_prefix:?}: stored keys would fall under it"));
    }
    Ok(())
}

// `main` returning this prints its Debug form, so make that the readable message.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

fn invalid(name: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { name, value: value.to_owned(), reason: reason.to_owned() }
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| invalid(name, &v, "expected a whole number")),
    }
}

fn flag(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(invalid(name, other, "expected true or false")),
    }
}

fn address_policy(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<AddressPolicy, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => Ok(AddressPolicy::PublicOnly),
        Some("loopback") => Ok(AddressPolicy::Loopback),
        Some("true" | "1" | "yes") => Ok(AddressPolicy::Any),
        Some(other) => Err(invalid(name, other, "expected false, loopback or true")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn missing_bucket_name_is_named_in_the_error() {
        let err = config(&[]).unwrap_err();
        assert_eq!(err.to_string(), "BUCKET_NAME is required but not set");
        assert_eq!(config(&[("BUCKET_NAME", "  ")]).unwrap_err(), ConfigError::Missing("BUCKET_NAME"));
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[("BUCKET_NAME", "pics")]).unwrap();
        assert_eq!(c.bucket, "pics");
        assert_eq!(c.key_prefix, "");
        assert_eq!(c.max_object_bytes, 104_857_600);
        assert!(c.allowed_content_types.allows("image/png"));
        assert!(!c.allowed_content_types.allows("text/plain"));
        assert_eq!(c.fetch_timeout, Duration::from_millis(15_000));
        assert_eq!(c.fetch_max_redirects, 5);
        assert_eq!(c.fetch_allow_private, AddressPolicy::PublicOnly);
        assert_eq!(c.expected_bucket_owner, None);
        assert!(c.schedule_urls.is_empty());
        assert!(!c.force_path_style);
        assert_eq!(c.batch_concurrency, 10);
        assert_eq!(c.presign_ttl, Duration::from_secs(300));
        assert_eq!(c.upload_prefix, "incoming/");
        assert_eq!(c.max_pixels, 100_000_000);
        assert_eq!(c.fetch_max_per_host, 10);
        assert!(!c.strip_location);
        assert!(c.renditions.is_empty());
        assert_eq!(c.rendition_format, RenditionFormat::Webp);
        assert_eq!(c.rendition_prefix, "renditions/");
        assert_eq!(c.facts_prefix, None);
        assert_eq!(c.gallery_kms_key_id, None);
        assert!(!c.dedupe);
        assert_eq!(c.index_prefix, "index/");
    }

    #[test]
    fn facts_prefix_is_kept_apart_from_every_other_prefix() {
        for (facts, key) in [("images/", "images/"), ("2026/", ""), ("incoming/facts/", ""), ("renditions/f/", "")] {
            let err = config(&[("BUCKET_NAME", "pics"), ("FACTS_PREFIX", facts), ("KEY_PREFIX", key)]).unwrap_err();
            assert!(err.to_string().starts_with("FACTS_PREFIX has an invalid value"), "{facts}: {err}");
        }
        let c = config(&[("BUCKET_NAME", "pics"), ("FACTS_PREFIX", "gallery/"), ("GALLERY_KMS_KEY_ID", "alias/g")]);
        let c = c.unwrap();
        assert_eq!((c.facts_prefix.as_deref(), c.gallery_kms_key_id.as_deref()), (Some("gallery/"), Some("alias/g")));
    }

    #[test]
    fn index_prefix_is_kept_apart_from_every_other_prefix() {
        let c = config(&[("BUCKET_NAME", "pics"), ("DEDUPE", "true"), ("INDEX_PREFIX", "images/index/")]);
        let c = c.unwrap();
        assert!(c.dedupe);
        assert_eq!(c.index_prefix, "images/index/");
        for (prefix, key) in [
            ("images/", "images/"),
            ("images/2026/", "images/"),
            ("2026/", ""),
            ("incoming/index/", "images/"),
            ("renditions/", "images/"),
            ("in", "images/"),
            ("ren", "images/"),
            ("facts/index/", "images/"),
        ] {
            let vars =
                [("BUCKET_NAME", "pics"), ("INDEX_PREFIX", prefix), ("KEY_PREFIX", key), ("FACTS_PREFIX", "facts/")];
            let err = config(&vars).map(|c| c.index_prefix).unwrap_err().to_string();
            assert!(err.starts_with("INDEX_PREFIX has an invalid value"), "{prefix} {key}: {err}");
        }
        let err = config(&[("BUCKET_NAME", "pics"), ("DEDUPE", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("expected true or false"), "{err}");
    }

    #[test]
    fn rendition_settings_are_parsed_and_their_prefix_kept_apart() {
        let c =
            config(&[("BUCKET_NAME", "pics"), ("RENDITIONS", "1280, 320,320"), ("RENDITION_FORMAT", "JPEG")]).unwrap();
        assert_eq!(c.renditions, [320, 1280]);
        assert_eq!(c.rendition_format, RenditionFormat::Jpeg);
        for bad in ["0", "abc", "320,-1", "16384"] {
            let err = config(&[("BUCKET_NAME", "pics"), ("RENDITIONS", bad)]).unwrap_err().to_string();
            assert!(err.starts_with("RENDITIONS has an invalid value"), "{bad}: {err}");
        }
        let err = config(&[("BUCKET_NAME", "pics"), ("RENDITION_FORMAT", "avif")]).unwrap_err().to_string();
        assert!(err.contains("expected webp or jpeg"), "{err}");
        for (prefix, key, upload) in [
            ("images/", "images/", "incoming/"),
            ("images/2026/", "images/", "incoming/"),
            ("2026/", "", "incoming/"),
            ("incoming/thumbs/", "images/", "incoming/"),
            ("in", "images/", "incoming/"),
        ] {
            let vars =
                [("BUCKET_NAME", "pics"), ("RENDITION_PREFIX", prefix), ("KEY_PREFIX", key), ("UPLOAD_PREFIX", upload)];
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.starts_with("RENDITION_PREFIX has an invalid value"), "{prefix} {key}: {err}");
        }
        let c = config(&[("BUCKET_NAME", "pics"), ("RENDITION_PREFIX", "thumbs/"), ("KEY_PREFIX", "")]).unwrap();
        assert_eq!(c.rendition_prefix, "thumbs/");
        let c = config(&[("BUCKET_NAME", "pics"), ("RENDITION_PREFIX", "images/thumbs/"), ("KEY_PREFIX", "images/")]);
        assert_eq!(c.unwrap().rendition_prefix, "images/thumbs/");
    }

    #[test]
    fn values_are_parsed_and_bad_ones_are_named() {
        let c = config(&[
            ("BUCKET_NAME", "pics"),
            ("KEY_PREFIX", "images/"),
            ("SCHEDULE_URLS", "http://a/1.jpg, http://b/2.jpg\nhttp://c/3.jpg"),
            ("S3_FORCE_PATH_STYLE", "TRUE"),
            ("MAX_OBJECT_BYTES", "1024"),
            ("MAX_PIXELS", "4096"),
            ("STRIP_LOCATION", "true"),
        ])
        .unwrap();
        assert_eq!(c.max_pixels, 4096);
        assert!(c.strip_location);
        assert_eq!(c.key_prefix, "images/");
        let urls: Vec<&str> = c.schedule_urls.iter().map(Url::as_str).collect();
        assert_eq!(urls, ["http://a/1.jpg", "http://b/2.jpg", "http://c/3.jpg"]);
        let err = config(&[("BUCKET_NAME", "pics"), ("SCHEDULE_URLS", "ftp://cam/1.jpg")]).unwrap_err();
        assert!(err.to_string().contains("SCHEDULE_URLS"), "{err}");
        assert!(c.force_path_style);
        assert_eq!(c.max_object_bytes, 1024);

        let err = config(&[("BUCKET_NAME", "pics"), ("MAX_OBJECT_BYTES", "ten")]).unwrap_err();
        assert!(err.to_string().starts_with("MAX_OBJECT_BYTES has an invalid value"), "{err}");
        let err = config(&[("BUCKET_NAME", "pics"), ("S3_FORCE_PATH_STYLE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("S3_FORCE_PATH_STYLE"), "{err}");
        assert!(config(&[("BUCKET_NAME", "pics"), ("BATCH_CONCURRENCY", "0")]).is_err());
        for (upload, key) in [("images/", "images/"), ("images/2026/", "images/"), ("imag", "images/"), ("2026/", "")] {
            let err = config(&[("BUCKET_NAME", "pics"), ("UPLOAD_PREFIX", upload), ("KEY_PREFIX", key)]).unwrap_err();
            assert!(err.to_string().starts_with("UPLOAD_PREFIX has an invalid value"), "{upload} {key}: {err}");
        }
        for (upload, key) in [("incoming/", ""), ("incoming/", "images/"), ("images/incoming/", "images/")] {
            let c = config(&[("BUCKET_NAME", "pics"), ("UPLOAD_PREFIX", upload), ("KEY_PREFIX", key)]).unwrap();
            assert_eq!(c.upload_prefix, upload);
        }
        assert!(config(&[("BUCKET_NAME", "pics"), ("KEY_PREFIX", "/abs")]).is_err());
        assert!(config(&[("BUCKET_NAME", "pics"), ("MAX_OBJECT_BYTES", "6000000000")]).is_err());
        assert!(config(&[("BUCKET_NAME", "pics"), ("PRESIGN_TTL_SECS", "604801")]).is_err());
        assert!(config(&[("BUCKET_NAME", "pics"), ("FETCH_TIMEOUT_MS", "0")]).is_err());
        assert!(config(&[("BUCKET_NAME", "pics"), ("MAX_PIXELS", "0")]).is_err());
        assert!(config(&[("BUCKET_NAME", "pics"), ("FETCH_MAX_PER_HOST", "0")]).is_err());
        assert_eq!(config(&[("BUCKET_NAME", "pics"), ("FETCH_MAX_PER_HOST", "2")]).unwrap().fetch_max_per_host, 2);
        assert!(config(&[("BUCKET_NAME", "pics"), ("STRIP_LOCATION", "perhaps")]).is_err());
        assert!(config(&[("BUCKET_NAME", "pics"), ("ALLOWED_CONTENT_TYPES", "png")]).is_err());
    }

    #[test]
    fn schedule_urls_over_8_kib_stop_start_up() {
        let long = format!("http://cam/{}.jpg", "a".repeat(9 * 1024));
        let err =
            config(&[("BUCKET_NAME", "pics"), ("SCHEDULE_URLS", &format!("http://cam/1.jpg {long}"))]).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("SCHEDULE_URLS has an invalid value"), "{shown}");
        assert!(shown.ends_with("at most 8192 are accepted"), "{shown}");
    }

    #[test]
    fn fetch_allow_private_takes_false_loopback_or_true() {
        for (value, policy) in [
            ("false", AddressPolicy::PublicOnly),
            ("no", AddressPolicy::PublicOnly),
            ("0", AddressPolicy::PublicOnly),
            ("", AddressPolicy::PublicOnly),
            ("loopback", AddressPolicy::Loopback),
            (" Loopback ", AddressPolicy::Loopback),
            ("true", AddressPolicy::Any),
            ("TRUE", AddressPolicy::Any),
            ("1", AddressPolicy::Any),
            ("yes", AddressPolicy::Any),
        ] {
            let c = config(&[("BUCKET_NAME", "pics"), ("FETCH_ALLOW_PRIVATE", value)]).unwrap();
            assert_eq!(c.fetch_allow_private, policy, "{value:?}");
        }
        for value in ["local", "127.0.0.1", "private", "loopback,true"] {
            let err = config(&[("BUCKET_NAME", "pics"), ("FETCH_ALLOW_PRIVATE", value)]).unwrap_err();
            let shown = err.to_string();
            assert!(shown.starts_with("FETCH_ALLOW_PRIVATE has an invalid value"), "{shown}");
            assert!(shown.contains("false, loopback or true"), "{shown}");
        }
    }
}
