//! The physical floor for the benchmarks: decode the body, PutObject it, answer. No checks, no
//! sniffing, no conditional write, no key scheme beyond the path's last segment.
//!
//! It runs on a current-thread Tokio runtime: for one invocation at a time that is the fastest
//! bare Lambda (no worker threads to wake, no task handed between threads), so the function is
//! measured against the best a bare Lambda does, not a convenient one.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// The SDK's default chain over its own default HTTPS client, rustls on aws-lc: floor-default.
#[cfg(feature = "sdk-default-client")]
fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
}

/// The SDK's default chain over the function's HTTPS client, rustls on ring (image-ingest's
/// src/sdk.rs): the floor.
#[cfg(not(feature = "sdk-default-client"))]
fn sdk_defaults() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let client = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let bucket = std::env::var("BUCKET_NAME")?;
    let config = sdk_defaults().load().await;
    let force_path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config).force_path_style(force_path_style).build(),
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let (client, bucket) = (&client, &bucket);
        async move {
            let request = event.payload;
            let body = request.body.unwrap_or_default();
            let bytes = if request.is_base64_encoded {
                base64::engine::general_purpose::STANDARD.decode(body)?
            } else {
                body.into_bytes()
            };
            let key = request.raw_path.unwrap_or_default().rsplit('/').next().unwrap_or("object").to_owned();
            client.put_object().bucket(bucket).key(&key).body(ByteStream::from(bytes)).send().await?;
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = 201;
            response.body = Some(Body::Text(serde_json::json!({ "key": key }).to_string()));
            Ok::<_, Error>(response)
        }
    }))
    .await
}
