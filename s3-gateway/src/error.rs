//! The gateway's one error type, and the one place that maps every internal
//! error to the S3 error a client sees (status, code, message).

use s3s::{S3Error, S3ErrorCode};
use shale_metadata::MetaError;

/// Everything that can go wrong inside the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata service answered with an error (or was unreachable).
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    /// Fewer healthy storage nodes than a segment needs.
    #[error("not enough storage nodes: {0}")]
    NotEnoughNodes(String),
    /// Too few chunks of a segment became durable to acknowledge the write.
    #[error("write quorum not reached: {0}")]
    WriteQuorum(String),
    /// Too few chunks of a segment could be read to give its bytes back.
    #[error("data unrecoverable: {0}")]
    Unrecoverable(String),
    /// A checksum sent by the client does not match the body.
    #[error("checksum mismatch: {0}")]
    BadDigest(String),
    /// A checksum header that cannot be parsed.
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    /// The body is over the size limit.
    #[error("entity too large")]
    EntityTooLarge,
    /// The body ended before the announced length, or ran past it.
    #[error("incomplete body: {0}")]
    IncompleteBody(String),
    /// The client's body stream failed (connection reset, bad aws-chunked framing, bad chunk signature).
    #[error("request body: {0}")]
    Body(S3Error),
    /// Bad request arguments.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A request S3 refuses as `InvalidRequest` (e.g. a malformed or
    /// conflicting checksum header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A bug or an unexpected state.
    #[error("internal: {0}")]
    Internal(String),
}

/// The gateway's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for S3Error {
    fn from(e: Error) -> S3Error {
        to_s3_error(e)
    }
}

/// Maps an internal error to what S3 would answer.
pub fn to_s3_error(e: Error) -> S3Error {
    use S3ErrorCode as C;
    let msg = e.to_string();
    match e {
        Error::Meta(m) => match m {
            MetaError::NoSuchBucket => {
                S3Error::with_message(C::NoSuchBucket, "The specified bucket does not exist")
            }
            MetaError::BucketAlreadyExists => S3Error::with_message(
                C::BucketAlreadyExists,
                "The requested bucket name is not available",
            ),
            MetaError::BucketAlreadyOwnedByYou => S3Error::with_message(
                C::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it",
            ),
            MetaError::BucketNotEmpty => S3Error::with_message(
                C::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            ),
            MetaError::NoSuchKey => {
                S3Error::with_message(C::NoSuchKey, "The specified key does not exist.")
            }
            MetaError::NoSuchUpload => S3Error::with_message(
                C::NoSuchUpload,
                "The specified multipart upload does not exist.",
            ),
            MetaError::InvalidPart(detail) => S3Error::with_message(
                C::InvalidPart,
                format!(
                    "One or more of the specified parts could not be found or its entity tag did not match: {detail}"
                ),
            ),
            MetaError::InvalidPartOrder => S3Error::with_message(
                C::InvalidPartOrder,
                "The list of parts was not in ascending order",
            ),
            MetaError::EntityTooSmall => S3Error::with_message(
                C::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size.",
            ),
            MetaError::PreconditionFailed => S3Error::with_message(
                C::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ),
            MetaError::InvalidArgument(detail) => S3Error::with_message(C::InvalidArgument, detail),
            MetaError::InvalidRequest(detail) => S3Error::with_message(C::InvalidRequest, detail),
            MetaError::BadDigest(detail) => S3Error::with_message(C::BadDigest, detail),
            MetaError::Unavailable(detail) => {
                tracing::warn!(%detail, "metadata service unavailable");
                S3Error::with_message(
                    C::ServiceUnavailable,
                    "The metadata service is unavailable; retry",
                )
            }
            MetaError::Internal(detail) => {
                tracing::error!(%detail, "metadata internal error");
                S3Error::with_message(
                    C::InternalError,
                    "We encountered an internal error. Please try again.",
                )
            }
        },
        Error::NotEnoughNodes(_) | Error::WriteQuorum(_) => {
            tracing::warn!(error = %msg, "write failed");
            S3Error::with_message(
                C::ServiceUnavailable,
                "Not enough storage nodes are available; retry",
            )
        }
        Error::Unrecoverable(_) => {
            tracing::error!(error = %msg, "read failed");
            S3Error::with_message(
                C::InternalError,
                "Too few chunks of the object are readable",
            )
        }
        Error::BadDigest(detail) => S3Error::with_message(C::BadDigest, detail),
        Error::InvalidDigest(detail) => S3Error::with_message(C::InvalidDigest, detail),
        Error::EntityTooLarge => S3Error::with_message(
            C::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size.",
        ),
        Error::IncompleteBody(detail) => S3Error::with_message(C::IncompleteBody, detail),
        Error::Body(e) => e,
        Error::InvalidArgument(detail) => S3Error::with_message(C::InvalidArgument, detail),
        Error::InvalidRequest(detail) => S3Error::with_message(C::InvalidRequest, detail),
        Error::Internal(detail) => {
            tracing::error!(%detail, "internal error");
            S3Error::with_message(
                C::InternalError,
                "We encountered an internal error. Please try again.",
            )
        }
    }
}
