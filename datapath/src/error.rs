//! The data path's one error type. It knows nothing of S3: the gateway maps
//! each variant to the S3 error a client sees (`shale_s3_gateway::error`).

use shale_metadata::MetaError;

/// The error a body stream handed to [`crate::DataPath::write_body`] failed
/// with, carried through unchanged for its caller to take back.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong while storing or reading chunks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata service answered with an error (or was unreachable).
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    /// Fewer healthy storage nodes than a segment needs.
    #[error("not enough storage nodes: {0}")]
    NotEnoughNodes(String),
    /// Storage nodes have no room for the object: nothing was stored.
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// Too few chunks of a segment became durable to acknowledge the write.
    #[error("write quorum not reached: {0}")]
    WriteQuorum(String),
    /// Too few chunks of a segment could be read to give its bytes back.
    #[error("data unrecoverable: {0}")]
    Unrecoverable(String),
    /// The body is over the size limit ([`crate::MAX_PUT_SIZE`]).
    #[error("entity too large")]
    EntityTooLarge,
    /// The body ended before the announced length, or ran past it.
    #[error("incomplete body: {0}")]
    IncompleteBody(String),
    /// The caller's body stream failed; the error is the stream's own.
    #[error("request body: {0}")]
    Body(BodyError),
    /// The upload took longer than the commit deadline: its chunks may be
    /// collected as orphans by now, so it must not be committed.
    #[error("upload too slow: {0}")]
    TooSlow(String),
    /// Server-side encryption was asked for (or a version is encrypted
    /// under SSE-S3) and this gateway has no master key.
    #[error("no master key: server-side encryption is not configured")]
    NoMasterKey,
    /// An encrypted version's key does not open: sealed under a master key
    /// this gateway does not hold, or damaged.
    #[error("the object's key is not available: {0}")]
    KeyUnavailable(String),
    /// An SSE-C version was asked for without its key.
    #[error("the object is encrypted with a customer-provided key, and none was given")]
    CustomerKeyNeeded,
    /// An SSE-C version was asked for with another key than its own.
    #[error("the customer-provided key is not the object's")]
    WrongCustomerKey,
    /// No KMS key has this id.
    #[error("no KMS key {0}")]
    KmsNotFound(String),
    /// The KMS key is disabled.
    #[error("KMS key {0} is disabled")]
    KmsDisabled(String),
    /// A bug or an unexpected state.
    #[error("internal: {0}")]
    Internal(String),
}

/// The data path's result type.
pub type Result<T> = std::result::Result<T, Error>;
