//! What a bucket says of who may use it: its policy (IAM's language,
//! `shale-policy`) and its public access block, and what a request brings
//! to their conditions.
//!
//! - [`AccessRules`]: each bucket's parsed policy and public access block,
//!   read from the metadata service and believed for [`TTL`] (one read of
//!   each per bucket and period, not per request); this gateway's own
//!   changes take effect at once ([`AccessRules::forget`]). A failed read
//!   fails the request: a policy that denies must never be skipped.
//! - [`action`]: the IAM action an S3 operation is authorized as, and
//!   whether against the bucket's ARN or the object's.
//! - [`context`]: the condition keys of a request (`aws:SourceIp`,
//!   `aws:SecureTransport`, `s3:prefix`, ...).
//! - Who a caller is, to a policy ([`user_of`]): until users exist, every
//!   access key is a user of its own, named by its key id, in the one
//!   account a Shale cluster is ([`ACCOUNT_ID`]), with the canonical id its
//!   ACLs already carry.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::bucket_cache::BucketCache;

use shale_metadata::{
    BucketConfig, BucketConfigKind, MetaClient, MetaError, ObjectOwnership, PublicAccessBlock,
};
use shale_policy::{Context, Policy, ResourceKind, User};

/// How long a bucket's policy and public access block are believed.
pub const TTL: Duration = Duration::from_secs(5);

/// The account every Shale user belongs to: `arn:aws:iam::000000000000:user/NAME`.
pub const ACCOUNT_ID: &str = "000000000000";

/// Where a request came from, put in its extensions by the listener.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    /// The client's address (`aws:SourceIp`).
    pub ip: IpAddr,
    /// Whether it came over TLS (`aws:SecureTransport`).
    pub secure: bool,
}

/// A bucket's access rules, as [`AccessRules::get`] answers them.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Its policy, if it has one.
    pub policy: Option<Arc<Policy>>,
    /// The condition keys its policy reads, lowercased: a request's
    /// context holds only those ([`context`]).
    pub keys: Arc<Vec<String>>,
    /// The bucket's owner (an access key id), who owns what anonymous
    /// writers a policy lets in write.
    pub owner: Option<String>,
    /// Its public access block: `None` only after DeletePublicAccessBlock
    /// (a bucket that never had one has every block on).
    pub block: Option<PublicAccessBlock>,
    /// Its Object Ownership while ACLs are enabled (BucketOwnerPreferred
    /// or ObjectWriter); `None` while they are disabled
    /// (BucketOwnerEnforced, the default).
    pub acl_ownership: Option<ObjectOwnership>,
    /// Its ACL, while ACLs are enabled and it has one.
    pub acl: Option<Arc<crate::acl::Acl>>,
    /// Its default encryption, if it has one (read here, with the rules
    /// every request reads, so a PUT costs no extra metadata read).
    pub encryption: Option<shale_metadata::BucketEncryption>,
    /// The keys of [`CONTEXT_KEYS`] its policy reads, one bit each
    /// (worked out once: [`context`] asks for every key it can fill).
    pub mask: u64,
}

/// The condition keys [`context`] fills, each with its bit in
/// [`Rules::mask`] (its index here); the two prefixes stand for every key
/// under them.
const CONTEXT_KEYS: [&str; 30] = [
    "aws:SourceIp",
    "aws:SecureTransport",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:UserAgent",
    "aws:Referer",
    "s3:authType",
    "s3:signatureversion",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:VersionId",
    "s3:x-amz-acl",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-content-sha256",
    "s3:x-amz-storage-class",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-copy-source",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control",
    "s3:object-lock-mode",
    "s3:object-lock-retain-until-date",
    "s3:object-lock-legal-hold",
    "s3:RequestObjectTagKeys",
    REQUEST_TAG,
    EXISTING_TAG,
];

/// The bit of `key` in [`Rules::mask`], if [`CONTEXT_KEYS`] has it.
fn key_bit(key: &str) -> Option<u64> {
    CONTEXT_KEYS
        .iter()
        .position(|k| k.len() == key.len() && k.eq_ignore_ascii_case(key))
        .map(|i| 1 << i)
}

/// Whether a policy of `mask` reads `key` (see [`Rules::wants`]).
pub fn mask_wants(mask: u64, key: &str) -> bool {
    key_bit(key).is_some_and(|b| mask & b != 0)
}

impl Rules {
    /// The rules of `policy` under `block`.
    pub fn new(policy: Option<Arc<Policy>>, block: Option<PublicAccessBlock>) -> Rules {
        let mut keys: Vec<String> = policy
            .iter()
            .flat_map(|p| p.statements())
            .flat_map(|s| s.conditions())
            .map(|c| c.key().to_ascii_lowercase())
            .collect();
        keys.sort();
        keys.dedup();
        let mut mask = 0;
        for (i, k) in CONTEXT_KEYS.iter().enumerate() {
            let wanted = if k.ends_with('/') {
                keys.iter().any(|key| {
                    key.get(..k.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(k))
                })
            } else {
                keys.iter().any(|key| key.eq_ignore_ascii_case(k))
            };
            if wanted {
                mask |= 1 << i;
            }
        }
        Rules {
            policy,
            keys: Arc::new(keys),
            block,
            owner: None,
            acl_ownership: None,
            acl: None,
            encryption: None,
            mask,
        }
    }

    /// Whether the policy reads condition key `key` (for a key ending in
    /// `/`, such as [`REQUEST_TAG`], any key under it).
    pub fn wants(&self, key: &str) -> bool {
        if let Some(bit) = key_bit(key) {
            return self.mask & bit != 0;
        }
        // A handful of keys: a scan without allocating beats a hash.
        if key.ends_with('/') {
            self.keys.iter().any(|k| {
                k.get(..key.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(key))
            })
        } else {
            self.keys.iter().any(|k| k.eq_ignore_ascii_case(key))
        }
    }

    /// Whether public ACL grants are ignored (IgnorePublicAcls).
    pub fn ignores_public_acls(&self) -> bool {
        self.block.is_some_and(|b| b.ignore_public_acls)
    }

    /// Whether public ACLs are refused (BlockPublicAcls).
    pub fn blocks_public_acls(&self) -> bool {
        self.block.is_some_and(|b| b.block_public_acls)
    }

    /// Whether public statements of the policy are ignored for callers
    /// from outside the account (RestrictPublicBuckets, on a public policy).
    pub fn restricts_public(&self) -> bool {
        self.block.is_some_and(|b| b.restrict_public_buckets)
            && self.policy.as_ref().is_some_and(|p| p.is_public())
    }
}

/// Object Ownership while ACLs are enabled, from the bucket's
/// `ownership-controls` row (none: BucketOwnerEnforced; deleted: as S3
/// before Object Ownership, ObjectWriter).
pub fn acl_ownership(row: Option<BucketConfig>) -> Option<ObjectOwnership> {
    match row {
        Some(BucketConfig::OwnershipControls(None)) => Some(ObjectOwnership::ObjectWriter),
        Some(BucketConfig::OwnershipControls(Some(ObjectOwnership::BucketOwnerEnforced)))
        | None => None,
        Some(BucketConfig::OwnershipControls(Some(o))) => Some(o),
        Some(_) => None,
    }
}

/// Stored rules: the bucket's policy document is kept parsed.
fn parse_stored(bucket: &str, document: &str) -> Option<Arc<Policy>> {
    // Stored only after it parsed, so this fails only if a later release
    // reads it differently; the bucket then has no policy, and says so.
    match shale_policy::parse_bucket_policy(document.as_bytes(), bucket, &|_| true) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            tracing::warn!(bucket, error = %e, "a stored bucket policy does not parse");
            None
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct AccessRules {
    meta: MetaClient,
    cache: BucketCache<Rules>,
    /// The account's public access block (a deployment setting), on top
    /// of every bucket's.
    account: PublicAccessBlock,
}

impl AccessRules {
    /// An empty cache over `meta`.
    pub fn new(meta: MetaClient) -> AccessRules {
        AccessRules {
            meta,
            cache: BucketCache::new(TTL),
            account: PublicAccessBlock::NONE,
        }
    }

    /// The same rules under the account's public access block `account`.
    pub fn with_account_block(mut self, account: PublicAccessBlock) -> AccessRules {
        self.account = account;
        self
    }

    /// The account's public access block.
    pub fn account_block(&self) -> PublicAccessBlock {
        self.account
    }

    /// The bucket's rules (a bucket that does not exist has none).
    pub async fn get(&self, bucket: &str) -> Result<Rules, MetaError> {
        self.cache.get(bucket, || self.load(bucket)).await
    }

    async fn load(&self, bucket: &str) -> Result<Rules, MetaError> {
        let config = |kind| self.meta.get_bucket_config(bucket, kind);
        let (policy, block, row, ownership, acl, encryption) = tokio::join!(
            config(BucketConfigKind::Policy),
            config(BucketConfigKind::PublicAccessBlock),
            self.meta.get_bucket(bucket),
            config(BucketConfigKind::OwnershipControls),
            config(BucketConfigKind::Acl),
            config(BucketConfigKind::Encryption),
        );
        let missing = |r: Result<Option<BucketConfig>, MetaError>| match r {
            Err(MetaError::NoSuchBucket) => Ok(None),
            other => other,
        };
        let policy = match missing(policy)? {
            Some(BucketConfig::Policy(document)) => parse_stored(bucket, &document),
            _ => None,
        };
        let block = match missing(block)? {
            Some(BucketConfig::PublicAccessBlock(block)) => block,
            _ => Some(PublicAccessBlock::ALL),
        };
        // The account's blocks hold whatever the bucket's say.
        let block = match block {
            Some(b) => Some(b.union(self.account)),
            None => Some(self.account).filter(|a| *a != PublicAccessBlock::NONE),
        };
        let mut rules = Rules::new(policy, block);
        rules.owner = row?.and_then(|b| b.owner);
        rules.acl_ownership = acl_ownership(missing(ownership)?);
        if let Some(BucketConfig::Encryption(e)) = missing(encryption)? {
            rules.encryption = Some(e);
        }
        if rules.acl_ownership.is_some()
            && let Some(BucketConfig::Acl(stored)) = missing(acl)?
        {
            rules.acl = crate::acl::Acl::decode(&stored).map(Arc::new);
        }
        Ok(rules)
    }

    /// Drops what is known of `bucket` (after this gateway changed its
    /// policy or its public access block).
    pub fn forget(&self, bucket: &str) {
        self.cache.changed(bucket, None);
    }

    /// The tags and the ACL of the object version a request names
    /// (`version`: its `versionId`), for `s3:ExistingObjectTag/<key>` and
    /// the object's ACL: read only for a policy that asks or a bucket with
    /// ACLs enabled (one metadata read). `None` when there is no such
    /// object (or it is a delete marker): the keys are then absent, and
    /// the ACL grants nothing.
    pub async fn object_facts(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<ObjectFacts>, MetaError> {
        let Ok(which) = shale_metadata::VersionRef::parse(version) else {
            return Ok(None);
        };
        match self.meta.get_version(bucket, key, which).await {
            Ok(v) if !v.object.version.marker => {
                let row = v.object.row;
                let owner = crate::acl::OwnerId::of(row.owner.as_deref());
                let acl = row
                    .system_headers
                    .iter()
                    .find(|(k, _)| k == shale_metadata::OBJECT_ACL)
                    .and_then(|(_, v)| crate::acl::Acl::decode(v))
                    .unwrap_or_else(|| crate::acl::Acl::private(&owner));
                Ok(Some(ObjectFacts {
                    tags: row.tags,
                    acl,
                }))
            }
            Ok(_)
            | Err(MetaError::NoSuchKey | MetaError::NoSuchVersion | MetaError::NoSuchBucket) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// What the access check may read of the object a request names.
#[derive(Clone, Debug)]
pub struct ObjectFacts {
    /// Its tags.
    pub tags: Vec<(String, String)>,
    /// Its ACL (its owner's FULL_CONTROL when it has none of its own).
    pub acl: crate::acl::Acl,
}

/// The prefix of the keys `s3:ExistingObjectTag/<tag key>`.
pub const EXISTING_TAG: &str = "s3:ExistingObjectTag/";

/// The policy user of access key `access_key` (see the module docs).
pub fn user_of(access_key: &str) -> User {
    User::new(
        ACCOUNT_ID,
        access_key,
        &crate::acl::canonical_id(access_key),
    )
}

/// The IAM action S3 operation `operation` is authorized as, and what it is
/// authorized against; `version` says whether the request names a version
/// (`versionId`), which makes some actions their `...Version` form.
/// `None` for an operation no policy speaks of (answered NotImplemented or
/// left to the root key).
pub fn action(operation: &str, version: bool) -> Option<(&'static str, ResourceKind)> {
    use ResourceKind::{Account, Bucket, Object};
    let v = |plain: &'static str, versioned: &'static str| if version { versioned } else { plain };
    Some(match operation {
        "ListBuckets" => ("s3:ListAllMyBuckets", Account),
        "CreateBucket" => ("s3:CreateBucket", Bucket),
        "DeleteBucket" => ("s3:DeleteBucket", Bucket),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => ("s3:ListBucket", Bucket),
        "ListObjectVersions" => ("s3:ListBucketVersions", Bucket),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads", Bucket),
        "GetBucketLocation" => ("s3:GetBucketLocation", Bucket),
        "GetBucketAcl" => ("s3:GetBucketAcl", Bucket),
        "PutBucketAcl" => ("s3:PutBucketAcl", Bucket),
        "GetBucketCors" => ("s3:GetBucketCORS", Bucket),
        "PutBucketCors" | "DeleteBucketCors" => ("s3:PutBucketCORS", Bucket),
        "GetBucketPolicy" => ("s3:GetBucketPolicy", Bucket),
        "PutBucketPolicy" => ("s3:PutBucketPolicy", Bucket),
        "DeleteBucketPolicy" => ("s3:DeleteBucketPolicy", Bucket),
        "GetBucketPolicyStatus" => ("s3:GetBucketPolicyStatus", Bucket),
        "GetPublicAccessBlock" => ("s3:GetBucketPublicAccessBlock", Bucket),
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => {
            ("s3:PutBucketPublicAccessBlock", Bucket)
        }
        "GetBucketOwnershipControls" => ("s3:GetBucketOwnershipControls", Bucket),
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => {
            ("s3:PutBucketOwnershipControls", Bucket)
        }
        "GetBucketVersioning" => ("s3:GetBucketVersioning", Bucket),
        "PutBucketVersioning" => ("s3:PutBucketVersioning", Bucket),
        "GetBucketLifecycleConfiguration" => ("s3:GetLifecycleConfiguration", Bucket),
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            ("s3:PutLifecycleConfiguration", Bucket)
        }
        "GetBucketReplication" => ("s3:GetReplicationConfiguration", Bucket),
        "PutBucketReplication" | "DeleteBucketReplication" => {
            ("s3:PutReplicationConfiguration", Bucket)
        }
        "GetBucketTagging" => ("s3:GetBucketTagging", Bucket),
        "PutBucketTagging" | "DeleteBucketTagging" => ("s3:PutBucketTagging", Bucket),
        "GetBucketEncryption" => ("s3:GetEncryptionConfiguration", Bucket),
        "PutBucketEncryption" | "DeleteBucketEncryption" => {
            ("s3:PutEncryptionConfiguration", Bucket)
        }
        "GetObjectLockConfiguration" => ("s3:GetBucketObjectLockConfiguration", Bucket),
        "PutObjectLockConfiguration" => ("s3:PutBucketObjectLockConfiguration", Bucket),
        "GetBucketRequestPayment" => ("s3:GetBucketRequestPayment", Bucket),
        "PutBucketRequestPayment" => ("s3:PutBucketRequestPayment", Bucket),
        "GetBucketWebsite" => ("s3:GetBucketWebsite", Bucket),
        "PutBucketWebsite" | "DeleteBucketWebsite" => ("s3:PutBucketWebsite", Bucket),
        "GetBucketLogging" => ("s3:GetBucketLogging", Bucket),
        "PutBucketLogging" => ("s3:PutBucketLogging", Bucket),
        "GetBucketNotificationConfiguration" => ("s3:GetBucketNotification", Bucket),
        "PutBucketNotificationConfiguration" => ("s3:PutBucketNotification", Bucket),
        "GetBucketAccelerateConfiguration" => ("s3:GetAccelerateConfiguration", Bucket),
        "PutBucketAccelerateConfiguration" => ("s3:PutAccelerateConfiguration", Bucket),
        "GetObject" | "HeadObject" | "SelectObjectContent" => {
            (v("s3:GetObject", "s3:GetObjectVersion"), Object)
        }
        "GetObjectAttributes" => (
            v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            Object,
        ),
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => ("s3:PutObject", Object),
        "DeleteObject" => (v("s3:DeleteObject", "s3:DeleteObjectVersion"), Object),
        // Each key of the request is one DeleteObject; the bucket-wide
        // check here is the request's, the keys are S3's business inside.
        "DeleteObjects" => ("s3:DeleteObject", Object),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload", Object),
        "ListParts" => ("s3:ListMultipartUploadParts", Object),
        "GetObjectTagging" => (
            v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            Object,
        ),
        "PutObjectTagging" => (
            v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            Object,
        ),
        "DeleteObjectTagging" => (
            v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            Object,
        ),
        "GetObjectAcl" => (v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"), Object),
        "PutObjectAcl" => (v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"), Object),
        "GetObjectRetention" => ("s3:GetObjectRetention", Object),
        "PutObjectRetention" => ("s3:PutObjectRetention", Object),
        "GetObjectLegalHold" => ("s3:GetObjectLegalHold", Object),
        "PutObjectLegalHold" => ("s3:PutObjectLegalHold", Object),
        "RestoreObject" => ("s3:RestoreObject", Object),
        _ => return None,
    })
}

/// The query parameter `name` of `query`, decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// How the request was signed: (`s3:authType`, `s3:signatureversion`).
fn auth_kind(headers: &http::HeaderMap, query: &str) -> Option<(&'static str, &'static str)> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match header {
        Some(h) if h.starts_with("AWS4-") => Some(("REST-HEADER", "AWS4-HMAC-SHA256")),
        Some(h) if h.starts_with("AWS ") => Some(("REST-HEADER", "AWS")),
        _ if query_param(query, "X-Amz-Algorithm").is_some() => {
            Some(("REST-QUERY-STRING", "AWS4-HMAC-SHA256"))
        }
        _ if query_param(query, "Signature").is_some() => Some(("REST-QUERY-STRING", "AWS")),
        _ => None,
    }
}

/// The condition keys of a request: where it came from, when, how it was
/// signed, and what it asks (list parameters, ACL and encryption headers,
/// tags it sets, the version it names).
pub fn context(
    headers: &http::HeaderMap,
    query: &str,
    origin: Option<Origin>,
    now: time::OffsetDateTime,
    wanted: &dyn Fn(&str) -> bool,
) -> Context {
    // Each key is looked for only when a policy reads it: most requests
    // meet policies of a few keys, and every header lookup costs.
    let mut cx = Context::new();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(o) = origin {
        if wanted("aws:SourceIp") {
            cx.insert_static("aws:sourceip", o.ip.to_canonical().to_string());
        }
        if wanted("aws:SecureTransport") {
            cx.insert_static("aws:securetransport", o.secure.to_string());
        }
    }
    if wanted("aws:CurrentTime") {
        // ISO 8601 in UTC to the second, as IAM gives it.
        let utc = now.to_offset(time::UtcOffset::UTC);
        let at = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        );
        cx.insert_static("aws:currenttime", at);
    }
    if wanted("aws:EpochTime") {
        cx.insert_static("aws:epochtime", now.unix_timestamp().to_string());
    }
    for (name, key) in [("user-agent", "aws:useragent"), ("referer", "aws:referer")] {
        if wanted(key)
            && let Some(v) = header(name)
        {
            cx.insert_static(key, v);
        }
    }
    if (wanted("s3:authType") || wanted("s3:signatureversion"))
        && let Some((auth_type, version)) = auth_kind(headers, query)
    {
        cx.insert_static("s3:authtype", auth_type);
        cx.insert_static("s3:signatureversion", version);
    }
    for (param, key) in [
        ("prefix", "s3:prefix"),
        ("delimiter", "s3:delimiter"),
        ("max-keys", "s3:max-keys"),
        ("versionId", "s3:versionid"),
    ] {
        if wanted(key)
            && let Some(v) = query_param(query, param)
        {
            cx.insert_static(key, v);
        }
    }
    for (name, key) in [
        ("x-amz-acl", "s3:x-amz-acl"),
        (
            "x-amz-server-side-encryption",
            "s3:x-amz-server-side-encryption",
        ),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
        ),
        ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-grant-read", "s3:x-amz-grant-read"),
        ("x-amz-grant-write", "s3:x-amz-grant-write"),
        ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
        ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
        ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
        ("x-amz-object-lock-mode", "s3:object-lock-mode"),
        (
            "x-amz-object-lock-retain-until-date",
            "s3:object-lock-retain-until-date",
        ),
        ("x-amz-object-lock-legal-hold", "s3:object-lock-legal-hold"),
    ] {
        if wanted(key)
            && let Some(v) = header(name)
        {
            cx.insert_static(key, v);
        }
    }
    let tag_keys = wanted("s3:RequestObjectTagKeys");
    if (tag_keys || wanted(REQUEST_TAG))
        && let Some(tagging) = header("x-amz-tagging")
    {
        let mut keys = Vec::new();
        for (k, v) in form_urlencoded::parse(tagging.as_bytes()) {
            cx.insert(&format!("{REQUEST_TAG}{k}"), v.into_owned());
            keys.push(k.into_owned());
        }
        if tag_keys {
            cx.set("s3:RequestObjectTagKeys", keys);
        }
    }
    cx
}

/// The prefix of the keys `s3:RequestObjectTag/<tag key>`: `wanted` is
/// asked for it once, for all of them.
pub const REQUEST_TAG: &str = "s3:RequestObjectTag/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_the_gateway_serves_has_an_action_policies_know() {
        for op in [
            "GetObject",
            "PutObject",
            "ListObjectsV2",
            "DeleteObjects",
            "PutBucketPolicy",
            "GetPublicAccessBlock",
            "ListBuckets",
            "CompleteMultipartUpload",
        ] {
            let (name, kind) = action(op, false).unwrap_or_else(|| panic!("{op}"));
            assert!(
                shale_policy::actions::applies_to(name, kind),
                "{op} -> {name}"
            );
        }
        assert_eq!(action("GetObject", true).unwrap().0, "s3:GetObjectVersion");
        assert_eq!(action("HeadBucket", false).unwrap().0, "s3:ListBucket");
    }

    #[test]
    fn a_request_brings_its_origin_signature_and_parameters_to_conditions() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
        );
        headers.insert("x-amz-tagging", "team=blue&stage=prod".parse().unwrap());
        headers.insert("user-agent", "boto3/1.40".parse().unwrap());
        let origin = Origin {
            ip: "127.0.0.9".parse().unwrap(),
            secure: false,
        };
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let query = "list-type=2&prefix=logs%2F&max-keys=10";
        let cx = context(&headers, query, Some(origin), now, &|_| true);
        // Only what a policy reads is looked for.
        let rules = Rules::new(
            Some(Arc::new(
                shale_policy::parse_bucket_policy(
                    br#"{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
                        "Resource": "arn:aws:s3:::b",
                        "Condition": {"StringLike": {"s3:prefix": "x*", "s3:RequestObjectTag/team": "y"}}}]}"#,
                    "b",
                    &|_| true,
                )
                .unwrap(),
            )),
            None,
        );
        let few = context(&headers, query, Some(origin), now, &|k| rules.wants(k));
        assert_eq!(
            few.get("s3:prefix").map(|v| v.join(",")).as_deref(),
            Some("logs/")
        );
        assert_eq!(
            few.get("s3:RequestObjectTag/team")
                .map(|v| v.join(","))
                .as_deref(),
            Some("blue")
        );
        for absent in [
            "aws:SourceIp",
            "aws:CurrentTime",
            "s3:max-keys",
            "s3:RequestObjectTagKeys",
        ] {
            assert_eq!(few.get(absent), None, "{absent}");
        }
        let one = |k: &str| cx.get(k).map(|v| v.join(","));
        assert_eq!(one("aws:SourceIp").as_deref(), Some("127.0.0.9"));
        assert_eq!(one("aws:SecureTransport").as_deref(), Some("false"));
        assert_eq!(
            one("aws:CurrentTime").as_deref(),
            Some("2027-01-15T08:00:00Z")
        );
        assert_eq!(one("s3:prefix").as_deref(), Some("logs/"));
        assert_eq!(one("s3:max-keys").as_deref(), Some("10"));
        assert_eq!(one("s3:authType").as_deref(), Some("REST-HEADER"));
        assert_eq!(
            one("s3:signatureversion").as_deref(),
            Some("AWS4-HMAC-SHA256")
        );
        assert_eq!(one("s3:RequestObjectTag/team").as_deref(), Some("blue"));
        assert_eq!(
            one("s3:RequestObjectTagKeys").as_deref(),
            Some("team,stage")
        );
        assert_eq!(one("aws:UserAgent").as_deref(), Some("boto3/1.40"));
        assert_eq!(one("aws:Referer"), None);
    }
}
