//! The function as a whole: clients built once, events handed to the handlers.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use url::Url;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::fetch::{Fetcher, HttpFetcher};
use crate::gallery::{Access, Gallery};
use crate::handlers;
use crate::ingest::{Ingestor, Rules};
use crate::store::S3Store;

/// Everything an invocation needs, shared by all invocations of an execution environment.
#[derive(Clone)]
pub struct App {
    pub(crate) ingestor: Ingestor,
    pub(crate) catalog: Catalog,
    pub(crate) gallery: Gallery,
    pub(crate) schedule: Arc<[Url]>,
}

impl App {
    /// Builds the S3 client, the URL fetcher and the ingest core from the shared SDK config.
    pub fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self::with_fetcher(config, sdk, Arc::new(HttpFetcher::new(config)))
    }

    /// Like [`App::new`] with a given fetcher (tests use a resolver they control).
    pub fn with_fetcher(config: &Config, sdk: &aws_config::SdkConfig, fetcher: Arc<dyn Fetcher>) -> Self {
        let store = Arc::new(S3Store::new(sdk, config));
        Self {
            catalog: Catalog::new(store.clone(), config),
            gallery: Gallery::new(store.clone(), config, Access::new(config.gallery_kms_key_id.clone(), sdk)),
            ingestor: Ingestor::new(store, fetcher, Rules::from(config)),
            schedule: config.schedule_urls.clone().into(),
        }
    }

    /// Handles one invocation, whatever its source.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        handlers::dispatch(self, event).await
    }
}
