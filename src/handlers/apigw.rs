//! API Gateway (REST v1, HTTP API v2 and Function URLs): routes, bodies and responses.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::query_map::QueryMap;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ALLOW, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Method};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::answer::error_body;
use crate::app::App;
use crate::catalog::{ListQuery, UploadRequest};
use crate::deadline::Deadline;
use crate::error::{IngestError, Result};
use crate::fetch::file_name_from_disposition;
use crate::gallery::{PageRequest, Place, error_page};
use crate::ingest::{Batch, Ingestor, Source, StoredObject, decode_base64, split_results};
use crate::request::{Item, MAX_ITEMS, parse_request};

/// A request from either payload version, reduced to what routing needs.
struct HttpRequest {
    method: Method,
    path: String,
    /// The path as the client sent it (stage included), for the gallery's links.
    full_path: String,
    query: QueryMap,
    headers: HeaderMap,
    body: Option<String>,
    is_base64: bool,
    time: Option<DateTime<Utc>>,
    source: Source,
    deadline: Deadline,
}

/// A response before it is put in the version's envelope.
struct HttpResponse {
    status: u16,
    headers: HeaderMap,
    body: ResponseBody,
}

/// What a response carries: JSON for the API, a document for the gallery.
enum ResponseBody {
    Json(Value),
    Html(String),
}

#[cfg(test)]
impl ResponseBody {
    fn json(&self) -> &Value {
        match self {
            Self::Json(value) => value,
            Self::Html(_) => panic!("an HTML body"),
        }
    }
}

impl HttpResponse {
    /// Status, headers and body text, as both envelopes hold them.
    fn into_parts(self) -> (i64, HeaderMap, Option<Body>) {
        let text = match self.body {
            ResponseBody::Json(value) => value.to_string(),
            ResponseBody::Html(text) => text,
        };
        (self.status.into(), self.headers, Some(Body::Text(text)))
    }
}

/// The routes this function serves.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `POST /images`: JSON, multipart or a raw body.
    Images,
    /// `POST /images/{file_name}`: a raw body with its name.
    NamedImage(String),
    /// `GET /images?date=...`: a listing.
    List,
    /// `GET /images/{key+}`: a redirect to a presigned download.
    Object(String),
    /// `POST /uploads`: a presigned upload.
    Uploads,
    /// `GET /gallery[/{YYYY}[/{MM}[/{DD}]]]`; `None` for any other shape below `/gallery`.
    Gallery(Option<Place>),
    /// `POST /gallery/links`: a signed link to the gallery.
    GalleryLinks,
}

/// Handles a REST API (payload v1) request.
pub async fn handle_v1(app: &App, event: ApiGatewayProxyRequest, deadline: Deadline) -> ApiGatewayProxyResponse {
    let stage = event.request_context.stage.unwrap_or_default();
    let path = event.path.unwrap_or_default();
    // The resource path leaves out the stage that the browser's address holds.
    let full_path = event.request_context.path.unwrap_or_else(|| path.clone());
    let request = HttpRequest {
        method: event.http_method,
        path: strip_stage(&path, &stage).to_owned(),
        full_path,
        query: event.query_string_parameters,
        headers: event.headers,
        body: event.body,
        is_base64: event.is_base64_encoded,
        time: epoch_millis(event.request_context.request_time_epoch),
        source: Source::ApiV1,
        deadline,
    };
    let mut out = ApiGatewayProxyResponse::default();
    (out.status_code, out.headers, out.body) = handle(app, request).await.into_parts();
    out
}

/// Handles an HTTP API (payload v2) or Function URL request.
pub async fn handle_v2(app: &App, event: ApiGatewayV2httpRequest, deadline: Deadline) -> ApiGatewayV2httpResponse {
    let context = event.request_context;
    let stage = context.stage.unwrap_or_default();
    let path = event.raw_path.or(context.http.path).unwrap_or_default();
    let request = HttpRequest {
        method: context.http.method,
        path: strip_stage(&path, &stage).to_owned(),
        full_path: path.clone(),
        query: event.query_string_parameters,
        headers: event.headers,
        body: event.body,
        is_base64: event.is_base64_encoded,
        time: epoch_millis(context.time_epoch),
        source: Source::ApiV2,
        deadline,
    };
    let mut out = ApiGatewayV2httpResponse::default();
    (out.status_code, out.headers, out.body) = handle(app, request).await.into_parts();
    out
}

async fn handle(app: &App, request: HttpRequest) -> HttpResponse {
    let route = match route(&request.method, &request.path) {
        Ok(route) => route,
        Err(err) => return error_response(&err, None),
    };
    let result = match route {
        // Boxed: the page's futures would otherwise nest every handler's state in one type.
        Route::Gallery(place) => return Box::pin(gallery_page(app, place.as_ref(), &request)).await,
        Route::GalleryLinks => match parse_link_request(request.body.as_deref(), request.is_base64) {
            Ok(ttl) => {
                let (origin, base) = (origin(&request.headers), gallery_base(&request.full_path));
                Box::pin(app.gallery.link(ttl, &origin, &base, Utc::now())).await.map(|link| respond(200, json!(link)))
            }
            Err(err) => Err(err),
        },
        Route::List => app.catalog.list(list_query(&request.query)).await.map(|page| respond(200, json!(page))),
        Route::Object(key) => app.catalog.download(&key).await.map(redirect),
        Route::Uploads => match parse_upload(request.body.as_deref(), request.is_base64) {
            Ok(upload) => {
                app.catalog.upload(upload, request.time, Utc::now()).await.map(|ticket| respond(200, json!(ticket)))
            }
            Err(err) => Err(err),
        },
        // The bucket is checked before the body is decoded or parsed.
        Route::Images | Route::NamedImage(_) if let Err(err) = app.ingestor.check_bucket().await => Err(err),
        Route::Images | Route::NamedImage(_) => {
            let (time, source, deadline) = (request.time, request.source, request.deadline);
            let path_name = match route {
                Route::NamedImage(name) => Some(name),
                _ => None,
            };
            match read_items(&app.ingestor, path_name, request).await {
                Ok(items) => {
                    let batch = Batch { items, event_time: time, source, deadline };
                    app.ingestor.ingest(batch).await.map(ingest_response)
                }
                Err(err) => Err(err),
            }
        }
    };
    result.unwrap_or_else(|err| error_response(&err, None))
}

/// Matches a stage-less path. Anything before the first `images`, `uploads` or `gallery`
/// segment is a custom domain's base path and is ignored.
fn route(method: &Method, path: &str) -> Result<Route> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || IngestError::NotFound(format!("no route for {method} {path}"));
    let start = segments.iter().position(|s| matches!(*s, "images" | "uploads" | "gallery")).ok_or_else(not_found)?;
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let rest = &segments[start + 1..];
    let not_allowed = |allowed| Err(IngestError::MethodNotAllowed { method: method.to_string(), allowed });
    match (segments[start], rest, method) {
        ("gallery", ["links"], &Method::POST) => Ok(Route::GalleryLinks),
        ("gallery", ["links"], _) => not_allowed("POST"),
        ("gallery", _, &Method::GET) => Ok(Route::Gallery(Place::parse(rest))),
        ("gallery", _, _) => not_allowed("GET"),
        ("uploads", [], &Method::POST) => Ok(Route::Uploads),
        ("uploads", [], _) => not_allowed("POST"),
        ("uploads", _, _) => Err(not_found()),
        (_, [], &Method::POST) => Ok(Route::Images),
        (_, [], &Method::GET) => Ok(Route::List),
        (_, [name], &Method::POST) => Ok(Route::NamedImage(decode(name))),
        (_, [_], &Method::GET) | (_, [_, _, ..], &Method::GET) => {
            Ok(Route::Object(rest.iter().map(|s| decode(s)).collect::<Vec<_>>().join("/")))
        }
        (_, [] | [_], _) => not_allowed("GET, POST"),
        (_, _, _) => not_allowed("GET"),
    }
}

fn list_query(query: &QueryMap) -> ListQuery {
    let get = |name: &str| query.first(name).map(str::to_owned);
    ListQuery {
        date: get("date"),
        prefix: get("prefix"),
        limit: get("limit"),
        next_token: get("next_token"),
        delimiter: get("delimiter"),
    }
}

fn parse_upload(body: Option<&str>, is_base64: bool) -> Result<UploadRequest> {
    let body = match body {
        None | Some("") => {
            return Err(IngestError::InvalidRequest(
                "the body must be {\"file_name\",\"content_type\",\"size\"}".into(),
            ));
        }
        Some(body) if is_base64 => decode_base64(body, u64::MAX)?,
        Some(body) => Bytes::copy_from_slice(body.as_bytes()),
    };
    let value: Value = serde_json::from_slice(&body).map_err(|e| IngestError::invalid_json("the body", e))?;
    serde_json::from_value(value).map_err(|e| IngestError::InvalidRequest(format!("invalid upload request: {e}")))
}

/// A gallery page, or its error as a page; the grant is checked before anything is listed.
async fn gallery_page(app: &App, place: Option<&Place>, request: &HttpRequest) -> HttpResponse {
    let get = |name: &str| request.query.first(name).map(str::to_owned);
    let page_request = PageRequest {
        base: "../".repeat(levels_below_gallery(&request.path)),
        expires: get("expires"),
        signature: get("signature"),
        next_token: get("next_token"),
    };
    let answer = match place {
        Some(place) => app.gallery.page(place, &page_request, Utc::now()).await,
        None => Err(IngestError::NotFound("no gallery page here".into())),
    };
    let (status, page) = match answer {
        Ok(page) => (200, page),
        Err(err) => {
            tracing::info!(code = err.code(), error = %err.report(), "gallery page refused");
            (err.http_status(), error_page(&err))
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(policy) = HeaderValue::from_str(&page.policy) {
        headers.insert("content-security-policy", policy);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // The page holds presigned URLs: they must not leak through a Referer, nor be cached.
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("cache-control", HeaderValue::from_static("private, no-store"));
    HttpResponse { status, headers, body: ResponseBody::Html(page.body) }
}

/// What comes before `gallery` in the address the client used, ending in `/`: `/`, or a
/// stage or base path such as `/prod/`.
fn gallery_base(full_path: &str) -> String {
    let segments: Vec<&str> = full_path.split('/').filter(|s| !s.is_empty()).collect();
    let before = segments.iter().position(|s| *s == "gallery").unwrap_or(0);
    segments[..before].iter().map(|s| format!("/{s}")).chain(["/".to_owned()]).collect()
}

/// How many folders deep a page is below the one holding `gallery` (`/gallery` 0,
/// `/gallery/2026/11` 2, `/gallery/` 1), so that its relative links reach `gallery` again.
fn levels_below_gallery(path: &str) -> usize {
    let parts: Vec<&str> = path.split('/').collect();
    parts.iter().position(|s| *s == "gallery").map_or(0, |at| parts.len() - 1 - at)
}

/// `scheme://host` the client reached: its Host header, over HTTPS unless it is loopback
/// (a local run) or the proxy says otherwise.
fn origin(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host").unwrap_or("localhost");
    let local = ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| host == *h || host.starts_with(&format!("{h}:")));
    let scheme = header("x-forwarded-proto").unwrap_or(if local { "http" } else { "https" });
    format!("{scheme}://{host}")
}

/// `POST /gallery/links` body: nothing, or `{"ttl_secs":N}`.
fn parse_link_request(body: Option<&str>, is_base64: bool) -> Result<Option<u64>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct LinkRequest {
        ttl_secs: Option<u64>,
    }
    let body = match body {
        None => return Ok(None),
        Some(body) if is_base64 => decode_base64(body, 64 * 1024)?,
        Some(body) => Bytes::copy_from_slice(body.as_bytes()),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: LinkRequest = serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => IngestError::InvalidRequest(format!("invalid link request: {e}")),
        _ => IngestError::invalid_json("the body", e),
    })?;
    Ok(request.ttl_secs)
}

fn redirect(url: String) -> HttpResponse {
    let mut response = respond(302, json!({ "url": url }));
    if let Ok(location) = HeaderValue::from_str(&url) {
        response.headers.insert(LOCATION, location);
    }
    response
}

/// The items of `POST /images` (`path_name` is `None`) or `POST /images/{file_name}`.
async fn read_items(ingestor: &Ingestor, path_name: Option<String>, request: HttpRequest) -> Result<Vec<Result<Item>>> {
    let collection = path_name.is_none();
    let content_type = request.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let essence = content_type.as_deref().map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let raw_name = path_name.or_else(|| request.query.first("file_name").map(str::to_owned));
    let is_multipart = collection && essence.as_deref() == Some("multipart/form-data");
    // A raw body is one object, so its size limit applies before decoding.
    let limit = if collection && (is_multipart || essence.as_deref().is_some_and(is_json_type)) {
        u64::MAX
    } else {
        ingestor.max_object_bytes()
    };
    let body = match request.body {
        None => return Err(IngestError::EmptyObject),
        Some(body) if request.is_base64 => decode_base64(&body, limit)?,
        Some(body) => Bytes::from(body),
    };
    if body.is_empty() {
        return Err(IngestError::EmptyObject);
    }
    if is_multipart {
        return parse_multipart(body, content_type.as_deref().unwrap_or_default()).await;
    }
    if collection && looks_like_json(essence.as_deref(), &body) {
        let value: Value = serde_json::from_slice(&body).map_err(|e| IngestError::invalid_json("the body", e))?;
        return parse_request(value);
    }
    Ok(vec![Ok(Item::from_bytes(body, raw_name, content_type))])
}

fn is_json_type(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

/// JSON by its content type, or, for clients that send none or a form type, by its first byte.
fn looks_like_json(essence: Option<&str>, body: &[u8]) -> bool {
    match essence {
        Some(e) if is_json_type(e) => true,
        None | Some("application/x-www-form-urlencoded" | "text/plain") => {
            body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        }
        _ => false,
    }
}

/// One item per file part of a `multipart/form-data` body; other form fields are ignored.
pub async fn parse_multipart(body: Bytes, content_type: &str) -> Result<Vec<Result<Item>>> {
    let bad = |e: multer::Error| IngestError::InvalidRequest(format!("malformed multipart body: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut items = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        // multer drops a filename that is not UTF-8; such a part is still a file part.
        let Some(name) = field.file_name().map(str::to_owned).or_else(|| lossy_file_name(field.headers())) else {
            continue;
        };
        let declared = field.content_type().map(ToString::to_string);
        let data = field.bytes().await.map_err(bad)?;
        items.push(Ok(Item::from_bytes(data, Some(name), declared)));
        if items.len() > MAX_ITEMS {
            return Err(IngestError::InvalidRequest(format!("at most {MAX_ITEMS} file parts are accepted")));
        }
    }
    if items.is_empty() {
        return Err(IngestError::InvalidRequest("the multipart body has no file part".into()));
    }
    Ok(items)
}

fn lossy_file_name(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(http::header::CONTENT_DISPOSITION)?.as_bytes();
    file_name_from_disposition(&String::from_utf8_lossy(raw))
}

fn ingest_response(results: Vec<Result<StoredObject>>) -> HttpResponse {
    let count = results.len();
    let (stored, failed) = split_results(results);
    let failures: Vec<Value> =
        failed.iter().map(|(index, err)| json!({"index": index, "error": error_body(err)})).collect();
    match (stored.is_empty(), failed.first()) {
        (_, None) => respond(201, json!({ "stored": stored })),
        (false, Some(_)) => respond(207, json!({ "stored": stored, "failed": failures })),
        (true, Some((_, first))) => error_response(first, (count > 1).then_some(failures)),
    }
}

fn error_response(err: &IngestError, failures: Option<Vec<Value>>) -> HttpResponse {
    let mut body = json!({ "error": error_body(err) });
    if let Some(failures) = failures {
        body["failed"] = Value::Array(failures);
    }
    let mut response = respond(err.http_status(), body);
    if let IngestError::MethodNotAllowed { allowed, .. } = err {
        response.headers.insert(ALLOW, HeaderValue::from_static(allowed));
    }
    response
}

fn respond(status: u16, body: Value) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    HttpResponse { status, headers, body: ResponseBody::Json(body) }
}

/// Removes a leading `/{stage}` (v2 raw paths carry it unless the stage is `$default`).
fn strip_stage<'a>(path: &'a str, stage: &str) -> &'a str {
    if stage.is_empty() || stage == "$default" {
        return path;
    }
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    }
}

/// API Gateway sends milliseconds; some emulators (cargo lambda's Function URLs) send
/// seconds. A millisecond value this small would be before 1973, so it is read as seconds.
fn epoch_millis(value: i64) -> Option<DateTime<Utc>> {
    const SECONDS_BELOW: i64 = 100_000_000_000;
    match value {
        ..=0 => None,
        s if s < SECONDS_BELOW => DateTime::from_timestamp(s, 0),
        ms => DateTime::from_timestamp_millis(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_links_are_relative_to_the_page() {
        for (path, levels) in
            [("/gallery", 0), ("/gallery/", 1), ("/x/gallery/2026/11", 2), ("/gallery-x/gallery/2026", 1)]
        {
            assert_eq!(levels_below_gallery(path), levels, "{path}");
        }
        assert_eq!(gallery_base("/prod/gallery/links"), "/prod/");
        assert_eq!(gallery_base("/gallery/links"), "/");
    }

    #[test]
    fn routes_ignore_stage_and_base_path() {
        let post = Method::POST;
        assert_eq!(route(&post, "/images").unwrap(), Route::Images);
        assert_eq!(route(&post, "/images/").unwrap(), Route::Images);
        assert_eq!(route(&post, "/api/v1/images/tabby%20cat.jpg").unwrap(), Route::NamedImage("tabby cat.jpg".into()));
        assert_eq!(route(&post, strip_stage("/prod/images", "prod")).unwrap(), Route::Images);
        assert_eq!(route(&post, strip_stage("/images", "$default")).unwrap(), Route::Images);
        assert_eq!(strip_stage("/production/images", "prod"), "/production/images");
    }

    #[test]
    fn read_routes_take_whole_keys() {
        assert_eq!(route(&Method::GET, "/images").unwrap(), Route::List);
        assert_eq!(
            route(&Method::GET, "/prod/images/images/2026/11/24/203015/a%20b.png").unwrap(),
            Route::Object("images/2026/11/24/203015/a b.png".into())
        );
        assert_eq!(route(&Method::POST, "/uploads").unwrap(), Route::Uploads);
    }

    #[test]
    fn unknown_routes_are_404_and_wrong_methods_405() {
        assert_eq!(route(&Method::POST, "/cats").unwrap_err().code(), "not_found");
        assert_eq!(route(&Method::POST, "/uploads/x").unwrap_err().code(), "not_found");
        assert_eq!(route(&Method::DELETE, "/images").unwrap_err().code(), "method_not_allowed");
        let response = error_response(&route(&Method::PUT, "/images/x.png").unwrap_err(), None);
        assert_eq!(response.status, 405);
        assert_eq!(response.headers[ALLOW], "GET, POST");
        assert_eq!(error_response(&route(&Method::POST, "/images/a/b").unwrap_err(), None).headers[ALLOW], "GET");
        assert_eq!(error_response(&route(&Method::GET, "/uploads").unwrap_err(), None).headers[ALLOW], "POST");
    }

    #[test]
    fn event_time_is_read_in_milliseconds_or_seconds() {
        let expected = DateTime::parse_from_rfc3339("2026-11-24T20:30:15Z").unwrap().with_timezone(&Utc);
        assert_eq!(epoch_millis(1_795_552_215_000), Some(expected));
        assert_eq!(epoch_millis(1_795_552_215), Some(expected));
        assert_eq!(epoch_millis(0), None);
    }

    #[test]
    fn json_is_told_from_raw_bodies() {
        assert!(looks_like_json(Some("application/json"), b"x"));
        assert!(looks_like_json(Some("application/vnd.api+json"), b"x"));
        assert!(looks_like_json(None, b"  {\"url\":1}"));
        assert!(looks_like_json(Some("application/x-www-form-urlencoded"), b"{}"));
        assert!(!looks_like_json(Some("image/png"), b"{"));
        assert!(!looks_like_json(None, b"\x89PNG"));
    }

    #[test]
    fn mixed_results_give_207_and_all_failed_gives_the_error_status() {
        let ok = StoredObject {
            key: "k".into(),
            bucket: "b".into(),
            size: 1,
            content_type: "image/png".into(),
            sha256: "00".into(),
            status: crate::ingest::Status::Created,
            width: Some(3),
            height: None,
            renditions: None,
            renditions_skipped: None,
        };
        assert_eq!(ingest_response(vec![Ok(ok.clone())]).status, 201);
        let partial = ingest_response(vec![Ok(ok), Err(IngestError::EmptyObject)]);
        assert_eq!(partial.status, 207);
        assert_eq!(
            partial.body.json()["failed"][0],
            json!({"index": 1, "error": {"code": "empty_object", "message": "the object is empty"}})
        );
        let failed = ingest_response(vec![Err(IngestError::TooLarge { size: 2, limit: 1 })]);
        assert_eq!(failed.status, 413);
        assert_eq!(failed.body.json()["error"]["code"], "too_large");
        assert!(failed.body.json().get("failed").is_none());
    }

    #[test]
    fn the_longest_answer_fits_a_synchronous_response() {
        // Every item refused with a message quoting 16 KiB of what JSON escapes most, twice over:
        // in the body, then in the envelope that holds the body as a string.
        let quoted = "\u{1}\"".repeat(8 * 1024);
        let results = (0..MAX_ITEMS).map(|_| Err(IngestError::InvalidRequest(quoted.clone()))).collect();
        let response = ingest_response(results);
        assert_eq!(response.body.json()["failed"].as_array().unwrap().len(), MAX_ITEMS);
        let mut out = ApiGatewayProxyResponse::default();
        (out.status_code, out.headers, out.body) = response.into_parts();
        let size = serde_json::to_vec(&out).unwrap().len();
        assert!(size <= crate::answer::RESPONSE_LIMIT / 8, "{size} bytes");
    }
}
