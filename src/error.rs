//! The one error type, and how each edge classifies it.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

use crate::image::ImageError;

/// The error behind a failure: kept for the logs, never shown to a client.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while ingesting, with the contract's stable codes.
///
/// `Display` is the short message a client sees; [`IngestError::report`] adds the cause chain
/// for the logs.
#[derive(Debug, Clone, Error)]
pub enum IngestError {
    /// The payload is not valid JSON.
    #[error("{message}")]
    InvalidJson {
        /// What was wrong, for the client.
        message: String,
        /// The parser's error.
        #[source]
        source: Option<Cause>,
    },
    /// The payload is JSON but not a valid request.
    #[error("{0}")]
    InvalidRequest(String),
    /// `data` is not standard base64.
    #[error("{message}")]
    InvalidBase64 {
        /// What was wrong, for the client.
        message: String,
        /// The decoder's error.
        #[source]
        source: Cause,
    },
    /// The object has no bytes.
    #[error("the object is empty")]
    EmptyObject,
    /// No such route, or no such object.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method {method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed {
        /// The method that was used.
        method: String,
        /// The methods the route accepts, for the `Allow` header.
        allowed: &'static str,
    },
    /// The object is over `MAX_OBJECT_BYTES`.
    #[error("the object is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The (estimated) size of the object.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The sniffed content type is not allowed.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The URL's scheme, host or address is refused.
    #[error("{0}")]
    UrlNotAllowed(String),
    /// The image header declares more pixels than `MAX_PIXELS` (a decompression bomb).
    #[error("{0}")]
    TooManyPixels(String),
    /// A raster image whose header cannot be read, or which ends before its format's end.
    #[error("{message}")]
    InvalidImage {
        /// What was wrong, for the client.
        message: String,
        /// The header parser's error, if there was one.
        #[source]
        source: Option<Cause>,
    },
    /// The upstream fetch failed.
    #[error("{message}")]
    FetchFailed {
        /// The URL (redacted) and what happened, for the client.
        message: String,
        /// The HTTP client's error, if there was one.
        #[source]
        source: Option<Cause>,
        /// The origin's own answer (a 404, a redirect loop): asking again gets the same.
        permanent: bool,
    },
    /// HeadBucket or a write said the bucket does not exist.
    #[error("bucket {0} does not exist")]
    BucketNotFound(String),
    /// HeadBucket said 403.
    #[error("access to bucket {0} is denied")]
    BucketAccessDenied(String),
    /// S3 still failing after the SDK's retries.
    #[error("{message}")]
    Storage {
        /// The operation and key, for the client.
        message: String,
        /// The SDK's error, if there was one.
        #[source]
        source: Option<Cause>,
    },
    /// A gallery page without a valid, unexpired link signature.
    #[error("{0}")]
    Forbidden(String),
    /// The gallery's signing key could not be derived from its KMS key.
    #[error("{message}")]
    SigningKey {
        /// What failed, for the client.
        message: String,
        /// The SDK's error.
        #[source]
        source: Option<Cause>,
    },
    /// Not processed: the invocation's deadline was near, or an earlier record of the
    /// same FIFO message group failed. Retrying later is expected to work.
    #[error("{0}")]
    NotAttempted(String),
}

/// Shorthand used across the crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

impl IngestError {
    /// A storage failure with nothing underneath (a rule of ours, not an SDK error).
    pub fn storage(message: impl Into<String>) -> Self {
        Self::Storage { message: message.into(), source: None }
    }

    /// A storage failure caused by `source`.
    pub fn storage_from(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Storage { message: message.into(), source: Some(Arc::new(source)) }
    }

    /// A fetch failure with nothing underneath (a changed body, a timeout) that may pass.
    pub fn fetch_failed(message: impl Into<String>) -> Self {
        Self::FetchFailed { message: message.into(), source: None, permanent: false }
    }

    /// A fetch failure that asking again cannot mend: a 4xx answer other than 408 and 429, too
    /// many redirects, a location that cannot be followed.
    pub fn fetch_refused(message: impl Into<String>) -> Self {
        Self::FetchFailed { message: message.into(), source: None, permanent: true }
    }

    /// A fetch failure caused by `source`.
    pub fn fetch_failed_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::FetchFailed { message: message.into(), source: Some(Arc::new(source)), permanent: false }
    }

    /// A body that is not JSON, with the parser's error as its cause.
    pub fn invalid_json(what: &str, source: serde_json::Error) -> Self {
        Self::InvalidJson { message: format!("{what} is not valid JSON: {source}"), source: Some(Arc::new(source)) }
    }

    /// The stable machine-readable code of the contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson { .. } => "invalid_json",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidBase64 { .. } => "invalid_base64",
            Self::EmptyObject => "empty_object",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::UrlNotAllowed(_) => "url_not_allowed",
            Self::TooManyPixels(_) => "too_many_pixels",
            Self::InvalidImage { .. } => "invalid_image",
            Self::FetchFailed { .. } => "fetch_failed",
            Self::BucketNotFound(_) => "bucket_not_found",
            Self::BucketAccessDenied(_) => "bucket_access_denied",
            Self::Storage { .. } => "storage_error",
            Self::NotAttempted(_) => "not_attempted",
            Self::Forbidden(_) => "forbidden",
            Self::SigningKey { .. } => "signing_key_unavailable",
        }
    }

    /// The HTTP status API Gateway answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidJson { .. } | Self::InvalidRequest(_) | Self::InvalidBase64 { .. } | Self::EmptyObject => 400,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::UrlNotAllowed(_) | Self::TooManyPixels(_) | Self::InvalidImage { .. } => 422,
            Self::FetchFailed { .. } => 502,
            Self::BucketNotFound(_)
            | Self::BucketAccessDenied(_)
            | Self::Storage { .. }
            | Self::NotAttempted(_)
            | Self::SigningKey { .. } => 503,
        }
    }

    /// Whether the same input can succeed later (S3 or the origin recovers, the bucket is
    /// created, the deadline was the only problem): the failure is transient, not a refusal.
    /// Retries of every source (verified uploads, backfill batches) are decided here alone.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::FetchFailed { permanent: false, .. }
                | Self::BucketNotFound(_)
                | Self::BucketAccessDenied(_)
                | Self::Storage { .. }
                | Self::NotAttempted(_)
                | Self::SigningKey { .. }
        )
    }

    /// True for the errors that concern the bucket as a whole rather than one item.
    pub fn is_bucket_error(&self) -> bool {
        matches!(self, Self::BucketNotFound(_) | Self::BucketAccessDenied(_))
    }

    /// The message and every cause under it, for the logs.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

impl From<ImageError> for IngestError {
    fn from(err: ImageError) -> Self {
        let message = err.to_string();
        match err {
            ImageError::TooManyPixels { .. } => Self::TooManyPixels(message),
            ImageError::Unreadable { source, .. } => {
                Self::InvalidImage { message, source: source.map(|e| Arc::new(e) as Cause) }
            }
            ImageError::Truncated { .. } | ImageError::Malformed { .. } | ImageError::LocationUnremovable { .. } => {
                Self::InvalidImage { message, source: None }
            }
        }
    }
}

/// An error with its whole cause chain: `message: cause: cause ...`.
pub struct Report<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_the_contract_status() {
        let cases = [
            (IngestError::InvalidJson { message: "x".into(), source: None }, "invalid_json", 400, false),
            (IngestError::InvalidRequest("x".into()), "invalid_request", 400, false),
            (
                IngestError::InvalidBase64 { message: "x".into(), source: Arc::new(std::fmt::Error) },
                "invalid_base64",
                400,
                false,
            ),
            (IngestError::EmptyObject, "empty_object", 400, false),
            (IngestError::NotFound("GET /x".into()), "not_found", 404, false),
            (IngestError::MethodNotAllowed { method: "PUT".into(), allowed: "POST" }, "method_not_allowed", 405, false),
            (IngestError::TooLarge { size: 2, limit: 1 }, "too_large", 413, false),
            (IngestError::UnsupportedMediaType("text/plain".into()), "unsupported_media_type", 415, false),
            (IngestError::UrlNotAllowed("x".into()), "url_not_allowed", 422, false),
            (IngestError::TooManyPixels("x".into()), "too_many_pixels", 422, false),
            (IngestError::InvalidImage { message: "x".into(), source: None }, "invalid_image", 422, false),
            (IngestError::fetch_failed("x"), "fetch_failed", 502, true),
            (IngestError::fetch_refused("x"), "fetch_failed", 502, false),
            (IngestError::BucketNotFound("b".into()), "bucket_not_found", 503, true),
            (IngestError::BucketAccessDenied("b".into()), "bucket_access_denied", 503, true),
            (IngestError::storage("x"), "storage_error", 503, true),
            (IngestError::NotAttempted("x".into()), "not_attempted", 503, true),
        ];
        for (err, code, status, transient) in cases {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
            assert_eq!(err.is_transient(), transient, "{err:?}");
        }
    }

    #[test]
    fn messages_name_the_bucket_and_the_limit() {
        assert_eq!(IngestError::BucketNotFound("pics".into()).to_string(), "bucket pics does not exist");
        assert_eq!(
            IngestError::TooLarge { size: 11, limit: 10 }.to_string(),
            "the object is 11 bytes, over the limit of 10 bytes"
        );
    }

    #[test]
    fn clients_see_the_message_and_logs_the_whole_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let err = IngestError::storage_from("PutObject images/a.png failed", io);
        assert_eq!(err.to_string(), "PutObject images/a.png failed");
        assert_eq!(err.report().to_string(), "PutObject images/a.png failed: connection reset by peer");
    }
}
