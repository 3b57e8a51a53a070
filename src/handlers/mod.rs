//! Where events enter: each handler translates its event into the domain's input and the
//! result back into its source's response.

pub mod apigw;
pub mod backfill;
pub mod direct;
pub mod eventbridge;
pub mod sqs;
pub mod uploads;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

use crate::answer::{INVOCATION_MESSAGE_LIMIT, failure_summary};
use crate::app::App;
use crate::deadline::Deadline;
use crate::error::{IngestError, Result};
use crate::event::{Event, recognise};
use crate::ingest::{Batch, Ingestor, split_results};

/// Recognises the event and hands it to its handler.
pub async fn dispatch(app: &App, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (payload, context) = event.into_parts();
    let deadline = Deadline::from_epoch_ms(context.deadline);
    let event = recognise(payload).map_err(|e| invocation_error(&[(0, e)]))?;
    let ingestor = &app.ingestor;
    let response = match event {
        Event::ApiV1(request) => serde_json::to_value(apigw::handle_v1(app, *request, deadline).await),
        Event::ApiV2(request) => serde_json::to_value(apigw::handle_v2(app, *request, deadline).await),
        Event::Sqs(batch) => {
            let response = sqs::handle(ingestor, *batch, deadline).await;
            serde_json::to_value(response.map_err(|e| invocation_error(&[(0, e)]))?)
        }
        Event::EventBridge(event) => return eventbridge::handle(ingestor, &app.schedule, *event, deadline).await,
        Event::Direct(request) => return direct::handle(ingestor, request, deadline).await,
        Event::Backfill(batch) => return backfill::handle(ingestor, batch, deadline).await,
        Event::Upload(notice) => return uploads::handle(ingestor, notice, deadline).await,
    };
    response.map_err(|e| Diagnostic { error_type: "internal".into(), error_message: e.to_string() })
}

/// Stores a batch for an invocation-style source: `{"stored":[...]}`, or an error naming
/// every failed item, so async retries and failure destinations apply.
async fn store_all(ingestor: &Ingestor, batch: Result<Batch>) -> Result<Value, Diagnostic> {
    let results = match batch {
        Ok(batch) => ingestor.ingest(batch).await,
        Err(err) => Err(err),
    };
    let results = results.map_err(|e| invocation_error(&[(0, e)]))?;
    let (stored, failed) = split_results(results);
    if failed.is_empty() { Ok(json!({ "stored": stored })) } else { Err(invocation_error(&failed)) }
}

/// An invocation error whose type is the first code and whose message names the failures, as
/// many as Step Functions keeps of a cause (direct invocations and backfill batches may come
/// from a state machine).
pub fn invocation_error(failed: &[(usize, IngestError)]) -> Diagnostic {
    Diagnostic {
        error_type: failed.first().map_or("internal", |(_, e)| e.code()).to_owned(),
        error_message: failure_summary(failed, INVOCATION_MESSAGE_LIMIT),
    }
}
