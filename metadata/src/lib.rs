//! Shale's metadata service: the catalogue of buckets, objects, multipart
//! uploads, access keys, the cluster map and the GC queue.
//!
//! Owns: the RocksDB database and its key encoding (`keys`), the store's
//! typed operations (`store::MetaStore`), their replication as a Raft group
//! (`raft`, `raft_net`: `openraft`, a proven library rather than a
//! home-made protocol), the RPC service (`serve`), its
//! metrics (`metrics`) and its typed client (`MetaClient`, the gateway's
//! only way in, which finds the group's leader).
//! Depends on: `shale-common` (layouts, node info, the pooled HTTP client).
//! Must never: read or write chunk data, talk to storage nodes, or commit a
//! request's change in more than one `WriteBatch` (each is atomic and synced),
//! or make a write outside a Raft log entry's apply, or read the clock or a
//! random source in a write's apply (every replica must write the same rows).
//! Conditional writes are decided here, under a lock, never by the caller.

#![warn(missing_docs)]

//!
//! The `server` feature (on by default) builds the store and the service,
//! and with them RocksDB; without it the crate is just the client and the
//! types, so the gateway and the fuzz targets can be built without RocksDB.

pub mod client;
pub mod fuzzing;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
mod log_format;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod proposer;
#[cfg(feature = "server")]
pub mod raft;
#[cfg(feature = "server")]
pub mod raft_net;
#[cfg(feature = "raft-types")]
pub mod raft_types;
#[cfg(feature = "server")]
mod read_barrier;
mod replication;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "raft-types")]
pub mod snapshot_format;
#[cfg(feature = "server")]
pub mod snapshot_policy;
#[cfg(feature = "server")]
pub mod store;
pub mod types;

pub use client::MetaClient;
pub use replication::*;
#[cfg(feature = "server")]
pub use service::{MetadataConfig, RaftTuning, Replica, ServeError, serve};
#[cfg(feature = "server")]
pub use store::MetaStore;
pub use types::*;
