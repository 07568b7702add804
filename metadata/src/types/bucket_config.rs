//! Bucket configurations (the `bucket_config` column family): their
//! kinds, the stored forms, Object Ownership, the public access block and
//! CORS rules.

use super::{LifecycleRule, ObjectLockConfig, VersioningStatus};
use serde::{Deserialize, Serialize};

/// A kind of bucket configuration kept in the `bucket_config` column family
/// (one row per bucket and kind, apart from the bucket row). Variants are
/// only added at the end; [`BucketConfigKind::name`] is part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BucketConfigKind {
    /// `PutBucketCors`.
    Cors,
    /// `PutBucketVersioning`.
    Versioning,
    /// `PutObjectLockConfiguration` (or CreateBucket with Object Lock).
    ObjectLock,
    /// `PutBucketLifecycleConfiguration`.
    Lifecycle,
    /// `PutBucketReplication`.
    Replication,
    /// `PutBucketPolicy`.
    Policy,
    /// `PutPublicAccessBlock` and `DeletePublicAccessBlock`.
    PublicAccessBlock,
    /// `PutBucketAcl` (or CreateBucket's ACL).
    Acl,
    /// `PutBucketOwnershipControls` and `DeleteBucketOwnershipControls`
    /// (or CreateBucket's `x-amz-object-ownership`).
    OwnershipControls,
    /// `PutBucketEncryption` (default encryption).
    Encryption,
}

impl BucketConfigKind {
    /// The kind's name in the row key (stable: never renamed).
    pub fn name(self) -> &'static str {
        match self {
            BucketConfigKind::Cors => "cors",
            BucketConfigKind::Versioning => "versioning",
            BucketConfigKind::ObjectLock => "object-lock",
            BucketConfigKind::Lifecycle => "lifecycle",
            BucketConfigKind::Replication => "replication",
            BucketConfigKind::Policy => "policy",
            BucketConfigKind::PublicAccessBlock => "public-access-block",
            BucketConfigKind::Acl => "acl",
            BucketConfigKind::OwnershipControls => "ownership-controls",
            BucketConfigKind::Encryption => "encryption",
        }
    }
}

/// One bucket configuration, as stored. Variants are only added at the end
/// (postcard encodes the variant index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketConfig {
    /// The CORS rules, in the order given (S3 evaluates them in order).
    Cors(Vec<CorsRule>),
    /// The versioning state (never removed once set).
    Versioning(VersioningStatus),
    /// Object Lock is on (never removed once set), with this default.
    ObjectLock(ObjectLockConfig),
    /// The lifecycle rules, in the order given.
    Lifecycle(Vec<LifecycleRule>),
    /// The replication configuration (`crate::replication`).
    Replication(crate::ReplicationConfig),
    /// The bucket policy: the JSON document as the client sent it (the
    /// gateway validated it; GetBucketPolicy answers it byte for byte).
    Policy(String),
    /// The bucket's public access block. A bucket without this row has
    /// every block on, as a new S3 bucket has; `None` is what
    /// DeletePublicAccessBlock leaves: no block at all.
    PublicAccessBlock(Option<PublicAccessBlock>),
    /// The bucket's ACL: its grants as the gateway encodes them (see
    /// [`OBJECT_ACL`]). A bucket without this row has only its owner's
    /// FULL_CONTROL.
    Acl(String),
    /// The bucket's Object Ownership. A bucket without this row enforces
    /// bucket ownership (ACLs disabled), as a new S3 bucket does; `None` is
    /// what DeleteBucketOwnershipControls leaves (ACLs enabled, objects
    /// owned by their writers).
    OwnershipControls(Option<ObjectOwnership>),
    /// The bucket's default encryption: what an object written without
    /// encryption headers is encrypted with. A bucket without this row
    /// stores such objects in the clear.
    Encryption(BucketEncryption),
}

/// A bucket's default encryption (`ServerSideEncryptionConfiguration`,
/// its one rule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `SSEAlgorithm`.
    pub algorithm: SseAlgorithm,
    /// `KMSMasterKeyID` (only with a KMS algorithm).
    pub kms_key_id: Option<String>,
    /// `BucketKeyEnabled`, as given (answered back; S3 Bucket Keys cut
    /// KMS calls, which the built-in key service does not need).
    pub bucket_key_enabled: bool,
}

/// S3's server-side encryption algorithms. Stored by variant index: only
/// add at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseAlgorithm {
    /// `AES256`: SSE-S3.
    Aes256,
    /// `aws:kms`: SSE-KMS.
    AwsKms,
    /// `aws:kms:dsse`: dual-layer SSE-KMS.
    AwsKmsDsse,
}

impl SseAlgorithm {
    /// S3's name.
    pub fn name(self) -> &'static str {
        match self {
            SseAlgorithm::Aes256 => "AES256",
            SseAlgorithm::AwsKms => "aws:kms",
            SseAlgorithm::AwsKmsDsse => "aws:kms:dsse",
        }
    }

    /// Parses [`SseAlgorithm::name`].
    pub fn parse(s: &str) -> Option<SseAlgorithm> {
        [
            SseAlgorithm::Aes256,
            SseAlgorithm::AwsKms,
            SseAlgorithm::AwsKmsDsse,
        ]
        .into_iter()
        .find(|a| a.name() == s)
    }
}

/// Object Ownership (`OwnershipControls`). Stored by variant index: only
/// add at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner's grants alone count.
    BucketOwnerEnforced,
    /// ACLs are enabled; an object written with the canned ACL
    /// `bucket-owner-full-control` is the bucket owner's.
    BucketOwnerPreferred,
    /// ACLs are enabled; an object is its writer's.
    ObjectWriter,
}

impl ObjectOwnership {
    /// S3's name of the setting.
    pub fn name(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    /// Parses [`ObjectOwnership::name`].
    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.name() == s)
    }
}

/// The system header an object version's ACL is kept in (its grants as the
/// gateway encodes them; no header: only the owner's FULL_CONTROL). Never
/// answered as a header (GET answers system headers by name).
pub const OBJECT_ACL: &str = "x-shale-acl";

/// `PublicAccessBlockConfiguration`: what a bucket refuses to make public.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// PUTs of public ACLs are refused.
    pub block_public_acls: bool,
    /// Public ACLs grant nothing.
    pub ignore_public_acls: bool,
    /// PutBucketPolicy of a public policy is refused.
    pub block_public_policy: bool,
    /// A public policy grants only to the bucket owner's users.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// Every block on: a bucket without a public access block row.
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// No block at all.
    pub const NONE: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: false,
        ignore_public_acls: false,
        block_public_policy: false,
        restrict_public_buckets: false,
    };

    /// Every block either has on (a bucket's and the account's together,
    /// as S3 combines them: the most restrictive).
    pub fn union(self, other: PublicAccessBlock) -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: self.block_public_acls || other.block_public_acls,
            ignore_public_acls: self.ignore_public_acls || other.ignore_public_acls,
            block_public_policy: self.block_public_policy || other.block_public_policy,
            restrict_public_buckets: self.restrict_public_buckets || other.restrict_public_buckets,
        }
    }
}

impl BucketConfig {
    /// Which kind of configuration this is.
    pub fn kind(&self) -> BucketConfigKind {
        match self {
            BucketConfig::Cors(_) => BucketConfigKind::Cors,
            BucketConfig::Versioning(_) => BucketConfigKind::Versioning,
            BucketConfig::ObjectLock(_) => BucketConfigKind::ObjectLock,
            BucketConfig::Lifecycle(_) => BucketConfigKind::Lifecycle,
            BucketConfig::Replication(_) => BucketConfigKind::Replication,
            BucketConfig::Policy(_) => BucketConfigKind::Policy,
            BucketConfig::PublicAccessBlock(_) => BucketConfigKind::PublicAccessBlock,
            BucketConfig::Acl(_) => BucketConfigKind::Acl,
            BucketConfig::OwnershipControls(_) => BucketConfigKind::OwnershipControls,
            BucketConfig::Encryption(_) => BucketConfigKind::Encryption,
        }
    }
}

/// One CORS rule (`CORSRule`), as validated by the gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    /// `ID`.
    pub id: Option<String>,
    /// `AllowedOrigin`s (each with at most one `*`).
    pub allowed_origins: Vec<String>,
    /// `AllowedMethod`s: GET, PUT, POST, DELETE, HEAD.
    pub allowed_methods: Vec<String>,
    /// `AllowedHeader`s (each with at most one `*`), as given.
    pub allowed_headers: Vec<String>,
    /// `ExposeHeader`s.
    pub expose_headers: Vec<String>,
    /// `MaxAgeSeconds`.
    pub max_age_seconds: Option<i32>,
}
