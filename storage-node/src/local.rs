//! Storage nodes this process serves itself, reached without the network.
//!
//! A gateway in the same process as storage nodes (`shale dev`; a
//! one-machine deployment; one day a server running a gateway beside its
//! node) would otherwise send every chunk it writes or reads to them over
//! loopback HTTP: the body copied into the socket and out of it again, a
//! BLAKE3 of it to sign the request and another to check the signature,
//! and two context switches per request. [`crate::serve`] registers its
//! store under the address it listens on, and [`crate::StorageClient`]
//! calls a registered store directly: the same operations, the same errors
//! as the client would have decoded from the answer, the same request
//! figures in the node's metrics, the client's time limit. Nothing crosses
//! a process boundary, so there is no one to authenticate: the address is
//! only reachable this way from inside the process that serves it.
//!
//! The store is unregistered when its node stops serving, so a stopped
//! node is as unreachable through this path as through the network.

use crate::store::{ChunkInfo, ChunkStore, NodeStatus};
use crate::{Error, Result};
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

fn registry() -> &'static RwLock<HashMap<String, ChunkStore>> {
    static LOCAL: OnceLock<RwLock<HashMap<String, ChunkStore>>> = OnceLock::new();
    LOCAL.get_or_init(RwLock::default)
}

/// Makes `store` reachable in-process under `addr` (`host:port`, as the
/// cluster map names the node); undone by dropping the returned guard.
pub(crate) fn register(addr: String, store: ChunkStore) -> Registered {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(addr.clone(), store);
    Registered(addr)
}

/// Unregisters its address when dropped.
pub(crate) struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        registry()
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// The store served in this process at `addr`, if any.
pub(crate) fn lookup(addr: &str) -> Option<ChunkStore> {
    let map = registry().read().unwrap_or_else(|e| e.into_inner());
    if map.is_empty() {
        return None;
    }
    map.get(addr).cloned()
}

/// Runs one operation on a local store as the node's HTTP API would: in
/// the client's time limit, counted in the node's request metrics under
/// `op` with the status the API would have answered, and with the errors
/// the client would have decoded from that answer.
pub(crate) async fn call<T>(
    store: &ChunkStore,
    op: &'static str,
    ok_status: impl FnOnce(&T) -> u16,
    timeout: Duration,
    f: impl Future<Output = Result<T>>,
) -> Result<T> {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, f).await {
        Ok(result) => result,
        Err(_) => Err(Error::Network(format!(
            "local storage node: no answer within {timeout:?}"
        ))),
    };
    if let Some(m) = store.metrics() {
        let status = match &result {
            Ok(value) => ok_status(value),
            Err(e) => crate::service::status_of(e),
        };
        m.record_request(op, status, started.elapsed().as_secs_f64());
    }
    result.map_err(as_decoded)
}

/// The error the client decodes from the answer the API gives for `e`.
fn as_decoded(e: Error) -> Error {
    match e {
        Error::Config(_) | Error::Io(_) => Error::Remote {
            status: 500,
            message: e.to_string(),
        },
        other => other,
    }
}

/// `len` bytes at `offset` of chunk `id`, as a ranged GET reads them.
pub(crate) async fn get(store: &ChunkStore, id: &str, offset: u64, len: u64) -> Result<Bytes> {
    let (_, _, data) = store
        .read_with(id, move |info: &ChunkInfo| {
            if offset >= info.size {
                return Err(Error::InvalidRange(format!(
                    "bytes {offset}- of a {}-byte chunk",
                    info.size
                )));
            }
            Ok((offset, len.min(info.size - offset)))
        })
        .await?;
    if data.len() as u64 != len {
        return Err(Error::InvalidRange(format!(
            "asked {len} bytes at offset {offset}, chunk holds {}",
            data.len()
        )));
    }
    Ok(data)
}

/// The node's status, as `/status` answers it.
pub(crate) async fn status(store: &ChunkStore) -> Result<NodeStatus> {
    store.status().await
}
