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
//! - its node is draining or removed (cluster map) and still reachable:
//!   the chunk is read from it (or rebuilt from k siblings when that read
//!   fails), written to an active node holding no chunk of the segment
//!   (nodes of zones the segment does not use yet first), swapped in with
//!   `SwapChunk`, and only then deleted from the draining node. When the
//!   swap fails, the new copy is deleted unless the row names it (another
//!   gateway's healer made the same move first: every gateway runs a healer,
//!   and the CAS decides which move counts); a chunk a layout references is
//!   never deleted. These copies are throttled (`move_bytes_per_sec`),
//!   and made only by the healer holding the metadata lease `heal-moves`
//!   (taken or renewed each sweep, for three sweeps, and every third of
//!   that during a long sweep of moves): with several
//!   gateways the cluster still moves at one gateway's rate. The CAS stays
//!   the safety net when a lease runs out in the middle of a move.
//!   Two healers moving two shards of one segment to the same node at once
//!   both win their swap (each checks only its own shard); a sweep that
//!   finds a node holding two chunks of a segment moves the second one off
//!   the same way (counted in the backlog: that node is worth two shards).
//!
//! A sweep with nothing else to do **rebalances**: it plans moves of chunks
//! from the fullest active nodes (referenced bytes over capacity) to the
//! emptiest, the same way as a drain, until they are within
//! `rebalance_tolerance_pct` of the mean, never overshooting, so a balanced
//! cluster plans nothing. New writes keep being placed by rendezvous
//! hashing over every active node; a moved chunk's new node is recorded in
//! its layout, so reads follow it.
//!
//! Nodes are lost when the cluster map shows them down for
//! `lost_after_secs` past their lease ([`Healer::node_lost`], taken back
//! when they are up again), when the healer could not reach them for as
//! long, or when they are removed and unreachable.
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

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shale_common::{ChunkPlacement, Coding, NodeId, NodeInfo, SegmentLayout};
use shale_datapath::ec::Codec;
use shale_datapath::placement::place;
use shale_datapath::{Error, Result};
use shale_metadata::{LayoutEntry, LayoutOwner, MetaClient, NodeState};
use shale_storage_node::StorageClient;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
    /// rebuilt onto other nodes. The same grace applies to the cluster
    /// map: a node whose heartbeat lease ran out this long ago is lost.
    pub lost_after_secs: u64,
    /// Bytes per second the healer copies when it moves healthy chunks
    /// (draining a node, rebalancing onto a new one); 0: no limit.
    /// Rebuilding the chunks of lost nodes is not throttled.
    pub move_bytes_per_sec: u64,
    /// False: never move chunks only to even out the nodes' fill.
    pub rebalance: bool,
    /// Rebalancing stops once the fullest and the emptiest active node are
    /// within this many percent (of the mean fill) of each other.
    pub rebalance_tolerance_pct: u64,
    /// Most chunks one sweep plans to move for rebalancing (the next sweep
    /// plans the next ones).
    pub rebalance_moves_per_sweep: u64,
}

impl Default for HealConfig {
    fn default() -> Self {
        HealConfig {
            interval_secs: 60,
            enabled: true,
            lost_after_secs: 600,
            move_bytes_per_sec: 32 << 20,
            rebalance: true,
            rebalance_tolerance_pct: 5,
            rebalance_moves_per_sweep: 256,
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
    /// When the last sweep finished (Unix ms; 0: none yet).
    pub last_sweep_unix_ms: AtomicU64,
    /// Chunks that draining or removed nodes still hold for some layout.
    pub drain_backlog: AtomicU64,
    /// Chunks moved off draining or removed nodes.
    pub drained: AtomicU64,
    /// Chunks the current rebalancing plan still has to move.
    pub rebalance_backlog: AtomicU64,
    /// Chunks moved to even out the nodes' fill.
    pub rebalanced: AtomicU64,
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
    pub last_sweep_unix_ms: u64,
    pub drain_backlog: u64,
    pub drained: u64,
    pub rebalance_backlog: u64,
    pub rebalanced: u64,
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
            last_sweep_unix_ms: get(&self.last_sweep_unix_ms),
            drain_backlog: get(&self.drain_backlog),
            drained: get(&self.drained),
            rebalance_backlog: get(&self.rebalance_backlog),
            rebalanced: get(&self.rebalanced),
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
/// Each sweep declares lost ([`Healer::node_lost`]) the nodes the cluster
/// map shows down for longer than `lost_after_secs` past their lease, and
/// takes it back ([`Healer::node_back`]) once they are up again; it also
/// treats as lost the nodes it could not reach for `lost_after_secs`, and
/// removed nodes it cannot reach.
#[derive(Debug, Default)]
pub struct Healer {
    stats: HealStats,
    lost: Mutex<BTreeSet<NodeId>>,
    /// Of `lost`, the nodes the cluster map made lost (taken back when the
    /// map shows them up); the others were declared by hand.
    map_lost: Mutex<BTreeSet<NodeId>>,
    /// Chunks left to move per draining (or removed) node, as of the last
    /// sweep that saw the node in that state.
    drain_left: Mutex<BTreeMap<NodeId, u64>>,
    wake: Notify,
    /// This healer's name for the `heal-moves` lease (random, made once).
    holder: std::sync::OnceLock<String>,
}

impl Healer {
    /// The healer's figures.
    pub fn stats(&self) -> &HealStats {
        &self.stats
    }

    /// Takes or renews the `heal-moves` lease ([`move_lease_ttl_ms`]);
    /// false when another gateway's healer has it or the metadata
    /// service does not answer.
    async fn holds_move_lease(&self, meta: &MetaClient, config: &HealConfig) -> bool {
        let holder = self
            .holder
            .get_or_init(|| format!("healer-{:016x}", rand::random::<u64>()));
        match meta
            .take_lease(MOVE_LEASE, holder, move_lease_ttl_ms(config))
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::debug!(error = %e, "heal-moves lease not taken");
                false
            }
        }
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

    /// The nodes declared lost now.
    pub fn lost_nodes(&self) -> BTreeSet<NodeId> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Starts a round now (a node was drained, removed or added).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Chunks each draining or removed node still holds for some layout,
    /// as the last sweep counted them (and its moves since); a node drained
    /// after that sweep is not listed yet.
    pub fn drain_left(&self) -> BTreeMap<NodeId, u64> {
        self.drain_left
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Follows the cluster map: `down_long` are the nodes down past the
    /// grace now; the ones it declared lost before and that are no longer
    /// down are taken back.
    fn follow_map(&self, down_long: &BTreeSet<NodeId>) {
        let mut mine = self.map_lost.lock().unwrap_or_else(|e| e.into_inner());
        for gone in mine.difference(down_long).copied().collect::<Vec<_>>() {
            self.node_back(gone);
            mine.remove(&gone);
        }
        for &n in down_long {
            if mine.insert(n) {
                tracing::warn!(
                    node = n,
                    "node down past the grace period: its chunks are rebuilt elsewhere"
                );
                self.lost
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(n);
            }
        }
    }

    fn set_drain_left(&self, left: BTreeMap<NodeId, u64>) {
        *self.drain_left.lock().unwrap_or_else(|e| e.into_inner()) = left;
    }

    fn drained_one(&self, node: NodeId) {
        if let Some(n) = self
            .drain_left
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&node)
        {
            *n = n.saturating_sub(1);
        }
        let _ = self
            .stats
            .drain_backlog
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(1))
            });
    }
}

/// Bounds the bytes per second the healer moves (a shared schedule: each
/// copy waits until the copies before it have had their share of time).
#[derive(Debug)]
pub struct Throttle {
    bytes_per_sec: u64,
    next: tokio::sync::Mutex<Instant>,
}

impl Throttle {
    /// `bytes_per_sec` 0: no limit.
    pub fn new(bytes_per_sec: u64) -> Self {
        Throttle {
            bytes_per_sec,
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the turn of a copy of `bytes`.
    pub async fn take(&self, bytes: u64) {
        if self.bytes_per_sec == 0 {
            return;
        }
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            if *next < now {
                *next = now;
            }
            let wait = *next - now;
            *next += Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
            wait
        };
        tokio::time::sleep(wait).await;
    }
}

/// The lease that makes one gateway's healer the one that moves chunks.
const MOVE_LEASE: &str = "heal-moves";

/// How long the `heal-moves` lease is taken for: three sweeps, at least
/// 10 s (renewed each sweep, and every third of it during a long one).
fn move_lease_ttl_ms(config: &HealConfig) -> u64 {
    config.interval_secs.saturating_mul(3_000).max(10_000)
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
    let throttle = Throttle::new(config.move_bytes_per_sec);
    loop {
        while let Ok(report) = missing.try_recv() {
            reported.insert(report);
        }
        let started = Instant::now();
        match sweep(
            &meta,
            &storage,
            &healer,
            &mut down_since,
            &config,
            &throttle,
        )
        .await
        {
            Ok(swept) => {
                let stats = healer.stats();
                stats
                    .last_round_ms
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                let unix_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                stats.last_sweep_unix_ms.store(unix_ms, Ordering::Relaxed);
                stats.rounds.fetch_add(1, Ordering::Relaxed);
                if swept.found + swept.to_move > 0 {
                    tracing::info!(
                        found = swept.found,
                        to_move = swept.to_move,
                        moved = swept.moved,
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
    /// Healthy chunks to move (off draining or removed nodes, or to even
    /// out the nodes' fill).
    pub to_move: usize,
    /// Of `to_move`, chunks moved.
    pub moved: usize,
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
    /// Its node is lost (or is being drained and lacks it): rebuild it
    /// elsewhere.
    Move,
    /// Its node is draining (or removed) and holds it: copy it elsewhere,
    /// then delete it there.
    Drain,
    /// Copy it to this node (rebalancing), then delete it where it was.
    Rebalance(NodeId),
    /// Its node holds another chunk of the segment too (two healers moved
    /// two shards to one node at once; each swap only checks its own
    /// shard): copy it elsewhere, then delete it there.
    Spread,
}

impl Need {
    /// Its chunk can be read from its node.
    fn readable(self) -> bool {
        matches!(
            self,
            Need::Nothing | Need::MarkDurable | Need::Drain | Need::Rebalance(_) | Need::Spread
        )
    }
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
        self.needs.iter().filter(|n| n.readable()).count()
    }

    /// Repairs (the backlog).
    fn work(&self) -> usize {
        self.needs
            .iter()
            .filter(|n| {
                matches!(
                    n,
                    Need::MarkDurable | Need::Rebuild | Need::Move | Need::Spread
                )
            })
            .count()
    }

    /// Healthy chunks to move.
    fn moves(&self) -> usize {
        self.needs
            .iter()
            .filter(|n| matches!(n, Need::Drain | Need::Rebalance(_)))
            .count()
    }
}

/// What the cluster map and the nodes' answers say about the nodes, for
/// one sweep.
struct NodesView {
    /// Every node in the map.
    nodes: Vec<NodeInfo>,
    /// The chunks each reachable node holds whole.
    holds: HashMap<NodeId, HashSet<String>>,
    /// Nodes whose chunks are rebuilt elsewhere.
    lost: BTreeSet<NodeId>,
    /// Draining or removed nodes (reachable or not).
    leaving: BTreeSet<NodeId>,
    /// Nodes that may receive moved chunks: active, up, reachable, not
    /// lost.
    targets: Vec<NodeInfo>,
    /// Capacity of each target (bytes; 0 when unknown).
    capacity: HashMap<NodeId, u64>,
    /// Targets with room to spare (rebalancing fills no node up).
    roomy: HashSet<NodeId>,
}

/// A node with less free space than this (or than 5 % of its capacity)
/// receives no chunks for rebalancing.
const REBALANCE_MIN_FREE: u64 = 64 << 20;

/// Every layout in metadata (object rows, then uploads in progress), read
/// page by page.
async fn read_layouts(meta: &MetaClient) -> Result<Vec<LayoutEntry>> {
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
    Ok(entries)
}

/// The cluster map and every node's chunk list, as one sweep sees them:
/// which nodes are lost (down past `lost_after_secs` by the map's lease or
/// unreachable as long, or removed and unreachable), leaving, or fit to
/// receive moved chunks.
async fn view_nodes(
    meta: &MetaClient,
    storage: &StorageClient,
    healer: &Healer,
    down_since: &mut HashMap<NodeId, Instant>,
    config: &HealConfig,
) -> Result<NodesView> {
    let map = meta.cluster_status().await?;
    let nodes: Vec<NodeInfo> = map.nodes.iter().map(|r| r.info.clone()).collect();
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
    // The map's lease: a node down for longer than the grace is lost.
    let grace_ms = (config.lost_after_secs as i64).saturating_mul(1000);
    let down_long: BTreeSet<NodeId> = map
        .nodes
        .iter()
        .filter(|r| r.state != NodeState::Removed)
        .filter(|r| {
            r.health.as_ref().is_some_and(|h| {
                map.now_ms.saturating_sub(r.last_heartbeat_ms)
                    > (h.down_after_ms as i64).saturating_add(grace_ms)
            })
        })
        .map(|r| r.info.id)
        .collect();
    healer.follow_map(&down_long);
    let now = Instant::now();
    let lost_after = Duration::from_secs(config.lost_after_secs);
    let mut lost = healer.lost_nodes();
    let mut holds: HashMap<NodeId, HashSet<String>> = HashMap::new();
    for (record, held) in map.nodes.iter().zip(holdings) {
        let id = record.info.id;
        match held {
            Some(h) => {
                down_since.remove(&id);
                holds.insert(id, h);
            }
            None => {
                let since = *down_since.entry(id).or_insert(now);
                // A removed node that cannot be reached is gone.
                if now.duration_since(since) >= lost_after || record.state == NodeState::Removed {
                    lost.insert(id);
                }
            }
        }
    }
    let leaving: BTreeSet<NodeId> = map
        .nodes
        .iter()
        .filter(|r| r.state != NodeState::Active)
        .map(|r| r.info.id)
        .collect();
    let targets: Vec<NodeInfo> = map
        .nodes
        .iter()
        .filter(|r| r.placeable(map.now_ms))
        .filter(|r| holds.contains_key(&r.info.id) && !lost.contains(&r.info.id))
        .map(|r| r.info.clone())
        .collect();
    let capacity = map
        .nodes
        .iter()
        .map(|r| {
            let cap = r.health.as_ref().map_or(0, |h| {
                h.disks.iter().filter_map(|d| d.capacity_bytes).sum::<u64>()
            });
            (r.info.id, cap)
        })
        .collect();
    let roomy = map
        .nodes
        .iter()
        .filter(|r| {
            r.health.as_ref().is_none_or(|h| {
                h.disks.iter().all(|d| {
                    let floor = REBALANCE_MIN_FREE.max(d.capacity_bytes.unwrap_or(0) / 20);
                    d.error.is_none() && d.available_bytes.is_none_or(|a| a >= floor)
                })
            })
        })
        .map(|r| r.info.id)
        .collect();
    Ok(NodesView {
        nodes,
        holds,
        lost,
        leaving,
        targets,
        capacity,
        roomy,
    })
}

/// What every segment of `entries` needs, by what `view` says of its
/// chunks: the jobs with work or moves, the sweep's counts, and how many
/// chunks each leaving node still holds.
fn plan_repairs(
    entries: &[LayoutEntry],
    view: &NodesView,
) -> (Swept, Vec<Job>, BTreeMap<NodeId, u64>) {
    // A node not in the cluster map any more is lost too.
    let mapped: HashSet<NodeId> = view.nodes.iter().map(|n| n.id).collect();

    let mut swept = Swept::default();
    let mut jobs = Vec::new();
    let mut drain_left: BTreeMap<NodeId, u64> = view.leaving.iter().map(|&n| (n, 0)).collect();
    for entry in entries {
        for part in &entry.parts {
            for (s, seg) in part.segments.iter().enumerate() {
                let needs: Vec<Need> = seg
                    .chunks
                    .iter()
                    .map(|c| {
                        swept.known.insert((c.node, c.chunk_id.clone()));
                        if let Some(left) = drain_left.get_mut(&c.node) {
                            *left += 1;
                        }
                        if view.lost.contains(&c.node) || !mapped.contains(&c.node) {
                            return Need::Move;
                        }
                        let leaving = view.leaving.contains(&c.node);
                        match view.holds.get(&c.node) {
                            None => Need::Unavailable,
                            Some(h) if h.contains(&c.chunk_id) => {
                                if leaving {
                                    Need::Drain
                                } else if c.durable {
                                    Need::Nothing
                                } else {
                                    Need::MarkDurable
                                }
                            }
                            Some(_) if leaving => Need::Move,
                            Some(_) => Need::Rebuild,
                        }
                    })
                    .collect();
                // One node, one chunk of a segment: the second one moves.
                let mut needs = needs;
                let mut seen = HashSet::new();
                for (c, need) in seg.chunks.iter().zip(needs.iter_mut()) {
                    if !seen.insert(c.node) && *need == Need::Nothing {
                        *need = Need::Spread;
                    }
                }
                swept.unavailable += needs.iter().filter(|n| **n == Need::Unavailable).count();
                let job = Job {
                    owner: entry.owner.clone(),
                    part_number: part.number,
                    segment: s as u32,
                    coding: part.coding,
                    layout: seg.clone(),
                    needs,
                };
                if job.work() + job.moves() > 0 {
                    swept.found += job.work();
                    swept.to_move += job.moves();
                    jobs.push(job);
                }
            }
        }
    }
    (swept, jobs, drain_left)
}

/// One sweep: every layout in metadata against what the nodes hold, and
/// the repairs, most endangered segments first; then the chunks of
/// draining nodes are moved off, and, when nothing else is left to do,
/// chunks are moved to even out the nodes' fill.
pub async fn sweep(
    meta: &MetaClient,
    storage: &StorageClient,
    healer: &Healer,
    down_since: &mut HashMap<NodeId, Instant>,
    config: &HealConfig,
    throttle: &Throttle,
) -> Result<Swept> {
    // Metadata first, then the nodes: a chunk a row named before the
    // listing must be in it, unless it is really gone.
    let entries = read_layouts(meta).await?;
    let view = view_nodes(meta, storage, healer, down_since, config).await?;
    let (mut swept, mut jobs, drain_left) = plan_repairs(&entries, &view);
    let stats = healer.stats();
    let draining_total: u64 = drain_left.values().sum();
    stats.drain_backlog.store(draining_total, Ordering::Relaxed);
    healer.set_drain_left(drain_left);
    // Most endangered first (a segment whose only work is a drain is
    // whole, so it comes last). Moves of whole segments are taken in an
    // order of this gateway's own, so two gateways' healers mostly work on
    // different chunks rather than racing for the same ones.
    jobs.sort_by_key(|j| (j.work() == 0, j.healthy()));
    shuffle_moves(&mut jobs);
    // Rebalancing waits for a whole cluster: a node that is away still
    // has its chunks, and would come back to a plan made without it.
    if jobs.is_empty() && swept.unavailable == 0 && config.rebalance {
        jobs = plan_rebalance(&entries, &view, config);
        swept.to_move = jobs.len();
        // Planned alike by every gateway: see above.
        shuffle_moves(&mut jobs);
    }
    // Moving healthy chunks (drains, rebalancing) is one gateway's work at
    // a time, so the cluster moves at `move_bytes_per_sec`, not that times
    // the number of gateways: the one holding the metadata lease
    // `heal-moves`, renewed every sweep. The others only repair.
    let mut moving = jobs.iter().any(|j| j.moves() > 0);
    if moving && !healer.holds_move_lease(meta, config).await {
        moving = false;
        keep_repairs_only(&mut jobs);
    }
    stats.rebalance_backlog.store(
        jobs.iter().filter(|j| j.is_rebalance()).count() as u64,
        Ordering::Relaxed,
    );
    let swept = run_jobs(
        meta, storage, healer, config, throttle, &view, jobs, moving, swept,
    )
    .await;
    Ok(swept)
}

/// Drops the moves of healthy chunks (drains, rebalancing) from `jobs`:
/// another gateway holds the lease for them.
fn keep_repairs_only(jobs: &mut Vec<Job>) {
    for job in jobs.iter_mut() {
        for need in &mut job.needs {
            if matches!(need, Need::Drain | Need::Rebalance(_)) {
                *need = Need::Nothing;
            }
        }
    }
    jobs.retain(|j| j.work() > 0);
}

/// Runs a sweep's jobs, `PARALLEL` at a time, keeping the healer's figures
/// current; `moving` says whether this gateway holds the lease for moves.
#[allow(clippy::too_many_arguments)]
async fn run_jobs(
    meta: &MetaClient,
    storage: &StorageClient,
    healer: &Healer,
    config: &HealConfig,
    throttle: &Throttle,
    view: &NodesView,
    jobs: Vec<Job>,
    mut moving: bool,
    mut swept: Swept,
) -> Swept {
    let stats = healer.stats();
    let mut backlog = swept.found as u64;
    stats.set_backlog(backlog, swept.unavailable as u64);

    // A long sweep of throttled moves renews the lease as it goes; once it
    // is lost, the jobs not started yet that only move are skipped.
    let may_move = std::sync::atomic::AtomicBool::new(moving);
    let may_move = &may_move;
    let mut renewed = Instant::now();
    let renew_every = Duration::from_millis(move_lease_ttl_ms(config) / 3);
    let mut results = futures::stream::iter(jobs)
        .map(|job| async move {
            if job.work() == 0 && !may_move.load(Ordering::Relaxed) {
                return (job, Outcome::default());
            }
            let outcome = repair(meta, storage, view, throttle, &job).await;
            (job, outcome)
        })
        .buffer_unordered(PARALLEL);
    let mut healed_owners: HashSet<LayoutOwner> = HashSet::new();
    while let Some((job, outcome)) = results.next().await {
        if moving && renewed.elapsed() >= renew_every {
            renewed = Instant::now();
            if !healer.holds_move_lease(meta, config).await {
                moving = false;
                may_move.store(false, Ordering::Relaxed);
            }
        }
        swept.healed += outcome.rebuilt + outcome.marked + outcome.spread;
        swept.failed += outcome.failed;
        swept.moved += outcome.drained.len() + outcome.rebalanced;
        let done = outcome.rebuilt + outcome.marked + outcome.spread + outcome.stale;
        backlog = backlog.saturating_sub(done as u64);
        stats.set_backlog(backlog, swept.unavailable as u64);
        stats.add(&stats.healed, outcome.rebuilt as u64);
        stats.add(&stats.moved, outcome.moved as u64);
        stats.add(&stats.marked_durable, outcome.marked as u64);
        stats.add(&stats.failed, outcome.failed as u64);
        stats.add(&stats.drained, outcome.drained.len() as u64);
        stats.add(&stats.rebalanced, outcome.rebalanced as u64);
        for node in &outcome.drained {
            healer.drained_one(*node);
        }
        if job.is_rebalance() {
            let _ =
                stats
                    .rebalance_backlog
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                        Some(b.saturating_sub(1))
                    });
        }
        if outcome.rebuilt + outcome.marked > 0 && healed_owners.insert(job.owner.clone()) {
            stats.add(&stats.objects_healed, 1);
        }
    }
    swept
}

/// Shuffles the jobs that only move whole segments' chunks (they come
/// after the repairs).
fn shuffle_moves(jobs: &mut [Job]) {
    use rand::seq::SliceRandom;
    let first = jobs
        .iter()
        .position(|j| j.work() == 0)
        .unwrap_or(jobs.len());
    jobs[first..].shuffle(&mut rand::rng());
}

impl Job {
    fn is_rebalance(&self) -> bool {
        self.needs.iter().any(|n| matches!(n, Need::Rebalance(_)))
    }
}

/// The moves that even out the fill of the active nodes (referenced chunk
/// bytes over capacity), at most `rebalance_moves_per_sweep`: each takes a
/// chunk from the fullest node that has one the emptiest node may take (no
/// chunk of its segment there yet, no zone doubled), and only while the
/// move leaves the source at least as full as the destination, so the plan
/// converges and a balanced cluster plans nothing (no ping-pong). It stops
/// once the spread is within `rebalance_tolerance_pct` of the mean fill.
fn plan_rebalance(entries: &[LayoutEntry], view: &NodesView, config: &HealConfig) -> Vec<Job> {
    let targets = &view.targets;
    if targets.len() < 2 {
        return Vec::new();
    }
    let zone: HashMap<NodeId, &str> = view.nodes.iter().map(|n| (n.id, n.zone.as_str())).collect();
    // Equal weights unless every target knows its capacity.
    let weights: HashMap<NodeId, f64> = if targets
        .iter()
        .all(|n| view.capacity.get(&n.id).copied().unwrap_or(0) > 0)
    {
        targets
            .iter()
            .map(|n| (n.id, view.capacity[&n.id] as f64))
            .collect()
    } else {
        targets.iter().map(|n| (n.id, 1.0)).collect()
    };
    // Every movable chunk (durable, held by an active node), per node.
    let mut bytes: HashMap<NodeId, f64> = targets.iter().map(|n| (n.id, 0.0)).collect();
    let mut on_node: HashMap<NodeId, Vec<(usize, usize, usize, usize)>> = HashMap::new();
    for (e, entry) in entries.iter().enumerate() {
        for (p, part) in entry.parts.iter().enumerate() {
            for (s, seg) in part.segments.iter().enumerate() {
                for (i, c) in seg.chunks.iter().enumerate() {
                    if let Some(b) = bytes.get_mut(&c.node) {
                        *b += seg.shard_size as f64;
                        let held = view
                            .holds
                            .get(&c.node)
                            .is_some_and(|h| h.contains(&c.chunk_id));
                        if c.durable && held {
                            on_node.entry(c.node).or_default().push((e, p, s, i));
                        }
                    }
                }
            }
        }
    }
    let total_bytes: f64 = bytes.values().sum();
    let total_weight: f64 = weights.values().sum();
    if total_bytes <= 0.0 || total_weight <= 0.0 {
        return Vec::new();
    }
    let mean = total_bytes / total_weight;
    let tolerance = mean * config.rebalance_tolerance_pct as f64 / 100.0;
    let fill = |bytes: &HashMap<NodeId, f64>, n: NodeId| bytes[&n] / weights[&n];
    let mut cursor: HashMap<NodeId, usize> = HashMap::new();
    let mut planned_segments: HashSet<(usize, usize, usize)> = HashSet::new();
    let mut jobs = Vec::new();
    while (jobs.len() as u64) < config.rebalance_moves_per_sweep {
        let mut order: Vec<NodeId> = targets.iter().map(|n| n.id).collect();
        order.sort_by(|a, b| fill(&bytes, *a).total_cmp(&fill(&bytes, *b)).then(a.cmp(b)));
        let Some(&to) = order.iter().find(|n| view.roomy.contains(n)) else {
            break;
        };
        if fill(&bytes, order[order.len() - 1]) - fill(&bytes, to) <= tolerance {
            break;
        }
        let mut chosen = None;
        'sources: for &from in order.iter().rev() {
            if fill(&bytes, from) <= fill(&bytes, to) {
                break;
            }
            let list = on_node.get(&from).map(Vec::as_slice).unwrap_or(&[]);
            let start = cursor.get(&from).copied().unwrap_or(0);
            for (k, &(e, p, s, i)) in list.iter().enumerate().skip(start) {
                if planned_segments.contains(&(e, p, s)) {
                    continue;
                }
                let seg = &entries[e].parts[p].segments[s];
                let size = seg.shard_size as f64;
                // Moving must not overshoot: the source stays at least as
                // full as the destination.
                if fill(&bytes, from) - size / weights[&from]
                    < fill(&bytes, to) + size / weights[&to]
                {
                    continue;
                }
                let others = seg.chunks.iter().enumerate().filter(|(j, _)| *j != i);
                let mut ok = true;
                for (_, c) in others {
                    let z = zone.get(&c.node).copied().unwrap_or("");
                    if c.node == to || (!z.is_empty() && z == zone[&to] && zone[&from] != zone[&to])
                    {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    cursor.insert(from, k + 1);
                    chosen = Some((from, (e, p, s, i), size));
                    break 'sources;
                }
            }
        }
        let Some((from, (e, p, s, i), size)) = chosen else {
            break;
        };
        *bytes.get_mut(&from).expect("a target") -= size;
        *bytes.get_mut(&to).expect("a target") += size;
        planned_segments.insert((e, p, s));
        let part = &entries[e].parts[p];
        let seg = &part.segments[s];
        let mut needs = vec![Need::Nothing; seg.chunks.len()];
        needs[i] = Need::Rebalance(to);
        jobs.push(Job {
            owner: entries[e].owner.clone(),
            part_number: part.number,
            segment: s as u32,
            coding: part.coding,
            layout: seg.clone(),
            needs,
        });
    }
    jobs
}

/// What the repair of one segment did.
#[derive(Debug, Default)]
struct Outcome {
    rebuilt: usize,
    moved: usize,
    marked: usize,
    failed: usize,
    /// The draining nodes a chunk was moved off.
    drained: Vec<NodeId>,
    /// Second chunks of a segment on one node moved elsewhere.
    spread: usize,
    /// Chunks whose placement had changed since the sweep read it (no
    /// work left).
    stale: usize,
    rebalanced: usize,
}

/// Repairs one segment: reads the healthy chunks, rebuilds the others,
/// writes them (in place, or onto a new node for a lost one) and records
/// what changed in metadata; moves the chunks of draining nodes (and the
/// ones rebalancing picked) onto other nodes.
async fn repair(
    meta: &MetaClient,
    storage: &StorageClient,
    view: &NodesView,
    throttle: &Throttle,
    job: &Job,
) -> Outcome {
    let chunks = &job.layout.chunks;
    let mut r = Repair {
        meta,
        storage,
        view,
        job,
        shards: Vec::new(),
        // Nodes already holding a chunk of this segment never get a second one.
        taken: chunks
            .iter()
            .zip(&job.needs)
            .filter(|(_, n)| {
                !matches!(
                    n,
                    Need::Move | Need::Drain | Need::Rebalance(_) | Need::Spread
                )
            })
            .map(|(c, _)| c.node)
            .collect(),
        out: Outcome::default(),
    };
    let rebuild = job
        .needs
        .iter()
        .filter(|n| matches!(n, Need::Rebuild | Need::Move))
        .count();
    if rebuild > 0 {
        match rebuild_shards(storage, &|id| r.addr(id), job).await {
            Ok(shards) => r.shards = shards,
            Err(e) => {
                tracing::warn!(segment = %segment_key(&chunks[0].chunk_id), error = %e,
                    "could not rebuild a segment");
                r.out.failed += rebuild;
            }
        }
    }
    for (i, need) in job.needs.iter().enumerate() {
        match *need {
            Need::Nothing | Need::Unavailable => {}
            Need::MarkDurable => match r.mark_durable(i).await {
                Ok(_) => r.out.marked += 1,
                Err(e) => {
                    tracing::warn!(chunk = %chunks[i].chunk_id, error = %e, "marking durable failed");
                    r.out.failed += 1;
                }
            },
            Need::Rebuild => r.rebuild_in_place(i).await,
            Need::Move => r.move_off_lost(i).await,
            Need::Drain | Need::Rebalance(_) | Need::Spread => {
                r.move_healthy(i, *need, throttle).await
            }
        }
    }
    r.out
}

/// One segment's repair under way: the shards read or rebuilt so far, the
/// nodes that hold one of its chunks, and the outcome.
struct Repair<'a> {
    meta: &'a MetaClient,
    storage: &'a StorageClient,
    view: &'a NodesView,
    job: &'a Job,
    /// Every shard of the segment, once read and rebuilt (empty before).
    shards: Vec<Bytes>,
    taken: HashSet<NodeId>,
    out: Outcome,
}

impl<'a> Repair<'a> {
    fn addr(&self, id: NodeId) -> Option<&'a str> {
        let nodes: &'a [NodeInfo] = &self.view.nodes;
        nodes.iter().find(|n| n.id == id).map(|n| n.addr.as_str())
    }

    /// Records chunk `i` as durable (its write landed after all).
    async fn mark_durable(&self, i: usize) -> std::result::Result<bool, shale_metadata::MetaError> {
        let job = self.job;
        let old = job.layout.chunks[i].clone();
        let new = ChunkPlacement {
            durable: true,
            ..old.clone()
        };
        let slot = (job.part_number, job.segment, i as u32);
        self.meta
            .swap_chunk(job.owner.clone(), slot, old, new)
            .await
    }

    /// Writes the rebuilt chunk `i` back on its own node.
    async fn rebuild_in_place(&mut self, i: usize) {
        let job = self.job;
        let chunk = &job.layout.chunks[i];
        let Some(data) = self.shards.get(i).cloned() else {
            return;
        };
        let Some(a) = self.addr(chunk.node) else {
            self.out.failed += 1;
            return;
        };
        // Still placed there? Another gateway's healer may have moved it
        // (and deleted it here) between this sweep's reading of the row and
        // its listing of the node: swapping the placement for itself tells,
        // and rebuilding it here would only leave a stray copy.
        let slot = (job.part_number, job.segment, i as u32);
        match self
            .meta
            .swap_chunk(job.owner.clone(), slot, chunk.clone(), chunk.clone())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                self.out.stale += 1;
                return;
            }
            Err(e) => {
                tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                    "checking a chunk's placement failed");
                self.out.failed += 1;
                return;
            }
        }
        match self.storage.put_chunk(a, &chunk.chunk_id, data).await {
            Ok(()) => {
                self.out.rebuilt += 1;
                if !chunk.durable
                    && let Err(e) = self.mark_durable(i).await
                {
                    tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                        "rebuilt, but marking durable failed");
                }
            }
            Err(e) => {
                tracing::warn!(chunk = %chunk.chunk_id, node = chunk.node, error = %e,
                    "writing a rebuilt chunk failed");
                self.out.failed += 1;
            }
        }
    }

    /// Writes the rebuilt chunk `i`, whose node is lost (or leaving without
    /// it), onto another node.
    async fn move_off_lost(&mut self, i: usize) {
        let (job, view) = (self.job, self.view);
        let chunk = &job.layout.chunks[i];
        let Some(data) = self.shards.get(i).cloned() else {
            return;
        };
        let leaving = view.leaving.contains(&chunk.node) && !view.lost.contains(&chunk.node);
        match self.move_to(i, data, None).await {
            Ok(Some(node)) => {
                self.taken.insert(node);
                self.out.rebuilt += 1;
                self.out.moved += 1;
                if leaving {
                    self.out.drained.push(chunk.node);
                }
            }
            Ok(None) => self.out.rebuilt += 1, // the row changed: nothing to move
            Err(e) => {
                tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                    "could not move a chunk off a lost node");
                self.out.failed += 1;
            }
        }
    }

    /// Writes shard `i` of the job's segment onto node `to`, or else onto a
    /// healthy active node holding no chunk of the segment (in rendezvous
    /// order, nodes of zones the segment does not use yet first), then swaps
    /// the placement in metadata. `Some(node)` once moved; `None` when the row
    /// changed meanwhile (the new copy is deleted again, unless the row names
    /// it: another gateway's healer made the same move).
    async fn move_to(&self, i: usize, data: Bytes, to: Option<NodeId>) -> Result<Option<NodeId>> {
        let (meta, storage, view, taken, job) =
            (self.meta, self.storage, self.view, &self.taken, self.job);
        let old = &job.layout.chunks[i];
        let candidates: Vec<NodeInfo> = view
            .targets
            .iter()
            .filter(|n| !taken.contains(&n.id) && to.is_none_or(|t| t == n.id))
            .cloned()
            .collect();
        let used_zones: HashSet<&str> = view
            .nodes
            .iter()
            .filter(|n| taken.contains(&n.id) && !n.zone.is_empty())
            .map(|n| n.zone.as_str())
            .collect();
        let key = segment_key(&old.chunk_id);
        let mut order = place(key, &candidates, candidates.len());
        order.sort_by_key(|n| used_zones.contains(n.zone.as_str()));
        for target in order {
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
            let slot = (job.part_number, job.segment, i as u32);
            let swapped = meta
                .swap_chunk(job.owner.clone(), slot, old.clone(), new.clone())
                .await?;
            if swapped {
                return Ok(Some(target.id));
            }
            // The row changed. An object row naming the new copy (another
            // healer made the same move first) keeps it: swapping it for
            // itself tells. An upload's parts may have become an object's by
            // completion meanwhile, which no check of the upload would see:
            // that copy is left to the orphan sweep.
            let referenced = match &job.owner {
                LayoutOwner::Object { .. } => meta
                    .swap_chunk(job.owner.clone(), slot, new.clone(), new)
                    .await
                    .unwrap_or(true),
                LayoutOwner::Upload { .. } => true,
            };
            if !referenced {
                let _ = storage.delete_chunk(&target.addr, &old.chunk_id).await;
            }
            return Ok(None);
        }
        Err(Error::NotEnoughNodes(format!(
            "no healthy node without a chunk of {key}"
        )))
    }

    /// The bytes of healthy chunk `i`, to move: read from the node it is
    /// on, or rebuilt from its siblings when that read fails.
    async fn healthy_bytes(&mut self, i: usize, rebalancing: bool) -> Option<Bytes> {
        let job = self.job;
        let chunk = &job.layout.chunks[i];
        let size = job.layout.shard_size;
        let read = match self.addr(chunk.node) {
            Some(a) => self
                .storage
                .get_chunk(a, &chunk.chunk_id, 0, size)
                .await
                .ok(),
            None => None,
        };
        if read.is_some() {
            return read;
        }
        // Gone since the sweep listed it: most likely another gateway's
        // healer moved it. The next sweep sees the row as it is now (and
        // rebuilds the chunk if its node really lost it).
        if self.shards.is_empty() && !rebalancing {
            let again = job.clone_with(i, Need::Move);
            match rebuild_shards(self.storage, &|id| self.addr(id), &again).await {
                Ok(s) => self.shards = s,
                Err(e) => {
                    tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                        "could not read nor rebuild a chunk to move");
                    self.out.failed += 1;
                    return None;
                }
            }
        }
        self.shards.get(i).cloned()
    }

    /// Moves healthy chunk `i` off a draining node, off a node holding two
    /// of its segment, or (rebalancing) to the node `need` names; the old
    /// copy is deleted once the row names the new one.
    async fn move_healthy(&mut self, i: usize, need: Need, throttle: &Throttle) {
        let job = self.job;
        let chunk = &job.layout.chunks[i];
        let to = match need {
            Need::Rebalance(to) => Some(to),
            _ => None,
        };
        let Some(data) = self.healthy_bytes(i, to.is_some()).await else {
            return;
        };
        throttle.take(data.len() as u64).await;
        match self.move_to(i, data, to).await {
            Ok(Some(node)) => {
                self.taken.insert(node);
                if let Some(a) = self.addr(chunk.node)
                    && let Err(e) = self.storage.delete_chunk(a, &chunk.chunk_id).await
                {
                    // Unreferenced now: the orphan sweep takes it.
                    tracing::debug!(chunk = %chunk.chunk_id, error = %e,
                        "moved, but deleting the old copy failed");
                }
                match need {
                    Need::Rebalance(_) => self.out.rebalanced += 1,
                    Need::Spread => {
                        self.out.spread += 1;
                        self.out.moved += 1;
                    }
                    _ => self.out.drained.push(chunk.node),
                }
            }
            Ok(None) => {}
            // Rebalancing is optional: the next sweep plans anew.
            Err(e) if to.is_some() => {
                tracing::debug!(chunk = %chunk.chunk_id, error = %e,
                    "could not move a chunk for rebalancing");
            }
            Err(e) => {
                tracing::warn!(chunk = %chunk.chunk_id, error = %e,
                    "could not move a chunk off a draining node, or off a node holding two of its segment");
                self.out.failed += 1;
            }
        }
    }
}

impl Job {
    fn clone_with(&self, i: usize, need: Need) -> Job {
        let mut needs = self.needs.clone();
        needs[i] = need;
        Job {
            owner: self.owner.clone(),
            part_number: self.part_number,
            segment: self.segment,
            coding: self.coding,
            layout: self.layout.clone(),
            needs,
        }
    }
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
            if !need.readable() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use shale_common::PartLayout;

    fn node(id: NodeId) -> NodeInfo {
        NodeInfo {
            id,
            addr: format!("127.0.0.1:{}", 7000 + id),
            zone: format!("zone-{id}"),
        }
    }

    /// `segments` one-segment objects, each with its 6 chunks on nodes 1-6.
    fn entries(segments: usize) -> Vec<LayoutEntry> {
        (0..segments)
            .map(|o| LayoutEntry {
                owner: LayoutOwner::Object {
                    bucket: "b".into(),
                    key: format!("k{o}"),
                },
                parts: vec![PartLayout {
                    number: 1,
                    size: 4 << 16,
                    etag: String::new(),
                    coding: Coding { k: 4, m: 2 },
                    segments: vec![SegmentLayout {
                        size: 4 << 16,
                        shard_size: 1 << 16,
                        chunks: (0..6)
                            .map(|i| ChunkPlacement {
                                node: i + 1,
                                chunk_id: format!("o{o}.p1.s0.{i}"),
                                durable: true,
                            })
                            .collect(),
                    }],
                }],
            })
            .collect()
    }

    fn view(entries: &[LayoutEntry], nodes: u32) -> NodesView {
        let all: Vec<NodeInfo> = (1..=nodes).map(node).collect();
        let mut holds: HashMap<NodeId, HashSet<String>> =
            all.iter().map(|n| (n.id, HashSet::new())).collect();
        for c in entries
            .iter()
            .flat_map(|e| &e.parts)
            .flat_map(|p| &p.segments)
            .flat_map(|s| &s.chunks)
        {
            holds
                .get_mut(&c.node)
                .expect("a node")
                .insert(c.chunk_id.clone());
        }
        NodesView {
            targets: all.clone(),
            capacity: all.iter().map(|n| (n.id, 1 << 30)).collect(),
            roomy: all.iter().map(|n| n.id).collect(),
            nodes: all,
            holds,
            lost: BTreeSet::new(),
            leaving: BTreeSet::new(),
        }
    }

    fn counts(entries: &[LayoutEntry], nodes: u32) -> Vec<usize> {
        (1..=nodes)
            .map(|n| {
                entries
                    .iter()
                    .flat_map(|e| &e.parts)
                    .flat_map(|p| &p.segments)
                    .flat_map(|s| &s.chunks)
                    .filter(|c| c.node == n)
                    .count()
            })
            .collect()
    }

    #[test]
    fn rebalance_fills_a_new_node_evenly_then_stops() {
        let mut entries = entries(36);
        let config = HealConfig {
            rebalance_moves_per_sweep: 10,
            ..HealConfig::default()
        };
        let mut sweeps = 0;
        loop {
            let jobs = plan_rebalance(&entries, &view(&entries, 7), &config);
            if jobs.is_empty() {
                break;
            }
            sweeps += 1;
            assert!(sweeps < 20, "rebalancing does not converge");
            for job in jobs {
                let (i, to) = job
                    .needs
                    .iter()
                    .enumerate()
                    .find_map(|(i, n)| match n {
                        Need::Rebalance(to) => Some((i, *to)),
                        _ => None,
                    })
                    .expect("a move");
                // Never a second chunk of a segment on one node.
                assert!(job.layout.chunks.iter().all(|c| c.node != to));
                let LayoutOwner::Object { key, .. } = &job.owner else {
                    unreachable!()
                };
                let e = entries
                    .iter_mut()
                    .find(|e| matches!(&e.owner, LayoutOwner::Object { key: k, .. } if k == key))
                    .expect("the entry");
                e.parts[0].segments[0].chunks[i].node = to;
            }
        }
        let c = counts(&entries, 7);
        assert_eq!(c.iter().sum::<usize>(), 36 * 6);
        assert!(
            c.iter().max().unwrap() - c.iter().min().unwrap() <= 1,
            "{c:?}"
        );
        assert!(sweeps >= 3, "at most 10 moves per sweep: {sweeps}");
    }

    #[test]
    fn a_balanced_cluster_plans_nothing() {
        let entries = entries(36);
        // Six nodes, each holding a chunk of every segment.
        assert!(plan_rebalance(&entries, &view(&entries, 6), &HealConfig::default()).is_empty());
    }

    #[test]
    fn a_full_node_receives_nothing() {
        let entries = entries(36);
        let mut v = view(&entries, 7);
        v.roomy.remove(&7);
        assert!(plan_rebalance(&entries, &v, &HealConfig::default()).is_empty());
    }
}
