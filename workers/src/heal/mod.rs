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

mod quiet;
mod repair;
mod sweep;

use repair::*;
pub use repair::{Round, heal_chunk, heal_round};
use sweep::*;
pub use sweep::{Swept, sweep};

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
    /// A round sweeps every layout only when something changed since the
    /// last sweep that found nothing to do (see `quiet.rs`), and at least
    /// this often (seconds): an audit for losses no signal shows. 0: every
    /// round sweeps.
    pub full_sweep_secs: u64,
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
            full_sweep_secs: 86_400,
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
    /// Rounds finished: sweeps and quiet rounds.
    pub rounds: AtomicU64,
    /// Of `rounds`, sweeps (every layout against every node's chunks).
    pub sweeps: AtomicU64,
    /// Of `rounds`, quiet ones: nothing changed since a sweep that found
    /// nothing to do, so no layout was read.
    pub quiet_rounds: AtomicU64,
    /// Chunks known to need work and not yet repaired.
    pub backlog: AtomicU64,
    /// Chunks on nodes that are unreachable but not (yet) lost.
    pub unavailable: AtomicU64,
    /// Milliseconds the last round took (quiet or not).
    pub last_round_ms: AtomicU64,
    /// Milliseconds the last sweep took.
    pub last_sweep_ms: AtomicU64,
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
    #[serde(default)]
    pub sweeps: u64,
    #[serde(default)]
    pub quiet_rounds: u64,
    #[serde(default)]
    pub last_sweep_ms: u64,
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
            sweeps: get(&self.sweeps),
            quiet_rounds: get(&self.quiet_rounds),
            last_sweep_ms: get(&self.last_sweep_ms),
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
    /// Set by [`Healer::wake`] and [`Healer::node_lost`]: the next round
    /// sweeps.
    forced: std::sync::atomic::AtomicBool,
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
        self.wake();
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
        self.forced.store(true, Ordering::Relaxed);
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
    // The signature taken before the last sweep that found nothing to do.
    let mut quiet_since: Option<quiet::Signature> = None;
    let mut last_sweep: Option<Instant> = None;
    let full_every = Duration::from_secs(config.full_sweep_secs);
    loop {
        while let Ok(report) = missing.try_recv() {
            reported.insert(report);
        }
        let started = Instant::now();
        let forced = healer.forced.swap(false, Ordering::Relaxed);
        let signature = if config.full_sweep_secs == 0 {
            None
        } else {
            quiet::signature(&meta, &storage, &healer).await
        };
        let audit_due = last_sweep.is_none_or(|t| t.elapsed() >= full_every);
        if !forced
            && !audit_due
            && reported.is_empty()
            && signature.is_some()
            && signature == quiet_since
        {
            let stats = healer.stats();
            stats
                .last_round_ms
                .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            stats.quiet_rounds.fetch_add(1, Ordering::Relaxed);
            stats.rounds.fetch_add(1, Ordering::Relaxed);
        } else {
            last_sweep = Some(started);
            quiet_since = None;
            let clean = sweep_round(
                &meta,
                &storage,
                &codec,
                &healer,
                &mut down_since,
                &config,
                &throttle,
                &mut reported,
                started,
            )
            .await;
            if clean {
                quiet_since = signature;
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

/// A round that sweeps (and rebuilds the chunks reads reported that no
/// layout names); true when it found nothing to do.
#[allow(clippy::too_many_arguments)]
async fn sweep_round(
    meta: &MetaClient,
    storage: &StorageClient,
    codec: &Codec,
    healer: &Healer,
    down_since: &mut HashMap<NodeId, Instant>,
    config: &HealConfig,
    throttle: &Throttle,
    reported: &mut BTreeSet<(NodeId, String)>,
    started: Instant,
) -> bool {
    let mut clean = false;
    match sweep(meta, storage, healer, down_since, config, throttle).await {
        Ok(swept) => {
            let stats = healer.stats();
            let ms = started.elapsed().as_millis() as u64;
            stats.last_round_ms.store(ms, Ordering::Relaxed);
            stats.last_sweep_ms.store(ms, Ordering::Relaxed);
            let unix_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            stats.last_sweep_unix_ms.store(unix_ms, Ordering::Relaxed);
            stats.sweeps.fetch_add(1, Ordering::Relaxed);
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
            clean = quiet::clean(&swept);
            // Reports the sweep saw are handled; the rest (chunks of
            // writes not committed yet) the old way.
            reported.retain(|r| !swept.known.contains(r));
        }
        Err(e) => tracing::warn!(error = %e, "healing sweep failed"),
    }
    if !reported.is_empty() {
        clean = false;
        match heal_round(meta, storage, codec, std::mem::take(reported)).await {
            Ok(round) => {
                let stats = healer.stats();
                stats.add(&stats.healed, round.healed as u64);
                stats.add(&stats.failed, round.failed as u64);
            }
            Err(e) => tracing::warn!(error = %e, "healing round failed"),
        }
    }
    clean
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
