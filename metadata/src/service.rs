//! The metadata service: `MetaStore` behind HTTP/1.1.
//!
//! `POST /rpc` takes a postcard-encoded `MetaRequest` and answers HTTP 200
//! with a postcard-encoded `Result<MetaResponse, MetaError>` whenever the RPC
//! ran (its own errors travel in the body, typed); 400 for an undecodable
//! body, 413 above `MAX_REQUEST_BYTES`. `GET /health` answers 200.
//!
//! The service is one replica of a Raft group (`crate::raft`): a write is
//! proposed as a log entry (time and request id fixed here) and answered
//! with its apply result; a read is answered from the local RocksDB once
//! `ensure_linearizable` confirms this replica leads and has applied every
//! committed entry (one confirmation for all the reads that arrived before
//! it, `read_barrier.rs`). A replica that does not lead answers
//! `MetaError::NotLeader` with the leader's address when it knows it.
//! The same listener carries Raft (`/raft/append|vote|snapshot`, see
//! `raft_net`) and the group's administration: `GET /raft/status`,
//! `POST /raft/membership` (leader only), `POST /raft/campaign` (start an
//! election on this replica).
//!
//! Every RPC runs inside a `meta_request` span carrying the
//! `x-shale-request-id` it came with (the gateway's S3 request id), is
//! logged at debug level when it ends (kind, result, time) and counted in
//! [`crate::metrics`], with the Raft gauges set at scrape time.

use crate::proposer::Proposer;
use crate::raft::{LogStore, MetaRaft, StateMachine};
use crate::raft_net::{self, MAX_RAFT_BYTES, Network};
use crate::read_barrier::ReadBarrier;
use crate::store::MetaStore;
use crate::types::{
    MembershipChange, MetaError, MetaRequest, MetaResponse, RaftStatus, ReplicaStatus,
};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use openraft::BasicNode;
use openraft::error::{ClientWriteError, RaftError};
use serde::Deserialize;
use shale_common::cluster_auth::{Claim, ClusterAuth, Refusal, Tier};
use shale_common::sealing::SealingKeys;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Largest accepted RPC body (a PutPart of a 5 GiB part is ~150 KiB).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// How long `serve` waits for open connections to finish after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Configuration of the metadata role.
#[derive(Clone, Debug, Deserialize)]
pub struct MetadataConfig {
    /// Directory of the RocksDB database (created if missing); the Raft
    /// snapshot is kept next to it (`<path>.snapshot`).
    pub path: PathBuf,
    /// This replica's Raft node id (unique in the group, stable).
    #[serde(default = "default_node_id")]
    pub node_id: u64,
    /// Every replica of the group, this one included. Empty: a group of one
    /// (the same code path, as `shale dev` runs it).
    #[serde(default)]
    pub peers: Vec<Replica>,
    /// Raft timing and log compaction.
    #[serde(default)]
    pub raft: RaftTuning,
    /// The secrets key access-key secrets are sealed under before they are
    /// proposed or stored (`shale_common::sealing`). Roles always give one;
    /// without it (in-process tests) secrets are stored as given.
    #[serde(skip)]
    pub secrets: Option<SealingKeys>,
}

fn default_node_id() -> u64 {
    1
}

impl MetadataConfig {
    /// A single-replica group with its database at `path`.
    pub fn single(path: PathBuf) -> MetadataConfig {
        MetadataConfig {
            path,
            node_id: default_node_id(),
            peers: Vec::new(),
            raft: RaftTuning::default(),
            secrets: None,
        }
    }
}

/// One replica of the metadata group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Its Raft node id.
    pub id: u64,
    /// Its address (`host:port`): metadata RPC and Raft on one listener.
    pub addr: String,
}

/// Raft timing and log compaction of the metadata group.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTuning {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// Shortest election timeout (the longest is twice it); a follower
    /// campaigns after the leader's lease (the longest timeout) plus one
    /// timeout without a heartbeat.
    pub election_timeout_ms: u64,
    /// A snapshot is built after this many applied entries since the last
    /// (and see `snapshot_log_ratio`).
    pub snapshot_every: u64,
    /// ... and once the log grew since the last snapshot by this many times
    /// its size (`snapshot_policy.rs`); 0: entries only.
    pub snapshot_log_ratio: f64,
    /// Entries kept in the log behind a snapshot (for slow followers).
    pub logs_to_keep: u64,
    /// A snapshot is sent in chunks of at most this many bytes (one
    /// signed request each), at most 64 MiB.
    pub snapshot_chunk_bytes: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_ms: 200,
            election_timeout_ms: 800,
            snapshot_every: 20_000,
            snapshot_log_ratio: 1.0,
            logs_to_keep: 2_000,
            snapshot_chunk_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Errors that stop the service (not RPC errors: those are `MetaError`).
#[derive(thiserror::Error, Debug)]
pub enum ServeError {
    /// The database could not be opened.
    #[error("metadata.path: cannot open the database: {0}")]
    Open(MetaError),
    /// The configuration is inconsistent (the message names the field).
    #[error("{0}")]
    Config(String),
    /// Raft could not start.
    #[error("raft: {0}")]
    Raft(String),
    /// Accepting connections failed.
    #[error("accept: {0}")]
    Accept(#[from] std::io::Error),
}

/// Result of `serve`.
pub type Result<T> = std::result::Result<T, ServeError>;

/// What every connection's handler needs: the catalogue and the replica.
struct Node {
    store: Arc<MetaStore>,
    raft: MetaRaft,
    proposer: Proposer,
    reads: ReadBarrier,
    auth: ClusterAuth,
}

/// Opens the catalogue at `config.path`, starts this Raft replica, and
/// serves RPC (and Raft) on `listener` until `shutdown` completes; then
/// drains open connections, stops Raft and closes the database before
/// returning (so the directory can be reopened at once).
pub async fn serve(
    config: MetadataConfig,
    auth: ClusterAuth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let self_addr = match config.peers.iter().find(|p| p.id == config.node_id) {
        Some(p) => p.addr.clone(),
        None if config.peers.is_empty() => listener.local_addr()?.to_string(),
        None => {
            return Err(ServeError::Config(format!(
                "metadata.peers: no peer has this replica's node_id {}",
                config.node_id
            )));
        }
    };
    let path = config.path.clone();
    let store = tokio::task::spawn_blocking(move || MetaStore::open(&path))
        .await
        .map_err(|e| ServeError::Open(MetaError::Internal(e.to_string())))?
        .map_err(ServeError::Open)?;
    let store = Arc::new(store);
    if let Some(keys) = config.secrets.clone() {
        store.set_sealing(keys);
        // Rows from before sealing (or sealed under a retired key) are
        // sealed under the sealing key before anything is served.
        let s = store.clone();
        let resealed = tokio::task::spawn_blocking(move || s.reseal_access_keys())
            .await
            .map_err(|e| ServeError::Open(MetaError::Internal(e.to_string())))?
            .map_err(ServeError::Open)?;
        if resealed > 0 {
            tracing::info!(resealed, "access-key secrets sealed under the secrets key");
        }
    }
    let t = &config.raft;
    if !(t.snapshot_log_ratio.is_finite() && t.snapshot_log_ratio >= 0.0) {
        return Err(ServeError::Config(format!(
            "metadata.raft.snapshot_log_ratio: {} is not a ratio of 0 or more",
            t.snapshot_log_ratio
        )));
    }
    let rule = crate::snapshot_policy::SnapshotRule {
        every: t.snapshot_every.max(1),
        log_ratio: t.snapshot_log_ratio,
    };
    let raft_config = openraft::Config {
        cluster_name: "shale-metadata".into(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_timeout_ms,
        election_timeout_max: t.election_timeout_ms * 2,
        // Snapshots are asked for by `snapshot_policy::run`.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: t.logs_to_keep,
        snapshot_max_chunk_size: t
            .snapshot_chunk_bytes
            .clamp(1, raft_net::MAX_SNAPSHOT_CHUNK),
        // A chunk's round trip; the last one's includes the install of the
        // whole snapshot on the receiver (as the whole transfer had before).
        install_snapshot_timeout: 60_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| ServeError::Config(format!("metadata.raft: {e}")))?;
    let mut snapshot_path = config.path.clone().into_os_string();
    snapshot_path.push(".snapshot");
    let snapshot_path = PathBuf::from(snapshot_path);
    let log_store = LogStore::new(store.clone());
    let logged = log_store.logged_bytes();
    let state_machine = StateMachine::open(store.clone(), snapshot_path.clone())
        .map_err(|e| ServeError::Raft(e.to_string()))?;
    let raft = MetaRaft::new(
        config.node_id,
        Arc::new(raft_config),
        Network::new(auth.clone()),
        log_store,
        state_machine,
    )
    .await
    .map_err(|e| ServeError::Raft(e.to_string()))?;
    let node = Arc::new(Node {
        store: store.clone(),
        raft: raft.clone(),
        proposer: Proposer::start(raft.clone()),
        reads: ReadBarrier::start(raft.clone()),
        auth: auth.clone(),
    });
    crate::metrics::report_on_scrape(Arc::downgrade(&store), raft.metrics());
    let snapshots = tokio::spawn(crate::snapshot_policy::run(
        raft.clone(),
        rule,
        logged,
        snapshot_path,
    ));
    drop(store);
    tracing::info!(path = %config.path.display(), id = config.node_id, addr = %self_addr, "metadata replica started");
    let boot = tokio::spawn(bootstrap(
        raft.clone(),
        auth,
        config.node_id,
        self_addr,
        config.peers.clone(),
    ));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Transient (EMFILE, aborted handshakes): keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let node = node.clone();
                let stop_rx = stop_rx.clone();
                match node.auth.tls().and_then(|t| t.acceptor.clone()) {
                    None => {
                        conns.spawn(serve_connection(node, peer, stream, stop_rx));
                    }
                    Some(acceptor) => {
                        conns.spawn(async move {
                            if let Some(tls) =
                                shale_common::tls::accept(&acceptor, stream, peer).await
                            {
                                serve_connection(node, peer, tls, stop_rx).await;
                            }
                        });
                    }
                }
            }
            // Reap finished connections so the set does not grow forever.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    boot.abort();
    snapshots.abort();
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.shutdown().await;
    }
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "raft did not stop cleanly");
    }
    drop(raft);
    // Wait until the last request's blocking task (and Raft's log flusher)
    // has let go of the store, so the database is closed when we return.
    let Node {
        store,
        raft,
        proposer,
        reads,
        auth: _,
    } = match Arc::try_unwrap(node) {
        Ok(n) => n,
        Err(_) => {
            tracing::warn!("metadata connections still hold the catalogue");
            return Ok(());
        }
    };
    // The proposer's and the read rounds' tasks end with their last
    // handles, and let go of Raft.
    drop(proposer);
    drop(reads);
    drop(raft);
    let mut store = store;
    for _ in 0..500 {
        match Arc::try_unwrap(store) {
            Ok(s) => {
                drop(s);
                break;
            }
            Err(s) => {
                store = s;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tracing::info!("metadata service stopped");
    Ok(())
}

/// Serves one connection (plain or TLS) until it ends or the service stops.
async fn serve_connection<S>(
    node: Arc<Node>,
    peer: SocketAddr,
    stream: S,
    mut stop_rx: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handle(node.clone(), peer, req));
    let conn = http1::Builder::new()
        // With a timer, hyper drops peers that trickle their headers.
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop_rx.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Initializes the group when none is: a single replica at once; in a
/// group, the lowest-id peer, once a majority of the peers (itself
/// included) answer that they hold no Raft state and none that it does (a
/// group that exists has its membership on a majority, so one of them
/// would say so: a wiped replica never starts a second group). A group of
/// one that exists gets its replica's address updated instead
/// ([`readdress_single`]).
async fn bootstrap(
    raft: MetaRaft,
    auth: ClusterAuth,
    id: u64,
    self_addr: String,
    peers: Vec<Replica>,
) {
    // Asks the peers for their Raft state (signed like every internal call).
    let peers_client = crate::client::MetaClient::with_addrs(&[] as &[&str], auth);
    loop {
        if raft.is_initialized().await.unwrap_or(true) {
            if peers.is_empty() {
                readdress_single(&raft, id, &self_addr).await;
            }
            return;
        }
        if peers.is_empty() {
            let members = BTreeMap::from([(id, BasicNode { addr: self_addr })]);
            if let Err(e) = raft.initialize(members).await {
                tracing::warn!(error = %e, "initializing the metadata group");
            }
            return;
        }
        if peers.iter().map(|p| p.id).min() != Some(id) {
            return; // the lowest-id peer initializes; the leader then contacts us
        }
        let mut fresh = 1;
        let mut initialized = false;
        for p in peers.iter().filter(|p| p.id != id) {
            match tokio::time::timeout(Duration::from_secs(2), peers_client.raft_status(&p.addr))
                .await
            {
                Ok(Ok(s)) if s.members.is_empty() && s.last_log.is_none() => fresh += 1,
                Ok(Ok(_)) => initialized = true,
                _ => {}
            }
        }
        if initialized {
            return;
        }
        if fresh * 2 > peers.len() {
            let members: BTreeMap<u64, BasicNode> = peers
                .iter()
                .map(|p| {
                    (
                        p.id,
                        BasicNode {
                            addr: p.addr.clone(),
                        },
                    )
                })
                .collect();
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(peers = peers.len(), "metadata group initialized"),
                Err(e) => tracing::warn!(error = %e, "initializing the metadata group"),
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A group of one whose membership names this replica at another address
/// (restarted on a new one: a changed `listen`, a `shale dev` whose kept
/// port was taken) records its own address, once it leads. Otherwise
/// `admin status` would show the group's only member unreachable and the
/// live replica not a member, and a `NotLeader` would send clients to the
/// old address. Safe only here: the membership's sole node is this very
/// replica (same id, same log), so no other process can answer at either
/// address as it; a group of several is readdressed by remove-replica and
/// add-replica.
async fn readdress_single(raft: &MetaRaft, id: u64, self_addr: &str) {
    loop {
        let recorded = {
            let m = raft.metrics().borrow().clone();
            let membership = m.membership_config.membership();
            let mut nodes = membership.nodes();
            match (nodes.next(), nodes.next()) {
                (Some((n, node)), None) if *n == id => node.addr.clone(),
                _ => return, // not a group of this replica alone
            }
        };
        if recorded == self_addr {
            return;
        }
        // A single voter elects itself after one election timeout.
        if raft
            .wait(None)
            .state(openraft::ServerState::Leader, "metadata replica leads")
            .await
            .is_err()
        {
            return; // Raft is stopping
        }
        let nodes = BTreeMap::from([(
            id,
            BasicNode {
                addr: self_addr.to_string(),
            },
        )]);
        match raft
            .change_membership(openraft::ChangeMembers::SetNodes(nodes), false)
            .await
        {
            Ok(_) => {
                tracing::info!(
                    id,
                    old = %recorded,
                    new = %self_addr,
                    "metadata group of one: recorded this replica's new address"
                );
                return;
            }
            Err(RaftError::Fatal(_)) => return, // Raft is stopping
            Err(e) => {
                // E.g. the previous membership entry not committed yet, or
                // leadership lost meanwhile: look again.
                tracing::warn!(error = %e, "recording this replica's new address: retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Fills the times a request carries that are the service's to give (a
/// heartbeat's arrival), so that the store's writes depend on the request
/// alone.
fn stamp(request: &mut MetaRequest) {
    if let MetaRequest::Heartbeat { heartbeat } = request {
        heartbeat.received_ms = now_ms();
    }
}

/// This replica's clock (Unix ms): the time it stamps on what it receives
/// and proposes.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp
}

/// A request whose credential passed: what its body must be, and who sent
/// it (for the log of a refusal).
struct Signed {
    claim: Claim,
    peer: SocketAddr,
}

/// Checks the request's cluster credential before anything else (whatever
/// the path: a route added later is behind it too), then routes it.
async fn handle(
    node: Arc<Node>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let signed = match node.auth.verify(&parts, Some(peer)) {
        Ok(claim) => Signed { claim, peer },
        Err(why) => return Ok(reply(why.status(), why.to_string())),
    };
    // Raft and its administration are the replicas' (and the admin CLI's)
    // only; the data tier is for storage nodes' chunks, nothing here.
    let allowed: &[Tier] = if parts.uri.path().starts_with("/raft/") && parts.method == Method::POST
    {
        &[Tier::Root]
    } else {
        &[Tier::Root, Tier::Gateway, Tier::Node]
    };
    if let Err(why) = signed.claim.require(allowed) {
        node.auth
            .refused(why, &parts.method, parts.uri.path(), Some(peer));
        return Ok(reply(why.status(), why.to_string()));
    }
    route(node, signed, Request::from_parts(parts, body)).await
}

async fn route(
    node: Arc<Node>,
    signed: Signed,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    Ok(match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => reply(StatusCode::OK, "ok"),
        (&Method::POST, "/rpc") => rpc(node, signed, req).await,
        (&Method::GET, "/raft/status") => match postcard::to_stdvec(&raft_status(&node.raft)) {
            Ok(b) => reply(StatusCode::OK, b),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (&Method::POST, p) if p.starts_with("/raft/") => {
            let limit = if p == "/raft/install" {
                raft_net::MAX_SNAPSHOT_CHUNK_BODY
            } else {
                MAX_RAFT_BYTES
            };
            let body = match read_body(&node.auth, &signed, req, limit).await {
                Ok(b) => b,
                Err(resp) => return Ok(resp),
            };
            let kind = &p["/raft/".len()..];
            let answer = match kind {
                "membership" => admin_membership(&node.raft, &body).await,
                "campaign" => encode_answer(
                    &node
                        .raft
                        .trigger()
                        .elect()
                        .await
                        .map_err(|e| MetaError::Unavailable(e.to_string())),
                ),
                _ => raft_net::handle(&node.raft, kind, &body).await,
            };
            match answer {
                Ok(b) => reply(StatusCode::OK, b),
                Err((status, msg)) => reply(status, msg),
            }
        }
        (_, "/rpc") | (_, "/health") | (_, "/raft/status") => {
            reply(StatusCode::METHOD_NOT_ALLOWED, "")
        }
        _ => reply(StatusCode::NOT_FOUND, ""),
    })
}

/// The body, at most `limit` bytes, when it is the one signed.
async fn read_body(
    auth: &ClusterAuth,
    signed: &Signed,
    req: Request<Incoming>,
    limit: usize,
) -> std::result::Result<Bytes, Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(b) => {
            let b = b.to_bytes();
            if let Err(why) = signed.claim.check_body(&b) {
                auth.refused(why, &parts.method, parts.uri.path(), Some(signed.peer));
                return Err(reply(why.status(), why.to_string()));
            }
            Ok(b)
        }
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                ));
            }
            Err(reply(StatusCode::BAD_REQUEST, format!("reading body: {e}")))
        }
    }
}

fn encode_answer<T: serde::Serialize>(v: &T) -> std::result::Result<Vec<u8>, (StatusCode, String)> {
    postcard::to_stdvec(v).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// This replica's view of the group.
fn raft_status(raft: &MetaRaft) -> RaftStatus {
    let m = raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| ReplicaStatus {
            id: *id,
            addr: n.addr.clone(),
            voter: voters.contains(id),
            matched: m
                .replication
                .as_ref()
                .and_then(|r| r.get(id).cloned().flatten())
                .map(|l| l.index),
        })
        .collect();
    RaftStatus {
        id: m.id,
        state: format!("{:?}", m.state),
        term: m.current_term,
        leader: m.current_leader,
        last_log: m.last_log_index,
        applied: m.last_applied.map(|l| l.index),
        members,
    }
}

/// The leader's address (from this replica's view), for a redirect.
pub(crate) fn leader_addr(raft: &MetaRaft) -> Option<String> {
    let m = raft.metrics().borrow().clone();
    let leader = m.current_leader?;
    m.membership_config
        .membership()
        .get_node(&leader)
        .map(|n| n.addr.clone())
}

pub(crate) fn write_error(
    raft: &MetaRaft,
    e: RaftError<u64, ClientWriteError<u64, BasicNode>>,
) -> MetaError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            MetaError::NotLeader(f.leader_node.map(|n| n.addr).or_else(|| leader_addr(raft)))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            MetaError::InvalidRequest(c.to_string())
        }
        RaftError::Fatal(f) => MetaError::Unavailable(format!("metadata replica stopping: {f}")),
    }
}

/// How long `AddReplica` waits for the new replica to catch up before it
/// answers that the replica stays a learner (below the client's 30 s RPC
/// timeout; a replica that needs longer is promoted by asking again).
const CATCH_UP_WAIT: Duration = Duration::from_secs(15);

/// `POST /raft/membership` (leader only): add a replica (learner, caught
/// up, then voter) or remove one. Answers `Result<RaftStatus, MetaError>`.
async fn admin_membership(
    raft: &MetaRaft,
    body: &[u8],
) -> std::result::Result<Vec<u8>, (StatusCode, String)> {
    let change: MembershipChange = postcard::from_bytes(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("undecodable request: {e}")))?;
    encode_answer(&change_membership(raft, change).await)
}

async fn change_membership(
    raft: &MetaRaft,
    change: MembershipChange,
) -> std::result::Result<RaftStatus, MetaError> {
    // The checks below read this replica's view of the group: only the
    // leader's is current, so any other replica sends the client there.
    if raft.metrics().borrow().state != openraft::ServerState::Leader {
        return Err(MetaError::NotLeader(leader_addr(raft)));
    }
    let membership = || {
        raft.metrics()
            .borrow()
            .membership_config
            .membership()
            .clone()
    };
    match change {
        MembershipChange::AddReplica { id, addr } => {
            let current = membership();
            if let Some(node) = current.get_node(&id) {
                if node.addr != addr {
                    return Err(MetaError::InvalidArgument(format!(
                        "replica {id} is already a member of the metadata group, at {} \
                         (remove it first to give it another address)",
                        node.addr
                    )));
                }
                if current.voter_ids().any(|v| v == id) {
                    return Ok(raft_status(raft)); // asked again: nothing to do
                }
            }
            // Not openraft's blocking add_learner: it counts a learner that
            // never answered as caught up while the log is short, and would
            // make an unreachable address a voter at once (a group of four
            // with one dead voter survives no further loss).
            let added = raft
                .add_learner(id, BasicNode { addr: addr.clone() }, false)
                .await
                .map_err(|e| write_error(raft, e))?;
            let since = added.log_id.index;
            let caught_up = raft
                .wait(Some(CATCH_UP_WAIT))
                .metrics(
                    |m| {
                        m.replication
                            .as_ref()
                            .and_then(|r| r.get(&id).cloned().flatten())
                            .is_some_and(|l| l.index >= since)
                    },
                    "new metadata replica caught up",
                )
                .await;
            if caught_up.is_err() {
                return Err(MetaError::Unavailable(format!(
                    "replica {id} at {addr} is a learner now but has not caught up within \
                     {} s (is it running, with node_id = {id} and the group as peers?); it \
                     does not vote until it has: run add-replica again once it runs, or \
                     remove-replica --id {id}",
                    CATCH_UP_WAIT.as_secs()
                )));
            }
            let mut voters: BTreeSet<u64> = membership().voter_ids().collect();
            voters.insert(id);
            raft.change_membership(voters, false)
                .await
                .map_err(|e| write_error(raft, e))?;
        }
        MembershipChange::RemoveReplica { id } => {
            let current = membership();
            let mut voters: BTreeSet<u64> = current.voter_ids().collect();
            if current.get_node(&id).is_none() {
                let members: Vec<String> = current.nodes().map(|(m, _)| m.to_string()).collect();
                return Err(MetaError::InvalidArgument(format!(
                    "replica {id} is not a member of the metadata group (members: {})",
                    members.join(", ")
                )));
            }
            if !voters.remove(&id) {
                // A learner (an add-replica that never caught up).
                raft.change_membership(
                    openraft::ChangeMembers::RemoveNodes(BTreeSet::from([id])),
                    false,
                )
                .await
                .map_err(|e| write_error(raft, e))?;
            } else if voters.is_empty() {
                return Err(MetaError::InvalidArgument(format!(
                    "replica {id} is the metadata group's last voter: the group cannot be \
                     left without one"
                )));
            } else {
                raft.change_membership(voters, false)
                    .await
                    .map_err(|e| write_error(raft, e))?;
            }
        }
    }
    Ok(raft_status(raft))
}

/// What each tier may ask of `/rpc`: a storage node its heartbeat only
/// (which registers it); gateways and the root everything. So a storage
/// node's keys never read an access key's secret, a bucket or an object.
fn allowed_for(tier: Tier, request: &MetaRequest) -> std::result::Result<(), Refusal> {
    match (tier, request) {
        (Tier::Root | Tier::Gateway, _) => Ok(()),
        (Tier::Node, MetaRequest::Heartbeat { .. }) => Ok(()),
        _ => Err(Refusal::WrongRole),
    }
}

/// The header that carries a write's idempotency id (32 hex digits), the
/// same on every retry of it. (`x-shale-request-id` is something else: the
/// gateway's S3 request id, shared by all the RPCs of one S3 request and
/// used only to trace them in the logs.)
pub const WRITE_ID_HEADER: &str = "x-shale-write-id";

/// A read, linearizable: this replica is the leader (a quorum confirmed it
/// after the read arrived, `read_barrier.rs`) and has applied everything
/// committed then. A GET's point read is answered from memory on this
/// thread when it can be (`store/memory_reads.rs`); the rest run on the
/// blocking pool.
async fn read(node: &Node, request: MetaRequest) -> std::result::Result<MetaResponse, MetaError> {
    node.reads.confirm().await?;
    if let Some(answer) = node.store.execute_from_memory(&request) {
        crate::metrics::record_memory_read(true);
        return answer;
    }
    if request.is_point_read() {
        crate::metrics::record_memory_read(false);
    }
    let store = node.store.clone();
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(|| store.execute(request))).await {
        Ok(r) => r,
        Err(e) => Err(MetaError::Internal(format!("request task failed: {e}"))),
    }
}

async fn rpc(node: Arc<Node>, signed: Signed, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let span = tracing::info_span!(
        "meta_request",
        request_id = shale_common::rpc::request_id_of(req.headers()).unwrap_or("-"),
    );
    rpc_in_span(node, signed, req).instrument(span).await
}

async fn rpc_in_span(
    node: Arc<Node>,
    signed: Signed,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let write_id = req
        .headers()
        .get(WRITE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| u128::from_str_radix(v, 16).ok())
        .unwrap_or(0);
    let body = match read_body(&node.auth, &signed, req, MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let mut request: MetaRequest = match postcard::from_bytes(&body) {
        Ok(r) => r,
        Err(e) => return reply(StatusCode::BAD_REQUEST, format!("undecodable request: {e}")),
    };
    let kind = request.kind();
    if let Err(why) = allowed_for(signed.claim.tier(), &request) {
        node.auth
            .refused(why, &Method::POST, "/rpc", Some(signed.peer));
        crate::metrics::record_request(kind, "WrongRole", started);
        return reply(why.status(), format!("{why}: {kind}"));
    }
    stamp(&mut request);
    // Secrets are sealed before they are proposed: the Raft log and its
    // snapshots never hold one in the clear.
    if let MetaRequest::PutAccessKey { key } = &mut request {
        node.store.seal_secret(key);
    }
    let result: std::result::Result<MetaResponse, MetaError> = if request.is_read() {
        read(&node, request).await
    } else if let MetaRequest::Batch { .. } = request {
        Err(MetaError::InvalidRequest(
            "a batch is made by the metadata service only".into(),
        ))
    } else {
        node.proposer.propose(request, write_id, body.len()).await
    };
    if let Err(MetaError::Internal(msg)) = &result {
        tracing::error!(kind, error = %msg, "metadata request failed");
    }
    let outcome: &'static str = match &result {
        Ok(_) => "ok",
        Err(e) => e.kind(),
    };
    crate::metrics::record_request(kind, outcome, started);
    tracing::debug!(
        kind,
        result = outcome,
        micros = started.elapsed().as_micros() as u64,
        "metadata request"
    );
    match postcard::to_stdvec(&result) {
        Ok(bytes) => reply(StatusCode::OK, bytes),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding response: {e}"),
        ),
    }
}
