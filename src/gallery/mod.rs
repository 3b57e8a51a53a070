//! The gallery: the archive as pages a person opens in a browser. A date tree, then a day's
//! images as tiles, each from two listings and local signing (docs/gallery.md).

mod html;
mod link;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures::future::{join_all, try_join_all};

pub use html::content_security_policy;
pub use link::{Access, DEFAULT_TTL_SECS, Grant, MAX_TTL_SECS, sign, verify};

use crate::body::{Blob, Body};
use crate::config::Config;
use crate::error::{IngestError, Result};
use crate::key::{self, Facts};
use crate::store::{GalleryStore, ListedObject, Placement};

/// Tiles on one day page.
pub const TILES_PER_PAGE: u32 = 100;
/// An original at most this large is its own tile when it has no rendition.
pub const MAX_ORIGINAL_TILE_BYTES: u64 = 2 * 1024 * 1024;
/// Objects without a facts marker looked up (and their markers written) per page; the rest
/// show as placeholders until a later visit.
pub const REPAIRS_PER_PAGE: usize = 20;

/// A gallery address, below `/gallery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `/gallery`: every year, month and day.
    Root,
    /// `/gallery/{YYYY}`: that year's months and days.
    Year(String),
    /// `/gallery/{YYYY}/{MM}`: that month's days.
    Month(String, String),
    /// `/gallery/{YYYY}/{MM}/{DD}`: that day's tiles.
    Day(String, String, String),
}

impl Place {
    /// Parses the segments after `gallery`; `None` for any other shape or an impossible date.
    pub fn parse(segments: &[&str]) -> Option<Self> {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let date =
            |y: &str, m: &str, d: &str| NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        match segments {
            [] => Some(Self::Root),
            [y] if digits(y, 4) => Some(Self::Year(y.to_string())),
            [y, m] if digits(y, 4) && digits(m, 2) && date(y, m, "01").is_some() => {
                Some(Self::Month(y.to_string(), m.to_string()))
            }
            [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2) && date(y, m, d).is_some() => {
                Some(Self::Day(y.to_string(), m.to_string(), d.to_string()))
            }
            _ => None,
        }
    }
}

/// A request for a page: where, which page of a day, and the link's grant as given.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// What the page's links put before `gallery`: `../` per level the page is below the
    /// folder holding `gallery`, so links are relative and work under any stage, base path
    /// or local emulator's prefix.
    pub base: String,
    /// `expires` as given.
    pub expires: Option<String>,
    /// `signature` as given.
    pub signature: Option<String>,
    /// `next_token` as given.
    pub next_token: Option<String>,
}

/// A rendered page with the policy its images need.
#[derive(Debug, Clone)]
pub struct Html {
    /// The document.
    pub body: String,
    /// Its Content-Security-Policy header.
    pub policy: String,
}

/// A new gallery link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// The gallery's first page, with the grant when links are signed.
    pub url: String,
    /// When the link stops working, RFC 3339.
    pub expires_at: String,
}

/// One year of the date tree.
#[derive(Debug, Clone)]
struct YearNode {
    year: String,
    months: Vec<MonthNode>,
}

/// One month of the date tree.
#[derive(Debug, Clone)]
struct MonthNode {
    month: String,
    label: String,
    days: Vec<String>,
}

/// What the tree template needs.
struct TreePage {
    title: String,
    crumbs: Vec<(String, String)>,
    years: Vec<YearNode>,
    base: String,
    grant: Option<Grant>,
}

impl TreePage {
    fn href(&self, segments: &[&str]) -> String {
        href(&self.base, segments, self.grant.as_ref(), None)
    }
}

/// What the day template needs.
struct DayPage {
    title: String,
    crumbs: Vec<(String, String)>,
    tiles: Vec<Tile>,
    next: Option<String>,
}

/// One tile: an image (or a placeholder) and its facts.
#[derive(Debug, Clone)]
struct Tile {
    name: String,
    kind: String,
    bytes: u64,
    pixels: Option<(u32, u32)>,
    time: Option<String>,
    image: Option<TileImage>,
    original: String,
}

/// What a tile's `<img>` shows.
#[derive(Debug, Clone)]
struct TileImage {
    url: String,
    width: Option<u32>,
    height: Option<u32>,
}

/// The gallery over the archive's bucket and prefixes.
#[derive(Clone)]
pub struct Gallery {
    store: Arc<dyn GalleryStore>,
    access: Access,
    key_prefix: String,
    facts_prefix: Option<String>,
    rendition_prefix: String,
    rendition_extension: &'static str,
    ttl: Duration,
}

impl Gallery {
    /// The gallery of `store` with the settings of `config`; `access` decides who may look.
    pub fn new(store: Arc<dyn GalleryStore>, config: &Config, access: Access) -> Self {
        Self {
            store,
            access,
            key_prefix: config.key_prefix.clone(),
            facts_prefix: config.facts_prefix.clone(),
            rendition_prefix: config.rendition_prefix.clone(),
            rendition_extension: config.rendition_format.extension(),
            ttl: config.presign_ttl,
        }
    }

    /// A link to the first page valid for `ttl_secs` (default 12 hours, at most 7 days);
    /// `base` is the path before `gallery`, ending in `/`.
    pub async fn link(&self, ttl_secs: Option<u64>, origin: &str, base: &str, now: DateTime<Utc>) -> Result<Link> {
        let ttl = ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
        if !(1..=MAX_TTL_SECS).contains(&ttl) {
            return Err(IngestError::InvalidRequest(format!("ttl_secs must be from 1 to {MAX_TTL_SECS} (7 days)")));
        }
        let grant = self.access.grant(ttl, now).await?;
        let expires = now + chrono::Duration::seconds(ttl as i64);
        Ok(Link {
            url: format!("{origin}{}", href(base, &[], grant.as_ref(), None)),
            expires_at: expires.to_rfc3339_opts(SecondsFormat::Secs, true),
        })
    }

    /// The page at `place`. The grant is checked before anything is listed.
    pub async fn page(&self, place: &Place, request: &PageRequest, now: DateTime<Utc>) -> Result<Html> {
        let grant = self.access.check(request.expires.as_deref(), request.signature.as_deref(), now).await?;
        if !matches!(place, Place::Day(..)) && request.next_token.is_some() {
            return Err(IngestError::InvalidRequest("only a day's pages take next_token".into()));
        }
        self.store.ensure_bucket().await?;
        match place {
            Place::Day(y, m, d) => self.day(y, m, d, request, grant).await,
            _ => self.tree(place, request, grant).await,
        }
    }

    async fn tree(&self, place: &Place, request: &PageRequest, grant: Option<Grant>) -> Result<Html> {
        let base = &request.base;
        let (years, title, mut crumbs) = match place {
            Place::Year(y) => (vec![y.clone()], format!("Archive {y}"), vec![]),
            Place::Month(y, m) => (vec![y.clone()], format!("{} {y}", month_name(m)), vec![crumb(base, &[y], &grant)]),
            _ => (self.children(&self.key_prefix, 4).await?, "Image archive".to_owned(), vec![]),
        };
        if *place != Place::Root {
            crumbs.insert(0, (href(base, &[], grant.as_ref(), None), "Gallery".to_owned()));
        }
        let only_month = match place {
            Place::Month(_, m) => Some(m.clone()),
            _ => None,
        };
        let mut nodes = Vec::new();
        for year in years {
            let node = self.year(year, only_month.clone()).await?;
            if !node.months.is_empty() {
                nodes.push(node);
            }
        }
        let page = TreePage { title, crumbs, years: nodes, base: base.clone(), grant };
        Ok(Html { body: html::tree(&page), policy: content_security_policy(None) })
    }

    /// A year's months (or only `only_month`) that hold days, their days listed at once.
    async fn year(&self, year: String, only_month: Option<String>) -> Result<YearNode> {
        let year_prefix = format!("{}{year}/", self.key_prefix);
        let months = match only_month {
            Some(month) => vec![month],
            None => self.children(&year_prefix, 2).await?,
        };
        let days =
            try_join_all(months.iter().map(|month| self.children_owned(format!("{year_prefix}{month}/"), 2))).await?;
        let months = months
            .into_iter()
            .zip(days)
            .filter(|(_, days)| !days.is_empty())
            .map(|(month, days)| MonthNode { label: format!("{} {year}", month_name(&month)), month, days })
            .collect();
        Ok(YearNode { year, months })
    }

    async fn children_owned(&self, prefix: String, width: usize) -> Result<Vec<String>> {
        self.children(&prefix, width).await
    }

    /// The next level of the date tree under `prefix`: its `width`-digit names, newest first.
    async fn children(&self, prefix: &str, width: usize) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let listing = self.store.list(prefix, Some("/"), 1000, token.as_deref()).await?;
            names.extend(listing.prefixes.iter().filter_map(|p| {
                let name = p.strip_prefix(prefix)?.strip_suffix('/')?;
                (name.len() == width && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.to_owned())
            }));
            token = listing.next_token;
            if token.is_none() {
                break;
            }
        }
        names.sort_unstable_by(|a, b| b.cmp(a));
        Ok(names)
    }

    async fn day(&self, y: &str, m: &str, d: &str, request: &PageRequest, grant: Option<Grant>) -> Result<Html> {
        let path = format!("{y}/{m}/{d}/");
        let prefix = format!("{}{path}", self.key_prefix);
        let after = match &request.next_token {
            None => None,
            Some(token) => Some(decode_token(token, &prefix)?),
        };
        let (objects, markers) = match &self.facts_prefix {
            Some(facts_prefix) => {
                let marker_prefix = format!("{facts_prefix}{path}");
                let marker_after = after.as_deref().map(|key| self.marker_bound(facts_prefix, key));
                let (objects, first) = futures::try_join!(
                    self.store.list_after(&prefix, TILES_PER_PAGE, after.as_deref()),
                    self.store.list_after(&marker_prefix, 1000, marker_after.as_deref()),
                )?;
                let markers = self.markers(facts_prefix, &objects.objects, &marker_prefix, first).await?;
                (objects, markers)
            }
            None => (self.store.list_after(&prefix, TILES_PER_PAGE, after.as_deref()).await?, HashMap::new()),
        };
        let facts = self.look_up_missing(&objects.objects, markers).await;
        let tiles = self.tiles(&objects.objects, facts).await?;
        let next = match (objects.next_token.is_some(), objects.objects.last()) {
            (true, Some(last)) => Some(href(&request.base, &[y, m, d], grant.as_ref(), Some(&encode_token(&last.key)))),
            _ => None,
        };
        let base = &request.base;
        let crumbs = vec![
            (href(base, &[], grant.as_ref(), None), "Gallery".to_owned()),
            crumb(base, &[y], &grant),
            (href(base, &[y, m], grant.as_ref(), None), month_name(m).to_owned()),
        ];
        let image_origin = tiles.iter().find_map(|t| t.image.as_ref()).map(|i| origin(&i.url));
        let page = DayPage { title: format!("{y}-{m}-{d}"), crumbs, tiles, next };
        Ok(Html { body: html::day(&page), policy: content_security_policy(image_origin.as_deref()) })
    }

    /// The key after which the markers of originals after `key` start: every marker of `key`
    /// itself (`!` then digits, `x`, `=`, `-`) sorts before `!~`.
    fn marker_bound(&self, facts_prefix: &str, key: &str) -> String {
        let path = key.strip_prefix(&self.key_prefix).unwrap_or(key);
        format!("{facts_prefix}{path}!~")
    }

    /// The facts the markers give for the listed objects, listed on until they pass the last.
    async fn markers(
        &self,
        facts_prefix: &str,
        objects: &[ListedObject],
        marker_prefix: &str,
        mut markers: crate::store::Listing,
    ) -> Result<HashMap<String, Facts>> {
        let mut facts: HashMap<String, Facts> = HashMap::new();
        let Some(last) = objects.last() else { return Ok(facts) };
        let bound = self.marker_bound(facts_prefix, &last.key);
        loop {
            for marker in &markers.objects {
                if let Some((original, found)) = key::parse_facts_key(facts_prefix, &self.key_prefix, &marker.key) {
                    let keep = facts.get(&original).is_none_or(|held| better(&found, held));
                    if keep {
                        facts.insert(original, found);
                    }
                }
            }
            let Some(last_marker) = markers.objects.last().map(|m| m.key.clone()) else { break };
            if markers.next_token.is_none() || last_marker > bound {
                break;
            }
            markers = self.store.list_after(marker_prefix, 1000, Some(&last_marker)).await?;
        }
        Ok(facts)
    }

    /// Adds the facts of objects without a marker, looked up one by one: with markers, at most
    /// [`REPAIRS_PER_PAGE`] (their markers are written back); without (`FACTS_PREFIX` unset),
    /// every object on the page.
    async fn look_up_missing(
        &self,
        objects: &[ListedObject],
        mut facts: HashMap<String, Facts>,
    ) -> HashMap<String, Facts> {
        let limit = if self.facts_prefix.is_some() { REPAIRS_PER_PAGE } else { objects.len() };
        let missing: Vec<&ListedObject> = objects.iter().filter(|o| !facts.contains_key(&o.key)).take(limit).collect();
        let found = join_all(missing.into_iter().map(|object| self.look_up(object))).await;
        facts.extend(found.into_iter().flatten());
        facts
    }

    /// The facts of an object without a marker (stored by another tool, before a crash wrote
    /// its marker, or with markers off), from its metadata; a marker is written, when markers
    /// are kept, so the next visit lists it.
    async fn look_up(&self, object: &ListedObject) -> Option<(String, Facts)> {
        // A failed lookup costs this tile its facts, not the page.
        let description = match self.store.describe(&object.key).await {
            Ok(Some(description)) => description,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(key = %object.key, error = %err.report(), "facts lookup failed");
                return None;
            }
        };
        let number = |name: &str| description.metadata.get(name).and_then(|v| v.parse::<u32>().ok());
        let facts = Facts { pixels: number("width").zip(number("height")), thumb: None };
        let Some(facts_prefix) = &self.facts_prefix else { return Some((object.key.clone(), facts)) };
        let marker = key::facts_key(facts_prefix, &self.key_prefix, &object.key, &facts);
        let place = Placement::marker(marker);
        // The page shows without it; a failed write is tried again on the next visit.
        if let Err(err) = self.store.write_if_absent(&place, Body::Whole(Blob::new(Bytes::new()))).await {
            tracing::warn!(key = %object.key, error = %err.report(), "facts marker not written back");
        }
        Some((object.key.clone(), facts))
    }

    /// The page's tiles. Every URL they need (the images shown, the originals linked) is
    /// presigned in one batch, each key once: per-URL signing was most of a page's time.
    async fn tiles(&self, objects: &[ListedObject], mut facts: HashMap<String, Facts>) -> Result<Vec<Tile>> {
        let facts: Vec<Facts> =
            objects.iter().map(|o| facts.remove(&o.key).unwrap_or(Facts { pixels: None, thumb: None })).collect();
        let shown: Vec<Option<Shown>> = objects.iter().zip(&facts).map(|(o, f)| self.shown(o, f)).collect();
        let keys = objects.iter().map(|o| o.key.clone()).chain(shown.iter().flatten().map(|s| s.key.clone()));
        let urls = self.presign_all(keys.collect()).await?;
        let tiles = objects.iter().zip(facts).zip(shown);
        Ok(tiles.map(|((object, facts), shown)| tile(object, facts, shown, &urls)).collect())
    }

    /// Presigned GET URLs by key, each key signed once, all in one batch.
    async fn presign_all(&self, mut keys: Vec<String>) -> Result<HashMap<String, String>> {
        keys.sort_unstable();
        keys.dedup();
        let presigned = self.store.presign_gets(&keys, self.ttl).await?;
        if presigned.len() != keys.len() {
            return Err(IngestError::storage(format!("{} URLs presigned for {} keys", presigned.len(), keys.len())));
        }
        Ok(keys.into_iter().zip(presigned.into_iter().map(|p| p.url)).collect())
    }

    /// What a tile shows: the rendition, else the original when a browser shows it and it is
    /// small enough, else nothing.
    fn shown(&self, object: &ListedObject, facts: &Facts) -> Option<Shown> {
        match (&facts.thumb, facts.pixels) {
            (Some(thumb), _) => Some(Shown {
                key: key::thumb_key(
                    &self.rendition_prefix,
                    &self.key_prefix,
                    &object.key,
                    thumb,
                    self.rendition_extension,
                ),
                size: Some((thumb.width, thumb.height)),
            }),
            (None, pixels)
                if object.size <= MAX_ORIGINAL_TILE_BYTES && mime_of(&object.key).is_some_and(browser_shows) =>
            {
                Some(Shown { key: object.key.clone(), size: pixels })
            }
            _ => None,
        }
    }
}

/// The image a tile shows, before it is signed.
struct Shown {
    key: String,
    size: Option<(u32, u32)>,
}

/// The tile of `object`, its URLs taken from `urls` (presigned by key).
fn tile(object: &ListedObject, facts: Facts, shown: Option<Shown>, urls: &HashMap<String, String>) -> Tile {
    let name = object.key.rsplit('/').next().unwrap_or(&object.key).to_owned();
    let kind = mime_of(&object.key).map_or_else(|| "unknown type".to_owned(), str::to_owned);
    let url = |key: &str| urls.get(key).cloned().unwrap_or_default();
    let image = shown.map(|shown| TileImage {
        url: url(&shown.key),
        width: shown.size.map(|s| s.0),
        height: shown.size.map(|s| s.1),
    });
    let time = object.key.rsplit('/').nth(1).filter(|t| t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()));
    Tile {
        name,
        kind,
        bytes: object.size,
        pixels: facts.pixels,
        time: time.map(|t| format!("{}:{}:{} UTC", &t[0..2], &t[2..4], &t[4..6])),
        image,
        original: url(&object.key),
    }
}

/// The content type a key's extension names, if any.
fn mime_of(key: &str) -> Option<&'static str> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    mime_guess::from_ext(&extension).first_raw()
}

/// A page's error as a page: its status and a fixed text, never the request's words.
pub fn error_page(err: &IngestError) -> Html {
    Html { body: html::error(err.http_status()), policy: content_security_policy(None) }
}

/// Prefer a marker with a rendition, then one with a pixel size (several markers of one
/// key: a repair's before the ingest's own, or a re-render that added sizes).
fn better(found: &Facts, held: &Facts) -> bool {
    let rank = |f: &Facts| (f.thumb.is_some(), f.pixels.is_some(), f.thumb.as_ref().map(|t| std::cmp::Reverse(t.size)));
    rank(found) > rank(held)
}

/// Types a browser shows in an `<img>`.
fn browser_shows(mime: &str) -> bool {
    matches!(
        mime,
        "image/jpeg"
            | "image/png"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/svg+xml"
            | "image/bmp"
            | "image/x-icon"
            | "image/vnd.microsoft.icon"
    )
}

/// `{base}gallery[/segments][?next_token=…][&expires=…&signature=…]`.
fn href(base: &str, segments: &[&str], grant: Option<&Grant>, next_token: Option<&str>) -> String {
    let mut url = format!("{base}gallery");
    for segment in segments {
        url.push('/');
        url.push_str(segment);
    }
    let query: Vec<String> =
        next_token.map(|t| format!("next_token={t}")).into_iter().chain(grant.map(Grant::query)).collect();
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

fn crumb(base: &str, segments: &[&str], grant: &Option<Grant>) -> (String, String) {
    (href(base, segments, grant.as_ref(), None), segments.last().copied().unwrap_or("Gallery").to_owned())
}

/// The day page's own token: the last key shown, base64url, so the facts listing can start
/// beside the objects' listing.
fn encode_token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_token(token: &str, prefix: &str) -> Result<String> {
    let bad = || IngestError::InvalidRequest("next_token is not one this page gave".into());
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let key = String::from_utf8(bytes).map_err(|_| bad())?;
    if !key.starts_with(prefix) || key.len() == prefix.len() {
        return Err(bad());
    }
    Ok(key)
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => "'none'".to_owned(),
    }
}

fn month_name(month: &str) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    month.parse::<usize>().ok().and_then(|m| NAMES.get(m.wrapping_sub(1))).copied().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_date_shapes_are_places() {
        assert_eq!(Place::parse(&[]), Some(Place::Root));
        assert_eq!(Place::parse(&["2026"]), Some(Place::Year("2026".into())));
        assert_eq!(Place::parse(&["2026", "11"]), Some(Place::Month("2026".into(), "11".into())));
        assert_eq!(Place::parse(&["2028", "02", "29"]), Some(Place::Day("2028".into(), "02".into(), "29".into())));
        for bad in [
            &["26"][..],
            &["2026", "13"],
            &["2026", "1"],
            &["2026", "02", "30"],
            &["2026", "11", "24", "203015"],
            &["<script>"],
            &["links", "x"],
        ] {
            assert_eq!(Place::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_keys_of_the_day_only() {
        let token = encode_token("images/2026/11/24/203015/tabby.jpg");
        assert_eq!(decode_token(&token, "images/2026/11/24/").unwrap(), "images/2026/11/24/203015/tabby.jpg");
        for bad in [token.as_str(), "%%%", "", &encode_token("images/2026/11/24/")] {
            let err = decode_token(bad, if bad == token { "images/2026/11/25/" } else { "images/2026/11/24/" });
            assert_eq!(err.unwrap_err().code(), "invalid_request", "{bad}");
        }
    }

    #[test]
    fn links_carry_the_grant_and_the_token() {
        let grant = Grant { expires: 9, signature: "c2ln".into() };
        assert_eq!(href("", &[], None, None), "gallery");
        let staged = href("/Prod/", &["2026", "11"], Some(&grant), None);
        assert_eq!(staged, "/Prod/gallery/2026/11?expires=9&signature=c2ln");
        let paged = href("../", &["2026"], Some(&grant), Some("dA"));
        assert_eq!(paged, "../gallery/2026?next_token=dA&expires=9&signature=c2ln");
        assert_eq!(origin("http://127.0.0.1:9090/pics/a.jpg?X-Amz=1"), "http://127.0.0.1:9090");
        assert_eq!(origin("https://pics.s3.eu-west-1.amazonaws.com/a"), "https://pics.s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn a_marker_with_a_rendition_wins() {
        let thumb = |size| Some(key::Thumb { size, width: size, height: size, moved: None });
        let bare = Facts { pixels: None, thumb: None };
        let sized = Facts { pixels: Some((9, 9)), thumb: None };
        assert!(better(&sized, &bare) && !better(&bare, &sized));
        assert!(better(&Facts { pixels: None, thumb: thumb(320) }, &sized));
        assert!(better(&Facts { pixels: None, thumb: thumb(320) }, &Facts { pixels: None, thumb: thumb(640) }));
    }
}
