//! One sweep of the healer: every layout in metadata against the cluster
//! map and what the nodes hold ([`view_nodes`]), the work each segment
//! needs ([`plan_repairs`], [`plan_rebalance`]), and running it
//! ([`run_jobs`]).

use super::*;

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
pub(super) enum Need {
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
    pub(super) fn readable(self) -> bool {
        matches!(
            self,
            Need::Nothing | Need::MarkDurable | Need::Drain | Need::Rebalance(_) | Need::Spread
        )
    }
}

/// One segment with work to do.
pub(super) struct Job {
    pub(super) owner: LayoutOwner,
    pub(super) part_number: u32,
    pub(super) segment: u32,
    pub(super) coding: Coding,
    pub(super) layout: SegmentLayout,
    pub(super) needs: Vec<Need>,
}

impl Job {
    pub(super) fn healthy(&self) -> usize {
        self.needs.iter().filter(|n| n.readable()).count()
    }

    /// Repairs (the backlog).
    pub(super) fn work(&self) -> usize {
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
    pub(super) fn moves(&self) -> usize {
        self.needs
            .iter()
            .filter(|n| matches!(n, Need::Drain | Need::Rebalance(_)))
            .count()
    }
}

/// What the cluster map and the nodes' answers say about the nodes, for
/// one sweep.
pub(super) struct NodesView {
    /// Every node in the map.
    pub(super) nodes: Vec<NodeInfo>,
    /// The chunks each reachable node holds whole.
    pub(super) holds: HashMap<NodeId, HashSet<String>>,
    /// Nodes whose chunks are rebuilt elsewhere.
    pub(super) lost: BTreeSet<NodeId>,
    /// Draining or removed nodes (reachable or not).
    pub(super) leaving: BTreeSet<NodeId>,
    /// Nodes that may receive moved chunks: active, up, reachable, not
    /// lost.
    pub(super) targets: Vec<NodeInfo>,
    /// Capacity of each target (bytes; 0 when unknown).
    pub(super) capacity: HashMap<NodeId, u64>,
    /// Targets with room to spare (rebalancing fills no node up).
    pub(super) roomy: HashSet<NodeId>,
}

/// A node with less free space than this (or than 5 % of its capacity)
/// receives no chunks for rebalancing.
pub(super) const REBALANCE_MIN_FREE: u64 = 64 << 20;

/// Every layout in metadata (object rows, then uploads in progress), read
/// page by page.
pub(super) async fn read_layouts(meta: &MetaClient) -> Result<Vec<LayoutEntry>> {
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
pub(super) async fn view_nodes(
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
pub(super) fn plan_repairs(
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
pub(super) fn keep_repairs_only(jobs: &mut Vec<Job>) {
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
pub(super) async fn run_jobs(
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
pub(super) fn shuffle_moves(jobs: &mut [Job]) {
    use rand::seq::SliceRandom;
    let first = jobs
        .iter()
        .position(|j| j.work() == 0)
        .unwrap_or(jobs.len());
    jobs[first..].shuffle(&mut rand::rng());
}

impl Job {
    pub(super) fn is_rebalance(&self) -> bool {
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
pub(super) fn plan_rebalance(
    entries: &[LayoutEntry],
    view: &NodesView,
    config: &HealConfig,
) -> Vec<Job> {
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
