//! Repairs: one segment's rebuilds and moves ([`repair`]), and the chunks
//! reads report missing, rebuilt in place ([`heal_round`]).

use super::*;

/// What the repair of one segment did.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) rebuilt: usize,
    pub(super) moved: usize,
    pub(super) marked: usize,
    pub(super) failed: usize,
    /// The draining nodes a chunk was moved off.
    pub(super) drained: Vec<NodeId>,
    /// Second chunks of a segment on one node moved elsewhere.
    pub(super) spread: usize,
    /// Chunks whose placement had changed since the sweep read it (no
    /// work left).
    pub(super) stale: usize,
    pub(super) rebalanced: usize,
}

/// Repairs one segment: reads the healthy chunks, rebuilds the others,
/// writes them (in place, or onto a new node for a lost one) and records
/// what changed in metadata; moves the chunks of draining nodes (and the
/// ones rebalancing picked) onto other nodes.
pub(super) async fn repair(
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
pub(super) struct Repair<'a> {
    pub(super) meta: &'a MetaClient,
    pub(super) storage: &'a StorageClient,
    pub(super) view: &'a NodesView,
    pub(super) job: &'a Job,
    /// Every shard of the segment, once read and rebuilt (empty before).
    pub(super) shards: Vec<Bytes>,
    pub(super) taken: HashSet<NodeId>,
    pub(super) out: Outcome,
}

impl<'a> Repair<'a> {
    pub(super) fn addr(&self, id: NodeId) -> Option<&'a str> {
        let nodes: &'a [NodeInfo] = &self.view.nodes;
        nodes.iter().find(|n| n.id == id).map(|n| n.addr.as_str())
    }

    /// Records chunk `i` as durable (its write landed after all).
    pub(super) async fn mark_durable(
        &self,
        i: usize,
    ) -> std::result::Result<bool, shale_metadata::MetaError> {
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
    pub(super) async fn rebuild_in_place(&mut self, i: usize) {
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
    pub(super) async fn move_off_lost(&mut self, i: usize) {
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
    pub(super) async fn move_to(
        &self,
        i: usize,
        data: Bytes,
        to: Option<NodeId>,
    ) -> Result<Option<NodeId>> {
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
            // that copy is left to the orphan sweep, as is one of a
            // noncurrent version, which may have become current meanwhile.
            let referenced = match &job.owner {
                LayoutOwner::Object { .. } => meta
                    .swap_chunk(job.owner.clone(), slot, new.clone(), new)
                    .await
                    .unwrap_or(true),
                LayoutOwner::Upload { .. } | LayoutOwner::Version { .. } => true,
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
    pub(super) async fn healthy_bytes(&mut self, i: usize, rebalancing: bool) -> Option<Bytes> {
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
    pub(super) async fn move_healthy(&mut self, i: usize, need: Need, throttle: &Throttle) {
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
    pub(super) fn clone_with(&self, i: usize, need: Need) -> Job {
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
pub(super) async fn rebuild_shards<'a>(
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
pub(super) fn segment_key(chunk_id: &str) -> &str {
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
pub(super) async fn read_sibling(
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
