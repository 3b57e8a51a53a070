#!/usr/bin/env python3
"""Writes the bad-input corpus: one JSON case file per case, next to this script.

Run `python3 tests/corpus/generate.py` from anywhere; it rewrites every case it knows and
leaves other files alone. Each case is {"description", "vars", "event", "expect"}; the
format and the checks are described in README.md here and applied by tests/integration/corpus.rs.

Rules the cases follow:
- No URL is ever fetchable: every URL is refused by scheme, user info, an IP literal that is
  not public (the corpus app trusts no address, not even 127.0.0.1), or a localhost name.
  No case uses a name that needs DNS.
- JSON nested deeper than serde_json's limit of 128 only appears inside a JSON *string*
  (an API body or an SQS body), because the harness parses the case file with serde_json.
- Every case runs under its own KEY_PREFIX (the file stem), so `keys` are listed without it.
"""

import base64
import hashlib
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PNG = base64.b64decode(PNG_B64)
PNG_SHA16 = hashlib.sha256(PNG).hexdigest()[:16]
GIF_B64 = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
TEXT = b"these are plain words, not a picture"
TEXT_B64 = base64.b64encode(TEXT).decode()
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
HTML_B64 = base64.b64encode(HTML).decode()
URLSAFE_PNG_B64 = PNG_B64.replace("+", "-").replace("/", "_")
assert URLSAFE_PNG_B64 != PNG_B64

# The event times of the templates: 2026-11-24T20:30:15Z.
EPOCH_MS = 1795552215000
DAY = "2026/11/24/203015"
POSTED = "2026-11-24T20:30:15Z"

CASES = {}


def case(name, description, event, expect, vars=None):
    assert name not in CASES, name
    CASES[name] = {"description": description, "vars": vars or {}, "event": event, "expect": expect}


def dumps(value):
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------- event templates


def v2(method="POST", path="/images", body=None, content_type="application/json", is_b64=False, query=None,
       raw_query=""):
    headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "curl/8.5.0"}
    if content_type is not None:
        headers["content-type"] = content_type
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10",
                     "userAgent": "curl/8.5.0"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:20:30:15 +0000",
            "timeEpoch": EPOCH_MS,
        },
        "isBase64Encoded": is_b64,
    }
    if query is not None:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = body
    return event


def v1(method="POST", path="/images", body=None, content_type="application/json", is_b64=False):
    headers = {"Host": "abc123.execute-api.eu-west-1.amazonaws.com"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return {
        "resource": "/images" if path == "/images" else "/images/{file_name}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "resourceId": "r1",
            "stage": "prod",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "httpMethod": method,
            "path": "/prod" + path,
            "protocol": "HTTP/1.1",
            "resourcePath": "/images",
            "requestTimeEpoch": EPOCH_MS,
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "curl/8.5.0"},
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }


def sqs_record(message_id, body, group=None, fifo=False, sent=str(EPOCH_MS)):
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": sent, "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                  "ApproximateFirstReceiveTimestamp": str(EPOCH_MS + 100)}
    if group is not None:
        attributes["MessageGroupId"] = group
        attributes["MessageDeduplicationId"] = message_id
    queue = "image-ingest-queue.fifo" if fifo else "image-ingest-queue"
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB" + message_id.replace("-", ""),
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5((body if isinstance(body, str) else "").encode("utf-8", "surrogatepass")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:" + queue,
        "awsRegion": "eu-west-1",
    }


def sqs(*records):
    return {"Records": list(records)}


def eventbridge(detail, detail_type="Image Captured", source="com.example.crawler", time="2026-11-24T20:30:15Z"):
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def png_item(name, **extra):
    item = {"data": PNG_B64, "file_name": name}
    item.update(extra)
    return item


def wrapped(text, width, sep="\n"):
    return sep.join(text[i:i + width] for i in range(0, len(text), width)) + sep


def multipart(parts, boundary="corpus-boundary"):
    """parts: (headers bytes, body bytes); returns the raw body."""
    out = b""
    for disposition, content_type, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        out += b"Content-Disposition: " + disposition + b"\r\n"
        if content_type:
            out += b"Content-Type: " + content_type + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


def b64(raw):
    return base64.b64encode(raw).decode()


MP = "multipart/form-data; boundary=corpus-boundary"


def refused(status, code):
    return {"status": status, "code": code}


# ================================================================ API Gateway v2

case("apigw-v2-deep-nesting-200-arrays",
     "A JSON body of 200 nested arrays is over serde_json's recursion limit: invalid_json, not a crash.",
     v2(body="[" * 200 + "]" * 200), refused(400, "invalid_json"))
case("apigw-v2-deep-nesting-200-objects-in-items",
     "An item that is 200 nested objects deep: the body cannot be read, invalid_json.",
     v2(body='{"items":[' + '{"a":' * 200 + "1" + "}" * 200 + "]}"), refused(400, "invalid_json"))
case("apigw-v2-nesting-100-wrong-shape",
     "100 nested arrays parse (under the limit) but are not an item: invalid_request.",
     v2(body='{"items":[' + "[" * 100 + "]" * 100 + "]}"), refused(400, "invalid_request"))
case("apigw-v2-body-json-null", "A JSON body that is `null`.", v2(body="null"), refused(400, "invalid_request"))
case("apigw-v2-body-json-array", "A JSON array of items instead of {\"items\":[...]}.",
     v2(body=dumps([png_item("array.png")])), refused(400, "invalid_request"))
case("apigw-v2-body-json-string", "A JSON string body.", v2(body='"iVBORw0KGgo="'), refused(400, "invalid_request"))
case("apigw-v2-body-json-true-with-form-type",
     "Form-encoded content type with a body that is JSON `true`: not starting with `{`, so raw bytes, and text is refused.",
     v2(body="true", content_type="application/x-www-form-urlencoded"), refused(415, "unsupported_media_type"))
case("apigw-v2-items-not-array", "\"items\" is an object.", v2(body=dumps({"items": png_item("obj.png")})),
     refused(400, "invalid_request"))
case("apigw-v2-items-empty", "\"items\" is empty.", v2(body='{"items":[]}'), refused(400, "invalid_request"))
case("apigw-v2-items-with-sibling-field", "A field next to \"items\" is refused, not ignored.",
     v2(body=dumps({"items": [png_item("sib.png")], "bucket": "someone-elses"})), refused(400, "invalid_request"))
case("apigw-v2-data-number", "\"data\" is a number.", v2(body='{"data":12345}'), refused(400, "invalid_request"))
case("apigw-v2-file-name-object", "\"file_name\" is an object.",
     v2(body=dumps({"data": PNG_B64, "file_name": {"name": "x.png"}})), refused(400, "invalid_request"))
case("apigw-v2-unknown-field-fileName", "A typo (`fileName`) is an unknown field, refused naming it.",
     v2(body=dumps({"data": PNG_B64, "fileName": "typo.png"})), refused(400, "invalid_request"))
case("apigw-v2-url-and-data", "An item with both url and data.",
     v2(body=dumps({"data": PNG_B64, "url": "http://10.0.0.1/x.png"})), refused(400, "invalid_request"))
case("apigw-v2-url-not-a-url", "\"url\" that does not parse.", v2(body='{"url":"not a url"}'),
     refused(400, "invalid_request"))
case("apigw-v2-bom-before-json", "A UTF-8 byte order mark before the JSON: not JSON serde_json reads.",
     v2(body="\ufeff" + dumps(png_item("bom.png"))), refused(400, "invalid_json"))
case("apigw-v2-lone-surrogate-in-body",
     "A lone surrogate escape (\\ud800) in the file name: the body is not valid Unicode JSON, invalid_json.",
     v2(body='{"data":"' + PNG_B64 + '","file_name":"\\ud800.png"}'), refused(400, "invalid_json"))
case("apigw-v2-lone-low-surrogate-in-metadata",
     "A lone low surrogate escape (\\udc00) in a metadata value: invalid_json.",
     v2(body='{"data":"' + PNG_B64 + '","metadata":{"k":"\\udc00"}}'), refused(400, "invalid_json"))
case("apigw-v2-percent-ff-in-path",
     "Invalid UTF-8 (%FF%FE) in the path's file name: sanitised away, so the digest names the object.",
     v2(path="/images/%FF%FE.png", body=PNG_B64, content_type="image/png", is_b64=True),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/{PNG_SHA16}.png"], "content_types": ["image/png"]})
case("apigw-v2-percent-encoded-surrogate-in-path",
     "A UTF-8-encoded surrogate (%ED%A0%80, invalid UTF-8) before a name: replaced, the rest of the name kept.",
     v2(path="/images/%ED%A0%80cat.png", body=PNG_B64, content_type="image/png", is_b64=True),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/cat.png"]})
case("apigw-v2-percent-encoded-traversal",
     "..%2F..%2Fetc%2Fpasswd in the path decodes to a traversal; only the last segment is kept.",
     v2(path="/images/..%2F..%2Fetc%2Fpasswd", body=PNG_B64, content_type="image/png", is_b64=True),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/passwd.png"]})
case("apigw-v2-multipart-raw-bytes-filename",
     "A multipart file part whose filename holds raw non-UTF-8 bytes (\\xff\\xfe): a file part all the same, stored under a sanitised or digest name.",
     v2(body=b64(multipart([(b'form-data; name="file"; filename="\xff\xfe\x80.png"', b"image/png", PNG)])),
        content_type=MP, is_b64=True),
     {"status": 201, "stored": 1, "content_types": ["image/png"]})
case("apigw-v2-multipart-raw-bytes-filename-beside-a-good-part",
     "Two file parts, one named in raw non-UTF-8 bytes: both are file parts, so both are stored (none silently dropped).",
     v2(body=b64(multipart([(b'form-data; name="a"; filename="mp-utf8.png"', b"image/png", PNG),
                            (b'form-data; name="b"; filename="caf\xe9.png"', b"image/png", PNG)])),
        content_type=MP, is_b64=True),
     {"status": 201, "stored": 2})
case("apigw-v2-multipart-empty-file-part",
     "A browser form with one file and one empty file input (filename=\"\", no bytes): 207, the empty part is empty_object.",
     v2(body=b64(multipart([(b'form-data; name="a"; filename="mp-good.png"', b"image/png", PNG),
                            (b'form-data; name="b"; filename=""', b"application/octet-stream", b"")])),
        content_type=MP, is_b64=True),
     {"status": 207, "failed_codes": ["empty_object"], "keys": [f"{DAY}/mp-good.png"]})
case("apigw-v2-multipart-text-declared-png", "A multipart part declared image/png that holds text: 415.",
     v2(body=b64(multipart([(b'form-data; name="file"; filename="notes.png"', b"image/png", TEXT)])),
        content_type=MP, is_b64=True), refused(415, "unsupported_media_type"))
case("apigw-v2-multipart-no-boundary", "multipart/form-data without a boundary parameter.",
     v2(body=b64(multipart([(b'form-data; name="file"; filename="x.png"', b"image/png", PNG)])),
        content_type="multipart/form-data", is_b64=True), refused(400, "invalid_request"))
case("apigw-v2-multipart-truncated", "A multipart body cut off in the middle of its only part.",
     v2(body=b64(multipart([(b'form-data; name="file"; filename="x.png"', b"image/png", PNG)])[:120]),
        content_type=MP, is_b64=True), refused(400, "invalid_request"))
case("apigw-v2-multipart-no-file-part", "A multipart body with only a text field.",
     v2(body=b64(multipart([(b'form-data; name="caption"', None, b"two cats")])), content_type=MP, is_b64=True),
     refused(400, "invalid_request"))
case("apigw-v2-multipart-101-parts", "101 file parts: more than 100 items, refused whole.",
     v2(body=b64(multipart([(f'form-data; name="f"; filename="p{i}.gif"'.encode(), b"image/gif",
                             base64.b64decode(GIF_B64)) for i in range(101)])), content_type=MP, is_b64=True),
     refused(400, "invalid_request"))
case("apigw-v2-empty-data", "\"data\": \"\".", v2(body='{"data":""}'), refused(400, "empty_object"))
case("apigw-v2-whitespace-only-data", "\"data\" of whitespace only: no bytes.", v2(body='{"data":" \\n\\t \\r\\n"}'),
     refused(400, "empty_object"))
case("apigw-v2-raw-empty-base64-body", "A raw upload with isBase64Encoded and an empty body.",
     v2(path="/images/empty.png", body="", content_type="image/png", is_b64=True), refused(400, "empty_object"))
case("apigw-v2-raw-no-body", "A raw upload with no body field at all.",
     v2(path="/images/nobody.png", content_type="image/png"), refused(400, "empty_object"))
case("apigw-v2-json-empty-body", "Content-Type JSON and an empty body: no bytes.", v2(body=""),
     refused(400, "empty_object"))
case("apigw-v2-base64-wrapped-76", "`base64` output wrapped at 76 columns with newlines is accepted.",
     v2(body=dumps(png_item("wrapped76.png", data=wrapped(PNG_B64, 76)))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/wrapped76.png"]})
case("apigw-v2-base64-crlf-tabs-spaces", "CRLF, tabs and spaces inside the base64 are skipped.",
     v2(body=dumps(png_item("mixedws.png", data=" \t" + wrapped(PNG_B64, 10, "\r\n\t ")))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/mixedws.png"]})
case("apigw-v2-base64-unpadded", "Padding is optional.",
     v2(body=dumps(png_item("unpadded.png", data=PNG_B64.rstrip("=")))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/unpadded.png"]})
case("apigw-v2-base64-urlsafe", "The URL-safe alphabet (- and _) is refused with invalid_base64.",
     v2(body=dumps(png_item("urlsafe.png", data=URLSAFE_PNG_B64))), refused(400, "invalid_base64"))
case("apigw-v2-base64-nbsp", "A non-ASCII space (U+00A0) inside the base64 is not skipped.",
     v2(body=dumps(png_item("nbsp.png", data=PNG_B64[:20] + "\u00a0" + PNG_B64[20:]))),
     refused(400, "invalid_base64"))
case("apigw-v2-base64-padding-in-middle", "Padding in the middle of the base64.",
     v2(body=dumps(png_item("midpad.png", data=PNG_B64[:8] + "==" + PNG_B64[8:]))), refused(400, "invalid_base64"))
case("apigw-v2-raw-body-urlsafe-base64", "A raw base64-encoded body in the URL-safe alphabet.",
     v2(path="/images/raw-urlsafe.png", body=URLSAFE_PNG_B64, content_type="image/png", is_b64=True),
     refused(400, "invalid_base64"))
case("apigw-v2-json-body-base64-invalid", "A base64-encoded JSON body that is not base64.",
     v2(body="{not base64}", is_b64=True), refused(400, "invalid_base64"))
case("apigw-v2-101-items", "101 items: one over the limit, refused whole.",
     v2(body=dumps({"items": [{"data": "AA"}] * 101})), refused(400, "invalid_request"))
case("apigw-v2-10000-items", "10,000 tiny items: refused whole with invalid_request.",
     v2(body=dumps({"items": [{"data": "AA"}] * 10000})), refused(400, "invalid_request"))


def metadata_of(total):
    # key "k" plus a value: total bytes of keys plus values.
    return {"k": "v" * (total - 1)}


case("apigw-v2-metadata-2049-bytes", "Metadata of 2049 bytes (keys plus values): over 2 KiB.",
     v2(body=dumps(png_item("meta2049.png", metadata=metadata_of(2049)))), refused(400, "invalid_request"))
case("apigw-v2-metadata-1926-bytes",
     "Metadata of 1926 bytes is accepted: with the entries the function adds (sha256, width, height, "
     "location-stripped: 122 bytes at most) it fills S3's 2 KiB.",
     v2(body=dumps(png_item("meta1926.png", metadata=metadata_of(1926)))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/meta1926.png"]})
case("apigw-v2-metadata-1927-bytes",
     "Metadata of 1927 bytes is refused: with the entries the function adds it could pass S3's 2 KiB.",
     v2(body=dumps(png_item("meta1927.png", metadata=metadata_of(1927)))),
     {"status": 400, "code": "invalid_request"})
case("apigw-v2-metadata-2048-bytes",
     "Metadata of 2048 bytes is refused: with the sha256 entry S3 would refuse it (documented change).",
     v2(body=dumps(png_item("meta2048.png", metadata=metadata_of(2048)))),
     {"status": 400, "code": "invalid_request"})
case("apigw-v2-metadata-many-small-keys", "300 small metadata entries adding up to over 2 KiB.",
     v2(body=dumps(png_item("metamany.png", metadata={f"key{i:03}": "value" for i in range(300)}))),
     refused(400, "invalid_request"))
case("apigw-v2-metadata-non-ascii-value", "A metadata value that is not ASCII.",
     v2(body=dumps(png_item("metautf8.png", metadata={"caption": "chat noir \u00e9\u00e8"}))),
     refused(400, "invalid_request"))
case("apigw-v2-metadata-reserved-sha256-uppercase", "`SHA256` is the reserved sha256 key in another case.",
     v2(body=dumps(png_item("metasha.png", metadata={"SHA256": "0" * 64}))), refused(400, "invalid_request"))
case("apigw-v2-metadata-number-value", "A metadata value that is a number.",
     v2(body=dumps(png_item("metanum.png", metadata={"width": 640}))), refused(400, "invalid_request"))
case("apigw-v2-metadata-key-with-colon", "A metadata key with a character outside [A-Za-z0-9_-].",
     v2(body=dumps(png_item("metacolon.png", metadata={"x-amz-acl:": "public-read"}))),
     refused(400, "invalid_request"))
case("apigw-v2-posted-at-far-future", "posted_at in year 9999.",
     v2(body=dumps(png_item("future.png", posted_at="9999-12-31T23:59:59Z"))), refused(400, "invalid_request"))
case("apigw-v2-posted-at-far-past", "posted_at one second before 1970.",
     v2(body=dumps(png_item("past.png", posted_at="1969-12-31T23:59:59Z"))), refused(400, "invalid_request"))
case("apigw-v2-posted-at-not-rfc3339", "posted_at in a day/month/year format.",
     v2(body=dumps(png_item("dmy.png", posted_at="24/11/2026 20:30"))), refused(400, "invalid_request"))
case("apigw-v2-posted-at-no-offset", "posted_at without a time zone offset is not RFC 3339.",
     v2(body=dumps(png_item("nooffset.png", posted_at="2026-11-24T20:30:15"))), refused(400, "invalid_request"))
case("apigw-v2-posted-at-epoch-number", "posted_at as a number of seconds: wrong type.",
     v2(body=dumps(png_item("epochnum.png", posted_at=1795552215))), refused(400, "invalid_request"))
case("apigw-v2-item-positional-array", "An item written as a JSON array instead of an object: invalid_request.",
     v2(body=dumps({"items": [[None, PNG_B64, "v2-positional.png", None, None, None]]})), refused(400, "invalid_request"))
case("apigw-v2-posted-at-leap-second",
     "posted_at on a leap second (:60): a valid RFC 3339 time; its key must still be a real HHMMSS (a listing can reach).",
     v2(body=dumps(png_item("leap.png", posted_at="2016-12-31T23:59:60Z"))),
     {"status": 201, "stored": 1, "keys": ["2016/12/31/235959/leap.png"]})
case("apigw-v2-posted-at-1970-boundary", "posted_at at the Unix epoch itself is accepted.",
     v2(body=dumps(png_item("epoch.png", posted_at="1970-01-01T00:00:00Z"))),
     {"status": 201, "stored": 1, "keys": ["1970/01/01/000000/epoch.png"]})
case("apigw-v2-posted-at-offset-is-utc-in-key", "posted_at with +01:00 is keyed in UTC.",
     v2(body=dumps(png_item("offset.png", posted_at="2026-11-24T21:30:15+01:00"))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/offset.png"]})
case("apigw-v2-url-metadata-endpoint", "The instance metadata endpoint: 422 url_not_allowed, nothing fetched.",
     v2(body='{"url":"http://169.254.169.254/latest/meta-data/iam/security-credentials/"}'),
     refused(422, "url_not_allowed"))
case("apigw-v2-url-file-scheme", "A file:// URL.", v2(body='{"url":"file:///etc/passwd"}'),
     refused(422, "url_not_allowed"))
case("apigw-v2-url-ipv6-loopback", "IPv6 loopback.", v2(body='{"url":"http://[::1]:9000/x.png"}'),
     refused(422, "url_not_allowed"))
case("apigw-v2-mixed-good-and-ssrf", "A good item and a refused URL: 207, the URL item fails alone.",
     v2(body=dumps({"items": [png_item("mixed-good.png"), {"url": "http://10.0.0.1/x.png"}]})),
     {"status": 207, "failed_codes": ["url_not_allowed"], "keys": [f"{DAY}/mixed-good.png"]})
case("apigw-v2-several-urls-all-refused", "Three refused URLs: the first's status, every failure listed.",
     v2(body=dumps({"items": [{"url": "http://192.168.0.1/"}, {"url": "ftp://93.184.215.14/a.png"},
                              {"url": "http://localhost/"}]})),
     {"status": 422, "code": "url_not_allowed",
      "failed_codes": ["url_not_allowed", "url_not_allowed", "url_not_allowed"]})
case("apigw-v2-raw-text-declared-png", "A raw body of text declared image/png: 415.",
     v2(path="/images/lie.png", body=TEXT.decode(), content_type="image/png"), refused(415, "unsupported_media_type"))
case("apigw-v2-raw-html-declared-png", "A raw HTML page with a script declared image/png: 415, never stored.",
     v2(path="/images/page.png", body=HTML.decode(), content_type="image/png"), refused(415, "unsupported_media_type"))
case("apigw-v2-raw-png-declared-jpeg", "PNG bytes declared image/jpeg and named .jpg: stored as image/png, .png.",
     v2(path="/images/photo.jpg", body=PNG_B64, content_type="image/jpeg", is_b64=True),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/photo.png"], "content_types": ["image/png"]})
case("apigw-v2-json-png-declared-html", "A JSON item of PNG bytes with content_type text/html: stored as image/png.",
     v2(body=dumps(png_item("declared-html.png", content_type="text/html"))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/declared-html.png"], "content_types": ["image/png"]})
case("apigw-v2-json-html-declared-png", "A JSON item of HTML with content_type image/png: 415.",
     v2(body=dumps({"data": HTML_B64, "file_name": "x.png", "content_type": "image/png"})),
     refused(415, "unsupported_media_type"))
case("apigw-v2-no-content-type-json-array", "No content type and a body `[1,2]`: raw bytes, not an image: 415.",
     v2(body="[1,2]", content_type=None), refused(415, "unsupported_media_type"))
case("apigw-v2-body-is-object-not-string", "An event whose body is a JSON object, not a string: malformed event.",
     v2(body=png_item("obj-body.png")), {"error_type": "invalid_request"})
case("apigw-v2-method-number", "requestContext.http.method is a number: malformed event.",
     (lambda e: (e["requestContext"]["http"].__setitem__("method", 7), e)[1])(v2(body="{}")),
     {"error_type": "invalid_request"})
case("apigw-v2-missing-http", "version 2.0 without requestContext.http: not an API request, refused.",
     (lambda e: (e["requestContext"].pop("http"), e)[1])(v2(body=dumps(png_item("nohttp.png")))),
     {"error_type": "invalid_request"})
case("apigw-v2-is-base64-string", "isBase64Encoded as the string \"true\": malformed event.",
     v2(path="/images/s.png", body=PNG_B64, content_type="image/png", is_b64="true"),
     {"error_type": "invalid_request"})
case("apigw-v2-uploads-not-json", "POST /uploads with a body that is not JSON.",
     v2(path="/uploads", body="file_name=x.png&size=10"), refused(400, "invalid_json"))
case("apigw-v2-uploads-size-string", "POST /uploads with size as a string.",
     v2(path="/uploads", body='{"file_name":"x.png","content_type":"image/png","size":"10"}'),
     refused(400, "invalid_request"))
case("apigw-v2-uploads-negative-size", "POST /uploads with a negative size.",
     v2(path="/uploads", body='{"file_name":"x.png","content_type":"image/png","size":-1}'),
     refused(400, "invalid_request"))
case("apigw-v2-uploads-missing-fields", "POST /uploads without content_type and size.",
     v2(path="/uploads", body='{"file_name":"x.png"}'), refused(400, "invalid_request"))
case("apigw-v2-list-limit-zero", "GET /images?limit=0.",
     v2(method="GET", path="/images", content_type=None, query={"limit": "0"}, raw_query="limit=0"),
     refused(400, "invalid_request"))
case("apigw-v2-list-date-traversal", "GET /images?date=../../ is not a date.",
     v2(method="GET", path="/images", content_type=None, query={"date": "../../"}, raw_query="date=../../"),
     refused(400, "invalid_request"))
case("apigw-v2-put-method", "PUT /images: 405.", v2(method="PUT", body=dumps(png_item("put.png"))),
     refused(405, "method_not_allowed"))
case("apigw-v2-root-path", "POST /: 404.", v2(path="/", body=dumps(png_item("root.png"))), refused(404, "not_found"))
case("apigw-v2-max-object-bytes-raw", "A raw PNG over MAX_OBJECT_BYTES=50: 413 before decoding.",
     v2(path="/images/big.png", body=PNG_B64, content_type="image/png", is_b64=True), refused(413, "too_large"),
     vars={"MAX_OBJECT_BYTES": "50"})
case("apigw-v2-allowed-gif-only", "ALLOWED_CONTENT_TYPES=image/gif and a PNG: 415.",
     v2(body=dumps(png_item("gifonly.png"))), refused(415, "unsupported_media_type"),
     vars={"ALLOWED_CONTENT_TYPES": "image/gif"})

# A large (5.5 MB, under API Gateway's 6 MB) but legal JSON body: one PNG padded to 4 MiB.
HUGE = PNG + bytes(4 * 1024 * 1024 - len(PNG))
case("apigw-v2-huge-body-5mb", "A 5.5 MB JSON body (a 4 MiB PNG in base64): large but legal, stored.",
     v2(body=dumps(png_item("huge.png", data=b64(HUGE)))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/huge.png"], "content_types": ["image/png"]})

# ================================================================ API Gateway v1

case("apigw-v1-deep-nesting-200", "A REST API JSON body nested 200 levels: invalid_json.",
     v1(body='{"items":' + "[" * 200 + "]" * 200 + "}"), refused(400, "invalid_json"))
case("apigw-v1-lone-surrogate-in-body", "A lone surrogate escape in the REST API body.",
     v1(body='{"data":"' + PNG_B64 + '","file_name":"a\\udbff.png"}'), refused(400, "invalid_json"))
case("apigw-v1-http-method-number", "httpMethod is a number: not recognised as any source.",
     (lambda e: (e.__setitem__("httpMethod", 1), e)[1])(v1(body=dumps(png_item("m.png")))),
     {"error_type": "invalid_request"})
case("apigw-v1-request-context-string", "requestContext is a string: not recognised.",
     (lambda e: (e.__setitem__("requestContext", "prod"), e)[1])(v1(body=dumps(png_item("rc.png")))),
     {"error_type": "invalid_request"})
case("apigw-v1-headers-string", "headers is a string: malformed REST API event.",
     (lambda e: (e.__setitem__("headers", "Content-Type: application/json"), e)[1])(v1(body=dumps(png_item("h.png")))),
     {"error_type": "invalid_request"})
case("apigw-v1-body-number", "body is a number: malformed REST API event.", v1(body=12345),
     {"error_type": "invalid_request"})
case("apigw-v1-percent-ff-in-path", "Invalid UTF-8 in a REST API path name.",
     v1(path="/images/%FFdog%FF.png", body=PNG_B64, content_type="image/png", is_b64=True),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/dog.png"]})
case("apigw-v1-base64-wrapped", "Wrapped base64 in a REST API JSON body.",
     v1(body=dumps(png_item("v1wrapped.png", data=wrapped(PNG_B64, 16)))),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/v1wrapped.png"]})
case("apigw-v1-base64-urlsafe", "URL-safe base64 in a REST API JSON body.",
     v1(body=dumps(png_item("v1urlsafe.png", data=URLSAFE_PNG_B64))), refused(400, "invalid_base64"))
case("apigw-v1-ssrf-decimal-ip", "The metadata address spelled as one decimal number.",
     v1(body='{"url":"http://2852039166/latest/meta-data/"}'), refused(422, "url_not_allowed"))
case("apigw-v1-raw-text-declared-png", "A REST API raw body of text declared image/png.",
     v1(path="/images/lie.png", body=TEXT.decode(), content_type="image/png"), refused(415, "unsupported_media_type"))
case("apigw-v1-posted-at-far-future", "posted_at in 2126.",
     v1(body=dumps(png_item("v1future.png", posted_at="2126-01-01T00:00:00Z"))), refused(400, "invalid_request"))
case("apigw-v1-metadata-too-large", "Metadata of 3000 bytes.",
     v1(body=dumps(png_item("v1meta.png", metadata=metadata_of(3000)))), refused(400, "invalid_request"))
case("apigw-v1-empty-data", "\"data\": \"\" through the REST API.", v1(body='{"items":[{"data":""}]}'),
     refused(400, "empty_object"))
case("apigw-v1-10000-items", "10,000 tiny items through the REST API.",
     v1(body=dumps({"items": [{"data": "AA"}] * 10000})), refused(400, "invalid_request"))

# An Application Load Balancer target event: the same top-level fields as a REST API event,
# but requestContext holds only `elb`. It is not one of the contract's sources.
alb = {
    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/t/1"}},
    "httpMethod": "POST",
    "path": "/images/alb.png",
    "queryStringParameters": {},
    "headers": {"content-type": "image/png", "host": "internal-alb.eu-west-1.elb.amazonaws.com"},
    "body": PNG_B64,
    "isBase64Encoded": True,
}
case("apigw-v1-alb-event-is-not-api-gateway",
     "An ALB target event (requestContext.elb) is not an API Gateway request and must not be taken for one.",
     alb, {"error_type": "invalid_request"})

case("apigw-v1-multipart-windows-path-filename",
     "A REST API multipart upload whose filename is a Windows path (old browsers): only the last segment is kept.",
     v1(body=b64(multipart([(b'form-data; name="file"; filename="C:\\Users\\me\\Pictures\\v1-win.png"',
                             b"image/png", PNG)])), content_type=MP, is_b64=True),
     {"status": 201, "stored": 1, "keys": [f"{DAY}/v1-win.png"]})

# ================================================================ SQS

GOOD_BODY = lambda name: dumps(png_item(name))
ID = lambda n: f"c0000000-0000-4000-8000-{n:012d}"

wrong_types = ["null", "42", "true", '"a string"', "[1,2]", "{}", '{"items":{}}', '{"items":[]}', '{"items":null}',
               '{"data":5}', '{"data":["iVBOR"]}', '{"url":false}', '{"data":"","file_name":"e.png"}',
               dumps({"data": PNG_B64, "file_name": 7}), dumps({"data": PNG_B64, "metadata": ["a", "b"]})]
case("sqs-bodies-with-wrong-types",
     "Bodies that are JSON but not ingest requests (wrong types, empty items, empty data) fail one by one; the good one is stored.",
     sqs(sqs_record(ID(0), GOOD_BODY("sqs-good.png")), *[sqs_record(ID(i + 1), b) for i, b in enumerate(wrong_types)]),
     {"sqs_failures": [ID(i + 1) for i in range(len(wrong_types))], "keys": [f"{DAY}/sqs-good.png"]})
not_json = ["{", "", "   ", "this body is not JSON", PNG_B64, '{"data":"' + PNG_B64 + '"', "{'data': 'single quotes'}",
            '{"data":"' + PNG_B64 + '","file_name":"\\ud800"}', '{"items":[{"data":"AA"},]}']
case("sqs-bodies-not-json",
     "Bodies that are not JSON (truncated, empty, single-quoted, a lone surrogate escape, a trailing comma) each fail.",
     sqs(*[sqs_record(ID(100 + i), b) for i, b in enumerate(not_json)],
         {**sqs_record(ID(199), ""), "body": None}),
     {"sqs_failures": [ID(100 + i) for i in range(len(not_json))] + [ID(199)]})
case("sqs-item-positional-array", "An SQS body whose item is a positional array: the record fails.",
     sqs(sqs_record(ID(1300), dumps({"items": [[None, PNG_B64, "sqs-positional.png", None, None, None]]}))),
     {"sqs_failures": [ID(1300)]})
case("sqs-deep-nesting",
     "A body nested 200 levels (unreadable) and one nested 100 levels (wrong shape) both fail; the good one is stored.",
     sqs(sqs_record(ID(200), "[" * 200 + "]" * 200), sqs_record(ID(201), '{"items":[' + "[" * 100 + "]" * 100 + "]}"),
         sqs_record(ID(202), GOOD_BODY("sqs-deep-good.png"))),
     {"sqs_failures": [ID(200), ID(201)], "keys": [f"{DAY}/sqs-deep-good.png"]})
case("sqs-10000-items", "A message of 10,000 tiny items fails whole; the other record is stored.",
     sqs(sqs_record(ID(300), dumps({"items": [{"data": "AA"}] * 10000})),
         sqs_record(ID(301), GOOD_BODY("sqs-10k-good.png"))),
     {"sqs_failures": [ID(300)], "keys": [f"{DAY}/sqs-10k-good.png"]})
case("sqs-base64-whitespace-and-urlsafe", "Wrapped base64 is stored; URL-safe base64 fails.",
     sqs(sqs_record(ID(400), dumps(png_item("sqs-wrapped.png", data=wrapped(PNG_B64, 64)))),
         sqs_record(ID(401), dumps(png_item("sqs-urlsafe.png", data=URLSAFE_PNG_B64)))),
     {"sqs_failures": [ID(401)], "keys": [f"{DAY}/sqs-wrapped.png"]})
case("sqs-metadata-and-posted-at",
     "Metadata over the budget, posted_at far future/far past/not RFC 3339 each fail; 1926 bytes of metadata is fine.",
     sqs(sqs_record(ID(500), dumps(png_item("s1.png", metadata=metadata_of(2049)))),
         sqs_record(ID(501), dumps(png_item("s2.png", posted_at="9999-01-01T00:00:00Z"))),
         sqs_record(ID(502), dumps(png_item("s3.png", posted_at="0001-01-01T00:00:00Z"))),
         sqs_record(ID(503), dumps(png_item("s4.png", posted_at="yesterday"))),
         sqs_record(ID(504), dumps(png_item("s5.png", metadata=metadata_of(1926))))),
     {"sqs_failures": [ID(500), ID(501), ID(502), ID(503)], "keys": [f"{DAY}/s5.png"]})
sqs_ssrf = ["http://169.254.169.254/latest/meta-data/", "http://0xa9fea9fe/", "http://[::ffff:10.0.0.1]/",
            "http://[fd00:ec2::254]/", "http://localhost:8080/", "file:///etc/shadow", "http://u:p@93.184.215.14/",
            "http://100.64.0.1/", "http://0.0.0.0/", "http://255.255.255.255/"]
case("sqs-ssrf-batch", "Ten refused URL spellings, one per record: every record fails and nothing is fetched.",
     sqs(*[sqs_record(ID(600 + i), dumps({"url": u})) for i, u in enumerate(sqs_ssrf)]),
     {"sqs_failures": [ID(600 + i) for i in range(len(sqs_ssrf))]})
case("sqs-content-type-lies", "Text declared image/png fails; PNG bytes declared image/jpeg are stored as PNG.",
     sqs(sqs_record(ID(700), dumps({"data": TEXT_B64, "file_name": "t.png", "content_type": "image/png"})),
         sqs_record(ID(701), dumps(png_item("sqs-declared.jpg", content_type="image/jpeg")))),
     {"sqs_failures": [ID(700)], "keys": [f"{DAY}/sqs-declared.png"]})
case("sqs-empty-records", "\"Records\": [] is not an SQS batch (nor anything else).", {"Records": []},
     {"error_type": "invalid_request"})
case("sqs-mixed-event-sources", "One SQS record and one S3 record: not an SQS batch, refused whole.",
     {"Records": [sqs_record(ID(800), GOOD_BODY("mixed-src.png")),
                  {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "pics"}, "object": {"key": "x.png"}}}]},
     {"error_type": "invalid_request"})
case("sqs-missing-message-id", "A record without messageId cannot be reported: the invocation fails.",
     sqs((lambda r: (r.pop("messageId"), r)[1])(sqs_record(ID(900), GOOD_BODY("noid.png")))),
     {"error_type": "invalid_request"})
case("sqs-body-number", "A record whose body is a JSON number, not a string: malformed SQS event.",
     sqs({**sqs_record(ID(901), ""), "body": 42}), {"error_type": "invalid_request"})
case("sqs-records-not-array", "\"Records\" is an object.", {"Records": sqs_record(ID(902), GOOD_BODY("obj.png"))},
     {"error_type": "invalid_request"})
case("sqs-envelopes-are-not-requests",
     "An EventBridge event and an SNS notification delivered as SQS bodies are not ingest requests: both fail.",
     sqs(sqs_record(ID(1000), dumps(eventbridge({"url": "http://10.0.0.1/x.png"}))),
         sqs_record(ID(1001), dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:eu-west-1:1:t",
                                     "Message": GOOD_BODY("sns.png")}))),
     {"sqs_failures": [ID(1000), ID(1001)]})
case("sqs-fifo-group-stops-at-bad-record",
     "FIFO: a bad first record of a group fails the rest of that group; the other group is stored.",
     sqs(sqs_record(ID(1100), '{"data":"%%%"}', group="g-a", fifo=True),
         sqs_record(ID(1101), GOOD_BODY("fifo-a2.png"), group="g-a", fifo=True),
         sqs_record(ID(1102), GOOD_BODY("fifo-b1.png"), group="g-b", fifo=True)),
     {"sqs_failures": [ID(1100), ID(1101)], "keys": [f"{DAY}/fifo-b1.png"]})
case("sqs-garbage-sent-timestamp", "A SentTimestamp that is not a number: the item is still stored (key time: posted_at).",
     sqs(sqs_record(ID(1200), dumps(png_item("sent-garbage.png", posted_at=POSTED)), sent="soon")),
     {"sqs_failures": [], "keys": [f"{DAY}/sent-garbage.png"]})

# ================================================================ EventBridge

case("eventbridge-detail-string", "detail is a stringified JSON request, not an object.",
     eventbridge(dumps(png_item("eb-str.png"))), {"error_type": "invalid_request"})
case("eventbridge-detail-null", "detail is null.", eventbridge(None), {"error_type": "invalid_request"})
case("eventbridge-detail-array", "detail is an array of items.", eventbridge([png_item("eb-arr.png")]),
     {"error_type": "invalid_request"})
case("eventbridge-detail-empty-custom", "A custom event with an empty detail.", eventbridge({}),
     {"error_type": "invalid_request"})
case("eventbridge-detail-type-number", "detail-type is a number: not recognised.",
     (lambda e: (e.__setitem__("detail-type", 3), e)[1])(eventbridge(png_item("eb-n.png"))),
     {"error_type": "invalid_request"})
case("eventbridge-missing-source", "No source: not recognised as EventBridge, nor as anything else.",
     (lambda e: (e.pop("source"), e)[1])(eventbridge(png_item("eb-nosrc.png"))), {"error_type": "invalid_request"})
case("eventbridge-time-not-a-time", "time is not a timestamp: malformed EventBridge event.",
     eventbridge(png_item("eb-time.png"), time="yesterday"), {"error_type": "invalid_request"})
case("eventbridge-s3-object-created-outside-prefix",
     "An S3 Object Created event for a key outside UPLOAD_PREFIX is acknowledged and ignored, never read.",
     eventbridge({"version": "0", "bucket": {"name": "pics"}, "object": {"key": "x.png", "size": 70}},
                 detail_type="Object Created", source="aws.s3"), {"stored": 0})
case("eventbridge-s3-object-created-no-object", "An S3 Object Created event without its object is malformed.",
     eventbridge({"version": "0", "bucket": {"name": "pics"}}, detail_type="Object Created", source="aws.s3"),
     {"error_type": "invalid_request"})
case("eventbridge-s3-object-deleted", "Other aws.s3 event types are acknowledged and ignored.",
     eventbridge({"version": "0", "bucket": {"name": "pics"}, "object": {"key": "incoming/x.png"}},
                 detail_type="Object Deleted", source="aws.s3"), {"stored": 0})
case("eventbridge-ssrf-ipv4-mapped", "An IPv4-mapped IPv6 spelling of the metadata address in detail.",
     eventbridge({"url": "http://[::ffff:169.254.169.254]/latest/meta-data/"}), {"error_type": "url_not_allowed"})
case("eventbridge-scheduled-schedule-url-refused", "SCHEDULE_URLS pointing at the metadata endpoint: refused on fetch.",
     eventbridge({}, detail_type="Scheduled Event", source="aws.events"), {"error_type": "url_not_allowed"},
     vars={"SCHEDULE_URLS": "http://169.254.169.254/latest/meta-data/"})
case("eventbridge-scheduled-schedule-url-file", "SCHEDULE_URLS with a file:// URL stops start-up naming the variable.",
     eventbridge({}, detail_type="Scheduled Event", source="aws.events"), {"init_error": "SCHEDULE_URLS"},
     vars={"SCHEDULE_URLS": "file:///etc/passwd"})
deep_meta = "x"
for _ in range(100):
    deep_meta = {"k": deep_meta}
case("eventbridge-deep-metadata-100", "Metadata nested 100 levels deep: not a string map.",
     eventbridge({"items": [png_item("eb-deep.png", metadata=deep_meta)]}), {"error_type": "invalid_request"})
case("eventbridge-base64-whitespace", "Wrapped base64 in a custom event's detail is accepted.",
     eventbridge({"items": [png_item("eb-wrapped.png", data=wrapped(PNG_B64, 60, "\r\n"))]}),
     {"stored": 1, "keys": [f"{DAY}/eb-wrapped.png"]})
case("eventbridge-posted-at-far-past", "posted_at in year 1 in a custom event.",
     eventbridge({"items": [png_item("eb-past.png", posted_at="0001-01-01T00:00:00Z")]}),
     {"error_type": "invalid_request"})
case("eventbridge-empty-data", "\"data\": \"\" in a custom event.", eventbridge({"data": ""}),
     {"error_type": "empty_object"})
case("eventbridge-unknown-item-field", "An unknown item field in a custom event.",
     eventbridge({"data": PNG_B64, "bucket": "elsewhere"}), {"error_type": "invalid_request"})
case("eventbridge-101-items", "101 items in a custom event.", eventbridge({"items": [{"data": "AA"}] * 101}),
     {"error_type": "invalid_request"})

# ================================================================ Direct invocations

case("direct-string", "A direct invocation whose payload is a JSON string.", "iVBORw0KGgo=",
     {"error_type": "invalid_request"})
case("direct-array", "A JSON array of items.", [png_item("d-arr.png")], {"error_type": "invalid_request"})
case("direct-number", "A JSON number.", 42, {"error_type": "invalid_request"})
case("direct-null", "JSON null.", None, {"error_type": "invalid_request"})
case("direct-empty-object", "{}.", {}, {"error_type": "invalid_request"})
case("direct-items-null", "\"items\": null.", {"items": None}, {"error_type": "invalid_request"})
case("direct-items-with-url-sibling", "\"items\" and a \"url\" next to it.",
     {"items": [png_item("d-sib.png")], "url": "http://10.0.0.1/"}, {"error_type": "invalid_request"})
case("direct-item-is-array", "An item that is an array.", {"items": [[png_item("d-nested.png")]]},
     {"error_type": "invalid_request"})
case("direct-item-positional-array",
     "An item written as a 6-element array [url, data, file_name, content_type, posted_at, metadata] is not an item object; it must not be read positionally.",
     {"items": [[None, PNG_B64, "positional.png", None, None, None]]}, {"error_type": "invalid_request"})
case("direct-item-positional-array-url",
     "A positional array item holding a refused URL: refused as a wrong shape before any URL handling.",
     {"items": [["http://10.0.0.1/x.png", None, None, None, None, None]]}, {"error_type": "invalid_request"})
case("direct-data-array", "\"data\" as an array of bytes.", {"data": list(PNG[:8])}, {"error_type": "invalid_request"})
case("direct-data-null-url-null", "\"data\": null and \"url\": null: neither is given.", {"data": None, "url": None},
     {"error_type": "invalid_request"})
case("direct-metadata-string", "metadata as a string.", png_item("d-ms.png", metadata="source=crawler"),
     {"error_type": "invalid_request"})
case("direct-metadata-empty-key", "An empty metadata key.", png_item("d-mek.png", metadata={"": "x"}),
     {"error_type": "invalid_request"})
case("direct-metadata-value-newline", "A metadata value with a newline (header injection).",
     png_item("d-mnl.png", metadata={"note": "a\r\nx-amz-acl: public-read"}), {"error_type": "invalid_request"})
case("direct-metadata-over-2kib", "Metadata of 4096 bytes.", png_item("d-mbig.png", metadata=metadata_of(4096)),
     {"error_type": "invalid_request"})
case("direct-10000-items", "10,000 tiny items in one direct invocation: refused whole, nothing stored.",
     {"items": [{"data": "AA"}] * 10000}, {"error_type": "invalid_request"})
case("direct-101-items", "101 items.", {"items": [{"data": "AA"}] * 101}, {"error_type": "invalid_request"})
case("direct-100-items", "Exactly 100 items is the limit and is accepted.",
     {"items": [{"data": GIF_B64, "file_name": f"g{i:03}.gif", "posted_at": POSTED} for i in range(100)]},
     {"stored": 100, "keys": [f"{DAY}/g{i:03}.gif" for i in range(100)]})
case("direct-empty-data", "\"data\": \"\".", {"data": "", "file_name": "e.png"}, {"error_type": "empty_object"})
case("direct-whitespace-only-data", "\"data\" of newlines only.", {"data": "\n\n\n", "file_name": "ws.png"},
     {"error_type": "empty_object"})
case("direct-base64-wrapped", "Wrapped base64 is accepted.",
     png_item("d-wrapped.png", data=wrapped(PNG_B64, 76), posted_at=POSTED),
     {"stored": 1, "keys": [f"{DAY}/d-wrapped.png"]})
case("direct-base64-urlsafe", "URL-safe base64 is refused.", png_item("d-urlsafe.png", data=URLSAFE_PNG_B64),
     {"error_type": "invalid_base64"})
case("direct-posted-at-far-future", "posted_at in 2126.", png_item("d-fut.png", posted_at="2126-11-24T20:30:15Z"),
     {"error_type": "invalid_request"})
case("direct-posted-at-far-past", "posted_at in year 1.", png_item("d-past.png", posted_at="0001-01-01T00:00:00Z"),
     {"error_type": "invalid_request"})
case("direct-posted-at-date-only", "posted_at as a date without a time.",
     png_item("d-date.png", posted_at="2026-11-24"), {"error_type": "invalid_request"})
case("direct-posted-at-impossible-date", "posted_at on 30 February.",
     png_item("d-feb.png", posted_at="2026-02-30T00:00:00Z"), {"error_type": "invalid_request"})
case("direct-posted-at-empty", "posted_at \"\".", png_item("d-empty-time.png", posted_at=""),
     {"error_type": "invalid_request"})
case("direct-file-name-dots-only", "A file name of dots only: the digest names the object.",
     png_item("...", posted_at=POSTED), {"stored": 1, "keys": [f"{DAY}/{PNG_SHA16}.png"]})
case("direct-file-name-windows-traversal", "Backslash traversal keeps only the last segment.",
     png_item("..\\..\\windows\\system32\\d-win.png", posted_at=POSTED), {"stored": 1, "keys": [f"{DAY}/d-win.png"]})
case("direct-file-name-control-chars", "NUL and control characters in a name become one `_`.",
     png_item("d\u0000\u0001\u001bctl.png", posted_at=POSTED), {"stored": 1, "keys": [f"{DAY}/d_ctl.png"]})
case("direct-s3-notification-outside-prefix",
     "An S3 event notification for a key outside UPLOAD_PREFIX is acknowledged and ignored.",
     {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "pics"}, "object": {"key": "x.png"}}}]},
     {"stored": 0})
case("direct-s3-notification-other-bucket",
     "An S3 event notification for another bucket's staging prefix is acknowledged and ignored.",
     {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "not-ours"}, "object": {"key": "incoming/x.png"}}}]},
     {"stored": 0})
case("direct-s3-notification-missing-object",
     "A notification for a staged object that no longer exists is a success: a duplicate.",
     {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "pics"}, "object": {"key": "incoming/gone.png"}}}]},
     {"stored": 0})
case("direct-s3-notification-malformed", "An S3 record without its s3 entity is malformed.",
     {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]},
     {"error_type": "invalid_request"})
case("direct-s3-notification-bad-key-encoding", "A key that is not UTF-8 once decoded is malformed.",
     {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "pics"}, "object": {"key": "incoming/%FF.png"}}}]},
     {"error_type": "invalid_request"})
case("direct-s3-test-event", "S3's test message, sent when a notification is configured, is acknowledged.",
     {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-24T20:30:15.000Z", "Bucket": "pics",
      "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"},
     {"stored": 0})
case("direct-sns-notification", "An SNS event is not handled, even if its message is an ingest request.",
     {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": GOOD_BODY("sns.png")}}]},
     {"error_type": "invalid_request"})
case("direct-v2-marker-without-http", "version 2.0 and requestContext without http, plus a url.",
     {"version": "2.0", "requestContext": {}, "url": "http://10.0.0.1/"}, {"error_type": "invalid_request"})
case("direct-stray-http-method", "A direct request with a stray httpMethod is not guessed at.",
     {"httpMethod": "POST", **png_item("stray.png")}, {"error_type": "invalid_request"})
case("direct-text-declared-png", "Text declared image/png.",
     {"data": TEXT_B64, "file_name": "t.png", "content_type": "image/png"}, {"error_type": "unsupported_media_type"})
case("direct-png-declared-jpeg", "PNG bytes declared image/jpeg: stored as image/png under .png.",
     png_item("d-declared.jpeg", content_type="image/jpeg", posted_at=POSTED),
     {"stored": 1, "keys": [f"{DAY}/d-declared.png"], "content_types": ["image/png"]})
case("direct-url-empty", "\"url\": \"\".", {"url": ""}, {"error_type": "invalid_request"})

SSRF = [
    ("loopback-decimal", "http://2130706433/x.png", "127.0.0.1 as one decimal number"),
    ("metadata-decimal", "http://2852039166/latest/meta-data/", "169.254.169.254 as one decimal number"),
    ("metadata-octal", "http://0251.0376.0251.0376/latest/meta-data/", "169.254.169.254 in octal"),
    ("metadata-hex", "http://0xa9fea9fe/latest/meta-data/", "169.254.169.254 as one hex number"),
    ("metadata-hex-dotted", "http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254 as dotted hex"),
    ("metadata-mixed-radix", "http://0251.254.0xa9.254/", "169.254.169.254 in mixed octal, decimal and hex"),
    ("metadata-short-two-parts", "http://169.254.43518/", "169.254.169.254 as a two-part short address"),
    ("private-short-10-1", "http://10.1/x.png", "10.0.0.1 as a short address"),
    ("loopback-short-127-1", "http://127.1/x.png", "127.0.0.1 as a short address"),
    ("metadata-fullwidth-digits", "http://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/",
     "169.254.169.254 in full-width digits (IDNA maps them to ASCII)"),
    ("private-percent-encoded-host", "http://%31%30.0.0.1/x.png", "10.0.0.1 with percent-encoded digits"),
    ("private-trailing-dot", "http://10.0.0.1./x.png", "10.0.0.1 with a trailing dot"),
    ("ipv4-mapped-metadata", "http://[::ffff:169.254.169.254]/", "IPv4-mapped IPv6 of the metadata address"),
    ("ipv4-mapped-hex-metadata", "http://[::ffff:a9fe:a9fe]/", "IPv4-mapped IPv6 in hex"),
    ("ipv4-mapped-loopback", "http://[::ffff:127.0.0.1]/", "IPv4-mapped IPv6 of loopback"),
    ("ipv4-compatible-metadata", "http://[::169.254.169.254]/", "deprecated IPv4-compatible IPv6"),
    ("nat64-metadata", "http://[64:ff9b::a9fe:a9fe]/", "NAT64 prefix embedding the metadata address"),
    ("6to4-metadata", "http://[2002:a9fe:a9fe::1]/", "6to4 prefix embedding the metadata address"),
    ("ipv6-loopback", "http://[::1]/", "IPv6 loopback"),
    ("ipv6-unspecified", "http://[::]/", "IPv6 unspecified address [::]"),
    ("ipv6-link-local", "http://[fe80::1]/", "IPv6 link-local"),
    ("ipv6-ec2-metadata", "http://[fd00:ec2::254]/latest/meta-data/", "EC2 IPv6 metadata endpoint fd00:ec2::254"),
    ("ipv6-multicast", "http://[ff02::1]/", "IPv6 multicast"),
    ("localhost", "http://localhost/x.png", "localhost"),
    ("localhost-upper-trailing-dot", "http://LOCALHOST./x.png", "LOCALHOST. with a trailing dot"),
    ("localhost-subdomain", "http://images.localhost:8080/x.png", "a .localhost subdomain"),
    ("metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "EC2 instance metadata"),
    ("ecs-credentials", "http://169.254.170.2/v2/credentials/", "the ECS task credentials endpoint"),
    ("private-10", "http://10.0.0.1/x.png", "10/8"),
    ("private-10-top", "http://10.255.255.254/x.png", "the top of 10/8"),
    ("private-172-16", "http://172.16.0.1/x.png", "172.16/12"),
    ("private-172-31", "http://172.31.255.254/x.png", "the top of 172.16/12"),
    ("private-192-168", "http://192.168.1.1/x.png", "192.168/16"),
    ("cgnat-100-64", "http://100.64.0.1/x.png", "100.64/10"),
    ("cgnat-100-127", "http://100.127.255.254/x.png", "the top of 100.64/10"),
    ("zero-address", "http://0.0.0.0/x.png", "0.0.0.0"),
    ("zero-short", "http://0/x.png", "0 (0.0.0.0)"),
    ("loopback-other", "http://127.0.0.2:8080/x.png", "127.0.0.2"),
    ("loopback-127-0-0-1", "http://127.0.0.1:9000/x.png", "127.0.0.1 itself (the corpus app trusts no address)"),
    ("multicast", "http://224.0.0.1/x.png", "IPv4 multicast"),
    ("multicast-ssdp", "http://239.255.255.250:1900/", "IPv4 multicast (SSDP)"),
    ("broadcast", "http://255.255.255.255/x.png", "the limited broadcast address"),
    ("file-scheme", "file:///etc/passwd", "file://"),
    ("file-scheme-host", "file://localhost/proc/self/environ", "file:// with a host"),
    ("ftp-scheme", "ftp://93.184.215.14/x.png", "ftp://"),
    ("gopher-scheme", "gopher://127.0.0.1:6379/_INFO", "gopher:// (Redis smuggling)"),
    ("javascript-scheme", "javascript:alert(1)", "javascript:"),
    ("data-scheme", "data:image/png;base64," + PNG_B64, "a data: URL"),
    ("userinfo", "http://user:pass@93.184.215.14/x.png", "user info with a password"),
    ("userinfo-user-only", "http://admin@93.184.215.14/x.png", "user info without a password"),
    ("userinfo-trick", "http://93.184.215.14@10.0.0.1/x.png", "a public-looking user info before a private host"),
]
for slug, url, what in SSRF:
    case(f"direct-ssrf-{slug}", f"URL item refused before any connection: {what} ({url[:60]}).",
         {"url": url, "posted_at": POSTED}, {"error_type": "url_not_allowed"})


# ================================================================ Image facts: size, cut-off images, bombs
#
# One case per raster type and per code: a small valid image stored with 201, a cut-off one
# refused with invalid_image, and for PNG, GIF, WebP and JPEG a bomb (a header declaring more than
# MAX_PIXELS) refused with too_many_pixels. PNG, GIF, TIFF, BMP and ICO are written here; JPEG,
# WebP, AVIF, HEIF and JPEG XL are read from testkit/fixtures/images (see its README).

FIXTURES = os.path.join(HERE, "..", "..", "testkit", "fixtures", "images")


def fixture_bytes(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def gradient(w, h):
    return [[bytes([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x ^ y) * 7 & 255]) for x in range(w)]
            for y in range(h)]


def png_image(w, h):
    rows = b"".join(b"\0" + b"".join(row) for row in gradient(w, h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows, 9))
            + png_chunk(b"IEND", b""))


def tiff_image(w, h):
    """An uncompressed little-endian RGB TIFF, one strip."""
    pixels = b"".join(b"".join(row) for row in gradient(w, h))
    n = 10
    bps_at = 8 + 2 + 12 * n + 4
    pixels_at = bps_at + 6
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, bps_at), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, pixels_at), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    assert len(entries) == n
    out = b"II*\0" + struct.pack("<IH", 8, n)
    for tag, kind, count, value in entries:
        inline = struct.pack("<HH", value, 0) if kind == 3 and count == 1 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + inline
    return out + struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8) + pixels


def bmp_image(w, h):
    """A 24-bit bottom-up BMP whose bfSize is its length."""
    stride = (w * 3 + 3) & ~3
    rows = gradient(w, h)
    pixels = b"".join(b"".join(p[::-1] for p in rows[y]).ljust(stride, b"\0") for y in reversed(range(h)))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels


def ico_image(png, w, h):
    """An icon directory with one entry holding a PNG."""
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", w, h, 0, 0, 1, 32, len(png), 22) + png


def png_bomb():
    """60,000 x 60,000 declared, one tiny deflate block, IEND."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    idat = bytes([0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gif_bomb():
    """A 65,535 x 65,535 logical screen around one 1 x 1 frame."""
    return (b"GIF89a" + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0]) + bytes([0, 0, 0, 255, 255, 255])
            + bytes([0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]) + bytes([2, 2, 0x4C, 0x01, 0]) + b"\x3b")


def webp_bomb():
    """A VP8X canvas of 16,384 x 16,384 around a tiny lossless bitstream."""
    body = (b"WEBPVP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + struct.pack("<I", 16383)[:3]
            + struct.pack("<I", 16383)[:3] + b"VP8L" + struct.pack("<I", 6) + bytes([0x2F, 0, 0, 0, 0x10, 0]))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg_bomb(jpeg):
    """The baseline fixture with its SOF0 patched to 65,000 x 65,000."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[:sof + 5] + struct.pack(">HH", 65000, 65000) + jpeg[sof + 9:]


SMALL_PNG = png_image(16, 9)
JPEG = fixture_bytes("baseline.jpg")
# (type, mime, file name of the valid image, its bytes, the cut-off bytes, how they were cut)
IMAGE_TYPES = [
    ("png", "image/png", "valid.png", SMALL_PNG, SMALL_PNG[:-12], "without its IEND chunk"),
    ("jpeg", "image/jpeg", "valid.jpg", JPEG, JPEG[:-2], "without its EOI marker"),
    ("gif", "image/gif", "valid.gif", base64.b64decode(GIF_B64), base64.b64decode(GIF_B64)[:-1],
     "without its trailer"),
    ("webp", "image/webp", "valid.webp", fixture_bytes("lossy.webp"), fixture_bytes("lossy.webp")[:-3],
     "whose RIFF size runs past the bytes"),
    ("avif", "image/avif", "valid.avif", fixture_bytes("image.avif"), fixture_bytes("image.avif")[:-10],
     "whose last box runs past the bytes"),
    ("heif", "image/heif", "valid.heif", fixture_bytes("image.heic"), fixture_bytes("image.heic")[:100],
     "cut inside its meta box, before the image's size"),
    ("tiff", "image/tiff", "valid.tif", tiff_image(7, 5), tiff_image(7, 5)[:12], "cut inside its first IFD"),
    ("bmp", "image/bmp", "valid.bmp", bmp_image(7, 5), bmp_image(7, 5)[:-3], "shorter than its bfSize"),
    ("ico", "image/vnd.microsoft.icon", "valid.ico", ico_image(SMALL_PNG, 16, 9), ico_image(SMALL_PNG, 16, 9)[:-3],
     "shorter than the image its directory lists"),
    ("jxl", "image/jxl", "valid.jxl", fixture_bytes("image.jxl"), fixture_bytes("image.jxl")[:5],
     "cut inside its size header"),
]
BOMBS = [("png", png_bomb()), ("gif", gif_bomb()), ("webp", webp_bomb()), ("jpeg", jpeg_bomb(JPEG))]
for _, bomb in BOMBS:
    assert len(bomb) < 2048


def image_body(name, data):
    return dumps({"items": [{"data": b64(data), "file_name": name}]})


for kind, mime, name, data, cut, how in IMAGE_TYPES:
    case(f"apigw-v2-image-{kind}-valid", f"A small real {kind.upper()} image is stored with its size: 201.",
         v2(body=image_body(name, data)),
         {"status": 201, "stored": 1, "content_types": [mime], "keys": [f"{DAY}/{name}"]})
    case(f"apigw-v2-image-{kind}-truncated",
         f"A {kind.upper()} image {how}: a cut-off file never enters the archive (422 invalid_image).",
         v2(body=image_body(name.replace("valid", "cut"), cut)), refused(422, "invalid_image"))
for kind, bomb in BOMBS:
    case(f"apigw-v2-image-{kind}-bomb",
         f"A {len(bomb)}-byte {kind.upper()} whose header declares more than 100,000,000 pixels: 422 too_many_pixels.",
         v2(body=image_body(f"bomb.{'jpg' if kind == 'jpeg' else kind}", bomb)), refused(422, "too_many_pixels"))
case("apigw-v2-image-bomb-raw-body", "A PNG bomb as a raw base64 body: 422 too_many_pixels, nothing stored.",
     v2(path="/images/bomb.png", body=b64(png_bomb()), content_type="image/png", is_b64=True),
     refused(422, "too_many_pixels"))
case("apigw-v2-image-bomb-multipart-beside-a-good-part",
     "A GIF bomb part beside a good PNG part: 207, the bomb fails with too_many_pixels, the PNG is stored.",
     v2(body=b64(multipart([(b'form-data; name="a"; filename="bomb.gif"', b"image/gif", gif_bomb()),
                            (b'form-data; name="b"; filename="good.png"', b"image/png", SMALL_PNG)])),
        content_type=MP, is_b64=True),
     {"status": 207, "failed_codes": ["too_many_pixels"], "stored": 1, "keys": [f"{DAY}/good.png"]})
case("apigw-v2-image-max-pixels-lowered", "MAX_PIXELS=100 refuses a 16 x 9 PNG (144 pixels).",
     v2(body=image_body("small.png", SMALL_PNG)), refused(422, "too_many_pixels"), vars={"MAX_PIXELS": "100"})
case("apigw-v1-image-webp-bomb", "A WebP bomb through the REST API: 422 too_many_pixels.",
     v1(body=image_body("bomb.webp", webp_bomb())), refused(422, "too_many_pixels"))
case("sqs-image-facts", "A valid JPEG is stored; a PNG bomb and a GIF without its trailer fail their records.",
     sqs(sqs_record(ID(1400), image_body("sqs-valid.jpg", JPEG)),
         sqs_record(ID(1401), image_body("sqs-bomb.png", png_bomb())),
         sqs_record(ID(1402), image_body("sqs-cut.gif", base64.b64decode(GIF_B64)[:-1]))),
     {"sqs_failures": [ID(1401), ID(1402)], "keys": [f"{DAY}/sqs-valid.jpg"]})
case("sqs-image-bombs", "A JPEG bomb and a WebP bomb fail their records; a TIFF is stored.",
     sqs(sqs_record(ID(1410), image_body("sqs-bomb.jpg", jpeg_bomb(JPEG))),
         sqs_record(ID(1411), image_body("sqs-bomb.webp", webp_bomb())),
         sqs_record(ID(1412), image_body("sqs-valid.tif", tiff_image(7, 5)))),
     {"sqs_failures": [ID(1410), ID(1411)], "keys": [f"{DAY}/sqs-valid.tif"]})
case("direct-image-gif-bomb", "A GIF bomb in a direct invocation: the invocation fails with too_many_pixels.",
     {"data": b64(gif_bomb()), "file_name": "bomb.gif"}, {"error_type": "too_many_pixels"})
case("eventbridge-image-truncated-png", "A PNG without IEND in a custom event: invalid_image.",
     eventbridge({"data": b64(SMALL_PNG[:-12]), "file_name": "cut.png"}), {"error_type": "invalid_image"})


def main():
    written = 0
    for name, body in CASES.items():
        path = os.path.join(HERE, name + ".json")
        text = json.dumps(body, indent=1, ensure_ascii=False) + "\n"
        if len(text) > 64 * 1024:  # the generated giants stay on one line
            text = json.dumps(body, ensure_ascii=False) + "\n"
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written += 1
    print(f"wrote {written} cases to {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
