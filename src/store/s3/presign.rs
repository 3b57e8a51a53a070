//! Presigned GETs in bulk. The SDK signs the first key, and its URL shows the endpoint's exact
//! form (path-style or virtual-hosted, a custom endpoint, the headers it signs); the other keys
//! are signed here with aws-sigv4 the way the SDK signs them, at a fifth of its cost. Whatever
//! the first URL shows that this signer does not reproduce sends every key back to the SDK.

use std::time::{Duration, SystemTime};

use std::sync::Mutex;

use aws_sdk_s3::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::store::Presigned;
use tracing::warn;

/// The SDK's query encoding (aws-smithy-http's `BASE_SET`): everything but unreserved characters.
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'@')
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'^')
    .add(b'`')
    .add(b'\\');

/// The SDK's encoding of a key in the path (a greedy label): the same, with `/` kept.
const KEY: &AsciiSet = &QUERY.remove(b'/');

/// The only algorithm reproduced here; SigV4a or another scheme goes to the SDK.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A key as the SDK puts it in the path.
pub(super) fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY).to_string()
}

/// What the SDK's URL for one key shows, to sign the same request for other keys.
pub(super) struct Template {
    /// Everything before the encoded key: scheme, host, and the bucket for path-style.
    base: String,
    /// The operation's own query (`x-id=GetObject`), encoded, before the signature's.
    query: Vec<String>,
    /// The signed headers besides `host`, which the client must send.
    headers: Vec<(String, String)>,
    region: String,
    identity: Identity,
}

impl Template {
    /// The template of `first`, the SDK's presigned GET of `key` with `credentials`; `None`
    /// when the URL is not of the form signed here.
    pub(super) fn from_first(first: &Presigned, key: &str, credentials: &Credentials) -> Option<Self> {
        let (path, query) = first.url.split_once('?')?;
        let base = path.strip_suffix(&encode_key(key))?;
        let mut own = Vec::new();
        let mut region = None;
        let mut signed = None;
        let mut token = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=')?;
            let value = percent_decode_str(value).decode_utf8().ok()?;
            match name {
                "X-Amz-Algorithm" if value == ALGORITHM => {}
                "X-Amz-Credential" => region = Some(scope_region(&value, credentials.access_key_id())?),
                "X-Amz-SignedHeaders" => signed = Some(value.into_owned()),
                "X-Amz-Security-Token" => token = Some(value.into_owned()),
                "X-Amz-Date" | "X-Amz-Expires" | "X-Amz-Signature" => {}
                _ if name.starts_with("X-Amz-") || name.starts_with("x-amz-") => return None,
                _ => own.push(pair.to_owned()),
            }
        }
        let (region, headers) = (region?, first.headers.clone());
        let same_token = token.as_deref() == credentials.session_token();
        (same_token && signed? == signed_list(&headers)).then(|| Self {
            base: base.to_owned(),
            query: own,
            headers,
            region,
            identity: credentials.clone().into(),
        })
    }

    /// The presigned GET of `key`, signed at `time` for `ttl`; `None` if signing fails.
    pub(super) fn sign(&self, key: &str, ttl: Duration, time: SystemTime) -> Option<Presigned> {
        let mut url = format!("{}{}", self.base, encode_key(key));
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query.join("&"));
        }
        let headers = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let request = SignableRequest::new("GET", url.as_str(), headers, SignableBody::UnsignedPayload).ok()?;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings(ttl))
            .build()
            .ok()?
            .into();
        let (instructions, _signature) = sign(request, &params).ok()?.into_parts();
        let (_, query) = instructions.into_parts();
        for (name, value) in query {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&utf8_percent_encode(name, QUERY).to_string());
            url.push('=');
            url.push_str(&utf8_percent_encode(&value, QUERY).to_string());
        }
        Some(Presigned { url, headers: self.headers.clone() })
    }
}

/// S3's presigning: a single-encoded path, never normalised (keys may hold `//` or `..`), the
/// signature in the query, the payload unsigned, a session token signed with the rest.
fn settings(ttl: Duration) -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.signature_location = SignatureLocation::QueryParams;
    settings.session_token_mode = SessionTokenMode::Include;
    settings.expires_in = Some(ttl);
    settings
}

/// The region of an S3 credential scope (`AKID/date/region/s3/aws4_request`) made with `access_key`.
fn scope_region(scope: &str, access_key: &str) -> Option<String> {
    match scope.split('/').collect::<Vec<_>>()[..] {
        [akid, _date, region, "s3", "aws4_request"] if akid == access_key && !region.is_empty() => {
            Some(region.to_owned())
        }
        _ => None,
    }
}

/// `X-Amz-SignedHeaders` for `host` and `headers`: lowercase, sorted, `;`-separated.
fn signed_list(headers: &[(String, String)]) -> String {
    let mut names: Vec<String> = headers.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    names.push("host".to_owned());
    names.sort();
    names.join(";")
}

/// The credentials local signing uses: the SDK config's provider, asked again only when its
/// last answer is within [`REFRESH_BEFORE`] of expiring. The default chain keeps no cache of
/// its own, and with instance or container credentials each ask is a request.
#[derive(Debug)]
pub(super) struct SigningCredentials {
    provider: Option<SharedCredentialsProvider>,
    last: Mutex<Option<Credentials>>,
}

/// How long before their expiry cached credentials are replaced.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

impl SigningCredentials {
    pub(super) fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self { provider, last: Mutex::new(None) }
    }

    /// Credentials valid for a while after `now`; `None` without a provider or an answer from it.
    pub(super) async fn get(&self, now: SystemTime) -> Option<Credentials> {
        let fresh = |c: &Credentials| c.expiry().is_none_or(|expiry| expiry > now + REFRESH_BEFORE);
        if let Some(cached) = self.last.lock().unwrap().as_ref().filter(|c| fresh(c)) {
            return Some(cached.clone());
        }
        match self.provider.as_ref()?.provide_credentials().await {
            Ok(credentials) => {
                *self.last.lock().unwrap() = Some(credentials.clone());
                Some(credentials)
            }
            Err(err) => {
                warn!(error = %err, "no credentials for local presigning; the SDK signs every URL");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its answers; each expires at `expiry`, if given.
    #[derive(Debug)]
    struct Counting {
        asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        expiry: Option<SystemTime>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let credentials = Credentials::new("AKID", "SECRET", None, self.expiry, "counting");
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
        }
    }

    #[tokio::test]
    async fn credentials_are_asked_for_again_only_near_their_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for (expiry, asks) in
            [(None, 1), (Some(now + Duration::from_secs(3600)), 1), (Some(now + Duration::from_secs(60)), 3)]
        {
            let asked = std::sync::Arc::default();
            let provider = Counting { asked: std::sync::Arc::clone(&asked), expiry };
            let signing = SigningCredentials::new(Some(SharedCredentialsProvider::new(provider)));
            for _ in 0..3 {
                assert_eq!(signing.get(now).await.unwrap().access_key_id(), "AKID");
            }
            assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), asks, "expiry {expiry:?}");
        }
        assert!(SigningCredentials::new(None).get(now).await.is_none());
    }

    /// A provider that fails: nothing is signed locally, nothing is kept, and the next page asks again.
    #[tokio::test]
    async fn a_failing_provider_is_asked_again_and_nothing_is_kept() {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&asked);
        let provider = aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::credential_fn::provide_credentials_fn(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    Err(aws_credential_types::provider::error::CredentialsError::not_loaded("no credentials here"))
                }
            }),
        );
        let signing = SigningCredentials::new(Some(provider));
        let now = SystemTime::now();
        assert!(signing.get(now).await.is_none());
        assert!(signing.get(now).await.is_none());
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn keys_are_encoded_as_the_sdk_encodes_labels() {
        assert_eq!(encode_key("a/b c/\"><img>!=+%41ü.png"), "a/b%20c/%22%3E%3Cimg%3E%21%3D%2B%2541%C3%BC.png");
        assert_eq!(encode_key("x!1x1!-_.~"), "x%211x1%21-_.~");
    }

    #[test]
    fn only_an_s3_scope_of_these_credentials_gives_a_region() {
        assert_eq!(scope_region("AK/20261205/eu-west-1/s3/aws4_request", "AK").as_deref(), Some("eu-west-1"));
        assert_eq!(scope_region("AK/20261205/eu-west-1/s3/aws4_request", "OTHER"), None);
        assert_eq!(scope_region("AK/20261205/eu-west-1/s3express/aws4_request", "AK"), None);
    }
}
