//! The leader's proposer: packs the writes that arrive together into one
//! Raft log entry.
//!
//! openraft 0.9 appends each `client_write` as its own log entry and waits
//! for that append's sync before it takes the next one, so entries of one
//! request each cost a WAL sync in turn, however many clients wait. The
//! proposer sends at most [`IN_FLIGHT`] entries at a time; the writes that
//! arrive meanwhile go, up to [`MAX_ITEMS`] requests or [`MAX_BYTES`] of
//! them, into the next entry as one `MetaRequest::Batch`, which the state
//! machine applies request by request, each with its own write id
//! (`raft::StateMachine`). A lone write is proposed as itself.

use crate::raft::{Answer, Command, MetaRaft};
use crate::types::{MetaError, MetaRequest, MetaResponse};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Entries proposed and not yet applied, at most: one being appended while
/// the one before it is applied.
pub const IN_FLIGHT: usize = 2;
/// Requests in one entry, at most.
pub const MAX_ITEMS: usize = 256;
/// Encoded request bytes in one entry, at most (a lone larger request is
/// still proposed, alone).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

struct Pending {
    req: MetaRequest,
    request_id: u128,
    bytes: usize,
    reply: oneshot::Sender<Answer>,
}

/// A handle on the proposer task (which ends when the last handle is
/// dropped).
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the proposer of `raft`.
    pub fn start(raft: MetaRaft) -> Proposer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Proposer { tx }
    }

    /// Proposes `req` (its encoding `bytes` long, with the client's write
    /// id) and returns its answer once applied; a leader change or a
    /// stopping replica is an error for every request of the entry.
    pub async fn propose(&self, req: MetaRequest, request_id: u128, bytes: usize) -> Answer {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            req,
            request_id,
            bytes,
            reply,
        };
        if self.tx.send(pending).is_err() {
            return Err(MetaError::Unavailable("metadata replica stopping".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(MetaError::Unavailable("metadata replica stopping".into())))
    }
}

async fn run(raft: MetaRaft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut next: Option<Pending> = None;
    loop {
        let first = match next.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // Everything that queued up while the slot was busy goes along.
        let mut bytes = first.bytes;
        let mut group = vec![first];
        while group.len() < MAX_ITEMS {
            match rx.try_recv() {
                Ok(p) if bytes + p.bytes > MAX_BYTES => {
                    next = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.bytes;
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, group).await;
            drop(slot);
        });
    }
}

async fn propose(raft: &MetaRaft, mut group: Vec<Pending>) {
    let now_ms = crate::service::now_ms();
    if group.len() == 1 {
        let Some(p) = group.pop() else { return };
        let command = Command {
            req: p.req,
            now_ms,
            request_id: p.request_id,
        };
        let answer = match raft.client_write(command).await {
            Ok(resp) => resp.data,
            Err(e) => Err(crate::service::write_error(raft, e)),
        };
        let _ = p.reply.send(answer);
        return;
    }
    let mut replies = Vec::with_capacity(group.len());
    let mut items = Vec::with_capacity(group.len());
    for p in group {
        items.push((p.request_id, p.req));
        replies.push(p.reply);
    }
    let command = Command {
        req: MetaRequest::Batch { items },
        now_ms,
        request_id: 0,
    };
    match raft.client_write(command).await {
        Ok(resp) => match resp.data {
            Ok(MetaResponse::Batch(answers)) if answers.len() == replies.len() => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            other => {
                let e = MetaError::Internal(format!("a batch entry answered {other:?}"));
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        },
        Err(e) => {
            let e = crate::service::write_error(raft, e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
