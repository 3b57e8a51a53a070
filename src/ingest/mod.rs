//! The ingest core: the one place where an item becomes a stored object.
//!
//! Every item goes the same way: bytes (in hand, or fetched) → sniffed and checked → named →
//! written by the store, which answers whether the key was free.

mod dedupe;
mod facts;
mod inspect;
mod render;
mod rerender;
mod staged;
mod url;

pub use inspect::{ImageRules, Inspected};
pub use render::RenditionRules;
pub use staged::Promotion;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tracing::{info, warn};

use crate::body::{Blob, Body, ByteStream};
use crate::config::Config;
use crate::content::{ContentTypePolicy, SVG_TYPE, Sniffed, sniff};
use crate::deadline::{DEADLINE_MARGIN, Deadline};
use crate::error::{IngestError, Result};
use crate::fetch::Fetcher;
use crate::key;
use crate::metrics::Record;
use crate::rendition::{Outcome, Plan};
use crate::request::{Item, Payload};
use crate::store::{IngestStore, Placement, Trailer, WriteOutcome, Written};
use render::Renderer;

/// Large bodies streamed at once per process, so memory stays bounded however many items or
/// records arrive together: each holds up to four parts, plus a head per body waiting its turn.
pub const MAX_STREAMS: usize = 2;

/// Standard alphabet; padding optional, since many encoders drop it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Where a batch came from, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API (payload v1).
    ApiV1,
    /// HTTP API or Function URL (payload v2).
    ApiV2,
    /// A direct invocation.
    Direct,
    /// An SQS record.
    Sqs,
    /// An EventBridge custom event.
    EventBridge,
    /// An EventBridge scheduled event.
    Schedule,
    /// A verified upload, notified by S3.
    Upload,
    /// A Step Functions Distributed Map batch.
    Backfill,
    /// A Distributed Map batch of listed originals to render.
    Rerender,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::ApiV1 => "apigw-v1",
            Self::ApiV2 => "apigw-v2",
            Self::Direct => "direct",
            Self::Sqs => "sqs",
            Self::EventBridge => "eventbridge",
            Self::Schedule => "schedule",
            Self::Upload => "upload",
            Self::Backfill => "backfill",
            Self::Rerender => "rerender",
        }
    }
}

/// The items of one request, with the event's own time.
#[derive(Debug)]
pub struct Batch {
    /// Items as validated; invalid ones are reported in place.
    pub items: Vec<Result<Item>>,
    /// The event's time (API Gateway's request time, SQS's SentTimestamp, ...).
    pub event_time: Option<DateTime<Utc>>,
    /// Where the batch came from.
    pub source: Source,
    /// When to stop and answer: items unfinished then are `not_attempted`.
    pub deadline: Deadline,
}

/// Whether the object was written now, was already there with the same bytes, or is held
/// under another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written by this call.
    Created,
    /// The same bytes were already stored under this key.
    Existing,
    /// With `DEDUPE`, the same bytes are stored under another key (the entry's `key`); nothing
    /// was stored for this item.
    Duplicate,
}

/// One stored object, as the responses report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredObject {
    /// Full object key.
    pub key: String,
    /// Bucket name.
    pub bucket: String,
    /// Size in bytes.
    pub size: u64,
    /// Sniffed content type.
    pub content_type: String,
    /// Hex sha256 of the bytes.
    pub sha256: String,
    /// Created now, already there, or a duplicate of the object at `key`.
    pub status: Status,
    /// Pixel width from the image's header; absent for types without one (SVG).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Pixel height from the image's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The renditions made of it, with `RENDITIONS` set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renditions: Option<Vec<RenditionEntry>>,
    /// Why it has no renditions (a type the function does not decode, SVG, a memory cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renditions_skipped: Option<String>,
}

/// One stored rendition, as the original's entry lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenditionEntry {
    /// Full object key, under `RENDITION_PREFIX`.
    pub key: String,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// Size in bytes.
    pub size: u64,
}

/// Limits and naming rules the core applies to every item.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Prepended to every key.
    pub key_prefix: String,
    /// Hard cap per object.
    pub max_object_bytes: u64,
    /// Which sniffed types are stored.
    pub allowed: ContentTypePolicy,
    /// Items processed at once.
    pub concurrency: usize,
    /// Where verified uploads wait.
    pub upload_prefix: String,
    /// The pixel cap and location removal.
    pub image: ImageRules,
    /// What renditions to make, if any.
    pub renditions: Option<RenditionRules>,
    /// Where the gallery's facts markers go, if they are written.
    pub facts_prefix: Option<String>,
    /// `INDEX_PREFIX` with `DEDUPE=true`: each content is stored once.
    pub index_prefix: Option<String>,
}

impl From<&Config> for Rules {
    fn from(c: &Config) -> Self {
        Self {
            key_prefix: c.key_prefix.clone(),
            max_object_bytes: c.max_object_bytes,
            allowed: c.allowed_content_types.clone(),
            concurrency: c.batch_concurrency,
            upload_prefix: c.upload_prefix.clone(),
            image: ImageRules { max_pixels: c.max_pixels, strip_location: c.strip_location },
            renditions: (!c.renditions.is_empty()).then(|| RenditionRules {
                plan: Plan { sizes: c.renditions.clone(), format: c.rendition_format },
                prefix: c.rendition_prefix.clone(),
            }),
            facts_prefix: c.facts_prefix.clone(),
            index_prefix: c.dedupe.then(|| c.index_prefix.clone()),
        }
    }
}

/// Turns validated items into stored objects.
#[derive(Clone)]
pub struct Ingestor {
    store: Arc<dyn IngestStore>,
    fetcher: Arc<dyn Fetcher>,
    rules: Arc<Rules>,
    /// Multipart streams at once in this process.
    streams: Arc<tokio::sync::Semaphore>,
    /// Decodes originals for their renditions, when they are made.
    renderer: Option<Renderer>,
}

/// What an item says about the object besides its bytes.
#[derive(Debug, Clone)]
struct Target {
    wanted_name: Option<String>,
    declared_type: Option<String>,
    at: DateTime<Utc>,
    metadata: BTreeMap<String, String>,
    /// What the image checks found, once they ran.
    image: Inspected,
    /// Metadata a streamed body gives at its end.
    trailer: Trailer,
}

/// Where an item's bytes can be had again, for a second write under another name.
enum Origin {
    /// Held in memory.
    Held(Blob),
    /// Fetched again from the URL, and refused unless they are the same bytes.
    Url(::url::Url),
    /// Still in the staging area, verified: copied as they are.
    Staged(crate::body::Staged),
    /// Read again from the staging area and stripped of location as the first time, refused
    /// unless they are the same bytes.
    Restaged(String),
}

impl Ingestor {
    /// An ingestor fetching URLs with `fetcher` and writing to `store` under `rules`.
    pub fn new(store: Arc<dyn IngestStore>, fetcher: Arc<dyn Fetcher>, rules: Rules) -> Self {
        let renderer = rules.renditions.as_ref().map(|r| Renderer::new(r.plan.clone()));
        Self {
            store,
            fetcher,
            rules: Arc::new(rules),
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
            renderer,
        }
    }

    /// The largest object accepted, for checks made before a body is decoded.
    pub fn max_object_bytes(&self) -> u64 {
        self.rules.max_object_bytes
    }

    /// Items stored at once within one invocation.
    pub fn concurrency(&self) -> usize {
        self.rules.concurrency
    }

    /// The cached bucket check: `bucket_not_found` / `bucket_access_denied` refuse everything.
    pub async fn check_bucket(&self) -> Result<()> {
        let result = self.store.ensure_bucket().await;
        if let Err(err) = &result {
            warn!(code = err.code(), bucket = self.store.bucket(), error = %err.report(), "bucket check failed");
        }
        result
    }

    /// Checks the bucket, then stores every valid item, results in order, a bounded number at
    /// once, until the batch's deadline. The outer error is a bucket failure (or the deadline
    /// reached during the check) that refuses the whole batch before any item is read.
    pub async fn ingest(&self, batch: Batch) -> Result<Vec<Result<StoredObject>>> {
        self.ingest_with_width(batch, self.rules.concurrency).await
    }

    /// Like [`Ingestor::ingest`], one item at a time: for a queue record, whose siblings
    /// already use the concurrency budget.
    pub async fn ingest_in_order(&self, batch: Batch) -> Result<Vec<Result<StoredObject>>> {
        self.ingest_with_width(batch, 1).await
    }

    async fn ingest_with_width(&self, batch: Batch, width: usize) -> Result<Vec<Result<StoredObject>>> {
        let deadline = batch.deadline;
        deadline.run(self.check_bucket()).await.unwrap_or_else(|| Err(not_attempted()))?;
        let now = Utc::now();
        let event_time = batch.event_time;
        let work = |item| self.store_item(item, event_time, now);
        Ok(self.each(batch.items, width, deadline, batch.source, work).await)
    }

    /// Runs `work` on every valid input, `width` at once, each until the deadline (unfinished
    /// ones are `not_attempted`), logging every outcome; results in order.
    async fn each<I, F, Fut>(
        &self,
        inputs: Vec<Result<I>>,
        width: usize,
        deadline: Deadline,
        source: Source,
        work: F,
    ) -> Vec<Result<StoredObject>>
    where
        F: Fn(I) -> Fut,
        Fut: std::future::Future<Output = Result<StoredObject>>,
    {
        let work = &work;
        let results = futures::stream::iter(inputs.into_iter().enumerate())
            .map(|(index, input)| async move {
                let started = Instant::now();
                let result = match input {
                    Ok(input) => deadline.run(work(input)).await.unwrap_or_else(|| Err(not_attempted())),
                    Err(err) => Err(err),
                };
                log_outcome(index, source, &result, started);
                result
            })
            .buffered(width)
            .collect()
            .await;
        self.settle_if_cut(deadline).await;
        results
    }

    /// Items cut off at the deadline dropped their writes: let those clean up before the answer.
    async fn settle_if_cut(&self, deadline: Deadline) {
        if deadline.passed() {
            self.store.settle(DEADLINE_MARGIN / 2).await;
        }
    }

    async fn store_item(
        &self,
        item: Item,
        event_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<StoredObject> {
        // The item's posted_at, or an event time a caller can set (EventBridge PutEvents).
        let at = key_time(item.posted_at, event_time, now)?;
        let target = Target {
            wanted_name: item.file_name,
            declared_type: item.declared_type,
            at,
            metadata: item.metadata,
            image: Inspected::default(),
            trailer: Trailer::default(),
        };
        let limit = self.rules.max_object_bytes;
        match item.payload {
            Payload::Base64(text) => self.store_held(decode_base64(&text, limit)?, target).await,
            Payload::Bytes(bytes) => self.store_held(bytes, target).await,
            Payload::Url(url) => self.store_url(url, target).await,
        }
    }

    /// Stores bytes in hand.
    async fn store_held(&self, bytes: Bytes, target: Target) -> Result<StoredObject> {
        check_size(bytes.len() as u64, self.rules.max_object_bytes)?;
        let sniffed = self.sniff_allowed(&bytes, target.declared_type.as_deref())?;
        let (bytes, image) = self.rules.image.whole(sniffed.mime, bytes)?;
        // Decoded before anything is stored: an image that does not render is refused.
        let outcome = match &self.renderer {
            Some(renderer) => Some(renderer.whole(sniffed.mime, bytes.clone()).await?),
            None => None,
        };
        let target = Target { image: image.with_dhash(dhash(&outcome)), ..target };
        let blob = Blob::new(bytes);
        let name = key::file_name(target.wanted_name.as_deref(), &sniffed, blob.sha256_hex());
        let stored = self.write(&target, &sniffed, &name, Body::Whole(blob.clone()), Origin::Held(blob)).await?;
        self.finish(stored, outcome).await
    }

    /// Passes a stream to the renderer, when renditions are made: see [`Renderer::tap`].
    fn tap(&self, mime: &str, body: ByteStream, trailer: Option<Trailer>) -> (ByteStream, Option<render::Pending>) {
        match &self.renderer {
            Some(renderer) => {
                let (body, pending) = renderer.tap(mime, body, trailer);
                (body, Some(pending))
            }
            None => (body, None),
        }
    }

    /// Sniffs the first bytes and refuses empty objects and types not allowed.
    fn sniff_allowed(&self, head: &[u8], declared: Option<&str>) -> Result<Sniffed> {
        if head.is_empty() {
            return Err(IngestError::EmptyObject);
        }
        let sniffed = sniff(head);
        if !self.rules.allowed.allows(sniffed.mime) {
            let declared = declared.map(|d| format!(" (declared {d})")).unwrap_or_default();
            let hint =
                if sniffed.mime == SVG_TYPE { "; SVG must be listed by name in ALLOWED_CONTENT_TYPES" } else { "" };
            return Err(IngestError::UnsupportedMediaType(format!(
                "the bytes are {}{declared}, which is not an allowed content type{hint}",
                sniffed.mime
            )));
        }
        Ok(sniffed)
    }

    /// Writes `body` under `name`; when the key holds other bytes, writes them again from
    /// `origin` under the name with their digest (`{stem}-{sha8}.{ext}`). With `DEDUPE`, bytes
    /// already stored under another key are not written: the answer is a `duplicate`.
    async fn write(
        &self,
        target: &Target,
        sniffed: &Sniffed,
        name: &str,
        body: Body,
        origin: Origin,
    ) -> Result<StoredObject> {
        let claim = self.claim(target, sniffed, name);
        self.write_claimed(target, sniffed, name, body, origin, claim.as_ref()).await
    }

    /// The item's dealings with the content index, with `DEDUPE`.
    fn claim(&self, target: &Target, sniffed: &Sniffed, name: &str) -> Option<dedupe::Claim> {
        let prefix = self.rules.index_prefix.as_deref()?;
        Some(dedupe::Claim::new(self.store.clone(), prefix, self.place(target, sniffed, name).key))
    }

    /// With `DEDUPE`, the `duplicate` answer for bytes whose digest is known before they are
    /// read or fetched again, when another key already holds them; `None` to go on and write.
    async fn held_elsewhere(
        &self,
        claim: Option<&dedupe::Claim>,
        (target, sniffed, name): (&Target, &Sniffed, &str),
        sha256_hex: &str,
        size: u64,
    ) -> Result<Option<StoredObject>> {
        let Some(claim) = claim else { return Ok(None) };
        let Some(holder) = claim.elsewhere(sha256_hex).await? else { return Ok(None) };
        let written = Written { outcome: WriteOutcome::Declined, sha256_hex: sha256_hex.to_owned(), size };
        Ok(Some(dedupe::duplicate(self.stored(target, self.place(target, sniffed, name), written), holder)))
    }

    /// [`Ingestor::write`], with the item's claim on the index when there is one.
    async fn write_claimed(
        &self,
        target: &Target,
        sniffed: &Sniffed,
        name: &str,
        body: Body,
        origin: Origin,
        claim: Option<&dedupe::Claim>,
    ) -> Result<StoredObject> {
        let place = self.place(target, sniffed, name);
        let written = self.put_gated(&place, body, claim).await?;
        if written.outcome == WriteOutcome::Declined {
            let holder = match claim {
                Some(claim) => claim.elsewhere(&written.sha256_hex).await?,
                None => None,
            };
            let holder = holder.ok_or_else(|| IngestError::storage("a write was declined with no key holding it"))?;
            return Ok(dedupe::duplicate(self.stored(target, place, written), holder));
        }
        if written.outcome != WriteOutcome::Occupied {
            return self.indexed(claim, self.stored(target, place, written)).await;
        }
        let moved = self.place(target, sniffed, &key::collision_name(name, &written.sha256_hex));
        let again = match origin {
            Origin::Held(blob) => Body::Whole(blob),
            Origin::Url(url) => self.fetch_again(&url, sniffed.mime, written.sha256_hex).await?,
            Origin::Staged(staged) => Body::Staged(staged),
            Origin::Restaged(key) => self.restage(&key, sniffed.mime, written.sha256_hex).await?,
        };
        let written = self.put(&moved, again).await?;
        match written.outcome {
            WriteOutcome::Occupied => Err(both_taken(&moved.key)),
            _ => self.indexed(claim, self.stored(target, moved, written)).await,
        }
    }

    /// A stored item as the content index leaves it (see [`dedupe::Claim::settle`]).
    async fn indexed(&self, claim: Option<&dedupe::Claim>, stored: StoredObject) -> Result<StoredObject> {
        match claim {
            Some(claim) => claim.settle(stored).await,
            None => Ok(stored),
        }
    }

    async fn put(&self, place: &Placement, body: Body) -> Result<Written> {
        self.put_gated(place, body, None).await
    }

    async fn put_gated(&self, place: &Placement, body: Body, gate: Option<&dedupe::Claim>) -> Result<Written> {
        let started = Instant::now();
        let written = match gate {
            Some(gate) => self.store.write_if_admitted(place, body, gate).await,
            None => self.store.write_if_absent(place, body).await,
        };
        Record::plain().millis("S3Latency", started.elapsed()).emit();
        written
    }

    fn place(&self, target: &Target, sniffed: &Sniffed, name: &str) -> Placement {
        let mut metadata = target.metadata.clone();
        target.image.annotate(&mut metadata);
        Placement {
            key: key::object_key(&self.rules.key_prefix, target.at, name),
            content_type: sniffed.mime.to_owned(),
            metadata,
            trailer: target.trailer.clone(),
        }
    }

    fn stored(&self, target: &Target, place: Placement, written: Written) -> StoredObject {
        let status = match written.outcome {
            WriteOutcome::Created => Status::Created,
            WriteOutcome::Declined => Status::Duplicate,
            WriteOutcome::Existing | WriteOutcome::Occupied => Status::Existing,
        };
        StoredObject {
            key: place.key,
            bucket: self.store.bucket().to_owned(),
            size: written.size,
            content_type: place.content_type,
            sha256: written.sha256_hex,
            status,
            width: target.image.facts.map(|f| f.width),
            height: target.image.facts.map(|f| f.height),
            renditions: None,
            renditions_skipped: None,
        }
    }
}

/// A tapped stream's rendering, once the stream has ended.
async fn outcome(pending: Option<render::Pending>) -> Result<Option<Outcome>> {
    match pending {
        Some(pending) => pending.outcome().await.map(Some),
        None => Ok(None),
    }
}

/// The original's difference hash, when it was rendered.
fn dhash(outcome: &Option<Outcome>) -> Option<u64> {
    match outcome {
        Some(Outcome::Rendered(rendered)) => Some(rendered.dhash),
        _ => None,
    }
}

fn not_attempted() -> IngestError {
    IngestError::NotAttempted("the invocation's deadline was near; it was not finished and can be retried".into())
}

fn both_taken(key: &str) -> IngestError {
    IngestError::storage(format!("{key} and the name before it both hold different objects"))
}

/// Splits a batch's results into the stored objects and the failures with their item index.
pub fn split_results(results: Vec<Result<StoredObject>>) -> (Vec<StoredObject>, Vec<(usize, IngestError)>) {
    let mut stored = Vec::new();
    let mut failed = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(object) => stored.push(object),
            Err(err) => failed.push((index, err)),
        }
    }
    (stored, failed)
}

/// The time a key is dated by ([`key::key_time`]), refused with `invalid_request` when it is
/// before 1970 or more than a day ahead of `now`.
pub fn key_time(
    posted_at: Option<DateTime<Utc>>,
    event_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let at = key::key_time(posted_at, event_time, now);
    if key::plausible_time(at, now) {
        return Ok(at);
    }
    let which = if posted_at.is_some() { "posted_at" } else { "the event's time" };
    Err(IngestError::InvalidRequest(format!(
        "{which} {} is before 1970 or more than a day ahead of now",
        at.to_rfc3339()
    )))
}

/// Refuses objects over the limit.
pub fn check_size(size: u64, limit: u64) -> Result<()> {
    if size > limit { Err(IngestError::TooLarge { size, limit }) } else { Ok(()) }
}

/// The most bytes `len` base64 characters can decode to.
pub fn base64_decoded_len(len: usize) -> u64 {
    (len as u64).div_ceil(4) * 3
}

/// Decodes standard base64, checking the size before allocating; ASCII whitespace
/// (as `base64` wraps its output) is skipped, the URL-safe alphabet is refused.
pub fn decode_base64(text: &str, limit: u64) -> Result<Bytes> {
    // Most senders do not wrap: whitespace is looked for only when the text as it is fails.
    match decode_unwrapped(text, limit) {
        Err(_) if text.bytes().any(|b| b.is_ascii_whitespace()) => {
            decode_unwrapped(&text.split_ascii_whitespace().collect::<String>(), limit)
        }
        decoded => decoded,
    }
}

fn decode_unwrapped(text: &str, limit: u64) -> Result<Bytes> {
    let upper = base64_decoded_len(text.len());
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count() as u64;
    check_size(upper.saturating_sub(padding.min(2)), limit)?;
    let bytes = BASE64.decode(text).map_err(|e| IngestError::InvalidBase64 {
        message: format!("data is not standard base64: {e}"),
        source: Arc::new(e),
    })?;
    Ok(Bytes::from(bytes))
}

fn log_outcome(index: usize, source: Source, result: &Result<StoredObject>, started: Instant) {
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(o) => {
            info!(index, key = %o.key, size = o.size, source = source.as_str(), status = ?o.status, duration_ms, "object stored");
            let written = if o.status == Status::Created { o.size } else { 0 };
            Record::by("Source", source.as_str())
                .and_in_total()
                .count("ObjectsStored", u64::from(o.status == Status::Created))
                .count("Duplicates", u64::from(o.status == Status::Duplicate))
                .bytes("BytesStored", written)
                .emit();
        }
        Err(e) => {
            let transient = e.is_transient();
            warn!(index, code = e.code(), transient, source = source.as_str(), error = %e.report(), duration_ms, "object failed");
            Record::by("Code", e.code()).and_in_total().count("Failures", 1).emit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_size_is_checked_before_decoding() {
        let text = "A".repeat(4000);
        assert_eq!(decode_base64(&text, 2999).unwrap_err().code(), "too_large");
        assert_eq!(decode_base64(&text, 3000).unwrap().len(), 3000);
    }

    #[test]
    fn base64_accepts_wrapped_and_unpadded_standard_text_only() {
        assert_eq!(&decode_base64("aGVs\nbG8=\n", 100).unwrap()[..], b"hello");
        assert_eq!(&decode_base64("aGVs\r\nbG8=", 5).unwrap()[..], b"hello", "the limit applies to the bytes");
        assert_eq!(decode_base64("aGVs\nbG8=\n", 4).unwrap_err().code(), "too_large");
        assert_eq!(decode_base64("aGVs bG8!", 100).unwrap_err().code(), "invalid_base64");
        assert_eq!(&decode_base64("aGVsbG8", 100).unwrap()[..], b"hello");
        assert_eq!(decode_base64("_-_-", 100).unwrap_err().code(), "invalid_base64");
        assert_eq!(decode_base64("not base64!", 100).unwrap_err().code(), "invalid_base64");
    }
}
