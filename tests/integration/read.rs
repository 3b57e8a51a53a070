//! Reading back by date path, presigned downloads, and presigned uploads, against s3s-fs, with
//! the presigned URLs used by a plain HTTP client.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use serde_json::{Value, json};

/// Stores one PNG per (time, name) through a direct invocation.
async fn seed(app: &image_ingest::App, items: &[(&str, &str)]) {
    let items: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (at, name))| json!({"data": B64.encode(png::small(i as u8)), "file_name": name, "posted_at": at}))
        .collect();
    invoke(app, json!({ "items": items })).await.unwrap();
}

fn get(path: &str, query: &[(&str, &str)]) -> Value {
    let mut event = fixture("apigw-v2-list-day.json");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    let query: serde_json::Map<String, Value> = query.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    event["rawQueryString"] =
        json!(query.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect::<Vec<_>>().join("&"));
    event["queryStringParameters"] = Value::Object(query);
    event
}

fn upload(body: Value) -> Value {
    let mut event = fixture("apigw-v2-upload-presign.json");
    event["body"] = json!(body.to_string());
    event
}

fn keys(page: &Value) -> Vec<String> {
    page["objects"].as_array().unwrap().iter().map(|o| o["key"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_fixtures_list_get_and_refuse_as_documented() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/")]);
    assert_eq!(invoke_api(&app, fixture("apigw-v2-raw-png.json")).await.0, 201);

    let (status, page) = invoke_api(&app, fixture("apigw-v2-list-day.json")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(keys(&page), ["images/2026/11/24/203015/tabby.png"]);
    let object = &page["objects"][0];
    assert_eq!(object["size"], 73);
    assert!(object["last_modified"].as_str().unwrap().ends_with('Z'), "{object}");
    assert_eq!(page["next_token"], Value::Null);

    let (status, years) = invoke_api(&app, fixture("apigw-v2-list-years.json")).await;
    assert_eq!((status, &years["prefixes"]), (200, &json!(["images/2026/"])), "{years}");

    let response = invoke(&app, fixture("apigw-v2-get-object.json")).await.unwrap();
    assert_eq!(response["statusCode"], 302, "{response}");
    let location = response["headers"]["location"].as_str().unwrap();
    let bytes = reqwest::get(location).await.unwrap().bytes().await.unwrap();
    let expected = B64.decode(fixture("apigw-v2-raw-png.json")["body"].as_str().unwrap()).unwrap();
    assert_eq!(&bytes[..], &expected[..], "the presigned GET serves the stored bytes");

    for (name, status, code) in [
        ("apigw-v2-get-missing.json", 404, "not_found"),
        ("apigw-v2-list-invalid-date.json", 400, "invalid_request"),
        ("apigw-v2-upload-too-large.json", 413, "too_large"),
        ("apigw-v2-upload-wrong-type.json", 415, "unsupported_media_type"),
    ] {
        let (got, body) = invoke_api(&app, fixture(name)).await;
        assert_eq!((got, body["error"]["code"].as_str().unwrap()), (status, code), "{name}: {body}");
    }
    let (status, ticket) = invoke_api(&app, fixture("apigw-v2-upload-presign.json")).await;
    assert_eq!(status, 200, "{ticket}");
    assert!(
        ticket["key"].as_str().unwrap().starts_with("images/")
            && ticket["key"].as_str().unwrap().ends_with("/panorama.jpg")
    );
}

#[tokio::test]
async fn listing_paginates_across_pages_with_an_opaque_token() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    let names = ["a.png", "b.png", "c.png", "d.png", "e.png"];
    seed(&app, &names.iter().map(|n| ("2026-11-24T20:30:15Z", *n)).collect::<Vec<_>>()).await;
    seed(&app, &[("2026-11-25T08:00:00Z", "other-day.png")]).await;

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("date", "2026/11/24"), ("limit", "2")];
        if let Some(t) = &token {
            query.push(("next_token", t.as_str()));
        }
        let (status, page) = invoke_api(&app, get("/images", &query)).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        assert!(keys(&page).len() <= 2);
        seen.extend(keys(&page));
        match page["next_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = names.iter().map(|n| format!("2026/11/24/203015/{n}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_delimiter_walks_years_then_months_then_days() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "archive/")]);
    seed(
        &app,
        &[
            ("2025-12-31T23:59:59Z", "a.png"),
            ("2026-01-02T03:04:05Z", "b.png"),
            ("2026-11-24T20:30:15Z", "c.png"),
            ("2026-11-25T00:00:00Z", "d.png"),
        ],
    )
    .await;
    let walk = |query: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move {
            let (status, page) = invoke_api(app, get("/images", &query)).await;
            assert_eq!(status, 200, "{page}");
            page["prefixes"].clone()
        }
    };
    assert_eq!(walk(vec![("delimiter", "/")]).await, json!(["archive/2025/", "archive/2026/"]));
    assert_eq!(walk(vec![("date", "2026"), ("delimiter", "/")]).await, json!(["archive/2026/01/", "archive/2026/11/"]));
    assert_eq!(
        walk(vec![("date", "2026/11"), ("delimiter", "/")]).await,
        json!(["archive/2026/11/24/", "archive/2026/11/25/"])
    );
    assert_eq!(walk(vec![("prefix", "2026/11/24/"), ("delimiter", "/")]).await, json!(["archive/2026/11/24/203015/"]));
}

#[tokio::test]
async fn bad_queries_are_400() {
    let server = S3Server::start().await;
    let app = server.app(&[]);
    for query in [
        vec![("date", "2026/13/40")],
        vec![("date", "2026/02/30")],
        vec![("date", "yesterday")],
        vec![("limit", "0")],
        vec![("limit", "1001")],
        vec![("limit", "ten")],
        vec![("delimiter", "-")],
        vec![("date", "2026"), ("prefix", "2026/")],
    ] {
        let (status, body) = invoke_api(&app, get("/images", &query)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{query:?}: {body}");
    }
    // The token is S3's own and opaque: S3 refuses a bad one (InvalidArgument, mapped to
    // invalid_request), while s3s-fs ignores it and lists from the start.
    let (status, body) = invoke_api(&app, get("/images", &[("next_token", "not-a-token")])).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn missing_keys_and_keys_outside_the_prefix_are_404() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/")]);
    seed(&app, &[("2026-11-24T20:30:15Z", "cat.png")]).await;
    // Stored by someone else outside KEY_PREFIX: not ours to hand out.
    server
        .client()
        .put_object()
        .bucket(BUCKET)
        .key("private/secret.png")
        .body(png::small(9).into())
        .send()
        .await
        .unwrap();
    for path in
        ["/images/images/2026/11/24/203015/dog.png", "/images/private/secret.png", "/images/2026/11/24/203015/cat.png"]
    {
        let (status, body) = invoke_api(&app, get(path, &[])).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{path}: {body}");
    }
    let response = invoke(&app, get("/images/images/2026/11/24/203015/cat.png", &[])).await.unwrap();
    assert_eq!(response["statusCode"], 302);
}

#[tokio::test]
async fn a_presigned_upload_works_end_to_end_and_is_bound_to_its_type_and_size() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/")]);
    let bytes = png::small(4);
    let (status, ticket) = invoke_api(
        &app,
        upload(json!({"file_name": "big photo.png", "content_type": "image/png", "size": bytes.len()})),
    )
    .await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["method"], "PUT");
    let key = ticket["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("images/") && key.ends_with("/big_photo.png"), "{key}");
    let expires = chrono::DateTime::parse_from_rfc3339(ticket["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((290..=300).contains(&ttl), "{ttl}");

    let http = reqwest::Client::new();
    // Sends the signed headers, with the content type given and the body's true length.
    let send = |body: Vec<u8>, content_type: &str| {
        let length = body.len().to_string();
        let mut request = http.put(ticket["url"].as_str().unwrap()).body(body);
        for (name, value) in ticket["headers"].as_object().unwrap() {
            let value = match name.as_str() {
                "content-type" => content_type,
                "content-length" => length.as_str(),
                _ => value.as_str().unwrap(),
            };
            request = request.header(name, value);
        }
        request.send()
    };
    // Another type, or other bytes of another length, do not match the signature.
    let swapped = send(bytes.clone(), "text/html").await.unwrap();
    assert!(swapped.status().is_client_error(), "{}", swapped.status());
    let longer = send([bytes.clone(), b"extra".to_vec()].concat(), "image/png").await.unwrap();
    assert!(longer.status().is_client_error(), "{}", longer.status());
    assert!(server.keys().is_empty());

    let ok = send(bytes.clone(), "image/png").await.unwrap();
    assert!(ok.status().is_success(), "{}: {}", ok.status(), ok.text().await.unwrap());
    // The same URL cannot overwrite what it uploaded.
    let again = send(png::small(5), "image/png").await.unwrap();
    assert_eq!(again.status(), 412);

    // The bytes wait in the staging area until S3's notification has them verified and promoted.
    let upload_key = ticket["upload_key"].as_str().unwrap().to_owned();
    assert_eq!(upload_key, key.replacen("images/", "incoming/", 1));
    assert_eq!(server.keys(), std::slice::from_ref(&upload_key));
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(upload_key);
    let promoted = invoke(&app, notice).await.unwrap();
    assert_eq!(promoted["stored"][0]["key"], key.as_str(), "{promoted}");

    let day = key.trim_start_matches("images/").rsplitn(3, '/').nth(2).unwrap().to_owned();
    let (_, page) = invoke_api(&app, get("/images", &[("date", &day)])).await;
    assert_eq!(keys(&page), std::slice::from_ref(&key));
    let stored = server.client().get_object().bucket(BUCKET).key(&key).send().await.unwrap();
    assert_eq!(stored.content_type(), Some("image/png"));
    assert_eq!(&stored.body.collect().await.unwrap().into_bytes()[..], &bytes[..]);
}

#[tokio::test]
async fn upload_tickets_are_dated_by_posted_at_else_the_request_time_and_repeat_on_retry() {
    let server = S3Server::start().await;
    let app = server.app(&[("KEY_PREFIX", "images/")]);
    let body = json!({"file_name": "panorama.jpg", "content_type": "image/jpeg", "size": 1000});
    // The sample's request time is 2026-11-24T20:30:15Z, in the past.
    let (status, first) = invoke_api(&app, upload(body.clone())).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["upload_key"], "incoming/2026/11/24/203015/panorama.jpg");
    assert_eq!(first["key"], "images/2026/11/24/203015/panorama.jpg");
    let (_, retried) = invoke_api(&app, upload(body.clone())).await;
    assert_eq!((&retried["key"], &retried["upload_key"]), (&first["key"], &first["upload_key"]));
    // The URL is signed now, whatever the keys' date: it works for the whole TTL.
    let expires = chrono::DateTime::parse_from_rfc3339(first["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now(), "{expires}");

    let mut posted = body.clone();
    posted["posted_at"] = json!("2025-03-01T08:09:10+01:00");
    let (status, ticket) = invoke_api(&app, upload(posted)).await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["upload_key"], "incoming/2025/03/01/070910/panorama.jpg");
    assert_eq!(ticket["key"], "images/2025/03/01/070910/panorama.jpg");

    for bad in [json!("yesterday"), json!("1969-12-31T23:59:59Z"), json!("2999-01-01T00:00:00Z")] {
        let mut refused = body.clone();
        refused["posted_at"] = bad.clone();
        let (status, answer) = invoke_api(&app, upload(refused)).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{bad}: {answer}");
    }
}

#[tokio::test]
async fn declared_uploads_outside_the_limits_are_refused() {
    let server = S3Server::start().await;
    let app = server.app(&[("MAX_OBJECT_BYTES", "1000")]);
    for (body, status, code) in [
        (json!({"file_name": "a.png", "content_type": "image/png", "size": 1001}), 413, "too_large"),
        (json!({"file_name": "a.pdf", "content_type": "application/pdf", "size": 10}), 415, "unsupported_media_type"),
        (json!({"file_name": "a.png", "content_type": "image/png", "size": 0}), 400, "empty_object"),
        (json!({"file_name": "a.png", "content_type": "image/png"}), 400, "invalid_request"),
        (json!({"file_name": "...", "content_type": "image/png", "size": 10}), 400, "invalid_request"),
    ] {
        let (got, response) = invoke_api(&app, upload(body.clone())).await;
        assert_eq!((got, response["error"]["code"].as_str().unwrap()), (status, code), "{body}: {response}");
    }
    let mut truncated = fixture("apigw-v2-upload-presign.json");
    truncated["body"] = json!("{\"file_name\":");
    assert_eq!(invoke_api(&app, truncated).await.1["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn read_paths_report_a_missing_bucket() {
    let server = S3Server::start().await;
    let app = server.app(&[("BUCKET_NAME", "no-such-bucket"), ("KEY_PREFIX", "images/")]);
    for name in ["apigw-v2-list-day.json", "apigw-v2-get-object.json", "apigw-v2-upload-presign.json"] {
        let (status, body) = invoke_api(&app, fixture(name)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{name}: {body}");
    }
}
