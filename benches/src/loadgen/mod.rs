//! `shale-bench`'s load generator: an S3 client built for measuring
//! (client.rs), the workloads (run.rs), the baseline server (baseline.rs),
//! the report (stats.rs) and the command line's units (units.rs).

pub mod baseline;
pub mod client;
pub mod run;
pub mod stats;
pub mod units;
