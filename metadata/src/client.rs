//! `MetaClient`: the typed client of the metadata service (used by the
//! gateway). One method per request; every failure to reach the service or
//! to read its answer is `MetaError::Unavailable`.

use crate::types::*;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use shale_common::NodeInfo;
use shale_common::rpc::{HttpClient, http_client};
use std::time::Duration;

type Result<T> = std::result::Result<T, MetaError>;

/// Bound on one RPC, connection included; a hung service must not hang a
/// client request forever.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest accepted answer (a ListParts of 1000 big parts is large).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A cheap-to-clone handle on one metadata service (pooled keep-alive HTTP).
#[derive(Clone)]
pub struct MetaClient {
    http: HttpClient,
    rpc_uri: String,
}

impl std::fmt::Debug for MetaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaClient")
            .field("rpc_uri", &self.rpc_uri)
            .finish()
    }
}

impl MetaClient {
    /// A client of the service at `addr` (`host:port`, or `http://host:port`).
    /// Nothing is contacted until the first call.
    pub fn new(addr: &str) -> MetaClient {
        let base = addr.trim_end_matches('/');
        let base = if base.starts_with("http://") || base.starts_with("https://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        MetaClient {
            http: http_client(),
            rpc_uri: format!("{base}/rpc"),
        }
    }

    /// Sends one request and returns the service's typed answer.
    pub async fn call(&self, req: &MetaRequest) -> Result<MetaResponse> {
        let body = postcard::to_stdvec(req)
            .map_err(|e| MetaError::Internal(format!("encoding request: {e}")))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&self.rpc_uri)
            .header(http::header::CONTENT_TYPE, "application/octet-stream");
        if let Some(id) = shale_common::rpc::request_id() {
            request = request.header(shale_common::rpc::REQUEST_ID_HEADER, id);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| MetaError::Unavailable(format!("bad address {}: {e}", self.rpc_uri)))?;
        let exchange = async {
            let resp = self
                .http
                .request(request)
                .await
                .map_err(|e| MetaError::Unavailable(format!("{}: {e}", self.rpc_uri)))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| MetaError::Unavailable(format!("reading answer: {e}")))?
                .to_bytes();
            Ok::<_, MetaError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(RPC_TIMEOUT, exchange)
            .await
            .map_err(|_| MetaError::Unavailable(format!("{}: timed out", self.rpc_uri)))??;
        if status != StatusCode::OK {
            return Err(MetaError::Unavailable(format!(
                "{}: HTTP {status}: {}",
                self.rpc_uri,
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )));
        }
        postcard::from_bytes::<Result<MetaResponse>>(&bytes)
            .map_err(|e| MetaError::Unavailable(format!("undecodable answer: {e}")))?
    }

    /// True when the service answers `GET /health` with 200.
    pub async fn health(&self) -> bool {
        let uri = self.rpc_uri.trim_end_matches("/rpc").to_string() + "/health";
        let Ok(req) = Request::get(uri).body(Full::new(Bytes::new())) else {
            return false;
        };
        matches!(
            tokio::time::timeout(RPC_TIMEOUT, self.http.request(req)).await,
            Ok(Ok(resp)) if resp.status() == StatusCode::OK
        )
    }

    /// Creates a bucket (`BucketAlreadyOwnedByYou` if it exists).
    pub async fn create_bucket(&self, name: &str, region: &str) -> Result<Bucket> {
        let req = MetaRequest::CreateBucket {
            name: name.into(),
            region: region.into(),
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
