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
//!
//! **Crashed uploads.** A gateway that dies between writing chunks and
//! committing the row that names them leaves chunks nothing references.
//! The orphan sweep finds them by mark and sweep, with no cost on the PUT
//! path: it lists every node's chunks, then reads every layout in metadata
//! and the GC queue; a listed chunk that none of them names (on that node)
//! is an orphan candidate. Its age comes from its id (the chunk prefix is a
//! UUIDv7, `datapath::new_chunk_prefix`): only candidates older than
//! `orphan_grace_secs`, and found unreferenced by two sweeps in a row, are
//! deleted. The gateway refuses to commit a body whose chunks were started
//! more than `orphan_grace_secs / 2` ago (`RequestTimeout`), so a chunk
//! old enough to be swept can never become referenced afterwards; the
//! second sighting covers rows that moved under the paged scan (a
//! completion, a chunk the healer moved). Chunks whose id has no time
//! (written before UUIDv7 prefixes) are never swept.
//!
//! **Quiet sweeps.** A sweep reads every layout, so its cost grows with the
//! data. An orphan is a chunk a node holds that nothing references: it
//! appears when a node takes a chunk (a PUT that never commits, a healer's
//! copy whose swap lost), comes back with chunks (a restart after deletes
//! were lost in a crash, a lost node returning), or when a reference goes
//! without its chunk being queued for deletion (the healer's move whose
//! delete of the old copy failed: the move wrote a chunk too). So before a
//! due sweep the collector takes a [`Signature`] whose cost depends on the
//! number of nodes only: the cluster map (membership, states, up or down),
//! and each node's boot id and count of chunks written since it started
//! (counted once the chunk is in the node's index, so a listing after the
//! count has it). When the signature equals the one taken before the last
//! sweep that left nothing behind (no candidate, no unreferenced chunk too
//! young to judge, every node listed), the sweep is skipped. At least every
//! `orphan_audit_secs` (a day) a sweep runs anyway.

use crate::signature::{MapSignature, node_statuses};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shale_common::{ChunkPlacement, NodeId};
use shale_datapath::Result;
use shale_metadata::{GcEntry, MetaClient};
use shale_storage_node::StorageClient;
use std::collections::{HashMap, HashSet};
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
    /// Seconds before an unreferenced chunk (a crashed upload's) may be
    /// removed by the orphan sweep; uploads must commit within half of it.
    pub orphan_grace_secs: u64,
    /// Seconds after which an orphan sweep runs even though nothing
    /// changed since the last one that left nothing behind (see the module
    /// docs); 0 sweeps whenever one is due, as before.
    pub orphan_audit_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_secs: 300,
            interval_secs: 30,
            enabled: true,
            orphan_grace_secs: shale_datapath::datapath::DEFAULT_ORPHAN_GRACE_SECS,
            orphan_audit_secs: 86_400,
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
    /// Orphan sweeps finished.
    pub orphan_sweeps: AtomicU64,
    /// Unreferenced chunks (crashed uploads, stray copies) deleted.
    pub orphans_deleted: AtomicU64,
    /// Orphan candidates waiting for their second sighting or their grace.
    pub orphan_candidates: AtomicU64,
    /// Due orphan sweeps skipped: nothing changed since the last one that
    /// left nothing behind.
    pub orphan_quiet: AtomicU64,
    /// How long the last orphan sweep took, in milliseconds.
    pub last_orphan_sweep_ms: AtomicU64,
    /// How long the last skipped sweep's check (the signature) took, in
    /// milliseconds.
    pub last_orphan_check_ms: AtomicU64,
    /// Rounds run (each looks at the due entries, at most one batch).
    pub rounds: AtomicU64,
    /// Due entries the last round found (at most one batch, 256).
    pub due: AtomicU64,
}

/// A copy of [`GcStats`] at one moment (JSON in `/_shale/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcStatus {
    pub entries_done: u64,
    pub chunks_deleted: u64,
    pub chunk_failures: u64,
    pub orphan_sweeps: u64,
    pub orphans_deleted: u64,
    pub orphan_candidates: u64,
    #[serde(default)]
    pub orphan_quiet: u64,
    #[serde(default)]
    pub last_orphan_sweep_ms: u64,
    #[serde(default)]
    pub last_orphan_check_ms: u64,
    pub rounds: u64,
    pub due: u64,
}

impl GcStats {
    /// The figures now.
    pub fn status(&self) -> GcStatus {
        GcStatus {
            entries_done: self.entries_done.load(Ordering::Relaxed),
            chunks_deleted: self.chunks_deleted.load(Ordering::Relaxed),
            chunk_failures: self.chunk_failures.load(Ordering::Relaxed),
            orphan_sweeps: self.orphan_sweeps.load(Ordering::Relaxed),
            orphans_deleted: self.orphans_deleted.load(Ordering::Relaxed),
            orphan_candidates: self.orphan_candidates.load(Ordering::Relaxed),
            orphan_quiet: self.orphan_quiet.load(Ordering::Relaxed),
            last_orphan_sweep_ms: self.last_orphan_sweep_ms.load(Ordering::Relaxed),
            last_orphan_check_ms: self.last_orphan_check_ms.load(Ordering::Relaxed),
            rounds: self.rounds.load(Ordering::Relaxed),
            due: self.due.load(Ordering::Relaxed),
        }
    }
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
    let orphan_grace = Duration::from_secs(config.orphan_grace_secs);
    // The sweep reads everything: at most every quarter of the grace.
    let sweep_every = Duration::from_secs(config.interval_secs.max(config.orphan_grace_secs / 4));
    let audit_every = Duration::from_secs(config.orphan_audit_secs);
    let mut last_due: Option<std::time::Instant> = None;
    let mut last_sweep: Option<std::time::Instant> = None;
    // The signature taken before the last sweep that left nothing behind.
    let mut quiet_since: Option<Signature> = None;
    let mut candidates: HashSet<(NodeId, String)> = HashSet::new();
    loop {
        if last_due.is_none_or(|t| t.elapsed() >= sweep_every) {
            let checked = std::time::Instant::now();
            last_due = Some(checked);
            let signature = if config.orphan_audit_secs == 0 {
                None
            } else {
                signature(&meta, &storage).await
            };
            let audit_due = last_sweep.is_none_or(|t| t.elapsed() >= audit_every);
            if !audit_due && signature.is_some() && signature == quiet_since {
                stats
                    .last_orphan_check_ms
                    .store(checked.elapsed().as_millis() as u64, Ordering::Relaxed);
                stats.orphan_quiet.fetch_add(1, Ordering::Relaxed);
            } else {
                let started = std::time::Instant::now();
                last_sweep = Some(started);
                quiet_since = None;
                match sweep_orphans(&meta, &storage, orphan_grace, &mut candidates, &stats).await {
                    Ok(swept) => {
                        if swept.deleted > 0 {
                            tracing::info!(
                                deleted = swept.deleted,
                                "orphan sweep: unreferenced chunks deleted"
                            );
                        }
                        if swept.left_nothing() {
                            quiet_since = signature;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
                }
                stats
                    .last_orphan_sweep_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        }
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

/// What a cluster looks like to the orphan sweep, at a cost that depends on
/// the number of nodes only (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    map: MapSignature,
    /// Per node not removed: boot id, chunks written since.
    nodes: Vec<(NodeId, String, u64)>,
}

/// Takes the signature now; `None` when the metadata service or a node
/// does not answer, or a node is of an earlier release (no boot id): the
/// sweep then runs.
pub async fn signature(meta: &MetaClient, storage: &StorageClient) -> Option<Signature> {
    let view = meta.cluster_status().await.ok()?;
    let nodes = node_statuses(storage, &view)
        .await?
        .into_iter()
        .map(|(id, status)| (id, status.boot_id, status.chunks_written))
        .collect();
    Some(Signature {
        map: MapSignature::of(&view),
        nodes,
    })
}

/// What one orphan sweep found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Orphans deleted.
    pub deleted: usize,
    /// Unreferenced chunks old enough, kept for their second sighting (or
    /// whose delete failed).
    pub candidates: usize,
    /// Unreferenced chunks younger than the grace: maybe an upload still
    /// running, maybe an orphan to judge later.
    pub young: usize,
    /// Nodes whose chunks could not be listed.
    pub unlisted: usize,
}

impl Swept {
    /// True when the sweep left nothing to look at again: a later sweep
    /// over the same chunks and references would find nothing.
    pub fn left_nothing(&self) -> bool {
        self.candidates == 0 && self.young == 0 && self.unlisted == 0
    }
}

/// One orphan sweep (see the module docs): lists every node's chunks, then
/// every reference in metadata; deletes the unreferenced chunks older than
/// `grace` that the previous sweep (`candidates`) found unreferenced too.
pub async fn sweep_orphans(
    meta: &MetaClient,
    storage: &StorageClient,
    grace: Duration,
    candidates: &mut HashSet<(NodeId, String)>,
    stats: &GcStats,
) -> Result<Swept> {
    let nodes = meta.cluster_map().await?;
    // The nodes first, then metadata: a chunk committed in between is seen
    // referenced.
    let listed = futures::future::join_all(
        nodes
            .iter()
            .map(|n| async move { (n, storage.list_chunks(&n.addr).await.ok()) }),
    )
    .await;
    let mut referenced: HashSet<(NodeId, String)> = HashSet::new();
    let mut cursor = Vec::new();
    loop {
        let page = meta.scan_layouts(cursor, 500).await?;
        for entry in page.entries {
            for part in entry.parts {
                for seg in part.segments {
                    referenced.extend(seg.chunks.into_iter().map(|c| (c.node, c.chunk_id)));
                }
            }
        }
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    for entry in meta.gc_pending(u32::MAX, u64::MAX).await? {
        referenced.extend(entry.chunks.into_iter().map(|c| (c.node, c.chunk_id)));
    }
    let now = shale_datapath::datapath::unix_ms();
    let old_enough = |id: &str| {
        shale_datapath::datapath::chunk_written_ms(id)
            .is_some_and(|t| now.saturating_sub(t) > grace.as_millis() as u64)
    };
    let mut next = HashSet::new();
    let mut deleted = 0;
    let mut swept = Swept::default();
    for (node, ids) in listed {
        let Some(ids) = ids else {
            swept.unlisted += 1;
            continue;
        };
        for id in ids {
            let key = (node.id, id);
            if referenced.contains(&key) {
                continue;
            }
            if !old_enough(&key.1) {
                // Chunks with no time in their id are never swept, nor
                // waited for.
                if shale_datapath::datapath::chunk_written_ms(&key.1).is_some() {
                    swept.young += 1;
                }
                continue;
            }
            if !candidates.contains(&key) {
                next.insert(key);
                continue;
            }
            match storage.delete_chunk(&node.addr, &key.1).await {
                Ok(()) | Err(shale_storage_node::Error::NotFound(_)) => {
                    tracing::debug!(chunk = %key.1, node = node.id, "orphan chunk deleted");
                    deleted += 1;
                }
                Err(e) => {
                    tracing::debug!(chunk = %key.1, node = node.id, error = %e,
                        "orphan delete failed; kept for the next sweep");
                    next.insert(key);
                }
            }
        }
    }
    *candidates = next;
    stats.orphan_sweeps.fetch_add(1, Ordering::Relaxed);
    stats
        .orphans_deleted
        .fetch_add(deleted as u64, Ordering::Relaxed);
    stats
        .orphan_candidates
        .store(candidates.len() as u64, Ordering::Relaxed);
    swept.deleted = deleted;
    swept.candidates = candidates.len();
    Ok(swept)
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
