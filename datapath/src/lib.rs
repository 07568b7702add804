//! The erasure-coded data path: bodies into chunks on storage nodes, and
//! byte ranges back out of them.
//!
//! Owns: cutting a body into segments and shards and writing them as chunks
//! ([`datapath`]: write quorum, stragglers, the commit deadline; hedged and
//! degraded reads), Reed-Solomon coding ([`ec`]), placement of chunks on
//! nodes and zones ([`placement`]), the ETag's MD5 ([`md5x`]), following
//! the cluster map, and server-side encryption's sealing and opening of
//! bodies and object keys ([`sse`]).
//! Depends on: `shale-common`, and the metadata service and storage nodes
//! over the network only (their client types).
//! Must never: know S3 (no `s3s`, no S3 error codes: callers map
//! [`Error`]); write a metadata row; buffer a whole object; return bytes it
//! could not verify.

pub mod datapath;
pub mod ec;
pub mod error;
pub mod md5x;
pub mod placement;
pub mod sse;

pub use datapath::{DataPath, DataPathConfig, MAX_PUT_SIZE, WriteTarget, Written};
pub use error::{BodyError, Error, Result};
