//! Who may do what: access keys and their users, the users' grants and
//! IAM policies, the buckets' policies, and ACLs.
//!
//! An access key belongs to a user ([`Principal`]: a key without one is a
//! user of its own, named after the key). A root key
//! (`AccessKey::grants == None`) may do everything, the admin API
//! included. Any other key's user may touch the buckets it holds a grant
//! on: `read` (GET, HEAD, listing), `write` (also PUT, DELETE, copies,
//! multipart uploads) or `owner` (also the bucket's configuration and
//! DeleteBucket). ListBuckets shows a user only its buckets; CreateBucket
//! makes the creating user the bucket's owner (see `s3/bucket.rs`), and
//! every write records its caller's user as the owner of what it makes
//! (see `acl.rs`).
//!
//! The user's IAM policy, the bucket's policy (IAM's language,
//! `shale-policy`; read through [`crate::bucket_access::AccessRules`]) and,
//! where the bucket's Object Ownership enables them, the bucket's and the
//! object's ACLs are the other sources, evaluated as AWS does: an explicit
//! Deny in either policy refuses whatever else allows (the root key
//! included, but for Get/Put/DeleteBucketPolicy, so a policy never locks a
//! bucket for good); else an Allow from any source lets the caller in: a
//! key without a grant, or an unsigned (anonymous) request where the
//! bucket policy names everyone and the bucket does not restrict public
//! access, or a public ACL the bucket does not ignore. Anything refused is
//! 403 AccessDenied. DeleteObjects is decided key by key in its handler
//! ([`Authorization::may_delete`]); a copy also needs to read its source
//! under the source bucket's policy and the source object's ACL.
//!
//! The check runs inside `s3s` ([`S3Access`]), after the signature is
//! verified and the operation is known, before the handler (browser POST
//! uploads, outside `s3s`, call [`policy_allows`]). Keys are read
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
use shale_metadata::{AccessKey, Identity, MetaClient, MetaError, Permission};
use shale_policy::ResourceKind;

/// An access key and who it is, as the gateway authorizes with it: the
/// key's [`Identity`] (its user, grants, policy, whether disabled) and
/// what each request would otherwise work out again (the policy user,
/// with its ARN and canonical id; the user's policy, parsed).
#[derive(Debug)]
pub struct Principal {
    identity: Identity,
    /// Always `Caller::User`: kept whole so a request borrows it.
    caller: shale_policy::Caller,
    policy: Option<crate::bucket_access::Rules>,
}

impl Principal {
    /// `identity` ready to authorize with. A stored user policy that does
    /// not parse (only if a later release reads it differently) allows
    /// nothing, and says so in the log.
    pub fn new(identity: Identity) -> Principal {
        let caller =
            shale_policy::Caller::User(crate::bucket_access::user_of(identity.user_name()));
        let policy = identity.policy().and_then(|doc| {
            match shale_policy::parse_identity_policy(doc.as_bytes()) {
                Ok(p) => Some(crate::bucket_access::Rules::new(Some(Arc::new(p)), None)),
                Err(e) => {
                    tracing::warn!(user = identity.user_name(), error = %e,
                        "a stored user policy does not parse");
                    None
                }
            }
        });
        Principal {
            identity,
            caller,
            policy,
        }
    }

    /// A principal for `key`, a user of its own (tests, and keys made
    /// before users).
    pub fn of_key(key: AccessKey) -> Principal {
        Principal::new(Identity {
            key,
            user: None,
            disabled: false,
        })
    }

    /// The access key.
    pub fn key(&self) -> &AccessKey {
        &self.identity.key
    }

    /// The access key's id.
    pub fn access_key(&self) -> &str {
        &self.identity.key.access_key
    }

    /// The user's name: what rows record as owner.
    pub fn user_name(&self) -> &str {
        self.identity.user_name()
    }

    /// The user as policies see it.
    pub fn policy_user(&self) -> &shale_policy::User {
        match &self.caller {
            shale_policy::Caller::User(u) => u,
            shale_policy::Caller::Anonymous => unreachable!("a principal is a user"),
        }
    }

    /// The caller as policies see it.
    pub fn caller(&self) -> &shale_policy::Caller {
        &self.caller
    }

    /// True for a root key.
    pub fn is_root(&self) -> bool {
        self.identity.is_root()
    }

    /// True for a disabled key.
    pub fn is_disabled(&self) -> bool {
        self.identity.disabled
    }

    /// The key's permission on `bucket` (its user's).
    pub fn permission(&self, bucket: &str) -> Option<Permission> {
        self.identity.permission(bucket)
    }

    /// The user's IAM policy (with the condition keys it reads), if any.
    pub fn policy(&self) -> Option<&crate::bucket_access::Rules> {
        self.policy.as_ref()
    }
}

/// How long a key (its secret and grants) is trusted before it is read again.
pub const KEY_TTL: Duration = Duration::from_secs(5);

/// How long an access key the metadata service did not know is answered
/// as unknown without asking again.
pub const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(2);
/// Most unknown keys remembered.
pub const UNKNOWN_KEYS_MAX: usize = 65_536;
/// Keys cached past which the expired ones are dropped.
const KNOWN_KEYS_MAX: usize = 65_536;

/// The access keys and their users, read through from the metadata service.
pub struct Keys {
    meta: MetaClient,
    cache: RwLock<HashMap<String, (Instant, Arc<Principal>)>>,
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
    pub async fn get(&self, access_key: &str) -> Result<Option<Arc<Principal>>, MetaError> {
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
        let key = self
            .meta
            .get_identity(access_key)
            .await?
            .map(|i| Arc::new(Principal::new(i)));
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

    /// Drops every key from this gateway's cache (after this gateway
    /// changed a user, whose keys it does not list).
    pub fn forget_all(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.clear();
        }
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
pub struct Caller(pub Arc<Principal>);

impl Caller {
    /// The user name of the request's caller, as rows record their owner
    /// (for a key that is a user of its own, the key id). What an
    /// anonymous caller a bucket policy let in writes is the bucket
    /// owner's, as on S3 (Object Ownership "bucket owner enforced").
    /// `None` only for a request that passed no access check, or to a
    /// bucket made before owners were recorded.
    pub fn owner(extensions: &http::Extensions) -> Option<String> {
        match extensions.get::<Caller>() {
            Some(c) => Some(c.0.user_name().to_owned()),
            None => extensions
                .get::<Authorization>()
                .and_then(|a| a.rules.owner.clone()),
        }
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

/// The bucket and key of an `x-amz-copy-source` value (`bucket/key` or
/// `/bucket/key`, percent-encoded, maybe with `?versionId=`).
pub fn copy_source(value: &str) -> Option<(String, String)> {
    let value = value.strip_prefix('/').unwrap_or(value);
    let value = value.split_once('?').map_or(value, |(path, _)| path);
    let (bucket, key) = value.split_once('/').unwrap_or((value, ""));
    let bucket = urlencoding::decode(bucket).ok()?.into_owned();
    let key = urlencoding::decode(key).ok()?.into_owned();
    (!bucket.is_empty()).then_some((bucket, key))
}

/// The bucket of an `x-amz-copy-source` value.
pub fn copy_source_bucket(value: &str) -> Option<String> {
    copy_source(value).map(|(bucket, _)| bucket)
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// An unsigned request's caller.
static ANONYMOUS: shale_policy::Caller = shale_policy::Caller::Anonymous;

/// The caller `key` is to policies (`None`: anonymous).
fn caller_of(key: Option<&Principal>) -> &shale_policy::Caller {
    key.map_or(&ANONYMOUS, Principal::caller)
}

/// The actions the object's own ACL speaks of.
const OBJECT_ACL_ACTIONS: [&str; 6] = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAcl",
    "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
];

/// The actions a bucket policy cannot take from the root key: whatever a
/// policy says, the owner's root can always read, replace and delete it
/// (as the account root user can on S3), so a policy never locks a bucket
/// for good.
const ALWAYS_THE_ROOTS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

/// What the access check decided, kept in the request's extensions for
/// the handlers that authorize more than the request's own resource
/// (DeleteObjects, one key at a time).
#[derive(Clone, Debug)]
pub struct Authorization {
    key: Option<Arc<Principal>>,
    context: Arc<shale_policy::Context>,
    rules: crate::bucket_access::Rules,
}

impl Authorization {
    /// What a browser upload's check decided (outside `s3s`).
    pub fn for_upload(
        key: Option<Arc<Principal>>,
        context: Arc<shale_policy::Context>,
        rules: crate::bucket_access::Rules,
    ) -> Authorization {
        Authorization {
            key,
            context,
            rules,
        }
    }

    /// The caller as policies see it.
    fn caller(&self) -> &shale_policy::Caller {
        caller_of(self.key.as_deref())
    }

    /// Whether the caller may delete object `key` of `bucket` (a version of
    /// it when `version`): DeleteObjects asks for each of its keys.
    pub fn may_delete(&self, bucket: &str, key: &str, version: bool) -> bool {
        let granted = self
            .key
            .as_deref()
            .is_some_and(|k| allowed(k, "DeleteObject", Some(bucket), None));
        let action = if version {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        };
        verdict(
            self.key.as_deref(),
            granted,
            self.caller(),
            action,
            &shale_policy::object_arn(bucket, key),
            &self.context,
            &self.rules,
            None,
        )
        .is_allowed()
    }

    /// Whether the caller may bypass GOVERNANCE retention of object `key`
    /// of `bucket` (`s3:BypassGovernanceRetention`): an owner grant on the
    /// bucket, or a policy that allows it, and no policy that denies it.
    pub fn may_bypass(&self, bucket: &str, key: &str) -> bool {
        let granted = self
            .key
            .as_deref()
            .is_some_and(|k| k.permission(bucket) == Some(Permission::Owner));
        verdict(
            self.key.as_deref(),
            granted,
            self.caller(),
            "s3:BypassGovernanceRetention",
            &shale_policy::object_arn(bucket, key),
            &self.context,
            &self.rules,
            None,
        )
        .is_allowed()
    }

    /// Whether the bucket's policy or the user's policy allows `action` on
    /// `resource` (and neither denies it): for what no grant gives
    /// (replica writes).
    pub fn policies_allow(&self, action: &str, resource: &str) -> bool {
        self.key.is_some()
            && verdict(
                self.key.as_deref(),
                false,
                self.caller(),
                action,
                resource,
                &self.context,
                &self.rules,
                None,
            )
            .is_allowed()
    }

    /// The key that signed the request (`None`: anonymous).
    pub fn key(&self) -> Option<&Principal> {
        self.key.as_deref()
    }
}

/// Whether the bucket's `rules` and the key's grants (`granted`) let the
/// caller (`key`; `None`: anonymous) do `action` on `resource`: for the
/// checks made outside `s3s` (browser uploads).
pub fn policy_allows(
    key: Option<&Principal>,
    granted: bool,
    action: &str,
    resource: &str,
    context: &shale_policy::Context,
    rules: &crate::bucket_access::Rules,
) -> bool {
    verdict(
        key,
        granted,
        caller_of(key),
        action,
        resource,
        context,
        rules,
        None,
    )
    .is_allowed()
}

/// All sources together: the user's grants (`granted`), its IAM policy and
/// the bucket's policy, an explicit deny in either policy winning (see
/// [`ALWAYS_THE_ROOTS`]), and a public statement ignored for anonymous
/// callers where the bucket restricts public access.
#[allow(clippy::too_many_arguments)]
fn verdict(
    key: Option<&Principal>,
    granted: bool,
    caller: &shale_policy::Caller,
    action: &str,
    resource: &str,
    context: &shale_policy::Context,
    rules: &crate::bucket_access::Rules,
    object_acl: Option<&crate::acl::Acl>,
) -> shale_policy::Verdict {
    use shale_policy::Decision;
    let grant = if granted {
        Decision::Allow
    } else {
        Decision::NoMatch
    };
    let request = shale_policy::Request {
        caller,
        action,
        resource,
        context,
    };
    let user_policy = match key
        .and_then(Principal::policy)
        .and_then(|r| r.policy.as_ref())
    {
        Some(policy) => policy.evaluate(&request),
        None => Decision::NoMatch,
    };
    let policy = match &rules.policy {
        Some(policy) => match policy.evaluate(&request) {
            Decision::ExplicitDeny
                if key.is_some_and(Principal::is_root) && ALWAYS_THE_ROOTS.contains(&action) =>
            {
                Decision::NoMatch
            }
            Decision::Allow
                if matches!(caller, shale_policy::Caller::Anonymous)
                    && rules.restricts_public() =>
            {
                Decision::NoMatch
            }
            d => d,
        },
        None => Decision::NoMatch,
    };
    let acl = acl_decision(key, action, rules, object_acl);
    shale_policy::authorize([grant, user_policy, policy, acl])
}

/// What the ACLs say of `action`, while the bucket has them enabled: the
/// bucket's for listing and writing objects and for its own ACL, the
/// object's (`object_acl`) for reading it and its ACL. An ACL only ever
/// allows (public grants not under IgnorePublicAcls).
fn acl_decision(
    key: Option<&Principal>,
    action: &str,
    rules: &crate::bucket_access::Rules,
    object_acl: Option<&crate::acl::Acl>,
) -> shale_policy::Decision {
    use crate::acl::AclPermission::{Read, ReadAcp, Write, WriteAcp};
    use shale_policy::Decision;
    if rules.acl_ownership.is_none() {
        return Decision::NoMatch;
    }
    let bucket_acl = rules.acl.as_deref();
    let (acl, needed) = match action {
        "s3:ListBucket"
        | "s3:ListBucketVersions"
        | "s3:ListBucketMultipartUploads"
        | "s3:ListMultipartUploadParts" => (bucket_acl, Read),
        "s3:PutObject"
        | "s3:DeleteObject"
        | "s3:DeleteObjectVersion"
        | "s3:AbortMultipartUpload" => (bucket_acl, Write),
        "s3:GetBucketAcl" => (bucket_acl, ReadAcp),
        "s3:PutBucketAcl" => (bucket_acl, WriteAcp),
        "s3:GetObject" | "s3:GetObjectVersion" => (object_acl, Read),
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => (object_acl, ReadAcp),
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => (object_acl, WriteAcp),
        _ => return Decision::NoMatch,
    };
    let caller = key.map(|k| k.policy_user().canonical_id.as_str());
    if acl.is_some_and(|a| a.allows(caller, needed, rules.ignores_public_acls())) {
        Decision::Allow
    } else {
        Decision::NoMatch
    }
}

/// The [`S3Access`] of the gateway: the key's grants and the bucket's
/// policy, checked per operation.
pub struct Grants {
    keys: Arc<Keys>,
    rules: Arc<crate::bucket_access::AccessRules>,
}

impl Grants {
    /// Checks against the keys in `keys` and the buckets' rules in `rules`.
    pub fn new(keys: Arc<Keys>, rules: Arc<crate::bucket_access::AccessRules>) -> Self {
        Grants { keys, rules }
    }
}

#[async_trait::async_trait]
impl S3Access for Grants {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // Every routed request passes here: the one place to learn its
        // operation's name for the metrics.
        crate::metrics::set_operation(cx.s3_op().name());
        let access_key = cx.credentials().map(|c| c.access_key.clone());
        let operation = cx.s3_op().name().to_owned();
        let operation = operation.as_str();
        let bucket = cx.s3_path().get_bucket_name().map(str::to_owned);
        let object = cx.s3_path().get_object_key().map(str::to_owned);
        let query = cx.uri().query().unwrap_or("").to_owned();
        let version_id = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "versionId")
            .map(|(_, v)| v.into_owned());
        let source = cx
            .headers()
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .and_then(copy_source)
            .filter(|_| matches!(operation, "CopyObject" | "UploadPartCopy"));
        let origin = cx
            .extensions_mut()
            .get::<crate::bucket_access::Origin>()
            .copied();
        let action = crate::bucket_access::action(operation, version_id.is_some());
        let meta_failed = |e| crate::error::to_s3_error(crate::error::Error::Meta(e));
        let rules = match (&bucket, action) {
            (Some(b), Some(_)) => self.rules.get(b).await.map_err(meta_failed)?,
            _ => crate::bucket_access::Rules::default(),
        };
        let source_rules = match &source {
            Some((b, _)) => Some(self.rules.get(b).await.map_err(meta_failed)?),
            None => None,
        };
        let resource = match (action, &bucket) {
            (Some((_, ResourceKind::Object)), Some(b)) => {
                shale_policy::object_arn(b, object.as_deref().unwrap_or(""))
            }
            (Some((_, ResourceKind::Bucket)), Some(b)) => shale_policy::bucket_arn(b),
            _ => shale_policy::ACCOUNT_RESOURCE.to_owned(),
        };
        // DeleteObjects is authorized key by key in its handler.
        let per_key = operation == "DeleteObjects";
        let mut fresh = false;
        loop {
            let key = match &access_key {
                Some(id) => Some(
                    self.keys
                        .get(id)
                        .await
                        .map_err(meta_failed)?
                        .filter(|k| !k.is_disabled())
                        .ok_or_else(denied)?,
                ),
                None => None,
            };
            let user_policy = key.as_deref().and_then(Principal::policy);
            // The condition keys, only for a policy to read.
            let policies = [Some(&rules), source_rules.as_ref(), user_policy];
            let mut context = if policies.iter().flatten().any(|r| r.policy.is_some()) {
                let mask = policies.iter().flatten().fold(0, |m, r| m | r.mask);
                let wanted = |k: &str| crate::bucket_access::mask_wants(mask, k);
                crate::bucket_access::context(
                    cx.headers(),
                    &query,
                    origin,
                    time::OffsetDateTime::now_utc(),
                    &wanted,
                )
            } else {
                shale_policy::Context::new()
            };
            // The tags of the object the request names, for a policy that
            // reads them, and its ACL, for a bucket with ACLs enabled.
            let mut object_acl = None;
            if let (Some(b), Some(k), Some((name, ResourceKind::Object))) =
                (&bucket, &object, action)
                && (rules.wants(crate::bucket_access::EXISTING_TAG)
                    || user_policy.is_some_and(|r| r.wants(crate::bucket_access::EXISTING_TAG))
                    || (rules.acl_ownership.is_some() && OBJECT_ACL_ACTIONS.contains(&name)))
            {
                let facts = self
                    .rules
                    .object_facts(b, k, version_id.as_deref())
                    .await
                    .map_err(meta_failed)?;
                if let Some(facts) = facts {
                    for (tag, value) in facts.tags {
                        context.insert(
                            &format!("{}{tag}", crate::bucket_access::EXISTING_TAG),
                            value,
                        );
                    }
                    object_acl = Some(facts.acl);
                }
            }
            let context = Arc::new(context);
            let caller = caller_of(key.as_deref());
            let granted = key.as_deref().is_some_and(|k| {
                allowed(
                    k,
                    operation,
                    bucket.as_deref(),
                    source.as_ref().map(|(b, _)| b.as_str()),
                )
            });
            let mut ok = per_key
                || match action {
                    Some((name, _)) => verdict(
                        key.as_deref(),
                        granted,
                        caller,
                        name,
                        &resource,
                        &context,
                        &rules,
                        object_acl.as_ref(),
                    )
                    .is_allowed(),
                    None => granted,
                };
            // A copy reads its source: the source bucket's policy too, and
            // the source object's ACL where its bucket has ACLs on.
            if let (true, Some((src_bucket, src_key)), Some(src_rules)) =
                (ok, &source, &source_rules)
            {
                let src_acl = if src_rules.acl_ownership.is_some() {
                    let version = cx
                        .headers()
                        .get("x-amz-copy-source")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split_once("?versionId="))
                        .map(|(_, id)| id.to_owned());
                    self.rules
                        .object_facts(src_bucket, src_key, version.as_deref())
                        .await
                        .map_err(meta_failed)?
                        .map(|f| f.acl)
                } else {
                    None
                };
                let read = key
                    .as_deref()
                    .is_some_and(|k| allowed(k, "GetObject", Some(src_bucket), None));
                ok = verdict(
                    key.as_deref(),
                    read,
                    caller,
                    "s3:GetObject",
                    &shale_policy::object_arn(src_bucket, src_key),
                    &context,
                    src_rules,
                    src_acl.as_ref(),
                )
                .is_allowed();
            }
            // Without a policy there is nothing to decide key by key: the
            // grant answers for the whole request, as for any other.
            if per_key && rules.policy.is_none() && user_policy.is_none() {
                // (A bucket ACL's WRITE is for the whole bucket too.)
                ok = granted
                    || acl_decision(key.as_deref(), "s3:DeleteObject", &rules, None)
                        == shale_policy::Decision::Allow;
            }
            if ok {
                if let Some(k) = &key {
                    cx.extensions_mut().insert(Caller(Arc::clone(k)));
                }
                cx.extensions_mut().insert(Authorization {
                    key,
                    context,
                    rules,
                });
                return Ok(());
            }
            if fresh || key.is_none() {
                tracing::debug!(?access_key, ?bucket, operation, "access denied");
                return Err(denied());
            }
            // A grant given a moment ago (on another gateway, or by
            // CreateBucket) must not wait for the cache: read the key again.
            self.keys.forget(access_key.as_deref().unwrap_or(""));
            fresh = true;
        }
    }
}

/// True when `key` may run `operation` on `bucket` (and read the copy
/// `source` bucket, for copies).
pub fn allowed(
    key: &Principal,
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
        let key = Principal::of_key(AccessKey {
            access_key: "K".into(),
            secret_key: "S".into(),
            name: "k".into(),
            grants: Some(vec![
                ("logs".into(), Permission::Read),
                ("photos".into(), Permission::Write),
            ]),
        });
        assert!(allowed(&key, "GetObject", Some("logs"), None));
        assert!(!allowed(&key, "PutObject", Some("logs"), None));
        assert!(!allowed(&key, "GetObject", Some("other"), None));
        assert!(allowed(&key, "PutObject", Some("photos"), None));
        assert!(!allowed(&key, "DeleteBucket", Some("photos"), None));
        assert!(allowed(&key, "CopyObject", Some("photos"), Some("logs")));
        assert!(!allowed(&key, "CopyObject", Some("photos"), Some("other")));
        assert!(allowed(&key, "ListBuckets", None, None));
        let root = Principal::of_key(AccessKey::root("R".into(), "S".into(), "root".into()));
        assert!(allowed(&root, "DeleteBucket", Some("any"), None));
    }

    fn rules(
        document: &str,
        block: Option<shale_metadata::PublicAccessBlock>,
    ) -> crate::bucket_access::Rules {
        let policy = shale_policy::parse_bucket_policy(document.as_bytes(), "b", &|_| true)
            .expect("a valid policy");
        crate::bucket_access::Rules::new(Some(Arc::new(policy)), block)
    }

    fn decide(
        key: Option<&Principal>,
        granted: bool,
        action: &str,
        object: &str,
        rules: &crate::bucket_access::Rules,
    ) -> bool {
        let cx = shale_policy::Context::new();
        policy_allows(
            key,
            granted,
            action,
            &shale_policy::object_arn("b", object),
            &cx,
            rules,
        )
    }

    /// The key's grants and the bucket's policy together: a Deny wins over
    /// a grant and over the root key (but for the policy itself), an Allow
    /// reaches a key without a grant, and a public Allow reaches anonymous
    /// callers only while the bucket does not restrict public access.
    #[test]
    fn grants_and_the_bucket_policy_decide_together() {
        let root = Principal::of_key(AccessKey::root("R".into(), "S".into(), "root".into()));
        let writer_key = AccessKey {
            access_key: "W".into(),
            secret_key: "S".into(),
            name: "w".into(),
            grants: Some(vec![("b".into(), Permission::Write)]),
        };
        let writer = Principal::of_key(writer_key.clone());
        let deny = rules(
            r#"{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/keep/*"]}]}"#,
            None,
        );
        assert!(!decide(
            Some(&writer),
            true,
            "s3:PutObject",
            "keep/x",
            &deny
        ));
        assert!(decide(Some(&writer), true, "s3:PutObject", "tmp/x", &deny));
        assert!(!decide(Some(&root), true, "s3:GetObject", "keep/x", &deny));
        let cx = shale_policy::Context::new();
        let bucket = shale_policy::bucket_arn("b");
        for action in ALWAYS_THE_ROOTS {
            assert!(
                policy_allows(Some(&root), true, action, &bucket, &cx, &deny),
                "{action}"
            );
            assert!(
                !policy_allows(Some(&writer), true, action, &bucket, &cx, &deny),
                "{action}"
            );
        }
        assert!(!policy_allows(
            Some(&root),
            true,
            "s3:ListBucket",
            &bucket,
            &cx,
            &deny
        ));

        let public = r#"{"Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/pub/*"}]}"#;
        let open = rules(public, None);
        assert!(decide(None, false, "s3:GetObject", "pub/a", &open));
        assert!(!decide(None, false, "s3:GetObject", "priv/a", &open));
        assert!(!decide(None, false, "s3:PutObject", "pub/a", &open));
        let stranger = Principal::of_key(AccessKey {
            grants: Some(vec![]),
            ..writer_key.clone()
        });
        assert!(decide(
            Some(&stranger),
            false,
            "s3:GetObject",
            "pub/a",
            &open
        ));
        let restricted = rules(public, Some(shale_metadata::PublicAccessBlock::ALL));
        assert!(!decide(None, false, "s3:GetObject", "pub/a", &restricted));
        // Users of the account are not the public RestrictPublicBuckets
        // shuts out.
        assert!(decide(
            Some(&stranger),
            false,
            "s3:GetObject",
            "pub/a",
            &restricted
        ));
        assert!(!decide(
            None,
            false,
            "s3:GetObject",
            "pub/a",
            &crate::bucket_access::Rules::default()
        ));
    }

    /// A user's IAM policy is a third source: its Allow reaches a bucket
    /// the user holds no grant on, its Deny refuses what a grant or the
    /// bucket policy allows; it never speaks for anonymous callers.
    #[test]
    fn the_users_policy_decides_with_the_grants_and_the_bucket_policy() {
        let user = |policy: &str| {
            Principal::new(Identity {
                key: AccessKey {
                    access_key: "K1".into(),
                    secret_key: "S".into(),
                    name: "k".into(),
                    grants: Some(vec![]),
                },
                user: Some(shale_metadata::User {
                    name: "alice".into(),
                    created_ms: 0,
                    grants: vec![("b".into(), Permission::Write)],
                    policy: Some(policy.into()),
                }),
                disabled: false,
            })
        };
        let alice = user(
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/${aws:username}/*"},
                {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/keep/*"}]}"#,
        );
        assert_eq!(alice.user_name(), "alice");
        assert_eq!(
            alice.policy_user().arn,
            "arn:aws:iam::000000000000:user/alice"
        );
        let none = crate::bucket_access::Rules::default();
        let cx = shale_policy::Context::new();
        let may = |who: &Principal, granted: bool, action: &str, object: (&str, &str), rules| {
            let resource = shale_policy::object_arn(object.0, object.1);
            policy_allows(Some(who), granted, action, &resource, &cx, rules)
        };
        let granted = allowed(&alice, "DeleteObject", Some("b"), None);
        assert!(granted);
        assert!(!may(
            &alice,
            granted,
            "s3:DeleteObject",
            ("b", "keep/x"),
            &none
        ));
        assert!(may(
            &alice,
            granted,
            "s3:DeleteObject",
            ("b", "tmp/x"),
            &none
        ));
        assert!(may(
            &alice,
            false,
            "s3:GetObject",
            ("other", "alice/x"),
            &none
        ));
        assert!(!may(
            &alice,
            false,
            "s3:GetObject",
            ("other", "bob/x"),
            &none
        ));
        // The Deny holds against a bucket policy's Allow too.
        let open = rules(
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}"#,
            None,
        );
        assert!(!may(
            &alice,
            granted,
            "s3:DeleteObject",
            ("b", "keep/x"),
            &open
        ));
        let keep = shale_policy::object_arn("b", "keep/x");
        assert!(policy_allows(
            None,
            false,
            "s3:DeleteObject",
            &keep,
            &cx,
            &open
        ));
        // A policy that no longer parses allows nothing.
        let broken = user("not json");
        assert!(broken.policy().is_none());
        assert!(!may(
            &broken,
            false,
            "s3:GetObject",
            ("other", "alice/x"),
            &none
        ));
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
        assert_eq!(
            copy_source("/b/dir/k%20x?versionId=1"),
            Some(("b".to_owned(), "dir/k x".to_owned()))
        );
    }
}
