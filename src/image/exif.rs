//! The GPS IFD removed from an EXIF (TIFF-structured) block in place, its length unchanged, and
//! the Orientation tag read for renditions.

use std::ops::Range;

const GPS_INFO: u16 = 0x8825;
const ORIENTATION: u16 = 0x0112;

/// The Orientation (1–8) in IFD0 of `tiff`, an EXIF block from its TIFF header on; `None` when the
/// tag is absent, not a SHORT, out of range or the block cannot be read (browsers then show the
/// pixels as stored).
pub(crate) fn orientation(tiff: &[u8]) -> Option<u16> {
    let le = match tiff.get(..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let r = Reader { le };
    let ifd0 = r.u32(tiff, 4)? as usize;
    let count = usize::from(r.u16(tiff, ifd0)?);
    let entry = (0..count).map(|i| ifd0 + 2 + 12 * i).find(|&e| r.u16(tiff, e) == Some(ORIENTATION))?;
    let value = (r.u16(tiff, entry + 2)? == 3).then(|| r.u16(tiff, entry + 8))??;
    (1..=8).contains(&value).then_some(value)
}

/// Removes every GPSInfo entry from IFD0 and zeroes the GPS IFD and its out-of-line values.
///
/// `tiff` starts at the TIFF header ("II*\0" or "MM\0*"). IFD0's later entries and its next-IFD
/// offset move left by 12 bytes, the freed 12 bytes are zeroed and the count drops by one; no other
/// byte moves, so every other offset stays valid. A GPS value or table that overlaps the header,
/// IFD0's table or the GPS table itself is left in place (only unreachable). Returns whether an
/// entry was removed; `Err` (nothing changed) when IFD0 cannot be read, since then no one can say
/// whether it points at a location.
pub(super) fn strip_gps(tiff: &mut [u8]) -> Result<bool, &'static str> {
    if tiff.is_empty() {
        return Ok(false);
    }
    let le = match tiff.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Err("the EXIF block has no TIFF header"),
    };
    let r = Reader { le };
    let ifd0 = r.u32(tiff, 4).ok_or("the EXIF block ends in its header")? as usize;
    if ifd0 < 8 {
        return Err("the EXIF IFD0 offset points into its header");
    }
    let mut count = usize::from(r.u16(tiff, ifd0).ok_or("the EXIF IFD0 lies outside the block")?);
    let entries = ifd0 + 2;
    let mut table_end = entries + 12 * count;
    if table_end > tiff.len() {
        return Err("the EXIF IFD0 runs past the block");
    }
    let next_len = if table_end + 4 <= tiff.len() { 4 } else { 0 };
    let mut removed = false;
    while let Some(i) = (0..count).find(|i| r.u16(tiff, entries + 12 * i) == Some(GPS_INFO)) {
        let entry = entries + 12 * i;
        let protected = [0..8, ifd0..table_end + next_len];
        if let Some(gps) = gps_table(&r, tiff, entry) {
            zero_gps(&r, tiff, gps, &protected);
        }
        tiff.copy_within(entry + 12..table_end + next_len, entry);
        tiff[table_end + next_len - 12..table_end + next_len].fill(0);
        count -= 1;
        table_end -= 12;
        r.put_u16(tiff, ifd0, count as u16);
        removed = true;
    }
    Ok(removed)
}

/// The GPS IFD's table (count, entries and next-IFD offset) when the entry's value points at one
/// that lies wholly within the block.
fn gps_table(r: &Reader, tiff: &[u8], entry: usize) -> Option<Range<usize>> {
    let kind = r.u16(tiff, entry + 2)?;
    let n = r.u32(tiff, entry + 4)?;
    if !matches!(kind, 4 | 13) || n != 1 {
        return None;
    }
    let at = r.u32(tiff, entry + 8)? as usize;
    let count = usize::from(r.u16(tiff, at)?);
    let end = (at + 2 + 12 * count + 4).min(tiff.len());
    (at >= 8 && at + 2 + 12 * count <= tiff.len()).then_some(at..end)
}

fn zero_gps(r: &Reader, tiff: &mut [u8], gps: Range<usize>, protected: &[Range<usize>; 2]) {
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    let count = usize::from(r.u16(tiff, gps.start).unwrap_or_default());
    for i in 0..count {
        let entry = gps.start + 2 + 12 * i;
        let (Some(kind), Some(n), Some(at)) = (r.u16(tiff, entry + 2), r.u32(tiff, entry + 4), r.u32(tiff, entry + 8))
        else {
            continue;
        };
        let unit: u64 = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 => 8,
            _ => continue,
        };
        let len = unit * u64::from(n);
        if len <= 4 {
            continue;
        }
        let start = at as usize;
        let Some(end) = u64::try_from(start).ok().and_then(|s| s.checked_add(len)) else { continue };
        let Ok(end) = usize::try_from(end) else { continue };
        let value = start..end;
        if end <= tiff.len() && !overlaps(&value, &gps) && !protected.iter().any(|p| overlaps(&value, p)) {
            tiff[value].fill(0);
        }
    }
    if !protected.iter().any(|p| overlaps(&gps, p)) {
        tiff[gps].fill(0);
    }
}

struct Reader {
    le: bool,
}

impl Reader {
    fn u16(&self, b: &[u8], at: usize) -> Option<u16> {
        let bytes: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.le { u16::from_le_bytes(bytes) } else { u16::from_be_bytes(bytes) })
    }

    fn u32(&self, b: &[u8], at: usize) -> Option<u32> {
        let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.le { u32::from_le_bytes(bytes) } else { u32::from_be_bytes(bytes) })
    }

    fn put_u16(&self, b: &mut [u8], at: usize, v: u16) {
        let bytes = if self.le { v.to_le_bytes() } else { v.to_be_bytes() };
        b[at..at + 2].copy_from_slice(&bytes);
    }
}
