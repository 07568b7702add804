//! The metadata service: `MetaStore` behind HTTP/1.1.
//!
//! `POST /rpc` takes a postcard-encoded `MetaRequest` and answers HTTP 200
//! with a postcard-encoded `Result<MetaResponse, MetaError>` whenever the RPC
//! ran (its own errors travel in the body, typed); 400 for an undecodable
//! body, 413 above `MAX_REQUEST_BYTES`. `GET /health` answers 200.
//!
//! Every RPC runs inside a `meta_request` span carrying the
//! `x-shale-request-id` it came with (the gateway's S3 request id), is
//! logged at debug level when it ends (kind, result, time) and counted in
//! [`crate::metrics`].

use crate::store::MetaStore;
use crate::types::{MetaError, MetaRequest, MetaResponse};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::future::Future;
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
    /// Directory of the RocksDB database (created if missing).
    pub path: PathBuf,
}

/// Errors that stop the service (not RPC errors: those are `MetaError`).
#[derive(thiserror::Error, Debug)]
pub enum ServeError {
    /// The database could not be opened.
    #[error("metadata.path: cannot open the database: {0}")]
    Open(MetaError),
    /// Accepting connections failed.
    #[error("accept: {0}")]
    Accept(#[from] std::io::Error),
}

/// Result of `serve`.
pub type Result<T> = std::result::Result<T, ServeError>;

/// Opens the catalogue at `config.path` and serves RPC on `listener` until
/// `shutdown` completes; then drains open connections and closes the database
/// before returning (so the directory can be reopened at once).
pub async fn serve(
    config: MetadataConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let path = config.path.clone();
    let store = tokio::task::spawn_blocking(move || MetaStore::open(&path))
        .await
        .map_err(|e| ServeError::Open(MetaError::Internal(e.to_string())))?
        .map_err(ServeError::Open)?;
    let store = Arc::new(store);
    crate::metrics::report_on_scrape(Arc::downgrade(&store));
    tracing::info!(path = %config.path.display(), "metadata service started");

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
                let store = store.clone();
                let mut stop_rx = stop_rx.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(store.clone(), req));
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
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
                });
            }
            // Reap finished connections so the set does not grow forever.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.shutdown().await;
    }
    // Wait until the last request's blocking task has let go of the store,
    // so the database is closed when we return.
    let mut store = store;
    for _ in 0..200 {
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

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp
}

async fn handle(
    store: Arc<MetaStore>,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, std::convert::Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => reply(StatusCode::OK, "ok"),
        (&Method::POST, "/rpc") => rpc(store, req).await,
        (_, "/rpc") | (_, "/health") => reply(StatusCode::METHOD_NOT_ALLOWED, ""),
        _ => reply(StatusCode::NOT_FOUND, ""),
    })
}

async fn rpc(store: Arc<MetaStore>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let span = tracing::info_span!(
        "meta_request",
        request_id = shale_common::rpc::request_id_of(req.headers()).unwrap_or("-"),
    );
    rpc_in_span(store, req).instrument(span).await
}

async fn rpc_in_span(store: Arc<MetaStore>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return reply(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            return reply(StatusCode::BAD_REQUEST, format!("reading body: {e}"));
        }
    };
    let request: MetaRequest = match postcard::from_bytes(&body) {
        Ok(r) => r,
        Err(e) => return reply(StatusCode::BAD_REQUEST, format!("undecodable request: {e}")),
    };
    let kind: &'static str = (&request).into();
    let span = tracing::Span::current();
    let result: std::result::Result<MetaResponse, MetaError> =
        match tokio::task::spawn_blocking(move || span.in_scope(|| store.execute(request))).await {
            Ok(r) => r,
            Err(e) => Err(MetaError::Internal(format!("request task failed: {e}"))),
        };
    if let Err(MetaError::Internal(msg)) = &result {
        tracing::error!(kind, error = %msg, "metadata request failed");
    }
    let outcome: &'static str = match &result {
        Ok(_) => "ok",
        Err(e) => e.into(),
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
