use aws_config::BehaviorVersion;
use image_ingest::{App, Config};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let app = App::new(&config, &sdk);
    lambda_runtime::run_concurrent(service_fn(move |event| {
        let app = app.clone();
        async move { app.handle(event).await }
    }))
    .await
}
