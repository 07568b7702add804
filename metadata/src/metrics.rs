//! The metadata service's metrics (the README's "Metrics" section lists
//! them).
//!
//! - `shale_metadata_requests_total{kind,result}`: RPCs by request kind
//!   (the `MetaRequest` variant) and result (`ok` or the `MetaError`
//!   variant, e.g. `NoSuchKey`);
//!   `shale_metadata_request_duration_seconds{kind}`: their latency.
//! - `shale_metadata_commit_duration_seconds`: one synced `WriteBatch`.
//! - `shale_metadata_read_round_reads`: the reads one leadership
//!   confirmation served, in a group of several voters (`read_barrier.rs`).
//! - `shale_metadata_memory_reads_total{result}`: point reads tried from
//!   memory on the RPC's thread (`store/memory_reads.rs`): `answered`, or
//!   `gave_way` to the blocking pool.
//! - `shale_metadata_keys{cf}`: RocksDB's estimate of the keys in each
//!   column family (`gc_queue` is the garbage collector's backlog), read at
//!   scrape time.
//! - Raft state, read from openraft's metrics at scrape time:
//!   `shale_metadata_raft_term`, `_raft_leader` (1 on the replica that
//!   leads), `_raft_last_log_index`, `_raft_applied_index`,
//!   `_raft_snapshot_index`, `_raft_voters`, and on the leader
//!   `shale_metadata_raft_replica_lag_entries{replica}` (entries a replica's
//!   log is behind the leader's).

use crate::raft::NodeId;
use crate::store::MetaStore;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use openraft::{BasicNode, RaftMetrics};
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

/// Records one durable commit: a synced `WriteBatch`, or the WAL sync
/// that ends a Raft apply.
pub fn record_commit(started: Instant) {
    histogram!("shale_metadata_commit_duration_seconds").record(started.elapsed().as_secs_f64());
}

/// Records one round of leadership confirmation and the reads it served.
pub fn record_read_round(reads: usize) {
    static READS: LazyLock<Histogram> =
        LazyLock::new(|| histogram!("shale_metadata_read_round_reads"));
    READS.record(reads as f64);
}

/// Records a point read tried from memory: answered there or not.
pub fn record_memory_read(answered: bool) {
    static ANSWERED: LazyLock<Counter> =
        LazyLock::new(|| counter!("shale_metadata_memory_reads_total", "result" => "answered"));
    static GAVE_WAY: LazyLock<Counter> =
        LazyLock::new(|| counter!("shale_metadata_memory_reads_total", "result" => "gave_way"));
    if answered { &ANSWERED } else { &GAVE_WAY }.increment(1);
}

/// Sets the Raft gauges of this replica from openraft's metrics.
pub fn record_raft_state(m: &RaftMetrics<NodeId, BasicNode>) {
    let last_log = m.last_log_index.unwrap_or(0);
    gauge!("shale_metadata_raft_term").set(m.current_term as f64);
    gauge!("shale_metadata_raft_leader").set(if m.current_leader == Some(m.id) {
        1.0
    } else {
        0.0
    });
    gauge!("shale_metadata_raft_last_log_index").set(last_log as f64);
    gauge!("shale_metadata_raft_applied_index").set(m.last_applied.map_or(0, |l| l.index) as f64);
    gauge!("shale_metadata_raft_snapshot_index").set(m.snapshot.map_or(0, |l| l.index) as f64);
    gauge!("shale_metadata_raft_voters")
        .set(m.membership_config.membership().voter_ids().count() as f64);
    if let Some(replication) = &m.replication {
        for (id, matched) in replication {
            let lag = last_log.saturating_sub(matched.map_or(0, |l| l.index));
            gauge!("shale_metadata_raft_replica_lag_entries", "replica" => id.to_string())
                .set(lag as f64);
        }
    }
}

/// Registers the scrape hook that sets `shale_metadata_keys` and the Raft
/// gauges; it stops when the store is closed.
pub fn report_on_scrape(
    store: Weak<MetaStore>,
    raft: tokio::sync::watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
) {
    shale_common::metrics::on_scrape(move || {
        let store = store.clone();
        let raft = raft.clone();
        Box::pin(async move {
            let Some(store) = store.upgrade() else {
                return false;
            };
            for (cf, keys) in store.estimated_keys() {
                gauge!("shale_metadata_keys", "cf" => cf).set(keys as f64);
            }
            record_raft_state(&raft.borrow());
            true
        })
    });
}
