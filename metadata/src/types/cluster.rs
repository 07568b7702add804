//! The cluster map (storage nodes, their state, heartbeats and health) and
//! the metadata group's replicas as `shale admin` shows them.

use serde::{Deserialize, Serialize};
use shale_common::NodeInfo;

/// The state an operator gave a storage node. Whether it is up or down is
/// not stored: it follows from its last heartbeat ([`NodeRecord::is_up`]).
/// Stored by variant index: only add at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// In service: new chunks are placed on it while it is up.
    #[default]
    Active,
    /// Serves reads, receives no new chunks (its chunks are to move off).
    Draining,
    /// Out of the cluster: no new chunks, not listed as a placement target.
    Removed,
}

/// Usage and health of one disk of a storage node, from its heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskReport {
    /// The disk directory on the node.
    pub path: String,
    /// Chunks on the disk.
    pub chunks: u64,
    /// Bytes the disk's chunks take.
    pub used_bytes: u64,
    /// Size of the file system, when known.
    pub capacity_bytes: Option<u64>,
    /// Bytes available to the node, when known.
    pub available_bytes: Option<u64>,
    /// Why the disk is unhealthy; `None` when it is fine.
    pub error: Option<String>,
}

/// What a storage node says about itself in each heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHealth {
    /// The node's lease: it counts as down when no heartbeat arrived for
    /// this long (its `heartbeat.down_after_ms`).
    pub down_after_ms: u64,
    /// Its disks, in configuration order.
    pub disks: Vec<DiskReport>,
    /// Chunks its scrubber (or a read) found corrupt.
    pub corrupt_chunks: u64,
}

/// A heartbeat of a storage node (it also registers the node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Who, where, which zone.
    pub node: NodeInfo,
    /// When the metadata service received it (Unix ms), stamped by the
    /// service on receipt, never by the store: a write is a function of its
    /// request alone.
    pub received_ms: i64,
    /// Capacity and health.
    pub health: NodeHealth,
}

/// One storage node in the cluster map, as stored (row format v4 of the
/// `cluster` rows; see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Id, address and zone.
    pub info: NodeInfo,
    /// What the operator made of it.
    pub state: NodeState,
    /// When its last heartbeat arrived (Unix ms, metadata service's clock);
    /// 0 when it never sent one.
    pub last_heartbeat_ms: i64,
    /// What its last heartbeat said.
    pub health: Option<NodeHealth>,
}

impl NodeRecord {
    /// Up at `now_ms` (the metadata service's clock): its lease has not run
    /// out. A node that never sent a heartbeat (registered by an older
    /// binary) has no lease and counts as up.
    pub fn is_up(&self, now_ms: i64) -> bool {
        match &self.health {
            None => true,
            Some(h) => now_ms.saturating_sub(self.last_heartbeat_ms) <= h.down_after_ms as i64,
        }
    }

    /// May receive new chunks: active and up.
    pub fn placeable(&self, now_ms: i64) -> bool {
        self.state == NodeState::Active && self.is_up(now_ms)
    }

    /// `up`, `down`, `draining`, `draining (down)` or `removed`, as `shale
    /// admin status` shows it.
    pub fn state_label(&self, now_ms: i64) -> &'static str {
        match (self.state, self.is_up(now_ms)) {
            (NodeState::Removed, _) => "removed",
            (NodeState::Draining, true) => "draining",
            (NodeState::Draining, false) => "draining (down)",
            (NodeState::Active, true) => "up",
            (NodeState::Active, false) => "down",
        }
    }
}

/// The cluster map as read: its epoch, the reader's clock and every node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Bumped by every change of membership or state (a node joins, moves,
    /// changes zone, is drained or removed). Up/down follows from heartbeats
    /// and the clock, not from writes, so it does not bump the epoch.
    pub epoch: u64,
    /// The metadata service's clock when it answered (Unix ms): compare
    /// heartbeats with this, not with the reader's own clock.
    pub now_ms: i64,
    /// Every node ever registered, removed ones included, by id.
    pub nodes: Vec<NodeRecord>,
}

/// One metadata replica as `shale admin metadata status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    /// The replica's Raft node id.
    pub id: u64,
    /// Its address (metadata RPC and Raft).
    pub addr: String,
    /// True for a voter, false for a learner.
    pub voter: bool,
    /// The last log index the leader knows it holds (leader's view only).
    pub matched: Option<u64>,
}

/// The Raft state of the metadata replica that answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftStatus {
    /// The answering replica's node id.
    pub id: u64,
    /// Leader, Follower, Candidate or Learner.
    pub state: String,
    /// Current term.
    pub term: u64,
    /// The leader's id, if known.
    pub leader: Option<u64>,
    /// Last log index.
    pub last_log: Option<u64>,
    /// Last applied index.
    pub applied: Option<u64>,
    /// Every member of the group (voters and learners).
    pub members: Vec<ReplicaStatus>,
}

/// A membership change asked through `shale admin metadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a replica: as a learner, then (once it has caught up) a voter.
    AddReplica {
        /// Its node id.
        id: u64,
        /// Its address.
        addr: String,
    },
    /// Remove a replica from the group.
    RemoveReplica {
        /// Its node id.
        id: u64,
    },
}
