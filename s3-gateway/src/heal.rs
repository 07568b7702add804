//! The healer: finds chunks that are missing, rotten or never written, and
//! rebuilds them from their segment's other chunks.
//!
//! Each round is a **sweep**: every erasure-coded layout in metadata (object
//! rows, then the parts of multipart uploads in progress) is compared with
//! what the storage nodes hold (their chunk lists, and the chunks their
//! scrubbers found corrupt). A chunk needs work when
//! - its node lacks it, or holds it corrupt: rebuilt and written back in
//!   place (a wiped disk, bitrot, a write that never landed);
//! - its placement was recorded not durable (the PUT was acknowledged with
//!   fewer than k+m chunks) and the node does not hold it: rebuilt in place,
//!   then marked durable in metadata; one the node does hold (the write
//!   landed after the gateway stopped waiting) is only marked durable;
//! - its node is lost ([`Healer::node_lost`], or unreachable for longer than
//!   `lost_after_secs`): rebuilt onto a healthy node that holds no chunk of
//!   the segment yet, and the placement swapped in metadata with
//!   `SwapChunk`, which changes it only if it is still the old one (an
//!   overwrite or delete in between wins; the stray copy is then garbage for
//!   the collector's orphan sweep).
//!
//! Segments are repaired most endangered first (fewest healthy chunks). The
//! backlog (chunks known to need work and not yet repaired) and the other
//! figures are kept in [`HealStats`] (the gateway's `/_shale/status`) and
//! exported as `shale_gateway_heal_*` metrics. Chunks on a node that is unreachable
//! but not yet lost are counted as unavailable, not as backlog: the node may
//! come back.
//!
//! Reads also report chunks a node answered "not found" for; they wake the
//! healer at once. A reported chunk that no layout names (written by a PUT
//! that has not committed yet) is rebuilt the old way: its siblings are found
//! by placement (the chunk id names its segment: `<prefix>.p<part>.s<segment>
//! .<shard>`), else by asking every node, and it is written back in place.

use crate::ec::Codec;
use crate::error::{Error, Result};
use crate::placement::place;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shale_common::{ChunkPlacement, Coding, NodeId, NodeInfo, SegmentLayout};
use shale_metadata::{LayoutOwner, MetaClient};
use shale_storage_node::StorageClient;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};

/// Missing-chunk reports from reads waiting for the healer, at most.
pub const MISSING_QUEUE: usize = 10_000;
/// Owners per page of the metadata scan.
const SCAN_PAGE: u32 = 500;
/// Bound on one storage call of the healer (a stalled node must not stall
/// the sweep).
const NODE_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Segments repaired at once.
const PARALLEL: usize = 4;

/// How often the healer looks for work, and when a node counts as lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealConfig {
    /// Seconds between rounds.
    pub interval_secs: u64,
    /// False turns the healer off in this gateway.
    pub enabled: bool,
    /// A node unreachable for this many seconds is lost: its chunks are
    /// rebuilt onto other nodes.
    pub lost_after_secs: u64,
}

impl Default for HealConfig {
    fn default() -> Self {
        HealConfig {
            interval_secs: 60,
            enabled: true,
            lost_after_secs: 600,
        }
    }
}

/// What the healer did since the gateway started, and what it knows is
/// left to do (the same figures as the `shale_gateway_heal_*` metrics).
#[derive(Debug, Default)]
pub struct HealStats {
    /// Chunks rebuilt and written (in place or onto another node).
    pub healed: AtomicU64,
    /// Of `healed`, chunks rebuilt onto another node (their node was lost).
    pub moved: AtomicU64,
    /// Placements recorded not durable whose chunk was found whole on its
    /// node, and marked durable.
    pub marked_durable: AtomicU64,
    /// Objects and uploads with at least one chunk repaired.
    pub objects_healed: AtomicU64,
    /// Repairs that failed (retried next round).
    pub failed: AtomicU64,
    /// Sweeps finished.
    pub rounds: AtomicU64,
    /// Chunks known to need work and not yet repaired.
    pub backlog: AtomicU64,
    /// Chunks on nodes that are unreachable but not (yet) lost.
    pub unavailable: AtomicU64,
    /// Milliseconds the last sweep took.
    pub last_round_ms: AtomicU64,
}

/// A copy of [`HealStats`] at one moment (JSON in `/_shale/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealStatus {
    pub healed: u64,
    pub moved: u64,
    pub marked_durable: u64,
    pub objects_healed: u64,
    pub failed: u64,
    pub rounds: u64,
    pub backlog: u64,
    pub unavailable: u64,
    pub last_round_ms: u64,
}

impl HealStats {
    /// The figures now.
    pub fn status(&self) -> HealStatus {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HealStatus {
            healed: get(&self.healed),
            moved: get(&self.moved),
            marked_durable: get(&self.marked_durable),
            objects_healed: get(&self.objects_healed),
            failed: get(&self.failed),
            rounds: get(&self.rounds),
            backlog: get(&self.backlog),
            unavailable: get(&self.unavailable),
            last_round_ms: get(&self.last_round_ms),
        }
    }

    fn add(&self, field: &AtomicU64, n: u64) {
        field.fetch_add(n, Ordering::Relaxed);
    }

    fn set_backlog(&self, backlog: u64, unavailable: u64) {
        self.backlog.store(backlog, Ordering::Relaxed);
        self.unavailable.store(unavailable, Ordering::Relaxed);
    }
}

/// The healer's shared state: its figures, and the nodes declared lost.
/// The cluster map (a node marked down past its grace period, or removed)
/// calls [`Healer::node_lost`]; the healer also declares a node lost itself
/// when it has been unreachable for `lost_after_secs`.
#[derive(Debug, Default)]
pub struct Healer {
    stats: HealStats,
    lost: Mutex<BTreeSet<NodeId>>,
    wake: Notify,
}

impl Healer {
    /// The healer's figures.
    pub fn stats(&self) -> &HealStats {
        &self.stats
    }

    /// Declares `node` lost: its chunks are rebuilt onto other nodes from
    /// the next round on (which starts at once).
    pub fn node_lost(&self, node: NodeId) {
        self.lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node);
        self.wake.notify_one();
    }

    /// Takes back [`Healer::node_lost`]: `node` keeps its chunks again.
    pub fn node_back(&self, node: NodeId) {
        self.lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&node);
    }

    fn lost_nodes(&self) -> BTreeSet<NodeId> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs healing rounds until `stop` turns true.
pub async fn run(
    meta: MetaClient,
    storage: StorageClient,
    coding: Coding,
    config: HealConfig,
    healer: Arc<Healer>,
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
    let storage = storage.with_timeout(NODE_CALL_TIMEOUT);
    let mut reported = BTreeSet::new();
    let mut down_since: HashMap<NodeId, Instant> = HashMap::new();
    let lost_after = Duration::from_secs(config.lost_after_secs);
    loop {
        while let Ok(report) = missing.try_recv() {
            reported.insert(report);
        }
        let started = Instant::now();
        match sweep(&meta, &storage, &healer, &mut down_since, lost_after).await {
            Ok(swept) => {
                let stats = healer.stats();
                stats
                    .last_round_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                stats.rounds.fetch_add(1, Ordering::Relaxed);
                if swept.found > 0 {
                    tracing::info!(
                        found = swept.found,
                        healed = swept.healed,
                        failed = swept.failed,
                        unavailable = swept.unavailable,
                        "healing sweep"
                    );
                }
                // Reports the sweep saw are handled; the rest (chunks of
                // writes not committed yet) the old way.
                reported.retain(|r| !swept.known.contains(r));
            }
            Err(e) => tracing::warn!(error = %e, "healing sweep failed"),
        }
        if !reported.is_empty() {
            match heal_round(&meta, &storage, &codec, std::mem::take(&mut reported)).await {
                Ok(round) => {
                    let stats = healer.stats();
                    stats.add(&stats.healed, round.healed as u64);
                    stats.add(&stats.failed, round.failed as u64);
                }
                Err(e) => tracing::warn!(error = %e, "healing round failed"),
            }
        }
        // A report arriving (or a node declared lost) wakes the healer.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(config.interval_secs)) => {}
            Some(report) = missing.recv() => {
                reported.insert(report);
            }
            () = healer.wake.notified() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// What one sweep found and did.
#[derive(Debug, Default)]
pub struct Swept {
    /// Chunks that needed work.
    pub found: usize,
    /// Chunks repaired (rebuilt, moved or marked durable).
    pub healed: usize,
    /// Repairs that failed.
    pub failed: usize,
    /// Chunks on unreachable nodes that are not lost.
    pub unavailable: usize,
    /// Every (node, chunk) some layout names.
    pub known: HashSet<(NodeId, String)>,
}

/// What a chunk of a segment needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Nothing: its node holds it.
    Nothing,
    /// Its node is unreachable; it may come back.
    Unavailable,
    /// Its node holds it, but the placement says not durable.
    MarkDurable,
    /// Its node lacks it or holds it corrupt: rebuild it there.
    Rebuild,
    /// Its node is lost: rebuild it elsewhere.
    Move,
}

/// One segment with work to do.
struct Job {
    owner: LayoutOwner,
    part_number: u32,
    segment: u32,
    coding: Coding,
    layout: SegmentLayout,
    needs: Vec<Need>,
}

impl Job {
    fn healthy(&self) -> usize {
        self.needs
            .iter()
            .filter(|n| matches!(n, Need::Nothing | Need::MarkDurable))
            .count()
    }

    fn work(&self) -> usize {
        self.needs
            .iter()
            .filter(|n| matches!(n, Need::MarkDurable | Need::Rebuild | Need::Move))
            .count()
    }
}

/// One sweep: every layout in metadata against what the nodes hold, and
/// the repairs, most endangered segments first.
pub async fn sweep(
    meta: &MetaClient,
    storage: &StorageClient,
    healer: &Healer,
    down_since: &mut HashMap<NodeId, Instant>,
    lost_after: Duration,
) -> Result<Swept> {
    // Metadata first, then the nodes: a chunk a row named before the
    // listing must be in it, unless it is really gone.
    let mut entries = Vec::new();
    let mut cursor = Vec::new();
    loop {
        let page = meta.scan_layouts(cursor, SCAN_PAGE).await?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let nodes = meta.cluster_map().await?;
    let holdings = futures::future::join_all(nodes.iter().map(|n| async move {
        let list = storage.list_chunks(&n.addr).await;
        let corrupt = storage.status(&n.addr).await.map(|s| s.scrub.corrupt);
        match (list, corrupt) {
            (Ok(list), Ok(corrupt)) => {
                let corrupt: HashSet<String> = corrupt.into_iter().collect();
                let whole: HashSet<String> =
                    list.into_iter().filter(|c| !corrupt.contains(c)).collect();
                Some(whole)
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(node = n.id, error = %e, "node unreachable for the healer");
                None
            }
        }
    }))
    .await;
    let now = Instant::now();
    let mut lost = healer.lost_nodes();
    let mut holds: HashMap<NodeId, HashSet<String>> = HashMap::new();
    for (node, held) in nodes.iter().zip(holdings) {
        match held {
            Some(h) => {
                down_since.remove(&node.id);
                holds.insert(node.id, h);
            }
            None => {
                let since = *down_since.entry(node.id).or_insert(now);
                if now.duration_since(since) >= lost_after {
                    lost.insert(node.id);
                }
            }
        }
    }
    // A node not in the cluster map any more is lost too.
    let mapped: HashSet<NodeId> = nodes.iter().map(|n| n.id).collect();

    let mut swept = Swept::default();
    let mut jobs = Vec::new();
    for entry in entries {
        for part in &entry.parts {
            for (s, seg) in part.segments.iter().enumerate() {
                let needs: Vec<Need> = seg
                    .chunks
                    .iter()
                    .map(|c| {
                        swept.known.insert((c.node, c.chunk_id.clone()));
                        if lost.contains(&c.node) || !mapped.contains(&c.node) {
                            return Need::Move;
                        }
                        match holds.get(&c.node) {
                            None => Need::Unavailable,
                            Some(h) if h.contains(&c.chunk_id) => {
                                if c.durable {
                                    Need::Nothing
                                } else {
                                    Need::MarkDurable
                                }
                            }
                            Some(_) => Need::Rebuild,
                        }
                    })
                    .collect();
                swept.unavailable += needs.iter().filter(|n| **n == Need::Unavailable).count();
                let job = Job {
                    owner: entry.owner.clone(),
                    part_number: part.number,
                    segment: s as u32,
                    coding: part.coding,
                    layout: seg.clone(),
                    needs,
                };
                if job.work() > 0 {
                    swept.found += job.work();
                    jobs.push(job);
                }
            }
        }
    }
    // Most endangered first.
    jobs.sort_by_key(Job::healthy);
    let stats = healer.stats();
    let mut backlog = swept.found as u64;
    stats.set_backlog(backlog, swept.unavailable as u64);

    let nodes = &nodes;
    let holds = &holds;
    let lost = &lost;
    let mut results = futures::stream::iter(jobs)
        .map(|job| async move {
            let outcome = repair(meta, storage, nodes, holds, lost, &job).await;
            (job, outcome)
        })
        .buffer_unordered(PARALLEL);
    let mut healed_owners: HashSet<LayoutOwner> = HashSet::new();
    while let Some((job, outcome)) = results.next().await {
        swept.healed += outcome.rebuilt + outcome.marked;
        swept.failed += outcome.failed;
        backlog = backlog.saturating_sub((outcome.rebuilt + outcome.marked) as u64);
        stats.set_backlog(backlog, swept.unavailable as u64);
        stats.add(&stats.healed, outcome.rebuilt as u64);
        stats.add(&stats.moved, outcome.moved as u64);
        stats.add(&stats.marked_durable, outcome.marked as u64);
        stats.add(&stats.failed, outcome.failed as u64);
        if outcome.rebuilt + outcome.marked > 0 && healed_owners.insert(job.owner.clone()) {
            stats.add(&stats.objects_healed, 1);
        }
    }
    Ok(swept)
}

/// What the repair of one segment did.
#[derive(Debug, Default)]
struct Outcome {
    rebuilt: usize,
    moved: usize,
    marked: usize,
    failed: usize,
}

/// Repairs one segment: reads the healthy chunks, rebuilds the others,
/// writes them (in place, or onto a new node for a lost one) and records
/// what changed in metadata.
async fn repair(
    meta: &MetaClient,
    storage: &StorageClient,
    nodes: &[NodeInfo],
    holds: &HashMap<NodeId, HashSet<String>>,
    lost: &BTreeSet<NodeId>,
    job: &Job,
) -> Outcome {
    let mut out = Outcome::default();
    let addr = |id: NodeId| nodes.iter().find(|n| n.id == id).map(|n| n.addr.as_str());
    let chunks = &job.layout.chunks;
    let slot = (job.part_number, job.segment, 0u32);
    let mark = |i: usize| {
        let old = chunks[i].clone();
        let new = ChunkPlacement {
            durable: true,
            ..old.clone()
        };
        async move {
            meta.swap_chunk(job.owner.clone(), (slot.0, slot.1, i as u32), old, new)
                .await
        }
    };

    let rebuild: Vec<usize> = (0..chunks.len())
        .filter(|&i| matches!(job.needs[i], Need::Rebuild | Need::Move))
        .collect();
    let shards = if rebuild.is_empty() {
        Vec::new()
    } else {
        match rebuild_shards(storage, &addr, job).await {
            Ok(shards) => shards,
            Err(e) => {
                tracing::warn!(segment = %segment_key(&chunks[0].chunk_id), error = %e,
                    "could not rebuild a segment");
                out.failed += rebuild.len();
                Vec::new()
            }
        }
    };
    // Nodes already holding a chunk of this segment never get a second one.
    let mut taken: HashSet<NodeId> = chunks
        .iter()
        .zip(&job.needs)
        .filter(|(_, n)| **n != Need::Move)
        .map(|(c, _)| c.node)
        .collect();
    for (i, need) in job.needs.iter().enumerate() {
        let chunk = &chunks[i];
        match need {
            Need::Nothing | Need::Unavailable => {}
            Need::MarkDurable => match mark(i).await {
                Ok(_) => out.marked += 1,
                Err(e) => {
                    tracing::warn!(chunk = %chunk.chunk_id, error = %e, "marking durable failed");
                    out.failed += 1;
                }
            },
            Need::Rebuild => {
                let Some(data) = shards.get(i).cloned() else {
                    continue;
                };
                let Some(a) = addr(chunk.node) else {
                    out.failed += 1;
                    continue;
                };
                match storage.put_chunk(a, &chunk.chunk_id, data).await {
                    Ok(()) => {
                        out.rebuilt += 1;
                        if !chunk.durable
                            && let Err(e) = mark(i).await
                        {
                            tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                                "rebuilt, but marking durable failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(chunk = %chunk.chunk_id, node = chunk.node, error = %e,
                            "writing a rebuilt chunk failed");
                        out.failed += 1;
                    }
                }
            }
            Need::Move => {
                let Some(data) = shards.get(i).cloned() else {
                    continue;
                };
                match move_chunk(meta, storage, nodes, holds, lost, &taken, job, i, data).await {
                    Ok(Some(node)) => {
                        taken.insert(node);
                        out.rebuilt += 1;
                        out.moved += 1;
                    }
                    Ok(None) => out.rebuilt += 1, // the row changed: nothing to move
                    Err(e) => {
                        tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                            "could not move a chunk off a lost node");
                        out.failed += 1;
                    }
                }
            }
        }
    }
    out
}

/// Every shard of the job's segment: read from the healthy chunks, the rest
/// rebuilt with Reed-Solomon.
async fn rebuild_shards<'a>(
    storage: &StorageClient,
    addr: &impl Fn(NodeId) -> Option<&'a str>,
    job: &Job,
) -> Result<Vec<Bytes>> {
    let size = job.layout.shard_size;
    let reads = job.layout.chunks.iter().zip(&job.needs).map(|(c, need)| {
        let a = addr(c.node);
        async move {
            if !matches!(need, Need::Nothing | Need::MarkDurable) {
                return None;
            }
            storage.get_chunk(a?, &c.chunk_id, 0, size).await.ok()
        }
    });
    let shards: Vec<Option<Bytes>> = futures::future::join_all(reads).await;
    let codec = Codec::new(job.coding)?;
    tokio::task::spawn_blocking(move || codec.reconstruct_all(shards))
        .await
        .map_err(|e| Error::Internal(format!("decoder task: {e}")))?
}

/// Writes shard `i` of the job's segment onto a healthy node holding no
/// chunk of the segment (in rendezvous order), then swaps the placement in
/// metadata. `Some(node)` once moved; `None` when the row changed meanwhile
/// (the new copy is deleted again).
#[allow(clippy::too_many_arguments)]
async fn move_chunk(
    meta: &MetaClient,
    storage: &StorageClient,
    nodes: &[NodeInfo],
    holds: &HashMap<NodeId, HashSet<String>>,
    lost: &BTreeSet<NodeId>,
    taken: &HashSet<NodeId>,
    job: &Job,
    i: usize,
    data: Bytes,
) -> Result<Option<NodeId>> {
    let old = &job.layout.chunks[i];
    let candidates: Vec<NodeInfo> = nodes
        .iter()
        .filter(|n| holds.contains_key(&n.id) && !lost.contains(&n.id) && !taken.contains(&n.id))
        .cloned()
        .collect();
    let key = segment_key(&old.chunk_id);
    for target in place(key, &candidates, candidates.len()) {
        if let Err(e) = storage
            .put_chunk(&target.addr, &old.chunk_id, data.clone())
            .await
        {
            tracing::debug!(node = target.id, error = %e, "moving a chunk: node refused");
            continue;
        }
        let new = ChunkPlacement {
            node: target.id,
            chunk_id: old.chunk_id.clone(),
            durable: true,
        };
        let swapped = meta
            .swap_chunk(
                job.owner.clone(),
                (job.part_number, job.segment, i as u32),
                old.clone(),
                new,
            )
            .await?;
        if swapped {
            return Ok(Some(target.id));
        }
        let _ = storage.delete_chunk(&target.addr, &old.chunk_id).await;
        return Ok(None);
    }
    Err(Error::NotEnoughNodes(format!(
        "no healthy node without a chunk of {key}"
    )))
}

/// The segment part of a chunk id (`<prefix>.p<part>.s<segment>`).
fn segment_key(chunk_id: &str) -> &str {
    chunk_id.rsplit_once('.').map_or(chunk_id, |(k, _)| k)
}

/// What one round of reported chunks did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Chunks reported.
    pub reported: usize,
    /// Chunks rebuilt and written back.
    pub healed: usize,
    /// Chunks that could not be rebuilt this time.
    pub failed: usize,
}

/// One round over chunks reads found missing (`missing`: node and chunk
/// id) that no layout names (yet): each rebuilt from siblings found by
/// placement and written back in place, where possible.
pub async fn heal_round(
    meta: &MetaClient,
    storage: &StorageClient,
    codec: &Codec,
    missing: BTreeSet<(NodeId, String)>,
) -> Result<Round> {
    let nodes = meta.cluster_map().await?;
    let todo: BTreeSet<(NodeId, String)> = missing;
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
