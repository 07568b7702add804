//! Amazon S3's actions and the resource each applies to, from the Service
//! Authorization Reference ("Actions, resources, and condition keys for
//! Amazon S3"): an object action is authorized against an object's ARN
//! (`arn:aws:s3:::bucket/key`), a bucket action against the bucket's
//! (`arn:aws:s3:::bucket`), an account action against no S3 resource (a
//! policy can grant it only with `"Resource": "*"`, or a pattern that
//! matches [`ACCOUNT_RESOURCE`]).
//!
//! Validation uses the table to refuse an action S3 does not have ("Policy
//! has invalid action") and a bucket policy statement whose actions apply
//! to none of its resources ("Action does not apply to any resource(s) in
//! statement"); the gateway uses it to know which ARN to authorize against.
//! Access point, Batch Operations job, Storage Lens and Object Lambda
//! actions are left out: Shale has none of those resources.

/// What kind of resource an action is authorized against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `arn:aws:s3:::bucket`.
    Bucket,
    /// `arn:aws:s3:::bucket/key`.
    Object,
    /// No S3 resource: the account as a whole (ListAllMyBuckets).
    Account,
}

/// One S3 action: its name without the `s3:` prefix, as AWS spells it, and
/// the resource it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Action {
    /// The name, for example `GetObject`.
    pub name: &'static str,
    /// What it is authorized against.
    pub resource: ResourceKind,
}

/// The resource ARN an account action (ListAllMyBuckets) is authorized
/// against: an S3 ARN with no bucket, which `"*"` and `"arn:aws:s3:::*"`
/// match and a bucket's ARN does not.
pub const ACCOUNT_RESOURCE: &str = "arn:aws:s3:::";

/// The prefix of every S3 resource ARN.
pub const ARN_PREFIX: &str = "arn:aws:s3:::";

use ResourceKind::{Account, Bucket, Object};

macro_rules! actions {
    ($($kind:ident: $($name:ident),+;)+) => {
        &[$($(S3Action { name: stringify!($name), resource: $kind }),+),+]
    };
}

/// Every S3 action a Shale policy may name.
pub const ACTIONS: &[S3Action] = actions! {
    Object: AbortMultipartUpload, BypassGovernanceRetention, DeleteObject, DeleteObjectTagging,
        DeleteObjectVersion, DeleteObjectVersionTagging, GetObject, GetObjectAcl,
        GetObjectAttributes, GetObjectLegalHold, GetObjectRetention, GetObjectTagging,
        GetObjectTorrent, GetObjectVersion, GetObjectVersionAcl, GetObjectVersionAttributes,
        GetObjectVersionForReplication, GetObjectVersionTagging, GetObjectVersionTorrent,
        InitiateReplication, ListMultipartUploadParts, ObjectOwnerOverrideToBucketOwner, PutObject,
        PutObjectAcl, PutObjectLegalHold, PutObjectRetention, PutObjectTagging, PutObjectVersionAcl,
        PutObjectVersionTagging, ReplicateDelete, ReplicateObject, ReplicateTags, RestoreObject;
    Bucket: CreateBucket, DeleteBucket, DeleteBucketPolicy, DeleteBucketWebsite,
        GetAccelerateConfiguration, GetAnalyticsConfiguration, GetBucketAcl, GetBucketCORS,
        GetBucketLocation, GetBucketLogging, GetBucketNotification,
        GetBucketObjectLockConfiguration, GetBucketOwnershipControls, GetBucketPolicy,
        GetBucketPolicyStatus, GetBucketPublicAccessBlock, GetBucketRequestPayment,
        GetBucketTagging, GetBucketVersioning, GetBucketWebsite, GetEncryptionConfiguration,
        GetIntelligentTieringConfiguration, GetInventoryConfiguration, GetLifecycleConfiguration,
        GetMetricsConfiguration, GetReplicationConfiguration, ListBucket,
        ListBucketMultipartUploads, ListBucketVersions, PutAccelerateConfiguration,
        PutAnalyticsConfiguration, PutBucketAcl, PutBucketCORS, PutBucketLogging,
        PutBucketNotification, PutBucketObjectLockConfiguration, PutBucketOwnershipControls,
        PutBucketPolicy, PutBucketPublicAccessBlock, PutBucketRequestPayment, PutBucketTagging,
        PutBucketVersioning, PutBucketWebsite, PutEncryptionConfiguration,
        PutIntelligentTieringConfiguration, PutInventoryConfiguration, PutLifecycleConfiguration,
        PutMetricsConfiguration, PutReplicationConfiguration;
    Account: CreateJob, GetAccountPublicAccessBlock, ListAccessPoints, ListAllMyBuckets, ListJobs,
        ListStorageLensConfigurations, PutAccountPublicAccessBlock;
};

/// The action named `action` (`s3:GetObject`; the prefix and the name are
/// case-insensitive, as IAM compares them), or `None` for an action S3 does
/// not have.
pub fn lookup(action: &str) -> Option<&'static S3Action> {
    let (service, name) = action.split_once(':')?;
    if !service.eq_ignore_ascii_case("s3") {
        return None;
    }
    ACTIONS.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Whether `action` (`s3:ListBucket`) is authorized against a resource of
/// `kind`; false for an action S3 does not have.
pub fn applies_to(action: &str, kind: ResourceKind) -> bool {
    lookup(action).is_some_and(|a| a.resource == kind)
}

/// The ARN of bucket `bucket`, what a bucket action is authorized against.
pub fn bucket_arn(bucket: &str) -> String {
    format!("{ARN_PREFIX}{bucket}")
}

/// The ARN of object `key` in `bucket`, what an object action is authorized
/// against. The key is used as it is: not URL-encoded, not normalized.
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("{ARN_PREFIX}{bucket}/{key}")
}

impl S3Action {
    /// The action's full name in lowercase (`s3:getobject`), the form action
    /// patterns are matched against.
    pub(crate) fn lowercase_name(&self) -> String {
        format!("s3:{}", self.name.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_the_brief_names_is_in_the_table_with_its_resource() {
        for name in [
            "GetObject",
            "PutObject",
            "DeleteObject",
            "GetObjectVersion",
            "AbortMultipartUpload",
            "ListMultipartUploadParts",
            "GetObjectTagging",
            "PutObjectTagging",
            "DeleteObjectTagging",
            "GetObjectAcl",
            "PutObjectAcl",
            "ReplicateObject",
            "ReplicateDelete",
            "ReplicateTags",
            "GetObjectRetention",
            "PutObjectRetention",
            "GetObjectLegalHold",
            "PutObjectLegalHold",
            "BypassGovernanceRetention",
            "RestoreObject",
            "GetObjectAttributes",
            "GetObjectVersionTagging",
        ] {
            assert!(
                applies_to(&format!("s3:{name}"), ResourceKind::Object),
                "{name}"
            );
        }
        for name in [
            "ListBucket",
            "ListBucketVersions",
            "ListBucketMultipartUploads",
            "GetBucketAcl",
            "PutBucketAcl",
            "GetBucketPolicy",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "GetBucketPolicyStatus",
            "GetBucketPublicAccessBlock",
            "PutBucketPublicAccessBlock",
            "GetBucketOwnershipControls",
            "PutBucketOwnershipControls",
            "GetBucketVersioning",
            "PutBucketVersioning",
            "GetLifecycleConfiguration",
            "PutLifecycleConfiguration",
            "GetReplicationConfiguration",
            "PutReplicationConfiguration",
            "GetBucketTagging",
            "PutBucketTagging",
            "GetBucketCORS",
            "PutBucketCORS",
            "GetBucketLocation",
            "GetBucketObjectLockConfiguration",
            "PutBucketObjectLockConfiguration",
            "DeleteBucket",
            "CreateBucket",
            "GetEncryptionConfiguration",
            "PutEncryptionConfiguration",
        ] {
            assert!(
                applies_to(&format!("s3:{name}"), ResourceKind::Bucket),
                "{name}"
            );
        }
        assert!(applies_to("s3:ListAllMyBuckets", ResourceKind::Account));
    }

    #[test]
    fn lookup_ignores_case_and_refuses_other_services_and_unknown_names() {
        assert_eq!(lookup("S3:getobject").map(|a| a.name), Some("GetObject"));
        assert!(lookup("iam:GetUser").is_none());
        assert!(lookup("s3:PutObjectLockConfiguration").is_none());
        assert!(lookup("GetObject").is_none());
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    #[test]
    fn arns_are_built_from_bucket_and_key_as_they_are() {
        assert_eq!(bucket_arn("b"), "arn:aws:s3:::b");
        assert_eq!(object_arn("b", "a/%20 c"), "arn:aws:s3:::b/a/%20 c");
    }
}
