//! The AWS SDK's shared configuration, loaded once at start: the default chain for region and
//! credentials, over one HTTPS client that every SDK client (S3, the credential providers)
//! shares. The clients the function makes itself (the URL fetcher, KMS) use the same TLS.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};

/// The SDK's HTTPS client: rustls with ring's cryptography, as the URL fetcher uses. The SDK's
/// default client uses aws-lc, whose C library was a tenth of the deploy build's CPU time and
/// whose entropy source needed a build flag to stay off the cold start.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The SDK configuration from the environment, over [`https_client`].
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()).load().await
}

/// HTTPS (and plain HTTP) over `connector` for the clients the function makes itself: rustls
/// with ring, as [`https_client`], and the platform's roots. The provider is named, not the
/// process default, which a build with both rustls providers would not have.
pub fn tls_over<C>(connector: C) -> std::io::Result<HttpsConnector<C>> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(provider)?
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector))
}
