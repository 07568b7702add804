//! The metadata service's metrics (the README's "Metrics" section lists
//! them).
//!
//! - `shale_metadata_requests_total{kind,result}`: RPCs by request kind
//!   (the `MetaRequest` variant) and result (`ok` or the `MetaError`
//!   variant, e.g. `NoSuchKey`);
//!   `shale_metadata_request_duration_seconds{kind}`: their latency.
//! - `shale_metadata_commit_duration_seconds`: one synced `WriteBatch`.
//! - `shale_metadata_keys{cf}`: RocksDB's estimate of the keys in each
//!   column family (`gc_queue` is the garbage collector's backlog), read at
//!   scrape time.
//! - Raft state: [`record_raft_state`] is the place for it (term, leader,
//!   log and applied indexes), to be called by the replicated service.

use crate::store::MetaStore;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use shale_common::metrics::Handles;
use std::sync::{LazyLock, Weak};
use std::time::Instant;

static REQUESTS: LazyLock<Handles<(&'static str, &'static str), Counter>> =
    LazyLock::new(Handles::default);
static LATENCIES: LazyLock<Handles<&'static str, Histogram>> = LazyLock::new(Handles::default);

/// Records one RPC: its kind, its result and how long it took.
pub fn record_request(kind: &'static str, result: &'static str, started: Instant) {
    REQUESTS
        .get((kind, result), |(kind, result)| {
            counter!("shale_metadata_requests_total", "kind" => kind, "result" => result)
        })
        .increment(1);
    LATENCIES
        .get(
            kind,
            |kind| histogram!("shale_metadata_request_duration_seconds", "kind" => kind),
        )
        .record(started.elapsed().as_secs_f64());
}

/// Records one synced `WriteBatch` commit.
pub fn record_commit(started: Instant) {
    histogram!("shale_metadata_commit_duration_seconds").record(started.elapsed().as_secs_f64());
}

/// Sets the Raft gauges of this replica: `shale_metadata_raft_term`,
/// `_raft_leader` (1 when this replica leads), `_raft_last_log_index`,
/// `_raft_applied_index` and `_raft_commit_index`. Not called yet: the
/// metadata service is a single replica until it runs on Raft.
pub fn record_raft_state(term: u64, leader: bool, last_log: u64, applied: u64, committed: u64) {
    gauge!("shale_metadata_raft_term").set(term as f64);
    gauge!("shale_metadata_raft_leader").set(if leader { 1.0 } else { 0.0 });
    gauge!("shale_metadata_raft_last_log_index").set(last_log as f64);
    gauge!("shale_metadata_raft_applied_index").set(applied as f64);
    gauge!("shale_metadata_raft_commit_index").set(committed as f64);
}

/// Registers the scrape hook that sets `shale_metadata_keys`; it stops
/// when the store is closed.
pub fn report_on_scrape(store: Weak<MetaStore>) {
    shale_common::metrics::on_scrape(move || {
        let store = store.clone();
        Box::pin(async move {
            let Some(store) = store.upgrade() else {
                return false;
            };
            for (cf, keys) in store.estimated_keys() {
                gauge!("shale_metadata_keys", "cf" => cf).set(keys as f64);
            }
            true
        })
    });
}
