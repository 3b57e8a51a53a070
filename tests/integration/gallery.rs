//! The gallery through the function: its routes, tiles made from the facts markers (one
//! listing, no request per object), error pages that never echo their input, and signed links
//! on moto's KMS, refused before anything is listed. The pages in a real browser are in
//! `tests/integration/browser.rs`.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::faults::FaultProxy;
use common::moto::Moto;
use common::*;
use image::{DynamicImage, ImageFormat, RgbImage};
use image_ingest::App;
use serde_json::{Value, json};

const POSTED: &str = "2026-11-24T20:30:15Z";
const DAY_PAGE: &str = "/gallery/2026/11/24";
const HOSTILE: &str = "\"><img src=x onerror=alert(1)>.png";
const ON: [(&str, &str); 3] = [("RENDITIONS", "320"), ("KEY_PREFIX", "images/"), ("FACTS_PREFIX", FACTS)];

/// An HTTP API (payload v2) request for `path?query`.
fn request(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "gallery.example", "content-type": "application/json"},
        "queryStringParameters": params,
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": "gallery.example",
            "domainPrefix": "gallery", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.10", "userAgent": "test"}, "requestId": "r", "routeKey": "$default",
            "stage": "$default", "time": "24/Nov/2026:20:30:15 +0000", "timeEpoch": 1795552215000_i64},
        "body": body, "isBase64Encoded": false
    })
}

/// A page: status, headers (lowercase names) and the document.
struct Page {
    path: String,
    status: u16,
    headers: Value,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers[name].as_str().unwrap_or_default()
    }

    /// `href` and `src` values, unescaped as a browser reads them.
    fn attributes(&self, name: &str) -> Vec<String> {
        let needle = format!(" {name}=\"");
        self.body.split(&needle).skip(1).map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&")).collect()
    }

    /// The page's links within the gallery, resolved against its address, as paths.
    fn gallery_links(&self) -> Vec<String> {
        let at = url::Url::parse(&format!("https://gallery.example{}", self.path)).unwrap();
        let resolved =
            self.attributes("href").into_iter().filter(|h| !h.starts_with("http")).map(|h| at.join(&h).unwrap());
        resolved.map(|u| format!("{}{}", u.path(), u.query().map(|q| format!("?{q}")).unwrap_or_default())).collect()
    }

    fn tiles(&self) -> usize {
        self.body.matches("<figure>").count()
    }
}

async fn get(app: &App, path: &str, query: &str) -> Page {
    let response = invoke(app, request("GET", path, query, None)).await.unwrap();
    Page {
        path: path.to_owned(),
        status: response["statusCode"].as_u64().unwrap() as u16,
        headers: response["headers"].clone(),
        body: response["body"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `/gallery/2026?x=1` → (`/gallery/2026`, `x=1`).
fn split(link: &str) -> (&str, &str) {
    link.split_once('?').unwrap_or((link, ""))
}

fn photo(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image).write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn item(name: &str, bytes: &[u8], posted_at: &str) -> Value {
    json!({"data": B64.encode(bytes), "file_name": name, "posted_at": posted_at})
}

async fn store(app: &App, items: Vec<Value>) {
    let answer = invoke(app, json!({ "items": items })).await.unwrap();
    assert!(answer["stored"].as_array().is_some_and(|s| !s.is_empty()), "{answer}");
}

/// A photo with a rendition, a small PNG shown as itself, and an object put by another tool
/// under a hostile name with HTML in its metadata.
async fn stock_the_day(server_client: &aws_sdk_s3::Client, app: &App) {
    store(
        app,
        vec![
            item("photo.jpg", &photo(800, 600, ImageFormat::Jpeg), POSTED),
            item("small.png", &photo(100, 80, ImageFormat::Png), POSTED),
        ],
    )
    .await;
    server_client
        .put_object()
        .bucket(BUCKET)
        .key(format!("images/2026/11/24/203015/{HOSTILE}"))
        .content_type("image/png")
        .metadata("width", "<script>alert(2)</script>")
        .metadata("caption", "<b>bold</b>")
        .body(ByteStream::from(photo(40, 30, ImageFormat::Png)))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_day_is_tiles_from_one_listing_with_every_name_escaped() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = app_at(&proxy.endpoint, &ON);
    stock_the_day(&server.client(), &app).await;
    let keys = server.markers();
    assert!(keys.contains(&"facts/2026/11/24/203015/photo.jpg!800x600!320=320x240".to_owned()), "{keys:?}");
    assert!(keys.contains(&"facts/2026/11/24/203015/small.png!100x80!-".to_owned()), "{keys:?}");

    let page = get(&app, DAY_PAGE, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!((page.header("x-content-type-options"), page.header("referrer-policy")), ("nosniff", "no-referrer"));
    let policy = page.header("content-security-policy");
    assert!(
        policy.starts_with(&format!("default-src 'none'; img-src {}; style-src 'sha256-", proxy.endpoint)),
        "{policy}"
    );
    assert_eq!(page.tiles(), 3);

    // The photo shows its rendition, sized from its marker; the small PNG shows itself.
    // Keys sort `"` before letters: the hostile name's tile comes first.
    let sources = page.attributes("src");
    assert_eq!(sources.len(), 3, "{sources:?}");
    assert!(sources[1].contains("/pics/renditions/320/2026/11/24/203015/photo.webp?"), "{sources:?}");
    assert!(page.body.contains("alt=\"photo.jpg\" loading=\"lazy\" decoding=\"async\" width=\"320\" height=\"240\""));
    assert!(page.body.contains("alt=\"small.png\" loading=\"lazy\" decoding=\"async\" width=\"100\" height=\"80\""));
    assert!(page.body.contains("800 × 600 px"), "the original's size");
    assert!(page.body.contains("20:30:15 UTC"));
    for source in &sources {
        let image = reqwest::get(source).await.unwrap();
        assert_eq!(image.status(), 200, "{source}");
        assert!(image.bytes().await.unwrap().len() > 100);
    }
    // Each name links to a presigned download of its original.
    let downloads: Vec<String> =
        page.attributes("href").into_iter().filter(|h| h.contains("X-Amz-Signature")).collect();
    assert_eq!(downloads.len(), 3);
    assert!(downloads.iter().any(|d| d.contains("/pics/images/2026/11/24/203015/photo.jpg?")));

    // The hostile name is text; neither its markup nor the metadata's reaches the page.
    assert!(page.body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.png"), "{}", page.body);
    for raw in ["<img src=x", "<script>", "alert(2)", "<b>bold"] {
        assert!(!page.body.contains(raw), "{raw} in {}", page.body);
    }

    // The object another tool put had no marker: it was looked up once and its marker
    // written back, so the next visit is two listings and nothing per object.
    assert!(server.markers().iter().any(|k| k.starts_with("facts/2026/11/24/203015/\"><img") && k.ends_with("!0x0!-")));
    let before = proxy.requests().len();
    let again = get(&app, DAY_PAGE, "").await;
    assert_eq!(again.tiles(), 3);
    let requests = proxy.requests()[before..].to_vec();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests.iter().all(|r| r.starts_with("GET /pics?list-type=2") || r.starts_with("GET /pics/?list-type=2")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn the_tree_goes_newest_first_and_one_level_down_each_time() {
    let server = S3Server::start().await;
    let app = server.app(&ON);
    let png = |seed| png::small(seed);
    store(
        &app,
        vec![
            item("a.png", &png(1), "2025-12-31T23:59:59Z"),
            item("b.png", &png(2), "2026-01-02T10:00:00Z"),
            item("c.png", &png(3), "2026-11-24T20:30:15Z"),
            item("d.png", &png(4), "2026-11-03T08:00:00Z"),
        ],
    )
    .await;
    let root = get(&app, "/gallery", "").await;
    assert_eq!(root.status, 200, "{}", root.body);
    assert_eq!(
        root.gallery_links(),
        [
            "/gallery/2026",
            "/gallery/2026/11",
            "/gallery/2026/11/24",
            "/gallery/2026/11/03",
            "/gallery/2026/01",
            "/gallery/2026/01/02",
            "/gallery/2025",
            "/gallery/2025/12",
            "/gallery/2025/12/31"
        ]
    );
    assert!(root.body.contains("November 2026"));
    assert_eq!(root.header("content-security-policy").split("; ").nth(1), Some("img-src 'none'"));

    let year = get(&app, "/gallery/2026", "").await;
    assert_eq!(year.gallery_links()[0], "/gallery", "a way back");
    assert!(!year.body.contains("/gallery/2025"));
    assert!(year.body.contains("/gallery/2026/01/02"));
    let month = get(&app, "/gallery/2026/11", "").await;
    assert_eq!(
        month.gallery_links(),
        [
            "/gallery",
            "/gallery/2026",
            "/gallery/2026",
            "/gallery/2026/11",
            "/gallery/2026/11/24",
            "/gallery/2026/11/03"
        ]
    );
    let empty = get(&app, "/gallery/2024/02/29", "").await;
    assert_eq!((empty.status, empty.tiles()), (200, 0));
    assert!(empty.body.contains("No images on this day."));

    // Behind a REST API stage, every link keeps the stage.
    let mut v1 = fixture("apigw-v1-raw-base-path.json");
    v1["httpMethod"] = json!("GET");
    v1["path"] = json!("/gallery/2026/11");
    v1["requestContext"]["path"] = json!("/prod/gallery/2026/11");
    v1["body"] = Value::Null;
    v1["isBase64Encoded"] = json!(false);
    let staged = invoke(&app, v1).await.unwrap();
    assert_eq!(staged["statusCode"], 200);
    assert!(
        staged["body"].as_str().unwrap().contains("href=\"../../gallery/2026/11/24\""),
        "relative to /prod/gallery/2026/11"
    );
}

#[tokio::test]
async fn a_day_pages_by_hundreds_with_its_own_token() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/"), ("FACTS_PREFIX", FACTS)]);
    for batch in 0..3u64 {
        let items = (0..35u64)
            .map(|i| item(&format!("p{:03}.png", batch * 35 + i), &png::numbered(batch * 35 + i, 1200), POSTED));
        store(&app, items.collect()).await;
    }
    let first = get(&app, DAY_PAGE, "").await;
    assert_eq!(first.tiles(), 100);
    let next: Vec<String> = first.gallery_links().into_iter().filter(|l| l.contains("next_token=")).collect();
    assert_eq!(next.len(), 1, "{:?}", first.gallery_links());
    let (path, query) = split(&next[0]);
    let second = get(&app, path, query).await;
    assert_eq!(second.tiles(), 5);
    assert!(!second.body.contains("next_token="));
    let names = |page: &Page| -> Vec<String> {
        page.body.split("alt=\"").skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect()
    };
    let all: Vec<String> = names(&first).into_iter().chain(names(&second)).collect();
    let expected: Vec<String> = (0..105).map(|i| format!("p{i:03}.png")).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn other_shapes_and_tokens_get_plain_error_pages() {
    let server = S3Server::start().await;
    let app = server.app(&ON);
    let other_day = B64.encode("images/2026/11/25/203015/x.png").replace('+', "-").replace('/', "_");
    for (path, query, status) in [
        ("/gallery/2026/13", "", 404),
        ("/gallery/2026/02/30", "", 404),
        ("/gallery/2026/11/24/203015", "", 404),
        ("/gallery/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "", 404),
        ("/gallery/<script>alert(1)</script>", "", 404),
        (DAY_PAGE, "next_token=%3Cscript%3Ealert(1)", 400),
        (DAY_PAGE, &format!("next_token={}", other_day.trim_end_matches('=')), 400),
        ("/gallery/2026", "next_token=abc", 400),
    ] {
        let page = get(&app, path, query).await;
        assert_eq!(page.status, status, "{path}?{query}: {}", page.body);
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        assert!(page.header("content-security-policy").starts_with("default-src 'none'"));
        for echoed in ["script", "alert", "203015", "13"] {
            assert!(!page.body.contains(echoed), "{path}?{query} echoes {echoed}: {}", page.body);
        }
    }
    for (method, path, allowed) in [("POST", "/gallery/2026", "GET"), ("GET", "/gallery/links", "POST")] {
        let response = invoke(&app, request(method, path, "", None)).await.unwrap();
        assert_eq!(response["statusCode"], 405, "{method} {path}");
        assert_eq!(response["headers"]["allow"], allowed);
    }
    // Open (no KMS key): the link is the gallery itself, with nothing to sign.
    let (status, link) = invoke_api(&app, request("POST", "/gallery/links", "", None)).await;
    assert_eq!((status, link["url"].as_str()), (200, Some("https://gallery.example/gallery")), "{link}");
    for body in ["{\"ttl_secs\":0}", "{\"ttl_secs\":604801}", "{\"ttl\":5}"] {
        let (status, answer) = invoke_api(&app, request("POST", "/gallery/links", "", Some(body))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{body}");
    }
}

#[tokio::test]
async fn signed_links_open_the_gallery_and_nothing_else_does() {
    let moto = Moto::start().await;
    moto.create_bucket().await;
    let key_id = moto.hmac_key().await;
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let vars = [("KEY_PREFIX", "images/"), ("FACTS_PREFIX", FACTS), ("GALLERY_KMS_KEY_ID", key_id.as_str())];
    let environment = || app_at(&proxy.endpoint, &vars);
    let app = environment();
    store(&app, vec![item("small.png", &photo(100, 80, ImageFormat::Png), POSTED)]).await;

    let (status, link) = invoke_api(&app, request("POST", "/gallery/links", "", Some("{\"ttl_secs\":3600}"))).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    let query = url.strip_prefix("https://gallery.example/gallery?").unwrap_or_else(|| panic!("{url}"));
    assert!(query.starts_with("expires=") && query.contains("&signature="), "{url}");
    let expires: i64 = query[8..query.find('&').unwrap()].parse().unwrap();
    let expires_at = chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at.timestamp(), expires);
    assert!((expires - chrono::Utc::now().timestamp() - 3600).abs() <= 2);

    // Every link on the pages carries the grant, and following them works.
    let root = get(&app, "/gallery", query).await;
    assert_eq!(root.status, 200, "{}", root.body);
    let links = root.gallery_links();
    assert!(!links.is_empty() && links.iter().all(|l| l.ends_with(&format!("?{query}"))), "{links:?}");
    let day = links.iter().find(|l| l.starts_with(DAY_PAGE)).unwrap();
    let (path, q) = split(day);
    let page = get(&app, path, q).await;
    assert_eq!((page.status, page.tiles()), (200, 1), "{}", page.body);
    assert!(page.gallery_links().iter().all(|l| l.ends_with(&format!("?{query}"))));

    // Another execution environment derives the same key from KMS: the link works there too.
    let other = environment();
    assert_eq!(get(&other, "/gallery", query).await.status, 200);
    let macs = proxy.requests().iter().filter(|r| r.ends_with("TrentService.GenerateMac")).count();
    assert_eq!(macs, 2, "one GenerateMac per environment, none per page");

    // Expired, altered or missing: 403, and nothing is listed or looked up.
    let (_, short) = invoke_api(&app, request("POST", "/gallery/links", "", Some("{\"ttl_secs\":1}"))).await;
    let short = short["url"].as_str().unwrap().split_once('?').unwrap().1.to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let signature = query.split("signature=").nth(1).unwrap();
    let flipped = format!("{}{}", if signature.starts_with('A') { 'B' } else { 'A' }, &signature[1..]);
    let refused = [
        short,
        query.replace(&format!("signature={signature}"), &format!("signature={flipped}")),
        query.replace(&format!("expires={expires}"), &format!("expires={}", expires + 1)),
        format!("expires={expires}"),
        String::new(),
    ];
    let before = proxy.requests().len();
    for query in &refused {
        for path in ["/gallery", DAY_PAGE] {
            let page = get(&app, path, query).await;
            assert_eq!(page.status, 403, "{path}?{query}");
            assert!(page.body.contains("Link not valid") && !page.body.contains("signature"), "{}", page.body);
        }
    }
    assert_eq!(proxy.requests()[before..], [] as [String; 0], "a refused link reaches no store");
}

#[tokio::test]
async fn the_sample_events_open_the_gallery() {
    let server = S3Server::start().await;
    let app = server.app(&ON);
    store(&app, vec![item("photo.jpg", &photo(800, 600, ImageFormat::Jpeg), POSTED)]).await;
    let response = invoke(&app, fixture("apigw-v2-gallery-day.json")).await.unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["body"].as_str().unwrap().matches("<figure>").count(), 1);
    let (status, link) = invoke_api(&app, fixture("apigw-v2-gallery-links.json")).await;
    assert_eq!(
        (status, link["url"].as_str()),
        (200, Some("https://abc123.execute-api.eu-west-1.amazonaws.com/gallery"))
    );
}

#[tokio::test]
async fn a_failed_facts_lookup_costs_its_tile_the_facts_not_the_page() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = app_at(&proxy.endpoint, &ON);
    let png = photo(40, 30, ImageFormat::Png);
    let put = server.client().put_object().bucket(BUCKET).key("images/2026/11/24/203015/by-hand.png");
    put.metadata("width", "40").metadata("height", "30").body(ByteStream::from(png)).send().await.unwrap();
    // HeadBucket and the two listings pass; every attempt at the HEAD fails.
    use common::faults::Fault;
    proxy.schedule(&[
        Fault::Pass,
        Fault::Pass,
        Fault::Pass,
        Fault::InternalError,
        Fault::InternalError,
        Fault::InternalError,
    ]);
    let page = get(&app, DAY_PAGE, "").await;
    assert_eq!((page.status, page.tiles()), (200, 1), "{}", page.body);
    assert!(!page.body.contains("40 × 30 px"), "no facts for it this time");
    assert!(server.markers().is_empty(), "and no marker written");
    let again = get(&app, DAY_PAGE, "").await;
    assert!(again.body.contains("40 × 30 px"), "the next visit looks it up: {}", again.body);
    assert_eq!(server.markers(), ["facts/2026/11/24/203015/by-hand.png!40x30!-"]);
}

#[tokio::test]
async fn without_facts_prefix_no_marker_is_written_and_tiles_are_looked_up() {
    let server = S3Server::start().await;
    let proxy = FaultProxy::start(&server.endpoint).await;
    let app = app_at(&proxy.endpoint, &[("RENDITIONS", "320"), ("KEY_PREFIX", "images/")]);
    stock_the_day(&server.client(), &app).await;
    assert!(server.markers().is_empty(), "{:?}", server.markers());
    let before = proxy.requests().len();
    let page = get(&app, DAY_PAGE, "").await;
    assert_eq!((page.status, page.tiles()), (200, 3), "{}", page.body);
    assert!(page.body.contains("800 × 600 px") && page.body.contains("100 × 80 px"), "facts from HEADs");
    let requests = proxy.requests()[before..].to_vec();
    assert_eq!(requests.iter().filter(|r| r.starts_with("HEAD ")).count(), 3, "{requests:?}");
    assert!(!requests.iter().any(|r| r.starts_with("PUT ")), "nothing written back: {requests:?}");
    assert!(server.markers().is_empty());
}

#[tokio::test]
async fn a_key_kms_refuses_is_503_and_is_asked_again_next_time() {
    let moto = Moto::start().await;
    moto.create_bucket().await;
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[("GALLERY_KMS_KEY_ID", "alias/no-such-key")]);
    let (status, answer) = invoke_api(&app, request("POST", "/gallery/links", "", None)).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("signing_key_unavailable")), "{answer}");
    let page = get(&app, "/gallery", "expires=1&signature=x").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("cannot be shown right now") && !page.body.contains("no-such-key"), "{}", page.body);
    let macs = proxy.requests().iter().filter(|r| r.ends_with("TrentService.GenerateMac")).count();
    assert_eq!(macs, 2, "a failure is not kept: each request asks KMS again");
    assert!(!proxy.requests().iter().any(|r| r.contains("list-type=2")), "nothing listed");
}
