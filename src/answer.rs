//! What an answer may echo of its input, so that it fits its source's limit whatever it was sent.
//!
//! Step Functions keeps at most 32,768 characters of a failure's cause; Lambda returns at most
//! 6 MB from a synchronous invocation (API Gateway, Function URLs). An answer always names every
//! failure with its index and code. What is cut is the echo: the part of a message that quotes
//! the input (a URL's path, a field). The logs keep it whole.

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::error::IngestError;

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

/// Where a message was cut.
const ELLIPSIS: &str = "…";

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
    fn messages_that_quote_the_input_are_cut() {
        let error = IngestError::InvalidRequest(format!("posted_at {:?} is not an RFC 3339 time", "9".repeat(5000)));
        let body = error_body(&error);
        let message = body["message"].as_str().unwrap();
        assert_eq!(message.len(), MAX_MESSAGE_BYTES);
        assert!(message.starts_with("posted_at \"999") && message.ends_with('…'), "{message}");
        assert_eq!(body["code"], "invalid_request");
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
