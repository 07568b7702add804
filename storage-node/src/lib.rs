//! Shale storage node: chunks on local disks, served over HTTP.
//!
//! Owns: the chunk format ([`chunk`]), the volume files chunks are appended
//! to ([`volume`]), the durable chunk store over one or more disk
//! directories ([`store`]), the node's HTTP service
//! ([`service`]), the client other roles use to reach it ([`client`]) and
//! the node's metrics ([`metrics`]).
//! Depends on: `shale-common` only (chunk ids, the pooled HTTP client).
//! Must never: acknowledge a write before it is durable (its volume record
//! synced), serve a byte whose CRC32 or BLAKE3 check failed, panic on bytes
//! from the network or the disk, or know about objects, buckets or metadata
//! (a chunk is an opaque, immutable blob with an id).

pub mod checkpoint;
pub mod chunk;
pub mod client;
mod local;
pub mod metrics;
pub mod scrub;
pub mod service;
pub mod store;
pub mod volume;

pub use chunk::{ChunkHeader, DEFAULT_BLOCK_SIZE, encode_chunk, parse_chunk_bytes};
pub use client::StorageClient;
pub use service::{PutBudget, StorageNodeConfig, serve, serve_store, serve_store_with};
pub use store::{ChunkInfo, ChunkLocation, ChunkStore, DiskStatus, NodeStatus};

/// Everything that can go wrong in the storage node and its client.
///
/// The variants a caller acts on are kept apart: [`Error::NotFound`] and
/// [`Error::Corrupt`] mean "rebuild this chunk from parity",
/// [`Error::Network`] means "this node is unreachable, try another".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No chunk with this id on this node.
    #[error("chunk not found: {0}")]
    NotFound(String),
    /// The chunk exists but failed an integrity check (header, block CRC32
    /// or BLAKE3); its bytes are never returned.
    #[error("chunk corrupt: {0}")]
    Corrupt(String),
    /// The requested byte range is not inside the chunk's data.
    #[error("invalid range: {0}")]
    InvalidRange(String),
    /// The id is not a valid chunk id (see `shale_common::is_valid_chunk_id`).
    #[error("invalid chunk id: {0:?}")]
    InvalidChunkId(String),
    /// A chunk body larger than the node accepts.
    #[error("chunk too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// Size of the rejected body, as far as it was read.
        size: u64,
        /// The limit it exceeded.
        limit: u64,
    },
    /// The disk has no room for the chunk (beyond the space the node keeps
    /// in reserve); nothing was written.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// Invalid configuration; the message names the field.
    #[error("invalid config: {0}")]
    Config(String),
    /// A local disk operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The request's cluster credential was refused (or the body was not
    /// the one signed); nothing was done.
    #[error("refused: {0}")]
    Unauthenticated(shale_common::cluster_auth::Refusal),
    /// The node could not be reached, or the exchange broke off or timed out.
    #[error("network error: {0}")]
    Network(String),
    /// The node answered with a status this client does not map to another
    /// variant (e.g. an internal error).
    #[error("storage node answered {status}: {message}")]
    Remote {
        /// HTTP status code of the answer.
        status: u16,
        /// Body or error header of the answer.
        message: String,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
