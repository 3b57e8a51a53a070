//! Where events enter: each handler translates its event into a batch and the result back.

pub mod apigw;
pub mod direct;

use lambda_runtime::Diagnostic;
use serde_json::Value;

use crate::error::IngestError;
use crate::event::{Event, recognise};
use crate::ingest::Ingestor;

/// Recognises the event and hands it to its handler.
pub async fn dispatch(ingestor: &Ingestor, payload: Value) -> Result<Value, Diagnostic> {
    let event = recognise(payload).map_err(|e| invocation_error(&[(0, e)]))?;
    let response = match event {
        Event::ApiV1(request) => serde_json::to_value(apigw::handle_v1(ingestor, *request).await),
        Event::ApiV2(request) => serde_json::to_value(apigw::handle_v2(ingestor, *request).await),
        Event::Direct(request) => {
            return direct::handle(ingestor, request).await.map_err(|failed| invocation_error(&failed));
        }
    };
    response.map_err(|e| Diagnostic { error_type: "internal".into(), error_message: e.to_string() })
}

/// An invocation error whose type is the first code and whose message names every failure,
/// so async retries and failure destinations carry the reason.
pub fn invocation_error(failed: &[(usize, IngestError)]) -> Diagnostic {
    let details: Vec<String> =
        failed.iter().map(|(index, err)| format!("item {index}: {}: {err}", err.code())).collect();
    Diagnostic {
        error_type: failed.first().map_or("internal", |(_, e)| e.code()).to_owned(),
        error_message: format!("{} failed: {}", plural(failed.len()), details.join("; ")),
    }
}

fn plural(n: usize) -> String {
    if n == 1 { "1 item".into() } else { format!("{n} items") }
}
