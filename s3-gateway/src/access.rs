//! Who may do what: access keys and their per-bucket grants.
//!
//! A root key (`AccessKey::grants == None`) may do everything, the admin
//! API included. Any other key may touch only the buckets it holds a grant
//! on: `read` (GET, HEAD, listing), `write` (also PUT, DELETE, copies,
//! multipart uploads) or `owner` (also the bucket's configuration and
//! DeleteBucket). Anything else is 403 AccessDenied. ListBuckets shows a key
//! only its buckets; CreateBucket makes the creating key the bucket's owner
//! (see `s3/bucket.rs`), and every write records its caller as the owner of
//! what it makes (see `acl.rs`).
//!
//! The check runs inside `s3s` ([`S3Access`]), after the signature is
//! verified and the operation is known, before the handler. Keys are read
//! from the metadata service and cached for [`KEY_TTL`], so a deleted key or
//! a changed grant takes effect on every gateway within that time. A key
//! the metadata service does not know is remembered as unknown for
//! [`UNKNOWN_KEY_TTL`] (at most [`UNKNOWN_KEYS_MAX`] of them), so a client
//! hammering with a wrong key costs the metadata service one read per key
//! and period, not one per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use s3s::access::{S3Access, S3AccessContext};
use s3s::{S3Result, s3_error};
use shale_metadata::{AccessKey, MetaClient, MetaError, Permission};

/// How long a key (its secret and grants) is trusted before it is read again.
pub const KEY_TTL: Duration = Duration::from_secs(5);

/// How long an access key the metadata service did not know is answered
/// as unknown without asking again.
pub const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(2);
/// Most unknown keys remembered.
pub const UNKNOWN_KEYS_MAX: usize = 65_536;
/// Keys cached past which the expired ones are dropped.
const KNOWN_KEYS_MAX: usize = 65_536;

/// The access keys, read through from the metadata service.
pub struct Keys {
    meta: MetaClient,
    cache: RwLock<HashMap<String, (Instant, Arc<AccessKey>)>>,
    unknown: RwLock<HashMap<String, Instant>>,
}

impl Keys {
    /// Keys read through `meta`.
    pub fn new(meta: MetaClient) -> Self {
        Keys {
            meta,
            cache: RwLock::new(HashMap::new()),
            unknown: RwLock::new(HashMap::new()),
        }
    }

    /// The key, if it exists (cached for [`KEY_TTL`]; its absence for
    /// [`UNKNOWN_KEY_TTL`], so a key made on another gateway after this one
    /// was asked for it works within that time; one made on this gateway
    /// works at once).
    pub async fn get(&self, access_key: &str) -> Result<Option<Arc<AccessKey>>, MetaError> {
        if self
            .unknown
            .read()
            .ok()
            .and_then(|u| u.get(access_key).copied())
            .is_some_and(|at| at.elapsed() < UNKNOWN_KEY_TTL)
        {
            metrics::counter!("shale_gateway_unknown_key_cache_hits_total").increment(1);
            return Ok(None);
        }
        if let Some((at, key)) = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(access_key).cloned())
            && at.elapsed() < KEY_TTL
        {
            return Ok(Some(key));
        }
        let key = self.meta.get_access_key(access_key).await?.map(Arc::new);
        if let Ok(mut c) = self.cache.write() {
            match &key {
                Some(k) => {
                    if c.len() >= KNOWN_KEYS_MAX {
                        c.retain(|_, (at, _)| at.elapsed() < KEY_TTL);
                    }
                    c.insert(access_key.to_owned(), (Instant::now(), Arc::clone(k)));
                }
                None => {
                    c.remove(access_key);
                }
            }
        }
        if let Ok(mut u) = self.unknown.write() {
            match &key {
                Some(_) => {
                    u.remove(access_key);
                }
                None => {
                    if u.len() >= UNKNOWN_KEYS_MAX {
                        u.retain(|_, at| at.elapsed() < UNKNOWN_KEY_TTL);
                        if u.len() >= UNKNOWN_KEYS_MAX {
                            // A flood of distinct keys: forget them all
                            // rather than grow (each costs a read again).
                            u.clear();
                        }
                    }
                    u.insert(access_key.to_owned(), Instant::now());
                }
            }
        }
        Ok(key)
    }

    /// Drops a key from this gateway's cache (after this gateway changed
    /// it), and its absence.
    pub fn forget(&self, access_key: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.remove(access_key);
        }
        if let Ok(mut u) = self.unknown.write() {
            u.remove(access_key);
        }
    }
}

/// The key that signed the request, put in the request's extensions by the
/// access check for the handlers (ListBuckets, CreateBucket, and every
/// write that records its owner).
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<AccessKey>);

impl Caller {
    /// The access key id of the request's caller, as rows record their
    /// owner (`None` only for a request that passed no access check).
    pub fn key_id(extensions: &http::Extensions) -> Option<String> {
        extensions.get::<Caller>().map(|c| c.0.access_key.clone())
    }
}

/// The permission an S3 operation needs on its bucket; `None` for those
/// that need none (ListBuckets lists only the key's buckets; CreateBucket
/// makes its key the owner).
pub fn required(operation: &str) -> Option<Permission> {
    Some(match operation {
        "ListBuckets" | "CreateBucket" => return None,
        "GetObject"
        | "HeadObject"
        | "HeadBucket"
        | "ListObjects"
        | "ListObjectsV2"
        | "ListObjectVersions"
        | "ListMultipartUploads"
        | "ListParts"
        | "GetObjectTagging"
        | "GetObjectAttributes"
        | "GetBucketLocation"
        | "GetObjectAcl"
        | "GetBucketAcl"
        | "GetBucketVersioning"
        | "GetObjectRetention"
        | "GetObjectLegalHold"
        | "GetObjectLockConfiguration" => Permission::Read,
        "PutObject"
        | "DeleteObject"
        | "DeleteObjects"
        | "CopyObject"
        | "PostObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "PutObjectTagging"
        | "DeleteObjectTagging" => Permission::Write,
        // Bucket configuration, DeleteBucket, and whatever is added later:
        // only the owner, until someone decides otherwise.
        _ => Permission::Owner,
    })
}

/// The bucket of an `x-amz-copy-source` value (`bucket/key` or
/// `/bucket/key`, percent-encoded, maybe with `?versionId=`).
pub fn copy_source_bucket(value: &str) -> Option<String> {
    let value = value.strip_prefix('/').unwrap_or(value);
    let bucket = value.split('/').next()?;
    let bucket = urlencoding::decode(bucket).ok()?.into_owned();
    (!bucket.is_empty()).then_some(bucket)
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The [`S3Access`] of the gateway: grants checked per operation.
pub struct Grants {
    keys: Arc<Keys>,
}

impl Grants {
    /// Checks against the keys in `keys`.
    pub fn new(keys: Arc<Keys>) -> Self {
        Grants { keys }
    }
}

#[async_trait::async_trait]
impl S3Access for Grants {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // Every routed request passes here: the one place to learn its
        // operation's name for the metrics.
        crate::metrics::set_operation(cx.s3_op().name());
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let access_key = credentials.access_key.clone();
        let operation = cx.s3_op().name().to_owned();
        let operation = operation.as_str();
        let bucket = cx.s3_path().get_bucket_name().map(str::to_owned);
        let source = cx
            .headers()
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .and_then(copy_source_bucket)
            .filter(|_| matches!(operation, "CopyObject" | "UploadPartCopy"));
        let mut fresh = false;
        loop {
            let key = self
                .keys
                .get(&access_key)
                .await
                .map_err(|e| crate::error::to_s3_error(crate::error::Error::Meta(e)))?
                .ok_or_else(denied)?;
            if allowed(&key, operation, bucket.as_deref(), source.as_deref()) {
                cx.extensions_mut().insert(Caller(key));
                return Ok(());
            }
            if fresh {
                tracing::debug!(%access_key, ?bucket, operation, "access denied");
                return Err(denied());
            }
            // A grant given a moment ago (on another gateway, or by
            // CreateBucket) must not wait for the cache: read the key again.
            self.keys.forget(&access_key);
            fresh = true;
        }
    }
}

/// True when `key` may run `operation` on `bucket` (and read the copy
/// `source` bucket, for copies).
pub fn allowed(
    key: &AccessKey,
    operation: &str,
    bucket: Option<&str>,
    source: Option<&str>,
) -> bool {
    if key.is_root() {
        return true;
    }
    let Some(needed) = required(operation) else {
        return true;
    };
    let has = |bucket: &str, level: Permission| key.permission(bucket).is_some_and(|p| p >= level);
    bucket.is_some_and(|b| has(b, needed)) && source.is_none_or(|s| has(s, Permission::Read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_operations() {
        assert_eq!(required("GetObject"), Some(Permission::Read));
        assert_eq!(required("ListObjectsV2"), Some(Permission::Read));
        assert_eq!(required("PutObject"), Some(Permission::Write));
        assert_eq!(required("UploadPart"), Some(Permission::Write));
        assert_eq!(required("PutBucketCors"), Some(Permission::Owner));
        for op in [
            "PutBucketReplication",
            "GetBucketReplication",
            "DeleteBucketReplication",
        ] {
            assert_eq!(required(op), Some(Permission::Owner), "{op}");
        }
        assert_eq!(required("DeleteBucket"), Some(Permission::Owner));
        assert_eq!(required("SomethingNew"), Some(Permission::Owner));
        assert_eq!(required("ListBuckets"), None);
        assert!(Permission::Read < Permission::Write && Permission::Write < Permission::Owner);
    }

    #[test]
    fn a_key_with_grants_reaches_only_its_buckets() {
        let key = AccessKey {
            access_key: "K".into(),
            secret_key: "S".into(),
            name: "k".into(),
            grants: Some(vec![
                ("logs".into(), Permission::Read),
                ("photos".into(), Permission::Write),
            ]),
        };
        assert!(allowed(&key, "GetObject", Some("logs"), None));
        assert!(!allowed(&key, "PutObject", Some("logs"), None));
        assert!(!allowed(&key, "GetObject", Some("other"), None));
        assert!(allowed(&key, "PutObject", Some("photos"), None));
        assert!(!allowed(&key, "DeleteBucket", Some("photos"), None));
        assert!(allowed(&key, "CopyObject", Some("photos"), Some("logs")));
        assert!(!allowed(&key, "CopyObject", Some("photos"), Some("other")));
        assert!(allowed(&key, "ListBuckets", None, None));
        let root = AccessKey::root("R".into(), "S".into(), "root".into());
        assert!(allowed(&root, "DeleteBucket", Some("any"), None));
    }

    #[test]
    fn copy_sources_name_their_bucket() {
        assert_eq!(copy_source_bucket("b/k").as_deref(), Some("b"));
        assert_eq!(
            copy_source_bucket("/b/k/x?versionId=1").as_deref(),
            Some("b")
        );
        assert_eq!(
            copy_source_bucket("my%2Dbucket/k").as_deref(),
            Some("my-bucket")
        );
        assert_eq!(copy_source_bucket("/"), None);
    }
}
