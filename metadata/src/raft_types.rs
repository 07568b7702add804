//! The Raft types of the metadata group, without the store: what replicas
//! send each other (`raft_net`) decodes with these, so the fuzz target
//! `internal_rpc` builds them without RocksDB (feature `raft-types`).

use crate::types::{MetaError, MetaRequest, MetaResponse};
use serde::{Deserialize, Serialize};

/// A replica's id in the group.
pub type NodeId = u64;

/// One Raft log entry's application data: a mutating request, with what a
/// deterministic apply needs fixed in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The request, as the client sent it.
    pub req: MetaRequest,
    /// The leader's clock when it proposed the entry (Unix ms): the time of
    /// every timestamp and GC queue entry the request writes.
    pub now_ms: i64,
    /// The client's id of the request (kept across its retries); 0: none,
    /// the request is applied however often it is proposed.
    pub request_id: u128,
}

/// The answer of an applied entry, returned through `client_write`.
pub type Answer = Result<MetaResponse, MetaError>;

openraft::declare_raft_types!(
    /// Shale's Raft types: commands in, answers out, `BasicNode` addresses.
    pub TypeConfig:
        D = Command,
        R = Answer,
        // A snapshot is a file (`snapshot_format`), never a buffer in memory.
        SnapshotData = tokio::fs::File,
);
