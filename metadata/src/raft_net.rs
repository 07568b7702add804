//! Raft's network: HTTP on the metadata service's own listener, postcard
//! bodies, through the pooled internal HTTP client.
//!
//! `POST /raft/append`, `/raft/vote` and `/raft/snapshot` (the whole
//! snapshot in one body) carry openraft's requests; the answer is HTTP 200
//! with a postcard `Result<response, String>` (the error of the remote Raft
//! as text: every such error is fatal on the remote side anyway).

use crate::raft::{MetaRaft, NodeId, TypeConfig};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, ReplicationClosed,
    StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, Snapshot, SnapshotMeta, Vote};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shale_common::cluster_auth::ClusterAuth;
use shale_common::rpc::{HttpClient, http_client};
use std::future::Future;
use std::io::Cursor;
use std::time::Duration;

/// Largest Raft message body (a snapshot travels whole).
pub const MAX_RAFT_BYTES: usize = 1024 * 1024 * 1024;

/// The whole-snapshot message of `POST /raft/snapshot`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SnapshotMessage {
    /// The leader's vote.
    pub vote: Vote<NodeId>,
    /// The snapshot's meta.
    pub meta: SnapshotMeta<NodeId, BasicNode>,
    /// The snapshot's data.
    pub data: Vec<u8>,
}

/// Makes one [`Peer`] per target replica; all share one HTTP pool and
/// sign with the replica's cluster credential.
#[derive(Clone)]
pub struct Network {
    http: HttpClient,
    auth: ClusterAuth,
}

impl Network {
    /// A network whose messages are signed with `auth`.
    pub fn new(auth: ClusterAuth) -> Network {
        Network {
            http: http_client(),
            auth,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            http: self.http.clone(),
            auth: self.auth.clone(),
            target,
            base: base_uri(&node.addr),
        }
    }
}

/// `http://host:port` of a replica's address.
pub fn base_uri(addr: &str) -> String {
    let a = addr.trim_end_matches('/');
    if a.starts_with("http://") {
        a.to_string()
    } else {
        format!("http://{a}")
    }
}

/// The connection to one replica.
pub struct Peer {
    http: HttpClient,
    auth: ClusterAuth,
    target: NodeId,
    base: String,
}

#[derive(Debug)]
enum CallError {
    /// Not reached (refused, reset, timed out): retried with back-off.
    Unreachable(String),
    /// Reached, but the exchange failed.
    Network(String),
    /// The remote Raft answered with an error.
    Remote(String),
}

impl Peer {
    async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        req: &Q,
        ttl: Duration,
    ) -> Result<A, CallError> {
        let body = postcard::to_stdvec(req).map_err(|e| CallError::Network(e.to_string()))?;
        let hash = blake3::hash(&body);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CallError::Network(e.to_string()))?;
        self.auth.sign_request(&mut request, &hash);
        let exchange = async {
            let resp = self
                .http
                .request(request)
                .await
                .map_err(|e| CallError::Unreachable(e.to_string()))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_RAFT_BYTES)
                .collect()
                .await
                .map_err(|e| CallError::Network(e.to_string()))?
                .to_bytes();
            if status != StatusCode::OK {
                return Err(CallError::Network(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )));
            }
            let answer: Result<A, String> =
                postcard::from_bytes(&bytes).map_err(|e| CallError::Network(e.to_string()))?;
            answer.map_err(CallError::Remote)
        };
        tokio::time::timeout(ttl, exchange)
            .await
            .map_err(|_| CallError::Unreachable(format!("{}{path}: timed out", self.base)))?
    }

    fn rpc_error<E: std::error::Error>(&self, e: CallError) -> RPCError<NodeId, BasicNode, E> {
        match e {
            CallError::Unreachable(m) => {
                RPCError::Unreachable(Unreachable::new(&AnyError::error(m)))
            }
            // The remote Raft's own errors are fatal there (it is shutting
            // down): to this side, the peer is not usable for now.
            CallError::Network(m) | CallError::Remote(m) => RPCError::Network(NetworkError::new(
                &AnyError::error(format!("replica {}: {m}", self.target)),
            )),
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("/raft/append", &rpc, option.hard_ttl())
            .await
            .map_err(|e| self.rpc_error(e))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        // Snapshots travel whole (`full_snapshot`); openraft never sends
        // chunks when `full_snapshot` is implemented.
        Err(RPCError::Network(NetworkError::new(&AnyError::error(
            "chunked snapshots are not used: snapshots travel whole",
        ))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, option.hard_ttl())
            .await
            .map_err(|e| self.rpc_error(e))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let msg = SnapshotMessage {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        };
        // A snapshot may be large: allow a minute, and stop when openraft
        // cancels the transfer.
        let send = self.call::<_, SnapshotResponse<NodeId>>(
            "/raft/snapshot",
            &msg,
            Duration::from_secs(60),
        );
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            r = send => r.map_err(|e| match e {
                CallError::Unreachable(m) => {
                    StreamingError::Unreachable(Unreachable::new(&AnyError::error(m)))
                }
                CallError::Network(m) | CallError::Remote(m) => {
                    StreamingError::Network(NetworkError::new(&AnyError::error(m)))
                }
            }),
        }
    }

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// Serves one Raft message (`kind`: append, vote, snapshot) to the local
/// replica; the answer body for HTTP 200, or an error status and text.
pub async fn handle(
    raft: &MetaRaft,
    kind: &str,
    body: &[u8],
) -> Result<Vec<u8>, (StatusCode, String)> {
    fn undecodable(e: postcard::Error) -> (StatusCode, String) {
        (
            StatusCode::BAD_REQUEST,
            format!("undecodable raft message: {e}"),
        )
    }
    fn answer<T: Serialize, E: std::fmt::Display>(
        r: Result<T, E>,
    ) -> Result<Vec<u8>, (StatusCode, String)> {
        let r: Result<T, String> = r.map_err(|e| e.to_string());
        postcard::to_stdvec(&r).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    }
    match kind {
        "append" => {
            let req: AppendEntriesRequest<TypeConfig> =
                postcard::from_bytes(body).map_err(undecodable)?;
            answer(raft.append_entries(req).await)
        }
        "vote" => {
            let req: VoteRequest<NodeId> = postcard::from_bytes(body).map_err(undecodable)?;
            answer(raft.vote(req).await)
        }
        "snapshot" => {
            let msg: SnapshotMessage = postcard::from_bytes(body).map_err(undecodable)?;
            let snapshot = Snapshot {
                meta: msg.meta,
                snapshot: Box::new(Cursor::new(msg.data)),
            };
            answer(raft.install_full_snapshot(msg.vote, snapshot).await)
        }
        _ => Err((StatusCode::NOT_FOUND, String::new())),
    }
}
