//! S3 "object created" notifications, in the shapes users configure: S3 Event Notifications
//! (straight to the function, or as an SQS message body) and EventBridge's "Object Created".

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{IngestError, Result};

/// What a notification asks of the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// S3's `s3:TestEvent`, sent when a notification configuration is saved: nothing to do.
    Test,
    /// Objects created, to verify and promote when they are under `UPLOAD_PREFIX`.
    Created(Vec<CreatedObject>),
}

/// One created object, as a notification names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    /// The bucket the object is in.
    pub bucket: String,
    /// The object's key, decoded.
    pub key: String,
    /// Another spelling of the key to try when `key` is missing: EventBridge's documentation
    /// does not say whether its keys are URL-encoded, so its raw key is tried first and its
    /// decoded form after.
    pub also: Option<String>,
    /// When the object was created.
    pub time: Option<DateTime<Utc>>,
}

/// The S3 Event Notifications shape, or S3's test message; `None` for anything else.
/// Records that are not "object created" are left out.
pub fn from_s3(value: &Value) -> Option<Result<Notice>> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
        && value.get("Service").and_then(Value::as_str) == Some("Amazon S3")
    {
        return Some(Ok(Notice::Test));
    }
    let records = value.get("Records")?.as_array()?;
    let all_s3 =
        !records.is_empty() && records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:s3"));
    if !all_s3 {
        return None;
    }
    Some(
        records
            .iter()
            .filter(|r| is_created(r.get("eventName")))
            .map(s3_record)
            .collect::<Result<_>>()
            .map(Notice::Created),
    )
}

/// EventBridge's `aws.s3` events: `Object Created` gives one object, other types none.
pub fn from_eventbridge(
    source: &str,
    detail_type: &str,
    detail: &Value,
    time: Option<DateTime<Utc>>,
) -> Option<Result<Notice>> {
    if source != "aws.s3" {
        return None;
    }
    if detail_type != "Object Created" {
        return Some(Ok(Notice::Created(Vec::new())));
    }
    Some(eventbridge_detail(detail, time).map(|object| Notice::Created(vec![object])))
}

fn is_created(name: Option<&Value>) -> bool {
    name.and_then(Value::as_str).is_some_and(|n| n.starts_with("ObjectCreated:"))
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventTime")]
    time: Option<DateTime<Utc>>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Named,
    object: Keyed,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Keyed {
    key: String,
}

#[derive(Deserialize)]
struct Detail {
    bucket: Named,
    object: Keyed,
}

fn s3_record(record: &Value) -> Result<CreatedObject> {
    let record: S3Record = serde_json::from_value(record.clone())
        .map_err(|e| IngestError::InvalidRequest(format!("malformed S3 notification record: {e}")))?;
    let key = decode_form(&record.s3.object.key)?;
    Ok(CreatedObject { bucket: record.s3.bucket.name, key, also: None, time: record.time })
}

fn eventbridge_detail(detail: &Value, time: Option<DateTime<Utc>>) -> Result<CreatedObject> {
    let detail: Detail = serde_json::from_value(detail.clone())
        .map_err(|e| IngestError::InvalidRequest(format!("malformed S3 Object Created event: {e}")))?;
    let raw = detail.object.key;
    let also = decode_form(&raw).ok().filter(|decoded| *decoded != raw);
    Ok(CreatedObject { bucket: detail.bucket.name, key: raw, also, time })
}

/// Decodes a key as S3 notifications encode it (form encoding: `+` is a space, `%2B` a plus).
pub fn decode_form(encoded: &str) -> Result<String> {
    let spaced = encoded.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().map(|key| key.into_owned()).map_err(|_| {
        IngestError::InvalidRequest(format!("the notification's key {encoded:?} is not UTF-8 once decoded"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The notice, with errors as their codes (errors carry causes and do not compare).
    fn coded(notice: Option<Result<Notice>>) -> Option<Result<Notice, &'static str>> {
        notice.map(|n| n.map_err(|e| e.code()))
    }

    fn record(key: &str) -> Value {
        json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": "2026-11-25T10:15:00.000Z",
               "s3": {"bucket": {"name": "pics"}, "object": {"key": key, "size": 3}}})
    }

    #[test]
    fn keys_are_decoded_exactly() {
        for (encoded, key) in [
            ("incoming/red+flower.jpg", "incoming/red flower.jpg"),
            ("incoming/c%2B%2B.png", "incoming/c++.png"),
            ("incoming%2Fcaf%C3%A9.png", "incoming/café.png"),
            ("incoming/%E6%97%A5%E6%9C%AC.png", "incoming/日本.png"),
        ] {
            assert_eq!(decode_form(encoded).unwrap(), key, "{encoded}");
        }
        assert_eq!(decode_form("%FF").unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn s3_notifications_give_their_created_objects() {
        let mut removed = record("incoming/gone.png");
        removed["eventName"] = json!("ObjectRemoved:Delete");
        let event = json!({"Records": [record("incoming/a+b.png"), removed]});
        let Some(Ok(Notice::Created(objects))) = from_s3(&event) else { panic!("recognised") };
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].key, "incoming/a b.png");
        assert_eq!(objects[0].bucket, "pics");
        assert_eq!(objects[0].time, Some("2026-11-25T10:15:00Z".parse().unwrap()));
    }

    #[test]
    fn the_test_event_and_foreign_shapes() {
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-25T10:15:00Z",
                          "Bucket": "pics", "RequestId": "X", "HostId": "Y"});
        assert_eq!(coded(from_s3(&test)), Some(Ok(Notice::Test)));
        assert_eq!(coded(from_s3(&json!({"Records": [{"eventSource": "aws:sqs"}]}))), None);
        assert_eq!(coded(from_s3(&json!({"items": []}))), None);
        let broken = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]});
        assert_eq!(from_s3(&broken).unwrap().unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn eventbridge_keys_are_tried_raw_then_decoded() {
        let detail = json!({"bucket": {"name": "pics"}, "object": {"key": "incoming/a+b.png", "size": 3}});
        let Some(Ok(Notice::Created(objects))) = from_eventbridge("aws.s3", "Object Created", &detail, None) else {
            panic!("recognised")
        };
        assert_eq!(
            (objects[0].key.as_str(), objects[0].also.as_deref()),
            ("incoming/a+b.png", Some("incoming/a b.png"))
        );
        let deleted = from_eventbridge("aws.s3", "Object Deleted", &detail, None);
        assert_eq!(coded(deleted), Some(Ok(Notice::Created(vec![]))));
        assert_eq!(coded(from_eventbridge("com.example", "Object Created", &detail, None)), None);
    }
}
