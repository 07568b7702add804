//! The rows the catalogue stores and the RPC messages that carry them.
//!
//! Rows and messages are serde types encoded with `postcard` (compact, no
//! field names on the wire). Postcard is not self-describing: it writes a
//! struct as its fields in order, with no names, lengths or version.
//!
//! Row format versions. Stored rows only ever grow at the end, so that every
//! row ever written still decodes:
//! - v1: the first release.
//! - v2: `tags` appended to [`Bucket`], [`ObjectRow`] and [`Upload`]. A v1
//!   row of these is a v2 row minus its last field, and the store decodes it
//!   as one with no tags (see `store::decode`). A binary from before v2 reads
//!   v2 rows too, without their tags (`postcard::from_bytes` ignores trailing
//!   bytes), so a rollback keeps working.
//!
//! - v3: flexible checksums. `checksum` appended to [`ObjectRow`] and
//!   [`Upload`] (after `tags`), `checksums` to [`PartRow`] (its first added
//!   field: parts never had tags). A v2 row lacks exactly the encoding of
//!   `None` / an empty list (one zero byte); the store decodes it as a row
//!   without checksums, and a v1 row as one without tags and checksums. A
//!   binary from before v3 reads v3 rows without their checksums.
//!
//! A field added later goes at the end, and the store's decoder learns the
//! encoding of its default (`store::added_fields`). Reordering or removing a
//! field needs a migration. Enums stored in rows (`ChecksumAlgorithm`,
//! `ChecksumType`) are encoded by variant index: variants are only added at
//! the end.
//! The RPC messages carry these types as well; gateway and metadata service
//! are upgraded together (mixed versions are not supported on the wire).

use serde::{Deserialize, Serialize};
use shale_common::checksum::{ChecksumAlgorithm, ChecksumType};
use shale_common::{NodeInfo, ObjectData, PartLayout};

/// A bucket as the catalogue records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bucket name (S3 rules are checked by the gateway).
    pub name: String,
    /// Region the bucket was created in (`LocationConstraint`).
    pub region: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Bucket tags (`PutBucketTagging`), in the order given; empty when the
    /// bucket has none. Row format v2: must stay the last field.
    pub tags: Vec<(String, String)>,
}

/// One object version (no versioning yet: one per key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRow {
    /// Plain bytes in the object.
    pub size: u64,
    /// Without quotes: md5 hex, or `"<hex>-<N>"` for multipart objects.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// `Content-Type` given at upload.
    pub content_type: Option<String>,
    /// cache-control, content-disposition, content-encoding,
    /// content-language, expires: lower-case name, value as given.
    pub system_headers: Vec<(String, String)>,
    /// `x-amz-meta-*` without the prefix, lower-case names.
    pub user_metadata: Vec<(String, String)>,
    /// `Some(n)` for multipart objects.
    pub parts_count: Option<u32>,
    /// Where the bytes are.
    pub data: ObjectData,
    /// Object tags (`x-amz-tagging`, `PutObjectTagging`), in the order given.
    /// Changing them changes neither the ETag nor the last-modified time.
    /// Row format v2.
    pub tags: Vec<(String, String)>,
    /// The object's flexible checksum, as GET and HEAD report it with
    /// `x-amz-checksum-mode: ENABLED`; `None` for objects written before
    /// row format v3. Row format v3: must stay the last field.
    pub checksum: Option<ObjectChecksum>,
}

/// An object's stored checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    /// The algorithm (`x-amz-checksum-<algorithm>`).
    pub algorithm: ChecksumAlgorithm,
    /// `x-amz-checksum-type`. Single-part objects are always FULL_OBJECT.
    pub kind: ChecksumType,
    /// The binary digest (CRCs big-endian). For COMPOSITE, the digest of the
    /// parts' digests; S3 reports it with a `-<parts_count>` suffix.
    pub value: Vec<u8>,
    /// Multipart objects: each part's digest of `algorithm`, in part order
    /// (GetObjectAttributes lists them). Empty for single-part objects.
    pub parts: Vec<Vec<u8>>,
}

/// The checksum a multipart upload was created with
/// (`x-amz-checksum-algorithm`, `x-amz-checksum-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// Every part is checksummed with this algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// How the parts' checksums make the object's.
    pub kind: ChecksumType,
}

/// One entry of a ListObjects answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSummary {
    /// The object key.
    pub key: String,
    /// Plain bytes in the object.
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

/// An in-progress multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Bucket of the future object.
    pub bucket: String,
    /// Key of the future object.
    pub key: String,
    /// Chosen by the gateway; must not contain a NUL byte.
    pub upload_id: String,
    /// Milliseconds since the Unix epoch.
    pub initiated_ms: i64,
    /// Copied to the object on completion.
    pub content_type: Option<String>,
    /// Copied to the object on completion.
    pub system_headers: Vec<(String, String)>,
    /// Copied to the object on completion.
    pub user_metadata: Vec<(String, String)>,
    /// Copied to the object on completion (`x-amz-tagging` of
    /// CreateMultipartUpload). Row format v2.
    pub tags: Vec<(String, String)>,
    /// The checksum the upload was created with; `None`: the object gets
    /// S3's default, a FULL_OBJECT CRC64NVME. Row format v3: must stay the
    /// last field.
    pub checksum: Option<UploadChecksum>,
}

/// One uploaded part of a multipart upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRow {
    /// Part number, 1..=10000.
    pub number: u32,
    /// Plain bytes in the part.
    pub size: u64,
    /// MD5 of the part, lower-case hex, no quotes.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// Where the part's bytes are.
    pub layout: PartLayout,
    /// Every checksum of the part the gateway computed, by algorithm (at
    /// most one each): the ones the client sent, the upload's algorithm and
    /// CRC64NVME (for the default object checksum). Empty for parts written
    /// before row format v3. Row format v3: must stay the last field.
    pub checksums: Vec<(ChecksumAlgorithm, Vec<u8>)>,
}

impl PartRow {
    /// The part's digest of `algorithm`, if it was computed.
    pub fn checksum(&self, algorithm: ChecksumAlgorithm) -> Option<&[u8]> {
        self.checksums
            .iter()
            .find(|(a, _)| *a == algorithm)
            .map(|(_, v)| v.as_slice())
    }
}

/// What CompleteMultipartUpload says about checksums, checked by the store
/// against the parts before it writes the object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteChecks {
    /// Part checksums listed in the request: (part number, algorithm, digest).
    pub parts: Vec<(u32, ChecksumAlgorithm, Vec<u8>)>,
    /// `x-amz-checksum-type` of the request.
    pub kind: Option<ChecksumType>,
    /// The object checksum the client expects (`x-amz-checksum-<alg>`); for
    /// COMPOSITE, without its `-N` suffix (the gateway checks N).
    pub object: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// `x-amz-mp-object-size`: the object size the client expects.
    pub object_size: Option<u64>,
    /// `If-Match`: the ETag the key's current object must have (unquoted);
    /// decided under the key's lock with the write, like `if_none_match`.
    pub if_match: Option<String>,
}

/// An S3 access key and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// The public key id (`AKIA…`).
    pub access_key: String,
    /// The signing secret; never logged (see the `Debug` impl).
    pub secret_key: String,
    /// A human name for the key.
    pub name: String,
}

impl std::fmt::Debug for AccessKey {
    // The secret must never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("name", &self.name)
            .finish()
    }
}

/// Answer to a ListObjects (V2 semantics).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListObjectsResult {
    /// Objects, by key in UTF-8 byte order.
    pub objects: Vec<ObjectSummary>,
    /// Rolled-up prefixes, in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned; pass it back
    /// as `start_after` to continue.
    pub next_marker: Option<String>,
}

/// Answer to a ListParts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPartsResult {
    /// Parts in ascending part number.
    pub parts: Vec<PartRow>,
    /// True when more parts follow.
    pub is_truncated: bool,
    /// When truncated: the last part number returned.
    pub next_part_number_marker: Option<u32>,
}

/// Answer to a ListMultipartUploads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUploadsResult {
    /// Uploads ordered by key, then by upload id.
    pub uploads: Vec<Upload>,
    /// Rolled-up prefixes, in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// When truncated: the key (or common prefix) of the last entry.
    pub next_key_marker: Option<String>,
    /// When truncated and the last entry is an upload: its id.
    pub next_upload_id_marker: Option<String>,
}

/// Errors of the metadata RPC; each maps to one S3 error in the gateway.
#[derive(
    thiserror::Error, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr,
)]
pub enum MetaError {
    /// The bucket does not exist.
    #[error("no such bucket")]
    NoSuchBucket,
    /// The bucket exists and belongs to someone else (multi-tenant future).
    #[error("bucket already exists")]
    BucketAlreadyExists,
    /// The bucket exists and is ours.
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    /// The bucket still holds objects.
    #[error("bucket not empty")]
    BucketNotEmpty,
    /// The object does not exist.
    #[error("no such key")]
    NoSuchKey,
    /// The multipart upload does not exist (or belongs to another key).
    #[error("no such upload")]
    NoSuchUpload,
    /// A part named in CompleteMultipartUpload is missing or has another etag.
    #[error("invalid part: {0}")]
    InvalidPart(String),
    /// Parts of CompleteMultipartUpload are not in strictly ascending order.
    #[error("invalid part order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than 5 MiB.
    #[error("entity too small")]
    EntityTooSmall,
    /// An If-Match / If-None-Match condition failed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A malformed argument (the message names it).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A request S3 refuses as `InvalidRequest` (the message says why).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A checksum the client expects does not match (S3's `BadDigest`).
    #[error("bad digest: {0}")]
    BadDigest(String),
    /// The metadata service could not be reached or did not answer.
    #[error("metadata service unavailable: {0}")]
    Unavailable(String),
    /// A bug or a disk error inside the metadata service.
    #[error("internal metadata error: {0}")]
    Internal(String),
}

#[cfg(feature = "server")]
impl From<rocksdb::Error> for MetaError {
    fn from(e: rocksdb::Error) -> Self {
        MetaError::Internal(format!("rocksdb: {e}"))
    }
}

/// One metadata RPC. The semantics of each (and of its fields) are
/// documented once, on the `MetaStore` method of the same name.
#[allow(
    missing_docs,
    reason = "fields are documented on the MetaStore methods"
)]
// `IntoStaticStr`: the variant's name is the request kind in metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum MetaRequest {
    /// → `MetaResponse::Bucket`.
    CreateBucket { name: String, region: String },
    /// → `MetaResponse::Unit`.
    DeleteBucket { name: String },
    /// → `MetaResponse::MaybeBucket`.
    GetBucket { name: String },
    /// → `MetaResponse::Buckets`.
    ListBuckets,
    /// → `MetaResponse::MaybeObject` (the replaced row).
    PutObject {
        bucket: String,
        key: String,
        row: ObjectRow,
        if_none_match: bool,
        if_match: Option<String>,
    },
    /// → `MetaResponse::Object`.
    GetObject { bucket: String, key: String },
    /// → `MetaResponse::MaybeObject` (the deleted row).
    DeleteObject { bucket: String, key: String },
    /// → `MetaResponse::ListObjects`.
    ListObjects {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        start_after: Option<String>,
        max_keys: u32,
    },
    /// → `MetaResponse::Unit`.
    CreateUpload { upload: Upload },
    /// → `MetaResponse::MaybePart` (the replaced part).
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part: PartRow,
    },
    /// → `MetaResponse::ListParts`.
    ListParts {
        bucket: String,
        key: String,
        upload_id: String,
        part_number_marker: u32,
        max_parts: u32,
    },
    /// → `MetaResponse::Object` (the new object).
    CompleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<(u32, String)>,
        checks: CompleteChecks,
        if_none_match: bool,
    },
    /// → `MetaResponse::Unit`.
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// → `MetaResponse::Upload`.
    GetUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// → `MetaResponse::ListUploads`.
    ListUploads {
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        key_marker: Option<String>,
        upload_id_marker: Option<String>,
        max_uploads: u32,
    },
    /// → `MetaResponse::Unit`.
    PutAccessKey { key: AccessKey },
    /// → `MetaResponse::MaybeAccessKey`.
    GetAccessKey { access_key: String },
    /// → `MetaResponse::Unit`.
    RegisterNode { node: NodeInfo },
    /// → `MetaResponse::Nodes`.
    ClusterMap,
    /// → `MetaResponse::Unit`.
    PutObjectTags {
        bucket: String,
        key: String,
        tags: Vec<(String, String)>,
    },
    /// → `MetaResponse::Unit`.
    PutBucketTags {
        bucket: String,
        tags: Vec<(String, String)>,
    },
    /// The oldest entries of the garbage-collection queue, queued before
    /// `queued_before_ms` (Unix ms), at most `limit`.
    /// → `MetaResponse::GcEntries`.
    GcPending { limit: u32, queued_before_ms: u64 },
    /// Removes GC queue entries whose chunks are gone. → `MetaResponse::Unit`.
    GcDone { keys: Vec<Vec<u8>> },
    /// → `MetaResponse::MaybeBucketConfig`.
    GetBucketConfig {
        bucket: String,
        kind: BucketConfigKind,
    },
    /// → `MetaResponse::Unit`.
    PutBucketConfig {
        bucket: String,
        config: BucketConfig,
    },
    /// → `MetaResponse::Unit`.
    DeleteBucketConfig {
        bucket: String,
        kind: BucketConfigKind,
    },
}

/// A kind of bucket configuration kept in the `bucket_config` column family
/// (one row per bucket and kind, apart from the bucket row). Variants are
/// only added at the end; [`BucketConfigKind::name`] is part of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BucketConfigKind {
    /// `PutBucketCors`.
    Cors,
}

impl BucketConfigKind {
    /// The kind's name in the row key (stable: never renamed).
    pub fn name(self) -> &'static str {
        match self {
            BucketConfigKind::Cors => "cors",
        }
    }
}

/// One bucket configuration, as stored. Variants are only added at the end
/// (postcard encodes the variant index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketConfig {
    /// The CORS rules, in the order given (S3 evaluates them in order).
    Cors(Vec<CorsRule>),
}

impl BucketConfig {
    /// Which kind of configuration this is.
    pub fn kind(&self) -> BucketConfigKind {
        match self {
            BucketConfig::Cors(_) => BucketConfigKind::Cors,
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

/// One entry of the garbage-collection queue: chunks that no row references
/// any more, queued together by the change that unreferenced them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcEntry {
    /// The entry's key in the queue (for `GcDone`).
    pub key: Vec<u8>,
    /// When it was queued (Unix ms).
    pub queued_ms: u64,
    /// The chunks to delete.
    pub chunks: Vec<shale_common::ChunkPlacement>,
}

/// The successful answer to a `MetaRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaResponse {
    /// No value.
    Unit,
    /// One bucket.
    Bucket(Bucket),
    /// A bucket, if it exists.
    MaybeBucket(Option<Bucket>),
    /// Buckets sorted by name.
    Buckets(Vec<Bucket>),
    /// One object row.
    Object(ObjectRow),
    /// An object row, if there was one.
    MaybeObject(Option<ObjectRow>),
    /// A ListObjects answer.
    ListObjects(ListObjectsResult),
    /// A part row, if there was one.
    MaybePart(Option<PartRow>),
    /// A ListParts answer.
    ListParts(ListPartsResult),
    /// One upload.
    Upload(Upload),
    /// A ListUploads answer.
    ListUploads(ListUploadsResult),
    /// An access key, if it exists.
    MaybeAccessKey(Option<AccessKey>),
    /// Storage nodes sorted by id.
    Nodes(Vec<NodeInfo>),
    /// GC queue entries, oldest first.
    GcEntries(Vec<GcEntry>),
    /// A bucket configuration, if the bucket has one of that kind.
    MaybeBucketConfig(Option<BucketConfig>),
}
