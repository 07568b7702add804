//! The healer: rebuilds the chunks that scrubbers and reads found corrupt.
//!
//! Every storage node lists the chunks it knows to be corrupt (`/scrub`,
//! also part of `/status`). A chunk id names its place in the object:
//! `<prefix>.p<part>.s<segment>.<shard>`, and the segment's other shards are
//! the same id with another shard number, placed by the same rendezvous
//! hash. So the healer needs no metadata to repair one: it reads `k` healthy
//! sibling chunks, rebuilds the shard with Reed-Solomon, and writes it back
//! under the same id on the same node, which replaces the rotten record and
//! takes the chunk off the node's corrupt list. If the siblings are not
//! where placement puts them (the cluster changed since the write), every
//! node is asked.
//!
//! Reads report chunks a node answers "not found" for (lost from its disk):
//! those are rebuilt the same way, onto the same node.
//!
//! Chunks of nodes that are gone (a removed node) need a new placement
//! recorded in metadata: not yet done here.

use crate::ec::Codec;
use crate::error::{Error, Result};
use crate::placement::place;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use shale_common::{Coding, NodeId, NodeInfo};
use shale_metadata::MetaClient;
use shale_storage_node::StorageClient;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Missing-chunk reports from reads waiting for the healer, at most.
pub const MISSING_QUEUE: usize = 10_000;

/// How often the healer looks for work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealConfig {
    /// Seconds between rounds.
    pub interval_secs: u64,
    /// False turns the healer off in this gateway.
    pub enabled: bool,
}

impl Default for HealConfig {
    fn default() -> Self {
        HealConfig {
            interval_secs: 60,
            enabled: true,
        }
    }
}

/// What the healer did since the gateway started.
#[derive(Debug, Default)]
pub struct HealStats {
    /// Chunks rebuilt and written back.
    pub healed: AtomicU64,
    /// Attempts that failed (retried next round).
    pub failed: AtomicU64,
    /// Rounds run.
    pub rounds: AtomicU64,
    /// Chunks known to need rebuilding after the last round: those it
    /// could not rebuild, and missing-chunk reports waiting for the next.
    pub backlog: AtomicU64,
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Corrupt chunks reported by the nodes.
    pub reported: usize,
    /// Chunks rebuilt and written back.
    pub healed: usize,
    /// Chunks that could not be rebuilt this time.
    pub failed: usize,
}

/// Runs healing rounds until `stop` turns true.
pub async fn run(
    meta: MetaClient,
    storage: StorageClient,
    coding: Coding,
    config: HealConfig,
    stats: Arc<HealStats>,
    mut missing: mpsc::Receiver<(NodeId, String)>,
    mut stop: watch::Receiver<bool>,
) {
    if !config.enabled {
        return;
    }
    let codec = match Codec::new(coding) {
        Ok(codec) => codec,
        Err(e) => {
            tracing::error!(error = %e, "healer not started");
            return;
        }
    };
    let mut reported = BTreeSet::new();
    loop {
        while let Ok(report) = missing.try_recv() {
            reported.insert(report);
        }
        match heal_round(&meta, &storage, &codec, std::mem::take(&mut reported)).await {
            Ok(round) => {
                stats
                    .healed
                    .fetch_add(round.healed as u64, Ordering::Relaxed);
                stats
                    .failed
                    .fetch_add(round.failed as u64, Ordering::Relaxed);
                stats.rounds.fetch_add(1, Ordering::Relaxed);
                stats
                    .backlog
                    .store((round.failed + missing.len()) as u64, Ordering::Relaxed);
                if round.reported > 0 {
                    tracing::info!(
                        reported = round.reported,
                        healed = round.healed,
                        failed = round.failed,
                        "healing round"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "healing round failed"),
        }
        // A report arriving wakes the healer at once.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(config.interval_secs)) => {}
            Some(report) = missing.recv() => {
                reported.insert(report);
            }
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// One round: every corrupt chunk the nodes report, and every chunk reads
/// found missing (`missing`: node and chunk id), rebuilt where possible.
pub async fn heal_round(
    meta: &MetaClient,
    storage: &StorageClient,
    codec: &Codec,
    missing: BTreeSet<(NodeId, String)>,
) -> Result<Round> {
    let nodes = meta.cluster_map().await?;
    let mut todo: BTreeSet<(NodeId, String)> = missing;
    for node in &nodes {
        match storage.status(&node.addr).await {
            Ok(status) => todo.extend(status.scrub.corrupt.into_iter().map(|id| (node.id, id))),
            Err(e) => tracing::debug!(node = node.id, error = %e, "node status unavailable"),
        }
    }
    let mut round = Round::default();
    for (node_id, id) in todo {
        let Some(node) = nodes.iter().find(|n| n.id == node_id) else {
            continue;
        };
        round.reported += 1;
        match heal_chunk(storage, codec, &nodes, node, &id).await {
            Ok(()) => round.healed += 1,
            Err(e) => {
                tracing::warn!(chunk = %id, node = node.id, error = %e,
                    "could not rebuild a chunk");
                round.failed += 1;
            }
        }
    }
    Ok(round)
}

/// Rebuilds chunk `id` of `node` from its siblings and writes it back there.
pub async fn heal_chunk(
    storage: &StorageClient,
    codec: &Codec,
    nodes: &[NodeInfo],
    node: &NodeInfo,
    id: &str,
) -> Result<()> {
    let total = (codec.coding().k + codec.coding().m) as usize;
    let (segment_key, index) = id
        .rsplit_once('.')
        .and_then(|(key, i)| Some((key, i.parse::<usize>().ok()?)))
        .filter(|&(_, i)| i < total)
        .ok_or_else(|| Error::Internal(format!("{id} is not a shard chunk id")))?;
    let placed = place(segment_key, nodes, total);
    let reads = (0..total).filter(|&j| j != index).map(|j| {
        let sibling = format!("{segment_key}.{j}");
        let first = placed.get(j).copied();
        async move { (j, read_sibling(storage, nodes, first, &sibling).await) }
    });
    let mut shards: Vec<Option<Bytes>> = vec![None; total];
    for (j, data) in futures::future::join_all(reads).await {
        shards[j] = data;
    }
    // Shards of one segment are all the same length; a different one is
    // not this segment's.
    let len = shards.iter().flatten().map(Bytes::len).max().unwrap_or(0);
    for shard in &mut shards {
        if shard.as_ref().is_some_and(|s| s.len() != len) {
            *shard = None;
        }
    }
    let rebuilt = codec.reconstruct_all(shards)?;
    storage
        .put_chunk(&node.addr, id, rebuilt[index].clone())
        .await
        .map_err(|e| Error::Internal(format!("writing the rebuilt chunk: {e}")))
}

/// A sibling chunk's whole data: from the node placement names, else from
/// whichever node has it. `None` when no node has a healthy copy.
async fn read_sibling(
    storage: &StorageClient,
    nodes: &[NodeInfo],
    first: Option<&NodeInfo>,
    id: &str,
) -> Option<Bytes> {
    let order = first
        .into_iter()
        .chain(nodes.iter().filter(|n| Some(n.id) != first.map(|f| f.id)));
    for node in order {
        let Ok(info) = storage.head_chunk(&node.addr, id).await else {
            continue;
        };
        if let Ok(data) = storage.get_chunk(&node.addr, id, 0, info.size).await {
            return Some(data);
        }
    }
    None
}
