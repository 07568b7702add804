//! Linearizable reads confirmed in rounds, one round for many reads.
//!
//! A read is answered from the local catalogue once this replica has
//! confirmed, after the read arrived, that it still leads, and has applied
//! everything committed when it confirmed (openraft's
//! `ensure_linearizable`). In a group of several voters that confirmation
//! is a heartbeat to every follower and the wait for a quorum of answers:
//! a round of RPCs between replicas, once per read, so every GET cost
//! `voters - 1` extra RPCs.
//!
//! Here one round serves every read that arrived before it started: a
//! read queues for the next round; a driver task starts a round with all
//! the reads queued, and while it runs, the reads that arrive queue for the
//! one after. This is Raft's ReadIndex batched: each read is confirmed by
//! a round that started after it arrived, so it sees every write
//! acknowledged before it arrived, the same guarantee as a round of its
//! own. A group of one voter confirms without RPCs, so its reads call
//! `ensure_linearizable` directly and skip the driver's hand-off.

use crate::raft::MetaRaft;
use crate::types::MetaError;
use openraft::error::{CheckIsLeaderError, RaftError};
use tokio::sync::{mpsc, oneshot};

/// What a round tells its reads: they may be answered, or why not.
type Outcome = Result<(), MetaError>;

/// The reads waiting for the next round of leadership confirmation.
pub(crate) struct ReadBarrier {
    raft: MetaRaft,
    queue: mpsc::UnboundedSender<oneshot::Sender<Outcome>>,
}

impl ReadBarrier {
    /// Starts the round driver of `raft` (a task that ends with the barrier).
    pub(crate) fn start(raft: MetaRaft) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(drive(raft.clone(), waiting));
        ReadBarrier { raft, queue }
    }

    /// Returns once a read that arrived now may be answered from the local
    /// catalogue: leadership confirmed by a round that started after this
    /// call, and everything committed then applied. Else `NotLeader` (with
    /// the leader's address when known) or `Unavailable`.
    pub(crate) async fn confirm(&self) -> Outcome {
        if self.single_voter() {
            return confirm_round(&self.raft).await;
        }
        let (tx, rx) = oneshot::channel();
        if self.queue.send(tx).is_err() {
            return Err(MetaError::Unavailable("metadata replica stopping".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(MetaError::Unavailable("metadata replica stopping".into())))
    }

    fn single_voter(&self) -> bool {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .nth(1)
            .is_none()
    }
}

/// Runs rounds while reads queue: each round takes every read queued when
/// it starts.
async fn drive(raft: MetaRaft, mut waiting: mpsc::UnboundedReceiver<oneshot::Sender<Outcome>>) {
    let mut round = Vec::new();
    while let Some(first) = waiting.recv().await {
        round.push(first);
        while let Ok(next) = waiting.try_recv() {
            round.push(next);
        }
        crate::metrics::record_read_round(round.len());
        let outcome = confirm_round(&raft).await;
        for read in round.drain(..) {
            let _ = read.send(outcome.clone());
        }
    }
}

/// One confirmation: `ensure_linearizable`, its refusals as `MetaError`s.
async fn confirm_round(raft: &MetaRaft) -> Outcome {
    match raft.ensure_linearizable().await {
        Ok(_) => Ok(()),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(
            MetaError::NotLeader(f.leader_node.map(|n| n.addr).or_else(|| leader_addr(raft))),
        ),
        Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
            Err(MetaError::NotLeader(None))
        }
        Err(RaftError::Fatal(f)) => Err(MetaError::Unavailable(format!(
            "metadata replica stopping: {f}"
        ))),
    }
}

fn leader_addr(raft: &MetaRaft) -> Option<String> {
    crate::service::leader_addr(raft)
}
