//! Recognising the incoming event by its discriminating fields, never by loose matching.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{IngestError, Result};
use crate::notification::{self, Notice};

/// An event whose source is known.
#[derive(Debug)]
pub enum Event {
    /// API Gateway REST API, or an HTTP API with payload format 1.0.
    ApiV1(Box<ApiGatewayProxyRequest>),
    /// HTTP API payload format 2.0, or a Lambda Function URL.
    ApiV2(Box<ApiGatewayV2httpRequest>),
    /// A batch of SQS records.
    Sqs(Box<SqsEvent>),
    /// An EventBridge event: a custom event or a scheduled rule.
    EventBridge(Box<EventBridgeEvent<Value>>),
    /// A direct invocation carrying an ingest request.
    Direct(Value),
    /// A Step Functions Distributed Map batch (`Items` and `BatchInput`).
    Backfill(Value),
    /// An S3 notification (S3 Event Notifications, S3's test message, or EventBridge's
    /// `aws.s3` events), or why it could not be read.
    Upload(Result<Notice>),
}

/// Decides which source sent `payload`. Shapes that match no source are refused.
pub fn recognise(payload: Value) -> Result<Event> {
    let Value::Object(object) = &payload else {
        return Err(unrecognised("the event is not a JSON object"));
    };
    if is_api_v2(object) {
        return typed(payload, "API Gateway v2").map(|e| Event::ApiV2(Box::new(e)));
    }
    if is_api_v1(object) {
        return typed(payload, "API Gateway v1").map(|e| Event::ApiV1(Box::new(e)));
    }
    if let Some(notice) = notification::from_s3(&payload) {
        return Ok(Event::Upload(notice));
    }
    if is_sqs(object) {
        return typed(payload, "SQS").map(|e| Event::Sqs(Box::new(e)));
    }
    if is_eventbridge(object) {
        let event: EventBridgeEvent<Value> = typed(payload, "EventBridge")?;
        let s3 = notification::from_eventbridge(&event.source, &event.detail_type, &event.detail, event.time);
        return Ok(s3.map_or_else(|| Event::EventBridge(Box::new(event)), Event::Upload));
    }
    if is_map_batch(object) {
        return Ok(Event::Backfill(payload));
    }
    if ["Records", "detail-type", "requestContext", "httpMethod", "routeKey"].iter().any(|k| object.contains_key(*k)) {
        return Err(unrecognised("this event source is not handled"));
    }
    if ["items", "url", "data"].iter().any(|k| object.contains_key(*k)) {
        return Ok(Event::Direct(payload));
    }
    Err(unrecognised("no discriminating field found"))
}

fn is_api_v2(object: &Map<String, Value>) -> bool {
    object.get("version").and_then(Value::as_str) == Some("2.0")
        && object.get("requestContext").and_then(|c| c.get("http")).is_some_and(Value::is_object)
}

fn is_api_v1(object: &Map<String, Value>) -> bool {
    object.get("httpMethod").is_some_and(Value::is_string)
        && object.get("requestContext").is_some_and(Value::is_object)
        && (object.contains_key("path") || object.contains_key("resource"))
}

/// Every record says `eventSource: aws:sqs`.
fn is_sqs(object: &Map<String, Value>) -> bool {
    object.get("Records").and_then(Value::as_array).is_some_and(|records| {
        !records.is_empty() && records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
    })
}

/// An `Items` array, with nothing next to it but `BatchInput`: what an ItemBatcher sends.
fn is_map_batch(object: &Map<String, Value>) -> bool {
    object.get("Items").is_some_and(Value::is_array) && object.keys().all(|k| k == "Items" || k == "BatchInput")
}

/// `detail-type` and `source` strings, and a `detail`.
fn is_eventbridge(object: &Map<String, Value>) -> bool {
    object.get("detail-type").is_some_and(Value::is_string)
        && object.get("source").is_some_and(Value::is_string)
        && object.contains_key("detail")
}

fn typed<T: DeserializeOwned>(payload: Value, what: &str) -> Result<T> {
    serde_json::from_value(payload).map_err(|e| IngestError::InvalidRequest(format!("malformed {what} event: {e}")))
}

fn unrecognised(why: &str) -> IngestError {
    IngestError::InvalidRequest(format!(
        "unrecognised event ({why}): expected an API Gateway request, an SQS batch, an \
         EventBridge event, an S3 notification, a Distributed Map batch (\"Items\"), or an ingest \
         request with \"items\", \"url\" or \"data\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(v: Value) -> &'static str {
        match recognise(v) {
            Ok(Event::ApiV1(_)) => "v1",
            Ok(Event::ApiV2(_)) => "v2",
            Ok(Event::Sqs(_)) => "sqs",
            Ok(Event::EventBridge(_)) => "eventbridge",
            Ok(Event::Direct(_)) => "direct",
            Ok(Event::Upload(_)) => "upload",
            Ok(Event::Backfill(_)) => "backfill",
            Err(_) => "error",
        }
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn every_fixture_is_recognised_as_its_source() {
        let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let expected = match name.split('-').next().unwrap() {
                "apigw" if name.starts_with("apigw-v1") => "v1",
                "apigw" => "v2",
                "direct" => "direct",
                "sqs" => "sqs",
                "eventbridge" if name.contains("-s3-") => "upload",
                "eventbridge" => "eventbridge",
                "s3" => "upload",
                "stepfunctions" => "backfill",
                _ => continue,
            };
            let expected = if name.contains("unrecognised") { "error" } else { expected };
            assert_eq!(kind(fixture(&name)), expected, "{name}");
            seen += 1;
        }
        assert!(seen >= 4);
    }

    #[test]
    fn discriminators_decide_not_field_overlap() {
        assert_eq!(kind(json!({"items": []})), "direct");
        assert_eq!(kind(json!({"url": "https://x/y.png"})), "direct");
        // A v2 marker without requestContext.http is not an API request.
        assert_eq!(kind(json!({"version": "2.0", "requestContext": {}, "url": "x"})), "error");
        assert_eq!(kind(json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})), "sqs");
        // One foreign record (an S3 notification, say) makes the batch unrecognised.
        let mixed = json!({"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:s3"}]});
        assert_eq!(kind(json!({"Records": [{"eventSource": "aws:s3"}]})), "upload");
        assert_eq!(kind(json!({"Service": "Amazon S3", "Event": "s3:TestEvent"})), "upload");
        let s3 = json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}});
        assert_eq!(kind(s3), "upload");
        assert_eq!(kind(mixed), "error");
        assert_eq!(kind(json!({"Records": []})), "error");
        assert_eq!(kind(json!({"detail-type": "x", "source": "y", "detail": {"url": "z"}})), "eventbridge");
        assert_eq!(kind(json!({"detail-type": "x", "detail": {"url": "z"}})), "error");
        assert_eq!(kind(json!({"Items": [], "BatchInput": {"run_started_at": "x"}})), "backfill");
        assert_eq!(kind(json!({"Items": [{"url": "https://x/y.png"}]})), "backfill");
        assert_eq!(kind(json!({"Items": {}, "BatchInput": {}})), "error");
        assert_eq!(kind(json!({"Items": [], "items": []})), "direct");
        assert_eq!(kind(json!({"hello": "world"})), "error");
        assert_eq!(kind(json!("just a string")), "error");
        assert_eq!(kind(json!([1, 2])), "error");
    }

    #[test]
    fn malformed_api_events_are_refused_with_the_reason() {
        let err = recognise(json!({"version": "2.0", "requestContext": {"http": {"method": 7}}})).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert!(err.to_string().contains("malformed API Gateway v2 event"), "{err}");
    }
}
