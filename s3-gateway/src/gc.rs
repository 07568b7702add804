//! Garbage collection: deletes the chunks of replaced and deleted versions.
//!
//! The metadata service queues a replaced or deleted version's chunks in
//! the same batch as the change that unreferenced them (`gc_queue`). This
//! worker takes entries older than a grace period — a GET that read the old
//! row just before the change may still be reading its chunks — deletes
//! every chunk on its node, and removes the entry once all of them are gone.
//! A node that cannot be reached keeps the entry for the next round; a node
//! no longer in the cluster map holds nothing to delete. Deletes are
//! idempotent, so several gateways may collect at once.

use crate::error::Result;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shale_common::{ChunkPlacement, NodeId};
use shale_metadata::{GcEntry, MetaClient};
use shale_storage_node::StorageClient;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Queue entries handled per round.
const BATCH: u32 = 256;
/// Entries deleted in parallel.
const PARALLEL: usize = 8;

/// When and how the collector runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcConfig {
    /// Seconds an entry waits in the queue before its chunks are deleted.
    pub grace_secs: u64,
    /// Seconds between rounds when the queue has nothing due.
    pub interval_secs: u64,
    /// False turns the collector off in this gateway.
    pub enabled: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_secs: 300,
            interval_secs: 30,
            enabled: true,
        }
    }
}

/// What the collector did since the gateway started.
#[derive(Debug, Default)]
pub struct GcStats {
    /// Queue entries finished (all their chunks gone).
    pub entries_done: AtomicU64,
    /// Chunks deleted (or found already gone).
    pub chunks_deleted: AtomicU64,
    /// Chunk deletes that failed and will be retried.
    pub chunk_failures: AtomicU64,
    /// Rounds run (each looks at the due entries, at most one batch).
    pub rounds: AtomicU64,
    /// Due entries the last round found (at most one batch, 256).
    pub due: AtomicU64,
}

/// Runs collection rounds until `stop` turns true.
pub async fn run(
    meta: MetaClient,
    storage: StorageClient,
    config: GcConfig,
    stats: Arc<GcStats>,
    mut stop: watch::Receiver<bool>,
) {
    if !config.enabled {
        return;
    }
    let grace = Duration::from_secs(config.grace_secs);
    loop {
        let busy = match collect(&meta, &storage, grace, &stats).await {
            Ok(round) => {
                if round.entries > 0 {
                    tracing::info!(
                        entries = round.entries,
                        done = round.done,
                        chunks = round.chunks,
                        "garbage collection round"
                    );
                }
                // A full batch means more may be due right away.
                round.entries == BATCH as usize && round.done > 0
            }
            Err(e) => {
                tracing::warn!(error = %e, "garbage collection round failed");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(config.interval_secs)) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Due entries looked at.
    pub entries: usize,
    /// Entries whose chunks are all gone now (removed from the queue).
    pub done: usize,
    /// Chunks deleted or found gone.
    pub chunks: usize,
}

/// One round: the due entries (queued more than `grace` ago), their chunks
/// deleted, the finished entries removed from the queue.
pub async fn collect(
    meta: &MetaClient,
    storage: &StorageClient,
    grace: Duration,
    stats: &GcStats,
) -> Result<Round> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let due_before = now.saturating_sub(grace).as_millis() as u64;
    let entries = meta.gc_pending(BATCH, due_before).await?;
    stats.rounds.fetch_add(1, Ordering::Relaxed);
    stats.due.store(entries.len() as u64, Ordering::Relaxed);
    if entries.is_empty() {
        return Ok(Round::default());
    }
    let nodes: HashMap<NodeId, String> = meta
        .cluster_map()
        .await?
        .into_iter()
        .map(|n| (n.id, n.addr))
        .collect();
    let nodes = &nodes;
    let results: Vec<(Vec<u8>, usize, usize)> = futures::stream::iter(entries)
        .map(|entry: GcEntry| async move {
            let (deleted, failed) = delete_all(storage, nodes, &entry.chunks).await;
            (entry.key, deleted, failed)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut round = Round {
        entries: results.len(),
        ..Round::default()
    };
    let mut done = Vec::new();
    let mut failed = 0;
    for (key, deleted, failures) in results {
        round.chunks += deleted;
        failed += failures;
        if failures == 0 {
            done.push(key);
        }
    }
    stats
        .chunk_failures
        .fetch_add(failed as u64, Ordering::Relaxed);
    round.done = done.len();
    stats
        .chunks_deleted
        .fetch_add(round.chunks as u64, Ordering::Relaxed);
    if !done.is_empty() {
        meta.gc_done(done).await?;
    }
    stats
        .entries_done
        .fetch_add(round.done as u64, Ordering::Relaxed);
    Ok(round)
}

/// Deletes every chunk; returns how many are gone and how many deletes
/// failed.
async fn delete_all(
    storage: &StorageClient,
    nodes: &HashMap<NodeId, String>,
    chunks: &[ChunkPlacement],
) -> (usize, usize) {
    let mut deleted = 0;
    let mut failed = 0;
    for chunk in chunks {
        let Some(addr) = nodes.get(&chunk.node) else {
            // The node left the cluster: nothing of it to delete.
            deleted += 1;
            continue;
        };
        match storage.delete_chunk(addr, &chunk.chunk_id).await {
            Ok(()) | Err(shale_storage_node::Error::NotFound(_)) => deleted += 1,
            Err(e) => {
                tracing::debug!(chunk = %chunk.chunk_id, node = chunk.node, error = %e,
                    "chunk delete failed; kept for the next round");
                failed += 1;
            }
        }
    }
    (deleted, failed)
}
