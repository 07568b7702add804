//! Entry points of the fuzz target `internal_rpc` (`fuzz/`), here so that
//! `cargo test` replays its corpus (`tests/fuzz_corpus.rs`): bytes from the
//! network that the metadata service and its clients decode. They are
//! untrusted even from a signed peer: a bug or a stolen secret must not
//! crash a replica.

use crate::types::{MetaError, MetaRequest, MetaResponse};

/// Decodes `data` as the first byte says: 0, a `/rpc` request body (what a
/// replica reads); 1, a `/rpc` answer (what a client reads); 2, a
/// `/raft/status` answer; 3 to 6, the bodies of `/raft/append`,
/// `/raft/vote`, `/raft/install` and `/raft/membership` (with the feature
/// `raft-types`); 7, their answers; 8, a snapshot file as the chunks of
/// `/raft/install` assemble it (`snapshot_format`, read as an install
/// reads it); anything else, an `x-shale-auth` header value checked by a
/// role. Any input decodes or fails, never
/// panics.
pub fn internal_rpc(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which {
        0 => {
            if let Ok(req) = postcard::from_bytes::<MetaRequest>(rest) {
                // What the service does with every request before routing it.
                let _ = (req.kind(), req.is_read());
                // A decoded request encodes again.
                let _ = postcard::to_stdvec(&req).expect("a decoded request encodes");
            }
        }
        1 => {
            let _ = postcard::from_bytes::<Result<MetaResponse, MetaError>>(rest);
        }
        2 => {
            let _ = postcard::from_bytes::<crate::types::RaftStatus>(rest);
        }
        #[cfg(feature = "raft-types")]
        3..=7 => raft_message(which, rest),
        #[cfg(feature = "raft-types")]
        8 => snapshot_file(rest),
        _ => shale_common::cluster_auth::fuzz_verify(rest),
    }
}

/// The Raft messages replicas send each other (`raft_net::handle`) and
/// their answers, decoded as a replica decodes them; a decoded message
/// encodes again.
#[cfg(feature = "raft-types")]
fn raft_message(which: u8, data: &[u8]) {
    use crate::raft_types::{NodeId, TypeConfig};
    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    };
    fn again<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) {
        if let Ok(v) = postcard::from_bytes::<T>(data) {
            let _ = postcard::to_stdvec(&v).expect("a decoded message encodes");
        }
    }
    match which {
        3 => again::<AppendEntriesRequest<TypeConfig>>(data),
        4 => again::<VoteRequest<NodeId>>(data),
        5 => {
            if let Ok(req) = postcard::from_bytes::<InstallSnapshotRequest<TypeConfig>>(data) {
                // What the service checks before it hands the chunk on.
                let _ = (
                    req.data.len(),
                    req.offset,
                    req.done,
                    req.meta.snapshot_id.len(),
                );
            }
        }
        6 => again::<crate::types::MembershipChange>(data),
        _ => {
            let _ = postcard::from_bytes::<Result<AppendEntriesResponse<NodeId>, String>>(data);
            let _ = postcard::from_bytes::<Result<VoteResponse<NodeId>, String>>(data);
            let _ = postcard::from_bytes::<Result<InstallSnapshotResponse<NodeId>, String>>(data);
        }
    }
}

/// A received snapshot file, read record by record to its checked end, as
/// an install reads it before it writes a row.
#[cfg(feature = "raft-types")]
fn snapshot_file(data: &[u8]) {
    use crate::snapshot_format::Reader;
    let Ok(mut reader) = Reader::new(data) else {
        return;
    };
    let _ = reader.meta().snapshot_id.len();
    while let Ok(Some(_)) = reader.next_record() {}
}

#[cfg(all(test, feature = "raft-types"))]
mod tests {
    use super::internal_rpc;
    use crate::raft_types::{Command, TypeConfig};
    use crate::types::MetaRequest;
    use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, Vote};

    /// Real messages, and every prefix and a flipped byte of each, through
    /// the fuzz entry; with `SHALE_WRITE_CORPUS=1`, the whole messages are
    /// written as seeds to `fuzz/corpus/internal_rpc`.
    #[test]
    fn raft_messages_and_their_mutations_decode_or_fail() {
        let log_id = LogId::new(CommittedLeaderId::new(3, 1), 7);
        let append = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id),
            entries: vec![Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 1), 8),
                payload: EntryPayload::Normal(Command {
                    req: MetaRequest::CreateBucket {
                        name: "b".into(),
                        region: "r".into(),
                        owner: None,
                    },
                    now_ms: 1,
                    request_id: 2,
                }),
            }],
            leader_commit: Some(log_id),
        };
        let vote = VoteRequest::new(Vote::new(4, 2), Some(log_id));
        let install = InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            meta: SnapshotMeta {
                last_log_id: Some(log_id),
                last_membership: Default::default(),
                snapshot_id: "3-1-7-1000".into(),
            },
            offset: 0,
            data: vec![1, 2, 3, 4],
            done: false,
        };
        let snapshot = {
            use crate::snapshot_format::Writer;
            let mut w = Writer::new(Vec::new(), &install.meta).unwrap();
            w.family("buckets").unwrap();
            w.row(b"b", b"row").unwrap();
            w.finish().unwrap()
        };
        let seeds = [
            (3u8, postcard::to_stdvec(&append).unwrap()),
            (4, postcard::to_stdvec(&vote).unwrap()),
            (5, postcard::to_stdvec(&install).unwrap()),
            (8, snapshot),
        ];
        for (which, body) in &seeds {
            for end in 0..=body.len() {
                let mut data = vec![*which];
                data.extend_from_slice(&body[..end]);
                internal_rpc(&data);
                if end > 0 {
                    data[end] ^= 0x80;
                    internal_rpc(&data);
                }
            }
            for other in 3..=8u8 {
                let mut data = vec![other];
                data.extend_from_slice(body);
                internal_rpc(&data);
            }
        }
        if std::env::var_os("SHALE_WRITE_CORPUS").is_some() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus/internal_rpc");
            for (which, body) in &seeds {
                let mut data = vec![*which];
                data.extend_from_slice(body);
                std::fs::write(dir.join(format!("seed-raft-{which}")), data).unwrap();
            }
        }
    }
}
