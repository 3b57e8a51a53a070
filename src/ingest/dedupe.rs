//! Duplicates (`DEDUPE=true`): the content index in the bucket, one entry per stored content,
//! `{INDEX_PREFIX}sha256/{hex}` naming the key that holds those bytes.
//!
//! The order of writes, and why every crash point and race leaves one object per content, is
//! in `docs/duplicates.md`. In short: look the digest up before the object is written (a
//! stream: at its end, before it is completed); write the object; then claim the entry,
//! `If-None-Match: *` when there was none, `If-Match` on the version read when it named a key
//! that no longer holds the bytes. The claim's loser deletes the object it created and
//! answers `duplicate` with the winner's key.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Status, StoredObject};
use crate::error::{IngestError, Result};
use crate::key;
use crate::store::{Gate, IndexEntry, IngestStore};

/// Claims tried before giving up on an entry that keeps changing under us.
const CLAIM_TRIES: usize = 4;

/// What the index says about some bytes, from the point of view of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// No entry: the first writer creates it.
    Absent,
    /// The entry names one of the item's own keys (its name, or that name moved aside with
    /// the digest): the item's write finds out whether the key holds the bytes.
    Ours(IndexEntry),
    /// The entry names another key that holds the bytes: the item is a duplicate of it.
    Elsewhere(String),
    /// The entry names a key that no longer holds the bytes: replaced by the next writer.
    Stale(IndexEntry),
}

/// One item's dealings with the index: asked as a [`Gate`] before its object is written, then
/// [`Claim::settle`]d once it is.
pub(super) struct Claim {
    store: Arc<dyn IngestStore>,
    /// `{INDEX_PREFIX}sha256/`.
    entries: String,
    /// The key the item is written to first.
    key: String,
    /// The last look, with the digest it was for.
    found: Mutex<Option<(String, Found)>>,
}

impl Claim {
    pub(super) fn new(store: Arc<dyn IngestStore>, index_prefix: &str, key: String) -> Self {
        Self { store, entries: format!("{index_prefix}sha256/"), key, found: Mutex::new(None) }
    }

    /// The key another item holds these bytes under, if one does; the look is kept, so the
    /// gate asked later with the same digest costs nothing more.
    pub(super) async fn elsewhere(&self, sha256_hex: &str) -> Result<Option<String>> {
        Ok(match self.look(sha256_hex).await? {
            Found::Elsewhere(key) => Some(key),
            _ => None,
        })
    }

    /// `stored`, once its object is written, as the index leaves it: the entry claimed (or
    /// already naming it), or, when another writer of these bytes won, a duplicate of the
    /// winner's key, with the object this item created deleted.
    pub(super) async fn settle(&self, stored: StoredObject) -> Result<StoredObject> {
        let mut found = self.look(&stored.sha256).await?;
        // An entry that named this key before the write: other items may have found these bytes
        // here since, and answered with this key, so the object is never deleted (see lost).
        let named_here = matches!(&found, Found::Ours(entry) if entry.key == stored.key);
        // The write created the bytes, so the entry was stale when read, and another writer
        // may be taking it over: it is claimed again, over the version read, so that only one
        // of them wins.
        if let Found::Ours(entry) = &found
            && named_here
            && stored.status == Status::Created
        {
            found = Found::Stale(entry.clone());
        }
        for _ in 0..CLAIM_TRIES {
            let replacing = match &found {
                Found::Ours(entry) if entry.key == stored.key => return Ok(stored),
                // The entry names the item's other key, which the write did not look at.
                Found::Ours(_) => {
                    found = self.refresh(&stored.sha256, &stored.key).await?;
                    continue;
                }
                Found::Elsewhere(winner) => return self.lost(stored, winner.clone(), named_here).await,
                Found::Absent => None,
                Found::Stale(entry) => Some(entry.version.as_str()),
            };
            let entry_key = self.entry_key(&stored.sha256);
            if self.store.write_entry(&entry_key, &stored.key, replacing).await? {
                return Ok(stored);
            }
            // Another writer claimed it first: see what it names now.
            found = self.refresh(&stored.sha256, &stored.key).await?;
        }
        Err(IngestError::storage(format!("the index entry for {} kept changing; try again", stored.sha256)))
    }

    /// The item, written at `stored.key`, lost the claim to `winner`, which holds the bytes:
    /// the object it created goes, unless the entry named its key (then other items may have
    /// been answered with it, and it stays, an extra copy: see docs/duplicates.md).
    async fn lost(&self, stored: StoredObject, winner: String, named_here: bool) -> Result<StoredObject> {
        if stored.status == Status::Created && !named_here {
            self.store.discard_copy(&stored.key, &stored.sha256).await?;
        }
        Ok(duplicate(stored, winner))
    }

    /// The look for `sha256_hex`, made once per digest.
    async fn look(&self, sha256_hex: &str) -> Result<Found> {
        if let Some((seen, found)) = self.found.lock().expect("not poisoned").as_ref()
            && seen == sha256_hex
        {
            return Ok(found.clone());
        }
        let ours = [self.key.clone(), moved_key(&self.key, sha256_hex)];
        let found = self.read(sha256_hex, &ours).await?;
        *self.found.lock().expect("not poisoned") = Some((sha256_hex.to_owned(), found.clone()));
        Ok(found)
    }

    /// A fresh look, with only `key` (where the item's object now is) taken as the item's own.
    async fn refresh(&self, sha256_hex: &str, key: &str) -> Result<Found> {
        let found = self.read(sha256_hex, &[key.to_owned()]).await?;
        *self.found.lock().expect("not poisoned") = Some((sha256_hex.to_owned(), found.clone()));
        Ok(found)
    }

    /// One GET of the entry, and one HEAD of the key it names unless that is one of `ours`.
    async fn read(&self, sha256_hex: &str, ours: &[String]) -> Result<Found> {
        let Some(entry) = self.store.read_entry(&self.entry_key(sha256_hex)).await? else { return Ok(Found::Absent) };
        if ours.contains(&entry.key) {
            return Ok(Found::Ours(entry));
        }
        if entry.key.is_empty() {
            return Ok(Found::Stale(entry));
        }
        let holds = self.store.identify(&entry.key).await?.and_then(|i| i.sha256).is_some_and(|s| s == sha256_hex);
        Ok(if holds { Found::Elsewhere(entry.key) } else { Found::Stale(entry) })
    }

    fn entry_key(&self, sha256_hex: &str) -> String {
        format!("{}{sha256_hex}", self.entries)
    }
}

#[async_trait]
impl Gate for Claim {
    async fn admit(&self, sha256_hex: &str) -> Result<bool> {
        Ok(self.elsewhere(sha256_hex).await?.is_none())
    }
}

/// Where the item's object goes when its name holds other bytes (`{stem}-{sha8}.{ext}`).
fn moved_key(key: &str, sha256_hex: &str) -> String {
    match key.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{}", key::collision_name(name, sha256_hex)),
        None => key::collision_name(key, sha256_hex),
    }
}

/// An item turned away at the gate: a duplicate of the key that holds its bytes.
pub(super) fn duplicate(mut stored: StoredObject, holder: String) -> StoredObject {
    stored.key = holder;
    stored.status = Status::Duplicate;
    stored
}
