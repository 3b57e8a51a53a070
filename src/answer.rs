//! What an answer may echo of its input, so that it fits its source's limit whatever it was sent.
//!
//! Step Functions keeps at most 256 KiB of a task's result and 32,768 characters of a failure's
//! cause; Lambda returns at most 6 MB from a synchronous invocation (API Gateway, Function URLs).
//! An answer always names every failure with its index and code. What is cut is the echo: a
//! backfill item, or the part of a message that quotes the input (a URL's path, a field). The
//! logs keep both whole.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::error::IngestError;
use crate::ingest::StoredObject;

/// Step Functions' limit on a task's result and a state's output: 256 KiB of UTF-8 JSON.
pub const STATE_OUTPUT_LIMIT: usize = 256 * 1024;

/// What a backfill batch's answer may take of [`STATE_OUTPUT_LIMIT`]. The `lambda:invoke`
/// integration wraps the answer as `Payload` beside the status code, the version and the HTTP
/// metadata (under 1 KiB) before the limit applies to the task's result.
pub const BACKFILL_ANSWER_LIMIT: usize = STATE_OUTPUT_LIMIT - 4 * 1024;

/// Step Functions' limit on a failure's cause, which holds a failed task's error document.
pub const CAUSE_LIMIT: usize = 32_768;

/// What an invocation error's message may take of [`CAUSE_LIMIT`], in bytes of JSON text, with
/// room left for the rest of the error document (`{"errorType":...,"errorMessage":...}`).
pub const INVOCATION_MESSAGE_LIMIT: usize = CAUSE_LIMIT - 1024;

/// Lambda's limit on a synchronous invocation's response, which API Gateway and Function URLs
/// pass on: 6 MB, read as the smaller decimal figure.
pub const RESPONSE_LIMIT: usize = 6_000_000;

/// Most bytes of an error message an answer shows. Only a message that quotes the input is
/// longer; the logs keep it whole.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The bytes of `url` a shortened backfill item keeps.
pub const SHORT_URL_BYTES: usize = 1024;

/// Where a message was cut.
const ELLIPSIS: &str = "…";

/// When even shortened items do not fit, file names, URLs and messages are cut to these sizes
/// in turn, the first that fits winning. Only a batch of long file names or messages gets here.
const LAST_RESORT_CUTS: [usize; 4] = [256, 64, 16, 0];

/// The longest start of `text` of at most `max` bytes that ends on a char boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// `message` whole when it has at most `max` bytes, else cut to `max` bytes ending in `…`.
pub fn cut_message(message: &str, max: usize) -> Cow<'_, str> {
    if message.len() <= max {
        return Cow::Borrowed(message);
    }
    match max.checked_sub(ELLIPSIS.len()) {
        Some(keep) => Cow::Owned(format!("{}{ELLIPSIS}", prefix(message, keep))),
        None => Cow::Borrowed(prefix(message, max)),
    }
}

/// An error as every answer shows it: `{"code","message"}`, the message cut to
/// [`MAX_MESSAGE_BYTES`].
pub fn error_body(err: &IngestError) -> Value {
    error_with_message(err, MAX_MESSAGE_BYTES)
}

fn error_with_message(err: &IngestError, max: usize) -> Value {
    json!({ "code": err.code(), "message": cut_message(&err.to_string(), max) })
}

/// An invocation error's message: `N items failed: item i: code: message; ...`, each message cut
/// to [`MAX_MESSAGE_BYTES`], naming failures in order while the message stays within `limit`
/// bytes of JSON text, then how many more there are (the logs name each).
pub fn failure_summary(failed: &[(usize, IngestError)], limit: usize) -> String {
    // Room kept after each failure for the count of those left out.
    const MORE: usize = "; and 100000 more (see the logs)".len();
    let count = if failed.len() == 1 { "1 item".to_owned() } else { format!("{} items", failed.len()) };
    let mut summary = format!("{count} failed: ");
    let mut used = json_text_len(&summary);
    for (shown, (index, err)) in failed.iter().enumerate() {
        let separator = if shown == 0 { "" } else { "; " };
        let message = err.to_string();
        let detail = format!("{separator}item {index}: {}: {}", err.code(), cut_message(&message, MAX_MESSAGE_BYTES));
        let room = if shown + 1 == failed.len() { 0 } else { MORE };
        let len = json_text_len(&detail);
        if used + len + room > limit {
            summary.push_str(&format!("{separator}and {} more (see the logs)", failed.len() - shown));
            break;
        }
        summary.push_str(&detail);
        used += len;
    }
    summary
}

/// A backfill item refused for good: where it was in the batch, what the manifest gave, and why.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    /// The item's index in the batch.
    pub index: usize,
    /// The item as the manifest gave it.
    pub item: &'a Value,
    /// Why it was refused.
    pub error: &'a IngestError,
}

/// The answer to a backfill batch: `{"stored":[...],"failed":[{"index","item","error"}]}` in at
/// most `limit` bytes of JSON.
///
/// Items are echoed whole, in index order, while the whole answer stays within `limit`; from the
/// first that does not fit on, each is shortened to its `file_name` and the first
/// [`SHORT_URL_BYTES`] of its `url`, and the answer carries `"items_shortened": true`. When even
/// that does not fit, file names, URLs and messages are cut further ([`LAST_RESORT_CUTS`]). Every
/// entry keeps `index` and `error.code`. Stored objects are never cut: a batch of at most
/// [`crate::request::MAX_ITEMS`] items leaves them room, since each takes at most about 2 KiB.
pub fn backfill_answer(stored: &[StoredObject], refused: &[Refused<'_>], limit: usize) -> Value {
    let whole: Vec<Value> = refused.iter().map(|r| entry(r, r.item.clone(), error_body(r.error))).collect();
    let whole_sizes: Vec<usize> = whole.iter().map(json_len).collect();
    // An array's size is its brackets, its entries and the commas between them.
    let commas = refused.len().saturating_sub(1);
    if json_len(&assemble(stored, Vec::new(), false)) + commas + whole_sizes.iter().sum::<usize>() <= limit {
        return assemble(stored, whole, false);
    }
    let short: Vec<Value> =
        refused.iter().map(|r| entry(r, shorten(r.item, usize::MAX, SHORT_URL_BYTES), error_body(r.error))).collect();
    let mut total = json_len(&assemble(stored, Vec::new(), true)) + commas + short.iter().map(json_len).sum::<usize>();
    if total <= limit {
        let mut fitting = true;
        let failed = whole
            .into_iter()
            .zip(whole_sizes)
            .zip(short)
            .map(|((whole, whole_size), short)| {
                let grown = total - json_len(&short) + whole_size;
                fitting = fitting && grown <= limit;
                if fitting {
                    total = grown;
                    whole
                } else {
                    short
                }
            })
            .collect();
        return assemble(stored, failed, true);
    }
    let mut last = Value::Null;
    for cut in LAST_RESORT_CUTS {
        let failed = refused.iter().map(|r| entry(r, shorten(r.item, cut, cut), error_with_message(r.error, cut)));
        last = assemble(stored, failed.collect(), true);
        if json_len(&last) <= limit {
            break;
        }
    }
    last
}

fn entry(refused: &Refused<'_>, item: Value, error: Value) -> Value {
    json!({ "index": refused.index, "item": item, "error": error })
}

fn assemble(stored: &[StoredObject], failed: Vec<Value>, shortened: bool) -> Value {
    let mut answer = json!({ "stored": stored, "failed": failed });
    if shortened {
        answer["items_shortened"] = Value::Bool(true);
    }
    answer
}

/// `item` shortened to its `file_name` (at most `name_bytes`) and its `url` (at most `url_bytes`).
fn shorten(item: &Value, name_bytes: usize, url_bytes: usize) -> Value {
    let mut short = Map::new();
    for (field, max) in [("file_name", name_bytes), ("url", url_bytes)] {
        if let Some(text) = item.get(field).and_then(Value::as_str) {
            short.insert(field.to_owned(), Value::String(prefix(text, max).to_owned()));
        }
    }
    Value::Object(short)
}

/// Bytes of `value` as compact JSON.
pub fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// Bytes of `text` inside a JSON string, escapes included.
fn json_text_len(text: &str) -> usize {
    json_len(&Value::String(text.to_owned())) - 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Status;

    fn stored(n: usize) -> Vec<StoredObject> {
        (0..n)
            .map(|i| StoredObject {
                key: format!("images/2026/11/24/203015/{i}.png"),
                bucket: "pics".into(),
                size: 1234,
                content_type: "image/png".into(),
                sha256: "0".repeat(64),
                status: Status::Created,
                width: Some(640),
                height: Some(480),
                renditions: None,
                renditions_skipped: None,
            })
            .collect()
    }

    fn refused<'a>(items: &'a [Value], error: &'a IngestError) -> Vec<Refused<'a>> {
        items.iter().enumerate().map(|(index, item)| Refused { index, item, error }).collect()
    }

    fn not_found() -> IngestError {
        IngestError::fetch_refused("http://127.0.0.1/missing.png: upstream answered 404 Not Found")
    }

    /// A crawl's item: a long query string, a name, a time and metadata.
    fn crawled(i: usize, url_len: usize) -> Value {
        let base = format!("https://cdn.example.com/{i}.jpg?token=");
        json!({"url": format!("{base}{}", "t".repeat(url_len - base.len())), "file_name": format!("{i}.jpg"),
               "posted_at": "2026-11-24T20:30:15Z", "metadata": {"source": "crawl-42"}})
    }

    fn indices_and_codes(answer: &Value) -> Vec<(u64, String)> {
        let failed = answer["failed"].as_array().unwrap();
        failed.iter().map(|f| (f["index"].as_u64().unwrap(), f["error"]["code"].as_str().unwrap().to_owned())).collect()
    }

    #[test]
    fn prefixes_end_on_a_char_boundary() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("abc", 10), "abc");
        assert_eq!(cut_message("abcdef", 6), "abcdef");
        assert_eq!(cut_message("abcdefg", 6), "abc…");
        assert_eq!(cut_message("abcdefg", 2), "ab");
        assert_eq!(cut_message(&"é".repeat(600), MAX_MESSAGE_BYTES), format!("{}…", "é".repeat(510)));
    }

    #[test]
    fn an_answer_that_fits_echoes_every_item_whole() {
        let items: Vec<Value> = (0..20).map(|i| crawled(i, 2000)).collect();
        let error = not_found();
        let answer = backfill_answer(&stored(3), &refused(&items, &error), BACKFILL_ANSWER_LIMIT);
        assert!(answer.get("items_shortened").is_none());
        let echoed: Vec<&Value> = answer["failed"].as_array().unwrap().iter().map(|f| &f["item"]).collect();
        assert_eq!(echoed, items.iter().collect::<Vec<_>>());
        assert_eq!(answer["stored"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn past_the_limit_items_are_shortened_from_the_first_that_does_not_fit() {
        let items: Vec<Value> = (0..40).map(|i| crawled(i, 6500)).collect();
        let error = not_found();
        let answer = backfill_answer(&stored(2), &refused(&items, &error), BACKFILL_ANSWER_LIMIT);
        assert!(json_len(&answer) <= BACKFILL_ANSWER_LIMIT, "{}", json_len(&answer));
        assert_eq!(answer["items_shortened"], true);
        let expected: Vec<(u64, String)> = (0..40).map(|i| (i, "fetch_failed".to_owned())).collect();
        assert_eq!(indices_and_codes(&answer), expected);
        let failed = answer["failed"].as_array().unwrap();
        let whole = failed.iter().take_while(|f| f["item"] == items[f["index"].as_u64().unwrap() as usize]).count();
        assert!(whole > 30 && whole < 40, "a prefix of {whole} items fits whole");
        for f in &failed[whole..] {
            let item = &items[f["index"].as_u64().unwrap() as usize];
            let url = item["url"].as_str().unwrap();
            assert_eq!(f["item"], json!({"file_name": item["file_name"], "url": &url[..SHORT_URL_BYTES]}));
        }
        assert_eq!(failed[0]["error"]["message"], error.to_string());
    }

    #[test]
    fn a_refused_inline_image_is_not_echoed_past_the_limit() {
        let items = vec![json!({"data": "QUJD".repeat(62_000), "file_name": "big.png"}), json!({"data": "aGk="})];
        let error = IngestError::UnsupportedMediaType("the bytes are text/plain".into());
        let answer = backfill_answer(&[], &refused(&items, &error), 200_000);
        assert_eq!(answer["failed"][0]["item"], json!({"file_name": "big.png"}));
        assert_eq!(answer["failed"][1]["item"], json!({}), "after the first shortened item, all are");
        assert_eq!(answer["items_shortened"], true);
    }

    #[test]
    fn messages_that_quote_the_input_are_cut() {
        let error = IngestError::InvalidRequest(format!("posted_at {:?} is not an RFC 3339 time", "9".repeat(5000)));
        let body = error_body(&error);
        let message = body["message"].as_str().unwrap();
        assert_eq!(message.len(), MAX_MESSAGE_BYTES);
        assert!(message.starts_with("posted_at \"999") && message.ends_with('…'), "{message}");
        assert_eq!(body["code"], "invalid_request");
    }

    #[test]
    fn long_names_and_messages_are_cut_further_when_shortened_items_do_not_fit() {
        // Names and messages of 2 KiB of control characters: 12 KiB of JSON each, escaped.
        let items: Vec<Value> =
            (0..100).map(|i| json!({"file_name": "\u{1}".repeat(2048), "url": format!("ftp://{i}")})).collect();
        let error = IngestError::InvalidRequest(format!("unknown field `{}`", "\u{1}".repeat(4096)));
        let answer = backfill_answer(&stored(0), &refused(&items, &error), BACKFILL_ANSWER_LIMIT);
        assert!(json_len(&answer) <= BACKFILL_ANSWER_LIMIT, "{}", json_len(&answer));
        let expected: Vec<(u64, String)> = (0..100).map(|i| (i, "invalid_request".to_owned())).collect();
        assert_eq!(indices_and_codes(&answer), expected);
        assert_eq!(answer["items_shortened"], true);
    }

    #[test]
    fn a_full_batch_of_the_worst_items_still_fits() {
        // MAX_ITEMS items, half stored under 1 KiB keys (S3's longest), half refused with
        // everything at its longest: the bound holds without cutting a stored entry.
        let mut objects = stored(50);
        for o in &mut objects {
            o.key = "k".repeat(1024);
            o.content_type = "image/vnd.microsoft.icon".into();
            o.size = 5 << 30;
        }
        let items: Vec<Value> =
            (0..50).map(|_| json!({"file_name": "\"".repeat(4096), "url": "é".repeat(4096)})).collect();
        let error = IngestError::InvalidRequest("\"".repeat(4096));
        let answer = backfill_answer(&objects, &refused(&items, &error), BACKFILL_ANSWER_LIMIT);
        assert!(json_len(&answer) <= BACKFILL_ANSWER_LIMIT, "{}", json_len(&answer));
        assert_eq!(answer["stored"].as_array().unwrap().len(), 50);
        assert_eq!(answer["failed"].as_array().unwrap().len(), 50);
    }

    #[test]
    fn invocation_errors_name_what_fits_and_count_the_rest() {
        let failed: Vec<(usize, IngestError)> = (0..100)
            .map(|i| (i, IngestError::UrlNotAllowed(format!("http://x/{}: refused", "p".repeat(8000)))))
            .collect();
        let summary = failure_summary(&failed, INVOCATION_MESSAGE_LIMIT);
        assert!(json_text_len(&summary) <= INVOCATION_MESSAGE_LIMIT, "{}", summary.len());
        assert!(summary.starts_with("100 items failed: item 0: url_not_allowed: http://x/ppp"), "{summary}");
        let named = summary.matches("url_not_allowed").count();
        assert!(summary.ends_with(&format!("; and {} more (see the logs)", 100 - named)), "{summary}");
        assert!(named > 20, "{named}");

        let few = [(3, IngestError::EmptyObject)];
        assert_eq!(
            failure_summary(&few, INVOCATION_MESSAGE_LIMIT),
            "1 item failed: item 3: empty_object: the object is empty"
        );
    }
}
