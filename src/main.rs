use image_ingest::{App, Config};
use lambda_runtime::{Error, service_fn};

fn main() -> Result<(), Error> {
    image_ingest::memory::return_large_buffers_to_the_system();
    runtime(concurrent_invocations())?.block_on(run())
}

/// How many invocations this execution environment is handed at once: Lambda Managed
/// Instances set `AWS_LAMBDA_MAX_CONCURRENCY`, classic Lambda does not (one at a time). Read
/// as lambda_runtime reads it, so the runtime chosen here matches the polling it does.
fn concurrent_invocations() -> u32 {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// The Tokio runtime for `concurrency` invocations at once.
///
/// One at a time (classic Lambda), a current-thread runtime: the event, the S3 request and the
/// answer are all polled on the thread that started them, with no worker threads to park and
/// wake and no tasks handed between threads. Measured here (see bench/RESULTS.md), that is
/// what a bare Lambda does fastest warm. An environment of up to 1769 MB has at most one vCPU
/// anyway, so other threads would have nothing to run on.
///
/// Several at once (`AWS_LAMBDA_MAX_CONCURRENCY` > 1, Lambda Managed Instances with
/// lambda_runtime's concurrent mode), a multi-thread runtime: lambda_runtime spawns one
/// polling loop per slot and the instance has several vCPUs, so invocations that hash or
/// decode must be able to run side by side instead of queueing behind one thread.
fn runtime(concurrency: u32) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if concurrency > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build()
}

async fn run() -> Result<(), Error> {
    image_ingest::logging::init();
    let config = Config::from_env()?;
    let sdk = image_ingest::sdk::load().await;
    let app = App::new(&config, &sdk);
    lambda_runtime::run_concurrent(service_fn(move |event| {
        let app = app.clone();
        async move { app.handle(event).await }
    }))
    .await
}
