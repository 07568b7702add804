//! Shale's metadata service: the catalogue of buckets, objects, multipart
//! uploads, access keys, the cluster map and the GC queue.
//!
//! Owns: the RocksDB database and its key encoding (`keys`), the store's
//! typed operations (`store::MetaStore`), the RPC service (`serve`) and its
//! typed client (`MetaClient`, the gateway's only way in).
//! Depends on: `shale-common` (layouts, node info, the pooled HTTP client).
//! Must never: read or write chunk data, talk to storage nodes, or commit a
//! request's change in more than one `WriteBatch` (each is atomic and synced).
//! Conditional writes are decided here, under a lock, never by the caller.

#![warn(missing_docs)]

pub mod client;
pub mod keys;
pub mod service;
pub mod store;
pub mod types;

pub use client::MetaClient;
pub use service::{MetadataConfig, ServeError, serve};
pub use store::MetaStore;
pub use types::*;
