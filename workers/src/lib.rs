//! A cluster's background work: the healer ([`heal`]: rebuilds, drains,
//! rebalancing), the garbage collector ([`gc`]: the GC queue and the
//! orphan sweep) and the lifecycle worker ([`lifecycle`]: buckets'
//! expiration rules); next, replication. The gateway process runs
//! them, but they never go through the S3 handlers.
//!
//! Depends on: the data path (`shale-datapath`: coding, placement, chunk
//! ages), the metadata client and the storage-node client, `shale-common`.
//! Must never: depend on the S3 gateway; delete a chunk that a metadata row
//! may still name (see each worker's rules); move a healthy chunk without
//! holding the metadata lease for moves.
//! Errors are the data path's ([`Error`]): every failure of a worker is one
//! of a metadata call, a chunk read or write, or coding.

pub mod gc;
pub mod heal;
pub mod lifecycle;
pub mod rekey;
pub mod replication;
mod signature;

pub use shale_datapath::{Error, Result};
