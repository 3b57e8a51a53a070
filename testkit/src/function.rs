//! A function process started as Lambda starts one: a clean environment with the variables
//! Lambda sets, pointed at a [`RuntimeApi`], and what its SDK needs to reach a local S3.

use std::ffi::OsStr;
use std::process::Command;

use crate::runtime_api::RuntimeApi;

/// A command that runs `program` against `api` with only the environment Lambda gives a
/// function of 256 MB (and `PATH`, for interpreters). Callers add the function's settings, or
/// override these.
pub fn command(program: impl AsRef<OsStr>, api: &RuntimeApi) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "image-ingest")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    command
}

/// The environment with which a function's SDK uses the S3 server at `endpoint` (path-style
/// addressing, static credentials, no instance metadata lookups).
pub fn s3_env(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_S3", endpoint.to_owned()),
        ("S3_FORCE_PATH_STYLE", "true".to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_ACCESS_KEY_ID", access_key.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", secret_key.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}
