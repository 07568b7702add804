//! The storage node's HTTP/1.1 service (hyper 1.x).
//!
//! | request | answer |
//! |---|---|
//! | `PUT /chunks/{id}` (body = data, at most [`MAX_CHUNK_BODY`]) | 201 created, 200 replaced, 413 too large, 408 body stalled for [`PUT_BODY_IDLE`], 503 no room in the node's [`PUT_BUDGET_BYTES`] within [`PUT_BUDGET_WAIT`] |
//! | `GET /chunks/{id}` (optional `Range: bytes=a-b`, `a-`, `-n`) | 200 / 206 + `content-range`, 416 bad range |
//! | `HEAD /chunks/{id}` | 200, `content-length` = data size, `x-shale-block-size` |
//! | `DELETE /chunks/{id}` | 204 |
//! | `GET /chunks` | JSON array of ids |
//! | `GET /status` | JSON [`NodeStatus`](crate::NodeStatus) |
//! | (any `PUT` when the disk is full) | 507 `disk-full` |
//! | `GET /scrub` | JSON [`ScrubReport`](crate::scrub::ScrubReport): scrub passes, chunks known corrupt |
//!
//! Every error answer carries `x-shale-error` (`not-found`, `corrupt`,
//! `invalid-range`, `invalid-chunk-id`, `too-large`, `disk-full`, `bad-request`,
//! `no-route`, `method-not-allowed`, `internal`) so that the client can tell
//! a corrupt chunk (500) from any other internal error. Ranges are over the
//! chunk's data bytes and, as in HTTP, inclusive. A request for several
//! ranges is refused (416): nothing in Shale asks for one.
//!
//! Every request is handled inside a `chunk_request` span carrying the
//! `x-shale-request-id` it came with (the gateway's S3 request id) and the
//! node, and logged at debug level when it ends (method, path, status,
//! time); its metrics are in [`crate::metrics`].

use crate::scrub::{self, ScrubConfig};
use crate::store::ChunkStore;
use crate::{Error, Result};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use shale_common::cluster_auth::{Claim, ClusterAuth, Tier};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tracing::Instrument;

/// Largest chunk body a PUT may carry.
pub const MAX_CHUNK_BODY: u64 = 64 * 1024 * 1024;

/// Bytes of chunk bodies a node reads at once: a PUT takes its announced
/// size (or [`MAX_CHUNK_BODY`] when it announces none, at most the whole
/// budget) before it reads its body, and waits for it up to
/// [`PUT_BUDGET_WAIT`]; so however many PUTs arrive, the bodies held in
/// memory stay within this.
pub const PUT_BUDGET_BYTES: u32 = 256 << 20;
/// How long a PUT waits for its share of the budget before it is answered
/// 503 (the gateway tries again or writes elsewhere).
pub const PUT_BUDGET_WAIT: Duration = Duration::from_secs(30);
/// Longest pause between two pieces of a chunk body: a PUT that stalls
/// longer is answered 408 and gives its share of the budget back.
pub const PUT_BODY_IDLE: Duration = Duration::from_secs(30);

/// The budget of chunk bodies being read (see [`PUT_BUDGET_BYTES`]).
#[derive(Clone, Debug)]
pub struct PutBudget {
    bytes: Arc<tokio::sync::Semaphore>,
    total: u32,
    wait: Duration,
    idle: Duration,
}

impl PutBudget {
    /// `total` bytes at once; a PUT waits `wait` for its share.
    pub fn new(total: u32, wait: Duration) -> Self {
        let total = total.max(1);
        PutBudget {
            bytes: Arc::new(tokio::sync::Semaphore::new(total as usize)),
            total,
            wait,
            idle: PUT_BODY_IDLE,
        }
    }

    /// The same, a body stalling longer than `idle` refused.
    pub fn with_body_idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }
}

impl Default for PutBudget {
    fn default() -> Self {
        PutBudget::new(PUT_BUDGET_BYTES, PUT_BUDGET_WAIT)
    }
}
/// Header naming the kind of error of an error answer.
pub const ERROR_HEADER: &str = "x-shale-error";
/// Header carrying a chunk's block size on HEAD answers.
pub const BLOCK_SIZE_HEADER: &str = "x-shale-block-size";
/// Free space a disk keeps by default (for the file system and for
/// deletes, which need a little room too).
pub const DEFAULT_RESERVE_BYTES: u64 = 256 * 1024 * 1024;
/// How long in-flight requests may run once shutdown has begun.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Configuration of a storage node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageNodeConfig {
    /// Disk directories, one per physical disk; each gets a `chunks/`
    /// directory, created if missing. At least one is required.
    pub disks: Vec<PathBuf>,
    /// Block size of newly written chunks, in bytes (1..=16 MiB).
    pub block_size: u32,
    /// The scrubber's rate and pause (see [`crate::scrub`]).
    pub scrub: ScrubConfig,
    /// Free bytes each disk keeps: a write that would leave less is refused
    /// (507, `disk-full`) and nothing already stored is touched.
    pub reserve_bytes: u64,
    /// The node's id in the cluster map, for metric and log labels; set by
    /// whoever starts the node (the role file's `node_id`, `shale dev`).
    /// Without it the node's listening address labels them.
    #[serde(skip)]
    pub node_id: Option<u32>,
}

impl Default for StorageNodeConfig {
    fn default() -> Self {
        StorageNodeConfig {
            disks: Vec::new(),
            block_size: crate::chunk::DEFAULT_BLOCK_SIZE,
            scrub: ScrubConfig::default(),
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            node_id: None,
        }
    }
}

/// Serves the storage node on `listener` until `shutdown` completes, then
/// lets in-flight requests finish (for up to 10 s) and returns.
///
/// Fails at once when the configuration is invalid or a disk directory
/// cannot be created.
pub async fn serve(
    config: StorageNodeConfig,
    auth: ClusterAuth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let store = tokio::task::spawn_blocking(move || {
        let reserve = config.reserve_bytes;
        ChunkStore::open(config.disks, config.block_size)
            .inspect(|store| store.set_reserve_bytes(reserve))
            .map_err(|e| match e {
                // Name the field the way the operator's config file does.
                Error::Config(field) => Error::Config(format!("storage_node.{field}")),
                other => other,
            })
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    // The node's label in logs and metrics (its handles record nothing
    // when no recorder is installed).
    let node = match (config.node_id, listener.local_addr()) {
        (Some(id), _) => id.to_string(),
        (None, Ok(addr)) => addr.to_string(),
        (None, Err(_)) => "unknown".into(),
    };
    store.enable_metrics(&node);
    let stopped = Arc::new(AtomicBool::new(false));
    crate::metrics::report_on_scrape(&store, Arc::clone(&stopped));
    let (stop_scrub, scrub_stopped) = tokio::sync::watch::channel(false);
    let scrubber = tokio::spawn(scrub::run(store.clone(), config.scrub, scrub_stopped));
    // Clients in this process reach the store without the network while
    // the node serves (`local`).
    let local = listener
        .local_addr()
        .ok()
        .map(|addr| crate::local::register(addr.to_string(), store.clone()));
    let served = serve_store(store.clone(), auth, listener, shutdown).await;
    drop(local);
    stopped.store(true, Ordering::Relaxed);
    let _ = stop_scrub.send(true);
    let _ = scrubber.await;
    // The next start reads the index from one file per disk.
    let started = std::time::Instant::now();
    match tokio::task::spawn_blocking(move || store.checkpoint()).await {
        Ok(Ok(chunks)) => tracing::info!(%node, chunks,
            took_ms = started.elapsed().as_millis() as u64, "index checkpoint written"),
        Ok(Err(e)) => tracing::warn!(%node, error = %e,
            "no index checkpoint: the next start scans every volume"),
        Err(e) => tracing::warn!(%node, error = %e, "index checkpoint task failed"),
    }
    served
}

/// Like [`serve`], over an already opened store.
pub async fn serve_store(
    store: ChunkStore,
    auth: ClusterAuth,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_store_with(store, auth, listener, PutBudget::default(), shutdown).await
}

/// Like [`serve_store`], with the budget of chunk bodies read at once.
pub async fn serve_store_with(
    store: ChunkStore,
    auth: ClusterAuth,
    listener: TcpListener,
    budget: PutBudget,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, disks = store.disks().len(), "storage node listening");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let store = store.clone();
                    let stop = stop_rx.clone();
                    let guard = Guard { auth: auth.clone(), budget: budget.clone(), peer };
                    match auth.tls().and_then(|t| t.acceptor.clone()) {
                        None => {
                            connections.spawn(serve_connection(store, guard, stream, stop));
                        }
                        Some(acceptor) => {
                            connections.spawn(async move {
                                if let Some(tls) =
                                    shale_common::tls::accept(&acceptor, stream, peer).await
                                {
                                    serve_connection(store, guard, tls, stop).await;
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the shutdown grace period; aborting");
        connections.shutdown().await;
    }
    Ok(())
}

/// What stands between a connection's peer and the store: the cluster
/// credential its requests must carry, and the budget of chunk bodies.
#[derive(Clone)]
struct Guard {
    auth: ClusterAuth,
    budget: PutBudget,
    peer: SocketAddr,
}

async fn serve_connection<S>(
    store: ChunkStore,
    guard: Guard,
    stream: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let store = store.clone();
        let guard = guard.clone();
        async move { Ok::<_, Infallible>(handle(&store, &guard, req).await) }
    });
    let conn = http1::Builder::new()
        // With a timer, hyper drops clients that trickle their headers.
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // The watch guard must not live across the await below (it is not Send).
    let stopping = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// One request inside its span (request id, node), logged and counted
/// when it ends.
async fn handle(
    store: &ChunkStore,
    guard: &Guard,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let op = crate::metrics::request_op(req.method(), req.uri().path());
    let node = store.metrics().map_or("", |m| m.node.as_str());
    let span = tracing::info_span!(
        "chunk_request",
        request_id = shale_common::rpc::request_id_of(req.headers()).unwrap_or("-"),
        node,
    );
    // Only what the debug line needs, and only when it is on.
    let line = tracing::enabled!(tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.uri().path().to_owned()));
    let resp = authenticated(store, guard, req)
        .instrument(span.clone())
        .await;
    let seconds = started.elapsed().as_secs_f64();
    if let Some((method, path)) = line {
        span.in_scope(|| {
            tracing::debug!(%method, %path, status = resp.status().as_u16(),
                micros = (seconds * 1e6) as u64, "chunk request");
        });
    }
    if let Some(m) = store.metrics() {
        m.record_request(op, resp.status().as_u16(), seconds);
    }
    resp
}

/// Checks the request's cluster credential before anything else (whatever
/// the path: a route added later is behind it too), then routes it.
async fn authenticated(
    store: &ChunkStore,
    guard: &Guard,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // Only the data tier: a node's callers (gateways, other nodes, the
    // node's own heartbeat) sign toward it with that key, which grants
    // nothing on the metadata service.
    let checked = guard
        .auth
        .verify(&parts, Some(guard.peer))
        .and_then(|claim| {
            claim.require(&[Tier::Data]).inspect_err(|why| {
                guard
                    .auth
                    .refused(*why, &parts.method, parts.uri.path(), Some(guard.peer))
            })?;
            Ok(claim)
        });
    match checked {
        Ok(claim) => route(store, guard, claim, Request::from_parts(parts, body)).await,
        Err(why) => error_response(why.status(), "unauthenticated", why.to_string()),
    }
}

/// Routes one request and turns any error into its answer.
async fn route(
    store: &ChunkStore,
    guard: &Guard,
    claim: Claim,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let result = match path.as_str() {
        "/status" => match method {
            Method::GET => store.status().await.and_then(|s| json(&s)),
            _ => Ok(method_not_allowed("GET")),
        },
        "/scrub" => match method {
            Method::GET => json(&store.scrub_report()),
            _ => Ok(method_not_allowed("GET")),
        },
        "/chunks" => match method {
            Method::GET => store.list().await.and_then(|ids| json(&ids)),
            _ => Ok(method_not_allowed("GET")),
        },
        _ => match path.strip_prefix("/chunks/") {
            Some(id) => match method {
                Method::PUT => put_chunk(store, guard, claim, id, req).await,
                Method::GET => get_chunk(store, id, &req).await,
                Method::HEAD => head_chunk(store, id).await,
                Method::DELETE => store
                    .delete(id)
                    .await
                    .map(|()| empty(StatusCode::NO_CONTENT)),
                _ => Ok(method_not_allowed("PUT, GET, HEAD, DELETE")),
            },
            None => Ok(error_response(
                StatusCode::NOT_FOUND,
                "no-route",
                format!("no route for {path}"),
            )),
        },
    };
    result.unwrap_or_else(|e| {
        match &e {
            Error::Corrupt(_) => tracing::warn!(%method, %path, error = %e, "corrupt chunk"),
            Error::Io(_) | Error::Config(_) => {
                tracing::error!(%method, %path, error = %e, "request failed");
            }
            _ => tracing::debug!(%method, %path, error = %e, "request refused"),
        }
        response_for_error(&e)
    })
}

async fn put_chunk(
    store: &ChunkStore,
    guard: &Guard,
    claim: Claim,
    id: &str,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>> {
    let budget = &guard.budget;
    // Refuse before reading the body when its announced size is too large.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = announced.filter(|&size| size > MAX_CHUNK_BODY) {
        return Err(Error::TooLarge {
            size,
            limit: MAX_CHUNK_BODY,
        });
    }
    let share = announced
        .unwrap_or(MAX_CHUNK_BODY)
        .min(u64::from(budget.total)) as u32;
    let _permit = match tokio::time::timeout(
        budget.wait,
        Arc::clone(&budget.bytes).acquire_many_owned(share),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return Ok(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "too many chunk bodies being written: no room for {share} bytes within {} s",
                    budget.wait.as_secs()
                ),
            ));
        }
    };
    // The body's frames are kept as they arrived: the store writes the
    // chunk from them without gathering them in one buffer.
    let mut body = req.into_body();
    let mut parts = Vec::new();
    let mut size = 0u64;
    loop {
        let frame = match tokio::time::timeout(budget.idle, body.frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) => {
                return Ok(error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!("the body stalled for {} ms", budget.idle.as_millis()),
                ));
            }
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                return Ok(error_response(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    format!("reading the body failed: {e}"),
                ));
            }
        };
        if let Ok(data) = frame.into_data() {
            size += data.len() as u64;
            if size > MAX_CHUNK_BODY {
                return Err(Error::TooLarge {
                    size,
                    limit: MAX_CHUNK_BODY,
                });
            }
            if !data.is_empty() {
                parts.push(data);
            }
        }
    }
    // The body's hash is computed as the chunk is laid out, and checked
    // against the signed one before a byte is written.
    let created = match store
        .put_parts_checked(id, parts, Some(claim.body_hash()))
        .await
    {
        Err(Error::Unauthenticated(why)) => {
            guard.auth.refused(
                why,
                &Method::PUT,
                &format!("/chunks/{id}"),
                Some(guard.peer),
            );
            return Ok(error_response(
                why.status(),
                "unauthenticated",
                why.to_string(),
            ));
        }
        other => other?,
    };
    Ok(empty(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }))
}

async fn get_chunk(
    store: &ChunkStore,
    id: &str,
    req: &Request<Incoming>,
) -> Result<Response<Full<Bytes>>> {
    let range = match req.headers().get(header::RANGE) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(parse_range)
                .ok_or_else(|| Error::InvalidRange("unsupported Range header".into()))?,
        ),
    };
    let (info, offset, data) = store
        .read_with(id, move |info| match range {
            None => Ok((0, info.size)),
            Some(spec) => spec.resolve(info.size),
        })
        .await?;
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes");
    builder = if range.is_some() {
        // `resolve` never yields an empty range, so `data` is not empty.
        let last = offset + data.len() as u64 - 1;
        builder.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {offset}-{last}/{}", info.size),
        )
    } else {
        builder.status(StatusCode::OK)
    };
    Ok(builder
        .body(Full::new(data))
        .expect("status and headers are valid"))
}

async fn head_chunk(store: &ChunkStore, id: &str) -> Result<Response<Full<Bytes>>> {
    let info = store.head(id).await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, info.size)
        .header(BLOCK_SIZE_HEADER, info.block_size)
        .header(header::ACCEPT_RANGES, "bytes")
        .body(Full::new(Bytes::new()))
        .expect("status and headers are valid"))
}

/// One HTTP byte range, before the chunk size is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeSpec {
    /// `bytes=a-b`: bytes a..=b.
    FromTo(u64, u64),
    /// `bytes=a-`: from a to the end.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// Parses a single-range `Range` header value; `None` when malformed or
/// asking for several ranges.
fn parse_range(value: &str) -> Option<RangeSpec> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        // u64::from_str accepts a leading '+', HTTP does not.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => None,
        (true, false) => number(last).map(RangeSpec::Suffix),
        (false, true) => number(first).map(RangeSpec::From),
        (false, false) => {
            let (a, b) = (number(first)?, number(last)?);
            (a <= b).then_some(RangeSpec::FromTo(a, b))
        }
    }
}

impl RangeSpec {
    /// `(offset, len)` of this range in a chunk of `size` data bytes, never
    /// empty; a range that starts past the end is unsatisfiable. As in HTTP,
    /// a last byte past the end is clamped to the end.
    fn resolve(self, size: u64) -> Result<(u64, u64)> {
        let unsatisfiable = || Error::InvalidRange(format!("{self:?} of a {size}-byte chunk"));
        match self {
            RangeSpec::FromTo(a, b) if a < size => Ok((a, b.min(size - 1) - a + 1)),
            RangeSpec::From(a) if a < size => Ok((a, size - a)),
            RangeSpec::Suffix(n) if n > 0 && size > 0 => {
                let n = n.min(size);
                Ok((size - n, n))
            }
            _ => Err(unsatisfiable()),
        }
    }
}

/// The one place an [`Error`] becomes an HTTP answer.
fn response_for_error(e: &Error) -> Response<Full<Bytes>> {
    let (status, kind) = status_and_kind(e);
    error_response(status, kind, e.to_string())
}

/// The status of the answer [`response_for_error`] gives (for the metrics
/// of in-process calls, `crate::local`).
pub(crate) fn status_of(e: &Error) -> u16 {
    status_and_kind(e).0.as_u16()
}

fn status_and_kind(e: &Error) -> (StatusCode, &'static str) {
    match e {
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
        Error::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "corrupt"),
        Error::InvalidRange(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "invalid-range"),
        Error::InvalidChunkId(_) => (StatusCode::BAD_REQUEST, "invalid-chunk-id"),
        Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
        Error::DiskFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "disk-full"),
        Error::Unauthenticated(why) => (why.status(), "unauthenticated"),
        Error::Config(_) | Error::Io(_) | Error::Network(_) | Error::Remote { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

fn error_response(
    status: StatusCode,
    kind: &'static str,
    message: String,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(ERROR_HEADER, HeaderValue::from_static(kind))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(message)))
        .expect("status and headers are valid")
}

fn method_not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("allowed: {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .expect("status is valid")
}

fn json<T: Serialize>(value: &T) -> Result<Response<Full<Bytes>>> {
    let body = serde_json::to_vec(value).map_err(|e| Error::Io(std::io::Error::other(e)))?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("status and headers are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!(parse_range("bytes=0-9"), Some(RangeSpec::FromTo(0, 9)));
        assert_eq!(parse_range("bytes=5-"), Some(RangeSpec::From(5)));
        assert_eq!(parse_range("bytes=-5"), Some(RangeSpec::Suffix(5)));
        for bad in [
            "bytes=9-0",
            "bytes=-",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=+1-2",
            "bytes=a-b",
            "bytes=99999999999999999999-",
            "",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn resolves_ranges() {
        assert_eq!(RangeSpec::FromTo(0, 9).resolve(100).unwrap(), (0, 10));
        assert_eq!(RangeSpec::FromTo(90, 200).resolve(100).unwrap(), (90, 10));
        assert_eq!(RangeSpec::From(99).resolve(100).unwrap(), (99, 1));
        assert_eq!(RangeSpec::Suffix(10).resolve(100).unwrap(), (90, 10));
        assert_eq!(RangeSpec::Suffix(500).resolve(100).unwrap(), (0, 100));
        assert!(RangeSpec::FromTo(100, 100).resolve(100).is_err());
        assert!(RangeSpec::From(100).resolve(100).is_err());
        assert!(RangeSpec::Suffix(0).resolve(100).is_err());
        assert!(RangeSpec::Suffix(1).resolve(0).is_err());
        assert!(RangeSpec::FromTo(0, u64::MAX).resolve(0).is_err());
    }

    #[test]
    fn config_defaults() {
        let c: StorageNodeConfig = serde_json::from_str(r#"{"disks": ["/d1"]}"#).unwrap();
        assert_eq!(c.block_size, 65536);
        assert_eq!(c.disks, vec![PathBuf::from("/d1")]);
        assert!(serde_json::from_str::<StorageNodeConfig>(r#"{"disk": []}"#).is_err());
    }
}
