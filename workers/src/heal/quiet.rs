//! Rounds that read no layout. A sweep reads every layout in metadata and
//! every node's chunk list, so its cost grows with the data; a healthy idle
//! cluster should not pay it every round. Each round first takes a
//! [`Signature`] of what can make chunks need work, at a cost that depends
//! on the number of nodes only:
//! - the cluster map: membership, states (drains, removals), up or down;
//! - each node's boot id (a restart may bring back less than it had: a
//!   wiped or replaced disk, a volume it could not read) and how many chunks
//!   its scrubber and reads found corrupt;
//! - the metadata service's count of writes committed with a chunk not
//!   durable ([`shale_metadata::UNDURABLE_CURSOR`], counted in the same batch
//!   as the row), so a PUT acknowledged while a node was away is seen;
//! - the nodes declared lost.
//!
//! A round sweeps when the signature differs from the one taken before the
//! last sweep that found nothing to do, when a read reported a missing
//! chunk, when the healer was woken ([`Healer::wake`], [`Healer::node_lost`]),
//! and at least every `full_sweep_secs` (an audit, for losses no signal
//! shows: a volume file removed under a running node). Otherwise the round
//! is quiet: it counts in the figures and changes nothing.
//!
//! The signature is taken before the sweep's reads, so a change after it is
//! either in the sweep or in the next round's signature.

use super::*;
use crate::signature::MapSignature;

/// What a round compares with the last sweep that found nothing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Signature {
    map: MapSignature,
    /// Per node: boot id and corrupt chunks known.
    nodes: Vec<(String, u64)>,
    undurable: u64,
    lost: BTreeSet<NodeId>,
}

/// Takes the signature now; `None` when a node or the metadata service does
/// not answer (the round then sweeps, which tells unreachable from lost).
pub(super) async fn signature(
    meta: &MetaClient,
    storage: &StorageClient,
    healer: &Healer,
) -> Option<Signature> {
    let view = meta.cluster_status().await.ok()?;
    let undurable = shale_metadata::undurable_count(
        meta.get_cursor(shale_metadata::UNDURABLE_CURSOR)
            .await
            .ok()?
            .as_deref(),
    );
    // A node of an earlier release has no boot id: every round sweeps.
    let nodes = crate::signature::node_statuses(storage, &view)
        .await?
        .into_iter()
        .map(|(_, status)| (status.boot_id, status.scrub.corrupt_count))
        .collect();
    Some(Signature {
        map: MapSignature::of(&view),
        nodes,
        undurable,
        lost: healer.lost_nodes(),
    })
}

/// Whether a sweep's result leaves nothing to do: the signature taken
/// before it may stand for a quiet cluster.
pub(super) fn clean(swept: &Swept) -> bool {
    swept.found == 0 && swept.to_move == 0 && swept.unavailable == 0 && swept.failed == 0
}
