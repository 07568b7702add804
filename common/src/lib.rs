//! Types shared by every Shale role.
//!
//! Owns: identifiers (node, chunk), the object layout that the metadata
//! service records and the gateway reads (parts → segments → chunks), and the
//! small HTTP RPC helpers every internal client uses, and S3's flexible
//! checksums (algorithms, and the multipart checksum math), metrics
//! plumbing (static labels, scrape hooks, the Prometheus exporter) and the
//! request id that follows a request across roles, and SigV4 signing
//! ([`sigv4`]) for every Shale client that talks S3 (admin CLI, load
//! generator, replication).
//! Depends on: nothing of Shale. Must never: talk to RocksDB or to disks.

pub mod admin_client;
pub mod checksum;
pub mod layout;
pub mod metrics;
pub mod rpc;
pub mod s3_client;
pub mod sigv4;

pub use layout::*;
