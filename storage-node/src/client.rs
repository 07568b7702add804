//! `StorageClient`: how the gateway, healer and scrubber talk to storage nodes.
//!
//! One pooled keep-alive HTTP client for every node; a node is named by its
//! `host:port`. Answers are mapped back to the same [`Error`] variants the
//! node raised, so a caller can tell "this chunk is gone or bad, rebuild it"
//! ([`Error::NotFound`], [`Error::Corrupt`]) from "this node did not answer"
//! ([`Error::Network`]) and from anything else ([`Error::Remote`]).

use crate::local;
use crate::service::{BLOCK_SIZE_HEADER, ERROR_HEADER, MAX_CHUNK_BODY};
use crate::store::{ChunkInfo, NodeStatus};
use crate::{Error, Result};
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use shale_common::cluster_auth::ClusterAuth;
use shale_common::is_valid_chunk_id;
use shale_common::rpc::{HttpClient, internal_client};
use std::time::Duration;

/// Time allowed for one request, body included, unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Client of the storage node HTTP service. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct StorageClient {
    http: HttpClient,
    auth: ClusterAuth,
    timeout: Duration,
}

impl std::fmt::Debug for StorageClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// An answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl StorageClient {
    /// A client with its own connection pool and [`DEFAULT_TIMEOUT`],
    /// signing its requests with `auth`'s data-tier key (the only one a
    /// storage node accepts).
    pub fn new(auth: ClusterAuth) -> Self {
        Self::with_http_client(internal_client(&auth), auth)
    }

    /// A client sharing an existing connection pool.
    pub fn with_http_client(http: HttpClient, auth: ClusterAuth) -> Self {
        StorageClient {
            http,
            auth: auth.toward_storage(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Stores chunk `id` on node `addr`; `Ok` means it is durable there.
    pub async fn put_chunk(&self, addr: &str, id: &str, data: Bytes) -> Result<()> {
        check_id(id)?;
        if data.len() as u64 > MAX_CHUNK_BODY {
            return Err(Error::TooLarge {
                size: data.len() as u64,
                limit: MAX_CHUNK_BODY,
            });
        }
        if let Some(store) = local::lookup(addr) {
            // 201 Created, or 200 for a chunk replaced, as the API answers.
            let put = store.put_parts(id, vec![data]);
            let status = |created: &bool| if *created { 201 } else { 200 };
            return local::call(&store, "put", status, self.timeout, put)
                .await
                .map(|_| ());
        }
        let answer = self
            .send(
                Method::PUT,
                &chunk_uri(self.auth.scheme(), addr, id),
                None,
                data,
                0,
            )
            .await?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            _ => Err(error_from(answer, id)),
        }
    }

    /// Reads `len` data bytes at `offset` of chunk `id` from node `addr`.
    /// A range that does not lie inside the chunk is [`Error::InvalidRange`].
    pub async fn get_chunk(&self, addr: &str, id: &str, offset: u64, len: u64) -> Result<Bytes> {
        check_id(id)?;
        if len == 0 {
            // HTTP cannot ask for zero bytes: check the chunk and the offset.
            let info = self.head_chunk(addr, id).await?;
            if offset > info.size {
                return Err(Error::InvalidRange(format!(
                    "offset {offset} of a {}-byte chunk",
                    info.size
                )));
            }
            return Ok(Bytes::new());
        }
        if let Some(store) = local::lookup(addr) {
            let get = local::get(&store, id, offset, len);
            return local::call(&store, "get", |_| 206, self.timeout, get).await;
        }
        let last = offset
            .checked_add(len - 1)
            .ok_or_else(|| Error::InvalidRange(format!("{len} bytes at offset {offset}")))?;
        let range = format!("bytes={offset}-{last}");
        let answer = self
            .send(
                Method::GET,
                &chunk_uri(self.auth.scheme(), addr, id),
                Some(range),
                Bytes::new(),
                len,
            )
            .await?;
        if answer.status != StatusCode::PARTIAL_CONTENT {
            return Err(error_from(answer, id));
        }
        // The node clamps a range running past the end, as HTTP does; for a
        // chunk reader that is a caller error, not a short read.
        if answer.body.len() as u64 != len {
            return Err(Error::InvalidRange(format!(
                "asked {len} bytes at offset {offset}, chunk holds {}",
                answer.body.len()
            )));
        }
        Ok(answer.body)
    }

    /// Size and block size of chunk `id` on node `addr`.
    pub async fn head_chunk(&self, addr: &str, id: &str) -> Result<ChunkInfo> {
        check_id(id)?;
        if let Some(store) = local::lookup(addr) {
            let head = store.head(id);
            return local::call(&store, "head", |_| 200, self.timeout, head).await;
        }
        let answer = self
            .send(
                Method::HEAD,
                &chunk_uri(self.auth.scheme(), addr, id),
                None,
                Bytes::new(),
                0,
            )
            .await?;
        if answer.status != StatusCode::OK {
            return Err(error_from(answer, id));
        }
        let number = |name: &str| -> Result<u64> {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::Remote {
                    status: answer.status.as_u16(),
                    message: format!("HEAD answer without a valid {name} header"),
                })
        };
        let size = number(header::CONTENT_LENGTH.as_str())?;
        let block_size = u32::try_from(number(BLOCK_SIZE_HEADER)?).map_err(|_| Error::Remote {
            status: answer.status.as_u16(),
            message: format!("{BLOCK_SIZE_HEADER} out of range"),
        })?;
        Ok(ChunkInfo {
            id: id.to_owned(),
            size,
            block_size,
        })
    }

    /// Removes chunk `id` from node `addr`.
    pub async fn delete_chunk(&self, addr: &str, id: &str) -> Result<()> {
        check_id(id)?;
        if let Some(store) = local::lookup(addr) {
            let delete = store.delete(id);
            return local::call(&store, "delete", |_| 204, self.timeout, delete).await;
        }
        let answer = self
            .send(
                Method::DELETE,
                &chunk_uri(self.auth.scheme(), addr, id),
                None,
                Bytes::new(),
                0,
            )
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            _ => Err(error_from(answer, id)),
        }
    }

    /// Ids of every chunk on node `addr`, sorted.
    pub async fn list_chunks(&self, addr: &str) -> Result<Vec<String>> {
        if let Some(store) = local::lookup(addr) {
            let list = store.list();
            return local::call(&store, "list", |_| 200, self.timeout, list).await;
        }
        let uri = format!("{}://{addr}/chunks", self.auth.scheme());
        self.get_json(&uri).await
    }

    /// Disks, usage and health of node `addr`.
    pub async fn status(&self, addr: &str) -> Result<NodeStatus> {
        if let Some(store) = local::lookup(addr) {
            let status = local::status(&store);
            return local::call(&store, "status", |_| 200, self.timeout, status).await;
        }
        let uri = format!("{}://{addr}/status", self.auth.scheme());
        self.get_json(&uri).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, uri: &str) -> Result<T> {
        let answer = self.send(Method::GET, uri, None, Bytes::new(), 0).await?;
        if answer.status != StatusCode::OK {
            return Err(error_from(answer, ""));
        }
        serde_json::from_slice(&answer.body).map_err(|e| Error::Remote {
            status: answer.status.as_u16(),
            message: format!("bad JSON: {e}"),
        })
    }

    /// Sends one request and reads the whole answer within the timeout.
    /// `body_cap` bounds a successful answer's body (0: no bound).
    async fn send(
        &self,
        method: Method,
        uri: &str,
        range: Option<String>,
        body: Bytes,
        body_cap: u64,
    ) -> Result<Answer> {
        let uri: Uri = uri
            .parse()
            .map_err(|e| Error::Network(format!("bad node address in {uri}: {e}")))?;
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        if let Some(id) = shale_common::rpc::request_id() {
            request = request.header(shale_common::rpc::REQUEST_ID_HEADER, id);
        }
        let hash = blake3::hash(&body);
        let mut request = request
            .body(Full::new(body))
            .map_err(|e| Error::Network(format!("bad request: {e}")))?;
        self.auth.sign_request(&mut request, &hash);
        let exchange = async {
            let response = self.http.request(request).await.map_err(network)?;
            let (parts, incoming) = response.into_parts();
            // Error bodies are short messages; bound them as well.
            let cap = if parts.status.is_success() && body_cap > 0 {
                body_cap
            } else if parts.status.is_success() {
                u64::MAX
            } else {
                64 * 1024
            };
            let cap = usize::try_from(cap).unwrap_or(usize::MAX);
            let body = Limited::new(incoming, cap)
                .collect()
                .await
                .map_err(|e| Error::Network(format!("reading the answer failed: {e}")))?
                .to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Network(format!("timed out after {:?}", self.timeout)))?
    }
}

fn chunk_uri(scheme: &str, addr: &str, id: &str) -> String {
    // Valid chunk ids need no percent-encoding.
    format!("{scheme}://{addr}/chunks/{id}")
}

fn check_id(id: &str) -> Result<()> {
    if is_valid_chunk_id(id) {
        Ok(())
    } else {
        Err(Error::InvalidChunkId(id.to_owned()))
    }
}

/// A hyper-util client error with its causes (the top level alone is often
/// just "client error (Connect)").
fn network(e: hyper_util::client::legacy::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Network(message)
}

/// Maps an error answer back to the node's error.
fn error_from(answer: Answer, id: &str) -> Error {
    let kind = answer
        .headers
        .get(ERROR_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let message = String::from_utf8_lossy(&answer.body).into_owned();
    match (answer.status, kind) {
        (_, "corrupt") => Error::Corrupt(if message.is_empty() {
            format!("chunk {id}")
        } else {
            message
        }),
        (StatusCode::NOT_FOUND, "not-found") => Error::NotFound(id.to_owned()),
        (StatusCode::RANGE_NOT_SATISFIABLE, _) => Error::InvalidRange(message),
        (StatusCode::BAD_REQUEST, "invalid-chunk-id") => Error::InvalidChunkId(id.to_owned()),
        (StatusCode::INSUFFICIENT_STORAGE, "disk-full") => Error::DiskFull(message),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => Error::TooLarge {
            size: 0,
            limit: MAX_CHUNK_BODY,
        },
        (status, _) => Error::Remote {
            status: status.as_u16(),
            message: if message.is_empty() {
                kind.to_owned()
            } else {
                message
            },
        },
    }
}
