//! The built binary, run for real against a Lambda Runtime API served by the test.

mod common;

use std::process::{Command, Stdio};

use common::runtime_api::{Answer, RuntimeApi};
use common::*;

fn function(runtime_api: &str, endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-ingest"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "image-ingest")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_S3", endpoint)
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("KEY_PREFIX", "images/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test]
async fn built_binary_stores_an_object_through_the_runtime_api() {
    let server = S3Server::start().await;
    let mut api = RuntimeApi::start().await;
    let mut child = function(&api.address, &server.endpoint).env("BUCKET_NAME", BUCKET).spawn().unwrap();
    api.push("req-1", fixture("apigw-v2-raw-png.json"));
    let answer = api.answer().await;
    api.push("req-2", fixture("direct-unrecognised.json"));
    let error = api.answer().await;
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();

    let Answer::Response(response) = answer else { panic!("expected a response, got {answer:?}") };
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(server.keys(), ["images/2026/11/24/203015/tabby.png"]);
    let Answer::Error(error) = error else { panic!("expected an error, got {error:?}") };
    assert_eq!(error["errorType"], "invalid_request", "{error}");

    // Logs are JSON lines, one per object, without the object's bytes.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stored: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "object stored")
        .collect();
    assert_eq!(stored.len(), 1, "{stdout}");
    assert_eq!(stored[0]["fields"]["key"], "images/2026/11/24/203015/tabby.png");
    assert!(!stdout.contains("iVBOR"), "object bytes leaked into the logs");
}

#[tokio::test]
async fn missing_bucket_name_stops_start_up_naming_it() {
    let api = RuntimeApi::start().await;
    let output = function(&api.address, "http://127.0.0.1:9").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BUCKET_NAME"), "{stderr}");
}
