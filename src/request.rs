//! The ingest request: its JSON shape, and validation into domain items.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::error::{IngestError, Result};

/// Most items one request (or backfill batch) may carry; more is refused whole, so one call
/// and its answer stay bounded.
pub const MAX_ITEMS: usize = 100;
/// Longest `url` accepted, in bytes as sent. A longer one is refused before it is parsed,
/// resolved or fetched: an answer or a log line that quotes it stays bounded.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Most bytes of user metadata (keys plus values) per item: S3's 2 KiB for user metadata,
/// less the entries the function adds: `sha256` (6 + 64 bytes), `width` and `height` (up to
/// 5 + 10 and 6 + 10) and `location-stripped` (17 + 4).
pub const MAX_METADATA_BYTES: usize = 2048 - 70 - 31 - 21;
/// Metadata keys the function writes itself.
const RESERVED_METADATA: &[&str] = &["sha256", "width", "height", "location-stripped"];

/// Where an item's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Standard base64 text, decoded only after the size check.
    Base64(String),
    /// Bytes already in hand (a raw or multipart body).
    Bytes(Bytes),
    /// An http or https URL to fetch.
    Url(Url),
}

/// One object to store, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The bytes, or where to get them.
    pub payload: Payload,
    /// The caller's file name, sanitised later.
    pub file_name: Option<String>,
    /// What the caller said the type is; informational only, sniffing decides.
    pub declared_type: Option<String>,
    /// The item's own time, which wins for the key.
    pub posted_at: Option<DateTime<Utc>>,
    /// S3 user metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Item {
    /// An item from bytes in hand, as a raw or multipart upload gives them.
    pub fn from_bytes(bytes: Bytes, file_name: Option<String>, declared_type: Option<String>) -> Self {
        Self { payload: Payload::Bytes(bytes), file_name, declared_type, posted_at: None, metadata: BTreeMap::new() }
    }

    /// An item to fetch, named after the URL unless the response names it.
    pub fn from_url(url: Url) -> Self {
        Self {
            payload: Payload::Url(url),
            file_name: None,
            declared_type: None,
            posted_at: None,
            metadata: BTreeMap::new(),
        }
    }
}

/// The wire form of one item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemInput {
    url: Option<String>,
    data: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    posted_at: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
}

/// Reads an ingest request (`{"items":[...]}` or a bare item).
///
/// The outer error refuses the whole request; each item is validated on its own,
/// so one bad item never takes down the others.
pub fn parse_request(value: Value) -> Result<Vec<Result<Item>>> {
    let Value::Object(mut object) = value else {
        return Err(IngestError::InvalidRequest("the request must be a JSON object".into()));
    };
    if let Some(items) = object.remove("items") {
        if let Some(other) = object.keys().next() {
            return Err(IngestError::InvalidRequest(format!("unexpected field {other:?} next to \"items\"")));
        }
        let Value::Array(items) = items else {
            return Err(IngestError::InvalidRequest("\"items\" must be an array".into()));
        };
        if items.is_empty() {
            return Err(IngestError::InvalidRequest("\"items\" is empty".into()));
        }
        if items.len() > MAX_ITEMS {
            return Err(IngestError::InvalidRequest(format!(
                "{} items in one request; at most {MAX_ITEMS} are accepted",
                items.len()
            )));
        }
        return Ok(items.into_iter().map(parse_item).collect());
    }
    if object.contains_key("url") || object.contains_key("data") {
        return Ok(vec![parse_item(Value::Object(object))]);
    }
    Err(IngestError::InvalidRequest("expected {\"items\":[...]} or a single item with \"url\" or \"data\"".into()))
}

/// A Step Functions Distributed Map batch: its items as sent, each with its parse, and the
/// time every item without `posted_at` is keyed at.
#[derive(Debug)]
pub struct Backfill {
    /// Each item as the manifest gave it (echoed in the answer's `failed`) and as parsed.
    pub items: Vec<(Value, Result<Item>)>,
    /// `BatchInput.run_started_at`: the execution's start time, the same on every retry and
    /// redrive, so an item maps to the same key each time.
    pub run_started_at: DateTime<Utc>,
}

/// Reads `{"Items":[...],"BatchInput":{"run_started_at":"..."}}`. Items are ingest items, from
/// JSON Lines as they are, from CSV as rows of strings: an empty cell is an absent field and
/// `metadata.<name>` columns are metadata entries. The outer error refuses the whole batch, as
/// it does one of more than [`MAX_ITEMS`] items.
pub fn parse_backfill(value: Value) -> Result<Backfill> {
    let Value::Object(mut object) = value else {
        return Err(IngestError::InvalidRequest("a batch must be a JSON object".into()));
    };
    let Some(Value::Array(items)) = object.remove("Items") else {
        return Err(IngestError::InvalidRequest("a batch's \"Items\" must be an array".into()));
    };
    // The answer names every item; more could not fit Step Functions' 256 KiB (src/answer.rs).
    if items.len() > MAX_ITEMS {
        return Err(IngestError::InvalidRequest(format!(
            "{} items in one batch; at most {MAX_ITEMS} are accepted (the template's BackfillMaxItemsPerBatch)",
            items.len()
        )));
    }
    let started =
        object.get("BatchInput").and_then(|b| b.get("run_started_at")).and_then(Value::as_str).ok_or_else(|| {
            IngestError::InvalidRequest(
                "a batch needs \"BatchInput\": {\"run_started_at\": <the execution's start time>} so that a \
             retried or redriven batch keys its items the same way (the template's ItemBatcher passes \
             $$.Execution.StartTime)"
                    .into(),
            )
        })?;
    let run_started_at = DateTime::parse_from_rfc3339(started).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        IngestError::InvalidRequest(format!("BatchInput.run_started_at {started:?} is not an RFC 3339 time: {e}"))
    })?;
    let items = items.into_iter().map(|raw| (raw.clone(), manifest_row(raw).and_then(parse_item))).collect();
    Ok(Backfill { items, run_started_at })
}

/// Whether a batch's items are S3 listing entries (`{"Key":...}`, as an ItemReader over
/// ListObjectsV2 gives them) rather than ingest items.
pub fn is_listing_batch(value: &Value) -> bool {
    let first = value.get("Items").and_then(Value::as_array).and_then(|items| items.first());
    first.is_some_and(|item| item.get("Key").is_some() && item.get("url").is_none() && item.get("data").is_none())
}

/// The keys of a listing batch, each refused alone when it is not an entry with a `Key`.
pub fn parse_listing(value: Value) -> Result<Vec<(Value, Result<String>)>> {
    let Some(Value::Array(items)) = value.get("Items").cloned() else {
        return Err(IngestError::InvalidRequest("a batch's \"Items\" must be an array".into()));
    };
    if items.len() > MAX_ITEMS {
        return Err(IngestError::InvalidRequest(format!(
            "{} items in one batch; at most {MAX_ITEMS} are accepted (the template's RerenderMaxItemsPerBatch)",
            items.len()
        )));
    }
    Ok(items
        .into_iter()
        .map(|raw| {
            let key = match raw.get("Key").and_then(Value::as_str) {
                Some(key) if !key.is_empty() => Ok(key.to_owned()),
                _ => Err(IngestError::InvalidRequest("a listing entry needs a \"Key\" string".into())),
            };
            (raw, key)
        })
        .collect())
}

/// A manifest row as an ingest item: empty strings dropped, `metadata.<name>` gathered.
fn manifest_row(value: Value) -> Result<Value> {
    let Value::Object(fields) = value else { return Ok(value) };
    let mut item = serde_json::Map::new();
    let mut metadata = serde_json::Map::new();
    for (name, field) in fields {
        if let Some(key) = name.strip_prefix("metadata.") {
            if !field.as_str().is_some_and(str::is_empty) {
                metadata.insert(key.to_owned(), field);
            }
        } else if !field.as_str().is_some_and(str::is_empty) {
            item.insert(name, field);
        }
    }
    if !metadata.is_empty() {
        if item.contains_key("metadata") {
            return Err(IngestError::InvalidRequest("an item has both \"metadata\" and metadata.<name> fields".into()));
        }
        item.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(Value::Object(item))
}

fn parse_item(value: Value) -> Result<Item> {
    // serde would also read a struct from an array of its fields in order.
    if !value.is_object() {
        return Err(IngestError::InvalidRequest("an item must be a JSON object".into()));
    }
    let input: ItemInput =
        serde_json::from_value(value).map_err(|e| IngestError::InvalidRequest(format!("invalid item: {e}")))?;
    let payload = match (input.url, input.data) {
        (Some(url), None) => Payload::Url(parse_url(&url)?),
        (None, Some(data)) if data.is_empty() => return Err(IngestError::EmptyObject),
        (None, Some(data)) => Payload::Base64(data),
        (Some(_), Some(_)) => {
            return Err(IngestError::InvalidRequest("an item has either \"url\" or \"data\", not both".into()));
        }
        (None, None) => return Err(IngestError::InvalidRequest("an item needs \"url\" or \"data\"".into())),
    };
    let posted_at = input.posted_at.as_deref().map(parse_posted_at).transpose()?;
    let metadata = input.metadata.unwrap_or_default();
    check_metadata(&metadata)?;
    Ok(Item { payload, file_name: input.file_name, declared_type: input.content_type, posted_at, metadata })
}

/// Reads a `posted_at`: an RFC 3339 time, in any offset.
pub fn parse_posted_at(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| IngestError::InvalidRequest(format!("posted_at {text:?} is not an RFC 3339 time: {e}")))
}

/// Parses a URL and refuses one over [`MAX_URL_BYTES`], schemes other than http and https, and
/// userinfo.
pub fn parse_url(raw: &str) -> Result<Url> {
    if raw.len() > MAX_URL_BYTES {
        return Err(IngestError::InvalidRequest(format!(
            "url is {} bytes; at most {MAX_URL_BYTES} are accepted",
            raw.len()
        )));
    }
    // The text is not echoed: it may carry tokens in its query.
    let url = Url::parse(raw).map_err(|e| IngestError::InvalidRequest(format!("url is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(IngestError::UrlNotAllowed(format!("scheme {:?} is not allowed; use http or https", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IngestError::UrlNotAllowed("URLs with user info are not allowed".into()));
    }
    Ok(url)
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<()> {
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    for (key, value) in metadata {
        // S3 sends metadata as headers, whose names ignore case.
        if !seen.insert(key.to_ascii_lowercase()) {
            return Err(IngestError::InvalidRequest(format!("metadata key {key:?} is given twice (keys ignore case)")));
        }
        let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !key_ok {
            return Err(IngestError::InvalidRequest(format!(
                "metadata key {key:?} must be ASCII letters, digits, '-' or '_'"
            )));
        }
        if RESERVED_METADATA.contains(&key.to_ascii_lowercase().as_str()) {
            return Err(IngestError::InvalidRequest(format!("metadata key {key:?} is reserved")));
        }
        if !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(IngestError::InvalidRequest(format!("metadata value for {key:?} must be printable ASCII")));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_BYTES {
        return Err(IngestError::InvalidRequest(format!(
            "metadata is {total} bytes; at most {MAX_METADATA_BYTES} are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(value: Value) -> Result<Item> {
        let mut items = parse_request(value)?;
        assert_eq!(items.len(), 1);
        items.remove(0)
    }

    #[test]
    fn bare_item_is_a_one_item_request() {
        let item = one(json!({"data": "aGk=", "file_name": "a.png", "posted_at": "2026-11-24T20:30:15Z",
                              "metadata": {"source": "crawler-7"}}))
        .unwrap();
        assert_eq!(item.payload, Payload::Base64("aGk=".into()));
        assert_eq!(item.file_name.as_deref(), Some("a.png"));
        assert_eq!(item.posted_at.unwrap().to_rfc3339(), "2026-11-24T20:30:15+00:00");
        assert_eq!(item.metadata["source"], "crawler-7");
    }

    #[test]
    fn items_are_validated_one_by_one() {
        let items = parse_request(json!({"items": [
            {"data": "aGk="}, {"data": 5}, {"url": "ftp://x/y.png"}, {"data": "aGk=", "url": "http://x/"},
            {"data": ""}, {"url": "https://example.com/cats/tabby.jpg"}, {"data": "aGk=", "colour": "red"}
        ]}))
        .unwrap();
        let codes: Vec<&str> = items.iter().map(|r| r.as_ref().map_or_else(|e| e.code(), |_| "ok")).collect();
        assert_eq!(
            codes,
            ["ok", "invalid_request", "url_not_allowed", "invalid_request", "empty_object", "ok", "invalid_request"]
        );
    }

    #[test]
    fn whole_request_errors() {
        for bad in [json!([1]), json!({}), json!({"items": {}}), json!({"items": []}), json!({"items": [], "x": 1})] {
            assert_eq!(parse_request(bad.clone()).unwrap_err().code(), "invalid_request", "{bad}");
        }
        let many = json!({"items": vec![json!({"data": "aGk="}); MAX_ITEMS + 1]});
        let err = parse_request(many).unwrap_err();
        assert!(err.to_string().contains("at most 100"), "{err}");
    }

    #[test]
    fn posted_at_and_metadata_are_checked() {
        assert_eq!(one(json!({"data": "aGk=", "posted_at": "yesterday"})).unwrap_err().code(), "invalid_request");
        let big = json!({"data": "aGk=", "metadata": {"k": "v".repeat(MAX_METADATA_BYTES)}});
        assert!(one(big).unwrap_err().to_string().contains("at most 1926"));
        let fits = json!({"data": "aGk=", "metadata": {"k": "v".repeat(MAX_METADATA_BYTES - 1)}});
        assert!(one(fits).is_ok());
        assert!(one(json!({"data": "aGk=", "metadata": {"Source": "a", "source": "b"}})).is_err());
        assert_eq!(one(json!(["http://x/", null, "a.png"])).unwrap_err().code(), "invalid_request");
        for reserved in ["sha256", "Width", "height", "location-stripped"] {
            assert!(one(json!({"data": "aGk=", "metadata": {reserved: "x"}})).is_err(), "{reserved}");
        }
        assert!(one(json!({"data": "aGk=", "metadata": {"bad key": "x"}})).is_err());
        assert!(one(json!({"data": "aGk=", "metadata": {"k": "naïve"}})).is_err());
    }

    #[test]
    fn urls_need_http_and_no_userinfo() {
        assert!(parse_url("https://example.com/a.png").is_ok());
        for refused in ["file:///etc/passwd", "ftp://example.com/a.png", "http://user:pw@example.com/a.png"] {
            assert_eq!(parse_url(refused).unwrap_err().code(), "url_not_allowed", "{refused}");
        }
        assert_eq!(parse_url("not a url").unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn a_batch_of_more_than_100_items_is_refused_whole() {
        let batch = |n| json!({"Items": vec![json!({"data": "aGk="}); n], "BatchInput": {"run_started_at": "2026-11-24T20:30:15Z"}});
        assert_eq!(parse_backfill(batch(MAX_ITEMS)).unwrap().items.len(), MAX_ITEMS);
        let err = parse_backfill(batch(MAX_ITEMS + 1)).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert!(err.to_string().starts_with("101 items in one batch; at most 100"), "{err}");
    }

    #[test]
    fn urls_over_8_kib_are_refused_before_they_are_parsed() {
        let base = "https://example.com/";
        let longest = format!("{base}{}", "a".repeat(MAX_URL_BYTES - base.len()));
        assert!(parse_url(&longest).is_ok());
        let over = format!("{longest}a");
        let err = parse_url(&over).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert_eq!(err.to_string(), "url is 8193 bytes; at most 8192 are accepted");
        // Measured as sent, before the scheme is looked at.
        assert_eq!(parse_url(&format!("ftp://{}", "a".repeat(MAX_URL_BYTES))).unwrap_err().code(), "invalid_request");
        let row =
            parse_backfill(json!({"Items": [{"url": over}], "BatchInput": {"run_started_at": "2026-11-24T20:30:15Z"}}));
        assert_eq!(row.unwrap().items[0].1.as_ref().unwrap_err().code(), "invalid_request");
    }
}
