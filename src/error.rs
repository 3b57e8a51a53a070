//! The one error type, and how each edge classifies it.

use thiserror::Error;

/// Everything that can go wrong while ingesting, with the contract's stable codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The payload is not valid JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// The payload is JSON but not a valid request.
    #[error("{0}")]
    InvalidRequest(String),
    /// `data` is not standard base64.
    #[error("{0}")]
    InvalidBase64(String),
    /// The object has no bytes.
    #[error("the object is empty")]
    EmptyObject,
    /// No such route.
    #[error("no route for {0}")]
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
    /// The upstream fetch failed.
    #[error("{0}")]
    FetchFailed(String),
    /// HeadBucket or a write said the bucket does not exist.
    #[error("bucket {0} does not exist")]
    BucketNotFound(String),
    /// HeadBucket said 403.
    #[error("access to bucket {0} is denied")]
    BucketAccessDenied(String),
    /// S3 still failing after the SDK's retries.
    #[error("{0}")]
    Storage(String),
    /// Not processed: the invocation's deadline was near, or an earlier record of the
    /// same FIFO message group failed. Retrying later is expected to work.
    #[error("{0}")]
    NotAttempted(String),
}

/// Shorthand used across the crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

impl IngestError {
    /// The stable machine-readable code of the contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::EmptyObject => "empty_object",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooLarge { .. } => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::UrlNotAllowed(_) => "url_not_allowed",
            Self::FetchFailed(_) => "fetch_failed",
            Self::BucketNotFound(_) => "bucket_not_found",
            Self::BucketAccessDenied(_) => "bucket_access_denied",
            Self::Storage(_) => "storage_error",
            Self::NotAttempted(_) => "not_attempted",
        }
    }

    /// The HTTP status API Gateway answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidJson(_) | Self::InvalidRequest(_) | Self::InvalidBase64(_) | Self::EmptyObject => 400,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::UrlNotAllowed(_) => 422,
            Self::FetchFailed(_) => 502,
            Self::BucketNotFound(_) | Self::BucketAccessDenied(_) | Self::Storage(_) | Self::NotAttempted(_) => 503,
        }
    }

    /// Whether trying the same input again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::FetchFailed(_)
                | Self::BucketNotFound(_)
                | Self::BucketAccessDenied(_)
                | Self::Storage(_)
                | Self::NotAttempted(_)
        )
    }

    /// True for the errors that concern the bucket as a whole rather than one item.
    pub fn is_bucket_error(&self) -> bool {
        matches!(self, Self::BucketNotFound(_) | Self::BucketAccessDenied(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_the_contract_status() {
        let cases = [
            (IngestError::InvalidJson("x".into()), "invalid_json", 400, false),
            (IngestError::InvalidRequest("x".into()), "invalid_request", 400, false),
            (IngestError::InvalidBase64("x".into()), "invalid_base64", 400, false),
            (IngestError::EmptyObject, "empty_object", 400, false),
            (IngestError::NotFound("GET /x".into()), "not_found", 404, false),
            (IngestError::MethodNotAllowed { method: "PUT".into(), allowed: "POST" }, "method_not_allowed", 405, false),
            (IngestError::TooLarge { size: 2, limit: 1 }, "too_large", 413, false),
            (IngestError::UnsupportedMediaType("text/plain".into()), "unsupported_media_type", 415, false),
            (IngestError::UrlNotAllowed("x".into()), "url_not_allowed", 422, false),
            (IngestError::FetchFailed("x".into()), "fetch_failed", 502, true),
            (IngestError::BucketNotFound("b".into()), "bucket_not_found", 503, true),
            (IngestError::BucketAccessDenied("b".into()), "bucket_access_denied", 503, true),
            (IngestError::Storage("x".into()), "storage_error", 503, true),
            (IngestError::NotAttempted("x".into()), "not_attempted", 503, true),
        ];
        for (err, code, status, retryable) in cases {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
            assert_eq!(err.is_retryable(), retryable, "{err:?}");
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
}
