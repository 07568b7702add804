//! The storage node's metrics (the README's "Metrics" section lists them).
//!
//! Per request: `shale_storage_requests_total{node,op,status}` and
//! `shale_storage_request_duration_seconds{node,op}`. Per disk, recorded by
//! the store: chunk operations, bytes and latency
//! (`shale_storage_chunk_ops_total`, `_chunk_bytes_total`,
//! `_chunk_op_duration_seconds`, `op` = write, read, delete) and errors
//! (`shale_storage_disk_errors_total{kind=io|corrupt|full}`). Read when
//! `/metrics` is scraped: capacity (`shale_storage_disk_{capacity,available,
//! used}_bytes`, `shale_storage_disk_chunks`) and scrub progress
//! (`shale_storage_scrub_*`). Every series carries `node` (the node id, or
//! its address when it has none) and the per-disk ones `disk` (the path).
//!
//! Handles are made once (per disk at start, per request label set on first
//! use), so recording is an atomic add; nothing is recorded until a
//! recorder is installed.

use crate::store::ChunkStore;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use shale_common::metrics::{Handles, status_label};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A chunk operation on a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkOp {
    Write,
    Read,
    Delete,
}

/// Handles of one kind of chunk operation on one disk.
#[derive(Debug)]
pub(crate) struct OpMetrics {
    ops: Counter,
    bytes: Counter,
    seconds: Histogram,
}

impl OpMetrics {
    fn new(node: &str, disk: &str, op: &'static str) -> Self {
        let labels = [
            ("node", node.to_owned()),
            ("disk", disk.to_owned()),
            ("op", op.to_owned()),
        ];
        OpMetrics {
            ops: counter!("shale_storage_chunk_ops_total", &labels),
            bytes: counter!("shale_storage_chunk_bytes_total", &labels),
            seconds: histogram!("shale_storage_chunk_op_duration_seconds", &labels),
        }
    }
}

/// Handles of one disk.
#[derive(Debug)]
pub(crate) struct DiskMetrics {
    write: OpMetrics,
    read: OpMetrics,
    delete: OpMetrics,
    io_errors: Counter,
    corrupt: Counter,
    full: Counter,
}

impl DiskMetrics {
    fn new(node: &str, disk: &Path) -> Self {
        let disk = disk.display().to_string();
        let error = |kind: &'static str| {
            counter!("shale_storage_disk_errors_total",
                "node" => node.to_owned(), "disk" => disk.clone(), "kind" => kind)
        };
        DiskMetrics {
            write: OpMetrics::new(node, &disk, "write"),
            read: OpMetrics::new(node, &disk, "read"),
            delete: OpMetrics::new(node, &disk, "delete"),
            io_errors: error("io"),
            corrupt: error("corrupt"),
            full: error("full"),
        }
    }

    /// Records one chunk operation: its count, bytes and latency when it
    /// succeeded, its error kind when the disk failed it.
    pub(crate) fn record<T>(
        &self,
        op: ChunkOp,
        bytes: u64,
        seconds: f64,
        result: &crate::Result<T>,
    ) {
        let m = match op {
            ChunkOp::Write => &self.write,
            ChunkOp::Read => &self.read,
            ChunkOp::Delete => &self.delete,
        };
        match result {
            Ok(_) => {
                m.ops.increment(1);
                m.bytes.increment(bytes);
                m.seconds.record(seconds);
            }
            Err(crate::Error::Io(_)) => self.io_errors.increment(1),
            Err(crate::Error::Corrupt(_)) => self.corrupt.increment(1),
            Err(crate::Error::DiskFull(_)) => self.full.increment(1),
            // Not found, bad ranges, bad ids: the request's fault, not the disk's.
            Err(_) => {}
        }
    }
}

/// The handles of one node: per disk, and per request label set.
#[derive(Debug)]
pub(crate) struct NodeMetrics {
    pub(crate) node: String,
    pub(crate) disks: Vec<DiskMetrics>,
    requests: Handles<(&'static str, u16), (Counter, Histogram)>,
}

impl NodeMetrics {
    pub(crate) fn new(node: &str, disks: &[std::path::PathBuf]) -> Self {
        NodeMetrics {
            node: node.to_owned(),
            disks: disks.iter().map(|d| DiskMetrics::new(node, d)).collect(),
            requests: Handles::default(),
        }
    }

    /// Records one request to the node's HTTP API.
    pub(crate) fn record_request(&self, op: &'static str, status: u16, seconds: f64) {
        let (count, latency) = self.requests.get((op, status), |(op, status)| {
            let node = self.node.clone();
            (
                counter!("shale_storage_requests_total",
                    "node" => node.clone(), "op" => op, "status" => status_label(status)),
                histogram!("shale_storage_request_duration_seconds",
                    "node" => node, "op" => op),
            )
        });
        count.increment(1);
        latency.record(seconds);
    }
}

/// The operation label of a request to the node's API.
pub(crate) fn request_op(method: &http::Method, path: &str) -> &'static str {
    use http::Method as M;
    match (method, path) {
        (&M::GET, "/status") => "status",
        (&M::GET, "/scrub") => "scrub",
        (&M::GET, "/chunks") => "list",
        (m, p) if p.starts_with("/chunks/") => match *m {
            M::PUT => "put",
            M::GET => "get",
            M::HEAD => "head",
            M::DELETE => "delete",
            _ => "other",
        },
        _ => "other",
    }
}

/// Registers the scrape hook that sets the node's capacity and scrub
/// gauges; it stops reporting once `stopped` is set.
pub(crate) fn report_on_scrape(store: &ChunkStore, stopped: Arc<AtomicBool>) {
    let Some(node) = store.metrics().map(|m| m.node.clone()) else {
        return;
    };
    let store = store.downgrade();
    shale_common::metrics::on_scrape(move || {
        let store = store.clone();
        let stopped = Arc::clone(&stopped);
        let node = node.clone();
        Box::pin(async move {
            let Some(store) = ChunkStore::upgrade(&store) else {
                return false;
            };
            if stopped.load(Ordering::Relaxed) {
                return false;
            }
            if let Ok(status) = store.status().await {
                for disk in &status.disks {
                    let labels = [
                        ("node", node.clone()),
                        ("disk", disk.path.display().to_string()),
                    ];
                    if let Some(v) = disk.capacity_bytes {
                        gauge!("shale_storage_disk_capacity_bytes", &labels).set(v as f64);
                    }
                    if let Some(v) = disk.available_bytes {
                        gauge!("shale_storage_disk_available_bytes", &labels).set(v as f64);
                    }
                    gauge!("shale_storage_disk_used_bytes", &labels).set(disk.bytes_used as f64);
                    gauge!("shale_storage_disk_chunks", &labels).set(disk.chunks as f64);
                    gauge!("shale_storage_disk_healthy", &labels).set(if disk.error.is_none() {
                        1.0
                    } else {
                        0.0
                    });
                }
            }
            let scrub = store.scrub_report();
            let labels = [("node", node.clone())];
            counter!("shale_storage_scrub_passes_total", &labels).absolute(scrub.passes);
            counter!("shale_storage_scrub_chunks_verified_total", &labels)
                .absolute(scrub.chunks_checked);
            counter!("shale_storage_scrub_bytes_verified_total", &labels)
                .absolute(scrub.bytes_checked);
            gauge!("shale_storage_scrub_corrupt_chunks", &labels).set(scrub.corrupt_count as f64);
            if let Some(ms) = scrub.last_pass_ms {
                gauge!("shale_storage_scrub_last_pass_duration_seconds", &labels)
                    .set(ms as f64 / 1000.0);
            }
            true
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ops() {
        use http::Method as M;
        assert_eq!(request_op(&M::PUT, "/chunks/abc.p1.s0.0"), "put");
        assert_eq!(request_op(&M::GET, "/chunks/abc.p1.s0.0"), "get");
        assert_eq!(request_op(&M::HEAD, "/chunks/x"), "head");
        assert_eq!(request_op(&M::DELETE, "/chunks/x"), "delete");
        assert_eq!(request_op(&M::POST, "/chunks/x"), "other");
        assert_eq!(request_op(&M::GET, "/chunks"), "list");
        assert_eq!(request_op(&M::GET, "/status"), "status");
        assert_eq!(request_op(&M::GET, "/scrub"), "scrub");
        assert_eq!(request_op(&M::GET, "/nope"), "other");
    }
}
