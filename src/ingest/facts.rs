//! The facts marker: the last write of every stored original, so the gallery lists a day's
//! tiles instead of asking for each object (docs/gallery.md, "Tile facts").

use bytes::Bytes;

use super::{Ingestor, Status, StoredObject};
use crate::body::{Blob, Body};
use crate::error::Result;
use crate::key::{self, Facts, THUMB_MIN_EDGE, Thumb};
use crate::rendition::Outcome;
use crate::store::Placement;

impl Ingestor {
    /// Writes what follows a stored original: its renditions, then (with `FACTS_PREFIX`) its
    /// facts marker. The marker comes last so that it never names a rendition that is not there; a redelivery
    /// writes whichever is missing.
    /// A duplicate (`DEDUPE`) stored nothing, so it gets neither.
    pub(super) async fn finish(&self, stored: StoredObject, outcome: Option<Outcome>) -> Result<StoredObject> {
        if stored.status == Status::Duplicate {
            return Ok(stored);
        }
        let stored = self.add_renditions(stored, outcome).await?;
        let Some(facts_prefix) = &self.rules.facts_prefix else { return Ok(stored) };
        let facts = self.facts(&stored);
        let marker = key::facts_key(facts_prefix, &self.rules.key_prefix, &stored.key, &facts);
        let place = Placement::marker(marker);
        // Conditional like every write: a marker already there (a redelivery) is kept.
        self.put(&place, Body::Whole(Blob::new(Bytes::new()))).await?;
        Ok(stored)
    }

    fn facts(&self, stored: &StoredObject) -> Facts {
        let pixels = stored.width.zip(stored.height);
        let thumb = self.rules.renditions.as_ref().and_then(|rules| {
            let made = stored.renditions.as_deref().unwrap_or_default();
            let entry = made
                .iter()
                .filter(|r| r.width.max(r.height) >= THUMB_MIN_EDGE)
                .min_by_key(|r| r.width.max(r.height))?;
            let size = entry.width.max(entry.height);
            let extension = rules.plan.format.extension();
            let usual = key::rendition_key(&rules.prefix, &self.rules.key_prefix, &stored.key, size, extension);
            let moved = (entry.key != usual).then(|| stored.sha256[..8].to_owned());
            Some(Thumb { size, width: entry.width, height: entry.height, moved })
        });
        Facts { pixels, thumb }
    }
}
