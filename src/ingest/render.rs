//! Renditions in the pass that checks the bytes: the original is decoded on a blocking thread,
//! from bytes in hand or from a stream as it passes to the store, and its renditions are written
//! once the original is stored.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Ingestor, RenditionEntry, Status, StoredObject};
use crate::body::{Blob, Body, ByteStream};
use crate::content::SVG_TYPE;
use crate::error::{IngestError, Result};
use crate::image::Format;
use crate::key;
use crate::rendition::{Outcome, Plan, RenderError, Rendition, render};
use crate::store::{Placement, Trailer, WriteOutcome};

/// Chunks a stream may run ahead of its decoder: enough to keep both busy, few enough that a
/// slow decode holds back the upload rather than filling memory.
const CHUNKS_AHEAD: usize = 4;

/// `RENDITIONS`, `RENDITION_FORMAT` and `RENDITION_PREFIX`, when renditions are made.
#[derive(Debug, Clone)]
pub struct RenditionRules {
    /// Sizes and format.
    pub plan: Plan,
    /// Where renditions go.
    pub prefix: String,
}

/// Runs [`render`] on blocking threads, one per CPU at most, so that the other items of a batch
/// keep fetching and uploading while an image is decoded.
#[derive(Clone)]
pub(super) struct Renderer {
    plan: Arc<Plan>,
    permits: Arc<Semaphore>,
}

/// A stream's rendering, known once the stream has ended.
pub(super) struct Pending(oneshot::Receiver<Result<Outcome>>);

impl Pending {
    /// The outcome; an error if the stream was not read to its end.
    pub(super) async fn outcome(self) -> Result<Outcome> {
        self.0.await.unwrap_or_else(|_| Err(IngestError::storage("the body was not read to its end")))
    }
}

impl Renderer {
    pub(super) fn new(plan: Plan) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self { plan: Arc::new(plan), permits: Arc::new(Semaphore::new(cpus)) }
    }

    /// Renders bytes in hand of sniffed type `mime`.
    pub(super) async fn whole(&self, mime: &str, bytes: Bytes) -> Result<Outcome> {
        match Format::from_mime(mime) {
            Some(format) => self.run(format, std::io::Cursor::new(bytes)).await,
            None => Ok(Outcome::Skipped(not_raster(mime))),
        }
    }

    /// Passes `body` through while it is rendered; at its end, waits for the decoder, and ends
    /// with `invalid_image` instead when the pixels could not be decoded (so the store aborts
    /// the write). A rendered image's `dhash` goes into `trailer` before the stream ends.
    pub(super) fn tap(&self, mime: &str, body: ByteStream, trailer: Option<Trailer>) -> (ByteStream, Pending) {
        let (done, pending) = oneshot::channel();
        let Some(format) = Format::from_mime(mime) else {
            let _ = done.send(Ok(Outcome::Skipped(not_raster(mime))));
            return (body, Pending(pending));
        };
        let (chunks, reader) = mpsc::channel(CHUNKS_AHEAD);
        let renderer = self.clone();
        let task = tokio::spawn(async move { renderer.run(format, ChunkReader::new(reader)).await });
        let state = Tap { body, chunks: Some(chunks), task: Some(task), done: Some(done), trailer };
        let tapped = stream::unfold(Some(state), |state| async move {
            let mut tap = state?;
            match tap.body.next().await {
                Some(Ok(chunk)) => {
                    // A decoder that stopped early (the image ended, or failed) takes no more.
                    if let Some(chunks) = &tap.chunks
                        && chunks.send(chunk.clone()).await.is_err()
                    {
                        tap.chunks = None;
                    }
                    Some((Ok(chunk), Some(tap)))
                }
                Some(Err(err)) => Some((Err(err), None)),
                None => tap.finish().await.map(|err| (Err(err), None)),
            }
        });
        (tapped.fuse().boxed(), Pending(pending))
    }

    async fn run(&self, format: Format, mut source: impl Read + Send + 'static) -> Result<Outcome> {
        let _permit = self.permits.acquire().await.map_err(|_| IngestError::storage("shutting down"))?;
        let plan = self.plan.clone();
        let rendered = tokio::task::spawn_blocking(move || render(format, &mut source, &plan)).await;
        match rendered {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(RenderError::Read(err))) => {
                Err(IngestError::storage_from("the body could not be read while it was rendered", err))
            }
            Ok(Err(err)) => Err(IngestError::InvalidImage { message: err.to_string(), source: None }),
            Err(join) => Err(IngestError::InvalidImage {
                message: format!("the {} cannot be decoded", format.name()),
                source: Some(Arc::new(join)),
            }),
        }
    }
}

/// A stream being rendered, and where its outcome goes.
struct Tap {
    body: ByteStream,
    chunks: Option<mpsc::Sender<Bytes>>,
    task: Option<tokio::task::JoinHandle<Result<Outcome>>>,
    done: Option<oneshot::Sender<Result<Outcome>>>,
    trailer: Option<Trailer>,
}

impl Tap {
    /// At the end of the body: the decoder's verdict, as the stream's last item when it failed.
    async fn finish(&mut self) -> Option<IngestError> {
        self.chunks = None; // the decoder reads the end of its input
        let outcome = match self.task.take()?.await {
            Ok(outcome) => outcome,
            Err(join) => Err(IngestError::storage_from("the renderer stopped", join)),
        };
        if let (Ok(Outcome::Rendered(rendered)), Some(trailer)) = (&outcome, &self.trailer) {
            trailer.set(dhash_metadata(rendered.dhash));
        }
        let failure = outcome.as_ref().err().cloned();
        if let Some(done) = self.done.take() {
            let _ = done.send(outcome);
        }
        failure
    }
}

/// Reads the chunks a stream sends, blocking, on the decoder's thread.
struct ChunkReader {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<Bytes>) -> Self {
        Self { chunks, current: Bytes::new() }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Why a type that is not a raster image gets no rendition.
fn not_raster(mime: &str) -> String {
    if mime == SVG_TYPE {
        "SVG is a vector image: browsers draw it at any size".into()
    } else {
        format!("{mime} is not a raster image the function decodes")
    }
}

/// The `dhash` metadata entry: 16 lowercase hex digits.
pub(super) fn dhash_metadata(dhash: u64) -> BTreeMap<String, String> {
    BTreeMap::from([("dhash".to_owned(), format!("{dhash:016x}"))])
}

impl Ingestor {
    /// Writes the renditions of a stored original and lists them in its entry. Each is a
    /// conditional write: a redelivery finds them `existing` and writes nothing.
    pub(super) async fn add_renditions(
        &self,
        mut stored: StoredObject,
        outcome: Option<Outcome>,
    ) -> Result<StoredObject> {
        // A duplicate's bytes are another key's: their renditions (and marks) are that key's.
        if stored.status == Status::Duplicate {
            return Ok(stored);
        }
        let (Some(rules), Some(outcome)) = (&self.rules.renditions, outcome) else { return Ok(stored) };
        let made = match outcome {
            Outcome::Rendered(rendered) => rendered.renditions,
            Outcome::Skipped(reason) => {
                stored.renditions = Some(Vec::new());
                stored.renditions_skipped = Some(reason);
                return Ok(stored);
            }
        };
        let writes = made.into_iter().map(|rendition| self.write_rendition(rules, &stored, rendition));
        stored.renditions = Some(futures::future::try_join_all(writes).await?);
        Ok(stored)
    }

    async fn write_rendition(
        &self,
        rules: &RenditionRules,
        original: &StoredObject,
        rendition: Rendition,
    ) -> Result<RenditionEntry> {
        let extension = rules.plan.format.extension();
        let key = key::rendition_key(&rules.prefix, &self.rules.key_prefix, &original.key, rendition.size, extension);
        let metadata = BTreeMap::from([
            ("source-key".to_owned(), original.key.clone()),
            ("source-sha256".to_owned(), original.sha256.clone()),
            ("width".to_owned(), rendition.width.to_string()),
            ("height".to_owned(), rendition.height.to_string()),
        ]);
        let blob = Blob::new(Bytes::from(rendition.bytes));
        let mut place =
            Placement { key, content_type: rules.plan.format.mime().to_owned(), metadata, trailer: Trailer::default() };
        let mut written = self.put(&place, Body::Whole(blob.clone())).await?;
        if written.outcome == WriteOutcome::Occupied {
            // Another original with this stem (tabby.jpg beside tabby.png), or a rendition
            // made by another encoder: a rendition is never replaced, so this one moves aside.
            let (dir, name) = place.key.rsplit_once('/').unwrap_or(("", &place.key));
            place.key = format!("{dir}/{}", key::collision_name(name, &original.sha256));
            written = self.put(&place, Body::Whole(blob)).await?;
            if written.outcome == WriteOutcome::Occupied {
                return Err(IngestError::storage(format!(
                    "{} and the name before it both hold other renditions",
                    place.key
                )));
            }
        }
        Ok(RenditionEntry { key: place.key, width: rendition.width, height: rendition.height, size: written.size })
    }
}
