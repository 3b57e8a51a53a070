//! The browser driver and the HTTP front, checked on a page made like the gallery will be: a
//! strict CSP with a hashed inline style, lazy images from its own origin, and a hostile file
//! name as a caption. Every check here must also be able to fail: the same page served without
//! its CSP runs the injected script.
//!
//! Needs Chromium (`scripts/tools.sh chromium`) and axe-core (`AXE_CORE_JS`, which the Makefile
//! sets from `scripts/tools.sh --axe`); without them the test fails, it never skips.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::browser::{Browser, Page};
use testkit::http_front::HttpFront;
use testkit::png::{self, Colour};

/// The one stylesheet; the CSP allows it by its hash. The dark scheme keeps enough contrast for
/// axe's color-contrast rule.
const STYLE: &str = "body{font-family:sans-serif;margin:1rem;background:#fff;color:#111}\
    .spacer{height:4000px}img{max-width:100%;height:auto}\
    @media (prefers-color-scheme:dark){body{background:#111;color:#eee}}";

/// A file name meant to break out of the markup.
const HOSTILE: &str = "\"><img src=x onerror=alert(1)>.png";

/// Records CSP violations as the page sees them, and any alert, before the page's own scripts.
const INIT: &str = "window.__csp = []; window.alert = () => { window.__alerted = 1 };
    document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));";

/// Adds a `<script>` through the DOM and tells whether it ran.
const INJECT: &str = "(async () => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
    document.body.appendChild(s); await new Promise(r => setTimeout(r, 100)); return window.__ran === 1; })()";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page_html() -> String {
    let figure = |i: u32, caption: &str| {
        format!(
            "<figure><img src=\"/img/{i}.png\" width=\"240\" height=\"160\" loading=\"lazy\" alt=\"photo {i}\">\
             <figcaption>{}</figcaption></figure>",
            escape(caption)
        )
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Gallery 2026/12/05</title>\
         <style>{STYLE}</style></head><body><main><h1>2026/12/05</h1>{}<div class=\"spacer\"></div>{}</main></body></html>",
        figure(0, HOSTILE),
        figure(1, "below the fold.png")
    )
}

/// A 240 × 160 RGB PNG.
fn tile() -> Vec<u8> {
    let row: Vec<u8> = std::iter::once(0).chain((0..240).flat_map(|x| [x as u8, 0x60, 0xa0])).collect();
    png::stored(240, 160, Colour::Rgb, &row.repeat(160), &[])
}

/// The function's part, played by a closure: the gallery with and without its CSP, the tiles
/// as base64 bodies, an echo of the event, and a malformed envelope.
fn handler(event: Value, csp: String, tile: &[u8]) -> Value {
    let path = event["rawPath"].as_str().unwrap_or_default();
    let html =
        |headers: Value| json!({"statusCode": 200, "headers": headers, "body": page_html(), "isBase64Encoded": false});
    match path {
        "/gallery" => html(json!({"content-type": "text/html; charset=utf-8", "content-security-policy": csp})),
        "/open" => html(json!({"content-type": "text/html; charset=utf-8"})),
        p if p.starts_with("/img/") => json!({
            "statusCode": 200, "headers": {"content-type": "image/png"},
            "body": STANDARD.encode(tile), "isBase64Encoded": true,
        }),
        "/echo" => json!({
            "statusCode": 201, "headers": {"content-type": "application/json", "x-kind": "echo"},
            "multiValueHeaders": {"x-multi": ["a", "b"]}, "cookies": ["s=1; Path=/"],
            "body": event.to_string(),
        }),
        "/bad" => json!({"statusCode": "teapot"}),
        _ => json!({"statusCode": 404, "headers": {"content-type": "text/plain"}, "body": "no such page"}),
    }
}

/// One raw HTTP/1.1 exchange: the status, the header lines, the body.
fn exchange(base: &str, request: &[u8]) -> (u16, Vec<String>, Vec<u8>) {
    let mut socket = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    socket.write_all(request).unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n").map(str::to_owned);
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    (status, lines.map(|l| l.to_ascii_lowercase()).collect(), answer[split + 4..].to_vec())
}

fn check_front(base: &str) {
    let request = [
        &b"POST /echo?a=1&a=2&b=%2Fx%20y&flag HTTP/1.1\r\nHost: gallery.test\r\nX-Rep: one\r\nX-Rep: two\r\n"[..],
        b"Cookie: c1=1; c2=2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\xff\x00\x01",
    ]
    .concat();
    let (status, headers, body) = exchange(base, &request);
    assert_eq!(status, 201);
    for line in ["x-kind: echo", "x-multi: a", "x-multi: b", "set-cookie: s=1; path=/"] {
        assert!(headers.iter().any(|h| h == line), "{line} in {headers:?}");
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["rawPath"], "/echo");
    assert_eq!(event["rawQueryString"], "a=1&a=2&b=%2Fx%20y&flag");
    assert_eq!(event["queryStringParameters"], json!({"a": "1,2", "b": "/x y", "flag": ""}));
    assert_eq!(event["headers"]["x-rep"], "one,two");
    assert_eq!(event["headers"]["host"], "gallery.test");
    assert_eq!(event["cookies"], json!(["c1=1", "c2=2"]));
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], STANDARD.encode(b"\xff\x00\x01"));
    let context = &event["requestContext"];
    assert_eq!(context["http"]["method"], "POST");
    assert_eq!(context["http"]["path"], "/echo");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["domainName"], "gallery.test");
    assert_eq!(context["stage"], "$default");
    assert!(context["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
    assert!(context["requestId"].as_str().is_some_and(|id| !id.is_empty()));

    let text = b"PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nh\xc3\xa9!!";
    let event: Value = serde_json::from_slice(&exchange(base, text).2).unwrap();
    assert_eq!((event["body"].as_str(), &event["isBase64Encoded"]), (Some("hé!!"), &json!(false)));

    let (status, _, body) = exchange(base, b"GET /bad HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
}

/// The page's width in a full-page screenshot, checked to be a PNG.
fn screenshot_width(page: &Page) -> u32 {
    let shot = page.screenshot_png().unwrap();
    let decoder = ::png::Decoder::new(std::io::Cursor::new(shot));
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).expect("its pixels decode");
    reader.info().width
}

fn check_browser(base: &str, axe: &str) {
    let browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    let page = browser.new_page().unwrap();
    page.init_script(INIT).unwrap();
    let gallery = format!("{base}/gallery");

    for (width, mobile) in [(390, true), (1440, false)] {
        page.viewport(width, 900, mobile).unwrap();
        assert_eq!(page.goto(&gallery).unwrap(), 200);
        // The second tile sits 4000 px down (beyond Chromium's lazy-load distance, 3000 px at
        // most on a fast link): lazy, it loads only once scrolled to.
        assert_eq!(page.eval("document.images[1].naturalWidth").unwrap(), 0, "the second tile waits");
        page.scroll_through_and_await_images().unwrap();
        let widths = page.eval("[...document.images].map(i => i.naturalWidth)").unwrap();
        assert_eq!(widths, json!([240, 240]), "every image loaded at {width} px");
        assert_eq!(screenshot_width(&page), width);
    }

    // The hostile name is text, and made no element.
    assert_eq!(page.eval("document.querySelector('figcaption').textContent").unwrap(), HOSTILE);
    assert_eq!(page.eval("document.querySelectorAll('img[src=x]').length").unwrap(), 0);
    assert_eq!(page.eval("window.__alerted ?? 0").unwrap(), 0);
    // The hashed style applied (body margin 1rem, against the default 8px): the hash is right.
    assert_eq!(page.eval("getComputedStyle(document.body).marginTop").unwrap(), "16px");
    assert_eq!(page.eval("window.__csp").unwrap(), json!([]), "nothing refused before the injection");

    // A script added through the DOM is refused, and the refusal is seen both ways.
    assert_eq!(page.eval(INJECT).unwrap(), false, "the CSP stopped the injected script");
    let refused = page.eval("window.__csp").unwrap();
    assert!(refused.to_string().contains("script-src-elem"), "securitypolicyviolation: {refused}");
    let log = page.security_log();
    assert!(log.iter().any(|l| l.contains("Content Security Policy")), "security log: {log:?}");

    // The check can fail: the same page without its CSP runs the script.
    assert_eq!(page.goto(&format!("{base}/open")).unwrap(), 200);
    assert_eq!(page.eval(INJECT).unwrap(), true, "without a CSP the injected script runs");

    // axe goes in as a <script>, so only with the CSP bypassed, after the CSP checks.
    page.bypass_csp(true).unwrap();
    for scheme in ["light", "dark"] {
        page.color_scheme(scheme).unwrap();
        page.goto(&gallery).unwrap();
        let background = page.eval("getComputedStyle(document.body).backgroundColor").unwrap();
        let expected = if scheme == "dark" { "rgb(17, 17, 17)" } else { "rgb(255, 255, 255)" };
        assert_eq!(background, expected, "{scheme} scheme applied");
        let violations = page.axe(axe).unwrap();
        assert!(violations.is_empty(), "axe, {scheme} scheme: {violations:#?}");
    }
    assert_eq!(page.goto(&format!("{base}/missing")).unwrap(), 404);
    assert!(page.goto("http://127.0.0.1:9/").is_err(), "a refused connection is an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_like_page_in_chromium() {
    let started = Instant::now();
    let axe_path = std::env::var("AXE_CORE_JS").unwrap_or_default();
    assert!(
        !axe_path.is_empty(),
        "AXE_CORE_JS is unset: run `scripts/tools.sh axe-core` and export AXE_CORE_JS=$(scripts/tools.sh --axe) (make test does both)"
    );
    let axe = std::fs::read_to_string(&axe_path)
        .unwrap_or_else(|e| panic!("AXE_CORE_JS={axe_path}: {e}: run `scripts/tools.sh axe-core`"));

    let tile = tile();
    // The CSP names the front's own origin for images, so the origin is known only once it listens.
    let origin = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let style_hash = STANDARD.encode(Sha256::digest(STYLE));
    let known = origin.clone();
    let front = HttpFront::start(move |event| {
        let csp = format!("default-src 'none'; img-src {}; style-src 'sha256-{style_hash}'", known.get().unwrap());
        let answer = handler(event, csp, &tile);
        async move { answer }
    })
    .await;
    origin.set(front.base.clone()).unwrap();

    let base = front.base.clone();
    tokio::task::spawn_blocking(move || {
        check_front(&base);
        check_browser(&base, &axe);
    })
    .await
    .unwrap();
    let took = started.elapsed();
    // About 3 s here; printed, not asserted, as other builds may share the machine.
    eprintln!("browser self-test: {took:.2?}");
}
