//! KMS over its JSON protocol, for the gallery's one call (`GenerateMac`, once per execution
//! environment): requests signed by aws-sigv4, the SDK's own signer, with the SDK configuration's
//! region, endpoint and credentials, over a rustls client. The KMS SDK client cost about 30 CPU
//! seconds of every test build for that one call (docs/development.md, "Where `make test`'s time
//! goes").

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::service_config::ServiceConfigKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// Attempts per call: KMS's throttling and server errors are retried twice, as the SDK would.
const ATTEMPTS: u32 = 3;
/// One attempt's limit, connecting included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// KMS answers in a few hundred bytes; anything far larger is not KMS.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a KMS call failed: kept as the cause of the gallery's 503, for the logs.
#[derive(Debug, thiserror::Error)]
#[error("KMS {0}")]
pub struct KmsError(String);

/// A KMS client with the SDK configuration's region, endpoint and credentials.
pub struct Kms {
    sdk: SdkConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(alias = "Message", default)]
    message: String,
}

impl Kms {
    /// A client over `sdk`; it connects on the first call.
    pub fn new(sdk: &SdkConfig) -> Result<Self, KmsError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let https = crate::sdk::tls_over(http).map_err(|e| KmsError(format!("cannot set up TLS: {e}")))?;
        Ok(Self { sdk: sdk.clone(), client: Client::builder(TokioExecutor::new()).build(https) })
    }

    /// The HMAC-SHA256 of `message` under the HMAC key `key_id`.
    pub async fn generate_mac(&self, key_id: &str, message: &[u8]) -> Result<Vec<u8>, KmsError> {
        let request =
            serde_json::json!({"KeyId": key_id, "Message": STANDARD.encode(message), "MacAlgorithm": "HMAC_SHA_256"});
        let answer = self.call("GenerateMac", &request).await?;
        let mac = answer["Mac"].as_str().ok_or_else(|| KmsError("GenerateMac answered without a Mac".into()))?;
        STANDARD.decode(mac).map_err(|e| KmsError(format!("GenerateMac answered with a Mac not in base64: {e}")))
    }

    /// KMS's `action` (`TrentService.{action}`) with `request`; its answer. Throttling, server
    /// errors and lost connections are tried again, twice, as the SDK would.
    pub async fn call(&self, action: &str, request: &serde_json::Value) -> Result<serde_json::Value, KmsError> {
        let region = self.sdk.region().ok_or_else(|| KmsError("no AWS region is configured".into()))?;
        let url = endpoint(&self.sdk, region.as_ref());
        let target = format!("TrentService.{action}");
        let body = request.to_string();
        let mut attempt = 1;
        loop {
            let result =
                tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(&url, region.as_ref(), &target, &body)).await;
            let failure = match result {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(failure)) => failure,
                Err(_) => {
                    Failure::Transient(KmsError(format!("{action}: no answer from {url} within {ATTEMPT_TIMEOUT:?}")))
                }
            };
            match failure {
                Failure::Transient(err) if attempt < ATTEMPTS => {
                    tracing::warn!(error = %err, attempt, "KMS call failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                Failure::Transient(err) | Failure::Final(err) => return Err(err),
            }
        }
    }

    async fn attempt(&self, url: &str, region: &str, target: &str, body: &str) -> Result<serde_json::Value, Failure> {
        let identity: Identity = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| Failure::Final(KmsError("no AWS credentials are configured".into())))?
            .provide_credentials()
            .await
            .map_err(|e| Failure::Final(KmsError(format!("no AWS credentials: {e}"))))?
            .into();
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target)];
        let signable = SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body.as_bytes()))
            .map_err(|e| Failure::Final(KmsError(format!("cannot sign for {url}: {e}"))))?;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Final(KmsError(format!("cannot sign: {e}"))))?
            .into();
        let (instructions, _signature) =
            sign(signable, &params).map_err(|e| Failure::Final(KmsError(format!("cannot sign: {e}"))))?.into_parts();
        let mut request = Request::post(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut request = request
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| Failure::Final(KmsError(format!("not a valid KMS endpoint, {url}: {e}"))))?;
        instructions.apply_to_request_http1x(&mut request);

        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| Failure::Transient(KmsError(format!("no answer from {url}: {e}"))))?;
        let status = response.status();
        let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| Failure::Transient(KmsError(format!("the answer from {url} broke off: {e}"))))?
            .to_bytes();
        if status == StatusCode::OK {
            return serde_json::from_slice(&answer)
                .map_err(|e| Failure::Final(KmsError(format!("{target}: the answer is not JSON: {e}"))));
        }
        let refusal: Refusal =
            serde_json::from_slice(&answer).unwrap_or(Refusal { kind: String::new(), message: String::new() });
        let kind = refusal.kind.rsplit('#').next().unwrap_or_default().to_owned();
        let err = KmsError(format!("{target}: HTTP {status} {kind}: {}", refusal.message));
        let transient =
            status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || kind.contains("Throttling");
        Err(if transient { Failure::Transient(err) } else { Failure::Final(err) })
    }
}

enum Failure {
    /// Throttled, a server error, or no answer: worth another attempt.
    Transient(KmsError),
    /// Refused (no such key, not allowed, wrong key type) or not a KMS answer.
    Final(KmsError),
}

/// Where KMS is: `AWS_ENDPOINT_URL_KMS` (or a profile's `kms` endpoint), else
/// `AWS_ENDPOINT_URL`, both as aws-config read them, else the region's public endpoint.
fn endpoint(sdk: &SdkConfig, region: &str) -> String {
    let key = ServiceConfigKey::builder()
        .service_id("KMS")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field is set");
    if let Some(url) =
        sdk.service_config().and_then(|c| c.load_config(key)).or_else(|| sdk.endpoint_url().map(str::to_owned))
    {
        return url;
    }
    public_endpoint(region, sdk.use_fips().unwrap_or(false))
}

/// KMS's public endpoint in `region`, its FIPS one if `fips`.
fn public_endpoint(region: &str, fips: bool) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    let service = if fips { "kms-fips" } else { "kms" };
    format!("https://{service}.{region}.{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_endpoint_follows_the_partition_and_fips() {
        assert_eq!(public_endpoint("eu-west-1", false), "https://kms.eu-west-1.amazonaws.com");
        assert_eq!(public_endpoint("us-gov-west-1", true), "https://kms-fips.us-gov-west-1.amazonaws.com");
        assert_eq!(public_endpoint("cn-north-1", false), "https://kms.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn a_configured_endpoint_comes_first() {
        let sdk = SdkConfig::builder().endpoint_url("http://127.0.0.1:4566").build();
        assert_eq!(endpoint(&sdk, "eu-west-1"), "http://127.0.0.1:4566");
        let sdk = SdkConfig::builder().use_fips(true).build();
        assert_eq!(endpoint(&sdk, "us-east-1"), "https://kms-fips.us-east-1.amazonaws.com");
    }
}
