use aws_config::BehaviorVersion;
use image_ingest::{App, Config};
use lambda_runtime::{Error, service_fn};

fn main() -> Result<(), Error> {
    image_ingest::memory::return_large_buffers_to_the_system();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Error> {
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
