//! The S3 gateway: the S3 protocol over hyper and `s3s`.
//!
//! Owns: S3 request handling ([`s3`], one module per operation family),
//! S3's rules for tags ([`tagging`]) and for ACLs (disabled, as new S3
//! buckets have them: [`acl`]), checksum verification ([`checksum`]),
//! authentication around `s3s` (SigV4 and SigV2, [`auth`]), per-bucket
//! grants of access keys ([`access`]), the admin API that `shale admin`
//! talks to ([`admin`]), browser uploads ([`post`]), bucket CORS and
//! preflights ([`cors`]), the web console at `/_shale/console/`, a client
//! of the gateway's own S3 service in-process ([`console`]),
//! virtual-host-style addressing ([`vhost`]), the
//! one mapping of errors to S3's ([`error`]), metrics ([`metrics`]) and the
//! HTTP(S) front ([`server`]), which also starts the background workers.
//! Depends on: the data path (`shale-datapath`) for bodies, the workers
//! (`shale-workers`) it runs, the metadata service over the network (its
//! client), and `shale-common`. Nothing depends on the gateway.
//! Must never: write a metadata row naming chunks before those chunks are
//! durable; buffer a whole object; answer with bytes it could not verify.

pub mod access;
pub mod acl;
pub mod admin;
pub mod auth;
pub mod bucket_access;
pub mod bucket_cache;
pub mod checksum;
pub mod console;
pub mod cors;
pub mod edge;
pub mod error;
pub mod fuzzing;
pub mod metrics;
pub mod post;
pub mod regions;
pub mod rules_cache;
pub mod s3;
pub mod server;
pub mod tagging;
pub mod vhost;

pub use error::{Error, Result};
pub use server::{GatewayConfig, serve};
