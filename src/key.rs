//! Pure key building: the date path and the file name. Time is always passed in.

use chrono::{DateTime, Utc};

use crate::content::{Sniffed, extension_fits, is_known_extension};

/// Longest file name kept, in bytes (the name is ASCII, so also in characters).
pub const MAX_FILE_NAME_BYTES: usize = 200;

/// Picks the key time: the item's own time, else the event's, else now.
pub fn key_time(
    posted_at: Option<DateTime<Utc>>,
    event_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    posted_at.or(event_time).unwrap_or(now)
}

/// How far ahead of now an item's own time may be (clocks drift; a day covers time zones
/// mistaken for UTC).
pub const MAX_FUTURE: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Whether an item's `posted_at` is a sensible key time: not before 1970, at most a day ahead.
pub fn plausible_time(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at >= DateTime::UNIX_EPOCH && at <= now + MAX_FUTURE
}

/// `{prefix}{YYYY}/{MM}/{DD}/{HHMMSS}/{file_name}`, in UTC.
pub fn object_key(prefix: &str, at: DateTime<Utc>, file_name: &str) -> String {
    // A leap second (23:59:60) would print as second 60; keys use 23:59:59.
    let at = DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
    format!("{prefix}{}/{file_name}", at.format("%Y/%m/%d/%H%M%S"))
}

/// The stored file name: the caller's name (from the item, or a URL's last segment)
/// made safe and given an extension that fits the sniffed type, else `{sha16}.{ext}`.
pub fn file_name(wanted: Option<&str>, sniffed: &Sniffed, sha256_hex: &str) -> String {
    wanted
        .and_then(|w| usable_name(w, sniffed))
        .unwrap_or_else(|| format!("{}.{}", cut(sha256_hex, 16), sniffed.extension))
}

/// The caller's name made safe, or `None` when nothing usable is left (then the digest names it).
pub fn usable_name(wanted: &str, sniffed: &Sniffed) -> Option<String> {
    let clean = sanitise(wanted)?;
    let (stem, ext) = match clean.rsplit_once('.') {
        Some((stem, ext)) if extension_fits(ext, sniffed) => (stem.to_owned(), ext.to_owned()),
        Some((stem, ext)) if is_known_extension(ext) => (stem.to_owned(), sniffed.extension.to_owned()),
        _ => (clean.clone(), sniffed.extension.to_owned()),
    };
    let stem = tidy_stem(&stem);
    (!stem.is_empty()).then(|| join(stem, &ext, ""))
}

/// The date path and file name in a staging key: `incoming/2026/11/25/101500/panorama.jpg`
/// gives 2026-11-25T10:15:00Z and `panorama.jpg`; a key without a date path (a file dropped
/// straight into the folder) gives no time and its last segment.
pub fn staged_parts<'a>(upload_prefix: &str, key: &'a str) -> (Option<DateTime<Utc>>, &'a str) {
    let rest = key.strip_prefix(upload_prefix).unwrap_or(key);
    let name = rest.rsplit('/').next().unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let at = match segments.as_slice() {
        [year, month, day, hms, _] if year.len() == 4 && month.len() == 2 && day.len() == 2 && hms.len() == 6 => {
            chrono::NaiveDateTime::parse_from_str(&format!("{year}{month}{day}{hms}"), "%Y%m%d%H%M%S")
                .ok()
                .map(|t| t.and_utc())
        }
        _ => None,
    };
    (at, name)
}

/// `{rendition_prefix}{size}/{the original key without key_prefix, extension replaced}`:
/// `images/2026/11/24/203015/tabby.jpg` at 320 in WebP gives
/// `renditions/320/2026/11/24/203015/tabby.webp`.
pub fn rendition_key(rendition_prefix: &str, key_prefix: &str, original: &str, size: u32, extension: &str) -> String {
    let path = original.strip_prefix(key_prefix).unwrap_or(original);
    let (dir, name) = path.rsplit_once('/').map_or(("", path), |(dir, name)| (dir, name));
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let dir = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    format!("{rendition_prefix}{size}/{dir}{stem}.{extension}")
}

/// Whether `key` is a stored original: `{key_prefix}{YYYY}/{MM}/{DD}/{HHMMSS}/{name}`.
pub fn is_original_key(key_prefix: &str, key: &str) -> bool {
    let Some(path) = key.strip_prefix(key_prefix) else { return false };
    let segments: Vec<&str> = path.split('/').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    matches!(segments.as_slice(), [y, m, d, hms, name]
        if digits(y, 4) && digits(m, 2) && digits(d, 2) && digits(hms, 6) && !name.is_empty())
}

/// `{stem}-{sha8}.{ext}`: where different bytes go when the name is taken.
pub fn collision_name(file_name: &str, sha256_hex: &str) -> String {
    let (stem, ext) = file_name.rsplit_once('.').unwrap_or((file_name, ""));
    join(stem, ext, &format!("-{}", cut(sha256_hex, 8)))
}

/// What the gallery shows of an original, kept in the key of an empty object beside it so
/// that one listing gives a whole day's tiles: no request per object (docs/gallery.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Pixel size from the header; `None` for types without one (SVG) or when unknown.
    pub pixels: Option<(u32, u32)>,
    /// The rendition a tile shows, if one was made.
    pub thumb: Option<Thumb>,
}

/// The rendition a gallery tile shows: the smallest at least [`THUMB_MIN_EDGE`] px.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb {
    /// The `RENDITIONS` size it was made at.
    pub size: u32,
    /// Its pixel width.
    pub width: u32,
    /// Its pixel height.
    pub height: u32,
    /// The first 8 hex digits of the original's sha256 when the rendition was moved aside to
    /// its collision name.
    pub moved: Option<String>,
}

/// The smallest longer edge a tile's rendition may have.
pub const THUMB_MIN_EDGE: u32 = 240;

/// `{facts_prefix}{original without key_prefix}!{W}x{H}!{thumb}`, thumb being `-` or
/// `{size}={w}x{h}` (and `={sha8}` when moved aside). `!` sorts below every character a
/// sanitised name holds, so markers list in the order of their originals.
pub fn facts_key(facts_prefix: &str, key_prefix: &str, original: &str, facts: &Facts) -> String {
    let path = original.strip_prefix(key_prefix).unwrap_or(original);
    let (w, h) = facts.pixels.unwrap_or((0, 0));
    let thumb = match &facts.thumb {
        None => "-".to_owned(),
        Some(t) => {
            let moved = t.moved.as_deref().map(|sha8| format!("={sha8}")).unwrap_or_default();
            format!("{}={}x{}{moved}", t.size, t.width, t.height)
        }
    };
    format!("{facts_prefix}{path}!{w}x{h}!{thumb}")
}

/// The original key and facts a marker key holds; `None` for anything else.
pub fn parse_facts_key(facts_prefix: &str, key_prefix: &str, marker: &str) -> Option<(String, Facts)> {
    let rest = marker.strip_prefix(facts_prefix)?;
    let mut fields = rest.rsplitn(3, '!');
    let (thumb, pixels, path) = (fields.next()?, fields.next()?, fields.next()?);
    let size = |text: &str| -> Option<(u32, u32)> {
        let (w, h) = text.split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?))
    };
    let pixels = size(pixels)?;
    let thumb = match thumb {
        "-" => None,
        _ => {
            let mut parts = thumb.split('=');
            let at: u32 = parts.next()?.parse().ok()?;
            let (width, height) = size(parts.next()?)?;
            let moved = parts.next().map(str::to_owned);
            if parts.next().is_some() || moved.as_ref().is_some_and(|m| m.len() != 8) {
                return None;
            }
            Some(Thumb { size: at, width, height, moved })
        }
    };
    let pixels = (pixels != (0, 0)).then_some(pixels);
    Some((format!("{key_prefix}{path}"), Facts { pixels, thumb }))
}

/// The key a tile's rendition is stored at.
pub fn thumb_key(rendition_prefix: &str, key_prefix: &str, original: &str, thumb: &Thumb, extension: &str) -> String {
    let key = rendition_key(rendition_prefix, key_prefix, original, thumb.size, extension);
    match &thumb.moved {
        None => key,
        Some(sha8) => {
            let (dir, name) = key.rsplit_once('/').unwrap_or(("", &key));
            format!("{dir}/{}", collision_name(name, sha8))
        }
    }
}

/// Keeps ASCII letters, digits, `.`, `_` and `-` of the last path segment; other runs become `_`.
fn sanitise(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::with_capacity(last.len().min(MAX_FILE_NAME_BYTES * 2));
    for c in last.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
        if out.len() > MAX_FILE_NAME_BYTES * 2 {
            break;
        }
    }
    let trimmed = out.trim_start_matches('.');
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn tidy_stem(stem: &str) -> &str {
    stem.trim_matches(|c| matches!(c, '.' | '_'))
}

/// Joins stem, suffix and extension, cutting the stem so the whole fits the byte limit.
fn join(stem: &str, ext: &str, suffix: &str) -> String {
    let dot_ext = if ext.is_empty() { String::new() } else { format!(".{ext}") };
    let room = MAX_FILE_NAME_BYTES.saturating_sub(dot_ext.len() + suffix.len());
    format!("{}{suffix}{dot_ext}", cut(stem, room))
}

/// At most `max` bytes of `s`, cut back to a character boundary: total for any input.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const PNG: Sniffed = Sniffed { mime: "image/png", extension: "png" };
    const JPEG: Sniffed = Sniffed { mime: "image/jpeg", extension: "jpg" };

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn staging_keys_give_their_date_path_and_name() {
        assert_eq!(
            staged_parts("incoming/", "incoming/2026/11/25/101500/panorama.jpg"),
            (Some(at("2026-11-25T10:15:00Z")), "panorama.jpg")
        );
        assert_eq!(staged_parts("incoming/", "incoming/photo.jpg"), (None, "photo.jpg"));
        assert_eq!(staged_parts("incoming/", "incoming/trips/photo.jpg"), (None, "photo.jpg"));
        assert_eq!(staged_parts("incoming/", "incoming/2026/13/25/101500/x.jpg"), (None, "x.jpg"));
        assert_eq!(staged_parts("incoming/", "incoming/2026/11/25/101500/"), (Some(at("2026-11-25T10:15:00Z")), ""));
    }

    #[test]
    fn key_is_the_zero_padded_utc_date_path() {
        let t = Utc.with_ymd_and_hms(2026, 1, 4, 3, 5, 9).unwrap();
        assert_eq!(object_key("images/", t, "tabby.jpg"), "images/2026/01/04/030509/tabby.jpg");
        assert_eq!(object_key("", at("2026-11-24T21:30:15+01:00"), "a.png"), "2026/11/24/203015/a.png");
        assert_eq!(object_key("", at("2016-12-31T23:59:60Z"), "a.png"), "2016/12/31/235959/a.png");
    }

    #[test]
    fn item_time_beats_event_time_beats_now() {
        let (a, b, c) = (at("2020-01-01T00:00:00Z"), at("2021-01-01T00:00:00Z"), at("2022-01-01T00:00:00Z"));
        assert_eq!(key_time(Some(a), Some(b), c), a);
        assert_eq!(key_time(None, Some(b), c), b);
        assert_eq!(key_time(None, None, c), c);
    }

    #[test]
    fn posted_at_must_be_plausible() {
        let now = at("2026-11-24T20:30:15Z");
        assert!(plausible_time(at("2026-11-25T20:00:00Z"), now));
        assert!(plausible_time(at("1970-01-01T00:00:00Z"), now));
        assert!(!plausible_time(at("2026-11-25T20:30:16Z"), now));
        assert!(!plausible_time(at("1969-12-31T23:59:59Z"), now));
        assert!(!plausible_time(at("9999-12-31T23:59:59Z"), now));
    }

    #[test]
    fn names_are_kept_cleaned_or_derived() {
        assert_eq!(file_name(Some("tabby.png"), &PNG, SHA), "tabby.png");
        assert_eq!(file_name(Some("Tabby Cat (1).PNG"), &PNG, SHA), "Tabby_Cat_1.PNG");
        assert_eq!(file_name(Some("../../etc/passwd"), &PNG, SHA), "passwd.png");
        assert_eq!(file_name(Some("..\\..\\win.ini"), &PNG, SHA), "win.png");
        assert_eq!(file_name(Some(".hidden"), &PNG, SHA), "hidden.png");
        assert_eq!(file_name(Some("photo.jpeg"), &JPEG, SHA), "photo.jpeg");
        assert_eq!(file_name(Some("photo.png"), &JPEG, SHA), "photo.jpg");
        assert_eq!(file_name(Some("report.2026"), &PNG, SHA), "report.2026.png");
        assert_eq!(file_name(Some("café.png"), &PNG, SHA), "caf.png");
        assert_eq!(file_name(None, &PNG, SHA), "0123456789abcdef.png");
        for empty in ["", "/", "...", "日本", "a/b/", "__.png"] {
            assert_eq!(file_name(Some(empty), &PNG, SHA), "0123456789abcdef.png", "{empty:?}");
        }
    }

    #[test]
    fn long_names_are_cut_but_keep_their_extension() {
        let long = format!("{}.png", "x".repeat(500));
        let name = file_name(Some(&long), &PNG, SHA);
        assert_eq!(name.len(), MAX_FILE_NAME_BYTES);
        assert!(name.ends_with("x.png"));
        let moved = collision_name(&name, SHA);
        assert_eq!(moved.len(), MAX_FILE_NAME_BYTES);
        assert!(moved.ends_with("x-01234567.png"));
    }

    #[test]
    fn facts_markers_round_trip_and_sort_with_their_originals() {
        let thumb = Thumb { size: 320, width: 320, height: 213, moved: None };
        let facts = Facts { pixels: Some((1920, 1280)), thumb: Some(thumb.clone()) };
        let marker = facts_key("facts/", "images/", "images/2026/11/24/203015/tabby.jpg", &facts);
        assert_eq!(marker, "facts/2026/11/24/203015/tabby.jpg!1920x1280!320=320x213");
        let parsed = parse_facts_key("facts/", "images/", &marker).unwrap();
        assert_eq!(parsed, ("images/2026/11/24/203015/tabby.jpg".to_owned(), facts));

        let moved = Thumb { moved: Some("0123abcd".into()), ..thumb };
        let facts = Facts { pixels: None, thumb: Some(moved.clone()) };
        let marker = facts_key("f/", "", "2026/11/24/203015/a!b.png", &facts);
        assert_eq!(parse_facts_key("f/", "", &marker).unwrap(), ("2026/11/24/203015/a!b.png".to_owned(), facts));
        assert_eq!(
            thumb_key("r/", "", "2026/11/24/203015/a.png", &moved, "webp"),
            "r/320/2026/11/24/203015/a-0123abcd.webp"
        );
        let none = Facts { pixels: Some((5, 6)), thumb: None };
        assert_eq!(facts_key("f/", "", "k/x.gif", &none), "f/k/x.gif!5x6!-");

        for bad in ["f/k/x.gif", "f/k/x.gif!5x6", "f/k!axb!-", "f/k!1x1!3=2", "f/k!1x1!3=2x2=abc", "g/k!1x1!-"] {
            assert_eq!(parse_facts_key("f/", "", bad), None, "{bad}");
        }
        let (a, b) = (facts_key("f/", "", "d/a.jpg", &none), facts_key("f/", "", "d/a.jpg-2.jpg", &none));
        assert!(a < b && "d/a.jpg" < "d/a.jpg-2.jpg");
    }

    #[test]
    fn rendition_keys_replace_prefix_size_and_extension() {
        let original = "images/2026/11/24/203015/tabby.jpg";
        assert_eq!(
            rendition_key("renditions/", "images/", original, 320, "webp"),
            "renditions/320/2026/11/24/203015/tabby.webp"
        );
        assert_eq!(
            rendition_key("r/", "", "2026/11/24/203015/a.b.png", 1280, "jpg"),
            "r/1280/2026/11/24/203015/a.b.jpg"
        );
        assert_eq!(rendition_key("r/", "", "2026/11/24/203015/noext", 8, "webp"), "r/8/2026/11/24/203015/noext.webp");
    }

    #[test]
    fn originals_are_date_path_keys_under_the_prefix() {
        assert!(is_original_key("images/", "images/2026/11/24/203015/tabby.jpg"));
        assert!(is_original_key("", "2026/11/24/203015/tabby.jpg"));
        for other in [
            "renditions/320/2026/11/24/203015/tabby.webp",
            "images/2026/11/24/tabby.jpg",
            "images/2026/11/24/203015/",
            "other/2026/11/24/203015/a.jpg",
            "images/2026/11/24/203015/x/a.jpg",
        ] {
            assert!(!is_original_key("images/", other), "{other}");
        }
        assert!(!is_original_key("", "renditions/320/2026/11/24/203015/a.webp"));
    }

    #[test]
    fn collisions_get_the_short_hash_before_the_extension() {
        assert_eq!(collision_name("tabby.jpg", SHA), "tabby-01234567.jpg");
        assert_eq!(collision_name("tabby", SHA), "tabby-01234567");
    }

    proptest! {
        #[test]
        fn any_name_becomes_a_safe_file_name(raw in any::<String>(), sniff_png in any::<bool>()) {
            let sniffed = if sniff_png { PNG } else { JPEG };
            for name in [file_name(Some(&raw), &sniffed, SHA), collision_name(&file_name(Some(&raw), &sniffed, SHA), SHA)] {
                prop_assert!(!name.is_empty());
                prop_assert!(!name.contains('/'));
                prop_assert!(!name.starts_with('.'));
                prop_assert!(name.len() <= MAX_FILE_NAME_BYTES);
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{name:?}");
                let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
                prop_assert!(extension_fits(ext, &sniffed), "{name:?}");
            }
        }

        #[test]
        fn public_names_are_total_for_any_text(name in "\\PC{0,300}", digest in "\\PC{0,20}") {
            let stored = file_name(Some(&name), &PNG, &digest);
            prop_assert!(stored.len() <= MAX_FILE_NAME_BYTES, "{stored}");
            let moved = collision_name(&stored, &digest);
            prop_assert!(moved.len() <= MAX_FILE_NAME_BYTES, "{moved}");
            collision_name(&name, &digest); // any text: no panic
            let unnamed = file_name(None, &PNG, &digest);
            prop_assert!(unnamed.ends_with(".png"));
        }

        #[test]
        fn path_like_names_keep_only_the_last_segment(dirs in proptest::collection::vec("[a-z.]{0,5}", 0..4), base in "[a-z]{1,8}") {
            let raw = format!("{}/{base}.png", dirs.join("/"));
            prop_assert_eq!(file_name(Some(&raw), &PNG, SHA), format!("{base}.png"));
        }
    }
}
