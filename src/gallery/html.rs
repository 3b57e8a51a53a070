//! The gallery's pages as HTML: maud templates, so every name and value spliced in is
//! escaped; the stylesheet is the one raw piece, and the CSP allows it by its hash.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::{DayPage, Tile, TileImage, TreePage};

/// The one stylesheet: a grid of tiles from a 390 px phone to a wide screen, light and dark.
const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#555;--card:#f3f3f3;--line:#d0d0d0;--link:#0b57d0}\
@media (prefers-color-scheme:dark){:root{--bg:#121212;--fg:#ececec;--muted:#b5b5b5;--card:#1f1f1f;--line:#3a3a3a;--link:#8ab4f8}}\
*{box-sizing:border-box}\
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.45 system-ui,sans-serif}\
header,main,footer{max-width:1600px;margin:0 auto;padding:0 16px}\
header{padding-top:16px}\
h1{font-size:1.5rem;margin:.25rem 0 1rem}\
a{color:var(--link)}\
nav ol{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem;margin:0;padding:0}\
nav li+li::before{content:\"/\";margin-right:.25rem;color:var(--muted)}\
.tree,.tree ul{list-style:none;padding-left:0}\
.tree ul{padding-left:1rem}\
.days{display:flex;flex-wrap:wrap;gap:.5rem;padding:0;list-style:none;margin:.25rem 0 .75rem}\
.days a{display:inline-block;min-width:2.75rem;padding:.35rem .5rem;text-align:center;border:1px solid var(--line);border-radius:6px}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px;padding:0;margin:0;list-style:none}\
.grid>li{display:flex}\
figure{flex:1;margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}\
.frame{aspect-ratio:1;display:flex;align-items:center;justify-content:center;background:var(--bg)}\
.frame img{max-width:100%;max-height:100%;width:auto;height:auto}\
.placeholder{color:var(--muted);font-size:.9rem;text-align:center;padding:8px}\
figcaption{padding:8px;font-size:.85rem;overflow-wrap:anywhere}\
figcaption a{font-weight:600}\
.facts{color:var(--muted);display:block}\
.more{margin:1.5rem 0}\
footer{color:var(--muted);font-size:.85rem;padding-bottom:24px}";

/// `'sha256-…'` of [`STYLE`], for `style-src`.
static STYLE_HASH: LazyLock<String> =
    LazyLock::new(|| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(STYLE.as_bytes()))));

/// The page's Content-Security-Policy: no script at all, this stylesheet only, images only
/// from `image_origin` (the bucket's endpoint), nothing framed, posted or based elsewhere.
pub fn content_security_policy(image_origin: Option<&str>) -> String {
    let images = image_origin.unwrap_or("'none'");
    format!(
        "default-src 'none'; img-src {images}; style-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        *STYLE_HASH
    )
}

fn layout(title: &str, crumbs: &[(String, String)], body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · image archive" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    @if !crumbs.is_empty() {
                        nav aria-label="Breadcrumb" {
                            ol { @for (href, text) in crumbs { li { a href=(href) { (text) } } } }
                        }
                    }
                    h1 { (title) }
                }
                main { (body) }
                footer { p { "Image links expire a few minutes after the page is loaded; reload to renew them." } }
            }
        }
    }
    .into_string()
}

/// The date tree: years, months and days, newest first.
pub fn tree(page: &TreePage) -> String {
    let body = html! {
        @if page.years.is_empty() {
            p { "Nothing is archived here yet." }
        } @else {
            ul class="tree" {
                @for year in &page.years {
                    li {
                        h2 { a href=(page.href(&[year.year.as_str()])) { (year.year) } }
                        ul {
                            @for month in &year.months {
                                li {
                                    h3 { a href=(page.href(&[year.year.as_str(), month.month.as_str()])) { (month.label) } }
                                    ul class="days" {
                                        @for day in &month.days {
                                            li { a href=(page.href(&[year.year.as_str(), month.month.as_str(), day.as_str()]))
                                                aria-label=(format!("{} {}", day, month.label)) { (day) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(&page.title, &page.crumbs, body)
}

/// A day's tiles, with the next page's link.
pub fn day(page: &DayPage) -> String {
    let body = html! {
        @if page.tiles.is_empty() {
            p { "No images on this day." }
        } @else {
            ul class="grid" {
                @for tile in &page.tiles { li { (tile_figure(tile)) } }
            }
        }
        @if let Some(next) = &page.next {
            p class="more" { a href=(next) rel="next" { "Next page" } }
        }
    };
    layout(&page.title, &page.crumbs, body)
}

fn tile_figure(tile: &Tile) -> Markup {
    let pixels = tile.pixels.map(|(w, h)| format!("{w} × {h} px"));
    html! {
        figure {
            div class="frame" {
                @match &tile.image {
                    Some(TileImage { url, width, height }) => {
                        img src=(url) alt=(tile.name) loading="lazy" decoding="async"
                            width=[width] height=[height];
                    }
                    None => {
                        div class="placeholder" role="img" aria-label=(format!("{}: no preview", tile.name)) {
                            (tile.kind) br; (human_bytes(tile.bytes))
                        }
                    }
                }
            }
            figcaption {
                a href=(tile.original) { (tile.name) }
                span class="facts" {
                    @if let Some(pixels) = &pixels { (pixels) " · " }
                    (human_bytes(tile.bytes))
                    @if let Some(time) = &tile.time { " · " (time) }
                }
            }
        }
    }
}

/// An error as a page: a fixed text per status, never the request's own words.
pub fn error(status: u16) -> String {
    let (title, text) = match status {
        400 => (
            "Bad request",
            "This gallery address is not one the gallery makes. Start again from the gallery's first page.",
        ),
        403 => ("Link not valid", "This gallery link is not valid or has expired. Ask for a new link."),
        404 => ("Not found", "There is no gallery page at this address."),
        _ => ("Unavailable", "The gallery cannot be shown right now. Try again in a moment."),
    };
    layout(title, &[], html! { p { (text) } })
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(2 * 1024 * 1024), "2.0 MiB");
    }

    #[test]
    fn the_policy_allows_no_script_and_this_stylesheet_only() {
        let policy = content_security_policy(Some("http://127.0.0.1:9090"));
        assert!(policy.starts_with("default-src 'none'; img-src http://127.0.0.1:9090; style-src 'sha256-"));
        assert!(!policy.contains("script-src") && !policy.contains("unsafe"));
        assert!(content_security_policy(None).contains("img-src 'none'"));
        let page = error(404);
        assert!(page.contains(&format!("<style>{STYLE}</style>")), "the hashed text is the text served");
    }
}
