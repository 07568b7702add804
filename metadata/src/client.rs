//! `MetaClient`: the typed client of the metadata service (used by the
//! gateway). One method per request; every failure to reach the service or
//! to read its answer is `MetaError::Unavailable`. It follows the metadata
//! group's leader itself (see [`MetaClient`]).

use crate::ResyncPage;
use crate::replication::{ReplicationOutcome, ReplicationTask};
use crate::types::*;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use shale_common::cluster_auth::ClusterAuth;
use shale_common::rpc::{HttpClient, internal_client};
use shale_common::{ChunkPlacement, NodeInfo};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Result<T> = std::result::Result<T, MetaError>;

/// Bound on one RPC, connection included; a hung service must not hang a
/// client request forever.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest accepted answer (a ListParts of 1000 big parts is large).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// How long a call keeps looking for the metadata leader (leader change,
/// replicas restarting) before it fails with `Unavailable`.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between two attempts when no replica answered as leader.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// An attempt unanswered this long makes the client ask the other replicas
/// whether the group has moved on to another leader, and again every
/// `SUSPECT_EVERY`: a leader that hangs (stopped, its host gone, a
/// partition) accepts connections or lets them time out, but is not
/// refused, and would hold every call for `RPC_TIMEOUT`.
const SUSPECT_AFTER: Duration = Duration::from_millis(1500);
const SUSPECT_EVERY: Duration = Duration::from_secs(1);
/// Bound on one `/raft/status` question while suspecting a leader.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The header carrying a write's idempotency id (same as the service's);
/// not to be confused with `x-shale-request-id`, the gateway's S3 request
/// id that every RPC of one S3 request shares, for tracing only.
const WRITE_ID_HEADER: &str = "x-shale-write-id";

/// A cheap-to-clone handle on the metadata group (pooled keep-alive HTTP).
///
/// It knows every replica's address, sends each call to the replica it
/// last found leading, follows `NotLeader` redirects, and on a refused
/// connection or a replica without a leader tries the others, for at most
/// `LEADER_WAIT`. A write keeps one request id across these retries, so a
/// write the old leader committed but could not answer is answered from
/// the group's dedup table instead of being applied twice.
#[derive(Clone)]
pub struct MetaClient {
    http: HttpClient,
    auth: ClusterAuth,
    /// `http://host:port` of every configured replica.
    addrs: Arc<Vec<String>>,
    /// The replica that answered last (index into `addrs` or a redirect).
    leader: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for MetaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaClient")
            .field("addrs", &self.addrs)
            .finish()
    }
}

/// `SCHEME://host:port` of `host:port` (`scheme`: the role's, `http`, or
/// `https` with TLS between roles), or an address with a scheme as it is.
fn base_uri(addr: &str, scheme: &str) -> String {
    let base = addr.trim().trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        base.to_string()
    } else {
        format!("{scheme}://{base}")
    }
}

/// A fresh random request id (never 0, which means "none").
fn write_id() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    let hi = h.finish();
    let lo = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (((hi as u128) << 64) | lo as u128).max(1)
}

/// What one attempt at one replica gave.
enum Attempt<T> {
    /// The replica answered (with the group's answer, or NotLeader).
    Answer(Result<T>),
    /// The replica could not be reached or did not answer properly.
    Failed(MetaError),
}

impl MetaClient {
    /// A client of the metadata group at `addrs`: one `host:port` (or
    /// `http://host:port`), or several separated by commas. Nothing is
    /// contacted until the first call.
    pub fn new(addrs: &str, auth: ClusterAuth) -> MetaClient {
        let list: Vec<String> = addrs
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| a.to_string())
            .collect();
        MetaClient::with_addrs(&list, auth)
    }

    /// A client of the metadata group whose replicas are at `addrs`.
    pub fn with_addrs<S: AsRef<str>>(addrs: &[S], auth: ClusterAuth) -> MetaClient {
        let addrs: Vec<String> = addrs
            .iter()
            .map(|a| base_uri(a.as_ref(), auth.scheme()))
            .collect();
        MetaClient {
            http: internal_client(&auth),
            auth,
            addrs: Arc::new(addrs),
            leader: Arc::new(Mutex::new(None)),
        }
    }

    /// The replicas' addresses (`http://host:port`).
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    fn known_leader(&self) -> Option<String> {
        self.leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_leader(&self, base: Option<String>) {
        *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = base;
    }

    /// Sends one request to the group's leader and returns its typed answer.
    pub async fn call(&self, req: &MetaRequest) -> Result<MetaResponse> {
        let body = Bytes::from(
            postcard::to_stdvec(req)
                .map_err(|e| MetaError::Internal(format!("encoding request: {e}")))?,
        );
        let id = (!req.is_read()).then(write_id);
        self.call_raw("/rpc", body, id).await
    }

    /// Posts `body` to `path` on the leader (following redirects, retrying
    /// for `LEADER_WAIT`) and decodes a `Result<T, MetaError>` answer.
    pub(crate) async fn call_raw<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Bytes,
        id: Option<u128>,
    ) -> Result<T> {
        if self.addrs.is_empty() {
            return Err(MetaError::Unavailable(
                "no metadata address configured".into(),
            ));
        }
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        let mut next = 0usize;
        let mut target = self.known_leader().unwrap_or_else(|| self.addrs[0].clone());
        let mut last_error;
        loop {
            match self.attempt::<T>(&target, path, body.clone(), id).await {
                Attempt::Answer(Ok(answer)) => {
                    self.set_leader(Some(target));
                    return Ok(answer);
                }
                Attempt::Answer(Err(MetaError::NotLeader(leader))) => {
                    last_error = format!("{target}: not the leader");
                    match leader.map(|l| base_uri(&l, self.auth.scheme())) {
                        Some(l) if l != target => target = l,
                        _ => {
                            target = self.addrs[next % self.addrs.len()].clone();
                            next += 1;
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
                Attempt::Answer(Err(e)) => {
                    self.set_leader(Some(target));
                    return Err(e);
                }
                Attempt::Failed(e) => {
                    last_error = e.to_string();
                    self.set_leader(None);
                    target = self.addrs[next % self.addrs.len()].clone();
                    next += 1;
                    if next.is_multiple_of(self.addrs.len()) {
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MetaError::Unavailable(format!(
                    "no metadata leader answered within {} s (replicas {}): {last_error}",
                    LEADER_WAIT.as_secs(),
                    self.addrs.join(", ")
                )));
            }
        }
    }

    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: Bytes,
        id: Option<u128>,
    ) -> Attempt<T> {
        let uri = format!("{base}{path}");
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .header(http::header::CONTENT_TYPE, "application/octet-stream");
        if let Some(id) = id {
            builder = builder.header(WRITE_ID_HEADER, format!("{id:032x}"));
        }
        if let Some(trace) = shale_common::rpc::request_id() {
            builder = builder.header(shale_common::rpc::REQUEST_ID_HEADER, trace);
        }
        let hash = blake3::hash(&body);
        let mut request = match builder.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Failed(MetaError::Unavailable(format!("bad address {uri}: {e}")));
            }
        };
        self.auth.sign_request(&mut request, &hash);
        let exchange = async {
            let resp = self
                .http
                .request(request)
                .await
                .map_err(|e| MetaError::Unavailable(format!("{uri}: {e}")))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| MetaError::Unavailable(format!("reading answer: {e}")))?
                .to_bytes();
            Ok::<_, MetaError>((status, bytes))
        };
        tokio::pin!(exchange);
        let give_up = tokio::time::sleep(RPC_TIMEOUT);
        tokio::pin!(give_up);
        let mut suspect =
            tokio::time::interval_at(tokio::time::Instant::now() + SUSPECT_AFTER, SUSPECT_EVERY);
        let (status, bytes) = loop {
            tokio::select! {
                r = &mut exchange => match r {
                    Ok(r) => break r,
                    Err(e) => return Attempt::Failed(e),
                },
                _ = &mut give_up => {
                    return Attempt::Failed(MetaError::Unavailable(format!("{uri}: timed out")));
                }
                _ = suspect.tick() => {
                    // Abandoning the attempt is safe: a write carries its id,
                    // and the group answers a repeat from its dedup table.
                    if let Some(leader) = self.leader_elsewhere(base).await {
                        tracing::warn!(
                            replica = %base, %leader,
                            "metadata replica not answering; the group has another leader"
                        );
                        return Attempt::Answer(Err(MetaError::NotLeader(Some(leader))));
                    }
                }
            }
        };
        if status != StatusCode::OK {
            return Attempt::Failed(MetaError::Unavailable(format!(
                "{uri}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )));
        }
        match postcard::from_bytes::<Result<T>>(&bytes) {
            Ok(answer) => Attempt::Answer(answer),
            Err(e) => Attempt::Failed(MetaError::Unavailable(format!("undecodable answer: {e}"))),
        }
    }

    /// The leader the other replicas know, when it is not `base`: the one
    /// named by the answer with the highest term (a stale leader cut off
    /// from the group answers with an older term).
    async fn leader_elsewhere(&self, base: &str) -> Option<String> {
        let mut probes = tokio::task::JoinSet::new();
        for addr in self.addrs.iter().filter(|a| a.as_str() != base) {
            let (client, addr) = (self.clone(), addr.clone());
            probes.spawn(async move {
                tokio::time::timeout(PROBE_TIMEOUT, client.raft_status(&addr))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
            });
        }
        let mut best: Option<RaftStatus> = None;
        while let Some(answer) = probes.join_next().await {
            if let Ok(Some(s)) = answer
                && s.leader.is_some()
                && best.as_ref().is_none_or(|b| s.term > b.term)
            {
                best = Some(s);
            }
        }
        let best = best?;
        let leader = best.leader?;
        let addr = base_uri(
            &best.members.iter().find(|m| m.id == leader)?.addr,
            self.auth.scheme(),
        );
        (addr != base).then_some(addr)
    }

    /// True when some replica answers `GET /health` with 200.
    pub async fn health(&self) -> bool {
        for base in self.addrs.iter() {
            let Ok(mut req) = Request::get(format!("{base}/health")).body(Full::new(Bytes::new()))
            else {
                continue;
            };
            self.auth
                .sign_request(&mut req, &shale_common::cluster_auth::empty_body_hash());
            if matches!(
                tokio::time::timeout(RPC_TIMEOUT, self.http.request(req)).await,
                Ok(Ok(resp)) if resp.status() == StatusCode::OK
            ) {
                return true;
            }
        }
        false
    }

    /// The Raft state of the replica at `addr` (`GET /raft/status`).
    pub async fn raft_status(&self, addr: &str) -> Result<RaftStatus> {
        let uri = format!("{}/raft/status", base_uri(addr, self.auth.scheme()));
        let mut req = Request::get(&uri)
            .body(Full::new(Bytes::new()))
            .map_err(|e| MetaError::Unavailable(format!("bad address {uri}: {e}")))?;
        self.auth
            .sign_request(&mut req, &shale_common::cluster_auth::empty_body_hash());
        let resp = tokio::time::timeout(RPC_TIMEOUT, self.http.request(req))
            .await
            .map_err(|_| MetaError::Unavailable(format!("{uri}: timed out")))?
            .map_err(|e| MetaError::Unavailable(format!("{uri}: {e}")))?;
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| MetaError::Unavailable(format!("reading answer: {e}")))?
            .to_bytes();
        postcard::from_bytes(&bytes)
            .map_err(|e| MetaError::Unavailable(format!("{uri}: undecodable answer: {e}")))
    }

    /// Adds or removes a metadata replica (sent to the leader); answers the
    /// leader's view of the group afterwards.
    pub async fn change_membership(&self, change: &MembershipChange) -> Result<RaftStatus> {
        let body = postcard::to_stdvec(change)
            .map_err(|e| MetaError::Internal(format!("encoding request: {e}")))?;
        self.call_raw("/raft/membership", Bytes::from(body), None)
            .await
    }

    /// Asks the replica at `addr` to start an election now (e.g. to move
    /// the leadership to it once it has caught up).
    pub async fn campaign(&self, addr: &str) -> Result<()> {
        let one = MetaClient {
            http: self.http.clone(),
            auth: self.auth.clone(),
            addrs: Arc::new(vec![base_uri(addr, self.auth.scheme())]),
            leader: Arc::new(Mutex::new(None)),
        };
        one.call_raw("/raft/campaign", Bytes::new(), None).await
    }

    /// Creates a bucket owned by access key `owner` (`BucketAlreadyOwnedByYou`
    /// if it exists).
    pub async fn create_bucket(
        &self,
        name: &str,
        region: &str,
        owner: Option<&str>,
    ) -> Result<Bucket> {
        let req = MetaRequest::CreateBucket {
            name: name.into(),
            region: region.into(),
            owner: owner.map(str::to_owned),
        };
        match self.call(&req).await? {
            MetaResponse::Bucket(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes an empty bucket, aborting its uploads.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let req = MetaRequest::DeleteBucket { name: name.into() };
        self.unit(&req).await
    }

    /// The bucket, if it exists.
    pub async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let req = MetaRequest::GetBucket { name: name.into() };
        match self.call(&req).await? {
            MetaResponse::MaybeBucket(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Every bucket, sorted by name.
    pub async fn list_buckets(&self) -> Result<Vec<Bucket>> {
        match self.call(&MetaRequest::ListBuckets).await? {
            MetaResponse::Buckets(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Takes or renews lease `name` for `holder` for `ttl_ms`; true when
    /// `holder` has it.
    pub async fn take_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> Result<bool> {
        let req = MetaRequest::TakeLease {
            name: name.into(),
            holder: holder.into(),
            ttl_ms,
        };
        match self.call(&req).await? {
            MetaResponse::Lease(held) => Ok(held),
            other => Err(unexpected(other)),
        }
    }

    /// Writes an object row; returns the replaced row (its chunks are
    /// already queued for GC).
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        row: ObjectRow,
        if_none_match: bool,
        if_match: Option<String>,
    ) -> Result<Option<ObjectRow>> {
        let req = MetaRequest::PutObject {
            bucket: bucket.into(),
            key: key.into(),
            row,
            if_none_match,
            if_match,
        };
        self.maybe_object(&req).await
    }

    /// The object row (NoSuchBucket / NoSuchKey).
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<ObjectRow> {
        let req = MetaRequest::GetObject {
            bucket: bucket.into(),
            key: key.into(),
        };
        match self.call(&req).await? {
            MetaResponse::Object(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the tags of an existing object (empty: deletes them); its
    /// ETag and last-modified time stay (NoSuchBucket / NoSuchKey).
    pub async fn put_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<()> {
        let req = MetaRequest::PutObjectTags {
            bucket: bucket.into(),
            key: key.into(),
            tags,
        };
        self.unit(&req).await
    }

    /// Replaces the tags of a bucket (empty: deletes them) (NoSuchBucket).
    pub async fn put_bucket_tags(&self, bucket: &str, tags: Vec<(String, String)>) -> Result<()> {
        let req = MetaRequest::PutBucketTags {
            bucket: bucket.into(),
            tags,
        };
        self.unit(&req).await
    }

    /// The bucket's configuration of `kind`, if it has one.
    pub async fn get_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
    ) -> Result<Option<BucketConfig>> {
        let req = MetaRequest::GetBucketConfig {
            bucket: bucket.into(),
            kind,
        };
        match self.call(&req).await? {
            MetaResponse::MaybeBucketConfig(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// Sets (replaces) the bucket's configuration of `config`'s kind.
    pub async fn put_bucket_config(&self, bucket: &str, config: BucketConfig) -> Result<()> {
        let req = MetaRequest::PutBucketConfig {
            bucket: bucket.into(),
            config,
        };
        self.unit(&req).await
    }

    /// Removes the bucket's configuration of `kind`.
    pub async fn delete_bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> Result<()> {
        let req = MetaRequest::DeleteBucketConfig {
            bucket: bucket.into(),
            kind,
        };
        self.unit(&req).await
    }

    /// Deletes an object; returns the deleted row (`None` if there was none).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRow>> {
        let req = MetaRequest::DeleteObject {
            bucket: bucket.into(),
            key: key.into(),
        };
        self.maybe_object(&req).await
    }

    /// ListObjectsV2 (pass `next_marker` back as `start_after` to continue).
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max_keys: u32,
    ) -> Result<ListObjectsResult> {
        let req = MetaRequest::ListObjects {
            bucket: bucket.into(),
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            start_after: start_after.map(Into::into),
            max_keys,
        };
        match self.call(&req).await? {
            MetaResponse::ListObjects(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    /// Records a new multipart upload.
    pub async fn create_upload(&self, upload: Upload) -> Result<()> {
        self.unit(&MetaRequest::CreateUpload { upload }).await
    }

    /// Records a part; returns the replaced part, if any.
    pub async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: PartRow,
    ) -> Result<Option<PartRow>> {
        let req = MetaRequest::PutPart {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            part,
        };
        match self.call(&req).await? {
            MetaResponse::MaybePart(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    /// Parts with a number above `part_number_marker`, ascending.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: u32,
    ) -> Result<ListPartsResult> {
        let req = MetaRequest::ListParts {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            part_number_marker,
            max_parts,
        };
        match self.call(&req).await? {
            MetaResponse::ListParts(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    /// Completes a multipart upload; returns the new object row.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
        checks: CompleteChecks,
        if_none_match: bool,
    ) -> Result<ObjectRow> {
        let req = MetaRequest::CompleteUpload {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            parts,
            checks,
            if_none_match,
        };
        match self.call(&req).await? {
            MetaResponse::Object(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }

    /// Aborts a multipart upload (its parts' chunks go to GC).
    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let req = MetaRequest::AbortUpload {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
        };
        self.unit(&req).await
    }

    /// The upload (NoSuchUpload).
    pub async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Upload> {
        let req = MetaRequest::GetUpload {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
        };
        match self.call(&req).await? {
            MetaResponse::Upload(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    /// ListMultipartUploads.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: u32,
    ) -> Result<ListUploadsResult> {
        let req = MetaRequest::ListUploads {
            bucket: bucket.into(),
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            key_marker: key_marker.map(Into::into),
            upload_id_marker: upload_id_marker.map(Into::into),
            max_uploads,
        };
        match self.call(&req).await? {
            MetaResponse::ListUploads(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    /// Inserts or replaces an access key.
    pub async fn put_access_key(&self, key: AccessKey) -> Result<()> {
        self.unit(&MetaRequest::PutAccessKey { key }).await
    }

    /// The access key, if it exists.
    pub async fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKey>> {
        let req = MetaRequest::GetAccessKey {
            access_key: access_key.into(),
        };
        match self.call(&req).await? {
            MetaResponse::MaybeAccessKey(k) => Ok(k),
            other => Err(unexpected(other)),
        }
    }

    /// Inserts or replaces a storage node in the cluster map.
    pub async fn register_node(&self, node: NodeInfo) -> Result<()> {
        self.unit(&MetaRequest::RegisterNode { node }).await
    }

    /// Every storage node, sorted by id.
    pub async fn cluster_map(&self) -> Result<Vec<NodeInfo>> {
        match self.call(&MetaRequest::ClusterMap).await? {
            MetaResponse::Nodes(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Sends a storage node's heartbeat (it registers the node too); the
    /// service stamps `received_ms`.
    pub async fn heartbeat(&self, node: NodeInfo, health: NodeHealth) -> Result<()> {
        let heartbeat = Heartbeat {
            node,
            received_ms: 0,
            health,
        };
        self.unit(&MetaRequest::Heartbeat { heartbeat }).await
    }

    /// The cluster map: epoch, the service's clock, every node record.
    pub async fn cluster_status(&self) -> Result<ClusterView> {
        match self.call(&MetaRequest::ClusterStatus).await? {
            MetaResponse::Cluster(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// Drains, removes or reactivates a storage node.
    pub async fn set_node_state(&self, node: shale_common::NodeId, state: NodeState) -> Result<()> {
        self.unit(&MetaRequest::SetNodeState { node, state }).await
    }

    /// Every access key, sorted by id (secrets included).
    pub async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        match self.call(&MetaRequest::ListAccessKeys).await? {
            MetaResponse::AccessKeys(k) => Ok(k),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes an access key.
    pub async fn delete_access_key(&self, access_key: &str) -> Result<()> {
        let req = MetaRequest::DeleteAccessKey {
            access_key: access_key.into(),
        };
        self.unit(&req).await
    }

    /// Gives (`Some`) or takes (`None`) a key's permission on a bucket.
    pub async fn set_grant(
        &self,
        access_key: &str,
        bucket: &str,
        permission: Option<Permission>,
    ) -> Result<()> {
        let req = MetaRequest::SetGrant {
            access_key: access_key.into(),
            bucket: bucket.into(),
            permission,
        };
        self.unit(&req).await
    }

    /// An access key and its user, if the key exists.
    pub async fn get_identity(&self, access_key: &str) -> Result<Option<Identity>> {
        let req = MetaRequest::GetIdentity {
            access_key: access_key.into(),
        };
        match self.call(&req).await? {
            MetaResponse::MaybeIdentity(i) => Ok(i),
            other => Err(unexpected(other)),
        }
    }

    /// Makes user `name`.
    pub async fn create_user(&self, name: &str) -> Result<()> {
        self.unit(&MetaRequest::CreateUser { name: name.into() })
            .await
    }

    /// Deletes user `name` (refused while it has keys).
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        self.unit(&MetaRequest::DeleteUser { name: name.into() })
            .await
    }

    /// Every user, keys that are users of their own included.
    pub async fn list_users(&self) -> Result<Vec<UserEntry>> {
        match self.call(&MetaRequest::ListUsers).await? {
            MetaResponse::Users(u) => Ok(u),
            other => Err(unexpected(other)),
        }
    }

    /// Sets (`None`: deletes) user `name`'s IAM policy.
    pub async fn set_user_policy(&self, name: &str, policy: Option<String>) -> Result<()> {
        let req = MetaRequest::SetUserPolicy {
            name: name.into(),
            policy,
        };
        self.unit(&req).await
    }

    /// Stores `key` as a key of user `user`.
    pub async fn create_user_key(&self, key: AccessKey, user: &str) -> Result<()> {
        let req = MetaRequest::CreateUserKey {
            key,
            user: user.into(),
        };
        self.unit(&req).await
    }

    /// Stores a KMS key: a new one (`create`) or a change of one.
    pub async fn put_kms_key(&self, key: KmsKey, create: bool) -> Result<()> {
        self.unit(&MetaRequest::PutKmsKey { key, create }).await
    }

    /// A page of the rows with a sealed object key, from `cursor` on.
    pub async fn scan_sse(&self, cursor: Vec<u8>, limit: u32) -> Result<SsePage> {
        match self.call(&MetaRequest::ScanSse { cursor, limit }).await? {
            MetaResponse::SsePage(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces `owner`'s sealed object key `old` with `new`; false when
    /// the row changed meanwhile.
    pub async fn reseal_sse(&self, owner: LayoutOwner, old: String, new: String) -> Result<bool> {
        match self
            .call(&MetaRequest::ResealSse { owner, old, new })
            .await?
        {
            MetaResponse::Swapped(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Every KMS key.
    pub async fn list_kms_keys(&self) -> Result<Vec<KmsKey>> {
        match self.call(&MetaRequest::ListKmsKeys).await? {
            MetaResponse::KmsKeys(k) => Ok(k),
            other => Err(unexpected(other)),
        }
    }

    /// Disables or enables an access key.
    pub async fn set_key_disabled(&self, access_key: &str, disabled: bool) -> Result<()> {
        let req = MetaRequest::SetKeyDisabled {
            access_key: access_key.into(),
            disabled,
        };
        self.unit(&req).await
    }

    /// Replaces every user and key owner (a region's mirror).
    pub async fn replace_users(
        &self,
        users: Vec<User>,
        owners: Vec<(String, KeyOwner)>,
    ) -> Result<()> {
        self.unit(&MetaRequest::ReplaceUsers { users, owners })
            .await
    }

    /// The oldest GC queue entries queued before `queued_before_ms` (Unix
    /// ms), at most `limit`.
    pub async fn gc_pending(&self, limit: u32, queued_before_ms: u64) -> Result<Vec<GcEntry>> {
        let req = MetaRequest::GcPending {
            limit,
            queued_before_ms,
        };
        match self.call(&req).await? {
            MetaResponse::GcEntries(e) => Ok(e),
            other => Err(unexpected(other)),
        }
    }

    /// Removes GC queue entries whose chunks are gone.
    pub async fn gc_done(&self, keys: Vec<Vec<u8>>) -> Result<()> {
        self.unit(&MetaRequest::GcDone { keys }).await
    }

    /// One page of every erasure-coded layout (see `MetaStore::scan_layouts`).
    pub async fn scan_layouts(&self, cursor: Vec<u8>, limit: u32) -> Result<LayoutPage> {
        match self
            .call(&MetaRequest::ScanLayouts { cursor, limit })
            .await?
        {
            MetaResponse::Layouts(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// Swaps one chunk's placement if it is still `old` (see
    /// `MetaStore::swap_chunk`); false when the row changed meanwhile.
    pub async fn swap_chunk(
        &self,
        owner: LayoutOwner,
        (part_number, segment, shard): (u32, u32, u32),
        old: ChunkPlacement,
        new: ChunkPlacement,
    ) -> Result<bool> {
        let req = MetaRequest::SwapChunk {
            owner,
            part_number,
            segment,
            shard,
            old,
            new,
        };
        match self.call(&req).await? {
            MetaResponse::Swapped(done) => Ok(done),
            other => Err(unexpected(other)),
        }
    }

    async fn unit(&self, req: &MetaRequest) -> Result<()> {
        match self.call(req).await? {
            MetaResponse::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn maybe_object(&self, req: &MetaRequest) -> Result<Option<ObjectRow>> {
        match self.call(req).await? {
            MetaResponse::MaybeObject(o) => Ok(o),
            other => Err(unexpected(other)),
        }
    }

    // ---- versions ----

    /// Writes `row` as the key's new latest version (see
    /// [`MetaRequest::WriteObject`]).
    pub async fn write_object(
        &self,
        bucket: &str,
        key: &str,
        row: ObjectRow,
        (if_none_match, if_match): (bool, Option<String>),
        lock: LockRequest,
    ) -> Result<WriteAnswer> {
        let req = MetaRequest::WriteObject {
            bucket: bucket.into(),
            key: key.into(),
            row,
            if_none_match,
            if_match,
            lock,
        };
        match self.call(&req).await? {
            MetaResponse::Written(w) => Ok(w),
            other => Err(unexpected(other)),
        }
    }

    /// The version `version` names (NoSuchKey, NoSuchVersion; a delete
    /// marker comes back as one).
    pub async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
    ) -> Result<VersionView> {
        let req = MetaRequest::GetVersion {
            bucket: bucket.into(),
            key: key.into(),
            version,
        };
        match self.call(&req).await? {
            MetaResponse::Version(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// DeleteObject, with or without a version id (see
    /// [`MetaRequest::DeleteVersion`]).
    pub async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        bypass_governance: bool,
        owner: Option<String>,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::DeleteVersion {
            bucket: bucket.into(),
            key: key.into(),
            version,
            bypass_governance,
            owner,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Completes a multipart upload; returns the version made.
    pub async fn finish_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
        checks: CompleteChecks,
        if_none_match: bool,
    ) -> Result<WriteAnswer> {
        let req = MetaRequest::FinishUpload {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            parts,
            checks,
            if_none_match,
        };
        match self.call(&req).await? {
            MetaResponse::Written(w) => Ok(w),
            other => Err(unexpected(other)),
        }
    }

    /// Sets (`None`: removes) the ACL of one version; returns its id.
    pub async fn put_version_acl(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        acl: Option<String>,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::PutVersionAcl {
            bucket: bucket.into(),
            key: key.into(),
            version,
            acl,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the tags of one version; returns its id.
    pub async fn put_version_tags(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        tags: Vec<(String, String)>,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::PutVersionTags {
            bucket: bucket.into(),
            key: key.into(),
            version,
            tags,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Creates a bucket with its first configurations in one write.
    pub async fn create_bucket_with(
        &self,
        name: &str,
        region: &str,
        owner: Option<&str>,
        configs: Vec<BucketConfig>,
    ) -> Result<Bucket> {
        let req = MetaRequest::CreateBucketWith {
            name: name.into(),
            region: region.into(),
            owner: owner.map(str::to_owned),
            configs,
        };
        match self.call(&req).await? {
            MetaResponse::Bucket(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// PutObjectRetention (see [`MetaRequest::SetRetention`]).
    pub async fn set_retention(
        &self,
        (bucket, key): (&str, &str),
        version: VersionRef,
        retention: Option<Retention>,
        bypass_governance: bool,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::SetRetention {
            bucket: bucket.into(),
            key: key.into(),
            version,
            retention,
            bypass_governance,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// PutObjectLegalHold (see [`MetaRequest::SetLegalHold`]).
    pub async fn set_legal_hold(
        &self,
        (bucket, key): (&str, &str),
        version: VersionRef,
        on: bool,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::SetLegalHold {
            bucket: bucket.into(),
            key: key.into(),
            version,
            on,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// A lifecycle action (see [`MetaRequest::Expire`]).
    pub async fn expire(
        &self,
        (bucket, key): (&str, &str),
        order: u64,
        action: ExpireAction,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::Expire {
            bucket: bucket.into(),
            key: key.into(),
            order,
            action,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Stores a background worker's progress (empty: none).
    pub async fn set_cursor(&self, name: &str, cursor: Vec<u8>) -> Result<()> {
        let req = MetaRequest::SetCursor {
            name: name.into(),
            cursor,
        };
        self.unit(&req).await
    }

    /// A background worker's stored progress.
    pub async fn get_cursor(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let req = MetaRequest::GetCursor { name: name.into() };
        match self.call(&req).await? {
            MetaResponse::Cursor(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// Links region `name`, or unlinks it (`None`).
    pub async fn put_region(&self, name: &str, link: Option<RegionLink>) -> Result<()> {
        let req = MetaRequest::PutRegion {
            name: name.into(),
            link,
        };
        self.unit(&req).await
    }

    /// The linked regions, by name.
    pub async fn list_regions(&self) -> Result<Vec<(String, RegionLink)>> {
        match self.call(&MetaRequest::ListRegions).await? {
            MetaResponse::Regions(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Takes a bucket name for `region` (see [`MetaRequest::ClaimBucket`]).
    pub async fn claim_bucket(
        &self,
        bucket: &str,
        region: &str,
        owner: Option<&str>,
    ) -> Result<()> {
        let req = MetaRequest::ClaimBucket {
            bucket: bucket.into(),
            region: region.into(),
            owner: owner.map(str::to_owned),
        };
        self.unit(&req).await
    }

    /// Gives `region`'s claim on a bucket name back.
    pub async fn release_bucket(&self, bucket: &str, region: &str) -> Result<()> {
        let req = MetaRequest::ReleaseBucket {
            bucket: bucket.into(),
            region: region.into(),
        };
        self.unit(&req).await
    }

    /// Where a bucket lives, if anywhere (see [`MetaRequest::GetClaim`]).
    pub async fn get_claim(&self, bucket: &str) -> Result<Option<BucketClaim>> {
        let req = MetaRequest::GetClaim {
            bucket: bucket.into(),
        };
        match self.call(&req).await? {
            MetaResponse::Claim(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// The claims of `region` (every claim with an empty one).
    pub async fn list_claims(&self, region: &str) -> Result<Vec<(String, BucketClaim)>> {
        let req = MetaRequest::ListClaims {
            region: region.into(),
        };
        match self.call(&req).await? {
            MetaResponse::Claims(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    /// Keeps a replica of a version of another bucket (see
    /// [`MetaRequest::WriteReplica`]).
    pub async fn write_replica(
        &self,
        (bucket, key): (&str, &str),
        row: ObjectRow,
        order: u64,
        marker: bool,
        lock: LockRequest,
    ) -> Result<WriteAnswer> {
        let req = MetaRequest::WriteReplica {
            bucket: bucket.into(),
            key: key.into(),
            row,
            order,
            marker,
            lock,
        };
        match self.call(&req).await? {
            MetaResponse::Written(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Up to `limit` tasks of the replication queue after task key `after`.
    pub async fn replication_tasks(
        &self,
        after: Vec<u8>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, ReplicationTask)>> {
        match self
            .call(&MetaRequest::ReplicationTasks { after, limit })
            .await?
        {
            MetaResponse::ReplicationTasks(t) => Ok(t),
            other => Err(unexpected(other)),
        }
    }

    /// How one destination of a replication task went.
    pub async fn replication_done(
        &self,
        (task, enqueued_ms): (Vec<u8>, i64),
        destination: &str,
        outcome: ReplicationOutcome,
    ) -> Result<()> {
        let req = MetaRequest::ReplicationDone {
            task,
            enqueued_ms,
            destination: destination.into(),
            outcome,
        };
        self.unit(&req).await
    }

    /// One page of a replication resync (see
    /// [`MetaRequest::ReplicationResync`]).
    pub async fn replication_resync(
        &self,
        bucket: &str,
        older_than_ms: Option<i64>,
        restart: bool,
        limit: u32,
    ) -> Result<ResyncPage> {
        let req = MetaRequest::ReplicationResync {
            bucket: bucket.into(),
            older_than_ms,
            restart,
            limit,
        };
        match self.call(&req).await? {
            MetaResponse::Resync(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    /// A change of a replica's tags and/or lock, made by replication.
    pub async fn replica_change(
        &self,
        (bucket, key): (&str, &str),
        order: u64,
        tags: Option<Vec<(String, String)>>,
        lock: Option<(Option<Retention>, Option<bool>)>,
    ) -> Result<VersionAnswer> {
        let req = MetaRequest::ReplicaChange {
            bucket: bucket.into(),
            key: key.into(),
            order,
            tags,
            lock,
        };
        match self.call(&req).await? {
            MetaResponse::Removed(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// Puts FAILED replication tasks back in the queue; how many.
    pub async fn replication_retry(&self, bucket: &str) -> Result<u64> {
        let req = MetaRequest::ReplicationRetry {
            bucket: bucket.into(),
        };
        match self.call(&req).await? {
            MetaResponse::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// ListObjectVersions (see [`MetaStore::list_versions`](crate::MetaStore)).
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<String>,
        (key_marker, version_marker): (Option<String>, Option<VersionRef>),
        max_keys: u32,
    ) -> Result<ListVersionsResult> {
        let req = MetaRequest::ListVersions {
            bucket: bucket.into(),
            prefix: prefix.into(),
            delimiter,
            key_marker,
            version_marker,
            max_keys,
        };
        match self.call(&req).await? {
            MetaResponse::Versions(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }
}

/// A well-formed answer of the wrong kind: client and service disagree on
/// the protocol (mixed versions).
fn unexpected(resp: MetaResponse) -> MetaError {
    let kind = format!("{resp:?}");
    let kind = kind
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("?")
        .to_string();
    MetaError::Internal(format!("unexpected metadata answer {kind}"))
}
