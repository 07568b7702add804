//! Raft's network: HTTP on the metadata service's own listener, postcard
//! bodies, through the pooled internal HTTP client.
//!
//! `POST /raft/append`, `/raft/vote` and `/raft/install` carry openraft's
//! requests; the answer is HTTP 200 with a postcard `Result<response,
//! String>` (the error of the remote Raft as text: every such error is
//! fatal on the remote side anyway).
//!
//! A snapshot travels in chunks of at most [`RaftTuning::snapshot_chunk_bytes`]
//! (openraft's chunked transport: one `/raft/install` request per chunk,
//! each signed and checked on its own, the receiving Raft assembling them),
//! so no request body is larger than a chunk: `/raft/install` takes at most
//! [`MAX_SNAPSHOT_CHUNK_BODY`].
//!
//! [`RaftTuning::snapshot_chunk_bytes`]: crate::RaftTuning

use crate::raft::{MetaRaft, NodeId, TypeConfig};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shale_common::cluster_auth::ClusterAuth;
use shale_common::rpc::{HttpClient, internal_client};
use std::time::Duration;

/// Largest body of `/raft/append` and `/raft/vote` (a batch of entries).
pub const MAX_RAFT_BYTES: usize = 1024 * 1024 * 1024;

/// Largest snapshot chunk a replica sends or takes.
pub const MAX_SNAPSHOT_CHUNK: u64 = 64 * 1024 * 1024;

/// Largest body of `/raft/install`: a chunk and its request's other fields
/// (vote, snapshot meta with the membership, offset).
pub const MAX_SNAPSHOT_CHUNK_BODY: usize = MAX_SNAPSHOT_CHUNK as usize + 1024 * 1024;

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
            http: internal_client(&auth),
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
            base: base_uri(&node.addr, self.auth.scheme()),
        }
    }
}

/// `SCHEME://host:port` of a replica's address (`scheme`: `https` with TLS
/// between roles).
pub fn base_uri(addr: &str, scheme: &str) -> String {
    let a = addr.trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_string()
    } else {
        format!("{scheme}://{a}")
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
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        // One chunk (openraft's `full_snapshot` cuts the snapshot and calls
        // this for each, retrying a chunk that fails).
        self.call("/raft/install", &rpc, option.hard_ttl())
            .await
            .map_err(|e| self.rpc_error(e))
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

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// Serves one Raft message (`kind`: append, vote, install) to the local
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
        "install" => {
            let req: InstallSnapshotRequest<TypeConfig> =
                postcard::from_bytes(body).map_err(undecodable)?;
            if req.data.len() as u64 > MAX_SNAPSHOT_CHUNK {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "snapshot chunk too large".into(),
                ));
            }
            tracing::info!(
                snapshot = %req.meta.snapshot_id,
                offset = req.offset,
                len = req.data.len(),
                done = req.done,
                "snapshot chunk received"
            );
            answer(raft.install_snapshot(req).await)
        }
        _ => Err((StatusCode::NOT_FOUND, String::new())),
    }
}
