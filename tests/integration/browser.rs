//! The gallery in Chromium, through a signed link on moto's KMS: the function behind an HTTP
//! front (API Gateway's payload v2), its images presigned on moto's S3. Every image loads,
//! a hostile name stays text, the CSP refuses a script added through the DOM, the grid holds
//! at 390 and 1440 px, and axe-core finds no serious or critical violation, light or dark.
//!
//! Needs Chromium (`scripts/tools.sh chromium`) and axe-core (`AXE_CORE_JS`, set by the
//! Makefile); without them the test fails, it never skips.

use crate::common;

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::moto::Moto;
use common::*;
use image::{DynamicImage, ImageFormat, RgbImage};
use image_ingest::App;
use serde_json::{Value, json};
use testkit::browser::{Browser, Page};
use testkit::http_front::HttpFront;

const POSTED: &str = "2026-11-24T20:30:15Z";
const HOSTILE: &str = "\"><img src=x onerror=alert(1)>.png";

/// Records CSP refusals and alerts as the page sees them, before anything of the page runs.
const INIT: &str = "window.__csp = []; window.alert = () => { window.__alerted = 1 };
    document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));";

/// Adds a `<script>` through the DOM and tells whether it ran.
const INJECT: &str = "(async () => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
    document.body.appendChild(s); await new Promise(r => setTimeout(r, 100)); return window.__ran === 1; })()";

/// A photo-like picture: gradients and a disc.
fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let (cx, cy, r) = (width as f32 * 0.6, height as f32 * 0.4, height as f32 * 0.25);
    let image = RgbImage::from_fn(width, height, |x, y| {
        let inside = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) < r * r;
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        if inside {
            image::Rgb([230, 60 + (fy * 100.0) as u8, 40])
        } else {
            image::Rgb([(fx * 200.0) as u8, (fy * 180.0) as u8 + 40, 120])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image).write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A day of photos with renditions, one small image shown as itself, and an object another
/// tool put under a hostile name with HTML in its metadata.
async fn stock(moto: &Moto, app: &App) {
    let items: Vec<Value> = [
        ("harbour.jpg", picture(1600, 1067, ImageFormat::Jpeg)),
        ("tower.jpg", picture(900, 1350, ImageFormat::Jpeg)),
        ("field.png", picture(1200, 800, ImageFormat::Png)),
        ("icon.png", picture(120, 90, ImageFormat::Png)),
    ]
    .iter()
    .map(|(name, bytes)| json!({"data": B64.encode(bytes), "file_name": name, "posted_at": POSTED}))
    .collect();
    let answer = invoke(app, json!({ "items": items })).await.unwrap();
    assert_eq!(answer["stored"].as_array().map(Vec::len), Some(4), "{answer}");
    moto.client()
        .put_object()
        .bucket(BUCKET)
        .key(format!("images/2026/11/24/203015/{HOSTILE}"))
        .content_type("image/png")
        .metadata("caption", "<img src=x onerror=alert(2)>")
        .body(ByteStream::from(picture(64, 48, ImageFormat::Png)))
        .send()
        .await
        .unwrap();
}

fn eval(page: &Page, js: &str) -> Value {
    page.eval(js).unwrap_or_else(|e| panic!("{js}: {e}"))
}

fn check(link: &str, image_origin: &str, axe: &str) {
    let browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    let page = browser.new_page().unwrap();
    page.init_script(INIT).unwrap();
    assert_eq!(page.goto(link).unwrap(), 200, "the signed link opens the gallery");
    let day = eval(&page, "[...document.links].map(a => a.href).find(h => h.includes('/gallery/2026/11/24'))");
    let day = day.as_str().expect("the tree links to the day").to_owned();
    assert!(day.contains("signature="), "the tree's links carry the grant: {day}");
    // Without the grant the same page is refused.
    assert_eq!(page.goto(day.split('?').next().unwrap()).unwrap(), 403);

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (width, mobile, columns) in [(390, true, 2), (1440, false, 8)] {
        page.viewport(width, 900, mobile).unwrap();
        assert_eq!(page.goto(&day).unwrap(), 200);
        page.scroll_through_and_await_images().unwrap();
        let loaded = eval(&page, "[...document.images].map(i => [i.alt, i.naturalWidth > 0, new URL(i.src).origin])");
        let loaded = loaded.as_array().unwrap();
        assert_eq!(loaded.len(), 5, "{loaded:?}");
        for image in loaded {
            assert_eq!(image[1], true, "{image} loaded at {width} px");
            assert_eq!(image[2], image_origin, "{image} came from the bucket's endpoint");
        }
        let overflow = eval(&page, "document.documentElement.scrollWidth - innerWidth");
        assert_eq!(overflow, 0, "no sideways scrolling at {width} px");
        let found =
            eval(&page, "getComputedStyle(document.querySelector('.grid')).gridTemplateColumns.split(' ').length");
        assert_eq!(found, columns, "columns at {width} px");
        let tiles = eval(
            &page,
            "[...document.querySelectorAll('figure')].map(f => Math.round(f.getBoundingClientRect().width))",
        );
        assert!(tiles.as_array().unwrap().iter().all(|w| w.as_u64().unwrap() >= 150), "tiles keep their size: {tiles}");
        std::fs::write(shots.join(format!("gallery-{width}.png")), page.screenshot_png().unwrap()).unwrap();
    }

    // The hostile name is text, and made no element; nothing alerted.
    let captions = eval(&page, "[...document.querySelectorAll('figcaption a')].map(a => a.textContent)");
    assert!(captions.as_array().unwrap().contains(&json!(HOSTILE)), "{captions}");
    assert_eq!(eval(&page, "document.querySelectorAll('img[src=x]').length"), 0);
    assert_eq!(eval(&page, "window.__alerted ?? 0"), 0);
    assert_eq!(eval(&page, "window.__csp"), json!([]), "the page itself needs nothing the CSP refuses");
    // The hashed stylesheet applied: the grid above is its work, and so is this margin.
    assert_eq!(eval(&page, "getComputedStyle(document.querySelector('h1')).marginBottom"), "16px");

    // A script added through the DOM is refused.
    assert_eq!(eval(&page, INJECT), false, "the CSP stopped the injected script");
    let refused = eval(&page, "window.__csp").to_string();
    assert!(refused.contains("script-src-elem"), "securitypolicyviolation: {refused}");
    assert!(page.security_log().iter().any(|l| l.contains("Content Security Policy")));

    // axe goes in as a <script>: only with the CSP bypassed, after the CSP checks.
    page.bypass_csp(true).unwrap();
    for (scheme, background) in [("light", "rgb(255, 255, 255)"), ("dark", "rgb(18, 18, 18)")] {
        page.color_scheme(scheme).unwrap();
        assert_eq!(page.goto(&day).unwrap(), 200);
        page.scroll_through_and_await_images().unwrap();
        assert_eq!(eval(&page, "getComputedStyle(document.body).backgroundColor"), background, "{scheme}");
        let violations = page.axe(axe).unwrap();
        assert!(violations.is_empty(), "axe, {scheme} scheme: {violations:#?}");
        let tree = day.replace("/2026/11/24", "");
        assert_eq!(page.goto(&tree).unwrap(), 200);
        let violations = page.axe(axe).unwrap();
        assert!(violations.is_empty(), "axe on the tree, {scheme} scheme: {violations:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_in_chromium_through_a_signed_link() {
    let axe_path = std::env::var("AXE_CORE_JS").unwrap_or_default();
    assert!(!axe_path.is_empty(), "AXE_CORE_JS is unset: `make test` sets it (scripts/tools.sh axe-core, --axe)");
    let axe = std::fs::read_to_string(&axe_path).unwrap_or_else(|e| panic!("AXE_CORE_JS={axe_path}: {e}"));

    let moto = Moto::start().await;
    moto.create_bucket().await;
    let key_id = moto.hmac_key().await;
    let app = moto.app_with(&[
        ("RENDITIONS", "320"),
        ("KEY_PREFIX", "images/"),
        ("FACTS_PREFIX", FACTS),
        ("GALLERY_KMS_KEY_ID", &key_id),
    ]);
    stock(&moto, &app).await;

    let served = Arc::new(app.clone());
    let front = HttpFront::start(move |event| {
        let app = served.clone();
        async move { invoke(&app, event).await.unwrap_or_else(|e| panic!("{e:?}")) }
    })
    .await;
    let (status, link) = invoke_api(
        &app,
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/gallery/links", "rawQueryString": "",
            "headers": {"host": front.base.trim_start_matches("http://")},
            "requestContext": {"http": {"method": "POST", "path": "/gallery/links", "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "test"}, "stage": "$default", "requestId": "r",
                "routeKey": "$default", "accountId": "1", "apiId": "a", "domainName": "localhost", "domainPrefix": "l",
                "time": "24/Nov/2026:20:30:15 +0000", "timeEpoch": 1795552215000_i64},
            "isBase64Encoded": false
        }),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let link = link["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{}/gallery?expires=", front.base)), "{link}");

    let image_origin = moto.endpoint.clone();
    tokio::task::spawn_blocking(move || check(&link, &image_origin, &axe)).await.unwrap();
}
