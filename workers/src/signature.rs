//! What the workers' quiet rounds compare (the healer's, the collector's
//! orphan sweep): the parts of a cluster's signature they share, each at a
//! cost that depends on the number of nodes only.

use shale_common::NodeId;
use shale_metadata::{ClusterView, NodeState};
use shale_storage_node::{NodeStatus, StorageClient};

/// The cluster map as a round sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapSignature {
    epoch: u64,
    /// Per node: id, address, state, up.
    nodes: Vec<(NodeId, String, NodeState, bool)>,
}

impl MapSignature {
    pub(crate) fn of(view: &ClusterView) -> Self {
        MapSignature {
            epoch: view.epoch,
            nodes: view
                .nodes
                .iter()
                .map(|r| {
                    (
                        r.info.id,
                        r.info.addr.clone(),
                        r.state,
                        r.is_up(view.now_ms),
                    )
                })
                .collect(),
        }
    }
}

/// The status of every node of `view` not removed, in the view's order;
/// `None` when one does not answer, or is of an earlier release (no boot
/// id): the round then does its full work.
pub(crate) async fn node_statuses(
    storage: &StorageClient,
    view: &ClusterView,
) -> Option<Vec<(NodeId, NodeStatus)>> {
    let live: Vec<_> = view
        .nodes
        .iter()
        .filter(|r| r.state != NodeState::Removed)
        .collect();
    let statuses =
        futures::future::join_all(live.iter().map(|r| storage.status(&r.info.addr))).await;
    let mut out = Vec::with_capacity(live.len());
    for (r, status) in live.iter().zip(statuses) {
        let status = status.ok()?;
        if status.boot_id.is_empty() {
            return None;
        }
        out.push((r.info.id, status));
    }
    Some(out)
}
